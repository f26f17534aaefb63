"""Suppression rules: matching, hit counting, expiry, management and its permissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tocsin.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from tocsin.core.settings import Settings
from tocsin.workspace.alerts import AlertService
from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.tables import Alert, AuditRecord, SuppressionRule


@pytest.fixture
def svc(db, tmp_path):
    return AlertService(db, Settings(home=tmp_path / "home"))


def draft(rule="sigma-1", title="Suspicious thing", **observables):
    return AlertDraft(
        rule_id=rule,
        title=title,
        severity="medium",
        observables=[Observable.of(t, v) for t, v in observables.items()],
    )


def alerts(db):
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Alert))


def rule_row(db, rule_id):
    with db.session() as session:
        row = session.get(SuppressionRule, rule_id)
        return row.hits, row.last_hit_at


@pytest.mark.parametrize(
    ("rule_id", "conditions", "suppressed", "kept"),
    [
        ("sigma-1", {}, draft(), draft(rule="sigma-2")),
        ("net.*", {}, draft(rule="net.scan"), draft(rule="dns.dga")),
        (None, {"ip": "10.0.0.9"}, draft(ip="10.0.0.9"), draft(ip="10.0.0.90")),
        (None, {"host": ["ws-1", "WS-2"]}, draft(host="ws-2"), draft(host="ws-3")),
        (None, {"domain": "*.corp.example"}, draft(domain="a.corp.example"), draft(domain="x.org")),
        (
            "sigma-1",
            {"user": "svc_backup"},
            draft(user="svc_backup"),
            draft(rule="sigma-2", user="svc_backup"),
        ),
        (
            None,
            {"ip": "10.0.0.9", "host": "ws-1"},
            draft(ip="10.0.0.9", host="ws-1"),
            draft(ip="10.0.0.9", host="ws-2"),
        ),
        (
            None,
            {"title_contains": "vulnerability SCAN"},
            draft(title="Nessus vulnerability scan"),
            draft(),
        ),
    ],
)
def test_what_a_rule_suppresses(db, svc, analyst, rule_id, conditions, suppressed, kept):
    created = svc.create_suppression(
        analyst, "noise", rule_id=rule_id, conditions=conditions, reason="known scanner"
    )
    result = svc.raise_alerts([suppressed, kept])
    assert result.suppressed == 1
    assert len(result.created) == 1
    assert svc.get(analyst, result.created[0]).rule_id == kept.rule_id
    assert svc.raise_alert(suppressed) is None
    hits, last_hit = rule_row(db, created.id)
    assert hits == 2 and last_hit is not None


def test_hits_are_counted_per_rule_and_nothing_is_raised(db, svc, analyst):
    scanner = svc.create_suppression(
        analyst, "scanner", conditions={"ip": "10.0.0.9"}, reason="the vulnerability scanner"
    )
    backup = svc.create_suppression(
        analyst, "backup", rule_id="sigma-7", reason="nightly backup job"
    )
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    result = svc.raise_alerts(
        [draft(ip="10.0.0.9")] * 3 + [draft(rule="sigma-7")] * 2 + [draft(ip="10.0.0.1")],
        now=now,
    )
    assert result.suppressed == 5 and len(result.created) == 1
    assert alerts(db) == 1
    assert rule_row(db, scanner.id) == (3, now)
    assert rule_row(db, backup.id) == (2, now)
    listed = svc.list_suppressions(analyst).items
    assert [(s.name, s.hits) for s in listed] == [("backup", 2), ("scanner", 3)]


def test_disabled_and_expired_rules_stop_suppressing(db, svc, analyst):
    soon = datetime.now(UTC) + timedelta(hours=1)
    expiring = svc.create_suppression(
        analyst, "for an hour", rule_id="sigma-1", reason="maintenance window", expires_at=soon
    )
    assert svc.raise_alerts([draft()]).suppressed == 1
    later = svc.raise_alerts([draft()], now=soon + timedelta(seconds=1))
    assert later.suppressed == 0 and len(later.created) == 1
    disabled = svc.create_suppression(analyst, "off", rule_id="sigma-2", reason="testing")
    svc.disable_suppression(analyst, disabled.id)
    assert svc.raise_alerts([draft(rule="sigma-2")]).suppressed == 0
    shown = {s.id: s for s in svc.list_suppressions(analyst).items}
    assert shown[disabled.id].enabled is False and shown[disabled.id].to_dict()["active"] is False
    assert shown[expiring.id].to_dict()["active"] is True
    assert [s.id for s in svc.list_suppressions(analyst, include_disabled=False).items] == [
        expiring.id
    ]


def test_delete_removes_the_rule_and_is_audited(db, svc, analyst):
    rule = svc.create_suppression(analyst, "temp", rule_id="sigma-1", reason="one-off")
    svc.delete_suppression(analyst, rule.id)
    assert svc.raise_alerts([draft()]).suppressed == 0
    with pytest.raises(NotFoundError, match=f"no suppression rule {rule.id}"):
        svc.disable_suppression(analyst, rule.id)
    with db.session() as session:
        actions = session.scalars(
            select(AuditRecord.action).where(AuditRecord.target == f"suppression:{rule.id}")
        ).all()
    assert sorted(actions) == ["suppression.create", "suppression.delete"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"conditions": {}}, "needs a rule id or at least one condition"),
        ({"rule_id": "*"}, "rule id '\\*' is not allowed"),
        ({"conditions": {"colour": "red"}}, "unknown suppression condition 'colour'"),
        ({"conditions": {"ip": []}}, "'ip' needs at least one value"),
        ({"rule_id": "x", "reason": "  "}, "needs a reason"),
        (
            {"rule_id": "x", "expires_at": datetime(2020, 1, 1, tzinfo=UTC)},
            "expiry '2020-01-01T00:00:00\\+00:00' is in the past",
        ),
    ],
)
def test_create_refuses_bad_rules(svc, analyst, kwargs, message):
    arguments = {"reason": "why", **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        svc.create_suppression(analyst, "bad", **arguments)


def test_managing_needs_the_permission_but_reading_does_not(svc, analyst, responder, reader):
    rule = svc.create_suppression(analyst, "noise", rule_id="sigma-1", reason="noisy")
    for call in (
        lambda: svc.create_suppression(responder, "x", rule_id="sigma-2", reason="r"),
        lambda: svc.disable_suppression(responder, rule.id),
        lambda: svc.delete_suppression(reader, rule.id),
    ):
        with pytest.raises(PermissionDeniedError):
            call()
    page = svc.list_suppressions(reader)
    assert page.total == 1 and page.items[0].created_by == "ana"
    assert page.items[0].conditions == {}
