"""Raising alerts in batches: suppression, dedup, one INSERT and one UPDATE per batch.

Batch first (ARCHITECTURE.md section 5): one query finds the open alerts that the batch's
dedup keys repeat, repeats inside the batch fold together, existing alerts grow with one
executemany UPDATE and new ones arrive with one multi-row INSERT ... RETURNING, all in one
transaction with their history records and notifications; Core statements, no ORM object per
alert. Times: ``first_seen`` is the earliest triggering event (``event_time``, else the raise
time); ``last_seen`` is when the latest repeat was raised. A repeat folds into an open alert of
the same key whose ``last_seen`` lies within ``alert_dedup_minutes`` of the raise time, so a
re-import of old logs folds as well. Suppressed drafts are counted on their rule and in the
result, never silently dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import JSON, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import Settings
from tocsin.workspace.db import Database, UtcDateTime
from tocsin.workspace.history import jsonable, record_changes
from tocsin.workspace.models import AlertDraft, AlertStatus, Severity
from tocsin.workspace.notify import Emission, NotificationEvent, emit
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.suppression import SuppressionMatcher
from tocsin.workspace.tables import Alert, SuppressionRule, Team

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 1000  # the column's size; longer keys are shortened with a hash
_KEY_CHUNK = 500  # keys per IN (...) query, well under every engine's parameter limit
_CLOSED = AlertStatus.CLOSED.value
_NEW = AlertStatus.NEW.value

ALERTS = cast(Table, Alert.__table__)
SUPPRESSIONS = cast(Table, SuppressionRule.__table__)

_Existing = tuple[int, int, list[str], datetime]  # id, count, event ids, last seen


@dataclass(frozen=True, slots=True)
class RaiseResult:
    """What a batch did: ids of new alerts, ids of alerts that grew, drafts suppressed."""

    created: list[int]
    updated: list[int]
    suppressed: int


@dataclass(slots=True)
class _Group:
    """The drafts of one batch sharing a dedup key."""

    key: str
    draft: AlertDraft  # the first one: title, rule, team, ... come from it
    severity: Severity
    first_seen: datetime
    last_seen: datetime
    count: int = 1
    event_ids: list[str] = field(default_factory=list)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dedup_key(draft: AlertDraft) -> str:
    """The draft's key, shortened with a hash when longer than the column holds."""
    key = draft.key()
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: MAX_KEY_LENGTH - 65]}#{digest}"


_SEVERITY_NAMES = {s.value: s for s in Severity}


def _severity(draft: AlertDraft, index: int) -> Severity:
    if isinstance(draft.severity, Severity):
        return draft.severity
    known = _SEVERITY_NAMES.get(draft.severity)  # the common case, without parsing
    if known is not None:
        return known
    try:
        return Severity.parse(str(draft.severity))
    except InvalidInputError as exc:
        raise InvalidInputError(f"draft {index} (rule {draft.rule_id!r}): {exc.message}") from None


class AlertRaiser:
    """The batch path of ``AlertService.raise_alerts``."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def raise_alerts(
        self,
        drafts: Sequence[AlertDraft],
        *,
        actor: Principal | None = None,
        now: datetime | None = None,
    ) -> RaiseResult:
        """Raise a batch: suppression, dedup (in the batch and against open alerts), history.

        Raises:
            InvalidInputError: a draft has an unknown severity (nothing of the batch is written).
        """
        who = actor or Principal.system()
        who.require(Permission.ALERT_TRIAGE)
        moment = _aware(now) if now else datetime.now(UTC)
        if not drafts:
            return RaiseResult([], [], 0)
        prepared = [(d, dedup_key(d), _severity(d, i)) for i, d in enumerate(drafts)]
        with self.db.session() as session:
            matcher = SuppressionMatcher.load(session, moment)
            hits: Counter[int] = Counter()
            groups: dict[str, _Group] = {}
            for draft, key, severity in prepared:
                if matcher.rules:
                    rule = matcher.match(draft)
                    if rule is not None:
                        hits[rule] += 1
                        continue
                self._fold(groups, draft, key, severity, moment)
            if hits:
                session.connection().execute(
                    update(SUPPRESSIONS)
                    .where(SUPPRESSIONS.c.id == bindparam("rid"))
                    .values(hits=SUPPRESSIONS.c.hits + bindparam("n"), last_hit_at=moment),
                    [{"rid": rid, "n": n} for rid, n in hits.items()],
                )
            window = moment - timedelta(minutes=self.settings.alert_dedup_minutes)
            existing = self._open_by_key(session, list(groups), window)
            updated = self._grow(session, who, groups, existing, moment)
            fresh = [g for k, g in groups.items() if k not in existing]
            created = self._insert(session, who, fresh, moment)
        suppressed = sum(hits.values())
        if suppressed:
            logger.info("alerts suppressed", extra={"count": suppressed, "rules": len(hits)})
        return RaiseResult(created, updated, suppressed)

    def _fold(
        self,
        groups: dict[str, _Group],
        draft: AlertDraft,
        key: str,
        severity: Severity,
        moment: datetime,
    ) -> None:
        seen = _aware(draft.event_time) if draft.event_time else moment
        group = groups.get(key)
        if group is None:
            group = _Group(key, draft, severity, seen, max(seen, moment))
            groups[key] = group
        else:
            group.count += 1
            if seen < group.first_seen:
                group.first_seen = seen
            if seen > group.last_seen:
                group.last_seen = seen
            if severity is not group.severity and severity.rank > group.severity.rank:
                group.severity = severity
        room = self.settings.alert_event_ids_max - len(group.event_ids)
        if room > 0 and draft.event_ids:
            group.event_ids.extend(str(e) for e in draft.event_ids[:room])

    @staticmethod
    def _open_by_key(session: Session, keys: list[str], window: datetime) -> dict[str, _Existing]:
        """Key -> (id, count, event ids, last seen) of the newest open alert within the window."""
        found: dict[str, _Existing] = {}
        for start in range(0, len(keys), _KEY_CHUNK):
            rows = session.execute(
                select(Alert.id, Alert.dedup_key, Alert.count, Alert.event_ids, Alert.last_seen)
                .where(
                    Alert.dedup_key.in_(keys[start : start + _KEY_CHUNK]),
                    Alert.status != _CLOSED,
                    Alert.last_seen >= window,
                )
                .order_by(Alert.last_seen, Alert.id)
            ).all()
            for alert_id, key, count, event_ids, last_seen in rows:
                found[key] = (alert_id, count, list(event_ids or []), last_seen)
        return found

    def _grow(
        self,
        session: Session,
        actor: Principal,
        groups: Mapping[str, _Group],
        existing: Mapping[str, _Existing],
        moment: datetime,
    ) -> list[int]:
        if not existing:
            return []
        limit = self.settings.alert_event_ids_max
        params: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        for key, (alert_id, count, event_ids, last_seen) in existing.items():
            group = groups[key]
            known = set(event_ids)
            for event_id in group.event_ids:
                if len(event_ids) >= limit:
                    break
                if event_id not in known:
                    known.add(event_id)
                    event_ids.append(event_id)
            params.append(
                {
                    "aid": alert_id,
                    "n": group.count,
                    "seen": max(last_seen, group.last_seen),
                    "ids": event_ids,
                    "at": moment,
                }
            )
            history.append(
                {
                    "entity_type": "alert",
                    "entity_id": alert_id,
                    "action": "update",
                    "field": "count",
                    "before": count,
                    "after": count + group.count,
                    "actor": actor.name,
                    "at": moment,
                }
            )
        # Core executemany: dedup does not bump ``version``, so an analyst holding the alert
        # does not get a conflict because a repeat arrived (the triage fields are untouched).
        session.connection().execute(
            update(ALERTS)
            .where(ALERTS.c.id == bindparam("aid"))
            .values(
                count=ALERTS.c.count + bindparam("n"),
                last_seen=bindparam("seen", type_=UtcDateTime()),
                event_ids=bindparam("ids", type_=JSON()),
                updated_at=bindparam("at", type_=UtcDateTime()),
            ),
            params,
        )
        record_changes(session, history)
        return [p["aid"] for p in params]

    def _insert(
        self, session: Session, actor: Principal, fresh: Sequence[_Group], moment: datetime
    ) -> list[int]:
        if not fresh:
            return []
        teams = self._team_ids(session, {g.draft.team for g in fresh if g.draft.team})
        rows = [self._new_row(g, teams, moment) for g in fresh]
        # The keys of a batch's new alerts are unique, so RETURNING the key maps ids to rows
        # without asking for parameter order (which SQLite can only give one row at a time).
        result = session.connection().execute(
            insert(ALERTS).returning(ALERTS.c.id, ALERTS.c.dedup_key), rows
        )
        by_key = {key: int(alert_id) for alert_id, key in result.all()}
        ids = [by_key[row["dedup_key"]] for row in rows]
        record_changes(
            session,
            [
                {
                    "entity_type": "alert",
                    "entity_id": alert_id,
                    "action": "create",
                    "after": {
                        "status": row["status"],
                        "rule_id": row["rule_id"],
                        "severity": row["severity"],
                        "team_id": row["team_id"],
                        "count": row["count"],
                    },
                    "actor": actor.name,
                    "at": moment,
                }
                for alert_id, row in zip(ids, rows, strict=True)
            ],
        )
        emit(
            session,
            [
                Emission(
                    NotificationEvent.ALERT_CREATED,
                    subject=f"[{row['severity']}] {row['title']}",
                    payload={
                        "id": alert_id,
                        "title": row["title"],
                        "rule_id": row["rule_id"],
                        "severity": row["severity"],
                    },
                    severity=row["severity"],
                    team_id=row["team_id"],
                )
                for alert_id, row in zip(ids, rows, strict=True)
            ],
        )
        return ids

    @staticmethod
    def _new_row(group: _Group, teams: Mapping[str, int], moment: datetime) -> dict[str, Any]:
        # Columns left out (classification, assignee, case, acknowledged/closed times) are
        # NULL: fewer parameters to process per row on the hot path.
        draft = group.draft
        source = draft.source
        return {
            "rule_id": draft.rule_id[:200],
            "title": draft.title[:500],
            "description": draft.description,
            "severity": group.severity.value,
            "severity_rank": group.severity.rank,
            "status": _NEW,
            "dedup_key": group.key,
            "source": source[:100] if source else None,
            "team_id": teams.get(draft.team) if draft.team else None,
            "tags": [str(t) for t in draft.tags],
            "observables": [{"type": o.type, "value": o.value} for o in draft.observables],
            "reasons": [
                {"check": r.check, "detail": r.detail, "weight": r.weight} for r in draft.reasons
            ],
            "fields": jsonable(dict(draft.fields)) if draft.fields else {},
            "event_ids": group.event_ids,
            "count": group.count,
            "first_seen": group.first_seen,
            "last_seen": group.last_seen,
            "created_at": moment,
            "updated_at": moment,
            "version": 1,
        }

    @staticmethod
    def _team_ids(session: Session, names: set[str]) -> dict[str, int]:
        if not names:
            return {}
        found = {
            name: team_id
            for team_id, name in session.execute(
                select(Team.id, Team.name).where(Team.name.in_(sorted(names)))
            )
        }
        for name in sorted(names - set(found)):
            logger.warning("alert names an unknown team", extra={"team": name})
        return found
