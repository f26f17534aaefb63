from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.workspace.history_builder import Story, utc
from tocsin.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tocsin.core.scheduler import Job
from tocsin.core.settings import Settings
from tocsin.workspace import tables
from tocsin.workspace.history import HistoryService
from tocsin.workspace.jobs import SlaJob
from tocsin.workspace.sla import UNSET, SlaService, SlaStateName

T0 = utc(2026, 11, 2, 10, 0)  # a Monday
OK, AT_RISK, BREACHED, MET, PAUSED = (
    SlaStateName.OK,
    SlaStateName.AT_RISK,
    SlaStateName.BREACHED,
    SlaStateName.MET,
    SlaStateName.PAUSED,
)


def minutes(n, seconds=0):
    return timedelta(minutes=n, seconds=seconds)


@pytest.fixture
def sla(db, tmp_path):
    return SlaService(db, Settings(home=tmp_path / "home"))


@pytest.fixture
def story(db):
    return Story(db)


@pytest.fixture
def high_alert_policy(sla, admin):
    return sla.create_policy(
        admin, "high alerts", "alert", "high", acknowledge_minutes=30, resolve_minutes=240
    )


@pytest.mark.parametrize(
    ("after", "state", "elapsed", "remaining"),
    [
        (minutes(10), OK, minutes(10), minutes(20)),
        (minutes(23, 59), OK, minutes(23, 59), minutes(6, 1)),
        (minutes(24), AT_RISK, minutes(24), minutes(6)),  # 80 % of 30 minutes
        (minutes(30), AT_RISK, minutes(30), minutes(0)),  # due, not yet past
        (minutes(31), BREACHED, minutes(31), minutes(-1)),
    ],
)
def test_acknowledge_target_of_an_open_alert(
    sla, story, reader, high_alert_policy, after, state, elapsed, remaining
):
    alert = story.alert(T0)
    status = sla.status(reader, "alert", alert, now=T0 + after)
    assert status.policy_id == high_alert_policy.id
    assert status.policy_name == "high alerts"
    ack = status.acknowledge
    assert (ack.state, ack.elapsed, ack.remaining) == (state, elapsed, remaining)
    assert ack.due_at == T0 + minutes(30)
    assert ack.met_at is None
    assert status.resolve.due_at == T0 + minutes(240)
    assert status.resolve.state is OK


def test_met_and_late_targets(sla, story, reader, high_alert_policy):
    quick = story.alert(T0)
    story.move("alert", quick, T0 + minutes(20), "acknowledged")
    story.move("alert", quick, T0 + minutes(50), "in_progress")
    story.close("alert", quick, T0 + minutes(180), "true_positive")
    late = story.alert(T0)
    story.move("alert", late, T0 + minutes(40), "in_progress")  # skipping "acknowledged"
    now = T0 + minutes(300)

    statuses = sla.status_many(reader, "alert", [late, quick, 999], now=now)
    assert list(statuses) == [late, quick]
    ack = statuses[quick].acknowledge
    assert (ack.state, ack.met_at, ack.elapsed, ack.remaining) == (
        MET,
        T0 + minutes(20),
        minutes(20),
        minutes(10),
    )
    resolve = statuses[quick].resolve
    assert (resolve.state, resolve.met_at, resolve.elapsed) == (
        MET,
        T0 + minutes(180),
        minutes(180),
    )
    late_ack = statuses[late].acknowledge
    assert (late_ack.state, late_ack.met_at, late_ack.remaining) == (
        BREACHED,
        T0 + minutes(40),
        minutes(-10),
    )
    assert statuses[late].resolve.state is BREACHED  # open for 300 of 240 minutes
    # Looking at a time before the acknowledgement ignores what came later.
    earlier = sla.status(reader, "alert", quick, now=T0 + minutes(10))
    assert earlier.acknowledge.state is OK
    assert earlier.acknowledge.met_at is None


def test_pause_statuses_stop_the_clock(sla, story, admin, reader):
    sla.create_policy(
        admin,
        "medium cases",
        "case",
        "medium",
        acknowledge_minutes=60,
        resolve_minutes=120,
        pause_statuses=["on_hold"],
    )
    case = story.case(T0)
    story.move("case", case, T0 + minutes(10), "in_progress")
    story.move("case", case, T0 + minutes(30), "on_hold")
    story.move("case", case, T0 + minutes(150), "in_progress")

    during = sla.status(reader, "case", case, now=T0 + minutes(60))
    assert during.acknowledge.state is MET
    resolve = during.resolve
    assert (resolve.state, resolve.elapsed, resolve.remaining, resolve.due_at) == (
        PAUSED,
        minutes(30),
        minutes(90),
        None,
    )

    after = sla.status(reader, "case", case, now=T0 + minutes(180)).resolve
    # 30 minutes before the hold, 30 after it: 60 of 120; due 90 minutes after resuming.
    assert (after.state, after.elapsed, after.due_at) == (OK, minutes(60), T0 + minutes(240))
    assert sla.status(reader, "case", case, now=T0 + minutes(215)).resolve.state is OK
    assert sla.status(reader, "case", case, now=T0 + minutes(216)).resolve.state is AT_RISK
    assert sla.status(reader, "case", case, now=T0 + minutes(241)).resolve.state is BREACHED


def test_business_hours_apply_to_targets(sla, story, admin, reader):
    sla.create_policy(
        admin,
        "critical cases, office hours",
        "case",
        "critical",
        acknowledge_minutes=60,
        business_hours={"timezone": "UTC", "start": "09:00", "end": "17:00"},
    )
    friday = utc(2026, 11, 27, 16, 30)
    case = story.case(friday, severity="critical")
    saturday = sla.status(reader, "case", case, now=utc(2026, 11, 28, 12)).acknowledge
    assert (saturday.state, saturday.elapsed, saturday.due_at) == (
        OK,
        minutes(30),
        utc(2026, 11, 30, 9, 30),
    )
    assert sla.status(reader, "case", case, now=utc(2026, 11, 30, 9, 18)).acknowledge.state is (
        AT_RISK
    )
    monday = sla.status(reader, "case", case, now=utc(2026, 11, 30, 9, 31)).acknowledge
    assert (monday.state, monday.remaining) == (BREACHED, minutes(-1))
    assert sla.status(reader, "case", case, now=friday).resolve is None


def test_the_team_policy_wins_and_disabled_policies_are_ignored(sla, story, admin, reader):
    security = story.team("Security")
    it_ops = story.team("IT operations")
    general = sla.create_policy(admin, "any team", "alert", "high", acknowledge_minutes=30)
    special = sla.create_policy(
        admin, "security", "alert", "high", team_id=security, acknowledge_minutes=10
    )
    ours = story.alert(T0, team_id=security)
    theirs = story.alert(T0, team_id=it_ops)
    low = story.alert(T0, severity="low")
    found = sla.status_many(reader, "alert", [ours, theirs, low], now=T0)
    assert found[ours].policy_id == special.id
    assert found[ours].acknowledge.due_at == T0 + minutes(10)
    assert found[theirs].policy_id == general.id
    assert found[low].policy_id is None
    assert found[low].targets == ()
    assert found[low].to_dict()["targets"] == {}

    sla.update_policy(admin, special.id, enabled=False)
    assert sla.status(reader, "alert", ours, now=T0).policy_id == general.id


def test_near_breach_percent_sets_when_a_target_is_at_risk(sla, story, admin, reader):
    sla.create_policy(
        admin, "early warning", "alert", "medium", resolve_minutes=60, near_breach_percent=50
    )
    alert = story.alert(T0, severity="medium")
    assert sla.status(reader, "alert", alert, now=T0 + minutes(29, 59)).resolve.state is OK
    assert sla.status(reader, "alert", alert, now=T0 + minutes(30)).resolve.state is AT_RISK
    assert sla.status(reader, "alert", alert, now=T0 + minutes(30)).acknowledge is None


def test_status_of_an_unknown_item(sla, reader):
    with pytest.raises(NotFoundError, match="alert 42"):
        sla.status(reader, "alert", 42)
    with pytest.raises(InvalidInputError, match="unknown entity type 'task'"):
        sla.status(reader, "task", 1)


def test_policy_management(sla, story, admin, analyst, reader):
    team = story.team("Security")
    policy = sla.create_policy(
        admin,
        "  cases  ",
        "case",
        "HIGH",
        team_id=team,
        resolve_minutes=480,
        business_hours={"weekdays": ["mon", "tue"], "timezone": "Europe/Berlin"},
        pause_statuses=["on_hold", "on_hold"],
        near_breach_percent=90,
    )
    assert policy.to_dict() == {
        "id": policy.id,
        "name": "cases",
        "entity_type": "case",
        "severity": "high",
        "team_id": team,
        "acknowledge_minutes": None,
        "resolve_minutes": 480,
        "business_hours": {
            "timezone": "Europe/Berlin",
            "weekdays": ["mon", "tue"],
            "start": "09:00",
            "end": "17:00",
            "holidays": [],
        },
        "pause_statuses": ["on_hold"],
        "near_breach_percent": 90,
        "enabled": True,
        "created_at": policy.created_at.isoformat(),
    }
    with pytest.raises(ConflictError, match="already covers high cases of team"):
        sla.create_policy(admin, "again", "case", "high", team_id=team, resolve_minutes=5)
    other = sla.create_policy(admin, "all teams", "case", "high", resolve_minutes=600)

    updated = sla.update_policy(
        admin, policy.id, acknowledge_minutes=15, business_hours=None, team_id=UNSET
    )
    assert (updated.acknowledge_minutes, updated.business_hours, updated.team_id) == (
        15,
        None,
        team,
    )
    with pytest.raises(ConflictError):
        sla.update_policy(admin, policy.id, team_id=None)
    assert sla.get_policy(reader, policy.id).team_id == team

    page = sla.list_policies(reader, entity_type="case", sort="-id")
    assert [p.id for p in page.items] == [other.id, policy.id]
    assert page.total == 2
    assert sla.list_policies(reader, team_id=team).items == [updated]

    for who in (analyst, reader):
        with pytest.raises(PermissionDeniedError, match="sla.manage"):
            sla.create_policy(who, "x", "alert", "low", acknowledge_minutes=1)
        with pytest.raises(PermissionDeniedError):
            sla.delete_policy(who, policy.id)

    sla.delete_policy(admin, policy.id)
    with pytest.raises(NotFoundError):
        sla.get_policy(reader, policy.id)
    with pytest.raises(NotFoundError):
        sla.delete_policy(admin, policy.id)
    with pytest.raises(NotFoundError, match="team 999"):
        sla.create_policy(admin, "x", "alert", "low", team_id=999, acknowledge_minutes=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs acknowledge_minutes, resolve_minutes or both"),
        ({"acknowledge_minutes": 0}, "acknowledge_minutes 0 must be a positive"),
        ({"acknowledge_minutes": 5, "pause_statuses": ["closed"]}, "'closed' cannot pause"),
        ({"acknowledge_minutes": 5, "pause_statuses": ["on_hold"]}, "'on_hold' cannot pause"),
        ({"acknowledge_minutes": 5, "near_breach_percent": 0}, "must be 1 to 100"),
        ({"acknowledge_minutes": 5, "business_hours": {"timezone": "Nowhere/X"}}, "time zone"),
    ],
)
def test_invalid_policies_are_refused(sla, admin, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        sla.create_policy(admin, "bad", "alert", "low", **kwargs)


def test_invalid_policy_fields(sla, admin):
    with pytest.raises(InvalidInputError, match="unknown severity 'urgent'"):
        sla.create_policy(admin, "x", "alert", "urgent", acknowledge_minutes=1)
    with pytest.raises(InvalidInputError, match="unknown entity type"):
        sla.create_policy(admin, "x", "task", "low", acknowledge_minutes=1)
    with pytest.raises(InvalidInputError, match="needs a name"):
        sla.create_policy(admin, " ", "alert", "low", acknowledge_minutes=1)


def _outbox(db):
    with db.session() as session:
        return [
            (n.event, n.payload)
            for n in session.scalars(select(tables.Notification).order_by(tables.Notification.id))
        ]


def _states(db):
    with db.session() as session:
        return {
            (s.entity_type, s.entity_id, s.target): s.state
            for s in session.scalars(select(tables.SlaState))
        }


def test_check_notifies_each_transition_once(db, sla, story, admin, high_alert_policy):
    story.subscribe_everything()
    security = story.team("Security")
    owner = story.user("owen")
    alert = story.alert(T0, team_id=security, assignee_id=owner, title="beacon to 203.0.113.9")
    quiet = story.alert(T0, severity="low")  # no policy for low alerts

    assert sla.check(now=T0 + minutes(10)) == []
    at_risk = sla.check(now=T0 + minutes(25))
    assert [(e.entity_id, e.target, e.previous, e.state, e.notified) for e in at_risk] == [
        (alert, "acknowledge", None, "at_risk", True)
    ]
    assert at_risk[0].due_at == T0 + minutes(30)
    assert sla.check(now=T0 + minutes(26)) == []
    breached = sla.check(now=T0 + minutes(31))
    assert [(e.target, e.previous, e.state) for e in breached] == [
        ("acknowledge", "at_risk", "breached")
    ]
    assert sla.check(now=T0 + minutes(40)) == []

    outbox = _outbox(db)
    assert [event for event, _ in outbox] == ["sla.at_risk", "sla.breached"]
    assert outbox[1][1] == {
        "event": "sla.breached",
        "entity_type": "alert",
        "entity_id": alert,
        "target": "acknowledge",
        "state": "breached",
        "due_at": (T0 + minutes(30)).isoformat(),
        "policy": "high alerts",
        "policy_id": high_alert_policy.id,
        "title": "beacon to 203.0.113.9",
        "severity": "high",
    }
    changes = [
        (h.actor, h.action, h.field, h.before, h.after, h.at)
        for h in HistoryService(db).history(admin, "alert", alert)
        if h.field and h.field.startswith("sla.")
    ]
    assert changes == [
        ("sla", "update", "sla.acknowledge", None, "at_risk", T0 + minutes(25)),
        ("sla", "update", "sla.acknowledge", "at_risk", "breached", T0 + minutes(31)),
    ]
    assert _states(db) == {("alert", alert, "acknowledge"): "breached"}
    assert HistoryService(db).history(admin, "alert", quiet)[-1].action == "create"

    # The resolve target (240 minutes) comes at risk at 192 minutes, then the alert is closed.
    assert [e.target for e in sla.check(now=T0 + minutes(192))] == ["resolve"]
    story.move("alert", alert, T0 + minutes(200), "acknowledged")
    story.close("alert", alert, T0 + minutes(210), "true_positive")
    final = sla.check(now=T0 + minutes(220))
    assert [(e.target, e.previous, e.state, e.notified) for e in final] == [
        ("resolve", "at_risk", "met", False)
    ]
    assert _states(db) == {
        ("alert", alert, "acknowledge"): "breached",
        ("alert", alert, "resolve"): "met",
    }
    assert sla.check(now=T0 + minutes(230)) == []
    assert [event for event, _ in _outbox(db)] == ["sla.at_risk", "sla.breached", "sla.at_risk"]
    assert sla._candidates("alert")[1] == []  # settled: no longer looked at


def test_check_records_final_states_of_items_closed_between_checks(db, sla, story, admin):
    story.subscribe_everything()
    sla.create_policy(
        admin, "medium cases", "case", "medium", acknowledge_minutes=60, resolve_minutes=90
    )
    late = story.case(T0)
    story.move("case", late, T0 + minutes(5), "in_progress")
    story.close("case", late, T0 + minutes(120), "true_positive")
    quick = story.case(T0)
    story.close("case", quick, T0 + minutes(30), "false_positive")

    events = sla.check(now=T0 + minutes(180))
    assert sorted((e.entity_id, e.target, e.state, e.notified) for e in events) == sorted(
        [
            (late, "acknowledge", "met", False),
            (late, "resolve", "breached", False),
            (quick, "acknowledge", "met", False),
            (quick, "resolve", "met", False),
        ]
    )
    assert _outbox(db) == []
    assert sla.check(now=T0 + minutes(200)) == []

    # Reopened and closed again: looked at once more, nothing changed.
    story.move("case", quick, T0 + minutes(300), "in_progress")
    story.close("case", quick, T0 + minutes(310), "false_positive")
    assert sla._candidates("case")[1] == [quick]
    assert sla.check(now=T0 + minutes(320)) == []
    assert sla._candidates("case")[1] == []


def test_check_skips_paused_items(db, sla, story, admin):
    story.subscribe_everything()
    sla.create_policy(
        admin, "cases", "case", "medium", resolve_minutes=60, pause_statuses=["on_hold"]
    )
    case = story.case(T0)
    story.move("case", case, T0 + minutes(10), "on_hold")
    assert sla.check(now=T0 + minutes(500)) == []
    story.move("case", case, T0 + minutes(500), "in_progress")
    events = sla.check(now=T0 + minutes(550))  # 10 + 50 of 60 minutes
    assert [(e.target, e.state, e.due_at) for e in events] == [
        ("resolve", "at_risk", T0 + minutes(550))
    ]
    assert [event for event, _ in _outbox(db)] == ["sla.at_risk"]


def test_sla_job_runs_the_check(db, db_url, story, tmp_path, admin):
    settings = Settings(home=tmp_path / "home", database_url=db_url, sla_interval_seconds=15)
    SlaService(db, settings).create_policy(
        admin, "high alerts", "alert", "high", acknowledge_minutes=30
    )
    alert = story.alert(datetime.now(UTC) - timedelta(hours=1))
    job = SlaJob()
    assert isinstance(job, Job)
    assert job.id == "workspace.sla"
    assert job.interval(settings) == 15
    assert job.interval(Settings(home=tmp_path / "home", sla_interval_seconds=0)) is None
    try:
        assert job.run(settings) == "1 SLA state changes, 1 notified"
        assert job.run(settings) == "0 SLA state changes, 0 notified"
    finally:
        job.close()
    assert _states(db) == {("alert", alert, "acknowledge"): "breached"}
