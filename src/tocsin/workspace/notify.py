"""Turning workspace events into notifications waiting in the outbox.

Services call ``emit`` in the transaction that makes the change (a new high alert, an
assignment, an SLA breach). It finds the subscriptions that want the event and writes one
``Notification`` per channel to the outbox; ``tocsin.respond`` delivers them (with retries) so
that a slow mail server never slows triage. Nothing is sent unless a user configured a channel
and a subscription.

Matching rules:
- a subscription wants an event when the event's kind is in its ``events`` and the severity (when
  the event has one) is at least its ``min_severity``;
- a **user** subscription gets ``*.assigned`` events only for itself, and other events for items
  of one of its teams or of no team;
- a **team** subscription gets events for items of that team or of no team;
- a subscription with neither user nor team gets every matching event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tocsin.workspace.models import Severity
from tocsin.workspace.tables import (
    Notification,
    NotificationChannel,
    Subscription,
    TeamMember,
    User,
)


class NotificationEvent(StrEnum):
    """The kinds of event one can subscribe to."""

    ALERT_CREATED = "alert.created"
    ALERT_ASSIGNED = "alert.assigned"
    CASE_CREATED = "case.created"
    CASE_ASSIGNED = "case.assigned"
    SLA_AT_RISK = "sla.at_risk"
    SLA_BREACHED = "sla.breached"


@dataclass(frozen=True, slots=True)
class Emission:
    """One workspace event that subscribers may want to hear about."""

    event: NotificationEvent | str
    subject: str
    payload: dict[str, Any] = field(default_factory=dict)
    severity: Severity | str | None = None
    team_id: int | None = None
    user_id: int | None = None  # the assignee, for *.assigned


def emit(session: Session, emissions: Sequence[Emission]) -> int:
    """Queue the notifications the subscriptions ask for; returns how many were queued."""
    if not emissions:
        return 0
    subs = session.execute(
        select(Subscription, NotificationChannel)
        .join(NotificationChannel, Subscription.channel_id == NotificationChannel.id)
        .where(NotificationChannel.enabled.is_(True))
    ).all()
    if not subs:
        return 0
    members: dict[int, set[int]] = defaultdict(set)  # user id -> team ids
    for team_id, user_id in session.execute(select(TeamMember.team_id, TeamMember.user_id)):
        members[user_id].add(team_id)
    emails = {
        u.id: u.email
        for u in session.scalars(select(User).where(User.disabled.is_(False)))
        if u.email
    }
    team_emails: dict[int, list[str]] = defaultdict(list)
    for user_id, teams in members.items():
        for team_id in teams:
            if user_id in emails:
                team_emails[team_id].append(emails[user_id])
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for item in emissions:
        kind = str(item.event)
        rank = Severity.parse(str(item.severity)).rank if item.severity else None
        per_channel: dict[int, list[str]] = {}
        for sub, _channel in subs:
            if kind not in sub.events:
                continue
            if rank is not None and rank < Severity.parse(sub.min_severity).rank:
                continue
            if not _wants(sub, item, kind, members):
                continue
            recipients = per_channel.setdefault(sub.channel_id, [])
            if sub.user_id is not None and sub.user_id in emails:
                recipients.append(emails[sub.user_id])
            elif sub.team_id is not None:
                recipients.extend(team_emails.get(sub.team_id, []))
        payload = {"event": kind, **item.payload}
        if item.severity and "severity" not in payload:
            payload["severity"] = Severity.parse(str(item.severity)).value  # notifiers show it
        for channel_id, recipients in per_channel.items():
            rows.append(
                {
                    "channel_id": channel_id,
                    "event": kind,
                    "subject": item.subject[:500],
                    "payload": payload,
                    "recipients": sorted(set(recipients)),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                }
            )
    if rows:
        session.execute(insert(Notification), rows)
    return len(rows)


def _wants(sub: Subscription, item: Emission, kind: str, members: dict[int, set[int]]) -> bool:
    if sub.user_id is not None:
        if kind.endswith(".assigned"):
            return item.user_id == sub.user_id
        return item.team_id is None or item.team_id in members.get(sub.user_id, set())
    if sub.team_id is not None:
        return item.team_id is None or item.team_id == sub.team_id
    return True
