"""The correlation engine against the Sigma correlation specification: one row per behaviour.

Rules are written as YAML and loaded through ``load_rules`` (pySigma parses them), events are
built here. Each case lists hits as (rule, seconds after T0, fields): ``"rule_a+rule_b"`` is one
event matched by both rules. Event ids are ``e0``, ``e1``, ... in the order of the hits.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tocsin.detect.correlation import (
    MAX_EVENT_IDS,
    RANGE_ATTRIBUTE,
    CorrelationCondition,
    CorrelationEngine,
    CorrelationFiring,
)
from tocsin.detect.loader import LoadedRule, load_rules

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CORR_ID = "c0000000-0000-4000-8000-000000000001"
IDS = {
    "rule_a": "a0000000-0000-4000-8000-00000000000a",
    "rule_b": "b0000000-0000-4000-8000-00000000000b",
    "rule_c": "c0000000-0000-4000-8000-00000000000c",
}


def base_rules() -> str:
    docs = []
    for event_id, (name, rule_id) in enumerate(IDS.items(), start=1):
        docs.append(
            f"title: Base {name}\nid: {rule_id}\nname: {name}\nstatus: test\n"
            "logsource:\n  product: windows\n  service: security\n"
            f"detection:\n  sel:\n    EventID: {event_id}\n  condition: sel\nlevel: low\n"
        )
    return "---\n".join(docs)


def correlation_yaml(correlation: dict[str, Any], **meta: Any) -> str:
    doc = {"title": "Test correlation", "id": CORR_ID, "level": "high", **meta}
    doc["correlation"] = correlation
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class Loaded:
    """Rules loaded from one file: base rules and correlations, looked up by name or id."""

    rules: list[LoadedRule]
    correlations: list[LoadedRule]
    by_key: dict[str, LoadedRule] = field(default_factory=dict)

    def engine(self, *, lateness: float = 0, state: Path | None = None) -> CorrelationEngine:
        return CorrelationEngine(
            self.correlations,
            self.rules,
            lateness=timedelta(seconds=lateness),
            state_path=state,
        )


def load(tmp_path: Path, *documents: str) -> Loaded:
    path = tmp_path / "rules.yml"
    path.write_text("---\n".join([base_rules(), *documents]), encoding="utf-8")
    ruleset = load_rules([path])
    assert ruleset.errors == [], ruleset.errors
    loaded = Loaded(
        [r for r in ruleset.rules if r.kind == "detection"],
        [r for r in ruleset.rules if r.kind == "correlation"],
    )
    for rule in ruleset.rules:
        loaded.by_key[rule.id] = rule
        if rule.name:
            loaded.by_key[rule.name] = rule
    return loaded


Hit = tuple[str, float, Mapping[str, Any]]
Expected = Sequence[tuple[Mapping[str, Any], int, list[str]]]


def make_hits(
    loaded: Loaded, hits: Sequence[Hit], *, first_id: int = 0
) -> list[tuple[LoadedRule, dict[str, Any]]]:
    out: list[tuple[LoadedRule, dict[str, Any]]] = []
    for number, (names, seconds, fields) in enumerate(hits, start=first_id):
        event = {"@timestamp": T0 + timedelta(seconds=seconds), "event.id": f"e{number}", **fields}
        out.extend((loaded.by_key[name], event) for name in names.split("+"))
    return out


def summary(firings: list[CorrelationFiring]) -> list[tuple[dict[str, object], int, list[str]]]:
    return [(f.group, f.value, f.event_ids) for f in firings]


def run(engine: CorrelationEngine, loaded: Loaded, hits: Sequence[Hit]) -> list[CorrelationFiring]:
    firings = engine.feed(make_hits(loaded, hits))
    return firings + engine.flush()


BOB = {"User": "bob"}
ALICE = {"User": "alice"}


@dataclass(frozen=True)
class Case:
    name: str
    correlation: dict[str, Any]
    hits: Sequence[Hit]
    expected: Expected
    lateness: float = 0


def count(condition: dict[str, Any], *, rules: list[str] | None = None, span: str = "10m"):
    return {
        "type": "event_count",
        "rules": rules or ["rule_a"],
        "group-by": ["User"],
        "timespan": span,
        "condition": condition,
    }


def distinct(condition: dict[str, Any], *, group_by: list[str] | None = None):
    return {
        "type": "value_count",
        "rules": ["rule_a"],
        "group-by": group_by if group_by is not None else ["Computer"],
        "timespan": "10m",
        "condition": condition,
    }


def temporal(kind: str, rules: list[str], condition: dict[str, Any] | None = None):
    body: dict[str, Any] = {"type": kind, "rules": rules, "group-by": ["User"], "timespan": "5m"}
    if condition is not None:
        body["condition"] = condition
    return body


HOST = {"Computer": "ws1"}

CASES = [
    # -- event_count ------------------------------------------------------------------------
    Case(
        "count gte fires at the event that reaches it",
        count({"gte": 3}),
        [("rule_a", 0, BOB), ("rule_a", 60, BOB), ("rule_a", 120, BOB)],
        [(BOB, 3, ["e0", "e1", "e2"])],
    ),
    Case(
        "count gt is strict",
        count({"gt": 3}),
        [("rule_a", 0, BOB), ("rule_a", 60, BOB), ("rule_a", 120, BOB)],
        [],
    ),
    Case(
        "count not reached inside one timespan does not fire",
        count({"gte": 3}),
        [("rule_a", 0, BOB), ("rule_a", 400, BOB), ("rule_a", 800, BOB)],
        [],
    ),
    Case(
        "window bounds are inclusive (exactly one timespan apart)",
        count({"gte": 3}),
        [("rule_a", 0, BOB), ("rule_a", 300, BOB), ("rule_a", 600, BOB)],
        [(BOB, 3, ["e0", "e1", "e2"])],
    ),
    Case(
        "one microsecond past the timespan is outside",
        count({"gte": 3}),
        [("rule_a", 0, BOB), ("rule_a", 300, BOB), ("rule_a", 600.000001, BOB)],
        [],
    ),
    Case(
        "window slides: no fixed buckets (500, 700, 900 across the 600 s mark)",
        count({"gte": 3}),
        [("rule_a", 500, BOB), ("rule_a", 700, BOB), ("rule_a", 900, BOB)],
        [(BOB, 3, ["e0", "e1", "e2"])],
    ),
    Case(
        "window slides: old events leave the window",
        count({"gte": 3}),
        [("rule_a", 0, BOB), ("rule_a", 500, BOB), ("rule_a", 700, BOB), ("rule_a", 900, BOB)],
        [(BOB, 3, ["e1", "e2", "e3"])],
    ),
    Case(
        "a burst fires once, not once per event",
        count({"gte": 3}),
        [("rule_a", s, BOB) for s in range(0, 100, 10)],
        [(BOB, 3, ["e0", "e1", "e2"])],
    ),
    Case(
        "a later window fires again; muted events do not count towards it",
        count({"gte": 3}),
        [("rule_a", s, BOB) for s in (0, 10, 20, 500, 590, 600, 610, 620, 630)],
        [(BOB, 3, ["e0", "e1", "e2"]), (BOB, 3, ["e6", "e7", "e8"])],
    ),
    Case(
        "group-by keeps groups apart",
        count({"gte": 3}),
        [
            ("rule_a", 0, BOB),
            ("rule_a", 10, ALICE),
            ("rule_a", 20, BOB),
            ("rule_a", 30, ALICE),
            ("rule_a", 40, BOB),
        ],
        [(BOB, 3, ["e0", "e2", "e4"])],
    ),
    Case(
        "an event without the group-by field is not counted",
        count({"gte": 3}),
        [
            ("rule_a", 0, BOB),
            ("rule_a", 10, {}),
            ("rule_a", 20, {"User": None}),
            ("rule_a", 30, BOB),
        ],
        [],
    ),
    Case(
        "several group-by fields: all must be equal",
        {**count({"gte": 2}), "group-by": ["User", "Computer"]},
        [
            ("rule_a", 0, {"User": "bob", "Computer": "ws1"}),
            ("rule_a", 10, {"User": "bob", "Computer": "ws2"}),
            ("rule_a", 20, {"User": "bob", "Computer": "ws1"}),
        ],
        [({"User": "bob", "Computer": "ws1"}, 2, ["e0", "e2"])],
    ),
    Case(
        "no group-by: one group for all events",
        {k: v for k, v in count({"gte": 2}).items() if k != "group-by"},
        [("rule_a", 0, BOB), ("rule_a", 10, ALICE)],
        [({}, 2, ["e0", "e1"])],
    ),
    Case(
        "non-string group values are kept as text",
        {**count({"gte": 2}), "group-by": ["LogonType"]},
        [("rule_a", 0, {"LogonType": 3}), ("rule_a", 10, {"LogonType": 3})],
        [({"LogonType": "3"}, 2, ["e0", "e1"])],
    ),
    Case(
        "events of every referenced rule count",
        count({"gte": 3}, rules=["rule_a", "rule_b"]),
        [("rule_a", 0, BOB), ("rule_b", 10, BOB), ("rule_c", 15, BOB), ("rule_a", 20, BOB)],
        [(BOB, 3, ["e0", "e1", "e3"])],
    ),
    Case(
        "one event matched by two referenced rules counts once",
        count({"gte": 2}, rules=["rule_a", "rule_b"]),
        [("rule_a+rule_b", 0, BOB)],
        [],
    ),
    Case(
        "lt is decided when the window closes (end of input here)",
        count({"lt": 3}),
        [("rule_a", 0, BOB), ("rule_a", 10, BOB)] + [("rule_a", s, ALICE) for s in (0, 1, 2, 3)],
        [(BOB, 2, ["e0", "e1"])],
    ),
    Case(
        "lte counts up to the bound, anchored windows",
        count({"lte": 2}),
        [("rule_a", 0, BOB), ("rule_a", 10, BOB), ("rule_a", 20, BOB), ("rule_a", 700, BOB)],
        [(BOB, 1, ["e3"])],
    ),
    Case(
        "eq: exactly the count in the window",
        count({"eq": 3}),
        [("rule_a", s, BOB) for s in (0, 10, 20)] + [("rule_a", s, ALICE) for s in (0, 10, 20, 30)],
        [(BOB, 3, ["e0", "e1", "e2"])],
    ),
    Case(
        "neq: any count but the one given",
        count({"neq": 1}),
        [("rule_a", 0, BOB), ("rule_a", 10, ALICE), ("rule_a", 20, ALICE)],
        [(ALICE, 2, ["e1", "e2"])],
    ),
    Case(
        "close-evaluated windows are anchored at the group's first event and do not overlap",
        count({"eq": 2}),
        [("rule_a", s, BOB) for s in (0, 500, 700, 1301, 1310)],
        [(BOB, 2, ["e0", "e1"]), (BOB, 2, ["e3", "e4"])],
    ),
    # -- value_count ------------------------------------------------------------------------
    Case(
        "value_count counts distinct values, not events",
        distinct({"field": "User", "gte": 3}),
        [
            ("rule_a", 0, {**HOST, "User": "u1"}),
            ("rule_a", 10, {**HOST, "User": "u1"}),
            ("rule_a", 20, {**HOST, "User": "u2"}),
            ("rule_a", 30, {**HOST, "User": "u2"}),
            ("rule_a", 40, {**HOST, "User": "u3"}),
        ],
        [(HOST, 3, ["e0", "e1", "e2", "e3", "e4"])],
    ),
    Case(
        "value_count ignores events without the field",
        distinct({"field": "User", "gte": 2}),
        [("rule_a", 0, {**HOST, "User": "u1"}), ("rule_a", 10, HOST), ("rule_a", 20, HOST)],
        [],
    ),
    Case(
        "value_count values are case-sensitive strings",
        distinct({"field": "User", "gte": 2}),
        [("rule_a", 0, {**HOST, "User": "Bob"}), ("rule_a", 10, {**HOST, "User": "bob"})],
        [(HOST, 2, ["e0", "e1"])],
    ),
    Case(
        "value_count window slides",
        distinct({"field": "User", "gte": 2}),
        [("rule_a", 0, {**HOST, "User": "u1"}), ("rule_a", 700, {**HOST, "User": "u2"})],
        [],
    ),
    Case(
        "value_count with several fields counts distinct combinations",
        distinct({"field": ["User", "SourceIp"], "gte": 3}),
        [
            ("rule_a", 0, {**HOST, "User": "u1", "SourceIp": "10.0.0.1"}),
            ("rule_a", 10, {**HOST, "User": "u1", "SourceIp": "10.0.0.2"}),
            ("rule_a", 20, {**HOST, "User": "u1", "SourceIp": "10.0.0.2"}),
            ("rule_a", 30, {**HOST, "User": "u2", "SourceIp": "10.0.0.2"}),
        ],
        [(HOST, 3, ["e0", "e1", "e2", "e3"])],
    ),
    Case(
        "value_count lt at window close",
        distinct({"field": "User", "lt": 2}),
        [
            ("rule_a", 0, {"Computer": "ws1", "User": "u1"}),
            ("rule_a", 10, {"Computer": "ws1", "User": "u1"}),
            ("rule_a", 20, {"Computer": "ws2", "User": "u1"}),
            ("rule_a", 30, {"Computer": "ws2", "User": "u2"}),
        ],
        [({"Computer": "ws1"}, 1, ["e0", "e1"])],
    ),
    # -- temporal ---------------------------------------------------------------------------
    Case(
        "temporal: all rules in the window, any order",
        temporal("temporal", ["rule_a", "rule_b"]),
        [("rule_b", 0, BOB), ("rule_a", 60, BOB)],
        [(BOB, 2, ["e0", "e1"])],
    ),
    Case(
        "temporal: repeats of one rule are not enough",
        temporal("temporal", ["rule_a", "rule_b"]),
        [("rule_a", 0, BOB), ("rule_a", 10, BOB), ("rule_a", 20, BOB)],
        [],
    ),
    Case(
        "temporal: too far apart",
        temporal("temporal", ["rule_a", "rule_b"]),
        [("rule_a", 0, BOB), ("rule_b", 301, BOB)],
        [],
    ),
    Case(
        "temporal: the same group only",
        temporal("temporal", ["rule_a", "rule_b"]),
        [("rule_a", 0, BOB), ("rule_b", 10, ALICE)],
        [],
    ),
    Case(
        "temporal: one event matching both rules satisfies both",
        temporal("temporal", ["rule_a", "rule_b"]),
        [("rule_a+rule_b", 0, BOB)],
        [(BOB, 2, ["e0"])],
    ),
    Case(
        "temporal with a condition: two of three rules",
        temporal("temporal", ["rule_a", "rule_b", "rule_c"], {"gte": 2}),
        [("rule_c", 0, BOB), ("rule_a", 10, BOB)],
        [(BOB, 2, ["e0", "e1"])],
    ),
    Case(
        "temporal fires once per window",
        temporal("temporal", ["rule_a", "rule_b"]),
        [("rule_a", 0, BOB), ("rule_b", 10, BOB), ("rule_a", 20, BOB), ("rule_b", 30, BOB)],
        [(BOB, 2, ["e0", "e1"])],
    ),
    # -- temporal_ordered -------------------------------------------------------------------
    Case(
        "temporal_ordered: in the listed order",
        temporal("temporal_ordered", ["rule_a", "rule_b"]),
        [("rule_a", 0, BOB), ("rule_b", 60, BOB)],
        [(BOB, 2, ["e0", "e1"])],
    ),
    Case(
        "temporal_ordered: wrong order does not fire",
        temporal("temporal_ordered", ["rule_a", "rule_b"]),
        [("rule_b", 0, BOB), ("rule_a", 60, BOB)],
        [],
    ),
    Case(
        "temporal_ordered: a later right-order pair fires, from its own start",
        temporal("temporal_ordered", ["rule_a", "rule_b"]),
        [("rule_b", 0, BOB), ("rule_a", 60, BOB), ("rule_b", 120, BOB)],
        [(BOB, 2, ["e1", "e2"])],
    ),
    Case(
        "temporal_ordered: one event matching both is not a sequence",
        temporal("temporal_ordered", ["rule_a", "rule_b"]),
        [("rule_a+rule_b", 0, BOB)],
        [],
    ),
    Case(
        "temporal_ordered: equal times follow arrival order",
        temporal("temporal_ordered", ["rule_a", "rule_b"]),
        [("rule_a", 0, BOB), ("rule_b", 0, BOB)],
        [(BOB, 2, ["e0", "e1"])],
    ),
    Case(
        "temporal_ordered: three rules, a missing middle step does not fire",
        temporal("temporal_ordered", ["rule_a", "rule_b", "rule_c"]),
        [("rule_a", 0, BOB), ("rule_c", 10, BOB), ("rule_b", 20, BOB)],
        [],
    ),
    Case(
        "temporal_ordered: three rules in order",
        temporal("temporal_ordered", ["rule_a", "rule_b", "rule_c"]),
        [("rule_a", 0, BOB), ("rule_c", 10, BOB), ("rule_b", 20, BOB), ("rule_c", 30, BOB)],
        [(BOB, 3, ["e0", "e1", "e2", "e3"])],
    ),
    Case(
        "temporal_ordered with a condition: any two in their order",
        temporal("temporal_ordered", ["rule_a", "rule_b", "rule_c"], {"gte": 2}),
        [("rule_c", 0, BOB), ("rule_b", 10, BOB), ("rule_a", 20, BOB), ("rule_c", 30, BOB)],
        [(BOB, 2, ["e2", "e3"])],
    ),
    Case(
        "temporal_ordered: the sequence must fit in the timespan",
        temporal("temporal_ordered", ["rule_a", "rule_b"]),
        [("rule_a", 0, BOB), ("rule_b", 301, BOB)],
        [],
    ),
    # -- lateness ---------------------------------------------------------------------------
    Case(
        "out of order within the lateness still counts",
        count({"gte": 3}),
        [("rule_a", 100, BOB), ("rule_a", 120, BOB), ("rule_a", 90, BOB)],
        [(BOB, 3, ["e2", "e0", "e1"])],
        lateness=60,
    ),
    Case(
        "out of order: a late event completes a window that ends later",
        count({"gte": 3}),
        [("rule_a", 0, BOB), ("rule_a", 590, BOB), ("rule_a", 580, ALICE), ("rule_a", 550, BOB)],
        [(BOB, 3, ["e0", "e3", "e1"])],
        lateness=60,
    ),
    Case(
        "older than the lateness is dropped",
        count({"gte": 3}),
        [("rule_a", 100, BOB), ("rule_a", 200, BOB), ("rule_a", 90, BOB)],
        [],
        lateness=60,
    ),
    Case(
        "temporal_ordered uses event time, not arrival",
        temporal("temporal_ordered", ["rule_a", "rule_b"]),
        [("rule_b", 30, BOB), ("rule_a", 10, BOB)],
        [(BOB, 2, ["e1", "e0"])],
        lateness=60,
    ),
    Case(
        "temporal_ordered: arrival in order but event times reversed does not fire",
        temporal("temporal_ordered", ["rule_a", "rule_b"]),
        [("rule_a", 30, BOB), ("rule_b", 10, BOB)],
        [],
        lateness=60,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_specification_cases(tmp_path, case: Case):
    loaded = load(tmp_path, correlation_yaml(case.correlation))
    engine = loaded.engine(lateness=case.lateness)
    assert engine.issues == []
    assert summary(run(engine, loaded, case.hits)) == case.expected


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_one_batch_per_event_gives_the_same_firings(tmp_path, case: Case):
    loaded = load(tmp_path, correlation_yaml(case.correlation))
    engine = loaded.engine(lateness=case.lateness)
    firings = []
    hits = make_hits(loaded, case.hits)
    for event_id in dict.fromkeys(e["event.id"] for _, e in hits):
        # the matcher gives all hits of one event in one batch
        firings.extend(engine.feed([h for h in hits if h[1]["event.id"] == event_id]))
    firings.extend(engine.flush())
    assert summary(firings) == case.expected


def test_window_times_and_reasons(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"gte": 3})))
    engine = loaded.engine()
    hits = [("rule_a", 5, BOB), ("rule_a", 65, BOB), ("rule_a", 125, BOB)]
    [firing] = run(engine, loaded, hits)
    assert firing.rule.id == CORR_ID
    assert firing.window_start == T0 + timedelta(seconds=5)
    assert firing.window_end == T0 + timedelta(seconds=125)
    assert firing.dedup_key() == f"{CORR_ID}|User=bob"
    checks = [r.check for r in firing.reasons]
    assert checks == [
        "correlation.event_count",
        IDS["rule_a"],
        "correlation.window",
    ]
    assert firing.reasons[0].detail == ("3 events within 10m (condition gte 3) for User='bob'")
    assert firing.reasons[1].detail == "3 matches of 'Base rule_a'"
    assert firing.reasons[1].weight == 1.0


def test_close_evaluated_window_end_is_the_window_close(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"lt": 5})))
    engine = loaded.engine()
    [firing] = run(engine, loaded, [("rule_a", 30, BOB)])
    assert firing.window_start == T0 + timedelta(seconds=30)
    assert firing.window_end == T0 + timedelta(seconds=630)


def test_close_evaluated_windows_close_as_event_time_passes(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"lt": 3})))
    engine = loaded.engine(lateness=60)
    assert engine.feed(make_hits(loaded, [("rule_a", 0, BOB), ("rule_a", 10, ALICE)])) == []
    # watermark 660 - lateness 60 = 600: not past the window end (600) yet
    assert engine.feed(make_hits(loaded, [("rule_a", 660, ALICE)], first_id=2)) == []
    fired = engine.feed(make_hits(loaded, [("rule_a", 661, ALICE)], first_id=3))
    assert summary(fired) == [(BOB, 1, ["e0"])]
    fired = engine.feed(make_hits(loaded, [("rule_a", 671, BOB)], first_id=4))
    assert summary(fired) == [(ALICE, 1, ["e1"])]
    # the windows opened at 660 (alice) and 671 (bob) stay open until the end of input
    assert summary(engine.flush()) == [(ALICE, 2, ["e2", "e3"]), (BOB, 1, ["e4"])]


def test_value_count_reasons_list_the_values(tmp_path):
    loaded = load(tmp_path, correlation_yaml(distinct({"field": "User", "gte": 2})))
    hits = [("rule_a", 0, {**HOST, "User": "u2"}), ("rule_a", 1, {**HOST, "User": "u1"})]
    [firing] = run(loaded.engine(), loaded, hits)
    details = {r.check: r.detail for r in firing.reasons}
    assert details["correlation.values"] == "User: u1, u2"
    assert details["correlation.value_count"].startswith("2 distinct values of User")


def test_aliases_map_rule_fields_to_one_group(tmp_path):
    correlation = {
        "type": "temporal",
        "rules": ["rule_a", "rule_b"],
        "group-by": ["internal_ip", "remote_ip"],
        "timespan": "10s",
        "aliases": {
            "internal_ip": {"rule_a": "destination.ip", "rule_b": "source.ip"},
            "remote_ip": {"rule_a": "source.ip", "rule_b": "destination.ip"},
        },
    }
    loaded = load(tmp_path, correlation_yaml(correlation))
    error = {"destination.ip": "10.0.0.5", "source.ip": "203.0.113.9"}
    connect = {"source.ip": "10.0.0.5", "destination.ip": "203.0.113.9"}
    other = {"source.ip": "10.0.0.5", "destination.ip": "198.51.100.1"}
    firings = run(
        loaded.engine(),
        loaded,
        [("rule_a", 0, error), ("rule_b", 2, other), ("rule_b", 5, connect)],
    )
    assert summary(firings) == [
        ({"internal_ip": "10.0.0.5", "remote_ip": "203.0.113.9"}, 2, ["e0", "e2"])
    ]


def test_alias_for_the_value_count_field(tmp_path):
    correlation = {
        **distinct({"field": "account", "gte": 2}),
        "rules": ["rule_a", "rule_b"],
        "aliases": {"account": {"rule_a": "TargetUserName", "rule_b": "user.name"}},
    }
    loaded = load(tmp_path, correlation_yaml(correlation))
    hits = [
        ("rule_a", 0, {**HOST, "TargetUserName": "u1"}),
        ("rule_b", 1, {**HOST, "user.name": "u2"}),
    ]
    assert summary(run(loaded.engine(), loaded, hits)) == [(HOST, 2, ["e0", "e1"])]


def test_references_by_id_and_by_name(tmp_path):
    by_id = temporal("temporal", [IDS["rule_a"], "rule_b"])
    loaded = load(tmp_path, correlation_yaml(by_id))
    firings = run(loaded.engine(), loaded, [("rule_a", 0, BOB), ("rule_b", 10, BOB)])
    assert summary(firings) == [(BOB, 2, ["e0", "e1"])]


def test_generate_decides_whether_referenced_rules_alert(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"gte": 2})))
    assert loaded.engine().silent_rule_ids() == {IDS["rule_a"]}
    loaded = load(tmp_path, correlation_yaml({**count({"gte": 2}), "generate": True}))
    assert loaded.engine().silent_rule_ids() == set()


def test_generate_true_anywhere_keeps_a_rule_loud(tmp_path):
    quiet = correlation_yaml(count({"gte": 2}, rules=["rule_a", "rule_b"]))
    loud = correlation_yaml(
        {**count({"gte": 2}), "generate": True}, id="c0000000-0000-4000-8000-000000000002"
    )
    loaded = load(tmp_path, quiet, loud)
    assert loaded.engine().silent_rule_ids() == {IDS["rule_b"]}


SPEC_EXAMPLE = """\
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 3
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4624
    condition: selection
"""


def test_chained_correlations_as_in_the_specification(tmp_path):
    loaded = load(tmp_path, SPEC_EXAMPLE)
    engine = loaded.engine()
    assert engine.issues == []
    # the base rules and the inner correlation only feed the outer one
    assert engine.silent_rule_ids() == {
        "a8418a5a-5fc4-46b5-b23b-6c73beb19d41",
        "53ba33fd-3a50-4468-a5ef-c583635cfa92",
        "4d0a2c83-c62c-4ed4-b475-c7e23a9269b8",
    }
    hits = [
        ("successful_login", 0, BOB),  # before the failures: not the sequence
        ("failed_login", 10, BOB),
        ("failed_login", 20, BOB),
        ("failed_login", 30, ALICE),
        ("failed_login", 40, BOB),  # bob's third failure: the inner correlation fires
        ("successful_login", 50, ALICE),
        ("successful_login", 60, BOB),
    ]
    firings = run(engine, loaded, hits)
    assert [f.rule.id for f in firings] == ["b180ead8-d58f-40b2-ae54-c8940995b9b6"]
    [firing] = firings
    assert firing.group == BOB
    assert firing.value == 2
    assert firing.event_ids == ["e1", "e2", "e4", "e6"]  # the failures behind the inner firing
    assert firing.window_start == T0 + timedelta(seconds=40)
    assert firing.window_end == T0 + timedelta(seconds=60)


def test_inner_correlation_with_generate_alerts_too(tmp_path):
    text = SPEC_EXAMPLE.replace(
        "    type: temporal_ordered\n", "    type: temporal_ordered\n    generate: true\n"
    )
    loaded = load(tmp_path, text)
    engine = loaded.engine()
    assert "a8418a5a-5fc4-46b5-b23b-6c73beb19d41" not in engine.silent_rule_ids()
    hits = [("failed_login", s, BOB) for s in (0, 1, 2)] + [("successful_login", 3, BOB)]
    firings = run(engine, loaded, hits)
    assert [f.rule.title for f in firings] == [
        "Multiple failed logons",
        "Correlation - Multiple Failed Logins Followed by Successful Login",
    ]


def test_out_of_order_within_lateness_equals_in_order(tmp_path):
    loaded = load(
        tmp_path,
        correlation_yaml(count({"gte": 4}, span="2m")),
    )
    times = [0, 30, 50, 65, 100, 130, 170, 200, 260, 265, 290, 300]
    in_order = [("rule_a", float(t), BOB) for t in times]
    shuffled = [in_order[i] for i in (1, 0, 3, 2, 4, 6, 5, 7, 9, 8, 11, 10)]
    ordered = summary(run(loaded.engine(lateness=60), loaded, in_order))
    # ids differ by arrival; compare on event times
    first = run(loaded.engine(lateness=60), loaded, in_order)
    second = run(loaded.engine(lateness=60), loaded, shuffled)
    assert len(ordered) == 2
    assert [(f.window_start, f.window_end, f.value) for f in first] == [
        (f.window_start, f.window_end, f.value) for f in second
    ]


def test_late_and_untimed_events_are_counted_not_raised(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"gte": 2})))
    engine = loaded.engine(lateness=30)
    rule = loaded.by_key["rule_a"]
    hits: list[tuple[LoadedRule, Mapping[str, object]]] = [
        (rule, {"@timestamp": T0 + timedelta(seconds=100), "event.id": "x1", **BOB}),
        (rule, {"@timestamp": T0 + timedelta(seconds=60), "event.id": "late", **BOB}),
        (rule, {"event.id": "no-time", **BOB}),
        (rule, {"@timestamp": "yesterday", "event.id": "bad-text", **BOB}),
        (rule, {"@timestamp": 1234, "event.id": "number", **BOB}),
    ]
    assert engine.feed(hits) == []
    assert engine.late_dropped == 1
    assert engine.untimed_dropped == 3
    ok = {"@timestamp": (T0 + timedelta(seconds=101)).isoformat(), "event.id": "x2", **BOB}
    assert summary(engine.feed([(rule, ok)])) == [(BOB, 2, ["x1", "x2"])]


def test_naive_and_z_timestamps_are_utc(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"gte": 2}, span="1s")))
    rule = loaded.by_key["rule_a"]
    naive = {"@timestamp": datetime(2026, 3, 1, 12, 0, 0), "event.id": "n", **BOB}
    zulu = {"@timestamp": "2026-03-01T12:00:01Z", "event.id": "z", **BOB}
    assert summary(loaded.engine().feed([(rule, naive), (rule, zulu)])) == [(BOB, 2, ["n", "z"])]


def test_hits_of_unreferenced_rules_are_ignored(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"gte": 1})))
    engine = loaded.engine()
    assert run(engine, loaded, [("rule_c", 0, BOB)]) == []
    assert engine.watermark is None


def test_event_ids_are_capped(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"gte": MAX_EVENT_IDS + 200}, span="1h")))
    hits = [("rule_a", i, BOB) for i in range(MAX_EVENT_IDS + 200)]
    [firing] = run(loaded.engine(), loaded, hits)
    assert firing.value == MAX_EVENT_IDS + 200
    assert len(firing.event_ids) == MAX_EVENT_IDS
    assert firing.event_ids[0] == "e0"


RESTART_CASES = {
    "event_count": count({"gte": 4}, rules=["rule_a", "rule_b", "rule_c"], span="3m"),
    "value_count": {
        **distinct({"field": "User", "gte": 3}, group_by=[]),
        "rules": ["rule_a", "rule_b", "rule_c"],
        "timespan": "2m",
    },
    "temporal": temporal("temporal", ["rule_a", "rule_b"]),
    "temporal_ordered": temporal("temporal_ordered", ["rule_a", "rule_b", "rule_c"]),
    "close-evaluated lt": count({"lt": 3}, rules=["rule_a", "rule_b", "rule_c"], span="2m"),
}


LATENESS = 40


def jittered_hits(seed: int, count: int = 80) -> list[Hit]:
    """A stream of hits over three rules and users, arriving up to 100 s out of order."""
    rnd = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    return [
        (
            rnd.choice(["rule_a", "rule_b", "rule_c"]),
            i * 20 + rnd.randint(0, 100),
            {"User": rnd.choice(["u0", "u1", "u2"])},
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("correlation", RESTART_CASES.values(), ids=list(RESTART_CASES))
def test_state_survives_restarts(tmp_path, correlation):
    loaded = load(tmp_path, correlation_yaml(correlation))
    hits = make_hits(loaded, jittered_hits(seed=7))
    one = loaded.engine(lateness=LATENESS)
    expected = summary(one.feed(hits) + one.flush())
    assert len(expected) >= 2  # the stream does fire
    assert one.late_dropped > 0  # and some events come too late

    state = tmp_path / "state" / "correlation.json"
    firings: list[CorrelationFiring] = []
    for part in (hits[:25], hits[25:61], hits[61:]):
        engine = loaded.engine(lateness=LATENESS, state=state)  # a fresh process each time
        firings += engine.feed(part)
        engine.save()
    firings += loaded.engine(lateness=LATENESS, state=state).flush()
    assert summary(firings) == expected
    assert loaded.engine(lateness=LATENESS, state=state).late_dropped == one.late_dropped


def test_state_keeps_ids_and_times_only(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"gte": 5})))
    state = tmp_path / "correlation.json"
    engine = loaded.engine(state=state)
    secret = {"User": "bob", "CommandLine": "net user bob hunter2"}
    engine.feed(make_hits(loaded, [("rule_a", 0, secret), ("rule_a", 5, secret)]))
    engine.save()
    text = state.read_text()
    assert "hunter2" not in text
    data = orjson.loads(text)
    [group] = data["correlations"][CORR_ID]["groups"]
    assert group["values"] == ["bob"]
    assert [e[4] for e in group["entries"]] == [["e0"], ["e1"]]
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left no temporary file


def test_changed_rule_or_broken_state_starts_afresh(tmp_path):
    state = tmp_path / "correlation.json"
    loaded = load(tmp_path, correlation_yaml(count({"gte": 2})))
    engine = loaded.engine(state=state)
    engine.feed(make_hits(loaded, [("rule_a", 0, BOB)]))
    engine.save()
    # the same rule continues: the second event completes the count
    assert summary(
        loaded.engine(state=state).feed(make_hits(loaded, [("rule_a", 1, BOB)], first_id=1))
    )
    # a different group-by is a different correlation: the old window is gone
    changed = load(
        tmp_path, correlation_yaml({**count({"gte": 2}), "group-by": ["User", "Computer"]})
    )
    hits = make_hits(changed, [("rule_a", 1, {**BOB, **HOST})], first_id=1)
    assert changed.engine(state=state).feed(hits) == []
    state.write_text("{not json")
    assert loaded.engine(state=state).feed(make_hits(loaded, [("rule_a", 1, BOB)])) == []


def test_expired_groups_are_forgotten(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"gte": 3})))
    state = tmp_path / "correlation.json"
    engine = loaded.engine(lateness=30, state=state)
    old = [("rule_a", i, {"User": f"user{i}"}) for i in range(50)]
    engine.feed(make_hits(loaded, old))
    engine.feed(make_hits(loaded, [("rule_a", 3600, BOB)], first_id=50))
    engine.save()
    groups = orjson.loads(state.read_bytes())["correlations"][CORR_ID]["groups"]
    assert [g["values"] for g in groups] == [["bob"]]


def test_muted_group_is_forgotten_after_its_window(tmp_path):
    loaded = load(tmp_path, correlation_yaml(count({"gte": 2})))
    state = tmp_path / "correlation.json"
    engine = loaded.engine(state=state)
    assert engine.feed(make_hits(loaded, [("rule_a", 0, BOB), ("rule_a", 1, BOB)]))
    engine.save()
    [group] = orjson.loads(state.read_bytes())["correlations"][CORR_ID]["groups"]
    assert group["entries"] == [] and group["muted_until"] is not None
    engine.feed(make_hits(loaded, [("rule_a", 601, ALICE)], first_id=2))
    engine.save()
    groups = orjson.loads(state.read_bytes())["correlations"][CORR_ID]["groups"]
    assert [g["values"] for g in groups] == [["alice"]]


def test_unsupported_correlations_are_reported_and_ignored(tmp_path):
    value_sum = correlation_yaml(
        {**distinct({"field": "bytes", "gt": 100}), "type": "value_sum"},
        id="c0000000-0000-4000-8000-000000000003",
    )
    loaded = load(tmp_path, correlation_yaml(count({"gte": 1})), value_sum)
    engine = loaded.engine()
    assert [(i.rule_id, i.severity) for i in engine.issues] == [
        ("c0000000-0000-4000-8000-000000000003", "error")
    ]
    assert "value_sum" in engine.issues[0].message
    assert len(run(engine, loaded, [("rule_a", 0, BOB)])) == 1


def test_reference_cycles_are_reported_and_dropped(tmp_path):
    one = correlation_yaml({**count({"gte": 1}), "rules": ["corr_two"]}, name="corr_one")
    two = correlation_yaml(
        {**count({"gte": 1}), "rules": ["corr_one"]},
        id="c0000000-0000-4000-8000-000000000004",
        name="corr_two",
    )
    loaded = load(tmp_path, one, two)
    engine = loaded.engine()
    assert sorted(i.message for i in engine.issues) == [
        "correlation ignored: reference cycle",
        "correlation ignored: reference cycle",
    ]
    assert engine.silent_rule_ids() == set()


def test_range_conditions(tmp_path):
    condition = CorrelationCondition.from_mapping({"gt": 2, "lte": 4})
    assert [condition.is_met(n) for n in range(6)] == [False, False, False, True, True, False]
    assert not condition.is_monotone
    assert condition.describe() == "gt 2 and lte 4"
    with pytest.raises(ValueError, match="unknown"):
        CorrelationCondition.from_mapping({"gtx": 1})
    with pytest.raises(ValueError, match="number"):
        CorrelationCondition.from_mapping({"gt": "many"})

    # pySigma 2.0.1 rejects two operators, so the range reaches the engine as an attribute
    loaded = load(tmp_path, correlation_yaml(count({"gt": 2})))
    [rule] = loaded.correlations
    assert rule.sigma is not None
    rule.sigma.custom_attributes[RANGE_ATTRIBUTE] = {"gt": 2, "lte": 4}
    hits = [("rule_a", s, BOB) for s in range(3)] + [("rule_a", s, ALICE) for s in range(10, 15)]
    hits += [("rule_a", s, {"User": "carol"}) for s in range(20, 22)]
    firings = run(loaded.engine(), loaded, hits)
    assert [(f.group, f.value) for f in firings] == [(BOB, 3)]


def test_arrival_order_at_equal_times_survives_a_restart(tmp_path):
    loaded = load(tmp_path, correlation_yaml(temporal("temporal_ordered", ["rule_a", "rule_b"])))
    state = tmp_path / "correlation.json"
    first = loaded.engine(state=state)
    assert first.feed(make_hits(loaded, [("rule_a", 0, BOB)])) == []
    first.save()
    hits = make_hits(loaded, [("rule_b", 0, BOB)], first_id=1)
    assert summary(loaded.engine(state=state).feed(hits)) == [(BOB, 2, ["e0", "e1"])]
