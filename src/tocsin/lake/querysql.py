"""Compile a parsed search query (:mod:`tocsin.lake.querylang`) into DuckDB SQL for one dataset."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import TypeAlias

from tocsin.core.errors import InvalidInputError
from tocsin.core.event import ORIGINAL
from tocsin.core.timeutil import parse_time_bound
from tocsin.lake.querylang import (
    And,
    Compare,
    CompareOp,
    Exists,
    MatchAll,
    MatchKind,
    Node,
    Not,
    Or,
    Range,
    Term,
)

__all__ = ["compile_query"]


class _Kind(Enum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIME = "time"  # TIMESTAMP WITH TIME ZONE: aware UTC parameters
    NAIVE_TIME = "naive_time"  # TIMESTAMP, DATE: naive UTC parameters
    LIST = "list"


_NUMBER_TYPES = frozenset(
    "TINYINT SMALLINT INTEGER INT BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT "
    "INT1 INT2 INT4 INT8 LONG SHORT SIGNED FLOAT FLOAT4 FLOAT8 REAL DOUBLE VARINT BIGNUM".split()
)
_TZ_TYPES = frozenset({"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"})
_NAIVE_TYPES = frozenset(
    "TIMESTAMP DATETIME TIMESTAMP_S TIMESTAMP_MS TIMESTAMP_NS TIMESTAMP_US".split()
    + ["TIMESTAMP WITHOUT TIME ZONE"]
)
_TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR", "NVARCHAR")
_ARRAY_SUFFIX = re.compile(r"\[\d*\]$")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_ISO_PARTIAL = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2}))?)?)?)?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$")


@dataclass(frozen=True, slots=True)
class _Column:
    """A SQL expression and how to compare it; a list has its lambda ``var`` and ``element``."""

    sql: str
    kind: _Kind
    element: _Column | None = None
    var: str = ""


_TimeSpan: TypeAlias = tuple[datetime, datetime | None]


def compile_query(
    node: Node, columns: Mapping[str, str], *, now: datetime | None = None
) -> tuple[str, list[object]]:
    """Compile a query for one dataset into a SQL boolean and its ``?`` parameters.

    ``columns`` maps the dataset's column names to DuckDB type strings; names are looked up
    case-insensitively and a missing one behaves as a field without value. Every leaf is NULL
    safe (``(...) IS TRUE``, which DuckDB still pushes into the Parquet scan), so ``NOT`` matches
    events without the field. ``now`` anchors relative times (default: the current time).

    Raises:
        InvalidInputError: a range or comparison on a number or time field with a bound that
            is not a number or a time.
    """
    compiler = _Compiler(columns, now or datetime.now(UTC))
    return compiler.node(node), compiler.params


class _Compiler:
    def __init__(self, columns: Mapping[str, str], now: datetime) -> None:
        self.columns = columns
        self.lowered = {name.lower(): name for name in columns}
        self.now = now
        self.params: list[object] = []

    def param(self, value: object) -> str:
        self.params.append(value)
        return "?"

    def node(self, node: Node) -> str:
        match node:
            case MatchAll():
                return "true"
            case And(operands=operands):
                return "(" + " AND ".join(self.node(o) for o in operands) + ")"
            case Or(operands=operands):
                return "(" + " OR ".join(self.node(o) for o in operands) + ")"
            case Not(operand=operand):
                return f"(NOT {self.node(operand)})"
            case Term(field=None, value=value, kind=kind):
                # Free text is found anywhere in the raw event: a substring, case-insensitive.
                if kind is MatchKind.WILDCARD:
                    regex = _wildcard_regex(f"*{value}*")
                else:
                    regex = "(?i)" + _escape_regex(value)
                return self.leaf(ORIGINAL, lambda c: [self.regexp(c.sql, regex)])
            case Term(field=str() as name, value=value, kind=kind):
                return self.leaf(name, lambda c: self.term(c, name, value, kind))
            case Exists(field=name):
                return self.leaf(name, self.exists, whole_list=True)
            case Compare(field=name, op=op, value=value):
                return self.leaf(name, lambda c: self.bounds(c, name, [(op, value)]))
            case Range(field=name, low=low, high=high):
                bounds: list[tuple[CompareOp, str]] = []
                if low is not None:
                    bounds.append((">=" if node.include_low else ">", low))
                if high is not None:
                    bounds.append(("<=" if node.include_high else "<", high))
                if not bounds:
                    return self.leaf(name, self.exists, whole_list=True)
                return self.leaf(name, lambda c: self.bounds(c, name, bounds))
        raise TypeError(f"not a query node: {node!r}")  # pragma: no cover

    def leaf(
        self, field: str, build: Callable[[_Column], list[str]], *, whole_list: bool = False
    ) -> str:
        """Compile a leaf as conjuncts each wrapped in ``IS TRUE`` (missing column: false).

        ``IS TRUE`` makes the leaf NULL safe, and unlike ``coalesce`` DuckDB still turns it into
        a filter it can push into the Parquet scan (row-group min/max skipping, dictionaries).
        """
        column = self.column(field)
        if column is None:
            return "false"
        conjuncts = build(column) if whole_list else self.any_element(column, build)
        wrapped = [f"({c}) IS TRUE" for c in conjuncts]
        return wrapped[0] if len(wrapped) == 1 else "(" + " AND ".join(wrapped) + ")"

    def column(self, field: str) -> _Column | None:
        name = field if field in self.columns else self.lowered.get(field.lower())
        if name is None:
            return None
        return _classify(_quote_identifier(name), self.columns[name], 0)

    def any_element(self, column: _Column, build: Callable[[_Column], list[str]]) -> list[str]:
        """Build on a scalar column; a list matches when any element does (NULLs never match)."""
        if column.element is None:
            return build(column)
        inner = " AND ".join(self.any_element(column.element, build))
        return [f"list_bool_or(list_transform({column.sql}, lambda {column.var}: {inner}))"]

    # -- leaves

    def exists(self, column: _Column) -> list[str]:
        if column.kind is _Kind.LIST:
            return [f"len({column.sql}) > 0"]
        if column.kind is _Kind.TEXT:
            return [f"{column.sql} <> ''"]
        return [f"{column.sql} IS NOT NULL"]

    def term(self, column: _Column, field: str, value: str, kind: MatchKind) -> list[str]:
        sql = column.sql
        if kind is MatchKind.EXACT:
            if column.kind is _Kind.NUMBER and (number := _parse_number(value)) is not None:
                return [f"{sql} = {self.param(number)}"]
            if column.kind is _Kind.BOOLEAN and value.lower() in ("true", "false"):
                return [f"{sql} = {self.param(value.lower() == 'true')}"]
            if column.kind in (_Kind.TIME, _Kind.NAIVE_TIME):
                span = self.time_span(value)
                if span is not None:
                    start, end = span
                    if end is None:
                        return [f"{sql} = {self.time_param(column, start)}"]
                    return [
                        f"{sql} >= {self.time_param(column, start)}",
                        f"{sql} < {self.time_param(column, end)}",
                    ]
        if column.kind is not _Kind.TEXT:
            sql = f"CAST({sql} AS VARCHAR)"
        if kind is MatchKind.EXACT:
            return [f"lower({sql}) = lower({self.param(value)})"]
        return [self.text_pattern(sql, value)]

    def text_pattern(self, sql: str, pattern: str) -> str:
        """Match text against a whole-value wildcard pattern, case-insensitively.

        Measured on DuckDB 2.0 over Parquet (docs/search.md): RE2 through ``regexp_matches`` is
        the fastest per row on high-cardinality text (command lines, raw events), while
        ``ILIKE`` is evaluated once per dictionary entry on dictionary-encoded columns (paths,
        names). So patterns open at both ends (substring searches, used on long text) and
        patterns whose text holds ``%``/``_`` (ILIKE would need a slow ESCAPE clause) use RE2;
        anchored patterns (``*\\cmd.exe``, ``C:\\Windows\\*``) use a plain ``ILIKE``.
        """
        if pattern.strip("*") == "":
            return f"{sql} IS NOT NULL"
        if (pattern.startswith("*") and pattern.endswith("*")) or any(c in pattern for c in "%_"):
            return self.regexp(sql, _wildcard_regex(pattern))
        like = pattern.replace("*", "%").replace("?", "_")
        return f"{sql} ILIKE {self.param(like)}"

    def regexp(self, sql: str, regex: str) -> str:
        return f"regexp_matches({sql}, {self.param(regex)})"

    def bounds(self, column: _Column, field: str, bounds: list[tuple[CompareOp, str]]) -> list[str]:
        sql = column.sql
        if column.kind in (_Kind.TIME, _Kind.NAIVE_TIME):
            return [self.time_bound(column, field, op, value) for op, value in bounds]
        numbers = [_parse_number(value) for _, value in bounds]
        if column.kind is _Kind.NUMBER:
            for (_, value), number in zip(bounds, numbers, strict=True):
                if number is None:
                    raise InvalidInputError(
                        f"cannot compare the number field {field!r} with {value!r}: "
                        "use a number (or match it as text with field:value)"
                    )
        elif all(n is not None for n in numbers):
            sql = f"TRY_CAST({sql} AS DOUBLE)"
        else:
            if column.kind is not _Kind.TEXT:
                sql = f"CAST({sql} AS VARCHAR)"
            numbers = [None] * len(bounds)
        return [
            f"{sql} {op} {self.param(value if number is None else number)}"
            for (op, value), number in zip(bounds, numbers, strict=True)
        ]

    # -- times

    def time_bound(self, column: _Column, field: str, op: CompareOp, value: str) -> str:
        span = self.time_span(value)
        if span is None:
            raise InvalidInputError(
                f"cannot compare the time field {field!r} with {value!r}: use an ISO time "
                "(2024-01-31, 2024-01-31T12:00), a relative time (-24h, now-7d) or now"
            )
        start, end = span
        # A partial time stands for its whole period: > and <= move past its end.
        if op == ">" and end is not None:
            return f"{column.sql} >= {self.time_param(column, end)}"
        if op == "<=" and end is not None:
            return f"{column.sql} < {self.time_param(column, end)}"
        return f"{column.sql} {op} {self.time_param(column, start)}"

    def time_param(self, column: _Column, value: datetime) -> str:
        if column.kind is _Kind.NAIVE_TIME:
            return self.param(value.astimezone(UTC).replace(tzinfo=None))
        return self.param(value.astimezone(UTC))

    def time_span(self, text: str) -> _TimeSpan | None:
        """Read a time as (start, end of its period), end None for an instant; None if no time."""
        text = text.strip()
        match = _ISO_PARTIAL.fullmatch(text)
        if match:
            return _partial_span(match)
        lowered = text.lower()
        if lowered.startswith("now") and lowered[3:4] in ("+", "-"):
            text = text[3:]
        try:
            return parse_time_bound(text, now=self.now), None
        except InvalidInputError:
            return None


def _classify(sql: str, duck_type: str, depth: int) -> _Column:
    kind_name = duck_type.strip().upper()
    if _ARRAY_SUFFIX.search(kind_name):
        var = f"__e{depth + 1}"
        element = _classify(var, _ARRAY_SUFFIX.sub("", kind_name), depth + 1)
        return _Column(sql, _Kind.LIST, element, var)
    base = kind_name.split("(", 1)[0].strip()
    if base in _NUMBER_TYPES or base in ("DECIMAL", "NUMERIC"):
        return _Column(sql, _Kind.NUMBER)
    if base in ("BOOLEAN", "BOOL", "LOGICAL"):
        return _Column(sql, _Kind.BOOLEAN)
    if base in _TZ_TYPES:
        return _Column(sql, _Kind.TIME)
    if base in _NAIVE_TYPES:
        return _Column(sql, _Kind.NAIVE_TIME)
    if base == "DATE":
        return _Column(f"CAST({sql} AS TIMESTAMP)", _Kind.NAIVE_TIME)
    if base in _TEXT_TYPES:
        return _Column(sql, _Kind.TEXT)
    # JSON, structs, maps, UUIDs...: match their text.
    return _Column(f"CAST({sql} AS VARCHAR)", _Kind.TEXT)


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _parse_number(text: str) -> int | float | None:
    text = text.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        return float(text)
    return None


def _escape_regex(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def _wildcard_regex(pattern: str) -> str:
    """Translate a ``*``/``?`` pattern that spans the whole value into an RE2 pattern."""
    parts: list[str] = []
    for char in pattern:
        if char == "*":
            if not parts or parts[-1] != ".*":
                parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(_escape_regex(char))
    head = tail = ""
    if parts and parts[0] == ".*":
        parts.pop(0)
    else:
        head = "^"
    if parts and parts[-1] == ".*":
        parts.pop()
    else:
        tail = "$"
    dotted = any(part in (".", ".*") for part in parts)
    return ("(?is)" if dotted else "(?i)") + head + "".join(parts) + tail


def _partial_span(match: re.Match[str]) -> _TimeSpan | None:
    """Turn ``2024``, ``2024-01``, ``2024-01-31``, ``...T12``, ``...T12:30``... into a period."""
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        tz = UTC
        if zone and zone.upper() != "Z":
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = timezone(-offset if zone[0] == "-" else offset)
        start = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=tz,
        )
        if month is None:
            end = start.replace(year=start.year + 1)
        elif day is None:
            end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        else:
            if hour is None:
                step = timedelta(days=1)
            elif minute is None:
                step = timedelta(hours=1)
            elif second is None:
                step = timedelta(minutes=1)
            else:
                step = timedelta(seconds=1)
            end = start + step
    except (ValueError, OverflowError):
        return None
    return start.astimezone(UTC), end.astimezone(UTC)
