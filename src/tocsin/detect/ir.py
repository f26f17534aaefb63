"""The match plan's intermediate form: plain tuples, and what can be done with them alone.

Nothing here imports pySigma, so a start from the compiled-rule cache never pays for it.
Node and test shapes are described in :mod:`tocsin.detect.compiler`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

Node = tuple[Any, ...]
Test = tuple[Any, ...]

KEYWORD_FIELD = "event.original"

TRUE: Node = ("const", True)
FALSE: Node = ("const", False)


class CompileError(ValueError):
    """A rule uses something the matcher cannot evaluate (reported per rule, never raised far)."""


@dataclass(frozen=True, slots=True)
class CompiledDetection:
    """The plan of one rule: its whole condition, and each named selection for explanations."""

    condition: Node
    selections: tuple[tuple[str, Node], ...]


# ----------------------------------------------------------------------------- simplification


def simplify(node: Node) -> Node:
    """Flatten nested and/or, fold constants and double negations."""
    kind = node[0]
    if kind in ("and", "or"):
        children: list[Node] = []
        for child in (simplify(c) for c in node[1]):
            if child[0] == kind:
                children.extend(child[1])
            elif child[0] == "const":
                if child[1] == (kind == "or"):
                    return child  # true in an or, false in an and
            else:
                children.append(child)
        if not children:
            return TRUE if kind == "and" else FALSE
        if kind == "or":
            children = _merge_string_lists(children)
        return children[0] if len(children) == 1 else (kind, tuple(children))
    if kind == "not":
        inner = simplify(node[1])
        if inner[0] == "not":
            negated: Node = inner[1]
            return negated
        if inner[0] == "const":
            return ("const", not inner[1])
        return ("not", inner)
    return node


def _merge_string_lists(children: list[Node]) -> list[Node]:
    """Fold or-ed string tests of one field, mode and case into one ``strs`` test.

    ``Image|endswith: [a, b, c]`` becomes one test that lowers the value once and checks all
    suffixes, instead of three tests that lower it three times.
    """
    groups: dict[tuple[str, str, str, bool], list[str]] = {}
    order: list[tuple[Node | None, tuple[str, str, str, bool] | None]] = []
    for child in children:
        key = _string_key(child)
        if key is None:
            order.append((child, None))
            continue
        if key not in groups:
            groups[key] = []
            order.append((None, key))
        child_test = child[-1]
        literals = child_test[2] if child_test[0] == "strs" else (child_test[2],)
        for literal in literals:
            if literal not in groups[key]:
                groups[key].append(literal)
    merged: list[Node] = []
    for node, key in order:
        if key is None:
            if node is not None:
                merged.append(node)
            continue
        kind, name, mode, cased = key
        literals = tuple(groups[key])
        test: Test = (
            ("str", mode, literals[0], cased)
            if len(literals) == 1
            else ("strs", mode, literals, cased)
        )
        merged.append(("kw", test) if kind == "kw" else ("field", name, test))
    return merged


def _string_key(node: Node) -> tuple[str, str, str, bool] | None:
    if node[0] == "field":
        test = node[2]
        name = node[1]
    elif node[0] == "kw":
        test = node[1]
        name = ""
    else:
        return None
    if test[0] not in ("str", "strs") or test[1] == "any":
        return None
    return (node[0], name, test[1], test[3])


# ----------------------------------------------------------------------------- prefilter literals


def regex_literals(pattern: str, flags: int) -> list[str] | None:
    """Substrings (lowered) one of which every match of ``pattern`` must contain, or None.

    Looks at the top level of the parsed expression only: the longest run of literal
    characters, or for a top-level alternation the best run of each branch.
    """
    try:
        parsed = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError):
        return None
    return _sequence_literals(list(parsed))


def _sequence_literals(items: list[tuple[Any, Any]]) -> list[str] | None:
    if len(items) == 1 and items[0][0] is sre_constants.BRANCH:
        found: list[str] = []
        for branch in items[0][1][1]:
            literals = _sequence_literals(list(branch))
            if literals is None:
                return None
            found.extend(literals)
        return found
    best = ""
    run: list[str] = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            run.append(chr(arg))
            continue
        text = "".join(run)
        if len(text) > len(best):
            best = text
        run = []
        if op is sre_constants.SUBPATTERN:
            inner = _sequence_literals(list(arg[3]))
            if inner is not None and len(inner) == 1 and len(inner[0]) > len(best):
                best = inner[0]
    text = "".join(run)
    if len(text) > len(best):
        best = text
    return [best.lower()] if best else None
