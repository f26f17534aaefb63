"""The append-only history of alerts and cases, and the audit log.

Every change to an alert, case or task writes one ``HistoryRecord`` (who, what, before, after,
when) in the same transaction as the change. Metrics (MTTA, MTTR, time in stage) are computed
from these records. The audit log records logins, permission changes, token use and exports.
Neither has an update or delete path: the database refuses both (migration 0002).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from tocsin.workspace.db import Database
from tocsin.workspace.paging import Page, order_by, paginate
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import AuditRecord, HistoryRecord

_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """A value as history stores it: datetimes as ISO text, enums as their value."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def record_change(
    session: Session,
    entity_type: str,
    entity_id: int,
    actor: Principal | str,
    action: str,
    *,
    field: str | None = None,
    before: Any = None,
    after: Any = None,
    at: datetime | None = None,
) -> None:
    """Append one history record in the caller's transaction."""
    session.add(
        HistoryRecord(
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            field=field,
            before=jsonable(before),
            after=jsonable(after),
            actor=actor if isinstance(actor, str) else actor.name,
            at=at or datetime.now(UTC),
        )
    )


def record_changes(session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append many history records at once (bulk paths such as ``raise_alerts``).

    Each row has the keys of ``record_change`` (``actor`` as a string, ``at`` required).
    """
    values = [
        {
            "entity_type": r["entity_type"],
            "entity_id": r["entity_id"],
            "action": r["action"],
            "field": r.get("field"),
            "before": jsonable(r.get("before")),
            "after": jsonable(r.get("after")),
            "actor": r["actor"],
            "at": r["at"],
        }
        for r in rows
    ]
    if values:
        # a Core insert: the ORM's bulk path costs more per row than the insert itself
        session.connection().execute(insert(cast(Table, HistoryRecord.__table__)), values)


def record_audit(
    session: Session,
    actor: Principal | str,
    action: str,
    *,
    target: str | None = None,
    outcome: str = "success",
    ip: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one audit record in the caller's transaction (never put a secret in ``detail``)."""
    session.add(
        AuditRecord(
            at=datetime.now(UTC),
            actor=actor if isinstance(actor, str) else actor.name,
            action=action,
            target=target,
            outcome=outcome,
            ip=ip,
            detail=jsonable(dict(detail or {})),
        )
    )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A history record as lists show it."""

    id: int
    entity_type: str
    entity_id: int
    action: str
    field: str | None
    before: Any
    after: Any
    actor: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "action": self.action,
            "field": self.field,
            "before": self.before,
            "after": self.after,
            "actor": self.actor,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An audit record as lists show it."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    ip: str | None
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "ip": self.ip,
            "detail": self.detail,
        }


def _history_entry(r: HistoryRecord) -> HistoryEntry:
    return HistoryEntry(
        r.id, r.entity_type, r.entity_id, r.action, r.field, r.before, r.after, r.actor, r.at
    )


_ENTITY_READ = {
    "alert": Permission.ALERT_READ,
    "case": Permission.CASE_READ,
    "task": Permission.CASE_READ,
}


class HistoryService:
    """Read history and the audit log (there is nothing else to do with them)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def history(self, actor: Principal, entity_type: str, entity_id: int) -> list[HistoryEntry]:
        """Every change to one alert, case or task, oldest first."""
        actor.require(_ENTITY_READ.get(entity_type, Permission.AUDIT_READ))
        with self.db.session() as session:
            rows = session.scalars(
                select(HistoryRecord)
                .where(
                    HistoryRecord.entity_type == entity_type,
                    HistoryRecord.entity_id == entity_id,
                )
                .order_by(HistoryRecord.id)
            ).all()
            return [_history_entry(r) for r in rows]

    def audit(
        self,
        actor: Principal,
        *,
        action: str | None = None,
        who: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        sort: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[AuditEntry]:
        """The audit log, newest first unless ``sort`` says otherwise."""
        actor.require(Permission.AUDIT_READ)
        query = select(AuditRecord)
        if action:
            query = query.where(AuditRecord.action == action)
        if who:
            query = query.where(AuditRecord.actor == who)
        if since:
            query = query.where(AuditRecord.at >= since)
        if until:
            query = query.where(AuditRecord.at < until)
        columns = {"at": AuditRecord.at, "id": AuditRecord.id, "action": AuditRecord.action}
        query = query.order_by(*order_by(sort, columns, "-id"))
        with self.db.session() as session:
            rows, total = paginate(session, query, limit=limit, offset=offset)
            items = [
                AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.outcome, r.ip, r.detail)
                for r in rows
            ]
        return Page(items, total, limit, offset)
