"""SLAs: policies by severity (and team), the time left on each item, and the breach check.

A policy gives minutes to acknowledge and to resolve alerts or cases of one severity,
optionally for one team (a team's policy wins over the team-less one), with business hours or
round the clock, and statuses that pause the clock (a case ``on_hold``). Where an item stands is
computed from its history each time (``sla_eval``), never stored by hand. The scheduled check
(``SlaJob``) stores the last state it saw per target in ``sla_states`` only to notice changes:
each move to at risk or breached is written to the item's history (``field="sla.<target>"``)
and queued as a notification once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, true
from sqlalchemy.orm import Session

from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.core.settings import Settings
from tocsin.workspace import notify
from tocsin.workspace.business_hours import BusinessCalendar
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_audit, record_change
from tocsin.workspace.models import AlertStatus, CaseStatus, Severity
from tocsin.workspace.paging import Page, order_by, paginate
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.sla_eval import (
    SlaPolicyInfo,
    SlaStateName,
    SlaStatus,
    TargetStatus,
    check_entity_type,
    evaluate,
    pick_policy,
)
from tocsin.workspace.stages import CLOSED, NEW, load_stage_histories
from tocsin.workspace.tables import Alert, Case, SlaPolicy, SlaState, Team

__all__ = [
    "SlaEvent",
    "SlaPolicyInfo",
    "SlaService",
    "SlaStateName",
    "SlaStatus",
    "TargetStatus",
    "load_policies",
]

logger = logging.getLogger(__name__)

_CHUNK = 500
_STATUSES = {"alert": {s.value for s in AlertStatus}, "case": {s.value for s in CaseStatus}}
_ALERTING = {SlaStateName.AT_RISK, SlaStateName.BREACHED}
_FINAL = {SlaStateName.MET, SlaStateName.BREACHED}


class _Unset(Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET
"""Marks an argument of ``update_policy`` that was not given (None is a value there)."""


def item_table(entity_type: str) -> type[Alert] | type[Case]:
    """The table of ``alert`` or ``case`` items."""
    return Alert if check_entity_type(entity_type) == "alert" else Case


def load_policies(session: Session, entity_type: str | None = None) -> list[SlaPolicyInfo]:
    """Every enabled policy (of one entity type when given)."""
    query = select(SlaPolicy).where(SlaPolicy.enabled.is_(True))
    if entity_type is not None:
        query = query.where(SlaPolicy.entity_type == entity_type)
    return [SlaPolicyInfo.from_row(r) for r in session.scalars(query.order_by(SlaPolicy.id))]


@dataclass(frozen=True, slots=True)
class SlaEvent:
    """A change of one target's state noticed by ``check`` (``notified`` when queued)."""

    entity_type: str
    entity_id: int
    target: str
    state: str
    previous: str | None
    due_at: datetime | None
    policy_id: int
    policy_name: str
    notified: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "target": self.target,
            "state": self.state,
            "previous": self.previous,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "policy_id": self.policy_id,
            "policy": self.policy_name,
            "notified": self.notified,
        }


def _check_minutes(value: int | None, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or value <= 0):
        raise InvalidInputError(f"{what} {value!r} must be a positive number of minutes")
    return value


def _check_pauses(entity_type: str, statuses: Iterable[str]) -> list[str]:
    allowed = sorted(_STATUSES[entity_type] - {NEW, CLOSED})
    result: list[str] = []
    for status in statuses:
        if status not in allowed:
            raise InvalidInputError(
                f"{status!r} cannot pause a {entity_type} SLA: use one of {', '.join(allowed)}"
            )
        if status not in result:
            result.append(status)
    return result


def _check_percent(value: int) -> int:
    if isinstance(value, bool) or not 1 <= value <= 100:
        raise InvalidInputError(f"near_breach_percent {value!r} must be 1 to 100")
    return value


def _check_hours(value: Mapping[str, object] | None) -> dict[str, Any] | None:
    return None if value is None else BusinessCalendar.from_dict(value).to_dict()


_POLICY_SORT = {
    "id": SlaPolicy.id,
    "name": SlaPolicy.name,
    "entity_type": SlaPolicy.entity_type,
    "severity": SlaPolicy.severity,
    "created_at": SlaPolicy.created_at,
}


class SlaService:
    """SLA policies, the time left on alerts and cases, and the scheduled breach check."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # Policies ------------------------------------------------------------------------------

    def create_policy(
        self,
        actor: Principal,
        name: str,
        entity_type: str,
        severity: str,
        *,
        team_id: int | None = None,
        acknowledge_minutes: int | None = None,
        resolve_minutes: int | None = None,
        business_hours: Mapping[str, object] | None = None,
        pause_statuses: Sequence[str] = (),
        near_breach_percent: int = 80,
    ) -> SlaPolicyInfo:
        """Create a policy; one enabled policy per entity type, severity and team.

        Raises:
            InvalidInputError: bad severity, targets, business hours or pause statuses.
            NotFoundError: the team does not exist.
            ConflictError: an enabled policy already covers the same items.
        """
        actor.require(Permission.SLA_MANAGE)
        check_entity_type(entity_type)
        row = SlaPolicy(
            name=self._check_name(name),
            entity_type=entity_type,
            severity=Severity.parse(severity).value,
            team_id=team_id,
            acknowledge_minutes=_check_minutes(acknowledge_minutes, "acknowledge_minutes"),
            resolve_minutes=_check_minutes(resolve_minutes, "resolve_minutes"),
            business_hours=_check_hours(business_hours),
            pause_statuses=_check_pauses(entity_type, pause_statuses),
            near_breach_percent=_check_percent(near_breach_percent),
            enabled=True,
            created_at=datetime.now(UTC),
        )
        with self.db.session() as session:
            self._check_policy(session, row)
            session.add(row)
            session.flush()
            record_audit(
                session,
                actor,
                "sla.policy.create",
                target=f"sla_policy:{row.id}",
                detail={"name": row.name, "entity_type": entity_type, "severity": row.severity},
            )
            return SlaPolicyInfo.from_row(row)

    def get_policy(self, actor: Principal, policy_id: int) -> SlaPolicyInfo:
        """One policy.

        Raises:
            NotFoundError: no such policy.
        """
        actor.require(Permission.SLA_READ)
        with self.db.session() as session:
            return SlaPolicyInfo.from_row(self._policy_row(session, policy_id))

    def list_policies(
        self,
        actor: Principal,
        *,
        entity_type: str | None = None,
        severity: str | None = None,
        team_id: int | None = None,
        sort: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[SlaPolicyInfo]:
        """Policies, filtered, sorted (default by id) and paged."""
        actor.require(Permission.SLA_READ)
        query = select(SlaPolicy)
        if entity_type is not None:
            query = query.where(SlaPolicy.entity_type == check_entity_type(entity_type))
        if severity is not None:
            query = query.where(SlaPolicy.severity == Severity.parse(severity).value)
        if team_id is not None:
            query = query.where(SlaPolicy.team_id == team_id)
        query = query.order_by(*order_by(sort, _POLICY_SORT, "id"))
        with self.db.session() as session:
            rows, total = paginate(session, query, limit=limit, offset=offset)
            return Page([SlaPolicyInfo.from_row(r) for r in rows], total, limit, offset)

    def update_policy(
        self,
        actor: Principal,
        policy_id: int,
        *,
        name: str | None = None,
        severity: str | None = None,
        team_id: int | None | _Unset = UNSET,
        acknowledge_minutes: int | None | _Unset = UNSET,
        resolve_minutes: int | None | _Unset = UNSET,
        business_hours: Mapping[str, object] | None | _Unset = UNSET,
        pause_statuses: Sequence[str] | None = None,
        near_breach_percent: int | None = None,
        enabled: bool | None = None,
    ) -> SlaPolicyInfo:
        """Change the given fields of a policy (``UNSET`` or None leaves a field as it is).

        Raises:
            NotFoundError: no such policy or team.
            InvalidInputError, ConflictError: as for ``create_policy``.
        """
        actor.require(Permission.SLA_MANAGE)
        with self.db.session() as session:
            row = self._policy_row(session, policy_id)
            changed: list[str] = []
            if name is not None:
                row.name = self._check_name(name)
                changed.append("name")
            if severity is not None:
                row.severity = Severity.parse(severity).value
                changed.append("severity")
            if not isinstance(team_id, _Unset):
                row.team_id = team_id
                changed.append("team_id")
            if not isinstance(acknowledge_minutes, _Unset):
                row.acknowledge_minutes = _check_minutes(acknowledge_minutes, "acknowledge_minutes")
                changed.append("acknowledge_minutes")
            if not isinstance(resolve_minutes, _Unset):
                row.resolve_minutes = _check_minutes(resolve_minutes, "resolve_minutes")
                changed.append("resolve_minutes")
            if not isinstance(business_hours, _Unset):
                row.business_hours = _check_hours(business_hours)
                changed.append("business_hours")
            if pause_statuses is not None:
                row.pause_statuses = _check_pauses(row.entity_type, pause_statuses)
                changed.append("pause_statuses")
            if near_breach_percent is not None:
                row.near_breach_percent = _check_percent(near_breach_percent)
                changed.append("near_breach_percent")
            if enabled is not None:
                row.enabled = enabled
                changed.append("enabled")
            self._check_policy(session, row)
            record_audit(
                session,
                actor,
                "sla.policy.update",
                target=f"sla_policy:{row.id}",
                detail={"fields": changed},
            )
            session.flush()
            return SlaPolicyInfo.from_row(row)

    def delete_policy(self, actor: Principal, policy_id: int) -> None:
        """Delete a policy (its recorded states go with it).

        Raises:
            NotFoundError: no such policy.
        """
        actor.require(Permission.SLA_MANAGE)
        with self.db.session() as session:
            row = self._policy_row(session, policy_id)
            session.delete(row)
            record_audit(session, actor, "sla.policy.delete", target=f"sla_policy:{policy_id}")

    @staticmethod
    def _check_name(name: str) -> str:
        text = name.strip()
        if not text:
            raise InvalidInputError("an SLA policy needs a name")
        if len(text) > 200:
            raise InvalidInputError(f"SLA policy name {text[:40]!r}... is longer than 200")
        return text

    @staticmethod
    def _policy_row(session: Session, policy_id: int) -> SlaPolicy:
        row = session.get(SlaPolicy, policy_id)
        if row is None:
            raise NotFoundError(f"SLA policy {policy_id!r} does not exist")
        return row

    @staticmethod
    def _check_policy(session: Session, row: SlaPolicy) -> None:
        if row.acknowledge_minutes is None and row.resolve_minutes is None:
            raise InvalidInputError(
                "an SLA policy needs acknowledge_minutes, resolve_minutes or both"
            )
        if row.team_id is not None and session.get(Team, row.team_id) is None:
            raise NotFoundError(f"team {row.team_id!r} does not exist")
        if not row.enabled:
            return
        team = (
            SlaPolicy.team_id.is_(None) if row.team_id is None else SlaPolicy.team_id == row.team_id
        )
        clash = session.scalar(
            select(SlaPolicy.name).where(
                SlaPolicy.entity_type == row.entity_type,
                SlaPolicy.severity == row.severity,
                SlaPolicy.enabled.is_(True),
                team,
                SlaPolicy.id != row.id if row.id is not None else true(),
            )
        )
        if clash is not None:
            scope = "every team" if row.team_id is None else f"team {row.team_id}"
            raise ConflictError(
                f"SLA policy {clash!r} already covers {row.severity} {row.entity_type}s of "
                f"{scope}: update or disable it"
            )

    # Status ---------------------------------------------------------------------------------

    def status(
        self, actor: Principal, entity_type: str, entity_id: int, now: datetime | None = None
    ) -> SlaStatus:
        """Where an alert's or case's SLA targets stand (no targets when no policy applies).

        Raises:
            NotFoundError: no such item.
        """
        found = self.status_many(actor, entity_type, [entity_id], now)
        if entity_id not in found:
            raise NotFoundError(f"{entity_type} {entity_id!r} does not exist")
        return found[entity_id]

    def status_many(
        self,
        actor: Principal,
        entity_type: str,
        ids: Sequence[int],
        now: datetime | None = None,
    ) -> dict[int, SlaStatus]:
        """The SLA status of many items at once (a page of a list); unknown ids are left out."""
        actor.require(Permission.SLA_READ)
        table = item_table(entity_type)
        now = now or datetime.now(UTC)
        with self.db.session() as session:
            policies = load_policies(session, entity_type)
            result: dict[int, SlaStatus] = {}
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), _CHUNK):
                rows = session.execute(
                    select(table.id, table.severity, table.team_id, table.created_at).where(
                        table.id.in_(unique[start : start + _CHUNK])
                    )
                ).all()
                histories = load_stage_histories(
                    session, entity_type, {r.id: r.created_at for r in rows}
                )
                for r in rows:
                    policy = pick_policy(policies, entity_type, r.severity, r.team_id)
                    result[r.id] = evaluate(policy, entity_type, r.id, histories[r.id], now)
            return {i: result[i] for i in ids if i in result}

    # The scheduled check ----------------------------------------------------------------------

    def check(self, now: datetime | None = None) -> list[SlaEvent]:
        """Record SLA state changes of open items (and final states of closed ones).

        Each move of an open item's target to at risk or breached is written to the item's
        history and queued as a notification exactly once. Closed items get their final state
        (met or breached) recorded silently, after which they are not looked at again (until
        reopened and closed anew).
        """
        now = now or datetime.now(UTC)
        actor = Principal.system("sla")
        events: list[SlaEvent] = []
        for entity_type in ("alert", "case"):
            events.extend(self._check_type(entity_type, now, actor))
        logger.info(
            "sla check done",
            extra={"events": len(events), "notified": sum(e.notified for e in events)},
        )
        return events

    def _candidates(self, entity_type: str) -> tuple[list[SlaPolicyInfo], list[int]]:
        table = item_table(entity_type)
        with self.db.session() as session:
            policies = load_policies(session, entity_type)
            if not policies:
                return policies, []
            covered = or_(
                *(
                    and_(
                        table.severity == p.severity,
                        true() if p.team_id is None else table.team_id == p.team_id,
                    )
                    for p in policies
                )
            )
            settled = exists().where(
                SlaState.entity_type == entity_type,
                SlaState.entity_id == table.id,
                SlaState.updated_at >= func.coalesce(table.closed_at, table.updated_at),
            )
            ids = session.scalars(
                select(table.id)
                .where(covered, or_(table.status != CLOSED, ~settled))
                .order_by(table.id)
            ).all()
            return policies, list(ids)

    def _check_type(self, entity_type: str, now: datetime, actor: Principal) -> list[SlaEvent]:
        policies, ids = self._candidates(entity_type)
        events: list[SlaEvent] = []
        for start in range(0, len(ids), _CHUNK):
            with self.db.session() as session:
                events.extend(
                    self._check_chunk(
                        session, entity_type, policies, ids[start : start + _CHUNK], now, actor
                    )
                )
        return events

    def _check_chunk(
        self,
        session: Session,
        entity_type: str,
        policies: list[SlaPolicyInfo],
        ids: list[int],
        now: datetime,
        actor: Principal,
    ) -> list[SlaEvent]:
        table = item_table(entity_type)
        rows = session.execute(
            select(
                table.id,
                table.title,
                table.severity,
                table.status,
                table.team_id,
                table.assignee_id,
                table.created_at,
            ).where(table.id.in_(ids))
        ).all()
        histories = load_stage_histories(session, entity_type, {r.id: r.created_at for r in rows})
        stored = {
            (s.entity_id, s.target): s
            for s in session.scalars(
                select(SlaState).where(
                    SlaState.entity_type == entity_type, SlaState.entity_id.in_(ids)
                )
            )
        }
        events: list[SlaEvent] = []
        emissions: list[notify.Emission] = []
        for r in rows:
            policy = pick_policy(policies, entity_type, r.severity, r.team_id)
            if policy is None:
                continue
            status = evaluate(policy, entity_type, r.id, histories[r.id], now)
            closed = r.status == CLOSED
            for target in status.targets:
                row = stored.get((r.id, target.target))
                previous = SlaStateName(row.state) if row is not None else None
                state = target.state
                if closed and state not in _FINAL:
                    continue  # closed, but not yet at ``now`` (a check of the past)
                if not closed and (
                    state is SlaStateName.PAUSED
                    or (row is None and state not in _ALERTING)
                    or (state is SlaStateName.AT_RISK and previous is SlaStateName.BREACHED)
                ):
                    continue
                if state == previous and not closed:
                    continue
                if row is None:
                    row = SlaState(entity_type=entity_type, entity_id=r.id, target=target.target)
                    session.add(row)
                row.policy_id = policy.id
                row.state = state.value
                row.due_at = target.due_at
                row.updated_at = now
                if state == previous:
                    continue  # closed item settled without a change: only the time moved
                alerting = state in _ALERTING and not closed
                if alerting:
                    record_change(
                        session,
                        entity_type,
                        r.id,
                        actor,
                        "update",
                        field=f"sla.{target.target}",
                        before=previous.value if previous else None,
                        after=state.value,
                        at=now,
                    )
                    emissions.append(self._emission(entity_type, r, policy, target))
                events.append(
                    SlaEvent(
                        entity_type,
                        r.id,
                        target.target,
                        state.value,
                        previous.value if previous else None,
                        target.due_at,
                        policy.id,
                        policy.name,
                        alerting,
                    )
                )
        notify.emit(session, emissions)
        return events

    @staticmethod
    def _emission(
        entity_type: str, row: Any, policy: SlaPolicyInfo, target: TargetStatus
    ) -> notify.Emission:
        breached = target.state is SlaStateName.BREACHED
        event = (
            notify.NotificationEvent.SLA_BREACHED
            if breached
            else notify.NotificationEvent.SLA_AT_RISK
        )
        due = target.due_at.strftime("%Y-%m-%d %H:%M UTC") if target.due_at else "-"
        word = "breached" if breached else "at risk"
        return notify.Emission(
            event=event,
            subject=f"SLA {word}: {entity_type} {row.id} {target.target} due {due}: {row.title}",
            payload={
                "entity_type": entity_type,
                "entity_id": row.id,
                "target": target.target,
                "state": target.state.value,
                "due_at": target.due_at.isoformat() if target.due_at else None,
                "policy": policy.name,
                "policy_id": policy.id,
                "title": row.title,
            },
            severity=row.severity,
            team_id=row.team_id,
            user_id=row.assignee_id,
        )
