"""Sigma correlation rules (specification v2) over the stream of matches, in event time.

The matcher hands :meth:`CorrelationEngine.feed` the ``(base rule, event)`` pairs it found, in the
order it saw them (all hits of one event in the same call); the engine returns the
:class:`CorrelationFiring` objects that became due. The exact rules it follows:

Types. ``event_count`` counts events (an event matched by two referenced rules counts once);
``value_count`` counts distinct values of ``condition.field`` (several fields: distinct tuples; an
event without the field is not counted, as ``COUNT(DISTINCT field)`` skips nulls);
``temporal`` counts the distinct referenced rules seen (one event may satisfy several);
``temporal_ordered`` counts the longest chain of referenced rules seen in their listed order, each
by a different, strictly later event (event time, then arrival order). Without a condition the
temporal types need every referenced rule (pySigma's default). The metric types (``value_sum``,
``value_avg``, ``value_percentile``) and pySigma's extended (boolean) conditions are not supported:
such a rule is listed in :attr:`CorrelationEngine.issues` and ignored.

Windows (event time, ``@timestamp``). A window is ``[start, start + timespan]``, both ends
inclusive.

* Conditions with lower bounds only (``gt``, ``gte``: the measure can only grow as events arrive)
  are checked as each event arrives, over the sliding window that ends at it (for an event that
  arrived out of order: every window that contains it, earliest end first). The first window that
  meets the condition fires at once; ``window_start`` is its first counted event (for
  ``temporal_ordered`` the first of the chain) and ``window_end`` the event that completed it.
* Conditions with an upper bound (``lt``, ``lte``, ``eq``, ``neq``, ranges) can only be decided once
  no more events can enter the window: a window opens at a group's first event, closes when the
  watermark minus the lateness has passed ``start + timespan`` (or at :meth:`flush`), and fires
  then if its count meets the condition (``window_end`` is ``start + timespan``). The next window
  opens at the group's first later event. A group never seen never fires, so a count of 0 never
  fires.

One firing per group per window. When a group fires for the window starting at ``S``, it is muted
until ``S + timespan``: events of that group up to then neither fire again nor count later (a
burst of 500 failed logons in one window gives one firing, not 490). The next firing counts only
events after ``S + timespan``. So one group's firings never share an event and their windows never
overlap.

Grouping. ``group-by`` names fields of the event; an ``aliases`` entry maps a group-by name (or the
``value_count`` field) to another field for the rule it names (by name or id); other rules read the
name itself. An event without a group-by field (absent, null, empty string or empty list) is not
counted for that correlation: grouping by ``User`` means "the same user", which such an event does
not name (as ``stats ... by`` in Splunk and terms aggregations in Elasticsearch). Group values are
kept as strings (numbers and booleans as JSON, lists as compact JSON).

Lateness. The watermark is the latest event time seen. An event older than ``watermark -
lateness`` is dropped and counted in :attr:`~CorrelationEngine.late_dropped`; events within the
lateness are placed in event-time order, so they give the firings of in-order arrival, with one
exception: a late event inside a window that already fired joins the muted window. An event
whose ``@timestamp`` is missing or unreadable (an aware datetime or an ISO-8601 string; naive
times are taken as UTC) is skipped and counted in :attr:`~CorrelationEngine.untimed_dropped`;
one bad event never raises.

Chains. A firing of a correlation that another correlation references is fed back in as a hit:
an event with the group-by values as fields, ``@timestamp`` = ``window_end`` and the events it
counted. It does not move the watermark. Reference cycles are reported and dropped.

``generate``. A rule (base rule or correlation) referenced only by correlations without
``generate: true`` does not alert on its own (:meth:`~CorrelationEngine.silent_rule_ids`); the
firings of such an inner correlation still feed the outer one but are not returned.

Memory. State older than ``watermark - lateness - timespan`` is expired and empty groups are
removed. Bounds: ``MAX_GROUP_ENTRIES`` events per group (a larger window counts at most that many),
``MAX_PER_KEY`` latest events per distinct value (``value_count``) or rule (temporal types) for
conditions checked on arrival (exact for in-order events; the listed event ids are then a sample),
``MAX_GROUPS`` groups per correlation (least recently used first out), ``MAX_EVENT_IDS`` ids per
firing.

State. :meth:`~CorrelationEngine.save` writes the windows (event ids, times, values as strings,
mutes, watermark) to ``state_path`` as JSON, atomically; a new engine with the same path continues
where the last one stopped. A correlation whose definition changed starts afresh.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import logging
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, cast

import orjson
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule

from tocsin.core.event import ID, TIMESTAMP, Reason
from tocsin.detect.loader import LoadedRule, RuleIssue

logger = logging.getLogger(__name__)

CorrelationType = Literal["event_count", "value_count", "temporal", "temporal_ordered"]
Operator = Literal["gt", "gte", "lt", "lte", "eq", "neq"]

SUPPORTED_TYPES: tuple[CorrelationType, ...] = (
    "event_count",
    "value_count",
    "temporal",
    "temporal_ordered",
)
OPERATORS: tuple[Operator, ...] = ("gt", "gte", "lt", "lte", "eq", "neq")
RANGE_ATTRIBUTE = "tocsin_condition"
"""Custom attribute of a pySigma correlation rule holding a full condition mapping (a range such as
``{gt: 100, lte: 200}``), which pySigma 2.0.1 itself rejects; it overrides ``condition``."""

MAX_EVENT_IDS = 1_000
MAX_GROUP_ENTRIES = 10_000
MAX_PER_KEY = 16
MAX_GROUPS = 100_000
STATE_VERSION = 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_LAST_SEQ = sys.maxsize


def to_micros(value: object) -> int | None:
    """An event time as microseconds since the epoch, or None when it is not a usable time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return (moment - _EPOCH) // _MICRO
    except (OverflowError, ValueError):
        return None


def from_micros(micros: int) -> datetime:
    """The UTC datetime of microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def as_text(value: object) -> str | None:
    """A field value as the string correlation state keeps; None when the field is empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset) and not value:
        return None
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return str(value)


@dataclass(frozen=True, slots=True)
class CorrelationCondition:
    """The bounds a correlation's measure must meet, all of them (``gt: 100, lte: 200``)."""

    bounds: tuple[tuple[Operator, float], ...]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> CorrelationCondition:
        """Parse a condition mapping; ``field`` and ``percentile`` are ignored here."""
        bounds: list[tuple[Operator, float]] = []
        for key, value in mapping.items():
            if key in ("field", "percentile"):
                continue
            if key not in OPERATORS:
                raise ValueError(f"unknown correlation condition operator {key!r}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"correlation condition {key!r} needs a number, not {value!r}")
            bounds.append((key, value))
        if not bounds:
            raise ValueError("a correlation condition needs one of " + ", ".join(OPERATORS))
        return cls(tuple(bounds))

    def is_met(self, measure: int) -> bool:
        """True when the measure meets every bound."""
        return all(_compare(op, measure, limit) for op, limit in self.bounds)

    @property
    def is_monotone(self) -> bool:
        """True when only lower bounds are set, so a met condition stays met as events arrive."""
        return all(op in ("gt", "gte") for op, _ in self.bounds)

    def describe(self) -> str:
        """The condition as text: ``gt 100 and lte 200``."""
        return " and ".join(f"{op} {limit:g}" for op, limit in self.bounds)


def _compare(op: Operator, measure: int, limit: float) -> bool:
    if op == "gt":
        return measure > limit
    if op == "gte":
        return measure >= limit
    if op == "lt":
        return measure < limit
    if op == "lte":
        return measure <= limit
    if op == "eq":
        return measure == limit
    return measure != limit


@dataclass(frozen=True, slots=True)
class CorrelationFiring:
    """One correlation rule met for one group in one window."""

    rule: LoadedRule
    group: dict[str, object]
    window_start: datetime
    window_end: datetime
    event_ids: list[str]
    value: int
    reasons: list[Reason]

    def dedup_key(self) -> str:
        """Rule id and group (sorted), so repeated firings of a group fold into one alert."""
        parts = ",".join(f"{name}={value}" for name, value in sorted(self.group.items()))
        return f"{self.rule.id}|{parts}"


@dataclass(frozen=True, slots=True)
class _Spec:
    """A correlation rule's definition, parsed once."""

    rule: LoadedRule
    type: CorrelationType
    refs: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: int  # microseconds
    timespan_text: str
    condition: CorrelationCondition
    fields: tuple[str, ...]
    aliases: dict[str, dict[str, str]]
    generate: bool

    def fingerprint(self) -> str:
        """A hash of what the state depends on: a changed rule starts afresh."""
        data = [
            self.type,
            self.refs,
            self.group_by,
            self.timespan,
            self.condition.bounds,
            self.fields,
            self.aliases,
        ]
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _parse_spec(rule: LoadedRule) -> _Spec:
    sigma = rule.sigma
    if not isinstance(sigma, SigmaCorrelationRule):
        raise ValueError("no parsed correlation (the pySigma object is missing)")
    kind = sigma.type.name.lower()
    if kind not in SUPPORTED_TYPES:
        raise ValueError(f"correlation type {kind!r} is not supported")
    fieldref: object = None
    override = sigma.custom_attributes.get(RANGE_ATTRIBUTE)
    if isinstance(override, Mapping):
        condition = CorrelationCondition.from_mapping(override)
        fieldref = override.get("field")
    elif isinstance(sigma.condition, SigmaCorrelationCondition):
        op = cast(Operator, sigma.condition.op.name.lower())
        condition = CorrelationCondition(((op, sigma.condition.count),))
        fieldref = sigma.condition.fieldref
    else:
        raise ValueError("extended (boolean) correlation conditions are not supported")
    fields: tuple[str, ...] = ()
    if kind == "value_count":
        if isinstance(fieldref, str):
            fields = (fieldref,)
        elif isinstance(fieldref, list) and fieldref:
            fields = tuple(str(f) for f in fieldref)
        else:
            raise ValueError("value_count needs condition.field")
    aliases = {
        alias.alias: {ref.reference: name for ref, name in alias.mapping.items()}
        for alias in sigma.aliases
    }
    return _Spec(
        rule=rule,
        type=kind,
        refs=rule.rule_refs,
        group_by=tuple(sigma.group_by or ()),
        timespan=sigma.timespan.seconds * 1_000_000,
        timespan_text=sigma.timespan.spec,
        condition=condition,
        fields=fields,
        aliases=aliases,
        generate=bool(sigma.generate),
    )


@dataclass(slots=True)
class _Entry:
    """One counted event (or inner firing) of a group: only times, ids and strings."""

    time: int
    seq: int
    pos: int  # index of the referenced rule in the correlation's ``rules``
    value: str | None  # the value_count value
    ids: tuple[str, ...]

    def to_json(self) -> list[object]:
        return [self.time, self.seq, self.pos, self.value, list(self.ids)]

    @classmethod
    def from_json(cls, data: list[object]) -> _Entry:
        time, seq, pos, value, ids = data
        return cls(
            int(cast(int, time)),
            int(cast(int, seq)),
            int(cast(int, pos)),
            None if value is None else str(value),
            tuple(str(i) for i in cast(list[object], ids)),
        )


@dataclass(slots=True)
class _Group:
    """The buffered events of one group, sorted by (time, arrival).

    For the types that count distinct things (values, rules) the group also tracks, per mark
    (the value, or the rule's position), how many events it holds and its latest time, kept
    sorted, so that the distinct count of the window ending at the newest event is a bisection.
    """

    values: tuple[str, ...]
    by_value: bool = False  # marks are value_count values (else rule positions)
    tracked: bool = False
    keys: list[tuple[int, int]] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)
    muted_until: int | None = None
    counts: dict[object, int] = field(default_factory=dict)
    latest: dict[object, int] = field(default_factory=dict)
    order: list[tuple[int, object]] = field(default_factory=list)  # (latest time, mark), sorted

    def mark(self, entry: _Entry) -> object:
        return entry.value if self.by_value else entry.pos

    def insert(self, index: int, entry: _Entry) -> None:
        self.keys.insert(index, (entry.time, entry.seq))
        self.entries.insert(index, entry)
        if not self.tracked:
            return
        mark = self.mark(entry)
        self.counts[mark] = self.counts.get(mark, 0) + 1
        before = self.latest.get(mark)
        if before is None or entry.time > before:
            if before is not None:
                del self.order[bisect.bisect_left(self.order, (before, mark))]
            self.latest[mark] = entry.time
            bisect.insort(self.order, (entry.time, mark))

    def drop_before(self, index: int) -> None:
        if self.tracked:
            for entry in self.entries[:index]:
                self._forget(entry)
        del self.keys[:index]
        del self.entries[:index]

    def remove(self, index: int) -> None:
        if self.tracked:
            self._forget(self.entries[index])
        del self.keys[index]
        del self.entries[index]

    def _forget(self, entry: _Entry) -> None:
        # entries leave oldest first per mark, so a mark's latest time only goes with its last
        mark = self.mark(entry)
        left = self.counts[mark] - 1
        if left:
            self.counts[mark] = left
            return
        del self.counts[mark]
        time = self.latest.pop(mark)
        del self.order[bisect.bisect_left(self.order, (time, mark))]

    def distinct_since(self, time: int) -> int:
        """How many marks have an event at or after ``time``."""
        return len(self.order) - bisect.bisect_left(self.order, time, key=_first)

    def oldest_of(self, mark: object) -> int:
        """The index of the oldest event with this mark."""
        return next(i for i, e in enumerate(self.entries) if self.mark(e) == mark)


def _first(pair: tuple[int, object]) -> int:
    return pair[0]


@dataclass(slots=True)
class _Correlation:
    """A correlation at run time: its spec, how hits map onto it, and its groups."""

    spec: _Spec
    pos_rules: list[LoadedRule | None]
    group_fields: list[tuple[str, ...]]  # per position: the event field of each group-by name
    value_fields: list[tuple[str, ...]]  # per position: the event field of each value field
    outer: list[tuple[int, int]] = field(default_factory=list)  # (correlation, position)
    silent: bool = False
    groups: dict[tuple[str, ...], _Group] = field(default_factory=dict)


class CorrelationEngine:
    """Sigma correlation rules over matches, with event-time windows and persistent state.

    Args:
        correlations: the correlation rules (``kind == "correlation"``) to run.
        rules: the base rules they may reference (by id or ``name``).
        lateness: how far behind the latest event time an event may arrive and still count.
        state_path: where :meth:`save` keeps the state; loaded here when it exists.
    """

    def __init__(
        self,
        correlations: Sequence[LoadedRule],
        rules: Sequence[LoadedRule],
        *,
        lateness: timedelta = timedelta(0),
        state_path: Path | None = None,
    ) -> None:
        self.lateness = max(0, lateness // _MICRO)
        self.state_path = state_path
        self.issues: list[RuleIssue] = []
        self._watermark: int | None = None
        self._late_dropped = 0
        self._untimed_dropped = 0
        self._overflow = 0
        self._seq = 0
        self._heap: list[tuple[int, int, tuple[str, ...]]] = []
        self._correlations: list[_Correlation] = []
        self._by_rule: dict[str, list[tuple[int, int]]] = {}
        self._silent: set[str] = set()
        self._build(correlations, rules)
        if state_path is not None:
            self._load(state_path)

    # -- setup ------------------------------------------------------------------------------

    def _issue(self, rule: LoadedRule, severity: Literal["error", "warning"], msg: str) -> None:
        self.issues.append(RuleIssue(rule.path, rule.id, severity, msg))
        logger.warning("correlation rule issue", extra={"rule": rule.id, "issue": msg})

    def _build(self, correlations: Sequence[LoadedRule], rules: Sequence[LoadedRule]) -> None:
        specs: list[_Spec] = []
        for rule in correlations:
            try:
                specs.append(_parse_spec(rule))
            except ValueError as exc:
                self._issue(rule, "error", f"correlation ignored: {exc}")
        by_id: dict[str, LoadedRule] = {}
        by_name: dict[str, LoadedRule] = {}
        for known in [*rules, *(s.rule for s in specs)]:
            by_id.setdefault(known.id, known)
            if known.name:
                by_name.setdefault(known.name, known)
        spec_ids = {s.rule.id for s in specs}

        def resolve(ref: str) -> LoadedRule | None:
            return by_id.get(ref) or by_name.get(ref)

        # inner correlations first; a correlation in a reference cycle is dropped
        graph = {
            s.rule.id: [r.id for ref in s.refs if (r := resolve(ref)) and r.id in spec_ids]
            for s in specs
        }
        order, cyclic = _topological(graph)
        spec_of = {s.rule.id: s for s in specs}
        for rule_id in sorted(cyclic):
            self._issue(spec_of[rule_id].rule, "error", "correlation ignored: reference cycle")
        index_of: dict[str, int] = {}
        for rule_id in order:
            spec = spec_of[rule_id]
            pos_rules = [resolve(ref) for ref in spec.refs]
            missing = [ref for ref, r in zip(spec.refs, pos_rules, strict=True) if r is None]
            if missing:
                listed = ", ".join(repr(m) for m in missing)
                self._issue(spec.rule, "warning", f"referenced rules not loaded: {listed}")
            correlation = _Correlation(
                spec,
                pos_rules,
                [
                    _fields(spec, spec.group_by, ref, r)
                    for ref, r in zip(spec.refs, pos_rules, strict=True)
                ],
                [
                    _fields(spec, spec.fields, ref, r)
                    for ref, r in zip(spec.refs, pos_rules, strict=True)
                ],
            )
            index_of[rule_id] = len(self._correlations)
            self._correlations.append(correlation)
        loud: set[str] = set()
        referenced: set[str] = set()
        for c_index, correlation in enumerate(self._correlations):
            seen: set[str] = set()
            for pos, target in enumerate(correlation.pos_rules):
                if target is None or target.id in seen:
                    continue
                seen.add(target.id)
                self._by_rule.setdefault(target.id, []).append((c_index, pos))
                referenced.add(target.id)
                if correlation.spec.generate:
                    loud.add(target.id)
                inner = index_of.get(target.id)
                if inner is not None:
                    self._correlations[inner].outer.append((c_index, pos))
        self._silent = referenced - loud
        for correlation in self._correlations:
            correlation.silent = correlation.spec.rule.id in self._silent
            bound = max(limit for _, limit in correlation.spec.condition.bounds)
            if correlation.spec.type == "event_count" and bound >= MAX_GROUP_ENTRIES:
                self._issue(
                    correlation.spec.rule,
                    "warning",
                    f"condition {correlation.spec.condition.describe()} exceeds the "
                    f"{MAX_GROUP_ENTRIES} events kept per group",
                )

    # -- public API ---------------------------------------------------------------------------

    @property
    def late_dropped(self) -> int:
        """Events older than ``watermark - lateness`` that were not counted."""
        return self._late_dropped

    @property
    def untimed_dropped(self) -> int:
        """Events skipped because their ``@timestamp`` was missing or unreadable (or failed)."""
        return self._untimed_dropped

    @property
    def overflow_dropped(self) -> int:
        """Events and groups dropped by the memory bounds."""
        return self._overflow

    @property
    def watermark(self) -> datetime | None:
        """The latest event time seen."""
        return None if self._watermark is None else from_micros(self._watermark)

    def silent_rule_ids(self) -> set[str]:
        """Rules that must not alert on their own: referenced, and never with ``generate: true``."""
        return set(self._silent)

    def feed(
        self, hits: Sequence[tuple[LoadedRule, Mapping[str, object]]]
    ) -> list[CorrelationFiring]:
        """hits = (base rule that matched, the event) in the order the matcher saw them.

        Returns the firings that became due, inner correlations first; hits of rules no
        correlation references are ignored. Never raises for a bad event (it is counted).
        """
        firings: list[CorrelationFiring] = []
        # the hits of one event share its time and arrival number
        seen: dict[int, tuple[int, int] | None] = {}
        for rule, event in hits:
            targets = self._by_rule.get(rule.id)
            if not targets:
                continue
            try:
                slot = self._admit(event, seen, firings)
                if slot is None:
                    continue
                time, seq = slot
                event_id = event.get(ID)
                ids = (str(event_id),) if event_id is not None else ()
                for c_index, pos in targets:
                    self._add(c_index, pos, time, seq, event, ids, firings)
            except Exception:  # one bad event never stops the stream
                self._untimed_dropped += 1
                logger.warning(
                    "correlation skipped an event",
                    exc_info=True,
                    extra={"rule": rule.id, "event_id": str(event.get(ID))},
                )
        self._expire()
        return firings

    def flush(self) -> list[CorrelationFiring]:
        """End of input (scan/hunt finished): close open windows (matters for ``lt``/``lte``)."""
        firings: list[CorrelationFiring] = []
        for c_index, correlation in enumerate(self._correlations):
            if correlation.spec.condition.is_monotone:
                continue
            for key in list(correlation.groups):
                group = correlation.groups.get(key)
                while group is not None and group.entries:
                    self._close_window(c_index, group, firings)
                correlation.groups.pop(key, None)
        self._heap = []
        return firings

    def save(self) -> None:
        """Persist the state to ``state_path`` (atomic write); a no-op without a path."""
        if self.state_path is None:
            return
        data = {
            "version": STATE_VERSION,
            "watermark": self._watermark,
            "seq": self._seq,
            "late_dropped": self._late_dropped,
            "untimed_dropped": self._untimed_dropped,
            "overflow": self._overflow,
            "correlations": {
                c.spec.rule.id: {
                    "fingerprint": c.spec.fingerprint(),
                    "groups": [
                        {
                            "values": list(g.values),
                            "muted_until": g.muted_until,
                            "entries": [e.to_json() for e in g.entries],
                        }
                        for g in c.groups.values()
                    ],
                }
                for c in self._correlations
            },
        }
        path = self.state_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(orjson.dumps(data))
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)

    # -- stream -------------------------------------------------------------------------------

    def _admit(
        self,
        event: Mapping[str, object],
        seen: dict[int, tuple[int, int] | None],
        firings: list[CorrelationFiring],
    ) -> tuple[int, int] | None:
        """The event's time and arrival number, or None when it is untimed or too late."""
        key = id(event)
        if key in seen:
            return seen[key]
        time = to_micros(event.get(TIMESTAMP))
        slot: tuple[int, int] | None = None
        if time is None:
            self._untimed_dropped += 1
        elif self._watermark is not None and time < self._watermark - self.lateness:
            self._late_dropped += 1
        else:
            if self._watermark is None or time > self._watermark:
                self._watermark = time
                self._close_due(firings)
            slot = (time, self._next_seq())
        seen[key] = slot
        return slot

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _group(self, correlation: _Correlation, values: tuple[str, ...]) -> _Group:
        groups = correlation.groups
        group = groups.pop(values, None)  # re-inserted last: the dict is kept in LRU order
        if group is None:
            if len(groups) >= MAX_GROUPS:
                del groups[next(iter(groups))]
                self._overflow += 1
            group = _new_group(correlation.spec, values)
        groups[values] = group
        return group

    def _add(
        self,
        c_index: int,
        pos: int,
        time: int,
        seq: int,
        event: Mapping[str, object],
        ids: tuple[str, ...],
        firings: list[CorrelationFiring],
    ) -> None:
        correlation = self._correlations[c_index]
        spec = correlation.spec
        values: list[str] = []
        for name in correlation.group_fields[pos]:
            text = as_text(event.get(name))
            if text is None:
                return
            values.append(text)
        value: str | None = None
        if spec.type == "value_count":
            parts = [as_text(event.get(name)) for name in correlation.value_fields[pos]]
            if any(p is None for p in parts):
                return
            value = parts[0] if len(parts) == 1 else orjson.dumps(parts).decode()
        group = self._group(correlation, tuple(values))
        if group.muted_until is not None and time <= group.muted_until:
            return  # inside the window that already fired
        key = (time, seq)
        index = bisect.bisect_right(group.keys, key)
        if spec.type in ("event_count", "value_count") and index and group.keys[index - 1] == key:
            return  # the same event through a second referenced rule counts once
        entry = _Entry(time, seq, pos, value, ids)
        if spec.condition.is_monotone:
            self._prune(group, spec)
            if group.tracked and not self._thin(group, entry):
                return
            if len(group.entries) >= MAX_GROUP_ENTRIES:
                group.drop_before(1)
                self._overflow += 1
            index = bisect.bisect_right(group.keys, key)
            group.insert(index, entry)
            self._check_arrival(c_index, group, index, firings)
            return
        if len(group.entries) >= MAX_GROUP_ENTRIES:
            self._overflow += 1  # keeps the window anchored; its count saturates
            return
        group.insert(index, entry)
        if index == 0:
            heapq.heappush(self._heap, (time + spec.timespan, c_index, group.values))

    def _prune(self, group: _Group, spec: _Spec) -> None:
        """Drop events no future window can reach (older than watermark - lateness - timespan)."""
        if self._watermark is None:
            return
        cutoff = self._watermark - self.lateness - spec.timespan
        if group.keys and group.keys[0][0] < cutoff:
            group.drop_before(bisect.bisect_left(group.keys, (cutoff, -1)))

    def _thin(self, group: _Group, entry: _Entry) -> bool:
        """Keep the latest MAX_PER_KEY events per value or rule; False when ``entry`` is older."""
        mark = group.mark(entry)
        if group.counts.get(mark, 0) < MAX_PER_KEY:
            return True
        oldest = group.oldest_of(mark)
        if group.keys[oldest] > (entry.time, entry.seq):
            return False
        group.remove(oldest)
        return True

    def _check_arrival(
        self, c_index: int, group: _Group, index: int, firings: list[CorrelationFiring]
    ) -> None:
        """Check the windows that contain the new event, earliest end first; fire the first met."""
        spec = self._correlations[c_index].spec
        span = spec.timespan
        entries, keys = group.entries, group.keys
        newest = entries[index].time
        end = index
        low = bisect.bisect_left(keys, (newest - span, -1))
        # the window ending at the newest event: a bisection (the common, in-order case)
        if end == len(entries) - 1 and spec.type != "temporal_ordered":
            if spec.type == "event_count":
                measure = end - low + 1
            else:
                measure = group.distinct_since(newest - span)
            if spec.condition.is_met(measure):
                self._fire_arrival(c_index, group, low, end, measure, firings)
            return
        # an event that arrived out of order: slide over the windows that end after it
        marks: Counter[object] | None = None
        if spec.type in ("value_count", "temporal"):
            marks = Counter(group.mark(e) for e in entries[low : end + 1])
        while True:
            start = low
            if marks is not None:
                measure = len(marks)
            elif spec.type == "event_count":
                measure = end - low + 1
            else:
                measure, start = _longest_chain(len(spec.refs), entries, low, end)
            if spec.condition.is_met(measure):
                self._fire_arrival(c_index, group, start, end, measure, firings)
                return
            end += 1
            if end >= len(entries) or entries[end].time > newest + span:
                return
            moved = bisect.bisect_left(keys, (entries[end].time - span, -1), low)
            if marks is not None:
                marks[group.mark(entries[end])] += 1
                for gone in entries[low:moved]:
                    mark = group.mark(gone)
                    marks[mark] -= 1
                    if not marks[mark]:
                        del marks[mark]
            low = moved

    def _fire_arrival(
        self,
        c_index: int,
        group: _Group,
        start: int,
        end: int,
        measure: int,
        firings: list[CorrelationFiring],
    ) -> None:
        """Fire for ``entries[start:end + 1]`` and mute the group until the window's end."""
        span = self._correlations[c_index].spec.timespan
        entries = group.entries
        window_start = entries[start].time
        counted = entries[start : end + 1]
        firing = self._firing(c_index, group, counted, measure, window_start, entries[end].time)
        muted = window_start + span
        group.muted_until = muted
        group.drop_before(bisect.bisect_right(group.keys, (muted, _LAST_SEQ)))
        self._emit(c_index, firing, firings)

    def _close_due(self, firings: list[CorrelationFiring]) -> None:
        """Close the windows no event can still enter (their end is before watermark - lateness)."""
        if self._watermark is None:
            return
        limit = self._watermark - self.lateness
        heap = self._heap
        while heap and heap[0][0] < limit:
            deadline, c_index, values = heapq.heappop(heap)
            correlation = self._correlations[c_index]
            group = correlation.groups.get(values)
            if group is None or not group.entries:
                continue
            if group.entries[0].time + correlation.spec.timespan != deadline:
                continue  # stale: an earlier event opened the window since
            self._close_window(c_index, group, firings)
            if group.entries:
                first = group.entries[0].time + correlation.spec.timespan
                heapq.heappush(heap, (first, c_index, values))
            else:
                correlation.groups.pop(values, None)

    def _close_window(self, c_index: int, group: _Group, firings: list[CorrelationFiring]) -> None:
        """Evaluate the group's first window as closed, fire if met, and spend its events."""
        spec = self._correlations[c_index].spec
        window_start = group.entries[0].time
        window_end = window_start + spec.timespan
        end = bisect.bisect_right(group.keys, (window_end, _LAST_SEQ))
        measure, start = _measure(spec, group.entries, 0, end - 1)
        firing = None
        if spec.condition.is_met(measure):
            counted = group.entries[start:end]
            firing = self._firing(c_index, group, counted, measure, window_start, window_end)
        group.drop_before(end)
        if firing is not None:
            self._emit(c_index, firing, firings)

    def _emit(
        self, c_index: int, firing: CorrelationFiring, firings: list[CorrelationFiring]
    ) -> None:
        """Return a firing (unless its rule is silent) and feed it to the correlations above."""
        correlation = self._correlations[c_index]
        if not correlation.silent:
            firings.append(firing)
        if not correlation.outer:
            return
        event: dict[str, object] = dict(firing.group)
        event[TIMESTAMP] = firing.window_end
        time = (firing.window_end - _EPOCH) // _MICRO
        seq = self._next_seq()
        ids = tuple(firing.event_ids)
        for outer_index, pos in correlation.outer:
            self._add(outer_index, pos, time, seq, event, ids, firings)

    def _firing(
        self,
        c_index: int,
        group: _Group,
        counted: list[_Entry],
        measure: int,
        window_start: int,
        window_end: int,
    ) -> CorrelationFiring:
        correlation = self._correlations[c_index]
        spec = correlation.spec
        ids: list[str] = []
        seen: set[str] = set()
        for entry in counted:
            if len(ids) >= MAX_EVENT_IDS:
                break
            for event_id in entry.ids:
                if event_id not in seen and len(ids) < MAX_EVENT_IDS:
                    seen.add(event_id)
                    ids.append(event_id)
        group_map: dict[str, object] = dict(zip(spec.group_by, group.values, strict=True))
        start, end = from_micros(window_start), from_micros(window_end)
        return CorrelationFiring(
            rule=spec.rule,
            group=group_map,
            window_start=start,
            window_end=end,
            event_ids=ids,
            value=measure,
            reasons=_reasons(correlation, counted, measure, group_map, start, end),
        )

    # -- memory and state ---------------------------------------------------------------------

    def _expire(self) -> None:
        """Drop expired events and groups with nothing left to remember."""
        if self._watermark is None:
            return
        limit = self._watermark - self.lateness
        for correlation in self._correlations:
            if not correlation.spec.condition.is_monotone:
                continue  # their windows are spent when they close
            spec = correlation.spec
            stale: list[tuple[str, ...]] = []
            for values, group in correlation.groups.items():
                self._prune(group, spec)
                if group.muted_until is not None and group.muted_until < limit:
                    group.muted_until = None
                if not group.entries and group.muted_until is None:
                    stale.append(values)
            for values in stale:
                del correlation.groups[values]

    def _load(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            logger.warning("cannot read correlation state", extra={"error": str(exc)})
            return
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise ValueError(f"unknown state version in {path}")
            self._restore(data)
        except (ValueError, TypeError, KeyError) as exc:
            logger.warning(
                "correlation state unreadable; starting afresh",
                extra={"path": str(path), "error": str(exc)},
            )
            self._reset()

    def _restore(self, data: dict[str, object]) -> None:
        watermark = data.get("watermark")
        self._watermark = None if watermark is None else int(cast(int, watermark))
        self._seq = int(cast(int, data.get("seq", 0)))
        self._late_dropped = int(cast(int, data.get("late_dropped", 0)))
        self._untimed_dropped = int(cast(int, data.get("untimed_dropped", 0)))
        self._overflow = int(cast(int, data.get("overflow", 0)))
        saved = cast(dict[str, dict[str, object]], data.get("correlations", {}))
        for c_index, correlation in enumerate(self._correlations):
            state = saved.get(correlation.spec.rule.id)
            if state is None or state.get("fingerprint") != correlation.spec.fingerprint():
                continue
            for item in cast(list[dict[str, object]], state.get("groups", [])):
                values = tuple(str(v) for v in cast(list[object], item["values"]))
                if len(values) != len(correlation.spec.group_by):
                    continue
                muted = item.get("muted_until")
                group = _new_group(correlation.spec, values)
                group.muted_until = None if muted is None else int(cast(int, muted))
                entries = [
                    _Entry.from_json(raw) for raw in cast(list[list[object]], item["entries"])
                ]
                for entry in sorted(entries, key=lambda e: (e.time, e.seq)):
                    group.insert(len(group.entries), entry)
                correlation.groups[values] = group
                if group.entries and not correlation.spec.condition.is_monotone:
                    deadline = group.entries[0].time + correlation.spec.timespan
                    self._heap.append((deadline, c_index, values))
        heapq.heapify(self._heap)

    def _reset(self) -> None:
        self._watermark = None
        self._seq = self._late_dropped = self._untimed_dropped = self._overflow = 0
        self._heap = []
        for correlation in self._correlations:
            correlation.groups.clear()


def _new_group(spec: _Spec, values: tuple[str, ...]) -> _Group:
    tracked = spec.condition.is_monotone and spec.type != "event_count"
    return _Group(values, by_value=spec.type == "value_count", tracked=tracked)


def _fields(
    spec: _Spec, names: tuple[str, ...], ref: str, rule: LoadedRule | None
) -> tuple[str, ...]:
    """The event field behind each name for the rule at one position, after aliases."""
    out: list[str] = []
    for name in names:
        mapping = spec.aliases.get(name, {})
        keys = [ref, rule.id, rule.name] if rule is not None else [ref]
        out.append(next((mapping[k] for k in keys if k and k in mapping), name))
    return tuple(out)


def _measure(spec: _Spec, entries: list[_Entry], low: int, end: int) -> tuple[int, int]:
    """The correlation's measure over ``entries[low:end + 1]`` and the index of its first event."""
    if end < low:
        return 0, low
    if spec.type == "event_count":
        return end - low + 1, low
    if spec.type == "value_count":
        return len({e.value for e in entries[low : end + 1]}), low
    if spec.type == "temporal":
        return len({e.pos for e in entries[low : end + 1]}), low
    return _longest_chain(len(spec.refs), entries, low, end)


def _longest_chain(size: int, entries: list[_Entry], low: int, end: int) -> tuple[int, int]:
    """Longest run of rules in their listed order by strictly later events, and where it starts.

    Among chains of one length the one starting latest is kept, so it fits windows best.
    """
    length = [0] * size
    start = [0] * size
    index = low
    while index <= end:
        last = index
        while (
            last < end
            and entries[last + 1].time == entries[index].time
            and entries[last + 1].seq == entries[index].seq
        ):
            last += 1
        updates: list[tuple[int, int, int]] = []
        for offset in range(index, last + 1):
            pos = entries[offset].pos
            best, begin = 0, offset
            for before in range(pos):
                if length[before] > best or (length[before] == best > 0 and start[before] > begin):
                    best, begin = length[before], start[before]
            updates.append((pos, best + 1, begin if best else offset))
        for pos, size_, begin in updates:
            if size_ > length[pos] or (size_ == length[pos] and begin > start[pos]):
                length[pos], start[pos] = size_, begin
        index = last + 1
    best, begin = 0, low
    for pos in range(size):
        if length[pos] > best or (length[pos] == best > 0 and start[pos] > begin):
            best, begin = length[pos], start[pos]
    return best, begin


def _reasons(
    correlation: _Correlation,
    counted: list[_Entry],
    measure: int,
    group: Mapping[str, object],
    start: datetime,
    end: datetime,
) -> list[Reason]:
    spec = correlation.spec
    scope = ", ".join(f"{k}={v!r}" for k, v in group.items()) or "all events"
    units = {
        "event_count": "events",
        "value_count": f"distinct values of {', '.join(spec.fields)}",
        "temporal": f"of {len(spec.refs)} rules seen",
        "temporal_ordered": f"of {len(spec.refs)} rules seen in order",
    }
    reasons = [
        Reason(
            f"correlation.{spec.type}",
            f"{measure} {units[spec.type]} within {spec.timespan_text} "
            f"(condition {spec.condition.describe()}) for {scope}",
            1.0,
        )
    ]
    per_rule = Counter(e.pos for e in counted)
    total = sum(per_rule.values()) or 1
    for pos, count in sorted(per_rule.items()):
        target = correlation.pos_rules[pos]
        check = target.id if target is not None else spec.refs[pos]
        title = target.title if target is not None else spec.refs[pos]
        reasons.append(Reason(check, f"{count} matches of {title!r}", round(count / total, 3)))
    if spec.type == "value_count":
        values = sorted({e.value for e in counted if e.value is not None})
        shown = ", ".join(values[:10]) + (
            f" (+{len(values) - 10} more)" if len(values) > 10 else ""
        )
        reasons.append(Reason("correlation.values", f"{', '.join(spec.fields)}: {shown}", 0.0))
    reasons.append(Reason("correlation.window", f"{start.isoformat()} to {end.isoformat()}", 0.0))
    return reasons


def _topological(graph: Mapping[str, list[str]]) -> tuple[list[str], set[str]]:
    """Nodes with what they reference first, and the nodes on or behind a reference cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: visiting, 2: done
    cyclic: set[str] = set()

    def visit(node: str, path: list[str]) -> bool:
        mark = state.get(node)
        if mark == 2:
            return node not in cyclic
        if mark == 1:
            cyclic.update(path[path.index(node) :])
            return False
        state[node] = 1
        ok = True
        for target in graph.get(node, []):
            ok = visit(target, [*path, node]) and ok
        state[node] = 2
        if ok:
            order.append(node)
        else:
            cyclic.add(node)
        return ok

    for node in graph:
        visit(node, [])
    return order, cyclic
