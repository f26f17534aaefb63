from datetime import timedelta
from fractions import Fraction

import pytest

from tests.workspace.history_builder import Story, utc
from tocsin.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from tocsin.core.settings import Settings
from tocsin.workspace.metrics import (
    DurationStats,
    MetricsService,
    percentile,
    period_start,
)
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.sla import SlaService

SINCE, UNTIL, NOW = utc(2026, 11, 1), utc(2026, 12, 1), utc(2026, 12, 5)


def minutes(n):
    return timedelta(minutes=n)


def stats(count, mean, median, p90):
    return {"count": count, "mean": mean, "median": median, "p90": p90}


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path / "home")


@pytest.fixture
def metrics(db, settings):
    return MetricsService(db, settings)


@pytest.fixture
def world(db, settings, admin):
    """Five alerts in November (and two outside it), two cases, SLA policies."""
    story = Story(db)
    security, it_ops = story.team("Security"), story.team("IT operations")
    sla = SlaService(db, settings)
    sla.create_policy(admin, "high", "alert", "high", acknowledge_minutes=10, resolve_minutes=90)
    sla.create_policy(admin, "critical", "alert", "critical", acknowledge_minutes=15)
    sla.create_policy(
        admin, "low", "alert", "low", acknowledge_minutes=30, resolve_minutes=60 * 24 * 60
    )
    ids = {}

    def alert(name, created, seen_before, team, rule, severity):
        ids[name] = story.alert(
            created,
            first_seen=created - seen_before,
            team_id=team,
            rule_id=rule,
            severity=severity,
        )
        return ids[name], created

    a1, t1 = alert("a1", utc(2026, 11, 2, 10), timedelta(seconds=120), security, "dns.dga", "high")
    story.move("alert", a1, t1 + minutes(5), "acknowledged")
    story.close("alert", a1, t1 + minutes(60), "false_positive")
    a2, t2 = alert("a2", utc(2026, 11, 2, 12), timedelta(seconds=60), security, "dns.dga", "high")
    story.move("alert", a2, t2 + minutes(10), "acknowledged")
    story.move("alert", a2, t2 + minutes(20), "in_progress")
    story.close("alert", a2, t2 + minutes(120), "benign_positive")
    a3, t3 = alert("a3", utc(2026, 11, 10, 8), timedelta(0), it_ops, "net.scan", "medium")
    story.move("alert", a3, t3 + minutes(1), "acknowledged")
    story.close("alert", a3, t3 + minutes(30), "true_positive")
    a4, t4 = alert("a4", utc(2026, 11, 10, 9), timedelta(hours=1), None, "dns.dga", "low")
    story.move("alert", a4, t4 + minutes(20), "acknowledged")
    alert("a5", utc(2026, 11, 20), timedelta(seconds=10), security, "net.scan", "critical")
    alert("before", utc(2026, 10, 31, 23, 59), timedelta(0), security, "dns.dga", "high")
    alert("after", UNTIL, timedelta(0), security, "dns.dga", "high")

    c1 = story.case(utc(2026, 11, 3, 10), team_id=security)
    story.move("case", c1, utc(2026, 11, 3, 10, 30), "in_progress")
    story.move("case", c1, utc(2026, 11, 3, 11), "on_hold")
    story.move("case", c1, utc(2026, 11, 3, 13), "in_progress")
    story.close("case", c1, utc(2026, 11, 3, 15), "true_positive")
    story.case(utc(2026, 11, 4, 10))
    return {"security": security, "it_ops": it_ops, **ids}


def test_alert_durations_are_exact(metrics, reader, world):
    report = metrics.compute(reader, since=SINCE, until=UNTIL, now=NOW, period="week")
    assert report.total == 5
    durations = {k: v.to_dict() for k, v in report.durations.items()}
    # MTTD 0, 10, 60, 120, 3600 s; MTTA 60, 300, 600, 1200 s; MTTR 1800, 3600, 7200 s.
    assert durations["mttd"]["overall"] == stats(5, 758.0, 60, 2208.0)
    assert durations["mtta"]["overall"] == stats(4, 540.0, 450.0, 1020.0)
    assert durations["mttr"]["overall"] == stats(3, 4200.0, 3600.0, 6480.0)
    assert durations["mtta"]["by_team"] == {
        "(no team)": stats(1, 1200.0, 1200.0, 1200.0),
        "IT operations": stats(1, 60.0, 60.0, 60.0),
        "Security": stats(2, 450.0, 450.0, 570.0),
    }
    assert durations["mtta"]["by_period"] == {
        "2026-11-02": stats(2, 450.0, 450.0, 570.0),
        "2026-11-09": stats(2, 630.0, 630.0, 1086.0),
    }
    assert list(durations["mttd"]["by_period"]) == ["2026-11-02", "2026-11-09", "2026-11-16"]
    stages = {k: v.overall for k, v in report.stages.items()}
    open_acknowledged = 24 * 86400 + 14 * 3600 + 40 * 60  # a4 from Nov 10 09:20 until NOW
    open_new = 15 * 86400  # a5 from Nov 20 until NOW
    assert list(stages) == ["new", "acknowledged", "in_progress"]
    assert stages["new"] == DurationStats.of([300, 600, 60, 1200, open_new])
    assert stages["new"].median == 600
    assert stages["acknowledged"] == DurationStats.of([3300, 600, 1740, open_acknowledged])
    assert stages["in_progress"].to_dict() == stats(1, 6000.0, 6000.0, 6000.0)


def test_alert_counts_rules_and_sla_compliance(metrics, reader, world):
    report = metrics.compute(reader, since=SINCE, until=UNTIL, now=NOW)
    assert report.by_status == {"new": 1, "acknowledged": 1, "closed": 3}
    assert report.by_severity == {"critical": 1, "high": 2, "medium": 1, "low": 1}
    assert report.by_classification == {
        "benign_positive": 1,
        "false_positive": 1,
        "true_positive": 1,
    }
    assert [r.to_dict() for r in report.rules] == [
        {
            "rule_id": "dns.dga",
            "total": 3,
            "open": 1,
            "closed": 2,
            "classifications": {"benign_positive": 1, "false_positive": 1},
            "noise_ratio": 1.0,
        },
        {
            "rule_id": "net.scan",
            "total": 2,
            "open": 1,
            "closed": 1,
            "classifications": {"true_positive": 1},
            "noise_ratio": 0.0,
        },
    ]
    # Acknowledge: a1 (5 of 10 min), a2 (10 of 10), a4 (20 of 30) met; a5 never: breached.
    # Resolve: a1 met, a2 (120 of 90 min) breached, a4 (open, 60 days) pending.
    sla = {k: v.to_dict() for k, v in report.sla.items()}
    assert sla["acknowledge"]["overall"] == {
        "met": 3,
        "breached": 1,
        "pending": 0,
        "compliance": 0.75,
    }
    assert sla["resolve"]["overall"] == {"met": 1, "breached": 1, "pending": 1, "compliance": 0.5}
    assert sla["acknowledge"]["by_team"]["Security"] == {
        "met": 2,
        "breached": 1,
        "pending": 0,
        "compliance": 2 / 3,
    }


def test_team_filter_and_month_periods(metrics, reader, world):
    report = metrics.compute(
        reader, since=SINCE, until=UNTIL, now=NOW, team_id=world["security"], period="month"
    )
    assert report.total == 3
    assert report.durations["mtta"].overall.to_dict() == stats(2, 450.0, 450.0, 570.0)
    assert list(report.durations["mttd"].by_team) == ["Security"]
    assert report.durations["mttd"].by_period["2026-11-01"].count == 3
    assert [r.rule_id for r in report.rules] == ["dns.dga", "net.scan"]
    assert metrics.team_id(reader, "Security") == world["security"]
    with pytest.raises(NotFoundError, match="team 'Nobody'"):
        metrics.team_id(reader, "Nobody")


def test_case_metrics(metrics, reader, world):
    report = metrics.compute(reader, since=SINCE, until=UNTIL, now=NOW, entity_type="case")
    assert report.total == 2
    assert list(report.durations) == ["mtta", "mttr"]
    assert report.durations["mtta"].overall.to_dict() == stats(1, 1800.0, 1800.0, 1800.0)
    assert report.durations["mttr"].overall.to_dict() == stats(1, 18000.0, 18000.0, 18000.0)
    stages = {k: v.overall for k, v in report.stages.items()}
    assert list(stages) == ["new", "in_progress", "on_hold"]
    assert stages["new"] == DurationStats.of([1800, 30 * 86400 + 14 * 3600])
    assert stages["in_progress"] == DurationStats.of([1800 + 7200])
    assert stages["on_hold"] == DurationStats.of([7200])
    assert report.rules == []
    assert report.sla == {}  # no case policies
    assert report.by_classification == {"true_positive": 1}
    assert report.durations["mtta"].by_team == {"Security": DurationStats.of([1800])}


def test_report_forms(metrics, reader, world):
    report = metrics.compute(reader, since=SINCE, until=UNTIL, now=NOW, period="day")
    data = report.to_dict()
    assert data["since"] == "2026-11-01T00:00:00+00:00"
    assert data["counts"]["total"] == 5
    assert data["durations"]["mttr"]["by_period"]["2026-11-02"] == stats(2, 5400.0, 5400.0, 6840.0)
    assert data["rules"][0]["rule_id"] == "dns.dga"
    rows = report.rows()
    by_key = {(r["section"], r["metric"], r["group"], r["key"]): r for r in rows}
    assert by_key[("duration", "mtta", "overall", "all")]["mean"] == 540.0
    assert by_key[("duration", "mtta", "team", "Security")]["count"] == 2
    assert by_key[("stage", "in_progress", "overall", "all")]["median"] == 6000.0
    assert by_key[("sla", "resolve", "overall", "all")]["value"] == 0.5
    assert by_key[("count", "severity", "overall", "high")]["count"] == 2
    assert by_key[("rule", "noise_ratio", "overall", "dns.dga")]["value"] == 1.0


def test_an_empty_window(metrics, reader, world):
    report = metrics.compute(reader, since=utc(2025, 1, 1), until=utc(2025, 2, 1), now=NOW)
    assert report.total == 0
    assert report.durations["mtta"].overall == DurationStats(0, None, None, None)
    assert report.rules == []
    assert report.sla == {}


def test_bad_requests(metrics, reader):
    with pytest.raises(InvalidInputError, match="must be after since"):
        metrics.compute(reader, since=UNTIL, until=SINCE)
    with pytest.raises(InvalidInputError, match="unknown period 'year'"):
        metrics.compute(reader, since=SINCE, until=UNTIL, period="year")
    with pytest.raises(InvalidInputError, match="unknown entity type"):
        metrics.compute(reader, since=SINCE, until=UNTIL, entity_type="task")
    ingest_only = Principal("token", "forwarder", frozenset({Permission.INGEST}))
    with pytest.raises(PermissionDeniedError, match="metrics.read"):
        metrics.compute(ingest_only, since=SINCE, until=UNTIL)


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([7.0], Fraction(9, 10), 7.0),
        ([1.0, 2.0], Fraction(9, 10), 1.9),
        ([0.0, 10.0, 60.0, 120.0, 3600.0], Fraction(9, 10), 2208.0),
        ([60.0, 300.0, 600.0, 1200.0], Fraction(1, 2), 450.0),
        ([60.0, 300.0, 600.0, 1200.0], Fraction(1), 1200.0),
    ],
)
def test_percentile(values, fraction, expected):
    assert percentile(values, fraction) == expected


@pytest.mark.parametrize(
    ("period", "expected"),
    [("day", "2026-11-05"), ("week", "2026-11-02"), ("month", "2026-11-01")],
)
def test_period_start(period, expected):
    assert period_start(utc(2026, 11, 5, 23, 59), period).isoformat() == expected
