"""ChannelService: channels with masked secrets, subscriptions and their permissions, the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.respond.people import add_team, add_user
from tests.workspace.conftest import as_role
from tocsin.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tocsin.core.settings import Settings
from tocsin.workspace.channels import MASK, ChannelService, mask_config
from tocsin.workspace.notify import Emission, NotificationEvent, emit
from tocsin.workspace.permissions import Principal, Role
from tocsin.workspace.tables import AuditRecord, Notification, NotificationChannel, Subscription

SMTP = {
    "host": "mail.example.org",
    "port": 587,
    "username": "soc",
    "password": "hunter2-smtp",
    "from_address": "soc@example.org",
}
HOOK = {"url": "https://hooks.example.org/T0KEN", "secret": "hmac-key", "headers": {"A": "b"}}


@pytest.fixture
def service(db, tmp_path):
    return ChannelService(db, Settings(home=tmp_path / "home"))


def stored_config(db, channel_id):
    with db.session() as session:
        return session.get(NotificationChannel, channel_id).config


def audit_rows(db):
    with db.session() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        return [(r.action, r.target, r.detail) for r in rows]


# channels ---------------------------------------------------------------------------------
def test_reads_mask_secrets_and_the_database_keeps_them(db, service, admin):
    mail = service.create_channel(admin, "SOC mail", "email", SMTP)
    hook = service.create_channel(admin, "Hook", "webhook", HOOK)

    assert mail.config == {**SMTP, "password": MASK}
    assert hook.config == {"url": MASK, "secret": MASK, "headers": MASK}
    assert service.get_channel(admin, mail.id).config["password"] == MASK
    listed = {c.name: c.config for c in service.list_channels(admin).items}
    assert listed == {"SOC mail": {**SMTP, "password": MASK}, "Hook": hook.config}
    assert stored_config(db, mail.id) == SMTP
    assert stored_config(db, hook.id) == HOOK


def test_plugin_kinds_mask_credential_looking_keys():
    config = {"routing_key": "r", "api_key": "k", "auth_token": "t", "region": "eu", "empty": ""}
    assert mask_config("pagerduty", config) == {
        "routing_key": "r",
        "api_key": MASK,
        "auth_token": MASK,
        "region": "eu",
        "empty": "",
    }
    assert mask_config("email", {"password": None, "host": "h"}) == {"password": None, "host": "h"}


def test_update_keeps_a_masked_secret_and_replaces_a_new_one(db, service, admin):
    channel = service.create_channel(admin, "SOC mail", "email", SMTP)

    service.update_channel(admin, channel.id, config={**channel.config, "port": 2525})
    assert stored_config(db, channel.id) == {**SMTP, "port": 2525}

    service.update_channel(admin, channel.id, config={**channel.config, "password": "new-pw"})
    assert stored_config(db, channel.id)["password"] == "new-pw"

    without = {k: v for k, v in SMTP.items() if k not in {"username", "password"}}
    service.update_channel(admin, channel.id, config=without)
    assert stored_config(db, channel.id) == without


def test_update_renames_and_disables(service, admin):
    channel = service.create_channel(admin, "SOC mail", "email", SMTP)
    updated = service.update_channel(admin, channel.id, name="  Night   shift ", enabled=False)
    assert (updated.name, updated.enabled) == ("Night shift", False)
    assert service.list_channels(admin, enabled=False).items[0].id == channel.id
    assert service.list_channels(admin, enabled=True).items == []


def test_validate_normalises_the_stored_config(db, service, admin):
    seen = []

    def validate(kind, config):
        seen.append((kind, dict(config)))
        return {**config, "timeout": 10.0}

    channel = service.create_channel(admin, "Hook", "webhook", HOOK, validate=validate)
    assert stored_config(db, channel.id) == {**HOOK, "timeout": 10.0}
    service.update_channel(
        admin, channel.id, config={**channel.config, "timeout": 5}, validate=validate
    )
    # the validator sees the real secrets, never the mask
    assert seen[-1] == ("webhook", {**HOOK, "timeout": 5})


def test_validator_errors_reach_the_caller(service, admin):
    def refuse(kind, config):
        raise InvalidInputError(f"{kind} channel: 'url' must be an http:// or https:// URL")

    with pytest.raises(InvalidInputError, match="must be an http"):
        service.create_channel(admin, "Hook", "webhook", HOOK, validate=refuse)
    assert service.list_channels(admin).total == 0


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        ("email", {"host": "h"}, "email channel: missing 'from_address' in the config"),
        ("slack", {}, "slack channel: missing 'url'"),
        ("teams", {"url": ""}, "teams channel: missing 'url'"),
        ("webhook", ["url"], "the config must be an object"),
        ("webhook", {"url": "https://h", "x": object()}, "plain JSON values"),
        ("Pager Duty", {}, "channel kind 'Pager Duty' is not a plugin id"),
    ],
)
def test_create_refuses_bad_configs(service, admin, kind, config, message):
    with pytest.raises(InvalidInputError) as err:
        service.create_channel(admin, "c", kind, config)
    assert message in str(err.value)


def test_names_are_unique(service, admin):
    first = service.create_channel(admin, "SOC", "slack", {"url": "https://h/1"})
    second = service.create_channel(admin, "Other", "slack", {"url": "https://h/2"})
    with pytest.raises(ConflictError, match="named 'SOC' already exists"):
        service.create_channel(admin, "SOC", "slack", {"url": "https://h/3"})
    with pytest.raises(ConflictError, match="named 'SOC' already exists"):
        service.update_channel(admin, second.id, name="SOC")
    assert service.update_channel(admin, first.id, name="SOC").name == "SOC"  # unchanged is fine
    with pytest.raises(InvalidInputError, match="1 to 200 characters"):
        service.create_channel(admin, "  ", "slack", {"url": "https://h/4"})


def test_channel_permissions(service, admin, analyst, reader):
    channel = service.create_channel(admin, "SOC", "slack", {"url": "https://h/1"})
    for who in (analyst, reader):
        with pytest.raises(PermissionDeniedError, match="notification.manage"):
            service.create_channel(who, "x", "slack", {"url": "https://h/2"})
        with pytest.raises(PermissionDeniedError):
            service.update_channel(who, channel.id, enabled=False)
        with pytest.raises(PermissionDeniedError):
            service.delete_channel(who, channel.id)
        # anyone who may subscribe sees the channels, but not their configs
        [seen] = service.list_channels(who).items
        assert (seen.name, seen.config) == ("SOC", None)
        assert service.get_channel(who, channel.id).config is None
    nobody = Principal(kind="user", name="nobody", permissions=frozenset())
    with pytest.raises(PermissionDeniedError):
        service.list_channels(nobody)


def test_unknown_channel(service, admin):
    with pytest.raises(NotFoundError, match="no notification channel with id 99"):
        service.get_channel(admin, 99)
    with pytest.raises(NotFoundError):
        service.update_channel(admin, 99, enabled=False)
    with pytest.raises(NotFoundError):
        service.delete_channel(admin, 99)


def test_channel_changes_are_audited_without_secret_values(db, service, admin):
    channel = service.create_channel(admin, "SOC mail", "email", SMTP)
    service.update_channel(admin, channel.id, config={**channel.config, "password": "pw-2"})
    service.update_channel(admin, channel.id, config=channel.config)  # nothing changes
    service.delete_channel(admin, channel.id)

    target = f"channel:{channel.id}"
    assert audit_rows(db) == [
        ("channel.create", target, {"name": "SOC mail", "kind": "email", "enabled": True}),
        ("channel.update", target, {"changed": ["config"], "config_keys": ["password"]}),
        ("channel.delete", target, {"name": "SOC mail", "kind": "email"}),
    ]
    dumped = json.dumps(audit_rows(db))
    assert "hunter2" not in dumped and "pw-2" not in dumped


def test_delete_takes_subscriptions_and_queued_notifications(db, service, admin):
    channel = service.create_channel(admin, "SOC", "slack", {"url": "https://h/1"})
    service.subscribe(admin, channel.id, ["alert.created"], broadcast=True)
    with db.session() as session:
        assert emit(session, [Emission(NotificationEvent.ALERT_CREATED, "s", {}, "high")]) == 1

    service.delete_channel(admin, channel.id)
    with db.session() as session:
        assert session.scalars(select(Subscription)).all() == []
        assert session.scalars(select(Notification)).all() == []


# subscriptions ----------------------------------------------------------------------------
@pytest.fixture
def world(db, service, admin):
    """A channel, a team and two users; ``rita`` (read-only) is a user with id."""
    channel = service.create_channel(admin, "SOC mail", "email", SMTP)
    team = add_team(db, "Security")
    rita = add_user(db, "rita", "rita@example.org", team_id=team)
    rex = add_user(db, "rex", "rex@example.org", team_id=team)
    return {
        "channel": channel.id,
        "team": team,
        "rita": as_role(Role.READ_ONLY, "rita", user_id=rita),
        "rex": as_role(Role.RESPONDER, "rex", user_id=rex),
    }


def test_a_user_subscribes_itself(service, world, admin):
    rita = world["rita"]
    events = ["alert.assigned", "ALERT.ASSIGNED", "sla.breached"]
    sub = service.subscribe(rita, world["channel"], events)
    assert (sub.channel_id, sub.user_id, sub.team_id) == (world["channel"], rita.user_id, None)
    assert sub.events == ("alert.assigned", "sla.breached")
    assert sub.min_severity == "high"

    with pytest.raises(ConflictError, match=f"subscription {sub.id} already covers this"):
        service.subscribe(rita, world["channel"], ["case.created"], user_id=rita.user_id)
    other = service.create_channel(admin, "Slack", "slack", {"url": "https://h/1"})
    sub2 = service.subscribe(rita, other.id, "case.created,case.assigned", "Info")
    assert (sub2.events, sub2.min_severity) == (("case.created", "case.assigned"), "informational")


def test_others_teams_and_everyone_need_notification_manage(service, world, admin):
    rita, rex = world["rita"], world["rex"]
    channel = world["channel"]
    with pytest.raises(PermissionDeniedError, match="notification.manage"):
        service.subscribe(rita, channel, ["alert.created"], user_id=rex.user_id)
    with pytest.raises(PermissionDeniedError):
        service.subscribe(rita, channel, ["alert.created"], team_id=world["team"])
    with pytest.raises(PermissionDeniedError):
        service.subscribe(rita, channel, ["alert.created"], broadcast=True)

    for_rex = service.subscribe(admin, channel, ["alert.assigned"], user_id=rex.user_id)
    for_team = service.subscribe(admin, channel, ["alert.created"], team_id=world["team"])
    for_all = service.subscribe(admin, channel, ["sla.breached"], "critical", broadcast=True)
    assert (for_rex.user_id, for_team.team_id) == (rex.user_id, world["team"])
    assert (for_all.user_id, for_all.team_id) == (None, None)


def test_reader_without_the_permission_cannot_subscribe(service, world):
    nobody = Principal(kind="user", name="nobody", permissions=frozenset(), user_id=1)
    with pytest.raises(PermissionDeniedError, match="subscription.own"):
        service.subscribe(nobody, world["channel"], ["alert.created"])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"events": ["alert.deleted"]}, InvalidInputError, "unknown event 'alert.deleted': use"),
        ({"events": []}, InvalidInputError, "at least one event"),
        ({"min_severity": "urgent"}, InvalidInputError, "unknown severity 'urgent'"),
        ({"user_id": 1, "team_id": 1}, InvalidInputError, "only one of user_id, team_id"),
        ({"team_id": 1, "broadcast": True}, InvalidInputError, "only one of"),
        ({"user_id": 999}, NotFoundError, "no user with id 999"),
        ({"team_id": 999}, NotFoundError, "no team with id 999"),
        ({"channel_id": 999}, NotFoundError, "no notification channel with id 999"),
    ],
)
def test_subscribe_refuses_bad_input(service, world, admin, kwargs, error, message):
    whom = {} if {"user_id", "team_id"} & set(kwargs) else {"broadcast": True}
    args = {"channel_id": world["channel"], "events": ["alert.created"], **whom, **kwargs}
    with pytest.raises(error, match=message):
        service.subscribe(admin, **args)


def test_a_principal_without_user_must_name_whom(service, world):
    local = Principal.local()
    with pytest.raises(InvalidInputError, match="is not a user: name a user_id"):
        service.subscribe(local, world["channel"], ["alert.created"])


def test_listing_subscriptions(service, world, admin):
    rita, rex = world["rita"], world["rex"]
    mine = service.subscribe(rita, world["channel"], ["alert.assigned"])
    his = service.subscribe(rex, world["channel"], ["alert.assigned"])
    team = service.subscribe(admin, world["channel"], ["alert.created"], team_id=world["team"])

    assert [s.id for s in service.list_subscriptions(rita).items] == [mine.id]
    assert [s.id for s in service.list_subscriptions(rita, user_id=rita.user_id).items] == [mine.id]
    with pytest.raises(PermissionDeniedError, match="only its own subscriptions"):
        service.list_subscriptions(rita, user_id=rex.user_id)
    with pytest.raises(PermissionDeniedError):
        service.list_subscriptions(rita, team_id=world["team"])
    assert service.list_subscriptions(as_role(Role.READ_ONLY, "anon")).total == 0

    every = service.list_subscriptions(admin)
    assert ([s.id for s in every.items], every.total) == ([mine.id, his.id, team.id], 3)
    assert [s.id for s in service.list_subscriptions(admin, user_id=rex.user_id).items] == [his.id]
    assert [s.id for s in service.list_subscriptions(admin, team_id=world["team"]).items] == [
        team.id
    ]
    assert service.list_subscriptions(admin, channel_id=999).items == []
    page = service.list_subscriptions(admin, limit=2, offset=2)
    assert ([s.id for s in page.items], page.total) == ([team.id], 3)


def test_unsubscribe_own_or_with_manage(service, world, admin):
    rita, rex = world["rita"], world["rex"]
    mine = service.subscribe(rita, world["channel"], ["alert.assigned"])
    his = service.subscribe(rex, world["channel"], ["alert.assigned"])
    team = service.subscribe(admin, world["channel"], ["alert.created"], team_id=world["team"])

    with pytest.raises(PermissionDeniedError):
        service.unsubscribe(rita, his.id)
    with pytest.raises(PermissionDeniedError):
        service.unsubscribe(rita, team.id)
    service.unsubscribe(rita, mine.id)
    service.unsubscribe(admin, his.id)
    service.unsubscribe(admin, team.id)
    assert service.list_subscriptions(admin).total == 0
    with pytest.raises(NotFoundError, match=f"no subscription with id {mine.id}"):
        service.unsubscribe(rita, mine.id)


def test_subscriptions_made_here_drive_emit(db, service, world, admin):
    """The subscriptions the service writes are the ones workspace.notify matches."""
    rita, rex = world["rita"], world["rex"]
    service.subscribe(rita, world["channel"], ["alert.assigned"], "medium")
    service.subscribe(admin, world["channel"], ["alert.created"], team_id=world["team"])
    with db.session() as session:
        queued = emit(
            session,
            [
                Emission(
                    NotificationEvent.ALERT_ASSIGNED, "to rita", {}, "medium", user_id=rita.user_id
                ),
                Emission(
                    NotificationEvent.ALERT_ASSIGNED, "to rex", {}, "high", user_id=rex.user_id
                ),
                Emission(
                    NotificationEvent.ALERT_CREATED, "team", {}, "high", team_id=world["team"]
                ),
                Emission(NotificationEvent.ALERT_CREATED, "low", {}, "low", team_id=world["team"]),
            ],
        )
    assert queued == 2
    rows = service.list_notifications(admin, sort="id").items
    assert [(n.subject, n.recipients) for n in rows] == [
        ("to rita", ("rita@example.org",)),
        ("team", ("rex@example.org", "rita@example.org")),
    ]
    assert rows[0].payload == {"event": "alert.assigned", "severity": "medium"}


# outbox -----------------------------------------------------------------------------------
def test_outbox_listing_and_retry(db, service, world, admin, analyst):
    service.subscribe(admin, world["channel"], ["alert.created"], broadcast=True)
    with db.session() as session:
        emit(
            session,
            [Emission(NotificationEvent.ALERT_CREATED, f"a{i}", {}, "high") for i in range(3)],
        )
        first, second, third = session.scalars(select(Notification).order_by(Notification.id))
        first.status, first.attempts, first.last_error = (
            "failed",
            6,
            "SMTP server h:25 answered 554",
        )
        second.status, second.sent_at = "sent", datetime.now(UTC)

    page = service.list_notifications(admin)
    assert [n.id for n in page.items] == [third.id, second.id, first.id]  # newest first
    assert [n.id for n in service.list_notifications(admin, "failed").items] == [first.id]
    assert service.list_notifications(admin, event="alert.assigned").total == 0
    assert service.list_notifications(admin, channel_id=world["channel"]).total == 3
    with pytest.raises(InvalidInputError, match="unknown notification status 'lost'"):
        service.list_notifications(admin, "lost")
    with pytest.raises(InvalidInputError, match="cannot sort by 'subject'"):
        service.list_notifications(admin, sort="subject")
    with pytest.raises(PermissionDeniedError):
        service.list_notifications(analyst)

    retried = service.retry_notification(admin, first.id)
    assert (retried.status, retried.attempts) == ("pending", 0)
    assert retried.last_error == "SMTP server h:25 answered 554"  # kept until the next attempt
    with pytest.raises(ConflictError, match="is 'sent': only failed ones"):
        service.retry_notification(admin, second.id)
    with pytest.raises(NotFoundError):
        service.retry_notification(admin, 999)
    with pytest.raises(PermissionDeniedError):
        service.retry_notification(analyst, first.id)
