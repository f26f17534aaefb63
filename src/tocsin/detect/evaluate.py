"""Turn compiled nodes (see :mod:`tocsin.detect.compiler`) into fast Python predicates.

Each node becomes a closure over an event mapping. Field values are looked up once per leaf;
a list value matches when any element does; an absent or null field matches only ``null`` and
``exists: false``. :func:`explain` re-walks a rule's named selections for the reasons of a match.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import ahocorasick_rs
import orjson

from tocsin.detect.ir import KEYWORD_FIELD, Node, Test

Event = Mapping[str, Any]
Predicate = Callable[[Event], bool]
ValueTest = Callable[[Any], bool]

MAX_REASON_VALUE = 200


def text_of(value: Any) -> str:
    """The text a string test sees for a non-string value."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value.__class__ is float and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def _number(value: Any) -> float | int | None:
    if value.__class__ is int or value.__class__ is float:
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 16) if text[:2] in ("0x", "0X") else int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return None
    return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def value_test(test: Test) -> ValueTest:
    """A predicate on one non-null scalar value."""
    kind = test[0]
    if kind == "str":
        return _string_test(test[1], test[2], test[3])
    if kind == "strs":
        return _strings_test(test[1], test[2], test[3])
    if kind == "glob":
        flags = re.DOTALL | (0 if test[2] else re.IGNORECASE)
        full = re.compile(test[1], flags).fullmatch
        return lambda v: full(v if v.__class__ is str else text_of(v)) is not None
    if kind == "re":
        search = re.compile(test[1], test[2]).search
        return lambda v: search(v if v.__class__ is str else text_of(v)) is not None
    if kind == "num":
        number = test[1]
        wanted = str(number)

        def num(v: Any) -> bool:
            if v.__class__ is int or v.__class__ is float:
                return bool(v == number)
            return isinstance(v, str) and v == wanted

        return num
    if kind == "cmp":
        return _compare(test[1], test[2])
    if kind == "bool":
        flag = test[1]
        word = "true" if flag else "false"
        return lambda v: v is flag if v.__class__ is bool else text_of(v).lower() == word
    if kind == "cidr":
        network = ipaddress.ip_network(test[1])
        return lambda v: _in_network(v, network)
    if kind == "tspart":
        return _time_part(test[1], test[2])
    raise ValueError(f"not a value test: {test!r}")


def _string_test(mode: str, lit: str, cased: bool) -> ValueTest:
    if mode == "any":
        return lambda v: True
    if cased:
        if mode == "eq":
            return lambda v: (v if v.__class__ is str else text_of(v)) == lit
        if mode == "sw":
            return lambda v: (v if v.__class__ is str else text_of(v)).startswith(lit)
        if mode == "ew":
            return lambda v: (v if v.__class__ is str else text_of(v)).endswith(lit)
        return lambda v: lit in (v if v.__class__ is str else text_of(v))
    if mode == "eq":
        return lambda v: (v.lower() if v.__class__ is str else text_of(v).lower()) == lit
    if mode == "sw":
        return lambda v: (v.lower() if v.__class__ is str else text_of(v).lower()).startswith(lit)
    if mode == "ew":
        return lambda v: (v.lower() if v.__class__ is str else text_of(v).lower()).endswith(lit)
    return lambda v: lit in (v.lower() if v.__class__ is str else text_of(v).lower())


SMALL_LIST = 6
"""Up to this many contained strings are tried one by one; more go into an automaton."""


def _strings_test(mode: str, literals: tuple[str, ...], cased: bool) -> ValueTest:
    def text(v: Any) -> str:
        t = v if v.__class__ is str else text_of(v)
        return t if cased else t.lower()

    if mode == "eq":
        wanted = frozenset(literals)
        return lambda v: text(v) in wanted
    if mode == "sw":
        return lambda v: text(v).startswith(literals)
    if mode == "ew":
        return lambda v: text(v).endswith(literals)
    if len(literals) <= SMALL_LIST:

        def contains_any(v: Any) -> bool:
            t = text(v)
            for literal in literals:
                if literal in t:
                    return True
            return False

        return contains_any
    searcher = ahocorasick_rs.AhoCorasick(list(literals))
    find = searcher.find_matches_as_indexes

    def contains_one(v: Any) -> bool:
        return bool(find(text(v)))

    return contains_one


def _compare(op: str, number: float) -> ValueTest:
    def compare(v: Any) -> bool:
        if v.__class__ is bool:
            return False
        n = _number(v)
        if n is None:
            return False
        if op == "lt":
            return n < number
        if op == "lte":
            return n <= number
        if op == "gt":
            return n > number
        if op == "gte":
            return n >= number
        return n != number

    return compare


@functools.lru_cache(maxsize=65536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _in_network(value: Any, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if not isinstance(value, str):
        return False
    address = _address(value)
    return address is not None and address.version == network.version and address in network


def _time_part(unit: str, number: int) -> ValueTest:
    def part(v: Any) -> bool:
        when = _time(v)
        if when is None:
            return False
        if unit == "minute":
            return when.minute == number
        if unit == "hour":
            return when.hour == number
        if unit == "day":
            return when.day == number
        if unit == "week":
            return when.isocalendar().week == number
        if unit == "month":
            return when.month == number
        return when.year == number

    return part


def keyword_text(event: Event) -> str | None:
    """The text keyword (value-only) rules search: the whole event, as its values.

    For text formats that is the raw line (``event.original``). For JSON and EVTX records the
    raw form is JSON, where ``C:\\Temp`` and quotes are escaped, so the search runs over the
    record's values instead, one per line (the envelope's ``event.*`` fields left out).
    """
    original = event.get(KEYWORD_FIELD)
    if isinstance(original, str) and not original.lstrip().startswith(("{", "[")):
        return original
    parts: list[str] = []
    for name, value in event.items():
        if value is None or name.startswith("event.") or name == "@timestamp":
            continue
        if value.__class__ is str:
            parts.append(value)
        elif value.__class__ is list:
            parts.extend(x if x.__class__ is str else text_of(x) for x in value if x is not None)
        else:
            parts.append(text_of(value))
    if not parts:
        return original if isinstance(original, str) else None
    return "\n".join(parts)


def _is_null(value: Any) -> bool:
    return value is None or (value.__class__ is list and all(x is None for x in value))


def build(node: Node) -> Predicate:
    """The predicate of a node."""
    kind = node[0]
    if kind == "const":
        constant = bool(node[1])
        return lambda ev: constant
    if kind == "not":
        inner = build(node[1])
        return lambda ev: not inner(ev)
    if kind == "and":
        parts = tuple(build(c) for c in node[1])
        if len(parts) == 2:
            a, b = parts
            return lambda ev: a(ev) and b(ev)

        def all_of(ev: Event) -> bool:
            for part in parts:
                if not part(ev):
                    return False
            return True

        return all_of
    if kind == "or":
        parts = tuple(build(c) for c in node[1])
        if len(parts) == 2:
            a, b = parts
            return lambda ev: a(ev) or b(ev)

        def any_of(ev: Event) -> bool:
            for part in parts:
                if part(ev):
                    return True
            return False

        return any_of
    if kind == "kw":
        check = value_test(node[1])

        def keyword(ev: Event) -> bool:
            text = keyword_text(ev)
            return text is not None and check(text)

        return keyword
    if kind == "field":
        return _field_predicate(node[1], node[2])
    raise ValueError(f"not a node: {node!r}")


def _field_predicate(field: str, test: Test) -> Predicate:
    kind = test[0]
    if kind == "null":
        return lambda ev: _is_null(ev.get(field))
    if kind == "exists":
        wanted = bool(test[1])
        return lambda ev: (not _is_null(ev.get(field))) is wanted
    if kind == "ref":
        return _reference(field, test[1], test[2])
    check = value_test(test)

    def predicate(ev: Event) -> bool:
        v = ev.get(field)
        if v is None:
            return False
        if v.__class__ is list:
            for x in v:
                if x is not None and check(x):
                    return True
            return False
        return check(v)

    return predicate


def _reference(field: str, other: str, mode: str) -> Predicate:
    def compare(ev: Event) -> bool:
        a = ev.get(field)
        b = ev.get(other)
        if a is None or b is None:
            return False
        left = (a if isinstance(a, str) else text_of(a)).lower()
        right = (b if isinstance(b, str) else text_of(b)).lower()
        if mode == "sw":
            return left.startswith(right)
        if mode == "ew":
            return left.endswith(right)
        if mode == "con":
            return right in left
        return left == right

    return compare


# ----------------------------------------------------------------------------- explanations


def describe(node: Node) -> str:
    """A short human form of a leaf: ``CommandLine contains 'whoami'``."""
    kind = node[0]
    if kind == "kw":
        return "keyword " + _describe_test(node[1])
    if kind == "field":
        return f"{node[1]} {_describe_test(node[2])}"
    return str(kind)


_MODE_WORDS = {"eq": "is", "sw": "starts with", "ew": "ends with", "con": "contains"}


def _describe_test(test: Test) -> str:
    kind = test[0]
    if kind == "str":
        if test[1] == "any":
            return "has any value"
        cased = " (cased)" if test[3] else ""
        return f"{_MODE_WORDS[test[1]]} {test[2]!r}{cased}"
    if kind == "strs":
        shown = ", ".join(repr(t) for t in test[2][:5])
        more = f" and {len(test[2]) - 5} more" if len(test[2]) > 5 else ""
        cased = " (cased)" if test[3] else ""
        return f"{_MODE_WORDS[test[1]]} one of {shown}{more}{cased}"
    if kind == "glob":
        return f"matches wildcard /{test[1]}/"
    if kind == "re":
        return f"matches /{test[1]}/"
    if kind == "num":
        return f"is {test[1]}"
    if kind == "cmp":
        return f"{test[1]} {test[2]}"
    if kind == "bool":
        return f"is {str(test[1]).lower()}"
    if kind == "null":
        return "is null"
    if kind == "exists":
        return "exists" if test[1] else "does not exist"
    if kind == "cidr":
        return f"in {test[1]}"
    if kind == "ref":
        return f"{_MODE_WORDS[test[2]]} field {test[1]}"
    if kind == "tspart":
        return f"{test[1]} is {test[2]}"
    return repr(test)


def matched_leaves(node: Node, event: Event) -> list[tuple[Node, Any]]:
    """The leaves that made ``node`` true for ``event``, with the value each saw."""
    kind = node[0]
    if kind in ("and", "or"):
        found: list[tuple[Node, Any]] = []
        for child in node[1]:
            if build(child)(event):
                found.extend(matched_leaves(child, event))
        return found
    if kind == "not":
        return [(node, None)] if build(node)(event) else []
    if kind == "field":
        return [(node, event.get(node[1]))] if build(node)(event) else []
    if kind == "kw":
        return [(node, keyword_text(event))] if build(node)(event) else []
    return []


def explain(selections: tuple[tuple[str, Node], ...], event: Event) -> list[tuple[str, str]]:
    """(selection name, evidence) for each named selection of a rule that ``event`` satisfies."""
    found: list[tuple[str, str]] = []
    for name, node in selections:
        if not build(node)(event):
            continue
        leaves = matched_leaves(node, event)
        if not leaves:
            found.append((name, "matched"))
            continue
        parts = []
        for leaf, value in leaves:
            if leaf[0] == "not":
                parts.append(f"not ({_describe_not(leaf[1])})")
                continue
            shown = "" if value is None else f" (value {_short(value)!r})"
            parts.append(describe(leaf) + shown)
        found.append((name, "; ".join(parts)))
    return found


def _describe_not(node: Node) -> str:
    if node[0] in ("field", "kw"):
        return describe(node)
    return "a negated condition"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else text_of(value)
    if len(text) > MAX_REASON_VALUE:
        return text[: MAX_REASON_VALUE - 1] + "…"
    return text
