"""Delivering the outbox: claim due notifications, send them, record the outcome, retry later.

The workspace writes notifications in the transaction of the change (``workspace.notify``);
here they leave tocsin. Each pass:

1. **claims** due rows in one short transaction: ``pending`` rows whose ``next_attempt_at`` has
   come, and ``sending`` rows whose claim expired (a deliverer that died). Claiming sets
   ``status="sending"``, counts the attempt and pushes ``next_attempt_at`` by ``CLAIM_LEASE``;
   the UPDATE re-checks the condition, so two deliverers never claim the same row;
2. **sends** each claimed row through the notifier of its channel's kind, outside any
   transaction (a slow SMTP server must not hold a database write lock);
3. **records** each outcome in its own short transaction: ``sent`` with ``sent_at``; or, after a
   failure, ``pending`` again with ``next_attempt_at`` pushed by ``BACKOFF`` (30 s, 2 min,
   10 min, 1 h, 6 h); the sixth failed attempt, or a config that cannot work, leaves the row
   ``failed``. ``last_error`` is short and never holds a URL or a secret.

When a channel fails, the rest of its rows in the same pass are not tried: they wait for the
failed row's next attempt (``deferred``), so a dead server costs one timeout per pass, not one
per notification.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update

from tocsin.core.errors import (
    ExternalServiceError,
    InvalidInputError,
    NotFoundError,
    TocsinError,
)
from tocsin.core.plugins import Registry, default_registry
from tocsin.core.settings import Settings
from tocsin.respond.base import Message, Notifier, short_error
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_audit
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import Notification, NotificationChannel, User

logger = logging.getLogger(__name__)

NOTIFIER_GROUP = "tocsin.notifiers"
BACKOFF: tuple[timedelta, ...] = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
CLAIM_LEASE = timedelta(minutes=15)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt (1-based)."""
    return BACKOFF[max(1, min(attempts, len(BACKOFF))) - 1]


def console_link(event: str, payload: Mapping[str, Any]) -> str | None:
    """The console path of the item a notification is about (``/alerts/12``), if known."""
    link = payload.get("link")
    if isinstance(link, str) and link.startswith("/") and not link.startswith("//"):
        return link
    entity = event.partition(".")[0]
    if entity in {"alert", "case"}:
        for key in (f"{entity}_id", "id"):
            if _is_id(payload.get(key)):
                return f"/{entity}s/{payload[key]}"
    entity_type = payload.get("entity_type")
    if entity_type in {"alert", "case"} and _is_id(payload.get("entity_id")):
        return f"/{entity_type}s/{payload['entity_id']}"
    for key in ("alert_id", "case_id"):
        if _is_id(payload.get(key)):
            return f"/{key.removesuffix('_id')}s/{payload[key]}"
    return None


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def build_message(
    event: str,
    subject: str,
    payload: Mapping[str, Any],
    recipients: Sequence[str] = (),
) -> Message:
    """Render a queued notification: subject, severity, title and console link, kept short.

    A payload with a ``body`` (the answer to someone who reported a phish, written for them)
    is sent as it is, without the console details meant for the team.
    """
    body = payload.get("body")
    if isinstance(body, str) and body:
        return Message(
            event=event,
            subject=subject,
            text=body,
            payload=dict(payload),
            recipients=tuple(recipients),
        )
    severity = payload.get("severity")
    severity = str(severity) if severity else None
    title = payload.get("title")
    link = console_link(event, payload)
    lines = [subject, ""]
    if severity:
        lines.append(f"Severity: {severity}")
    if isinstance(title, str) and title and title != subject:
        lines.append(f"Title: {title[:500]}")
    lines.append(f"Event: {event}")
    if link:
        lines.append(f"Link: {link}")
    return Message(
        event=event,
        subject=subject,
        text="\n".join(lines),
        payload=dict(payload),
        recipients=tuple(recipients),
        severity=severity,
        link=link,
    )


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one pass did: sent, failed for good, scheduled for a retry, deferred unsent."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0

    @property
    def claimed(self) -> int:
        """Every notification the pass took."""
        return self.sent + self.failed + self.retried + self.deferred

    def summary(self) -> str:
        """One line for the scheduler."""
        return (
            f"{self.sent} sent, {self.retried} to retry, {self.failed} failed, "
            f"{self.deferred} deferred"
        )


@dataclass(frozen=True, slots=True)
class ChannelTestResult:
    """The outcome of a test message: ok, or the error (short, no secret)."""

    ok: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"ok": self.ok, "error": self.error}


@dataclass(slots=True)
class _Work:
    id: int
    channel_id: int
    kind: str
    config: dict[str, Any]
    enabled: bool
    event: str
    subject: str
    payload: dict[str, Any]
    recipients: list[str]
    attempts: int


@dataclass(slots=True)
class _Tally:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    broken: dict[int, datetime] = field(default_factory=dict)  # channel id -> its retry time

    def report(self) -> DeliveryReport:
        return DeliveryReport(self.sent, self.failed, self.retried, self.deferred)


class _Permanent(Exception):
    """A failure that retrying cannot fix (disabled channel, unusable config)."""


class Deliverer:
    """Delivers the outbox through notifiers loaded by channel kind.

    ``notifiers`` maps kinds to notifier objects; without it they come from the
    ``tocsin.notifiers`` entry-point group of ``registry`` (the process-wide one by default).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        notifiers: Mapping[str, Notifier] | None = None,
        *,
        registry: Registry | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self._fixed = dict(notifiers) if notifiers is not None else None
        self._registry = registry
        self._loaded: dict[str, Notifier] = {}

    # notifiers -------------------------------------------------------------------------
    def kinds(self) -> list[str]:
        """The channel kinds that can be delivered."""
        if self._fixed is not None:
            return sorted(self._fixed)
        return (self._registry or default_registry()).ids(NOTIFIER_GROUP)

    def notifier(self, kind: str) -> Notifier:
        """The notifier for ``kind``; NotFoundError names the known kinds."""
        if self._fixed is not None:
            found = self._fixed.get(kind)
            if found is None:
                known = ", ".join(sorted(self._fixed)) or "none"
                raise NotFoundError(f"no notifier for channel kind {kind!r} (known: {known})")
            return found
        if kind not in self._loaded:
            obj = (self._registry or default_registry()).load(NOTIFIER_GROUP, kind)
            self._loaded[kind] = obj() if isinstance(obj, type) else obj
        return self._loaded[kind]

    def validate_config(self, kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check a channel config with its notifier (for ``ChannelService``'s ``validate``)."""
        try:
            notifier = self.notifier(kind)
        except NotFoundError:
            known = ", ".join(self.kinds()) or "none installed"
            raise InvalidInputError(f"unknown channel kind {kind!r}: use one of {known}") from None
        return notifier.validate(config)

    # delivery --------------------------------------------------------------------------
    def deliver_pending(self, now: datetime | None = None, limit: int = 100) -> DeliveryReport:
        """Send the notifications due at ``now`` (at most ``limit``); see the module docstring."""
        now = now or datetime.now(UTC)
        tally = _Tally()
        for work in self._claim(now, limit, tally):
            retry_at = tally.broken.get(work.channel_id)
            if retry_at is not None:
                self._defer(work, retry_at)
                tally.deferred += 1
                continue
            self._deliver_one(work, now, tally)
        report = tally.report()
        if report.claimed:
            logger.info(
                "notification pass done",
                extra={
                    "sent": report.sent,
                    "failed": report.failed,
                    "retried": report.retried,
                    "deferred": report.deferred,
                },
            )
        return report

    def _claim(self, now: datetime, limit: int, tally: _Tally) -> list[_Work]:
        n = Notification
        due = and_(n.status.in_([PENDING, SENDING]), n.next_attempt_at <= now)
        with self.db.session() as session:
            # an expired claim that used the last attempt: its deliverer died mid-send
            abandoned = session.execute(
                update(n)
                .where(due, n.status == SENDING, n.attempts >= MAX_ATTEMPTS)
                .values(status=FAILED, last_error="delivery interrupted")
                .execution_options(synchronize_session=False)
            )
            tally.failed += int(getattr(abandoned, "rowcount", 0) or 0)
            ids = list(
                session.scalars(
                    select(n.id).where(due).order_by(n.next_attempt_at, n.id).limit(limit)
                )
            )
            if not ids:
                return []
            claimed = list(
                session.scalars(
                    update(n)
                    .where(n.id.in_(ids), due)
                    .values(
                        status=SENDING,
                        attempts=n.attempts + 1,
                        next_attempt_at=now + CLAIM_LEASE,
                    )
                    .returning(n.id)
                    .execution_options(synchronize_session=False)
                )
            )
            if not claimed:
                return []
            rows = session.execute(
                select(n, NotificationChannel)
                .join(NotificationChannel, n.channel_id == NotificationChannel.id)
                .where(n.id.in_(claimed))
                .order_by(n.id)
            ).all()
            return [
                _Work(
                    id=row.id,
                    channel_id=channel.id,
                    kind=channel.kind,
                    config=dict(channel.config or {}),
                    enabled=channel.enabled,
                    event=row.event,
                    subject=row.subject,
                    payload=dict(row.payload or {}),
                    recipients=list(row.recipients or []),
                    attempts=row.attempts,
                )
                for row, channel in rows
            ]

    def _deliver_one(self, work: _Work, now: datetime, tally: _Tally) -> None:
        log = {"notification_id": work.id, "channel_id": work.channel_id, "kind": work.kind}
        try:
            self._send(work)
        except _Permanent as exc:
            error = short_error(str(exc))
            self._finish(work.id, status=FAILED, error=error)
            tally.failed += 1
            logger.warning(
                "notification failed for good",
                extra={**log, "attempt": work.attempts, "error": error},
            )
            return
        except Exception as exc:  # any notifier failure is retried, even a plugin's bug
            error = _describe(exc)
            if work.attempts >= MAX_ATTEMPTS:
                self._finish(work.id, status=FAILED, error=error)
                tally.failed += 1
                tally.broken[work.channel_id] = now + BACKOFF[0]
                logger.warning(
                    "notification failed for good",
                    extra={**log, "attempt": work.attempts, "error": error},
                )
            else:
                retry_at = now + retry_delay(work.attempts)
                self._finish(work.id, status=PENDING, error=error, next_attempt_at=retry_at)
                tally.retried += 1
                tally.broken[work.channel_id] = retry_at
                logger.warning(
                    "notification delivery failed, will retry",
                    extra={
                        **log,
                        "attempt": work.attempts,
                        "error": error,
                        "retry_at": retry_at.isoformat(),
                    },
                )
            return
        self._finish(work.id, status=SENT, sent_at=now)
        tally.sent += 1
        logger.info("notification sent", extra={**log, "attempt": work.attempts})

    def _send(self, work: _Work) -> None:
        if not work.enabled:
            raise _Permanent(f"channel {work.channel_id} is disabled")
        notifier = self.notifier(work.kind)
        try:
            config = notifier.validate(work.config)
        except InvalidInputError as exc:
            raise _Permanent(str(exc)) from exc
        message = build_message(work.event, work.subject, work.payload, work.recipients)
        try:
            notifier.send(config, message)
        except InvalidInputError as exc:
            raise _Permanent(str(exc)) from exc

    def _finish(
        self,
        notification_id: int,
        *,
        status: str,
        error: str | None = None,
        sent_at: datetime | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "last_error": error}
        if sent_at is not None:
            values["sent_at"] = sent_at
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self.db.session() as session:
            session.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.status == SENDING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def _defer(self, work: _Work, retry_at: datetime) -> None:
        """Hand a claimed row back untried: its attempt does not count."""
        with self.db.session() as session:
            session.execute(
                update(Notification)
                .where(Notification.id == work.id, Notification.status == SENDING)
                .values(
                    status=PENDING,
                    attempts=Notification.attempts - 1,
                    next_attempt_at=retry_at,
                )
                .execution_options(synchronize_session=False)
            )

    # test messages ---------------------------------------------------------------------
    def send_test(
        self, actor: Principal, channel_id: int, recipients: Sequence[str] | None = None
    ) -> ChannelTestResult:
        """Send a test message through a channel now; the outcome is audited.

        Without ``recipients`` an e-mail goes to the channel's ``to_addresses``, else to the
        acting user's own address.
        """
        actor.require(Permission.NOTIFICATION_MANAGE)
        with self.db.session() as session:
            channel = session.get(NotificationChannel, channel_id)
            if channel is None:
                raise NotFoundError(f"no notification channel with id {channel_id}")
            kind, name, config = channel.kind, channel.name, dict(channel.config or {})
            if recipients is None:
                recipients = []
                user = session.get(User, actor.user_id) if actor.user_id is not None else None
                if user is not None and user.email and not config.get("to_addresses"):
                    recipients = [user.email]
        message = build_message(
            "test",
            f"tocsin test notification ({name})",
            {"channel_id": channel_id, "title": f"Sent by {actor.name} to check the channel"},
            recipients,
        )
        result = ChannelTestResult(ok=True)
        try:
            notifier = self.notifier(kind)
            notifier.send(notifier.validate(config), message)
        except TocsinError as exc:
            result = ChannelTestResult(ok=False, error=short_error(str(exc)))
        except Exception as exc:  # a plugin's bug is reported like any failure
            result = ChannelTestResult(ok=False, error=_describe(exc))
        with self.db.session() as session:
            record_audit(
                session,
                actor,
                "channel.test",
                target=f"channel:{channel_id}",
                outcome="success" if result.ok else "failure",
                detail={"kind": kind, "error": result.error},
            )
        logger.info(
            "test notification sent" if result.ok else "test notification failed",
            extra={"channel_id": channel_id, "kind": kind},
        )
        return result


def _describe(exc: Exception) -> str:
    if isinstance(exc, ExternalServiceError | TocsinError):
        return short_error(str(exc))
    return short_error(f"unexpected {type(exc).__name__} in the notifier: {exc}")
