"""Notification channels, subscriptions and the outbox, as the workspace keeps them.

A **channel** is a destination (an SMTP server, a webhook, Slack, Teams) with a config; a
**subscription** asks for some events on a channel for a user, a team, or everyone
(``workspace.notify`` explains the matching). ``tocsin.respond`` delivers the outbox.

Validation is split because imports point one way (``respond`` uses the workspace, never the
reverse): this module checks the shape (a known-looking kind, a JSON object, the required keys
of the built-in kinds) and, when the caller passes ``validate`` (the API passes
``tocsin.respond.delivery.Deliverer.validate_config``), stores the config that the notifier
normalised. Reads mask secret values as ``MASK``; an update that sends ``MASK`` back keeps the
stored secret, so a form can round-trip a channel without ever holding its password.

Permissions: channels and the outbox need ``NOTIFICATION_MANAGE`` (anyone with
``SUBSCRIPTION_OWN`` may list channels, without their configs). A user subscribes itself with
``SUBSCRIPTION_OWN``; subscribing another user, a team or everyone needs ``NOTIFICATION_MANAGE``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tocsin.core.settings import Settings
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_audit
from tocsin.workspace.models import Severity
from tocsin.workspace.notify import NotificationEvent
from tocsin.workspace.paging import Page, check_window, order_by, paginate
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import (
    Notification,
    NotificationChannel,
    Subscription,
    Team,
    User,
)

MASK = "********"
ConfigValidator = Callable[[str, Mapping[str, Any]], dict[str, Any]]

# The built-in kinds: required keys, and the keys whose values are secret. They mirror the
# notifiers' ``validate`` and ``secret_keys`` (a test in tests/respond keeps them in step).
BUILTIN_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "email": (("host", "from_address"), ("password",)),
    "webhook": (("url",), ("url", "secret", "headers")),
    "slack": (("url",), ("url",)),
    "teams": (("url",), ("url",)),
}
# For plugin kinds the workspace does not know: mask anything that looks like a credential.
_SECRET_NAME = re.compile(r"password|passwd|secret|token|api_?key|credential|url|webhook", re.I)
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
STATUSES = ("pending", "sending", "sent", "failed")


def secret_keys(kind: str, config: Mapping[str, Any]) -> set[str]:
    """The keys of ``config`` whose values reads must mask."""
    known = set(BUILTIN_KINDS.get(kind, ((), ()))[1])
    return {k for k in config if k in known or _SECRET_NAME.search(k)}


def mask_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with every set secret replaced by ``MASK``."""
    hidden = secret_keys(kind, config)
    return {
        k: MASK if k in hidden and v not in (None, "", {}, []) else v for k, v in config.items()
    }


def unmask_config(kind: str, new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` with each ``MASK`` value replaced by the stored secret (dropped if none)."""
    result: dict[str, Any] = {}
    for key, value in new.items():
        if value == MASK:
            if key in old:
                result[key] = old[key]
            continue
        result[key] = value
    return result


def _check_config(kind: str, config: object) -> dict[str, Any]:
    if not isinstance(config, Mapping) or not all(isinstance(k, str) for k in config):
        raise InvalidInputError(f"{kind} channel: the config must be an object of key/values")
    try:
        json.dumps(config)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{kind} channel: the config must be plain JSON values") from None
    required = BUILTIN_KINDS.get(kind, ((), ()))[0]
    missing = [k for k in required if config.get(k) in (None, "")]
    if missing:
        raise InvalidInputError(
            f"{kind} channel: missing {', '.join(map(repr, missing))} in the config"
        )
    return dict(config)


def _check_kind(kind: str) -> str:
    name = kind.strip().lower() if isinstance(kind, str) else ""
    if not _KIND.match(name):
        known = ", ".join(BUILTIN_KINDS)
        raise InvalidInputError(
            f"channel kind {kind!r} is not a plugin id: use one of {known} or an installed one"
        )
    return name


def _check_name(name: str) -> str:
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > 200:
        raise InvalidInputError(f"channel name {name!r} must have 1 to 200 characters")
    return cleaned


def check_events(events: Sequence[str]) -> list[str]:
    """Event names checked against NotificationEvent, without duplicates, in their order."""
    if isinstance(events, str):
        events = [e for e in events.split(",") if e.strip()]
    result: list[str] = []
    for event in events:
        name = str(event).strip().lower()
        if name not in NotificationEvent.__members__.values():
            known = ", ".join(e.value for e in NotificationEvent)
            raise InvalidInputError(f"unknown event {event!r}: use {known}")
        if name not in result:
            result.append(name)
    if not result:
        raise InvalidInputError("a subscription needs at least one event")
    return result


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A channel as reads show it: secrets masked; no config at all for non-managers."""

    id: int
    name: str
    kind: str
    enabled: bool
    created_at: datetime
    config: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
            "config": self.config,
        }


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """A subscription: a user's, a team's, or everyone's (both ids None)."""

    id: int
    channel_id: int
    user_id: int | None
    team_id: int | None
    events: tuple[str, ...]
    min_severity: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "team_id": self.team_id,
            "events": list(self.events),
            "min_severity": self.min_severity,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class NotificationInfo:
    """One outbox row: what, to whom, and how delivery went."""

    id: int
    channel_id: int
    event: str
    subject: str
    payload: dict[str, Any]
    recipients: tuple[str, ...]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "event": self.event,
            "subject": self.subject,
            "payload": self.payload,
            "recipients": list(self.recipients),
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


def _channel(row: NotificationChannel, *, with_config: bool) -> ChannelInfo:
    config = mask_config(row.kind, row.config or {}) if with_config else None
    return ChannelInfo(row.id, row.name, row.kind, row.enabled, row.created_at, config)


def _subscription(row: Subscription) -> SubscriptionInfo:
    return SubscriptionInfo(
        row.id,
        row.channel_id,
        row.user_id,
        row.team_id,
        tuple(row.events or ()),
        row.min_severity,
        row.created_at,
    )


def _notification(row: Notification) -> NotificationInfo:
    return NotificationInfo(
        row.id,
        row.channel_id,
        row.event,
        row.subject,
        dict(row.payload or {}),
        tuple(row.recipients or ()),
        row.status,
        row.attempts,
        row.last_error,
        row.created_at,
        row.next_attempt_at,
        row.sent_at,
    )


def _same(column: Any, value: int | None) -> ColumnElement[bool]:
    result: ColumnElement[bool] = column.is_(None) if value is None else column == value
    return result


class ChannelService:
    """Channels (admin), subscriptions (own or admin) and the outbox (admin)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # channels --------------------------------------------------------------------------
    def create_channel(
        self,
        actor: Principal,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        enabled: bool = True,
        *,
        validate: ConfigValidator | None = None,
    ) -> ChannelInfo:
        """Create a channel; ``validate`` (the notifier's check) normalises the config."""
        actor.require(Permission.NOTIFICATION_MANAGE)
        kind = _check_kind(kind)
        name = _check_name(name)
        checked = _check_config(kind, config)
        if validate is not None:
            checked = _check_config(kind, validate(kind, checked))
        with self.db.session() as session:
            if session.scalar(
                select(NotificationChannel.id).where(NotificationChannel.name == name)
            ):
                raise ConflictError(f"a notification channel named {name!r} already exists")
            row = NotificationChannel(
                name=name,
                kind=kind,
                config=checked,
                enabled=bool(enabled),
                created_at=datetime.now(UTC),
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise ConflictError(
                    f"a notification channel named {name!r} already exists"
                ) from None
            record_audit(
                session,
                actor,
                "channel.create",
                target=f"channel:{row.id}",
                detail={"name": name, "kind": kind, "enabled": row.enabled},
            )
            return _channel(row, with_config=True)

    def list_channels(
        self,
        actor: Principal,
        *,
        kind: str | None = None,
        enabled: bool | None = None,
        sort: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[ChannelInfo]:
        """Channels; their (masked) configs only for ``NOTIFICATION_MANAGE``."""
        manager = self._reader(actor)
        query = select(NotificationChannel)
        if kind:
            query = query.where(NotificationChannel.kind == kind)
        if enabled is not None:
            query = query.where(NotificationChannel.enabled.is_(enabled))
        columns = {
            "id": NotificationChannel.id,
            "name": NotificationChannel.name,
            "kind": NotificationChannel.kind,
            "created_at": NotificationChannel.created_at,
        }
        query = query.order_by(*order_by(sort, columns, "name"))
        with self.db.session() as session:
            rows, total = paginate(session, query, limit=limit, offset=offset)
            items = [_channel(r, with_config=manager) for r in rows]
        return Page(items, total, limit, offset)

    def get_channel(self, actor: Principal, channel_id: int) -> ChannelInfo:
        """One channel; its (masked) config only for ``NOTIFICATION_MANAGE``."""
        manager = self._reader(actor)
        with self.db.session() as session:
            return _channel(self._get(session, channel_id), with_config=manager)

    def update_channel(
        self,
        actor: Principal,
        channel_id: int,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
        validate: ConfigValidator | None = None,
    ) -> ChannelInfo:
        """Rename, enable/disable, or replace the config (``MASK`` keeps a stored secret)."""
        actor.require(Permission.NOTIFICATION_MANAGE)
        with self.db.session() as session:
            row = self._get(session, channel_id)
            changed: list[str] = []
            if name is not None and _check_name(name) != row.name:
                new_name = _check_name(name)
                clash = session.scalar(
                    select(NotificationChannel.id).where(
                        NotificationChannel.name == new_name, NotificationChannel.id != row.id
                    )
                )
                if clash:
                    raise ConflictError(f"a notification channel named {new_name!r} already exists")
                row.name = new_name
                changed.append("name")
            config_keys: list[str] = []
            if config is not None:
                old = dict(row.config or {})
                merged = _check_config(row.kind, unmask_config(row.kind, config, old))
                if validate is not None:
                    merged = _check_config(row.kind, validate(row.kind, merged))
                config_keys = sorted(
                    k for k in set(old) | set(merged) if old.get(k) != merged.get(k)
                )
                if config_keys:
                    row.config = merged
                    changed.append("config")
            if enabled is not None and bool(enabled) != row.enabled:
                row.enabled = bool(enabled)
                changed.append("enabled")
            if changed:
                try:
                    session.flush()
                except IntegrityError:
                    raise ConflictError(
                        f"a notification channel named {row.name!r} already exists"
                    ) from None
                record_audit(
                    session,
                    actor,
                    "channel.update",
                    target=f"channel:{row.id}",
                    # key names only: the values may be secrets
                    detail={"changed": changed, "config_keys": config_keys},
                )
            return _channel(row, with_config=True)

    def delete_channel(self, actor: Principal, channel_id: int) -> None:
        """Delete a channel with its subscriptions and queued notifications."""
        actor.require(Permission.NOTIFICATION_MANAGE)
        with self.db.session() as session:
            row = self._get(session, channel_id)
            detail = {"name": row.name, "kind": row.kind}
            # subscriptions and queued notifications go with it (ON DELETE CASCADE)
            session.execute(delete(NotificationChannel).where(NotificationChannel.id == channel_id))
            record_audit(
                session, actor, "channel.delete", target=f"channel:{channel_id}", detail=detail
            )

    # subscriptions ---------------------------------------------------------------------
    def subscribe(
        self,
        actor: Principal,
        channel_id: int,
        events: Sequence[str],
        min_severity: str = "high",
        user_id: int | None = None,
        team_id: int | None = None,
        *,
        broadcast: bool = False,
    ) -> SubscriptionInfo:
        """Subscribe a user (the actor by default), a team, or everyone (``broadcast``).

        A user subscribes itself with ``SUBSCRIPTION_OWN``; another user, a team or
        ``broadcast`` (every matching event, whatever its team) needs ``NOTIFICATION_MANAGE``.
        """
        if (user_id is not None) + (team_id is not None) + bool(broadcast) > 1:
            raise InvalidInputError("name only one of user_id, team_id or broadcast")
        if team_id is not None or broadcast:
            actor.require(Permission.NOTIFICATION_MANAGE)
        elif user_id is None or user_id == actor.user_id:
            actor.require(Permission.SUBSCRIPTION_OWN)
            if actor.user_id is None:
                raise InvalidInputError(
                    f"{actor.name!r} is not a user: name a user_id, a team_id or broadcast"
                )
            user_id = actor.user_id
        else:
            actor.require(Permission.NOTIFICATION_MANAGE)
        checked_events = check_events(events)
        severity = Severity.parse(str(min_severity)).value
        with self.db.session() as session:
            self._get(session, channel_id)
            if user_id is not None and session.get(User, user_id) is None:
                raise NotFoundError(f"no user with id {user_id}")
            if team_id is not None and session.get(Team, team_id) is None:
                raise NotFoundError(f"no team with id {team_id}")
            existing = session.scalar(
                select(Subscription.id).where(
                    Subscription.channel_id == channel_id,
                    _same(Subscription.user_id, user_id),
                    _same(Subscription.team_id, team_id),
                )
            )
            if existing is not None:
                raise ConflictError(
                    f"subscription {existing} already covers this on channel {channel_id}: "
                    "unsubscribe it first to change its events"
                )
            row = Subscription(
                channel_id=channel_id,
                user_id=user_id,
                team_id=team_id,
                events=checked_events,
                min_severity=severity,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return _subscription(row)

    def list_subscriptions(
        self,
        actor: Principal,
        *,
        user_id: int | None = None,
        team_id: int | None = None,
        channel_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[SubscriptionInfo]:
        """Every subscription for ``NOTIFICATION_MANAGE``; otherwise the actor's own."""
        check_window(limit, offset)
        query = select(Subscription)
        if actor.can(Permission.NOTIFICATION_MANAGE):
            if user_id is not None:
                query = query.where(Subscription.user_id == user_id)
            if team_id is not None:
                query = query.where(Subscription.team_id == team_id)
        else:
            actor.require(Permission.SUBSCRIPTION_OWN)
            if team_id is not None or (user_id is not None and user_id != actor.user_id):
                raise PermissionDeniedError(f"{actor.name!r} may list only its own subscriptions")
            if actor.user_id is None:
                return Page([], 0, limit, offset)
            query = query.where(Subscription.user_id == actor.user_id)
        if channel_id is not None:
            query = query.where(Subscription.channel_id == channel_id)
        query = query.order_by(Subscription.id)
        with self.db.session() as session:
            rows, total = paginate(session, query, limit=limit, offset=offset)
            items = [_subscription(r) for r in rows]
        return Page(items, total, limit, offset)

    def unsubscribe(self, actor: Principal, subscription_id: int) -> None:
        """Delete a subscription: one's own with ``SUBSCRIPTION_OWN``, any with manage."""
        with self.db.session() as session:
            row = session.get(Subscription, subscription_id)
            if row is None:
                raise NotFoundError(f"no subscription with id {subscription_id}")
            if row.user_id is not None and row.user_id == actor.user_id:
                actor.require(Permission.SUBSCRIPTION_OWN)
            else:
                actor.require(Permission.NOTIFICATION_MANAGE)
            session.delete(row)

    # outbox ----------------------------------------------------------------------------
    def list_notifications(
        self,
        actor: Principal,
        status: str | None = None,
        *,
        channel_id: int | None = None,
        event: str | None = None,
        sort: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[NotificationInfo]:
        """The outbox, newest first: what was sent, what waits for a retry, what failed."""
        actor.require(Permission.NOTIFICATION_MANAGE)
        query = select(Notification)
        if status:
            if status not in STATUSES:
                raise InvalidInputError(
                    f"unknown notification status {status!r}: use one of {', '.join(STATUSES)}"
                )
            query = query.where(Notification.status == status)
        if channel_id is not None:
            query = query.where(Notification.channel_id == channel_id)
        if event:
            query = query.where(Notification.event == event)
        columns = {
            "id": Notification.id,
            "created_at": Notification.created_at,
            "next_attempt_at": Notification.next_attempt_at,
            "status": Notification.status,
        }
        query = query.order_by(*order_by(sort, columns, "-id"))
        with self.db.session() as session:
            rows, total = paginate(session, query, limit=limit, offset=offset)
            items = [_notification(r) for r in rows]
        return Page(items, total, limit, offset)

    def retry_notification(self, actor: Principal, notification_id: int) -> NotificationInfo:
        """Queue a failed notification again, with a fresh set of attempts."""
        actor.require(Permission.NOTIFICATION_MANAGE)
        with self.db.session() as session:
            row = session.get(Notification, notification_id)
            if row is None:
                raise NotFoundError(f"no notification with id {notification_id}")
            if row.status != "failed":
                raise ConflictError(
                    f"notification {notification_id} is {row.status!r}: only failed ones "
                    "can be retried"
                )
            # failed rows belong to no deliverer, so a plain update cannot race one
            row.status = "pending"
            row.attempts = 0
            row.next_attempt_at = datetime.now(UTC)
            session.flush()
            return _notification(row)

    # helpers ---------------------------------------------------------------------------
    @staticmethod
    def _reader(actor: Principal) -> bool:
        """True for a manager; else the actor must at least manage its own subscriptions."""
        if actor.can(Permission.NOTIFICATION_MANAGE):
            return True
        actor.require(Permission.SUBSCRIPTION_OWN)
        return False

    @staticmethod
    def _get(session: Session, channel_id: int) -> NotificationChannel:
        row = session.get(NotificationChannel, channel_id)
        if row is None:
            raise NotFoundError(f"no notification channel with id {channel_id}")
        return row
