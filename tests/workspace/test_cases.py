"""CaseService: create, read, list, update with optimistic locking, close, reopen, permissions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from tests.workspace.case_helpers import add_alert, add_team, add_user, alert_case_id, history
from tests.workspace.conftest import as_role
from tocsin.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tocsin.core.settings import Settings
from tocsin.workspace.cases import CaseService
from tocsin.workspace.permissions import Role
from tocsin.workspace.tables import Case, Notification, NotificationChannel, Subscription


@pytest.fixture
def cases(db, tmp_path):
    return CaseService(db, Settings(home=tmp_path / "home"))


def test_create_by_hand_writes_history_and_counts(db, cases, analyst):
    case = cases.create(
        analyst,
        title="  Suspicious login  ",
        severity="High",
        description="VPN login from a new country",
        tags=["vpn", "vpn", " login "],
        techniques=["t1078", "attack.T1110.003"],
        tlp="amber+strict",
        pap="red",
    )
    assert case.title == "Suspicious login"
    assert case.severity == "high"
    assert case.status == "new"
    assert case.tags == ["vpn", "login"]
    assert case.techniques == ["T1078", "T1110.003"]
    assert (case.tlp, case.pap) == ("amber+strict", "red")
    assert case.version == 1
    assert case.created_by == "ana"
    assert case.counts == {
        "tasks": 0,
        "observables": 0,
        "alerts": 0,
        "comments": 0,
        "attachments": 0,
    }
    [created] = history(db, "case", case.id)
    assert created.action == "create"
    assert created.actor == "ana"
    assert created.after["status"] == "new"
    assert created.after["severity"] == "high"
    assert created.at == case.created_at
    assert cases.get(analyst, case.id) == case


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"severity": "high"}, "needs a title"),
        ({"title": "x"}, "needs a severity"),
        ({"title": "   ", "severity": "low"}, "must not be empty"),
        ({"title": "x", "severity": "urgent"}, "unknown severity"),
        ({"title": "x", "severity": "low", "tlp": "purple"}, "unknown TLP"),
        ({"title": "x", "severity": "low", "techniques": ["execution"]}, "ATT&CK"),
        ({"title": "x", "severity": "low", "assignee_id": 999}, "no active user"),
        ({"title": "x", "severity": "low", "team_id": 999}, "no team"),
        ({"title": "x" * 501, "severity": "low"}, "limit is 500"),
    ],
)
def test_create_refuses_bad_input(cases, analyst, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        cases.create(analyst, **kwargs)


def test_create_from_template_copies_fields_and_tasks(db, cases, analyst):
    tpl = cases.create_template(
        analyst,
        "phishing",
        "Phishing report",
        "medium",
        description="Check the mail, block the sender.",
        tags=["phishing"],
        tasks=[{"title": "Collect headers"}, {"title": "Block sender", "description": "at MX"}],
    )
    case = cases.create(analyst, template="phishing")
    assert case.title == "Phishing report"
    assert case.severity == "medium"
    assert case.description == "Check the mail, block the sender."
    assert case.tags == ["phishing"]
    assert case.template_id == tpl.id
    assert case.counts["tasks"] == 2
    tasks = cases.list_tasks(analyst, case.id).items
    assert [(t.title, t.description, t.status) for t in tasks] == [
        ("Collect headers", "", "open"),
        ("Block sender", "at MX", "open"),
    ]
    assert [t.position for t in tasks] == [0, 1]
    assert [r.action for r in history(db, "task", tasks[0].id)] == ["create"]
    by_id = cases.create(analyst, template=tpl.id, title="CEO fraud", severity="critical")
    assert (by_id.title, by_id.severity, by_id.counts["tasks"]) == ("CEO fraud", "critical", 2)
    with pytest.raises(NotFoundError, match="no case template 'nope'"):
        cases.create(analyst, template="nope")


def test_create_from_alerts_links_them_and_copies_evidence(db, cases, analyst):
    low = add_alert(
        db,
        "Port scan",
        "low",
        tags=("attack.discovery", "attack.t1046"),
        observables=(("ip", "10.0.0.5"), ("host", "web1")),
    )
    high = add_alert(
        db,
        "PowerShell download cradle",
        "high",
        tags=("attack.execution", "attack.t1059.001"),
        observables=(("ip", "10.0.0.5"), ("domain", "evil.example"), ("bogus", "x")),
    )
    case = cases.create_from_alerts(analyst, [low, high])
    assert case.title == "PowerShell download cradle"
    assert case.severity == "high"
    assert case.techniques == ["T1059.001", "T1046"]
    assert "attack.execution" in case.tags
    assert case.counts["alerts"] == 2
    observables = cases.list_observables(analyst, case.id).items
    assert sorted((o.type, o.value) for o in observables) == [
        ("domain", "evil.example"),
        ("host", "web1"),
        ("ip", "10.0.0.5"),
    ]
    assert alert_case_id(db, low) == case.id
    link = [r for r in history(db, "alert", high) if r.action == "link"]
    assert [(r.field, r.before, r.after) for r in link] == [("case_id", None, case.id)]
    assert [a.id for a in cases.list_alerts(analyst, case.id)] == [high, low]
    # Explicit values win over the alerts'.
    other = cases.create(
        analyst, title="Mine", severity="critical", alert_ids=[add_alert(db, "x", "low")]
    )
    assert (other.title, other.severity) == ("Mine", "critical")
    with pytest.raises(NotFoundError, match="no alert #9999"):
        cases.create(analyst, alert_ids=[9999])
    with pytest.raises(InvalidInputError):
        cases.create_from_alerts(analyst, [])


def test_an_alert_belongs_to_one_open_case(db, cases, analyst):
    alert = add_alert(db, "Beacon", "high")
    first = cases.create_from_alerts(analyst, [alert])
    with pytest.raises(ConflictError, match=f"already in open case #{first.id}"):
        cases.create_from_alerts(analyst, [alert])
    second = cases.create(analyst, title="Other", severity="low")
    with pytest.raises(ConflictError, match=f"alert #{alert} is already in open case"):
        cases.add_alerts(analyst, second.id, [alert])
    # Nothing of the refused transaction stays behind.
    assert cases.get(analyst, second.id).counts["alerts"] == 0
    assert cases.list(analyst, q="Beacon").total == 1
    cases.close(analyst, first.id, classification="true_positive")
    moved = cases.add_alerts(analyst, second.id, [alert])
    assert moved.counts["alerts"] == 1
    assert alert_case_id(db, alert) == second.id
    # Adding the same alert again changes nothing.
    again = cases.add_alerts(analyst, second.id, [alert])
    assert again.version == moved.version


def test_add_alerts_brings_observables_and_techniques(db, cases, analyst):
    case = cases.create(analyst, title="Hunt", severity="medium", techniques=["T1003"])
    alert = add_alert(
        db, "LSASS dump", "high", tags=("attack.t1003.001",), observables=(("host", "dc1"),)
    )
    updated = cases.add_alerts(analyst, case.id, [alert])
    assert updated.techniques == ["T1003", "T1003.001"]
    assert updated.version == case.version + 1
    assert updated.counts["observables"] == 1
    changes = [(r.action, r.field) for r in history(db, "case", case.id)]
    assert ("link", "alert_ids") in changes
    assert ("update", "techniques") in changes
    cases.close(analyst, case.id, classification="true_positive")
    with pytest.raises(ConflictError, match="is closed"):
        cases.add_alerts(analyst, case.id, [add_alert(db, "late", "low")])


def test_list_filters_sorts_and_pages(db, cases, analyst):
    team = add_team(db, "Security")
    bob = add_user(db, "bob")
    a = cases.create(analyst, title="Ransomware on FS01", severity="critical", tags=["ransom"])
    b = cases.create(
        analyst, title="Printer offline", severity="low", team_id=team, tags=["it", "ransom-x"]
    )
    c = cases.create(
        analyst,
        title="Phish",
        severity="medium",
        description="User clicked a RANSOMWARE link",
        assignee_id=bob,
    )
    cases.close(analyst, b.id, classification="benign_positive")
    ids = lambda page: [x.id for x in page.items]  # noqa: E731
    assert ids(cases.list(analyst)) == [c.id, b.id, a.id]
    assert ids(cases.list(analyst, status="open")) == [c.id, a.id]
    assert ids(cases.list(analyst, status="closed")) == [b.id]
    assert ids(cases.list(analyst, status="new,closed")) == [c.id, b.id, a.id]
    assert ids(cases.list(analyst, severity="medium")) == [c.id]
    assert ids(cases.list(analyst, min_severity="medium")) == [c.id, a.id]
    assert ids(cases.list(analyst, team_id=team)) == [b.id]
    assert ids(cases.list(analyst, assignee_id=bob)) == [c.id]
    assert ids(cases.list(analyst, q="ransomware")) == [c.id, a.id]
    assert ids(cases.list(analyst, q="100%")) == []
    assert ids(cases.list(analyst, tag="ransom")) == [a.id]
    assert ids(cases.list(analyst, sort="severity")) == [b.id, c.id, a.id]
    assert ids(cases.list(analyst, sort="-severity")) == [a.id, c.id, b.id]
    page = cases.list(analyst, limit=2, offset=1)
    assert (ids(page), page.total, page.limit, page.offset) == ([b.id, a.id], 3, 2, 1)
    future = datetime.now(UTC) + timedelta(hours=1)
    assert cases.list(analyst, since=future).total == 0
    assert cases.list(analyst, until=future).total == 3
    assert cases.list(analyst).items[0].counts["alerts"] == 0
    with pytest.raises(InvalidInputError, match="cannot sort by"):
        cases.list(analyst, sort="password")
    with pytest.raises(InvalidInputError, match="unknown case status"):
        cases.list(analyst, status="pending")


def test_update_writes_one_history_record_per_changed_field(db, cases, analyst):
    team = add_team(db, "IT operations")
    bob = add_user(db, "bob")
    case = cases.create(analyst, title="Disk full", severity="low")
    updated = cases.update(
        analyst,
        case.id,
        version=case.version,
        title="Disk full on db1",
        severity="medium",
        status="in_progress",
        team_id=team,
        assignee_id=bob,
        summary="cleanup planned",
        tags=["disk"],
        description="",  # unchanged: no record
    )
    assert updated.version == case.version + 1
    assert (updated.title, updated.severity, updated.status) == (
        "Disk full on db1",
        "medium",
        "in_progress",
    )
    assert (updated.team_id, updated.assignee_id, updated.summary) == (team, bob, "cleanup planned")
    records = [(r.action, r.field, r.before, r.after) for r in history(db, "case", case.id)[1:]]
    assert sorted(records) == sorted(
        [
            ("update", "title", "Disk full", "Disk full on db1"),
            ("update", "severity", "low", "medium"),
            ("update", "status", "new", "in_progress"),
            ("update", "team_id", None, team),
            ("update", "assignee_id", None, bob),
            ("update", "summary", None, "cleanup planned"),
            ("update", "tags", [], ["disk"]),
        ]
    )
    assert all(r.actor == "ana" for r in history(db, "case", case.id))
    same = cases.update(analyst, case.id, version=updated.version, title="Disk full on db1")
    assert same.version == updated.version  # nothing changed, nothing written
    assert cases.list(analyst, min_severity="medium").total == 1  # severity_rank followed


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"status": "closed"}, InvalidInputError, "close a case with close"),
        ({"classification": "duplicate"}, InvalidInputError, "cannot change classification"),
        ({"title": ""}, InvalidInputError, "must not be empty"),
        ({"status": "sleeping"}, InvalidInputError, "unknown case status"),
    ],
)
def test_update_refuses(cases, analyst, fields, error, message):
    case = cases.create(analyst, title="x", severity="low")
    with pytest.raises(error, match=message):
        cases.update(analyst, case.id, version=case.version, **fields)


def test_update_needs_the_version(cases, analyst):
    case = cases.create(analyst, title="x", severity="low")
    with pytest.raises(InvalidInputError, match="give the version"):
        cases.update(analyst, case.id, version=None, title="y")
    with pytest.raises(NotFoundError):
        cases.update(analyst, 4242, version=1, title="y")


def test_two_analysts_do_not_lose_an_update(db, cases):
    ana = as_role(Role.ANALYST, "ana")
    bob = as_role(Role.ANALYST, "bob")
    case = cases.create(ana, title="Beaconing host", severity="medium")
    seen_by_ana = cases.get(ana, case.id)
    seen_by_bob = cases.get(bob, case.id)
    assert seen_by_ana.version == seen_by_bob.version
    cases.update(ana, case.id, version=seen_by_ana.version, severity="high")
    with pytest.raises(ConflictError, match="changed by someone else"):
        cases.update(bob, case.id, version=seen_by_bob.version, title="Beaconing from ws12")
    assert cases.get(bob, case.id).title == "Beaconing host"  # the stale write did nothing
    fresh = cases.get(bob, case.id)
    cases.update(bob, case.id, version=fresh.version, title="Beaconing from ws12")
    final = cases.get(ana, case.id)
    assert (final.severity, final.title) == ("high", "Beaconing from ws12")
    assert final.version == case.version + 2
    updates = [(r.actor, r.field) for r in history(db, "case", case.id) if r.action == "update"]
    assert updates == [("ana", "severity"), ("bob", "title")]


def test_concurrent_updates_in_threads_lose_nothing(db, cases):
    """Both threads pass the version check; the database decides, the loser gets a conflict."""
    ana = as_role(Role.ANALYST, "ana")
    bob = as_role(Role.ANALYST, "bob")
    case = cases.create(ana, title="Lateral movement", severity="medium")
    changes = {ana: {"severity": "critical"}, bob: {"title": "Lateral movement via SMB"}}
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def both_at_the_write(_mapper, _connection, target):
        # Hold each writer just before its UPDATE until the other one is there too.
        if threading.current_thread().name.startswith("writer-"):
            barrier.wait(timeout=60)

    def write(actor):
        try:
            cases.update(actor, case.id, version=case.version, **changes[actor])
            outcome[actor.name] = "saved"
        except ConflictError:
            outcome[actor.name] = "conflict"

    event.listen(Case, "before_update", both_at_the_write)
    try:
        threads = [
            threading.Thread(target=write, args=(p,), name=f"writer-{p.name}") for p in (ana, bob)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        event.remove(Case, "before_update", both_at_the_write)
    assert sorted(outcome.values()) == ["conflict", "saved"]
    loser = ana if outcome["ana"] == "conflict" else bob
    fresh = cases.get(loser, case.id)
    cases.update(loser, case.id, version=fresh.version, **changes[loser])
    final = cases.get(ana, case.id)
    assert (final.severity, final.title) == ("critical", "Lateral movement via SMB")
    assert final.version == case.version + 2


def test_close_and_reopen(db, cases, analyst):
    case = cases.create(analyst, title="Malware", severity="high")
    closed = cases.close(
        analyst, case.id, classification="true_positive", summary="Reimaged", version=case.version
    )
    assert (closed.status, closed.classification, closed.summary) == (
        "closed",
        "true_positive",
        "Reimaged",
    )
    assert closed.closed_at is not None
    records = [(r.action, r.field, r.before, r.after) for r in history(db, "case", case.id)]
    assert ("update", "status", "new", "closed") in records
    assert ("update", "classification", None, "true_positive") in records
    with pytest.raises(ConflictError, match="already closed"):
        cases.close(analyst, case.id, classification="duplicate")
    with pytest.raises(ConflictError, match="reopen it first"):
        cases.update(analyst, case.id, version=closed.version, status="in_progress")
    reopened = cases.reopen(analyst, case.id)
    assert (reopened.status, reopened.classification, reopened.closed_at) == (
        "in_progress",
        None,
        None,
    )
    last = history(db, "case", case.id)[-2:]
    assert [(r.action, r.field, r.before, r.after) for r in last] == [
        ("reopen", "status", "closed", "in_progress"),
        ("update", "classification", "true_positive", None),
    ]
    with pytest.raises(ConflictError, match="not closed"):
        cases.reopen(analyst, case.id)
    with pytest.raises(ConflictError, match="changed by someone else"):
        cases.close(analyst, case.id, classification="undetermined", version=case.version)
    with pytest.raises(InvalidInputError, match="unknown classification"):
        cases.close(analyst, case.id, classification="maybe")


def test_notifications_for_new_and_assigned_cases(db, cases, analyst):
    bob = add_user(db, "bob", email="bob@example.org")
    with db.session() as session:
        channel = NotificationChannel(
            name="mail", kind="email", config={}, created_at=datetime.now(UTC)
        )
        session.add(channel)
        session.flush()
        session.add(
            Subscription(
                channel_id=channel.id,
                events=["case.created", "case.assigned"],
                min_severity="low",
                created_at=datetime.now(UTC),
            )
        )
    case = cases.create(analyst, title="Data leak", severity="high", assignee_id=bob)
    other = cases.create(analyst, title="Noise", severity="low")
    cases.update(analyst, other.id, version=other.version, assignee_id=bob)
    with db.session() as session:
        events = [(n.event, n.payload["case_id"]) for n in session.scalars(select(Notification))]
    assert events == [
        ("case.created", case.id),
        ("case.assigned", case.id),
        ("case.created", other.id),
        ("case.assigned", other.id),
    ]


ROLE_CASES = [
    (Role.READ_ONLY, {"read"}),
    (Role.RESPONDER, {"read", "update"}),
    (Role.ANALYST, {"read", "update", "create", "close", "template"}),
    (Role.ADMIN, {"read", "update", "create", "close", "template"}),
]


@pytest.mark.parametrize(("role", "allowed"), ROLE_CASES)
def test_permissions_per_role(db, cases, analyst, role, allowed):
    actor = as_role(role, f"user-{role.value}")
    case = cases.create(analyst, title="x", severity="low")
    other = cases.create(analyst, title="y", severity="low")
    actions = {
        "read": [
            lambda: cases.get(actor, case.id),
            lambda: cases.list(actor),
            lambda: cases.timeline(actor, case.id),
            lambda: cases.history(actor, case.id),
            lambda: cases.list_templates(actor),
        ],
        "update": [
            lambda: cases.update(
                actor,
                case.id,
                version=cases.get(analyst, case.id).version,
                summary=f"by {actor.name}",
            ),
            lambda: cases.add_comment(actor, case.id, "hello"),
            lambda: cases.add_task(actor, case.id, "t"),
            lambda: cases.add_observable(actor, case.id, "ip", f"10.1.1.{len(actor.name)}"),
            lambda: cases.add_attachment(actor, case.id, "a.txt", "text/plain", b"a"),
        ],
        "create": [lambda: cases.create(actor, title="z", severity="low")],
        "close": [
            lambda: cases.close(actor, case.id, classification="false_positive"),
            lambda: cases.reopen(actor, case.id),
            lambda: cases.merge(actor, case.id, [other.id]),
        ],
        "template": [lambda: cases.create_template(actor, f"t-{role.value}", "T", "low")],
    }
    for kind, calls in actions.items():
        for call in calls:
            if kind in allowed:
                call()
            else:
                with pytest.raises(PermissionDeniedError, match="may not do"):
                    call()
