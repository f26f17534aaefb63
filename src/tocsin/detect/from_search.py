r"""Turn a search into a Sigma rule, check the rule, and keep it in the home's local pack.

:func:`draft_rule` maps the query's syntax tree (:mod:`tocsin.lake.querylang`) to a Sigma
detection:

- ``field:value`` is a selection item; numbers and ``true``/``false`` keep their type;
- wildcards become ``|contains``, ``|startswith`` or ``|endswith`` when they sit only at the
  ends, and stay Sigma wildcards otherwise (a backslash before ``*``, ``?`` or ``\`` is
  doubled: it is literal in the query and an escape in Sigma);
- ``_exists_:f`` (``f:*``) is ``f|exists: true``; numeric ``f>n`` and ``f:[a TO b]`` are
  ``|gt``/``|gte``/``|lt``/``|lte``;
- free text is a keyword (Sigma keywords also search the raw event);
- ``AND``, ``OR``, ``NOT`` and parentheses become the condition; the terms of an ``AND`` share a
  selection, and an ``OR`` of field terms is one selection (a list of values, or of maps).

The logsource comes from ``event.dataset`` terms at the top of the query (or, when it names
none, from the datasets of the events the search found), through the one logsource table of
:mod:`tocsin.detect.logsources`; for Sysmon and PowerShell an ``EventID`` term picks the
category (``process_creation`` for Sysmon event 1). What has no Sigma form is left out and
listed: time conditions (a rule sees each event as it arrives), comparisons with text or times,
a query that matches everything, a dataset no logsource reads.

:func:`check_rule_text` loads and compiles a rule's YAML as the engine would and tests it with
:func:`tocsin.detect.authoring.check_rule` on events; :func:`save_to_local_pack` writes it to
``<rules_dir>/packs/local/<slug>.yml`` with the ``pack.json`` manifest the rule store reads.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from tocsin.core.errors import ConflictError, InvalidInputError
from tocsin.detect.authoring import check_rule
from tocsin.detect.engine import Engine
from tocsin.detect.logsources import EVENT_ID, ROUTING_FIELDS, TABLE, Route, routes_for
from tocsin.detect.rules import RULE_SUFFIXES
from tocsin.detect.store import MANIFEST
from tocsin.lake.querylang import (
    And,
    Compare,
    Exists,
    MatchAll,
    MatchKind,
    Node,
    Not,
    Or,
    Range,
    Term,
    parse_query,
)

__all__ = [
    "LOCAL_PACK",
    "MAX_RULE_BYTES",
    "RuleCheck",
    "SavedRule",
    "SigmaDraft",
    "Unconverted",
    "check_rule_text",
    "draft_rule",
    "logsource_for",
    "save_to_local_pack",
    "show_query",
]

LOCAL_PACK = "local"
"""The pack in the home that rules made from searches go to."""
MAX_RULE_BYTES = 100_000
DATASET = "event.dataset"
_TIME_FIELDS = frozenset({"@timestamp", "event.ingested", "event.created"})
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"-?(?:0|[1-9]\d{0,15})")
_SLUG = re.compile(r"[^a-z0-9]+")
_BARE = re.compile(r"^[^\s\"():<>\[\]{}]+$")
_PLACEHOLDER = re.compile(r"@@(\d+)@@")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Unconverted:
    """A part of the query that is not in the rule, and why."""

    part: str
    reason: str


@dataclass(frozen=True, slots=True)
class SigmaDraft:
    """A Sigma rule drafted from a search.

    ``left_out`` lists the parts of the query the rule does not hold; ``problems`` what keeps
    the rule from working as it is (no logsource); ``notes`` where Sigma reads the same thing a
    little differently. ``yaml`` is empty only when nothing could be converted.
    """

    yaml: str
    logsource: dict[str, str]
    left_out: list[Unconverted] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when the whole query is in the rule and the rule has a logsource."""
        return bool(self.yaml) and not self.left_out and not self.problems


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """A rule's YAML loaded, compiled and tried on events."""

    rule_id: str | None
    title: str | None
    errors: list[str]
    warnings: list[str]
    datasets: list[str]
    """What the rule's logsource reads (``dataset`` or ``dataset (EventID 1, 3)``)."""
    tested: int
    fired: int

    @property
    def ok(self) -> bool:
        """True when the rule loads, compiles and reads some dataset."""
        return not self.errors


@dataclass(frozen=True, slots=True)
class SavedRule:
    """A rule written into the local pack."""

    rule_id: str
    title: str
    path: Path
    replaced: bool


# --------------------------------------------------------------------------- query text


def _quote(value: str) -> str:
    if value and _BARE.match(value) and value.upper() not in ("AND", "OR", "NOT", "TO"):
        return value
    return '"' + value.replace('"', '\\"') + '"'


def show_query(node: Node) -> str:
    """The query text of a syntax tree (for messages; parses back to the same tree)."""
    match node:
        case MatchAll():
            return "*"
        case Term(field=None, value=value):
            return _quote(value)
        case Term(field=str() as name, value=value):
            return f"{name}:{_quote(value)}"
        case Exists(field=name):
            return f"_exists_:{name}"
        case Compare(field=name, op=op, value=value):
            return f"{name}{op}{_quote(value)}"
        case Range(field=name, low=low, high=high, include_low=il, include_high=ih):
            low_text = "*" if low is None else _quote(low)
            high_text = "*" if high is None else _quote(high)
            return f"{name}:{'[' if il else '{'}{low_text} TO {high_text}{']' if ih else '}'}"
        case Not(operand=operand):
            return "NOT " + _grouped(operand)
        case And(operands=operands):
            return " AND ".join(_grouped(o) for o in operands)
        case Or(operands=operands):
            return " OR ".join(_grouped(o) for o in operands)
    return ""


def _grouped(node: Node) -> str:
    text = show_query(node)
    return f"({text})" if isinstance(node, And | Or) else text


# --------------------------------------------------------------------------- logsources


def _candidates() -> list[tuple[str | None, str | None, str | None]]:
    """Every logsource a rule may name: the table's rows, and each category without service."""
    found: list[tuple[str | None, str | None, str | None]] = []
    for row in TABLE:
        for attrs in ((row.product, row.category, row.service), (row.product, row.category, None)):
            if attrs not in found and any(a is not None for a in attrs):
                found.append(attrs)
    return found


def _covers(route: Route, dataset: str) -> bool:
    """The route reads every event of ``dataset`` (a name, or a ``prefix.*`` pattern)."""
    if route.field is not None:
        return False
    if route.dataset == dataset:
        return True
    return route.dataset.endswith("*") and dataset.startswith(route.dataset[:-1])


def _within(route: Route, datasets: set[str]) -> bool:
    """The route reads nothing outside ``datasets``."""
    for dataset in datasets:
        if route.dataset == dataset:
            return True
        if dataset.endswith("*") and route.dataset.startswith(dataset[:-1]):
            return True
    return False


def logsource_for(
    datasets: Iterable[str], event_id: int | None = None
) -> tuple[dict[str, str], bool, bool] | None:
    """The Sigma logsource that reads ``datasets`` most narrowly.

    Returns the logsource, whether it reads exactly those datasets (else the rule must keep
    its ``event.dataset`` condition), and whether ``event_id`` picked a category (then the
    rule needs no ``EventID`` condition). None when no logsource reads them all.
    """
    wanted = set(datasets)
    if not wanted:
        return None
    best: tuple[tuple[int, int, int, int], tuple[str | None, ...], bool, bool] | None = None
    only = next(iter(wanted)) if len(wanted) == 1 else None
    for index, attrs in enumerate(_candidates()):
        routes = routes_for(*attrs)
        if not routes:
            continue
        by_event = (
            event_id is not None
            and only is not None
            and ROUTING_FIELDS.get(only) == EVENT_ID
            and all(
                r.dataset == only and r.field == EVENT_ID and r.values == frozenset({event_id})
                for r in routes
            )
        )
        if not by_event and not all(any(_covers(r, d) for r in routes) for d in wanted):
            continue
        extra = {r.dataset for r in routes if not _within(r, wanted)}
        # prefer a category picked by EventID, then the narrowest; then, for a category, the
        # fewest attributes (SigmaHQ's "product: windows, category: process_creation"), else
        # the row named like the dataset ("service: syslog" for syslog, not "service: cron")
        named = 0 if only is not None and only.rsplit(".", 1)[-1] in attrs else 1
        given = sum(a is not None for a in attrs)
        score = (0 if by_event else 1, len(extra), given if by_event else named, index)
        if best is None or score < best[0]:
            best = (score, attrs, not extra, by_event)
    if best is None:
        return None
    names = ("product", "category", "service")
    logsource = {k: v for k, v in zip(names, best[1], strict=True) if v is not None}
    return logsource, best[2], best[3]


def _describe_routes(routes: Iterable[Route]) -> list[str]:
    """``dataset`` for a route that reads all of it, else ``dataset (EventID 1, 3)``."""
    whole: set[str] = set()
    some: dict[str, set[object]] = {}
    for route in routes:
        if route.field is None or route.values is None:
            whole.add(route.dataset)
        else:
            some.setdefault(f"{route.dataset} ({route.field}", set()).update(route.values)
    out = sorted(whole)
    for key, values in sorted(some.items()):
        if key.split(" (", 1)[0] not in whole:
            listed = ", ".join(str(v) for v in sorted(values, key=lambda v: (str(type(v)), v)))
            out.append(f"{key} {listed})")
    return out


# --------------------------------------------------------------------------- drafting


def _sigma_text(value: str) -> str:
    r"""A query value as Sigma text: a backslash before ``*``, ``?`` or ``\`` is doubled."""
    out: list[str] = []
    for index, char in enumerate(value):
        out.append(char)
        if char == "\\" and value[index + 1 : index + 2] in ("*", "?", "\\"):
            out.append("\\")
    return "".join(out)


def _scalar(value: str) -> object:
    if _INTEGER.fullmatch(value):
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return _sigma_text(value)


def _number(value: str | None) -> int | float | None:
    if value is None or not _NUMBER.fullmatch(value):
        return None
    number = float(value)
    return int(number) if _INTEGER.fullmatch(value) else number


def _wildcards(value: str) -> bool:
    return "*" in value or "?" in value


class _Builder:
    """Collects the selections while the condition is built."""

    def __init__(self, resolve: Callable[[str], str]) -> None:
        self.resolve = resolve
        self.pending: list[tuple[str, object]] = []
        self.left_out: list[Unconverted] = []
        self.keywords = False
        self.exists = False

    def add(self, base: str, value: object) -> str:
        """A placeholder for a new selection; :meth:`finish` names them in condition order."""
        self.pending.append((base, value))
        return f"@@{len(self.pending) - 1}@@"

    def finish(self, condition: str) -> tuple[dict[str, object], str]:
        """The selections named ``selection``, ``selection_2``... as the condition reads them."""
        names: dict[int, str] = {}
        used: dict[str, int] = {}
        selections: dict[str, object] = {}
        for match in _PLACEHOLDER.finditer(condition):
            index = int(match[1])
            if index in names:
                continue
            base, value = self.pending[index]
            used[base] = used.get(base, 0) + 1
            names[index] = base if used[base] == 1 else f"{base}_{used[base]}"
            selections[names[index]] = value
        return selections, _PLACEHOLDER.sub(lambda m: names[int(m[1])], condition)

    def skip(self, node: Node, reason: str) -> None:
        self.left_out.append(Unconverted(show_query(node), reason))

    # -- leaves ----------------------------------------------------------------------
    def items(self, node: Node) -> list[tuple[str, object]] | None:
        """The selection items of a field leaf; None (and recorded) when it has no Sigma form."""
        match node:
            case (
                Term(field=str() as name)
                | Exists(field=name)
                | Compare(field=name)
                | Range(field=name)
            ) if name.lower() in _TIME_FIELDS:
                self.skip(
                    node, "a rule sees each event as it arrives: time conditions do not apply"
                )
                return None
            case Term(field=str() as name, value=value, kind=MatchKind.EXACT):
                return [(self.resolve(name), _scalar(value))]
            case Term(field=str() as name, value=value):
                return [self._pattern(self.resolve(name), value)]
            case Exists(field=name):
                self.exists = True
                return [(f"{self.resolve(name)}|exists", True)]
            case Compare(field=name, op=op, value=value):
                number = _number(value)
                if number is None:
                    self.skip(node, "Sigma compares numbers only")
                    return None
                modifier = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]
                return [(f"{self.resolve(name)}|{modifier}", number)]
            case Range(field=name, low=low, high=high, include_low=il, include_high=ih):
                low_n, high_n = _number(low), _number(high)
                if (low is not None and low_n is None) or (high is not None and high_n is None):
                    self.skip(node, "Sigma compares numbers only")
                    return None
                resolved = self.resolve(name)
                out: list[tuple[str, object]] = []
                if low_n is not None:
                    out.append((f"{resolved}|{'gte' if il else 'gt'}", low_n))
                if high_n is not None:
                    out.append((f"{resolved}|{'lte' if ih else 'lt'}", high_n))
                return out
        return None

    @staticmethod
    def _pattern(name: str, value: str) -> tuple[str, object]:
        inner = value[1:-1]
        if len(value) > 2 and value[0] == value[-1] == "*" and not _wildcards(inner):
            return f"{name}|contains", _sigma_text(inner)
        if value.endswith("*") and not _wildcards(value[:-1]):
            return f"{name}|startswith", _sigma_text(value[:-1])
        if value.startswith("*") and not _wildcards(value[1:]):
            return f"{name}|endswith", _sigma_text(value[1:])
        return name, _sigma_text(value)

    def keyword(self, node: Term) -> object:
        self.keywords = True
        return _sigma_text(node.value)

    # -- structure -------------------------------------------------------------------
    def condition(self, node: Node, base: str = "selection") -> str | None:
        """The condition text for ``node``, adding its selections; None when all left out."""
        match node:
            case MatchAll():
                self.skip(node, "it matches every event")
                return None
            case Term(field=None):
                return self.add("keywords", [self.keyword(node)])
            case Term() | Exists() | Compare() | Range():
                items = self.items(node)
                return None if items is None else self.add(base, _as_map(items))
            case Not(operand=operand):
                inner = self.condition(operand, "filter")
                return None if inner is None else f"not {_paren(inner)}"
            case Or(operands=operands):
                return self.either(operands, base)
            case And(operands=operands):
                return self.both(operands, base)
        return None

    def either(self, operands: Sequence[Node], base: str) -> str | None:
        if all(isinstance(o, Term) and o.field is None for o in operands):
            return self.add("keywords", [self.keyword(o) for o in operands if isinstance(o, Term)])
        if all(_is_field_leaf(o) for o in operands):
            maps = [self.items(o) for o in operands]
            usable = [_as_map(m) for m in maps if m is not None]
            if not usable:
                return None
            keys = {k for m in usable for k in m}
            if len(keys) == 1 and all(len(m) == 1 for m in usable):
                key = next(iter(keys))
                values: list[object] = []
                for m in usable:
                    value = m[key]
                    values.extend(value if isinstance(value, list) else [value])
                return self.add(base, {key: values[0] if len(values) == 1 else values})
            return self.add(base, usable if len(usable) > 1 else usable[0])
        parts = [p for p in (self.condition(o, base) for o in operands) if p is not None]
        if not parts:
            return None
        return " or ".join(_paren(p) for p in parts) if len(parts) > 1 else parts[0]

    def both(self, operands: Sequence[Node], base: str) -> str | None:
        merged: dict[str, object] = {}
        contains_all: dict[str, list[object]] = {}
        parts: list[str] = []
        for operand in operands:
            if isinstance(operand, MatchAll):
                continue  # "x AND *" is x
            if not _is_field_leaf(operand):
                part = self.condition(operand, base)
                if part is not None:
                    parts.append(part)
                continue
            items = self.items(operand)
            for key, value in items or []:
                if key not in merged:
                    merged[key] = value
                elif key.endswith("|contains"):
                    contains_all.setdefault(key, [merged[key]]).append(value)
                else:  # the same field twice: its own selection, and-ed
                    parts.append(self.add(base, {key: value}))
        for key, values in contains_all.items():
            del merged[key]
            merged[f"{key}|all"] = values
        if merged:
            parts.insert(0, self.add(base, merged))
        if not parts:
            return None
        return " and ".join(_paren(p) for p in parts) if len(parts) > 1 else parts[0]


def _is_field_leaf(node: Node) -> bool:
    return isinstance(node, Exists | Compare | Range) or (
        isinstance(node, Term) and node.field is not None
    )


def _as_map(items: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in items:
        out[key] = value
    return out


def _is_group(text: str) -> bool:
    """``text`` is one parenthesised group: ``(a or b)``, not ``(a) and (b)``."""
    if not text.startswith("("):
        return False
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return index == len(text) - 1
    return False


def _paren(text: str) -> str:
    """``text`` as one operand: a name, ``not`` of one, or a group; else in parentheses."""
    rest = text[4:] if text.startswith("not ") else text
    if " " not in rest or _is_group(rest):
        return text
    return f"({text})"


def _dataset_terms(conjuncts: Sequence[Node]) -> tuple[set[str], list[Node]]:
    """Datasets named at the top of the query (``event.dataset:x``, ``event.dataset:(x OR y)``)."""
    datasets: set[str] = set()
    used: list[Node] = []
    for node in conjuncts:
        terms = node.operands if isinstance(node, Or) else (node,)
        if all(
            isinstance(t, Term)
            and t.field is not None
            and t.field.lower() == DATASET
            and (t.kind is MatchKind.EXACT or (t.value.endswith("*") and t.value.count("*") == 1))
            and "?" not in t.value
            for t in terms
        ):
            datasets.update(t.value.lower() for t in terms if isinstance(t, Term))
            used.append(node)
    if len(used) > 1:  # two dataset conditions and-ed: leave them to the detection
        return set(), []
    return datasets, used


def _event_id_term(conjuncts: Sequence[Node]) -> tuple[int | None, Node | None]:
    for node in conjuncts:
        if (
            isinstance(node, Term)
            and node.field is not None
            and node.field.lower() == EVENT_ID.lower()
            and node.kind is MatchKind.EXACT
            and _INTEGER.fullmatch(node.value)
        ):
            return int(node.value), node
    return None, None


def draft_rule(
    query: str,
    *,
    title: str | None = None,
    author: str = "",
    datasets_seen: Iterable[str] = (),
    fields_seen: Iterable[str] = (),
    today: date | None = None,
    rule_id: str | None = None,
) -> SigmaDraft:
    """Draft a Sigma rule from a search query (see the module docstring for the mapping).

    ``datasets_seen`` (the datasets of the events the search found) give the logsource when
    the query names no dataset; ``fields_seen`` give field names their case as stored.

    Raises:
        QuerySyntaxError: when the query does not parse.
    """
    node = parse_query(query)
    if isinstance(node, MatchAll):
        return SigmaDraft(
            "",
            {},
            left_out=[Unconverted("*", "it matches every event: a rule needs a condition")],
        )
    by_lower: dict[str, str] = {}
    for name in fields_seen:
        by_lower.setdefault(name.lower(), name)

    def resolve(name: str) -> str:
        return by_lower.get(name.lower(), name)

    conjuncts = list(node.operands) if isinstance(node, And) else [node]
    problems: list[str] = []
    notes: list[str] = []
    datasets, dataset_nodes = _dataset_terms(conjuncts)
    from_results = False
    if not datasets:
        datasets = {d for d in datasets_seen if d}
        from_results = bool(datasets)
    event_id, event_id_node = _event_id_term(conjuncts)
    found = logsource_for(datasets, event_id)
    logsource: dict[str, str] = {}
    keep: list[Node] = []
    if not datasets:
        problems.append(
            "the query names no dataset and the search found no events: add "
            "event.dataset:<name> to the query, or choose the logsource in the YAML"
        )
    elif found is None:
        names = ", ".join(sorted(datasets))
        problems.append(
            f"no Sigma logsource reads {names}: a rule cannot see these events "
            "(tocsin.detect.logsources lists the datasets rules can read)"
        )
    else:
        logsource, exact, by_event = found
        if from_results:
            notes.append(
                "the query names no dataset: the logsource is that of the events found ("
                + ", ".join(sorted(datasets))
                + "); add event.dataset:<name> to the query to choose it"
            )
        elif not exact:
            keep.extend(dataset_nodes)  # the logsource reads more: keep the dataset condition
            notes.append(
                "the logsource also reads other datasets: the rule keeps the event.dataset "
                "condition"
            )
        if by_event and event_id_node is not None:
            dataset_nodes = [*dataset_nodes, event_id_node]
    rest = [c for c in conjuncts if c not in dataset_nodes or c in keep]
    if not rest:  # the query is only its dataset: the rule fires on every event of it
        rest = list(dataset_nodes)
    builder = _Builder(resolve)
    condition = builder.condition(rest[0] if len(rest) == 1 else And(tuple(rest)))
    if builder.keywords:
        notes.append("free text becomes Sigma keywords, which search the raw event as well")
    if builder.exists:
        notes.append("Sigma's exists counts an empty string as a value; the search does not")
    if condition is None:
        return SigmaDraft("", logsource, builder.left_out, problems, notes)
    selections, condition = builder.finish(condition)
    detection: dict[str, object] = {**selections, "condition": condition}
    rule = {
        "title": " ".join((title or f"Search: {query}").split())[:200],
        "id": rule_id or str(uuid.uuid4()),
        "status": "experimental",
        "description": f"Made from the search `{' '.join(query.split())}`"
        + (f" by {author}" if author else "")
        + ".",
        "author": author or "tocsin search",
        "date": today or datetime.now(UTC).date(),
        "logsource": logsource,
        "detection": detection,
        "falsepositives": ["Unknown"],
        "level": "medium",
    }
    text = yaml.safe_dump(rule, sort_keys=False, allow_unicode=True, width=100)
    return SigmaDraft(text, logsource, builder.left_out, problems, notes)


# --------------------------------------------------------------------------- checking


def _loaded_rule(text: str) -> Mapping[str, Any]:
    if len(text.encode()) > MAX_RULE_BYTES:
        raise InvalidInputError(f"the rule is larger than {MAX_RULE_BYTES} bytes")
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"invalid YAML: {exc}") from exc
    if len(documents) != 1 or not isinstance(documents[0], Mapping):
        raise InvalidInputError("write exactly one rule (one YAML document)")
    return documents[0]


def check_rule_text(
    text: str,
    events: Sequence[Mapping[str, Any]] = (),
    *,
    placeholders: Mapping[str, Sequence[str]] | None = None,
) -> RuleCheck:
    """Load and compile one detection rule's YAML as the engine does, then test it on events."""
    try:
        document = _loaded_rule(text)
    except InvalidInputError as exc:
        return RuleCheck(None, None, [exc.message], [], [], 0, 0)
    with tempfile.TemporaryDirectory(prefix="tocsin-rule-") as folder:
        path = Path(folder) / "rule.yml"
        path.write_text(text, encoding="utf-8")
        engine = Engine.load([path], placeholders=placeholders)
    errors = [_strip_path(i.message, folder) for i in engine.issues if i.severity == "error"]
    warnings = [_strip_path(i.message, folder) for i in engine.issues if i.severity == "warning"]
    rule_id = str(document.get("id")) if document.get("id") else None
    title = str(document.get("title")) if document.get("title") else None
    if errors:
        return RuleCheck(rule_id, title, errors, warnings, [], 0, 0)
    if len(engine.compiled) != 1 or engine.correlations:
        kind = "a correlation" if engine.correlations else "no detection rule"
        return RuleCheck(
            rule_id,
            title,
            [f"found {kind}: only one detection rule can be saved from a search"],
            warnings,
            [],
            0,
            0,
        )
    compiled = engine.compiled[0]
    datasets = _describe_routes(compiled.routes)
    if not datasets:
        errors.append("its logsource reads no dataset: the rule would never see an event")
    report = check_rule(compiled, events)
    return RuleCheck(
        compiled.rule.id, compiled.rule.title, errors, warnings, datasets, len(events), report.fired
    )


def _strip_path(message: str, folder: str) -> str:
    return message.replace(str(Path(folder) / "rule.yml") + ": ", "").replace(folder, "")


# --------------------------------------------------------------------------- saving


def _slug(title: str, rule_id: str) -> str:
    slug = _SLUG.sub("-", title.lower()).strip("-")[:60].strip("-")
    return slug or rule_id


def _rule_id_of(path: Path) -> str | None:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return str(document.get("id")) if isinstance(document, Mapping) else None


def _write_atomic(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as sink:
            sink.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_to_local_pack(
    rules_dir: Path,
    text: str,
    *,
    taken: Callable[[str], Path | None] | None = None,
) -> SavedRule:
    """Write one checked rule into ``<rules_dir>/packs/local`` and refresh its ``pack.json``.

    A rule whose id is already in the local pack replaces that file (saving again edits it);
    otherwise the file is named after the title, with ``-2``, ``-3`` ... if that name is
    taken. ``taken(rule_id)`` names the file of an installed rule with that id, if any: a rule
    of another pack with the same id is refused, as loading both would fail.

    Raises:
        InvalidInputError: the text is not one rule with an id and a title.
        ConflictError: another pack holds a rule with the same id.
    """
    document = _loaded_rule(text)
    rule_id = str(document.get("id") or "").strip()
    title = str(document.get("title") or "").strip()
    if not rule_id or not title:
        raise InvalidInputError("the rule needs an id and a title")
    pack = rules_dir / "packs" / LOCAL_PACK
    pack.mkdir(parents=True, exist_ok=True)
    existing = taken(rule_id) if taken is not None else None
    if existing is not None and pack.resolve() not in existing.resolve().parents:
        raise ConflictError(
            f"rule id {rule_id!r} is already used by {existing}: give this rule a new id"
        )
    target: Path | None = None
    for path in sorted(pack.iterdir()):
        if path.suffix.lower() in RULE_SUFFIXES and _rule_id_of(path) == rule_id:
            target = path
            break
    replaced = target is not None
    if target is None:
        slug = _slug(title, rule_id)
        target = pack / f"{slug}.yml"
        number = 2
        while target.exists():
            target = pack / f"{slug}-{number}.yml"
            number += 1
    _write_atomic(target, text.encode())
    _write_manifest(pack)
    return SavedRule(rule_id, title, target, replaced)


def _write_manifest(pack: Path) -> None:
    """The manifest :class:`tocsin.detect.store.RuleStore` reads: source, time, digest, rules."""
    digest = hashlib.sha256()
    rules = 0
    for path in sorted(pack.iterdir()):
        if path.suffix.lower() not in RULE_SUFFIXES or path.name.startswith("."):
            continue
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        rules += 1
    manifest = {
        "source": "tocsin search",
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sha256": digest.hexdigest(),
        "rules": rules,
        "errors": 0,
    }
    _write_atomic(pack / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
