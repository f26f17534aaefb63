"""Compare tocsin's Sigma matcher with pySigma's SQLite backend on the same events.

    python benchmarks/compare_pysigma_sqlite.py [--rules PATH ...] [--events PATH] [--out FILE]
        [--collate-nocase] [--fulltext original|values|none] [--limit N]
    python benchmarks/compare_pysigma_sqlite.py --probes [--fulltext ...] [--collate-nocase]

Needs ``pysigma-backend-sqlite`` (LGPL-3.0-only) in the environment; exits 0 with a message
when it or the shared data is missing. Reads every event under ``--events`` (default
``../shared/data/evtx``) with ``EventReader``, as ``tocsin scan`` does, and puts them into one
in-memory SQLite table: one column per field name, values as SQLite stores the JSON types
(integer, real, text; lists and nested values as JSON text; booleans as 1/0; times as ISO
text), ``rowid`` = the event's position, no declared type or collation unless
``--collate-nocase``. SQLite column names are case-insensitive, so field names differing only
in case share one column (the first spelling seen names it). ``REGEXP`` is Python's
``re.search``, false on NULL, as the backend's README prescribes.

Every rule under ``--rules`` (default ``../shared/data/sigma/rules/windows``) that tocsin
compiles is converted from its YAML file by the backend (default output, no processing
pipeline: the events already carry Sigma's field names) and run on the rows of the events
tocsin's router gives that rule (same logsource footing). Keyword rules search, with
``--fulltext original`` (default), the ``event.original`` column tocsin searches; with
``values``, a column of the raw record's values, unescaped, one per line; with ``none`` they
are left unconverted, as the backend does without ``fulltext_field``. The matching row ids are
compared with ``Engine.match`` on the same events.

For each differing rule x event, each leaf of the rule's condition (one field test or keyword)
is evaluated on that event by both sides: by SQLite (the backend's SQL for that leaf) and by
tocsin (the compiled test of that leaf). The leaves that disagree, with the event's value,
give the cause (case of ``=``, a list value, number vs text, a field-name case clash, ...).
When no leaf disagrees, tocsin's plan (routing, prefilter) is checked against tocsin's own
predicate for the whole rule.

``--probes`` runs instead a built-in set of small rules and events, one per point where the two
engines may part (wildcards, escapes, null, exists, numbers, comparisons, regex flags, cidr,
windash, fieldref, encodings, lists, keywords), each with what the Sigma specification says.

The report (markdown) goes to stdout or ``--out``: figures, conversion failures by reason,
differences by cause with up to three examples each, and the differing rules (with
``--probes``: one row per probe with the specification's, tocsin's and SQLite's answers).
"""

from __future__ import annotations

import argparse
import functools
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEFAULT_RULES = SHARED / "sigma" / "rules" / "windows"
DEFAULT_EVENTS = SHARED / "evtx"
TABLE = "logs"
FULLTEXT = "event.original"
FULLTEXT_VALUES = "source_values"
FULLTEXT_MODES = ("original", "values", "none")
RESERVED = {"rowid", "oid", "_rowid_"}
EXAMPLES_PER_CAUSE = 3
SELECT_PREFIX = f"SELECT * FROM {TABLE} WHERE "  # noqa: S608 - constants only


# ----------------------------------------------------------------------------- the table


def sql_value(value: Any) -> Any:
    """A field value as SQLite stores it from JSON: integer, real, text, NULL."""
    if value is None:
        return None
    if value is True or value is False:
        return int(value)
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, (float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def quote(name: str) -> str:
    """A SQL identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(slots=True)
class EventTable:
    """The events in one SQLite table, and how field names map to its columns."""

    db: sqlite3.Connection
    columns: dict[str, str]
    """Lowered field name -> the column holding it."""
    fulltext: str = "original"
    """What keyword rules search: ``original``, ``values`` or ``none`` (see FULLTEXT_MODES)."""
    clashes: int = 0
    """Values left out because the event had another spelling of the same column."""
    added: set[str] = field(default_factory=set)
    """Columns a rule named that no event has (added as NULL)."""


def regexp(pattern: str, value: Any) -> bool:
    """SQLite's REGEXP, as the backend's README asks: Python ``re.search``, false for NULL."""
    if value is None:
        return False
    return _compiled(pattern).search(str(value)) is not None


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def source_values(event: Mapping[str, Any]) -> str:
    """Every value of the raw record (``event.original`` parsed), unescaped, one per line."""
    raw = event.get(FULLTEXT)
    if not isinstance(raw, str):
        return ""
    try:
        record: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    found: list[str] = []
    pending = [record]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            pending.extend(reversed(item))
        elif item is not None:
            found.append(item if isinstance(item, str) else orjson.dumps(item).decode())
    return "\n".join(found)


def build_table(events: Sequence[Mapping[str, Any]], *, nocase: bool, fulltext: str) -> EventTable:
    """Create the in-memory table and insert every event (rowid = position).

    ``fulltext`` ``values`` adds a column ``FULLTEXT_VALUES`` with :func:`source_values`.
    """
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, regexp, deterministic=True)
    columns: dict[str, str] = {}
    for event in events:
        for name in event:
            lowered = name.lower()
            if lowered not in RESERVED:
                columns.setdefault(lowered, name)
    if fulltext == "values":
        columns[FULLTEXT_VALUES.lower()] = FULLTEXT_VALUES
    collate = " COLLATE NOCASE" if nocase else ""
    spec = ", ".join(quote(c) + collate for c in columns.values())
    db.execute(f"CREATE TABLE {TABLE} ({spec})")
    table = EventTable(db, columns, fulltext)
    grouped: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for position, event in enumerate(events):
        row: dict[str, Any] = {}
        for name, value in event.items():
            column = columns.get(name.lower())
            if column is None:
                continue
            if column in row:
                table.clashes += 1
                continue
            row[column] = sql_value(value)
        if fulltext == "values":
            row[FULLTEXT_VALUES] = source_values(event)
        names = tuple(row)
        grouped[names].append((position, *row.values()))
    for names, rows in grouped.items():
        marks = ", ".join("?" * (len(names) + 1))
        listed = ", ".join(["rowid", *(quote(n) for n in names)])
        # names are quoted identifiers; the values are bound parameters
        db.executemany(f"INSERT INTO {TABLE} ({listed}) VALUES ({marks})", rows)  # noqa: S608
    return table


_NO_COLUMN = re.compile(r"no such column: (.+)$")


def run_sql(table: EventTable, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run a query, adding (as NULL) any column it names that no event has."""
    for _ in range(200):
        try:
            return table.db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            missing = _NO_COLUMN.search(str(exc))
            if missing is None:
                raise
            name = missing.group(1).strip("`\"'")
            table.db.execute(f"ALTER TABLE {TABLE} ADD COLUMN {quote(name)}")
            table.columns.setdefault(name.lower(), name)
            table.added.add(name)
    raise RuntimeError(f"too many missing columns in {sql[:200]!r}")


# ----------------------------------------------------------------------------- conversion


@dataclass(slots=True)
class Converted:
    """The backend's output for one rule: its pySigma rule and queries, or why not."""

    rule: Any = None
    queries: list[str] = field(default_factory=list)
    error: str | None = None


def new_backend(options: Mapping[str, Any]) -> Any:
    """A SQLite backend with no processing pipeline (the package ships no type hints)."""
    from sigma.backends.sqlite.sqlite import sqliteBackend

    factory: Any = sqliteBackend
    return factory(**options)


def convert(path: Path, rule_id: str, backend_options: Mapping[str, Any]) -> Converted:
    """Convert one rule of a file with the SQLite backend (default output, no pipeline)."""
    from sigma.collection import SigmaCollection

    try:
        collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
        rule = next((r for r in collection.rules if str(r.id) == rule_id), None)
        if rule is None:
            rule = next(iter(collection.rules), None)
        if rule is None:
            return Converted(error="not a detection rule for pySigma")
        backend = new_backend(backend_options)
        queries = [str(q) for q in backend.convert_rule(rule)]
    except Exception as exc:  # every failure is a reason to report, never a stop
        return Converted(error=f"{type(exc).__name__}: {exc}")
    return Converted(rule, queries)


_REASONS = (
    (re.compile(r"Keyword search requires fulltext_field", re.I), "keyword search (no fulltext)"),
    (re.compile(r"correlation", re.I), "correlation"),
    (re.compile(r"field reference", re.I), "field reference"),
    (re.compile(r"regular expression|regex", re.I), "regular expression"),
    (re.compile(r"cidr", re.I), "cidr"),
    (re.compile(r"null", re.I), "null value"),
    (re.compile(r"not supported", re.I), "feature not supported"),
)


def reason_of(error: str) -> str:
    """A short reason class for a conversion error message."""
    for pattern, reason in _REASONS:
        if pattern.search(error):
            return reason
    return error.split(":", 1)[0]


def scoped_query(query: str, scope_table: str) -> str:
    """The backend's query restricted to the rows of a scope table, returning rowids."""
    if not query.startswith(SELECT_PREFIX):
        raise ValueError(f"unexpected query shape: {query[:80]!r}")
    where = query[len(SELECT_PREFIX) :]
    return (
        # the backend's own WHERE clause, run on a private in-memory copy of the events
        f"SELECT rowid FROM {TABLE} WHERE rowid IN (SELECT id FROM temp.{scope_table}) "  # noqa: S608
        f"AND ({where})"
    )


# ----------------------------------------------------------------------------- leaves


def leaves(node: Any) -> Iterator[Any]:
    """The field tests and keywords of a parsed pySigma condition, depth first."""
    from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionValueExpression

    if isinstance(node, (ConditionFieldEqualsValueExpression, ConditionValueExpression)):
        yield node
        return
    for arg in getattr(node, "args", ()):
        yield from leaves(arg)


@dataclass(slots=True)
class LeafVerdict:
    """One leaf of a rule on one event, as each side evaluates it."""

    leaf: Any
    sql: str
    sql_value: Any
    tocsin_text: str
    tocsin_value: bool | None

    @property
    def sql_truth(self) -> bool | None:
        """SQLite's answer read as Sigma reads it (NULL is false); None when it failed."""
        if isinstance(self.sql_value, str) and self.sql_value.startswith("error"):
            return None
        return bool(self.sql_value)


def judge_leaves(
    rule: Any,
    event: Mapping[str, Any],
    position: int,
    table: EventTable,
    options: Mapping[str, Any],
) -> list[LeafVerdict]:
    """Evaluate every leaf of a rule on one event with both engines."""
    from sigma.conversion.state import ConversionState

    from tocsin.detect.compiler import _node  # the compiler's own leaf translation
    from tocsin.detect.evaluate import build, describe

    backend = new_backend(options)
    found: list[LeafVerdict] = []
    for condition in rule.detection.parsed_condition:
        for leaf in leaves(condition.parsed):
            try:
                expr = backend.convert_condition(leaf, ConversionState(processing_state={}))
                sql = f"SELECT ({expr}) FROM {TABLE} WHERE rowid = ?"  # noqa: S608 - the backend's SQL
                rows = run_sql(table, sql, (position,))
                value = rows[0][0] if rows else None
            except Exception as exc:  # the leaf alone may not convert; note it
                expr, value = "?", f"error {exc}"
            try:
                node = _node(leaf)
                mine: bool | None = build(node)(event)
                text = describe(node) if node[0] in ("field", "kw") else repr(node)[:120]
            except Exception as exc:
                mine, text = None, f"error {exc}"
            found.append(LeafVerdict(leaf, str(expr), value, text, mine))
    return found


# ----------------------------------------------------------------------------- causes


def _has_non_ascii_case(text: str) -> bool:
    return any(ord(c) > 127 and c.lower() != c.upper() for c in text)


def _like_form(value: Any) -> bool:
    """Whether the backend writes a Sigma string as a LIKE pattern (else ``=``)."""
    return bool(value.contains_special()) or any(c in value for c in ("%", "_", "\\"))


def _plain(value: Any) -> str:
    return str(value.to_plain()) if hasattr(value, "to_plain") else str(value)


def _string_cause(value: Any, seen: Any, tocsin: bool, cased: bool) -> str:
    plain = _plain(value)
    if cased:
        return "cased string (GLOB)"
    if not isinstance(seen, str):
        if not _like_form(value) and tocsin:
            return "number vs text (rule text, event number)"
        return f"string test on a {type(seen).__name__}"
    if _like_form(value):
        if tocsin and _has_non_ascii_case(seen):
            return "non-ASCII case folding (LIKE folds ASCII only)"
        if not tocsin and ("_" in plain or "%" in plain):
            return "LIKE wildcard in the value"
        return "wildcard string (other)"
    if tocsin and seen.lower() == plain.lower():
        if seen.upper() != seen.lower() and seen.isascii():
            return "case: `=` is case-sensitive without NOCASE"
        return "non-ASCII case folding (NOCASE folds ASCII only)"
    return "plain string (other)"


def _value_cause(value: Any, seen: Any, tocsin: bool) -> str:
    import sigma.types as st

    if isinstance(value, st.SigmaExpansion):
        causes = {_value_cause(v, seen, tocsin) for v in value.values}
        return "expansion: " + " / ".join(sorted(causes))
    if isinstance(value, st.SigmaRegularExpression):
        return "regular expression"
    if isinstance(value, st.SigmaCIDRExpression):
        return "cidr: address spelling (LIKE prefixes)"
    if isinstance(value, st.SigmaCompareExpression):
        if isinstance(seen, str):
            return "comparison on text (SQLite orders text after numbers)"
        return "numeric comparison"
    if isinstance(value, st.SigmaFieldReference):
        return "fieldref (`=` between columns is case-sensitive)"
    if isinstance(value, st.SigmaExists):
        return "exists"
    if isinstance(value, st.SigmaNull):
        return "null"
    if isinstance(value, st.SigmaBool):
        return "boolean"
    if isinstance(value, st.SigmaNumber):
        if isinstance(seen, str):
            return "number vs text (rule number, event text)"
        return "number (other)"
    if isinstance(value, st.SigmaString):
        return _string_cause(value, seen, tocsin, isinstance(value, st.SigmaCasedString))
    return f"other ({type(value).__name__})"


def cause_of(verdict: LeafVerdict, event: Mapping[str, Any], table: EventTable) -> str:
    """Why one leaf gives different answers on one event."""
    from sigma.conditions import ConditionValueExpression

    leaf = verdict.leaf
    tocsin = bool(verdict.tocsin_value)
    if verdict.tocsin_value is None:
        return "tocsin cannot evaluate the leaf"
    if verdict.sql_truth is None:
        return "SQLite cannot evaluate the leaf"
    if isinstance(leaf, ConditionValueExpression):
        values = leaf.value.values if hasattr(leaf.value, "values") else [leaf.value]
        words = [_plain(v) for v in values]
        if table.fulltext == "values" and any(ch in w for w in words for ch in '\\"\t\r\n'):
            return 'keyword search: `\\` or `"` in the keyword (JSON-escaped in event.original)'
        return "keyword search: " + _value_cause(leaf.value, event.get(FULLTEXT), tocsin)
    name = leaf.field
    seen = event.get(name)
    column = table.columns.get(name.lower())
    spellings = [k for k in event if k.lower() == name.lower() and k != name]
    if spellings and (seen is None or column != name):
        return "field-name case (SQLite column names ignore case)"
    if isinstance(seen, list):
        return "list-valued field (SQLite sees JSON text)"
    if seen is None and not isinstance(leaf.value, _absent_aware()):
        return f"absent field ({type(leaf.value).__name__}, SQL {verdict.sql_value!r})"
    return _value_cause(leaf.value, seen, tocsin)


def _absent_aware() -> tuple[type, ...]:
    import sigma.types as st

    return (st.SigmaNull, st.SigmaExists, st.SigmaFieldReference)


# ----------------------------------------------------------------------------- comparison


@dataclass(slots=True)
class Difference:
    """One event one side matched and the other did not, with its cause."""

    rule_id: str
    position: int
    tocsin: bool
    cause: str
    detail: str


@dataclass(slots=True)
class RuleOutcome:
    """One rule's comparison."""

    rule_id: str
    title: str
    path: Path
    scope: int
    tocsin: set[int]
    sqlite: set[int]
    causes: Counter[str] = field(default_factory=Counter)

    @property
    def only_tocsin(self) -> set[int]:
        """Events tocsin matched and SQLite did not."""
        return self.tocsin - self.sqlite

    @property
    def only_sqlite(self) -> set[int]:
        """Events SQLite matched and tocsin did not."""
        return self.sqlite - self.tocsin


@dataclass(slots=True)
class Comparison:
    """Everything the report needs."""

    events: list[Mapping[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    file_count: int = 0
    loaded: int = 0
    tocsin_failed: int = 0
    unconvertible: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    runtime_errors: dict[str, str] = field(default_factory=dict)
    outcomes: list[RuleOutcome] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    clashes: int = 0
    added_columns: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def explain_difference(
    compiled: Any,
    converted: Converted,
    event: Mapping[str, Any],
    position: int,
    tocsin_matched: bool,
    table: EventTable,
    options: Mapping[str, Any],
) -> tuple[str, str]:
    """(cause, detail) of one event on which the two sides disagree for one rule."""
    from tocsin.detect.evaluate import build

    verdicts = judge_leaves(converted.rule, event, position, table, options)
    disagree = [v for v in verdicts if v.sql_truth != v.tocsin_value]
    if disagree:
        causes = sorted({cause_of(v, event, table) for v in disagree})
        parts = []
        for v in disagree[:3]:
            name = getattr(v.leaf, "field", None) or FULLTEXT
            seen = event.get(name)
            parts.append(
                f"leaf `{v.sql[:200]}` (tocsin: {v.tocsin_text[:160]}): tocsin "
                f"{v.tocsin_value}, SQLite {v.sql_value!r}; value of {name} = {_short(seen)}"
            )
        return " + ".join(causes), "; ".join(parts)
    predicate = build(compiled.detection.condition)(event)
    if predicate != tocsin_matched:
        return (
            "tocsin plan differs from its own predicate",
            f"Engine.match says {tocsin_matched}, the rule's predicate says {predicate}",
        )
    return "condition logic (every leaf agrees)", "leaf verdicts: " + ", ".join(
        f"{v.tocsin_text[:60]}={v.tocsin_value}/{v.sql_value!r}" for v in verdicts[:8]
    )


def compare(
    rules: Sequence[Path],
    events_path: Path,
    *,
    nocase: bool = False,
    fulltext: str = "original",
    limit: int | None = None,
) -> Comparison:
    """Read, load, convert, run and compare."""
    from tocsin.detect.engine import Engine
    from tocsin.detect.plan import routing_field
    from tocsin.detect.reader import EventReader

    out = Comparison()
    started = time.perf_counter()
    reader = EventReader()
    for batch in reader.read([events_path]):
        out.events.extend(batch.events)
        out.files.extend([batch.path] * len(batch.events))
    events = out.events
    out.file_count = reader.files_read
    out.seconds["read"] = time.perf_counter() - started

    started = time.perf_counter()
    engine = Engine.load(list(rules))
    out.loaded = len(engine.compiled)
    out.tocsin_failed = len({(i.path, i.rule_id) for i in engine.issues if i.severity == "error"})
    out.seconds["load"] = time.perf_counter() - started

    started = time.perf_counter()
    tocsin_hits: dict[int, set[int]] = defaultdict(set)
    index_of = {id(c.rule): i for i, c in enumerate(engine.compiled)}
    for match in engine.match(events):
        tocsin_hits[index_of[id(match.rule)]].add(match.position)
    out.seconds["tocsin match"] = time.perf_counter() - started

    started = time.perf_counter()
    table = build_table(events, nocase=nocase, fulltext=fulltext)
    out.clashes = table.clashes
    keys: dict[tuple[Any, Any], list[int]] = defaultdict(list)
    for position, event in enumerate(events):
        dataset = event.get("event.dataset")
        routing = routing_field(dataset)
        keys[(dataset, event.get(routing) if routing else None)].append(position)
    out.seconds["table"] = time.perf_counter() - started

    options: dict[str, Any] = {}
    if fulltext != "none":
        options["fulltext_field"] = FULLTEXT if fulltext == "original" else FULLTEXT_VALUES
    scopes: dict[frozenset[tuple[Any, Any]], tuple[str, int]] = {}
    started = time.perf_counter()
    pending: list[tuple[Any, Converted, RuleOutcome]] = []
    for index, compiled in enumerate(engine.compiled[:limit]):
        rule = compiled.rule
        covered = frozenset(
            k
            for k in keys
            if isinstance(k[0], str) and any(r.covers(k[0], k[1]) for r in compiled.routes)
        )
        if covered not in scopes:
            name = f"scope_{len(scopes)}"
            table.db.execute(f"CREATE TEMP TABLE {name} (id INTEGER PRIMARY KEY)")
            ids = sorted(p for k in covered for p in keys[k])
            rows = [(p,) for p in ids]
            table.db.executemany(f"INSERT INTO temp.{name} VALUES (?)", rows)  # noqa: S608
            scopes[covered] = (name, len(ids))
        scope_name, scope_size = scopes[covered]
        converted = convert(rule.path, rule.id, options)
        if converted.error is not None:
            out.unconvertible[reason_of(converted.error)].append(
                f"{rule.id} ({rule.path.name}): {converted.error[:200]}"
            )
            continue
        found: set[int] = set()
        try:
            for query in converted.queries:
                found.update(row[0] for row in run_sql(table, scoped_query(query, scope_name)))
        except Exception as exc:  # a query SQLite refuses is a finding, not a stop
            out.runtime_errors[rule.id] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        mine = tocsin_hits.get(index, set())
        outcome = RuleOutcome(rule.id, rule.title, rule.path, scope_size, mine, found)
        out.outcomes.append(outcome)
        if mine != found:
            pending.append((compiled, converted, outcome))
    out.seconds["sqlite"] = time.perf_counter() - started

    started = time.perf_counter()
    for compiled, converted, outcome in pending:
        for position in sorted(outcome.tocsin ^ outcome.sqlite):
            matched = position in outcome.tocsin
            cause, detail = explain_difference(
                compiled, converted, events[position], position, matched, table, options
            )
            outcome.causes[cause] += 1
            out.differences.append(Difference(outcome.rule_id, position, matched, cause, detail))
    out.added_columns = len(table.added)
    out.seconds["classify"] = time.perf_counter() - started
    return out


# ----------------------------------------------------------------------------- probes


@dataclass(frozen=True, slots=True)
class Probe:
    """One hand-made rule and event on a point where the two engines may part."""

    name: str
    detection: dict[str, Any]
    condition: str
    fields: dict[str, Any]
    expected: bool | None
    """What the Sigma specification says the rule does on the event; None: it is silent."""
    spec: str


SPEC_REFERENCES = {
    "case": "rules spec, General: values are case-insensitive strings",
    "wild": "rules spec, String Wildcard and Escape Character: only * and ? are wildcards",
    "escape": "rules spec, Escape Character",
    "num": "rules spec, Maps (a value is a string or integer) and General (values are strings)",
    "nulls": "rules spec, Special Field Values",
    "exists": "modifiers, exists: presence only, 'be it empty or null'",
    "cmp": "modifiers, Numeric Modifiers: numeric values only",
    "neq": "modifiers, neq: 'the field is different' (silent on an absent field)",
    "re": "modifiers, Regular Expression (PCRE, case-sensitive, flags i m s)",
    "cidr": "modifiers, cidr (IPv4 and IPv6)",
    "windash": "modifiers, windash",
    "fieldref": "modifiers, fieldref; cased (the default is case-insensitive)",
    "cased": "modifiers, cased",
    "enc": "modifiers, Encoding",
    "time": "modifiers, Time Modifiers",
    "maps": "rules spec, Maps",
    "list": "silent on list-valued fields (SigmaHQ's Data convention: any element)",
    "names": "silent on the case of field names",
    "kw": "rules spec, Keywords search: 'searching for keywords across an entire event'",
}
"""Short names of the passages of /tmp/sigspec/specification/*.md each probe rests on."""

# One probe a line: name, selections, condition, event fields (EventData of a Sysmon 1),
# what the specification expects (true, false, null when silent), and the passage.
PROBES_YAML = r"""
- [eq-case, {sel: {OriginalFileName: cmd.exe}}, sel, {OriginalFileName: Cmd.Exe}, true, case]
- [contains-case, {sel: {CommandLine|contains: WhoAmI}}, sel, {CommandLine: cmd /c WHOAMI}, true, case]
- [underscore, {sel: {CommandLine|contains: a_b}}, sel, {CommandLine: xaXby}, false, wild]
- [percent, {sel: {CommandLine|contains: 100%}}, sel, {CommandLine: '1000'}, false, wild]
- [escaped-star, {sel: {CommandLine|contains: 'a\*b'}}, sel, {CommandLine: 'xa*by'}, true, escape]
- [escaped-star-no, {sel: {CommandLine|contains: 'a\*b'}}, sel, {CommandLine: xaZZby}, false, escape]
- [question, {sel: {Image: 'C:\a?c.exe'}}, sel, {Image: 'C:\abc.exe'}, true, wild]
- [double-backslash, {sel: {Image|endswith: '\\cmd.exe'}}, sel, {Image: 'C:\W\cmd.exe'}, true, escape]
- [backslash-star, {sel: {Image: 'C:\dir\\*'}}, sel, {Image: 'C:\dir\x.exe'}, true, escape]
- [star-newline, {sel: {CommandLine: 'first*second'}}, sel, {CommandLine: "first\nsecond"}, true, wild]
- [quote, {sel: {CommandLine|contains: "it's"}}, sel, {CommandLine: "echo it's"}, true, case]
- [bracket, {sel: {CommandLine|contains: '[x]'}}, sel, {CommandLine: 'a[x]b'}, true, case]
- [non-ascii-contains, {sel: {Description|contains: überwachung}}, sel, {Description: ÜBERWACHUNG an}, true, case]
- [non-ascii-eq, {sel: {Description: Ärger}}, sel, {Description: ärger}, true, case]
- [not-absent, {sel: {Image|endswith: '\x.exe'}, filter: {CommandLine|contains: safe}}, sel and not filter, {Image: 'C:\x.exe'}, true, nulls]
- [null-absent, {sel: {CommandLine: null}}, sel, {Image: 'C:\x.exe'}, true, nulls]
- [empty-absent, {sel: {CommandLine: ''}}, sel, {Image: 'C:\x.exe'}, false, nulls]
- [empty-empty, {sel: {CommandLine: ''}}, sel, {CommandLine: ''}, true, nulls]
- [exists-null, {sel: {Empty|exists: true}}, sel, {Empty: null}, true, exists]
- [exists-false, {sel: {Missing|exists: false}}, sel, {Image: x}, true, exists]
- [number-text, {sel: {LogonType: 3}}, sel, {LogonType: '3'}, true, num]
- [text-number, {sel: {ProcessId: '1234'}}, sel, {ProcessId: 1234}, true, num]
- [contains-number, {sel: {ProcessId|contains: '23'}}, sel, {ProcessId: 1234}, true, num]
- [float-int, {sel: {Count: 3}}, sel, {Count: 3.0}, true, num]
- [gt-int, {sel: {Count|gt: 5}}, sel, {Count: 10}, true, cmp]
- [gt-text-number, {sel: {Count|gt: 5}}, sel, {Count: '3'}, false, cmp]
- [lt-text-number, {sel: {Count|lt: 5}}, sel, {Count: '3'}, true, cmp]
- [gt-text, {sel: {Count|gt: 5}}, sel, {Count: abc}, false, cmp]
- [neq-absent, {sel: {LogonType|neq: 3}}, sel, {Image: x}, null, neq]
- [neq-text, {sel: {LogonType|neq: 3}}, sel, {LogonType: '3'}, false, num]
- [re-case, {sel: {CommandLine|re: WHOAMI}}, sel, {CommandLine: whoami}, false, re]
- [re-i, {sel: {CommandLine|re|i: WHOAMI}}, sel, {CommandLine: whoami}, true, re]
- [re-unanchored, {sel: {CommandLine|re: who}}, sel, {CommandLine: xwhoamix}, true, re]
- [re-m, {sel: {CommandLine|re|m: '^second$'}}, sel, {CommandLine: "first\nsecond"}, true, re]
- [re-s, {sel: {CommandLine|re|s: 'first.second'}}, sel, {CommandLine: "first\nsecond"}, true, re]
- [cidr-v4, {sel: {DestinationIp|cidr: 10.0.0.0/8}}, sel, {DestinationIp: 10.1.2.3}, true, cidr]
- [cidr-v4-trap, {sel: {DestinationIp|cidr: 10.0.0.0/8}}, sel, {DestinationIp: 100.1.2.3}, false, cidr]
- [cidr-v4-23, {sel: {DestinationIp|cidr: 192.168.0.0/23}}, sel, {DestinationIp: 192.168.1.7}, true, cidr]
- [cidr-v6-zeros, {sel: {DestinationIp|cidr: '2001:db8::/32'}}, sel, {DestinationIp: '2001:0db8::1'}, true, cidr]
- [cidr-v6-upper, {sel: {DestinationIp|cidr: '2001:db8::/32'}}, sel, {DestinationIp: '2001:DB8::1'}, true, cidr]
- [windash-slash, {sel: {CommandLine|windash|contains: ' -enc '}}, sel, {CommandLine: ps /enc A}, true, windash]
- [windash-endash, {sel: {CommandLine|windash|contains: ' -enc '}}, sel, {CommandLine: ps –enc A}, true, windash]
- [fieldref-case, {sel: {ParentImage|fieldref: Image}}, sel, {ParentImage: 'C:\A.exe', Image: 'c:\a.exe'}, true, fieldref]
- [cased, {sel: {CommandLine|cased|contains: Foo}}, sel, {CommandLine: xfoo}, false, cased]
- [cased-bracket, {sel: {CommandLine|cased: 'a[1]*'}}, sel, {CommandLine: 'a[1]b'}, true, cased]
- [bool, {sel: {Flag: true}}, sel, {Flag: true}, true, maps]
- [base64offset, {sel: {CommandLine|base64offset|contains: 'http://'}}, sel, {CommandLine: -e eGh0dHA6Ly9ldmls}, true, enc]
- [wide-base64offset, {sel: {CommandLine|wide|base64offset|contains: ping}}, sel, {CommandLine: -e IAAgAHAAaQBuAGcAIAB4AA==}, true, enc]
- [hour, {sel: {UtcTime|hour: 10}}, sel, {UtcTime: '2024-01-01 10:05:00.123'}, true, time]
- [list-any, {sel: {Data|endswith: evil.exe}}, sel, {Data: [a, 'C:\evil.exe']}, true, list]
- [list-backslash, {sel: {Data|contains: '\\\\'}}, sel, {Data: ['C:\t\x.msi', '1']}, false, escape]
- [field-name-case, {sel: {commandline|contains: whoami}}, sel, {CommandLine: whoami}, null, names]
- [keyword, {keywords: [mimikatz]}, keywords, {CommandLine: MIMIKATZ.exe}, true, kw]
- [keyword-underscore, {keywords: [a_b]}, keywords, {CommandLine: aXb}, false, kw]
- [keyword-backslash, {keywords: ['\Temp\x.exe']}, keywords, {CommandLine: 'C:\Temp\x.exe'}, true, kw]
- [keyword-quote, {keywords: [' -role "mailbox import export"']}, keywords, {CommandLine: 'x -Role "Mailbox Import Export"'}, true, kw]
"""  # noqa: E501 - one probe a line reads best as a table


def load_probes() -> list[Probe]:
    """The probes of PROBES_YAML."""
    import yaml

    rows = yaml.safe_load(PROBES_YAML)
    return [
        Probe(name, detection, condition, fields, expected, SPEC_REFERENCES[ref])
        for name, detection, condition, fields, expected, ref in rows
    ]


def write_probes(folder: Path) -> tuple[Path, Path, dict[str, Probe]]:
    """Write the probe rules (one file each) and events (NDJSON, evtx_dump form)."""
    import uuid

    import yaml

    rules = folder / "rules"
    rules.mkdir(parents=True)
    lines = []
    by_id: dict[str, Probe] = {}
    for number, probe in enumerate(load_probes(), 1):
        rule_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tocsin-probe:{probe.name}"))
        by_id[rule_id] = probe
        detection = {"probe": {"ProbeId": probe.name}, **probe.detection}
        detection["condition"] = f"probe and ({probe.condition})"
        rule = {
            "title": f"probe {probe.name}",
            "id": rule_id,
            "status": "test",
            "logsource": {"product": "windows", "category": "process_creation"},
            "detection": detection,
            "level": "low",
        }
        (rules / f"probe_{number:02d}.yml").write_text(
            yaml.safe_dump(rule, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        record = {
            "Event": {
                "System": {
                    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                    "EventID": 1,
                    "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "Computer": "probe",
                    "TimeCreated": {"#attributes": {"SystemTime": "2024-01-01T00:00:00Z"}},
                    "EventRecordID": number,
                },
                "EventData": {"ProbeId": probe.name, **probe.fields},
            }
        }
        lines.append(orjson.dumps(record))
    events = folder / "events" / "probes.ndjson"
    events.parent.mkdir()
    events.write_bytes(b"\n".join(lines) + b"\n")
    return rules, events, by_id


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("match" if value else "no")


def probe_report(result: Comparison, by_id: Mapping[str, Probe]) -> Iterator[str]:
    """One row per probe: what the specification, tocsin and SQLite say, and the cause."""
    outcomes = {o.rule_id: o for o in result.outcomes}
    yield "## Probes"
    yield ""
    yield (
        "Spec references: rules spec = sigma-rules-specification.md, modifiers = "
        "sigma-appendix-modifiers.md (Sigma specification)."
    )
    yield ""
    yield "| probe | rule | event | spec | tocsin | SQLite | verdict | cause | spec reference |"
    yield "|---|---|---|---|---|---|---|---|---|"
    for rule_id, probe in by_id.items():
        outcome = outcomes.get(rule_id)
        if outcome is None:
            reasons = [
                r
                for r, items in result.unconvertible.items()
                if any(i.startswith(rule_id) for i in items)
            ]
            yield (
                f"| {probe.name} | | | {_yes(probe.expected)} | | not converted | | "
                f"{_cell(', '.join(reasons))} | {_cell(probe.spec)} |"
            )
            continue
        mine, theirs = bool(outcome.tocsin), bool(outcome.sqlite)
        if probe.expected is None:
            verdict = "spec silent"
        else:
            wrong = [n for n, v in (("tocsin", mine), ("SQLite", theirs)) if v != probe.expected]
            verdict = "both right" if not wrong else " and ".join(wrong) + " wrong"
        yield (
            f"| {probe.name} | `{_cell(orjson.dumps(probe.detection).decode())}` | "
            f"`{_cell(orjson.dumps(probe.fields).decode()[:90])}` | {_yes(probe.expected)} | "
            f"{_yes(mine)} | {_yes(theirs)} | {verdict} | "
            f"{_cell(', '.join(outcome.causes))} | {_cell(probe.spec)} |"
        )
    yield ""


# ----------------------------------------------------------------------------- report


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report(
    result: Comparison, *, rules: str, events_path: Path, nocase: bool, fulltext: str
) -> Iterator[str]:
    """The markdown report, line by line."""
    from importlib.metadata import version

    outcomes = result.outcomes
    differing = [o for o in outcomes if o.tocsin != o.sqlite]
    in_scope = [o for o in outcomes if o.scope]
    firing = [o for o in outcomes if o.tocsin or o.sqlite]
    unconvertible = sum(len(v) for v in result.unconvertible.values())
    keyword_text = {
        "original": "search the `event.original` column (the text tocsin searches)",
        "values": "search a column of the record's values, unescaped, one per line",
        "none": "are not converted (no fulltext_field)",
    }[fulltext]
    yield "# tocsin vs pySigma's SQLite backend"
    yield ""
    yield (
        f"Rules `{rules}`, events `{events_path}` ({len(result.events)} events from "
        f"{result.file_count} files); pySigma {version('pysigma')}, pysigma-backend-sqlite "
        f"{version('pysigma-backend-sqlite')}, SQLite {sqlite3.sqlite_version}; columns "
        f"{'COLLATE NOCASE' if nocase else 'without collation (the backend default)'}; keyword "
        f"rules {keyword_text}."
    )
    yield ""
    yield "| figure | rules |"
    yield "|---|---:|"
    yield f"| detection rules compiled by tocsin | {result.loaded} |"
    yield f"| rules tocsin could not load (not compared) | {result.tocsin_failed} |"
    yield f"| rules the backend cannot convert | {unconvertible} |"
    yield f"| rules whose SQL fails in SQLite | {len(result.runtime_errors)} |"
    yield f"| rules compared | {len(outcomes)} |"
    yield f"| ... with events in their logsource | {len(in_scope)} |"
    yield f"| ... matched by either side | {len(firing)} |"
    yield f"| rules that agree | {len(outcomes) - len(differing)} |"
    yield f"| ... and match at least one event | {len(firing) - len(differing)} |"
    yield f"| rules that differ | {len(differing)} |"
    only_t = sum(len(o.only_tocsin) for o in outcomes)
    only_s = sum(len(o.only_sqlite) for o in outcomes)
    both = sum(len(o.tocsin & o.sqlite) for o in outcomes)
    yield ""
    yield f"Rule x event matches: both {both}, only tocsin {only_t}, only SQLite {only_s}."
    yield (
        f"Values sharing a column with another spelling of their field name: {result.clashes}; "
        f"columns rules named that no event has (added as NULL): {result.added_columns}."
    )
    yield "Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()) + "."
    yield ""
    if result.unconvertible:
        yield "## Rules the backend cannot convert"
        yield ""
        yield "| reason | rules | example |"
        yield "|---|---:|---|"
        for reason, items in sorted(result.unconvertible.items(), key=lambda kv: -len(kv[1])):
            yield f"| {_cell(reason)} | {len(items)} | {_cell(items[0])} |"
        yield ""
    if result.runtime_errors:
        yield "## Rules whose SQL fails"
        yield ""
        for rule_id, error in sorted(result.runtime_errors.items()):
            yield f"- `{rule_id}`: {_cell(error)}"
        yield ""
    yield from _causes(result)
    yield "## Differing rules"
    yield ""
    yield "| rule | title | both | only tocsin | only SQLite | causes |"
    yield "|---|---|---:|---:|---:|---|"
    for o in sorted(differing, key=lambda o: -(len(o.only_tocsin) + len(o.only_sqlite))):
        causes = ", ".join(f"{c} ({n})" for c, n in o.causes.most_common())
        yield (
            f"| `{o.rule_id}` | {_cell(o.title)} | {len(o.tocsin & o.sqlite)} | "
            f"{len(o.only_tocsin)} | {len(o.only_sqlite)} | {_cell(causes)} |"
        )
    yield ""


def _causes(result: Comparison) -> Iterator[str]:
    yield "## Differences by cause"
    yield ""
    per_cause: dict[tuple[str, str], list[Difference]] = defaultdict(list)
    for diff in result.differences:
        per_cause[(diff.cause, "tocsin" if diff.tocsin else "SQLite")].append(diff)
    if not per_cause:
        yield "No differences."
        yield ""
        return
    ordered = sorted(per_cause.items(), key=lambda kv: -len(kv[1]))
    yield "| cause | matched only by | rules | rule x event |"
    yield "|---|---|---:|---:|"
    for (cause, side), diffs in ordered:
        rule_count = len({d.rule_id for d in diffs})
        yield f"| {_cell(cause)} | {side} | {rule_count} | {len(diffs)} |"
    yield ""
    titles = {o.rule_id: o.title for o in result.outcomes}
    yield "## Examples"
    for (cause, side), diffs in ordered:
        yield ""
        yield f"### {cause} (only {side})"
        yield ""
        shown: set[str] = set()
        for diff in diffs:
            if diff.rule_id in shown:
                continue
            shown.add(diff.rule_id)
            event = result.events[diff.position]
            yield (
                f"- `{diff.rule_id}` {titles.get(diff.rule_id, '')}: event {diff.position} "
                f"({result.files[diff.position].name}, {event.get('event.dataset')} "
                f"EventID {event.get('EventID')})"
            )
            yield f"  - {_cell(diff.detail)}"
            if len(shown) >= EXAMPLES_PER_CAUSE:
                break
    yield ""


def main() -> None:
    """Parse arguments, compare, print or write the report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--rules",
        type=Path,
        action="append",
        default=None,
        help=f"rule folder or file, repeatable (default {DEFAULT_RULES})",
    )
    parser.add_argument("--events", type=Path, default=DEFAULT_EVENTS)
    parser.add_argument("--out", type=Path, default=None, help="write the report here")
    parser.add_argument(
        "--collate-nocase",
        action="store_true",
        help="declare every column COLLATE NOCASE (Zircolite's table layout)",
    )
    parser.add_argument(
        "--fulltext",
        choices=FULLTEXT_MODES,
        default="original",
        help="what keyword rules search in SQLite (default: event.original)",
    )
    parser.add_argument("--limit", type=int, default=None, help="compare the first N rules")
    parser.add_argument(
        "--probes",
        action="store_true",
        help="run the built-in probe rules and events instead of --rules/--events",
    )
    args = parser.parse_args()
    try:
        import sigma.backends.sqlite  # noqa: F401
    except ImportError:
        print("skipped: pysigma-backend-sqlite is not installed (pip install tocsin[compare])")
        raise SystemExit(0) from None
    lines: list[str] = []
    if args.probes:
        with tempfile.TemporaryDirectory(prefix="tocsin-probes-") as work:
            rule_dir, events_path, by_id = write_probes(Path(work))
            result = compare(
                [rule_dir], events_path, nocase=args.collate_nocase, fulltext=args.fulltext
            )
            lines.extend(probe_report(result, by_id))
            lines.extend(_causes(result))
    else:
        rules = args.rules or [DEFAULT_RULES]
        missing = [p for p in (*rules, args.events) if not p.exists()]
        if missing:
            names = ", ".join(str(p) for p in missing)
            print(f"skipped: {names} not found (the shared data folder ../shared/data is absent)")
            raise SystemExit(0)
        result = compare(
            rules, args.events, nocase=args.collate_nocase, fulltext=args.fulltext, limit=args.limit
        )
        lines.extend(
            report(
                result,
                rules=", ".join(map(str, rules)),
                events_path=args.events,
                nocase=args.collate_nocase,
                fulltext=args.fulltext,
            )
        )
    text = "\n".join(lines) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"report written to {args.out}")


if __name__ == "__main__":
    main()
