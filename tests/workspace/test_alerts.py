"""AlertService on a real database (SQLite and PostgreSQL): raising, dedup, stages, lists."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tocsin.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tocsin.core.event import Reason
from tocsin.core.settings import Settings
from tocsin.workspace.alert_raise import MAX_KEY_LENGTH
from tocsin.workspace.alerts import KEEP, AlertService
from tocsin.workspace.models import AlertDraft, Classification, Observable
from tocsin.workspace.tables import (
    Alert,
    HistoryRecord,
    Notification,
    NotificationChannel,
    Subscription,
    Team,
    TeamMember,
    User,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path / "home", alert_dedup_minutes=60, alert_event_ids_max=4)


@pytest.fixture
def svc(db, settings):
    return AlertService(db, settings)


def add_user(db, name, role="analyst", *, disabled=False, email=None):
    with db.session() as session:
        user = User(
            username=name,
            display_name=name,
            email=email,
            role=role,
            password_hash="x",
            disabled=disabled,
            created_at=T0,
        )
        session.add(user)
        session.flush()
        return user.id


def add_team(db, name, members=()):
    with db.session() as session:
        team = Team(name=name, description="", created_at=T0)
        session.add(team)
        session.flush()
        for user_id in members:
            session.add(TeamMember(team_id=team.id, user_id=user_id))
        return team.id


def subscribe(db, events, *, min_severity="high", user_id=None, team_id=None):
    with db.session() as session:
        channel = NotificationChannel(
            name=f"hook-{'-'.join(events)}-{user_id}-{team_id}",
            kind="webhook",
            config={"url": "http://127.0.0.1:9/hook"},
            enabled=True,
            created_at=T0,
        )
        session.add(channel)
        session.flush()
        session.add(
            Subscription(
                channel_id=channel.id,
                user_id=user_id,
                team_id=team_id,
                events=list(events),
                min_severity=min_severity,
                created_at=T0,
            )
        )


def history(db, alert_id):
    with db.session() as session:
        rows = session.scalars(
            select(HistoryRecord)
            .where(HistoryRecord.entity_type == "alert", HistoryRecord.entity_id == alert_id)
            .order_by(HistoryRecord.id)
        ).all()
        return [(r.action, r.field, r.before, r.after, r.actor) for r in rows]


def notifications(db):
    with db.session() as session:
        return [
            (n.event, n.payload)
            for n in session.scalars(select(Notification).order_by(Notification.id))
        ]


def draft(key="k1", *, rule="sigma-1", severity="high", events=("e1",), **kw):
    return AlertDraft(
        rule_id=rule,
        title=kw.pop("title", f"Suspicious {key}"),
        severity=severity,
        event_ids=events,
        dedup_key=key,
        **kw,
    )


def alert_count(db):
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Alert))


# -- raising -------------------------------------------------------------------------------------


def test_raise_stores_every_field_and_a_create_record(db, svc, admin):
    team = add_team(db, "Security")
    result = svc.raise_alerts(
        [
            AlertDraft(
                rule_id="dns.dga",
                title="DGA domain looked up",
                severity="HIGH",
                event_ids=["ev-1", "ev-2"],
                observables=[
                    Observable.of("domain", "xjqzv.example"),
                    Observable.of("ip", "10.0.0.7"),
                ],
                tags=["attack.t1568.002"],
                reasons=[Reason("entropy", "dns.question.name=xjqzv.example", 0.8)],
                event_time=T0 - timedelta(minutes=5),
                description="looks generated",
                team="Security",
                source="dns",
                fields={"host.name": "ws-1", "seen": T0},
            )
        ],
        now=T0,
    )
    assert result.updated == [] and result.suppressed == 0
    (alert_id,) = result.created
    alert = svc.get(admin, alert_id)
    assert alert.severity == "high" and alert.severity_rank == 3
    assert alert.status == "new" and alert.count == 1 and alert.version == 1
    assert alert.team_id == team and alert.team_name == "Security"
    assert alert.observables == [
        {"type": "domain", "value": "xjqzv.example"},
        {"type": "ip", "value": "10.0.0.7"},
    ]
    assert alert.reasons == [
        {"check": "entropy", "detail": "dns.question.name=xjqzv.example", "weight": 0.8}
    ]
    assert alert.event_ids == ["ev-1", "ev-2"]
    assert alert.tags == ["attack.t1568.002"]
    assert alert.fields == {"host.name": "ws-1", "seen": T0.isoformat()}
    assert alert.first_seen == T0 - timedelta(minutes=5)
    assert alert.last_seen == T0 and alert.created_at == T0
    assert alert.dedup_key == "dns.dga|domain=xjqzv.example|ip=10.0.0.7"
    assert alert.source == "dns" and alert.description == "looks generated"
    (record,) = history(db, alert_id)
    action, field, before, after, actor = record
    assert (action, field, before, actor) == ("create", None, None, "system")
    assert after["status"] == "new" and after["severity"] == "high"
    assert after["rule_id"] == "dns.dga" and after["team_id"] == team
    body = alert.to_dict()
    assert body["created_at"] == T0.isoformat() and body["assignee_name"] is None


def test_first_seen_defaults_to_the_raise_time(svc, admin):
    alert_id = svc.raise_alert(draft())
    alert = svc.get(admin, alert_id)
    assert alert.first_seen == alert.created_at == alert.last_seen


def test_unknown_team_name_is_logged_and_left_empty(svc, admin, caplog):
    with caplog.at_level(logging.WARNING, logger="tocsin.workspace.alert_raise"):
        alert_id = svc.raise_alert(draft(team="Nobody"))
    assert svc.get(admin, alert_id).team_id is None
    record = next(r for r in caplog.records if r.getMessage() == "alert names an unknown team")
    assert record.team == "Nobody"


def test_repeats_in_one_batch_fold_into_one_alert(svc, admin):
    result = svc.raise_alerts(
        [
            draft("a", events=("e1",), severity="low", event_time=T0 - timedelta(minutes=1)),
            draft("b", events=("x1",)),
            draft(
                "a", events=("e2", "e3"), severity="critical", event_time=T0 - timedelta(minutes=9)
            ),
            draft("a", events=("e4", "e5")),
        ],
        now=T0,
    )
    assert len(result.created) == 2 and result.updated == []
    folded = svc.get(admin, result.created[0])
    assert folded.dedup_key == "a"
    assert folded.count == 3
    assert folded.event_ids == ["e1", "e2", "e3", "e4"]  # alert_event_ids_max is 4
    assert folded.severity == "critical"  # the highest of the batch
    assert folded.first_seen == T0 - timedelta(minutes=9)
    assert svc.get(admin, result.created[1]).count == 1


def test_repeats_across_batches_grow_the_open_alert(db, svc, admin):
    first = svc.raise_alerts([draft("a", events=("e1", "e2"))], now=T0)
    later = T0 + timedelta(minutes=59)
    second = svc.raise_alerts(
        [draft("a", events=("e2", "e3")), draft("a", events=("e4", "e5"))], now=later
    )
    assert second.created == [] and second.updated == first.created
    alert = svc.get(admin, first.created[0])
    assert alert.count == 3
    assert alert.last_seen == later
    assert alert.event_ids == ["e1", "e2", "e3", "e4"]  # no repeat of e2, capped at 4
    assert alert.version == 1  # a repeat does not make an analyst's copy stale
    assert history(db, alert.id)[-1] == ("update", "count", 1, 3, "system")
    assert alert_count(db) == 1


def test_window_expiry_and_closed_alerts_start_a_new_alert(svc, admin):
    first = svc.raise_alerts([draft("a")], now=T0).created[0]
    late = svc.raise_alerts([draft("a")], now=T0 + timedelta(minutes=61))
    assert late.updated == [] and len(late.created) == 1 and late.created[0] != first
    # the newest open alert of the key takes the next repeat
    again = svc.raise_alerts([draft("a")], now=T0 + timedelta(minutes=62))
    assert again.updated == late.created
    svc.close(admin, late.created[0], "false_positive")
    after_close = svc.raise_alerts([draft("a")], now=T0 + timedelta(minutes=63))
    assert len(after_close.created) == 1 and after_close.updated == []


def test_raise_alert_returns_the_id_of_the_new_or_grown_alert(svc):
    created = svc.raise_alert(draft("a"))
    assert created is not None
    assert svc.raise_alert(draft("a")) == created


def test_unknown_severity_refuses_the_whole_batch(db, svc):
    with pytest.raises(InvalidInputError, match="draft 1 .*unknown severity 'urgent'"):
        svc.raise_alerts([draft("a"), draft("b", severity="urgent")])
    assert alert_count(db) == 0


def test_info_severity_alias_and_empty_batch(svc, admin):
    assert svc.raise_alerts([]).created == []
    alert_id = svc.raise_alert(draft(severity="info"))
    assert svc.get(admin, alert_id).severity == "informational"


def test_long_dedup_keys_are_shortened_with_a_hash(svc, admin):
    long_a = "k" * 3000 + "a"
    long_b = "k" * 3000 + "b"
    a = svc.raise_alert(draft(long_a))
    b = svc.raise_alert(draft(long_b))
    assert a != b
    stored = svc.get(admin, a).dedup_key
    assert len(stored) == MAX_KEY_LENGTH
    assert svc.raise_alert(draft(long_a)) == a


def test_only_triage_principals_raise(svc, reader, responder):
    with pytest.raises(PermissionDeniedError):
        svc.raise_alerts([draft()], actor=reader)
    assert svc.raise_alerts([draft()], actor=responder).created


def test_new_alerts_queue_notifications_for_subscribers(db, svc):
    subscribe(db, ["alert.created"], min_severity="high")
    result = svc.raise_alerts(
        [draft("a", severity="critical", title="Ransom note"), draft("b", severity="low")]
    )
    queued = notifications(db)
    assert len(queued) == 1
    event, payload = queued[0]
    assert event == "alert.created"
    assert payload == {
        "event": "alert.created",
        "id": result.created[0],
        "title": "Ransom note",
        "rule_id": "sigma-1",
        "severity": "critical",
    }
    svc.raise_alerts([draft("a", severity="critical")])  # a repeat notifies nobody
    assert len(notifications(db)) == 1


# -- stages --------------------------------------------------------------------------------------


def test_acknowledge_start_close_reopen(db, svc, analyst):
    alert_id = svc.raise_alert(draft())
    acked = svc.acknowledge(analyst, alert_id)
    assert acked.status == "acknowledged" and acked.version == 2
    assert acked.acknowledged_at is not None
    again = svc.acknowledge(analyst, alert_id)  # already there: no change
    assert again.version == 2 and again.acknowledged_at == acked.acknowledged_at
    started = svc.start(analyst, alert_id)
    assert started.status == "in_progress" and started.acknowledged_at == acked.acknowledged_at
    closed = svc.close(analyst, alert_id, Classification.TRUE_POSITIVE, comment=" contained ")
    assert closed.status == "closed" and closed.classification == "true_positive"
    assert closed.close_comment == "contained" and closed.closed_at is not None
    reopened = svc.reopen(analyst, alert_id)
    assert reopened.status == "in_progress"
    assert reopened.classification is None and reopened.closed_at is None
    assert reopened.close_comment is None
    assert [h[:4] for h in history(db, alert_id)[1:]] == [
        ("update", "status", "new", "acknowledged"),
        ("update", "status", "acknowledged", "in_progress"),
        ("update", "status", "in_progress", "closed"),
        ("update", "classification", None, "true_positive"),
        ("update", "close_comment", None, "contained"),
        ("reopen", "status", "closed", "in_progress"),
        ("update", "classification", "true_positive", None),
        ("update", "close_comment", "contained", None),
    ]
    assert {h[4] for h in history(db, alert_id)[1:]} == {"ana"}


def test_closing_straight_from_new_acknowledges_it(svc, analyst):
    alert_id = svc.raise_alert(draft())
    closed = svc.close(analyst, alert_id, "false-positive")
    assert closed.classification == "false_positive"
    assert closed.acknowledged_at == closed.closed_at


def test_moving_backwards_is_refused(svc, analyst):
    alert_id = svc.raise_alert(draft())
    svc.start(analyst, alert_id)
    with pytest.raises(InvalidInputError, match="cannot go back to 'acknowledged'"):
        svc.acknowledge(analyst, alert_id)
    svc.close(analyst, alert_id, "benign_positive")
    for move in (svc.acknowledge, svc.start):
        with pytest.raises(InvalidInputError, match="closed: reopen it first"):
            move(analyst, alert_id)
    with pytest.raises(InvalidInputError, match="already closed"):
        svc.close(analyst, alert_id, "duplicate")
    svc.reopen(analyst, alert_id)
    with pytest.raises(InvalidInputError, match="not closed"):
        svc.reopen(analyst, alert_id)


def test_close_needs_a_known_classification(svc, analyst):
    alert_id = svc.raise_alert(draft())
    with pytest.raises(InvalidInputError, match="unknown classification 'maybe'"):
        svc.close(analyst, alert_id, "maybe")
    with pytest.raises(InvalidInputError, match="unknown classification ''"):
        svc.close(analyst, alert_id, "")


def test_a_stale_version_is_a_conflict(svc, analyst, responder):
    alert_id = svc.raise_alert(draft())
    seen = svc.get(analyst, alert_id).version
    svc.acknowledge(responder, alert_id, version=seen)
    with pytest.raises(ConflictError, match=r"version 2, you had 1\): reload and retry"):
        svc.close(analyst, alert_id, "true_positive", version=seen)
    assert svc.get(analyst, alert_id).status == "acknowledged"
    assert svc.close(analyst, alert_id, "true_positive", version=2).version == 3


def test_role_permissions_are_checked_by_the_service(svc, reader, responder, analyst):
    alert_id = svc.raise_alert(draft())
    assert svc.get(reader, alert_id).id == alert_id
    assert svc.list(reader).total == 1
    for call in (
        lambda: svc.acknowledge(reader, alert_id),
        lambda: svc.start(reader, alert_id),
        lambda: svc.comment(reader, alert_id, "hi"),
        lambda: svc.assign(reader, alert_id, team_id=None),
        lambda: svc.close(responder, alert_id, "true_positive"),
        lambda: svc.reopen(responder, alert_id),
        lambda: svc.bulk(responder, [alert_id], "close", classification="duplicate"),
    ):
        with pytest.raises(PermissionDeniedError):
            call()
    assert svc.get(analyst, alert_id).status == "new"
    assert svc.acknowledge(responder, alert_id).status == "acknowledged"


def test_missing_alerts_are_not_found(svc, analyst):
    for call in (
        lambda: svc.get(analyst, 404),
        lambda: svc.acknowledge(analyst, 404),
        lambda: svc.comment(analyst, 404, "x"),
        lambda: svc.comments(analyst, 404),
        lambda: svc.events(analyst, 404),
    ):
        with pytest.raises(NotFoundError, match="no alert 404"):
            call()


# -- assignment, comments, bulk -----------------------------------------------------------------


def test_assign_to_user_and_team_with_history_and_notification(db, svc, analyst):
    ana = add_user(db, "ana.s", email="ana@example.org")
    bob = add_user(db, "bob", email="bob@example.org")
    team = add_team(db, "IT operations", members=[bob])
    subscribe(db, ["alert.assigned"], min_severity="informational", user_id=ana)
    alert_id = svc.raise_alert(draft(severity="medium"))
    assigned = svc.assign(analyst, alert_id, user_id=ana)
    assert assigned.assignee_id == ana and assigned.assignee_name == "ana.s"
    assert assigned.team_id is None
    both = svc.assign(analyst, alert_id, team_id=team)  # the user stays
    assert both.assignee_id == ana and both.team_name == "IT operations"
    cleared = svc.assign(analyst, alert_id, user_id=None)
    assert cleared.assignee_id is None and cleared.team_id == team
    assert [h[:4] for h in history(db, alert_id)[1:]] == [
        ("update", "assignee_id", None, ana),
        ("update", "team_id", None, team),
        ("update", "assignee_id", ana, None),
    ]
    queued = notifications(db)
    # ana's subscription hears of her own assignment only
    assert [(e, p["user_id"]) for e, p in queued] == [("alert.assigned", ana)]
    assert queued[0][1]["id"] == alert_id and queued[0][1]["by"] == "ana"


def test_assign_validates_users_and_teams(db, svc, analyst):
    gone = add_user(db, "gone", disabled=True)
    alert_id = svc.raise_alert(draft())
    with pytest.raises(NotFoundError, match="no user 999"):
        svc.assign(analyst, alert_id, user_id=999)
    with pytest.raises(InvalidInputError, match="'gone' is disabled"):
        svc.assign(analyst, alert_id, user_id=gone)
    with pytest.raises(NotFoundError, match="no team 999"):
        svc.assign(analyst, alert_id, team_id=999)
    with pytest.raises(InvalidInputError, match="needs a user, a team"):
        svc.assign(analyst, alert_id, user_id=KEEP)
    assert svc.get(analyst, alert_id).version == 1


def test_comments_are_listed_and_recorded(db, svc, responder, reader):
    alert_id = svc.raise_alert(draft())
    first = svc.comment(responder, alert_id, "  looking  ")
    second = svc.comment(responder, alert_id, "benign scanner")
    listed = svc.comments(reader, alert_id)
    assert [(c.id, c.author, c.body) for c in listed] == [
        (first, "rex", "looking"),
        (second, "rex", "benign scanner"),
    ]
    assert listed[0].to_dict()["alert_id"] == alert_id
    assert history(db, alert_id)[-1] == ("comment", None, None, {"comment_id": second}, "rex")
    assert svc.get(reader, alert_id).version == 1
    with pytest.raises(InvalidInputError, match="needs some text"):
        svc.comment(responder, alert_id, "   ")


def test_bulk_applies_what_it_can_and_reports_the_rest(db, svc, analyst, responder):
    ids = svc.raise_alerts([draft("a"), draft("b"), draft("c")]).created
    svc.close(analyst, ids[2], "duplicate")
    result = svc.bulk(responder, [ids[0], ids[1], ids[2], 999, ids[0]], "ack")
    assert result.done == [ids[0], ids[1]]
    assert result.errors == {
        ids[2]: f"alert {ids[2]} is closed: reopen it first",
        999: "no alert 999",
    }
    assert result.to_dict()["errors"]["999"] == "no alert 999"
    closed = svc.bulk(analyst, ids[:2], "close", classification="true_positive", comment="batch")
    assert closed.done == ids[:2] and closed.errors == {}
    assert {svc.get(analyst, i).classification for i in ids[:2]} == {"true_positive"}
    team = add_team(db, "Security")
    assigned = svc.bulk(analyst, ids, "assign", team_id=team)
    assert assigned.done == ids
    reopened = svc.bulk(analyst, ids, "reopen")
    assert reopened.done == ids
    with pytest.raises(InvalidInputError, match="needs a classification"):
        svc.bulk(analyst, ids, "close")
    with pytest.raises(InvalidInputError, match="unknown bulk action 'delete'"):
        svc.bulk(analyst, ids, "delete")
    with pytest.raises(InvalidInputError, match="does not take version"):
        svc.bulk(analyst, ids, "ack", version=1)
    with pytest.raises(InvalidInputError, match="at least one"):
        svc.bulk(analyst, [], "ack")


def test_events_returns_the_stored_event_ids(svc, reader):
    alert_id = svc.raise_alert(draft(events=("ev-9", "ev-10")))
    assert svc.events(reader, alert_id) == ["ev-9", "ev-10"]


# -- lists ---------------------------------------------------------------------------------------


@pytest.fixture
def listed(db, svc, analyst):
    """Six alerts over six hours with varied fields; returns their ids oldest first."""
    user = add_user(db, "kim")
    team = add_team(db, "Security")
    specs = [
        ("sigma-1", "Mimikatz 100% detected", "critical"),
        ("sigma-2", "Certutil download", "high"),
        ("dns.dga", "DGA domain", "medium"),
        ("dns.tunnel", "DNS tunnel", "low"),
        ("net.beacon", "Beaconing to 198.51.100.7", "high"),
        ("mail.phishing", "Phishing mail", "informational"),
    ]
    ids = []
    for hour, (rule, title, severity) in enumerate(specs):
        result = svc.raise_alerts(
            [draft(f"k{hour}", rule=rule, title=title, severity=severity)],
            now=T0 + timedelta(hours=hour),
        )
        ids.extend(result.created)
    svc.acknowledge(analyst, ids[1])
    svc.assign(analyst, ids[1], user_id=user, team_id=team)
    svc.close(analyst, ids[2], "false_positive")
    svc.raise_alerts([draft("k4", rule="net.beacon")], now=T0 + timedelta(hours=4, minutes=5))
    return {"ids": ids, "user": user, "team": team}


def test_list_filters(svc, reader, listed):
    ids = listed["ids"]

    def found(**filters):
        return [a.id for a in svc.list(reader, **filters).items]

    assert found() == ids[::-1]
    assert found(status=["new"]) == [ids[5], ids[4], ids[3], ids[0]]
    assert found(status=["acknowledged", "closed"]) == [ids[2], ids[1]]
    assert found(severity=["high"]) == [ids[4], ids[1]]
    assert found(severity=["critical", "info"]) == [ids[5], ids[0]]
    assert found(min_severity="high") == [ids[4], ids[1], ids[0]]
    assert found(rule_id="sigma-2") == [ids[1]]
    assert found(rule_id="dns.*") == [ids[3], ids[2]]
    assert found(team_id=listed["team"]) == [ids[1]]
    assert found(assignee_id=listed["user"]) == [ids[1]]
    assert found(classification="false_positive") == [ids[2]]
    assert found(q="dns") == [ids[3], ids[2]]  # title or rule id, any case
    assert found(q="100%") == [ids[0]]  # % is literal
    assert found(q="BEACON") == [ids[4]]
    assert found(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4)) == [ids[3], ids[2]]
    assert found(case_id=1) == []


def test_list_sorts_and_pages(svc, reader, listed):
    ids = listed["ids"]
    by_severity = svc.list(reader, sort="-severity,created_at")
    assert [a.id for a in by_severity.items] == [ids[0], ids[1], ids[4], ids[2], ids[3], ids[5]]
    assert [a.id for a in svc.list(reader, sort="-count").items][0] == ids[4]
    assert [a.id for a in svc.list(reader, sort="-last_seen").items][0] == ids[5]
    assert [a.id for a in svc.list(reader, sort="title").items][0] == ids[4]  # "Beaconing ..."
    page = svc.list(reader, sort="id", limit=2, offset=2)
    assert [a.id for a in page.items] == ids[2:4]
    assert (page.total, page.limit, page.offset) == (6, 2, 2)
    last = svc.list(reader, status=["new"], sort="id", limit=3, offset=3)
    assert [a.id for a in last.items] == [ids[5]] and last.total == 4
    text = svc.list(reader, q="dns", limit=1, offset=1)
    assert [a.id for a in text.items] == [ids[2]] and text.total == 2
    beyond = svc.list(reader, q="dns", limit=1, offset=5)
    assert beyond.items == [] and beyond.total == 2
    named = svc.list(reader, assignee_id=listed["user"]).items[0]
    assert named.assignee_name == "kim" and named.team_name == "Security"


def test_list_refuses_bad_input(svc, reader, listed):
    with pytest.raises(InvalidInputError, match="cannot sort by 'rule_id'"):
        svc.list(reader, sort="rule_id")
    with pytest.raises(InvalidInputError, match="unknown alert status 'open'"):
        svc.list(reader, status=["open"])
    with pytest.raises(InvalidInputError, match="unknown severity"):
        svc.list(reader, min_severity="severe")
    with pytest.raises(InvalidInputError, match="limit 0 is out of range"):
        svc.list(reader, limit=0)
