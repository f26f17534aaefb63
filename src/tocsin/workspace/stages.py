"""The stages an alert or case went through, read back from its history.

SLAs and metrics share this reading of the history vocabulary (``workspace/history.py``): the
``create`` record gives the creation time and first status (``after["status"]``); every record
with ``field="status"`` (``update`` or ``reopen``) moves the item to its ``after`` status. The
first move away from ``new`` is the acknowledgement, the first move to ``closed`` the resolution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from tocsin.workspace.tables import HistoryRecord

NEW = "new"
CLOSED = "closed"
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StageHistory:
    """When an item was created and each status it entered, oldest first.

    ``changes`` starts with ``(created_at, initial status)``; later entries are the moves.
    """

    created_at: datetime
    changes: tuple[tuple[datetime, str], ...]

    @property
    def status(self) -> str:
        """The latest status."""
        return self.changes[-1][1]

    def first_left(self, status: str = NEW) -> datetime | None:
        """When the item first had a status other than ``status`` (acknowledged, for ``new``)."""
        return next((at for at, s in self.changes if s != status), None)

    def first_entered(self, status: str) -> datetime | None:
        """When the item first had ``status``."""
        return next((at for at, s in self.changes if s == status), None)

    def status_at(self, instant: datetime) -> str:
        """The status in force at ``instant`` (the initial one before creation)."""
        current = self.changes[0][1]
        for at, status in self.changes:
            if at > instant:
                break
            current = status
        return current

    def intervals(self, end: datetime) -> list[tuple[str, datetime, datetime]]:
        """``(status, from, to)`` of each stage; the last one ends at ``end``."""
        result: list[tuple[str, datetime, datetime]] = []
        for index, (at, status) in enumerate(self.changes):
            following = self.changes[index + 1][0] if index + 1 < len(self.changes) else end
            stop = min(following, end)
            if stop > at:
                result.append((status, at, stop))
        return result


def build_stage_history(
    created_at: datetime, records: Iterable[tuple[str, str | None, Any, datetime]]
) -> StageHistory:
    """A stage history from ``(action, field, after, at)`` records in the order they happened.

    Without a ``create`` record the item is taken to start as ``new`` at ``created_at``.
    """
    initial = NEW
    created = created_at
    moves: list[tuple[datetime, str]] = []
    for action, field, after, at in records:
        if action == "create":
            created = at
            if isinstance(after, Mapping) and isinstance(after.get("status"), str):
                initial = after["status"]
        elif field == "status" and isinstance(after, str):
            moves.append((at, after))
    return StageHistory(created, ((created, initial), *moves))


def _status_records(entity_type: str) -> Select[Any]:
    return select(
        HistoryRecord.entity_id,
        HistoryRecord.action,
        HistoryRecord.field,
        HistoryRecord.after,
        HistoryRecord.at,
    ).where(
        HistoryRecord.entity_type == entity_type,
        or_(HistoryRecord.action == "create", HistoryRecord.field == "status"),
    )


def load_stage_histories(
    session: Session,
    entity_type: str,
    created: Mapping[int, datetime],
    *,
    id_filter: ColumnElement[bool] | None = None,
) -> dict[int, StageHistory]:
    """The stage history of every item in ``created`` (item id -> its ``created_at`` column).

    Reads the history in chunks of ids, or in one query restricted by ``id_filter`` (an
    expression on ``HistoryRecord.entity_id`` such as ``in_(subquery)``) when given.
    """
    grouped: dict[int, list[tuple[str, str | None, Any, datetime]]] = {i: [] for i in created}
    ids = list(created)
    queries: list[Select[Any]] = []
    if id_filter is not None:
        queries.append(_status_records(entity_type).where(id_filter))
    else:
        queries.extend(
            _status_records(entity_type).where(
                HistoryRecord.entity_id.in_(ids[start : start + _CHUNK])
            )
            for start in range(0, len(ids), _CHUNK)
        )
    for query in queries:
        for entity_id, action, field, after, at in session.execute(
            query.order_by(HistoryRecord.at, HistoryRecord.id)
        ):
            rows = grouped.get(entity_id)
            if rows is not None:
                rows.append((action, field, after, at))
    return {i: build_stage_history(created[i], grouped[i]) for i in ids}
