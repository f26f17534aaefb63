"""The overview's aggregates over a real workspace database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.workspace.history_builder import Story, utc
from tocsin.core.errors import InvalidInputError, PermissionDeniedError
from tocsin.core.settings import Settings
from tocsin.workspace import dashboard
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.sla import SlaService, SlaStateName

T0 = utc(2026, 11, 2, 10, 0)
NOW = utc(2026, 11, 2, 18, 0)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def story(db):
    return Story(db)


@pytest.fixture
def sla(db, tmp_path):
    return SlaService(db, Settings(home=tmp_path / "home"))


def only(*permissions: Permission) -> Principal:
    return Principal(kind="user", name="someone", permissions=frozenset(permissions))


def test_open_alerts_by_severity_counts_open_alerts_only(db, story, reader):
    for severity in ("critical", "critical", "high", "low", "high"):
        story.alert(T0, severity=severity)
    acknowledged = story.alert(T0, severity="medium")
    story.move("alert", acknowledged, T0 + minutes(5), "acknowledged")
    closed = story.alert(T0, severity="high")
    story.close("alert", closed, T0 + minutes(9), "false_positive")

    counts = dashboard.open_alerts_by_severity(db, reader)
    assert list(counts.items()) == [
        ("critical", 2),
        ("high", 2),
        ("medium", 1),
        ("low", 1),
        ("informational", 0),
    ]
    with pytest.raises(PermissionDeniedError):
        dashboard.open_alerts_by_severity(db, only(Permission.CASE_READ))


def test_open_cases_by_severity(db, story, reader):
    story.case(T0, severity="high")
    story.case(T0, severity="high")
    held = story.case(T0, severity="low")
    story.move("case", held, T0 + minutes(1), "on_hold")
    done = story.case(T0, severity="critical")
    story.close("case", done, T0 + minutes(2), "true_positive")

    counts = dashboard.open_cases_by_severity(db, reader)
    assert counts == {"critical": 0, "high": 2, "medium": 0, "low": 1, "informational": 0}
    with pytest.raises(PermissionDeniedError):
        dashboard.open_cases_by_severity(db, only(Permission.ALERT_READ))


def test_alerts_over_time_in_hourly_buckets_by_severity(db, story, reader):
    story.alert(T0, severity="high")  # the first instant of the first bucket
    story.alert(T0 + timedelta(minutes=59, seconds=59, microseconds=900_000), severity="high")
    story.alert(T0 + minutes(60), severity="critical")
    story.alert(T0 + minutes(61), severity="high")
    story.alert(T0 + minutes(210), severity="low")
    story.alert(T0 + minutes(23 * 60 + 59), severity="informational")
    closed = story.alert(T0 + minutes(200), severity="low")  # closed ones still count
    story.close("alert", closed, T0 + minutes(201), "benign_positive")
    story.alert(T0 - timedelta(seconds=1), severity="critical")  # before the window
    story.alert(T0 + minutes(24 * 60), severity="critical")  # after it

    found = dashboard.alerts_over_time(db, reader, since=T0, size=timedelta(hours=1), buckets=24)
    assert found.starts[0] == T0
    assert found.starts[-1] == T0 + timedelta(hours=23)
    assert len(found.starts) == 24
    assert list(found.counts) == ["critical", "high", "medium", "low", "informational"]
    nonzero = {
        severity: {i: c for i, c in enumerate(values) if c}
        for severity, values in found.counts.items()
    }
    assert nonzero == {
        "critical": {1: 1},
        "high": {0: 2, 1: 1},
        "medium": {},
        "low": {3: 2},
        "informational": {23: 1},
    }
    assert found.total == 7
    assert found.totals[:4] == [2, 2, 0, 2]

    coarse = dashboard.alerts_over_time(db, reader, since=T0, size=timedelta(hours=6), buckets=4)
    assert coarse.totals == [6, 0, 0, 1]


def test_alerts_over_time_refuses_silly_buckets(db, reader):
    with pytest.raises(InvalidInputError, match="buckets"):
        dashboard.alerts_over_time(db, reader, since=T0, size=timedelta(0), buckets=4)
    with pytest.raises(InvalidInputError, match="buckets"):
        dashboard.alerts_over_time(db, reader, since=T0, size=timedelta(hours=1), buckets=10_000)


def test_top_rules_in_a_period_and_by_open_alerts(db, story, reader):
    for _ in range(3):
        story.alert(T0 + minutes(10), rule_id="rule.busy", title="Busy <rule>")
    story.alert(T0 + minutes(20), rule_id="rule.second", title="Second")
    gone = story.alert(T0 + minutes(20), rule_id="rule.second", title="Second")
    story.close("alert", gone, T0 + minutes(30), "false_positive")
    story.alert(T0 - minutes(60), rule_id="rule.old", title="Old")

    in_period = dashboard.top_rules(db, reader, since=T0)
    assert [(r.rule_id, r.title, r.count) for r in in_period] == [
        ("rule.busy", "Busy <rule>", 3),
        ("rule.second", "Second", 2),
    ]
    opened = dashboard.top_rules(db, reader, open_only=True)
    # equal counts: by rule id
    assert [(r.rule_id, r.count) for r in opened] == [
        ("rule.busy", 3),
        ("rule.old", 1),
        ("rule.second", 1),
    ]
    assert [r.rule_id for r in dashboard.top_rules(db, reader, open_only=True, limit=1)] == [
        "rule.busy"
    ]


def test_sla_watch_lists_at_risk_and_breached_targets_soonest_first(db, story, sla, admin, reader):
    sla.create_policy(
        admin, "high alerts", "alert", "high", acknowledge_minutes=30, resolve_minutes=240
    )
    sla.create_policy(admin, "medium cases", "case", "medium", resolve_minutes=60)
    breached = story.alert(NOW - minutes(40), title="late <b>")  # ack due 10 min ago
    at_risk = story.alert(NOW - minutes(25))  # ack due in 5 minutes (80 % passed)
    story.alert(NOW - minutes(5))  # fine
    working = story.alert(NOW - minutes(200))  # acknowledged in time, resolve at 83 %
    story.move("alert", working, NOW - minutes(190), "in_progress")
    finished = story.alert(NOW - minutes(300))
    story.close("alert", finished, NOW - minutes(100), "true_positive")
    story.alert(NOW - minutes(500), severity="low")  # no policy for low alerts
    case = story.case(NOW - minutes(75))  # resolve due 15 minutes ago

    watch = dashboard.sla_watch(db, reader, now=NOW)
    assert watch.complete
    assert watch.total == 4
    assert [(i.entity_type, i.id, i.urgent.target, i.urgent.state) for i in watch.items] == [
        ("case", case, "resolve", SlaStateName.BREACHED),
        ("alert", breached, "acknowledge", SlaStateName.BREACHED),
        ("alert", at_risk, "acknowledge", SlaStateName.AT_RISK),
        ("alert", working, "resolve", SlaStateName.AT_RISK),
    ]
    first_alert = watch.items[1]
    assert first_alert.title == "late <b>"
    assert first_alert.urgent.due_at == NOW - minutes(10)
    assert first_alert.sla.policy_name == "high alerts"
    assert watch.items[3].sla.acknowledge.state is SlaStateName.MET

    # a principal who may not read cases sees only alerts; one without SLA_READ nothing
    alerts_only = only(Permission.SLA_READ, Permission.ALERT_READ)
    assert {i.entity_type for i in dashboard.sla_watch(db, alerts_only, now=NOW).items} == {"alert"}
    with pytest.raises(PermissionDeniedError):
        dashboard.sla_watch(db, only(Permission.ALERT_READ), now=NOW)


def test_sla_watch_follows_team_policies(db, story, sla, admin, reader):
    security = story.team("Security")
    sla.create_policy(admin, "any team", "alert", "high", acknowledge_minutes=30)
    sla.create_policy(admin, "security", "alert", "high", team_id=security, acknowledge_minutes=10)
    ours = story.alert(NOW - minutes(12), team_id=security)  # 12 of 10 minutes
    story.alert(NOW - minutes(12))  # 12 of 30 minutes: fine

    watch = dashboard.sla_watch(db, reader, now=NOW)
    assert [(i.id, i.sla.policy_name, i.urgent.state) for i in watch.items] == [
        (ours, "security", SlaStateName.BREACHED)
    ]
    assert watch.total == 1


def test_sla_watch_evaluates_a_bounded_number_of_items(db, story, sla, admin, reader):
    sla.create_policy(admin, "high alerts", "alert", "high", acknowledge_minutes=30)
    ids = [story.alert(NOW - minutes(100 - i)) for i in range(10)]  # oldest first

    small = dashboard.sla_watch(db, reader, now=NOW, limit=2)
    assert [i.id for i in small.items] == ids[:2]  # the most overdue
    assert not small.complete  # 4 of the 10 candidates evaluated: a lower bound
    assert small.total == 4

    large = dashboard.sla_watch(db, reader, now=NOW, limit=5)
    assert large.complete
    assert large.total == 10
    assert [i.id for i in large.items] == ids[:5]


def test_sla_watch_reads_every_open_status_in_creation_order(db, story, sla, admin, reader):
    sla.create_policy(admin, "medium cases", "case", "medium", resolve_minutes=60)
    held = story.case(NOW - minutes(300))
    story.move("case", held, NOW - minutes(290), "on_hold")  # no pause status: still counts
    working = story.case(NOW - minutes(200))
    story.move("case", working, NOW - minutes(199), "in_progress")
    fresh = story.case(NOW - minutes(100))
    story.case(NOW - minutes(10))

    watch = dashboard.sla_watch(db, reader, now=NOW, limit=2)
    assert [i.id for i in watch.items] == [held, working]
    assert watch.complete
    assert watch.total == 3
    assert {i.status for i in dashboard.sla_watch(db, reader, now=NOW).items} == {
        "on_hold",
        "in_progress",
        "new",
    }
    assert fresh in {i.id for i in dashboard.sla_watch(db, reader, now=NOW).items}


def test_data_version_changes_with_every_alert_and_stage_change(db, story, reader):
    empty = dashboard.data_version(db, reader)
    assert empty == dashboard.data_version(db, reader)
    alert = story.alert(T0)
    added = dashboard.data_version(db, reader)
    assert added != empty
    story.move("alert", alert, T0 + minutes(1), "acknowledged")
    moved = dashboard.data_version(db, reader)
    assert moved != added
    story.case(T0)
    assert dashboard.data_version(db, reader) != moved
    assert dashboard.data_version(db, reader) == dashboard.data_version(db, reader)
    with pytest.raises(PermissionDeniedError):
        dashboard.data_version(db, only(Permission.CASE_READ))
