"""What alert reads return: AlertRead, AlertComment, BulkResult, and building them from rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.workspace.tables import Alert, Team, User


@dataclass(frozen=True, slots=True)
class BulkResult:
    """A bulk action: the ids it changed and, per id, why it did not change the others."""

    done: list[int]
    errors: dict[int, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (error keys become strings in JSON)."""
        return {"done": self.done, "errors": {str(k): v for k, v in self.errors.items()}}


@dataclass(frozen=True, slots=True)
class AlertRead:
    """An alert as the API, the CLI and the console show it."""

    id: int
    rule_id: str
    title: str
    description: str
    severity: str
    severity_rank: int
    status: str
    classification: str | None
    close_comment: str | None
    dedup_key: str
    source: str | None
    team_id: int | None
    team_name: str | None
    assignee_id: int | None
    assignee_name: str | None
    case_id: int | None
    tags: list[str]
    observables: list[dict[str, str]]
    reasons: list[dict[str, Any]]
    fields: dict[str, Any]
    event_ids: list[str]
    count: int
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    version: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form (times as ISO 8601 text)."""
        result: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            result[name] = value.isoformat() if isinstance(value, datetime) else value
        return result


@dataclass(frozen=True, slots=True)
class AlertComment:
    """A comment on an alert."""

    id: int
    alert_id: int
    author: str
    body: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "alert_id": self.alert_id,
            "author": self.author,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }


def read_alerts(session: Session, rows: Sequence[Alert]) -> list[AlertRead]:
    user_ids = {r.assignee_id for r in rows if r.assignee_id is not None}
    team_ids = {r.team_id for r in rows if r.team_id is not None}
    users: dict[int, str] = {}
    teams: dict[int, str] = {}
    if user_ids:
        users = dict(
            session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all()
        )
    if team_ids:
        teams = dict(session.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids))).all())
    return [
        AlertRead(
            id=r.id,
            rule_id=r.rule_id,
            title=r.title,
            description=r.description,
            severity=r.severity,
            severity_rank=r.severity_rank,
            status=r.status,
            classification=r.classification,
            close_comment=r.close_comment,
            dedup_key=r.dedup_key,
            source=r.source,
            team_id=r.team_id,
            team_name=teams.get(r.team_id) if r.team_id is not None else None,
            assignee_id=r.assignee_id,
            assignee_name=users.get(r.assignee_id) if r.assignee_id is not None else None,
            case_id=r.case_id,
            tags=list(r.tags or []),
            observables=list(r.observables or []),
            reasons=list(r.reasons or []),
            fields=dict(r.fields or {}),
            event_ids=list(r.event_ids or []),
            count=r.count,
            first_seen=r.first_seen,
            last_seen=r.last_seen,
            created_at=r.created_at,
            updated_at=r.updated_at,
            acknowledged_at=r.acknowledged_at,
            closed_at=r.closed_at,
            version=r.version,
        )
        for r in rows
    ]
