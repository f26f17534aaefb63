"""Compile pySigma rules into tocsin's plain match plan (the IR the matcher runs).

pySigma parses the YAML, applies the modifiers and parses the condition; this module walks the
resulting condition tree once and writes it as plain tuples, which are quick to evaluate, cheap to
pickle into the rule cache, and hold no pySigma object.

Nodes::

    ("and", (node, ...))   ("or", (node, ...))   ("not", node)   ("const", bool)
    ("field", name, test)  a field test
    ("kw", test)           a keyword (value-only) test against ``event.original``

Tests::

    ("str", mode, text, cased)  mode eq | sw | ew | con | any; text lowered unless cased
    ("strs", mode, texts, cased)  any of several strings (or-ed values of one field, merged)
    ("glob", regex, cased)      a wildcard pattern with ``*``/``?`` inside, as a full-match regex
    ("re", pattern, flags)      a regular expression (search, Python ``re`` flags)
    ("num", number)             numeric equality
    ("cmp", op, number)         lt | lte | gt | gte | neq
    ("bool", value)             a boolean
    ("null",)                   the field is absent or null
    ("exists", bool)            the field is (not) present with a non-null value
    ("cidr", network)           the value is an address inside the network
    ("ref", field, mode)        equal to (eq), starting (sw) or ending (ew) with another field
    ("tspart", unit, number)    the minute/hour/day/week/month/year of a time value

Semantics (Sigma specification 2.0, and where it is silent what SigmaHQ's rules assume):
strings match case-insensitively unless ``|cased``; regular expressions are case-sensitive unless
``|re|i``, and match anywhere in the value; keywords match anywhere in the raw event; a field that
is absent or null matches nothing but ``null`` (and ``exists: false``); ``''`` matches only the
empty string; a list value matches when any element matches.
"""

from __future__ import annotations

import re

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from tocsin.detect.ir import (
    FALSE,
    CompiledDetection,
    CompileError,
    Node,
    Test,
    simplify,
)

_COMPARE = {
    CompareOperators.LT: "lt",
    CompareOperators.LTE: "lte",
    CompareOperators.GT: "gt",
    CompareOperators.GTE: "gte",
    CompareOperators.NEQ: "neq",
}
_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}
_TIME_PARTS = {
    TimestampPart.MINUTE: "minute",
    TimestampPart.HOUR: "hour",
    TimestampPart.DAY: "day",
    TimestampPart.WEEK: "week",
    TimestampPart.MONTH: "month",
    TimestampPart.YEAR: "year",
}


def compile_rule(rule: SigmaRule) -> CompiledDetection:
    """Compile a parsed (and placeholder-resolved) pySigma rule.

    Raises:
        CompileError: for a value type the matcher does not support.
    """
    try:
        conditions = [_node(c.parsed) for c in rule.detection.parsed_condition]
        selections = tuple(
            (name, _detection(detection))
            for name, detection in rule.detection.detections.items()
            if not name.startswith("_filt_")
        )
    except SigmaError as exc:
        raise CompileError(str(exc)) from exc
    condition = conditions[0] if len(conditions) == 1 else _or(conditions)
    return CompiledDetection(simplify(condition), selections)


def _detection(detection: SigmaDetection) -> Node:
    items: list[Node] = []
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            items.append(_detection(item))
        else:
            items.append(_item(item))
    linking = detection.item_linking
    if len(items) == 1:
        return items[0]
    return _and(items) if linking is ConditionAND else _or(items)


def _item(item: SigmaDetectionItem) -> Node:
    if not item.value:
        values: list[Node] = [_leaf(item.field, SigmaNull())]
    else:
        values = [_leaf(item.field, v) for v in item.value]
    node = (
        values[0]
        if len(values) == 1
        else (_and(values) if item.value_linking is ConditionAND else _or(values))
    )
    return ("not", node) if item.negated else node


def _node(item: object) -> Node:
    if isinstance(item, ConditionAND):
        return _and([_node(a) for a in item.args])
    if isinstance(item, ConditionOR):
        return _or([_node(a) for a in item.args])
    if isinstance(item, ConditionNOT):
        return ("not", _node(item.args[0]))
    if isinstance(item, ConditionFieldEqualsValueExpression):
        return _leaf(item.field, item.value)
    if isinstance(item, ConditionValueExpression):
        return _leaf(None, item.value)
    if item is None:
        return FALSE
    if isinstance(item, ConditionItem):  # pragma: no cover - pySigma resolves the rest
        raise CompileError(f"unsupported condition element {type(item).__name__}")
    raise CompileError(f"unsupported condition element {type(item).__name__}")


def _and(nodes: list[Node]) -> Node:
    return ("and", tuple(nodes))


def _or(nodes: list[Node]) -> Node:
    return ("or", tuple(nodes))


def _leaf(field: str | None, value: object) -> Node:
    if isinstance(value, SigmaExpansion):
        return _or([_leaf(field, v) for v in value.values])
    if field is None:
        return ("kw", _keyword_test(value))
    return ("field", field, _test(value))


def _test(value: object) -> Test:
    if isinstance(value, SigmaString):
        return string_test(value)
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value)
    if isinstance(value, SigmaTimestampPart):
        return ("tspart", _TIME_PARTS[value.timestamp_part], value.number)
    if isinstance(value, SigmaBool):
        return ("bool", value.boolean)
    if isinstance(value, SigmaNumber):
        return ("num", value.number)
    if isinstance(value, SigmaNull):
        return ("null",)
    if isinstance(value, SigmaExists):
        return ("exists", value.exists)
    if isinstance(value, SigmaCIDRExpression):
        return ("cidr", str(value.network))
    if isinstance(value, SigmaCompareExpression):
        return ("cmp", _COMPARE[value.op], value.number.number)
    if isinstance(value, SigmaFieldReference):
        mode = "sw" if value.starts_with else "ew" if value.ends_with else "eq"
        if value.starts_with and value.ends_with:
            mode = "con"
        return ("ref", value.field, mode)
    raise CompileError(f"unsupported value type {type(value).__name__}")


def _keyword_test(value: object) -> Test:
    """Keywords are searched anywhere in the raw event: the pattern is unanchored."""
    if isinstance(value, SigmaString):
        parts = list(value.s)
        while parts and parts[0] is SpecialChars.WILDCARD_MULTI:
            parts.pop(0)
        while parts and parts[-1] is SpecialChars.WILDCARD_MULTI:
            parts.pop()
        cased = isinstance(value, SigmaCasedString)
        if not parts:
            return ("str", "any", "", cased)
        return _parts_test(
            [SpecialChars.WILDCARD_MULTI, *parts, SpecialChars.WILDCARD_MULTI], cased
        )
    if isinstance(value, SigmaNumber):
        return ("str", "con", str(value.number), False)
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value)
    raise CompileError(f"unsupported keyword value {type(value).__name__}")


def string_test(value: SigmaString) -> Test:
    """The test for a Sigma string (wildcards and escapes already parsed by pySigma)."""
    return _parts_test(list(value.s), isinstance(value, SigmaCasedString))


def _parts_test(parts: list[object], cased: bool) -> Test:
    multi = SpecialChars.WILDCARD_MULTI
    plain = all(isinstance(p, str) for p in parts)
    if plain:
        return ("str", "eq", _case("".join(str(p) for p in parts), cased), cased)
    if all(p is multi for p in parts):
        return ("str", "any", "", cased)
    inner = parts[1:-1]
    if parts[0] is multi and parts[-1] is multi and _plain(inner):
        return ("str", "con", _case("".join(str(p) for p in inner), cased), cased)
    if parts[0] is multi and _plain(parts[1:]):
        return ("str", "ew", _case("".join(str(p) for p in parts[1:]), cased), cased)
    if parts[-1] is multi and _plain(parts[:-1]):
        return ("str", "sw", _case("".join(str(p) for p in parts[:-1]), cased), cased)
    pattern = []
    for part in parts:
        if part is multi:
            pattern.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            pattern.append(".")
        else:
            pattern.append(re.escape(str(part)))
    return ("glob", "".join(pattern), cased)


def _plain(parts: list[object]) -> bool:
    return bool(parts) and all(isinstance(p, str) for p in parts)


def _case(text: str, cased: bool) -> str:
    return text if cased else text.lower()


def _regex_test(value: SigmaRegularExpression) -> Test:
    flags = 0
    for flag in value.flags:
        flags |= _RE_FLAGS[flag]
    pattern = value.regexp.to_plain()
    try:
        re.compile(pattern, flags)
    except re.error as exc:
        raise CompileError(f"invalid regular expression {pattern!r}: {exc}") from exc
    return ("re", pattern, flags)
