"""Alerts: raised in batches, listed, triaged through fixed stages, suppressed.

Stages go one way, new -> acknowledged -> in_progress -> closed (a step may be skipped); only
``reopen`` moves a closed alert back (to in_progress). Leaving ``new`` for the first time sets
``acknowledged_at``; closing needs a classification and sets ``closed_at``. Every change writes
history in the same transaction with the vocabulary of ``workspace.history``. A caller may name
the ``version`` it read: a different current version is a ConflictError, as is a concurrent
write caught by the ORM's version check. Raising is in ``alert_raise`` (batch first),
suppression rules in ``suppression``, the read models in ``alert_models``.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.core.settings import Settings
from tocsin.workspace.alert_models import AlertComment, AlertRead, BulkResult, read_alerts
from tocsin.workspace.alert_raise import AlertRaiser, RaiseResult, dedup_key
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_change
from tocsin.workspace.models import AlertDraft, AlertStatus, Classification, Severity
from tocsin.workspace.notify import Emission, NotificationEvent, emit
from tocsin.workspace.paging import Page, check_window, order_by
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.suppression import SuppressionRead, SuppressionStore
from tocsin.workspace.tables import Alert, Comment, Team, User

logger = logging.getLogger(__name__)

MAX_BULK = 1000
MAX_COMMENT = 100_000
_STAGE = {s.value: i for i, s in enumerate(AlertStatus)}
_CLOSED = AlertStatus.CLOSED.value


class Keep(Enum):
    """The type of ``KEEP``: leave this field as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


class AlertService:
    """Raise, list, triage and close alerts; manage suppression rules."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.suppressions = SuppressionStore(db)
        self.raiser = AlertRaiser(db, settings)

    # -- raising ---------------------------------------------------------------------------
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
        return self.raiser.raise_alerts(drafts, actor=actor, now=now)

    def raise_alert(self, draft: AlertDraft, *, actor: Principal | None = None) -> int | None:
        """Raise one alert: the id of the new or deduplicated alert, None when suppressed."""
        result = self.raiser.raise_alerts([draft], actor=actor)
        ids = result.created or result.updated
        return ids[0] if ids else None

    # -- reading -------------------------------------------------------------------------------
    def get(self, actor: Principal, alert_id: int) -> AlertRead:
        """One alert."""
        actor.require(Permission.ALERT_READ)
        with self.db.session() as session:
            return read_alerts(session, [_row(session, alert_id)])[0]

    def events(self, actor: Principal, alert_id: int) -> builtins.list[str]:
        """The ids of the events that caused the alert (the first ``alert_event_ids_max``)."""
        actor.require(Permission.ALERT_READ)
        with self.db.session() as session:
            return builtins.list(_row(session, alert_id).event_ids or [])

    def comments(self, actor: Principal, alert_id: int) -> builtins.list[AlertComment]:
        """The alert's comments, oldest first."""
        actor.require(Permission.ALERT_READ)
        with self.db.session() as session:
            _row(session, alert_id)
            rows = session.scalars(
                select(Comment).where(Comment.alert_id == alert_id).order_by(Comment.id)
            ).all()
            return [AlertComment(c.id, alert_id, c.author, c.body, c.created_at) for c in rows]

    def list(
        self,
        actor: Principal,
        *,
        status: Sequence[str] | None = None,
        severity: Sequence[str] | None = None,
        min_severity: str | None = None,
        rule_id: str | None = None,
        team_id: int | None = None,
        assignee_id: int | None = None,
        classification: str | None = None,
        case_id: int | None = None,
        q: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        sort: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[AlertRead]:
        """A page of alerts, newest first unless ``sort`` says otherwise.

        ``rule_id`` ending in ``*`` is a prefix; ``q`` is a case-insensitive substring of the
        title or rule id; ``since``/``until`` bound ``created_at`` (until exclusive).
        """
        actor.require(Permission.ALERT_READ)
        check_window(limit, offset)
        conditions: builtins.list[Any] = []
        if status:
            conditions.append(Alert.status.in_(sorted({_status(s) for s in status})))
        if severity:
            ranks = sorted({Severity.parse(s).rank for s in severity})
            conditions.append(Alert.severity_rank.in_(ranks))
        if min_severity:
            conditions.append(Alert.severity_rank >= Severity.parse(min_severity).rank)
        if rule_id:
            if rule_id.endswith("*"):
                conditions.append(Alert.rule_id.startswith(rule_id[:-1], autoescape=True))
            else:
                conditions.append(Alert.rule_id == rule_id)
        if team_id is not None:
            conditions.append(Alert.team_id == team_id)
        if assignee_id is not None:
            conditions.append(Alert.assignee_id == assignee_id)
        if classification:
            conditions.append(Alert.classification == _classification(classification).value)
        if case_id is not None:
            conditions.append(Alert.case_id == case_id)
        if q and q.strip():
            text = q.strip()
            if self.db.engine.dialect.name == "sqlite":
                # SQLite's LIKE already ignores ASCII case (its lower() folds no more than
                # that), and lower() on every row would double the cost of the scan
                found = [c.contains(text, autoescape=True) for c in (Alert.title, Alert.rule_id)]
            else:
                found = [c.icontains(text, autoescape=True) for c in (Alert.title, Alert.rule_id)]
            conditions.append(or_(*found))
        if since is not None:
            conditions.append(Alert.created_at >= since)
        if until is not None:
            conditions.append(Alert.created_at < until)
        clauses = order_by(sort, _SORT_COLUMNS, "-created_at")
        if "id" not in {p.strip().lstrip("-+") for p in (sort or "").split(",")}:
            clauses.append(Alert.id.desc())  # a stable order between pages
        # Ids first, rows second: the sort then carries narrow (key, id) pairs that an index
        # can often cover, not whole alerts with their JSON columns.
        query = select(Alert.id).where(*conditions).order_by(*clauses).limit(limit).offset(offset)
        with self.db.session() as session:
            ids = builtins.list(session.scalars(query).all())
            if offset == 0 and len(ids) < limit:
                total = len(ids)
            else:
                total = int(session.scalar(select(func.count(Alert.id)).where(*conditions)) or 0)
            rows = {r.id: r for r in session.scalars(select(Alert).where(Alert.id.in_(ids)))}
            return Page(read_alerts(session, [rows[i] for i in ids]), total, limit, offset)

    # -- stages ------------------------------------------------------------------------------
    def acknowledge(
        self, actor: Principal, alert_id: int, *, version: int | None = None
    ) -> AlertRead:
        """Acknowledge a new alert (no change when it is already acknowledged)."""
        return self._change(
            actor,
            alert_id,
            Permission.ALERT_TRIAGE,
            version,
            _moving(actor, AlertStatus.ACKNOWLEDGED),
        )

    def start(self, actor: Principal, alert_id: int, *, version: int | None = None) -> AlertRead:
        """Mark an alert as being worked on."""
        return self._change(
            actor,
            alert_id,
            Permission.ALERT_TRIAGE,
            version,
            _moving(actor, AlertStatus.IN_PROGRESS),
        )

    def close(
        self,
        actor: Principal,
        alert_id: int,
        classification: Classification | str,
        comment: str | None = None,
        version: int | None = None,
    ) -> AlertRead:
        """Close an alert with a classification (required) and an optional comment."""
        chosen = _classification(classification)
        note = (comment or "").strip() or None

        def apply(session: Session, row: Alert, at: datetime) -> builtins.list[Emission]:
            if row.status == _CLOSED:
                raise InvalidInputError(
                    f"alert {row.id} is already closed ({row.classification}): reopen it first"
                )
            _move(session, actor, row, AlertStatus.CLOSED, at)
            _set(session, actor, row, "classification", chosen.value, at)
            if note is not None:
                _set(session, actor, row, "close_comment", note, at)
            row.closed_at = at
            return []

        return self._change(actor, alert_id, Permission.ALERT_CLOSE, version, apply)

    def reopen(self, actor: Principal, alert_id: int, *, version: int | None = None) -> AlertRead:
        """Move a closed alert back to in_progress and clear its classification."""

        def apply(session: Session, row: Alert, at: datetime) -> builtins.list[Emission]:
            if row.status != _CLOSED:
                raise InvalidInputError(f"alert {row.id} is {row.status!r}, not closed")
            target = AlertStatus.IN_PROGRESS.value
            record_change(
                session,
                "alert",
                row.id,
                actor,
                "reopen",
                field="status",
                before=row.status,
                after=target,
                at=at,
            )
            row.status = target
            _set(session, actor, row, "classification", None, at)
            _set(session, actor, row, "close_comment", None, at)
            row.closed_at = None
            return []

        return self._change(actor, alert_id, Permission.ALERT_CLOSE, version, apply)

    def assign(
        self,
        actor: Principal,
        alert_id: int,
        *,
        user_id: int | None | Keep = KEEP,
        team_id: int | None | Keep = KEEP,
        version: int | None = None,
    ) -> AlertRead:
        """Assign to a user and/or a team; None clears, KEEP (the default) leaves as is."""
        if user_id is KEEP and team_id is KEEP:
            raise InvalidInputError("assign needs a user, a team, or both (null to unassign)")

        def apply(session: Session, row: Alert, at: datetime) -> builtins.list[Emission]:
            if not isinstance(user_id, Keep) and user_id is not None:
                user = session.get(User, user_id)
                if user is None:
                    raise NotFoundError(f"no user {user_id!r}")
                if user.disabled:
                    raise InvalidInputError(f"user {user.username!r} is disabled")
            if (
                not isinstance(team_id, Keep)
                and team_id is not None
                and session.get(Team, team_id) is None
            ):
                raise NotFoundError(f"no team {team_id!r}")
            new_user = not isinstance(user_id, Keep) and _set(
                session, actor, row, "assignee_id", user_id, at
            )
            new_team = not isinstance(team_id, Keep) and _set(
                session, actor, row, "team_id", team_id, at
            )
            # notify a newly named user (only then: a team change is not news to the user)
            # or the newly named team; clearing an assignment notifies nobody
            notify_user = row.assignee_id if new_user else None
            notify_team = row.team_id if new_team or notify_user is not None else None
            if notify_user is None and (not new_team or notify_team is None):
                return []
            return [
                Emission(
                    NotificationEvent.ALERT_ASSIGNED,
                    subject=f"[{row.severity}] alert {row.id} assigned: {row.title}",
                    payload={
                        "id": row.id,
                        "title": row.title,
                        "rule_id": row.rule_id,
                        "severity": row.severity,
                        "user_id": row.assignee_id,
                        "team_id": row.team_id,
                        "by": actor.name,
                    },
                    severity=row.severity,
                    team_id=notify_team,
                    user_id=notify_user,
                )
            ]

        return self._change(actor, alert_id, Permission.ALERT_TRIAGE, version, apply)

    def comment(self, actor: Principal, alert_id: int, body: str) -> int:
        """Add a comment; returns its id (the alert's version does not change)."""
        actor.require(Permission.ALERT_TRIAGE)
        text = body.strip()
        if not text:
            raise InvalidInputError("a comment needs some text")
        if len(text) > MAX_COMMENT:
            raise InvalidInputError(
                f"the comment has {len(text)} characters: at most {MAX_COMMENT}"
            )
        now = datetime.now(UTC)
        with self.db.session() as session:
            _row(session, alert_id)
            row = Comment(alert_id=alert_id, author=actor.name, body=text, created_at=now)
            session.add(row)
            session.flush()
            record_change(
                session, "alert", alert_id, actor, "comment", after={"comment_id": row.id}, at=now
            )
            return row.id

    def bulk(self, actor: Principal, ids: Sequence[int], action: str, **params: Any) -> BulkResult:
        """Apply one action to many alerts; each id succeeds or fails on its own.

        Actions: ack, start, assign (user_id, team_id), close (classification, comment), reopen.
        A missing permission or a bad action refuses the whole call; per-alert problems (not
        found, wrong stage) are returned as data.
        """
        run = self._bulk_action(actor, action, params)
        unique = builtins.list(dict.fromkeys(int(i) for i in ids))
        if not unique:
            raise InvalidInputError("bulk needs at least one alert id")
        if len(unique) > MAX_BULK:
            raise InvalidInputError(f"bulk takes at most {MAX_BULK} ids at once: got {len(unique)}")
        done: builtins.list[int] = []
        errors: dict[int, str] = {}
        for alert_id in unique:
            try:
                run(alert_id)
            except (NotFoundError, InvalidInputError, ConflictError) as exc:
                errors[alert_id] = exc.message
            else:
                done.append(alert_id)
        return BulkResult(done, errors)

    def _bulk_action(
        self, actor: Principal, action: str, params: Mapping[str, Any]
    ) -> Callable[[int], object]:
        allowed: dict[str, tuple[Permission, set[str]]] = {
            "ack": (Permission.ALERT_TRIAGE, set()),
            "start": (Permission.ALERT_TRIAGE, set()),
            "assign": (Permission.ALERT_TRIAGE, {"user_id", "team_id"}),
            "close": (Permission.ALERT_CLOSE, {"classification", "comment"}),
            "reopen": (Permission.ALERT_CLOSE, set()),
        }
        name = action.strip().lower()
        if name not in allowed:
            raise InvalidInputError(
                f"unknown bulk action {action!r}: use one of {', '.join(allowed)}"
            )
        permission, accepted = allowed[name]
        actor.require(permission)
        unknown = set(params) - accepted
        if unknown:
            raise InvalidInputError(
                f"bulk {name} does not take {', '.join(sorted(unknown))}"
                + (f": it takes {', '.join(sorted(accepted))}" if accepted else "")
            )
        if name == "ack":
            return lambda i: self.acknowledge(actor, i)
        if name == "start":
            return lambda i: self.start(actor, i)
        if name == "reopen":
            return lambda i: self.reopen(actor, i)
        if name == "close":
            if not params.get("classification"):
                raise InvalidInputError("bulk close needs a classification")
            chosen = _classification(str(params["classification"]))
            return lambda i: self.close(actor, i, chosen, params.get("comment"))
        user = params.get("user_id", KEEP)
        team = params.get("team_id", KEEP)
        if user is KEEP and team is KEEP:
            raise InvalidInputError("bulk assign needs user_id, team_id or both")
        return lambda i: self.assign(actor, i, user_id=user, team_id=team)

    def _change(
        self,
        actor: Principal,
        alert_id: int,
        permission: Permission,
        version: int | None,
        apply: Callable[[Session, Alert, datetime], builtins.list[Emission]],
    ) -> AlertRead:
        actor.require(permission)
        try:
            with self.db.session() as session:
                row = _row(session, alert_id)
                if version is not None and version != row.version:
                    raise ConflictError(
                        f"alert {alert_id} was changed by someone else (version {row.version}, "
                        f"you had {version}): reload and retry"
                    )
                now = datetime.now(UTC)
                emissions = apply(session, row, now)
                if session.is_modified(row):
                    row.updated_at = now
                session.flush()
                emit(session, emissions)
                read = read_alerts(session, [row])[0]
        except StaleDataError as exc:
            raise ConflictError(
                f"alert {alert_id} was changed by someone else while saving: reload and retry"
            ) from exc
        return read

    # -- suppression ---------------------------------------------------------------------------
    def create_suppression(
        self,
        actor: Principal,
        name: str,
        *,
        rule_id: str | None = None,
        conditions: Mapping[str, object] | None = None,
        reason: str,
        expires_at: datetime | None = None,
    ) -> SuppressionRead:
        """Create a suppression rule (see ``workspace.suppression``)."""
        return self.suppressions.create(
            actor,
            name,
            rule_id=rule_id,
            conditions=conditions,
            reason=reason,
            expires_at=expires_at,
        )

    def list_suppressions(
        self,
        actor: Principal,
        *,
        include_disabled: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[SuppressionRead]:
        """Suppression rules with their hit counts, newest first."""
        return self.suppressions.list(
            actor, include_disabled=include_disabled, limit=limit, offset=offset
        )

    def disable_suppression(self, actor: Principal, suppression_id: int) -> SuppressionRead:
        """Stop a suppression rule (it stays listed)."""
        return self.suppressions.disable(actor, suppression_id)

    def delete_suppression(self, actor: Principal, suppression_id: int) -> None:
        """Delete a suppression rule."""
        self.suppressions.delete(actor, suppression_id)


_SORT_COLUMNS = {
    "created_at": Alert.created_at,
    "last_seen": Alert.last_seen,
    "severity": Alert.severity_rank,
    "status": Alert.status,
    "count": Alert.count,
    "id": Alert.id,
    "title": Alert.title,
}


def _status(value: str) -> str:
    try:
        return AlertStatus(value.strip().lower()).value
    except ValueError:
        known = ", ".join(s.value for s in AlertStatus)
        raise InvalidInputError(f"unknown alert status {value!r}: use one of {known}") from None


def _classification(value: Classification | str) -> Classification:
    if isinstance(value, Classification):
        return value
    name = value.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return Classification(name)
    except ValueError:
        known = ", ".join(c.value for c in Classification)
        raise InvalidInputError(f"unknown classification {value!r}: use one of {known}") from None


def _row(session: Session, alert_id: int) -> Alert:
    row = session.get(Alert, alert_id)
    if row is None:
        raise NotFoundError(f"no alert {alert_id!r}")
    return row


def _set(
    session: Session, actor: Principal, row: Alert, name: str, value: Any, at: datetime
) -> bool:
    """Change one field with its history record; False when it already had the value."""
    before = getattr(row, name)
    if before == value:
        return False
    record_change(
        session, "alert", row.id, actor, "update", field=name, before=before, after=value, at=at
    )
    setattr(row, name, value)
    return True


def _move(
    session: Session, actor: Principal, row: Alert, target: AlertStatus, at: datetime
) -> None:
    """Move forward to ``target``; staying put is no change, going back is refused."""
    current = row.status
    if current == target.value:
        return
    if current == _CLOSED:
        raise InvalidInputError(f"alert {row.id} is closed: reopen it first")
    if _STAGE[target.value] < _STAGE.get(current, 0):
        raise InvalidInputError(
            f"alert {row.id} is {current!r}: it cannot go back to {target.value!r}"
        )
    _set(session, actor, row, "status", target.value, at)
    if row.acknowledged_at is None:
        row.acknowledged_at = at


def _moving(
    actor: Principal, target: AlertStatus
) -> Callable[[Session, Alert, datetime], builtins.list[Emission]]:
    def apply(session: Session, row: Alert, at: datetime) -> builtins.list[Emission]:
        _move(session, actor, row, target, at)
        return []

    return apply


__all__ = [
    "KEEP",
    "AlertComment",
    "AlertRead",
    "AlertService",
    "BulkResult",
    "Keep",
    "RaiseResult",
    "dedup_key",
]
