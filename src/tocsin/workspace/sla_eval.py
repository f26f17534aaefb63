"""SLA arithmetic: a policy applied to an item's stage history at a given instant.

Pure functions over ``StageHistory`` (no database): ``SlaService`` and ``MetricsService`` share
them. A target's clock starts at creation, runs only in business hours (when the policy has
them) and stops while the item is in one of the policy's pause statuses. The acknowledge target
is met by the first move away from ``new``, the resolve target by the first move to ``closed``.
A target is breached once more working time than the target has run on its clock; it is at risk
from ``near_breach_percent`` of the target on. A reopened item keeps the times of its first
acknowledgement and first resolution (as MTTA and MTTR do).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tocsin.core.errors import InvalidInputError
from tocsin.workspace.business_hours import BusinessCalendar, working_add, working_elapsed
from tocsin.workspace.stages import CLOSED, NEW, StageHistory
from tocsin.workspace.tables import SlaPolicy

TARGETS = ("acknowledge", "resolve")
ENTITY_TYPES = ("alert", "case")


class SlaStateName(StrEnum):
    """Where one SLA target stands."""

    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"
    PAUSED = "paused"


def check_entity_type(entity_type: str) -> str:
    """``entity_type`` when it is ``alert`` or ``case``.

    Raises:
        InvalidInputError: for anything else.
    """
    if entity_type not in ENTITY_TYPES:
        raise InvalidInputError(f"unknown entity type {entity_type!r}: use alert or case")
    return entity_type


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class SlaPolicyInfo:
    """An SLA policy as services and routes see it."""

    id: int
    name: str
    entity_type: str
    severity: str
    team_id: int | None
    acknowledge_minutes: int | None
    resolve_minutes: int | None
    business_hours: BusinessCalendar | None
    pause_statuses: tuple[str, ...]
    near_breach_percent: int
    enabled: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: SlaPolicy) -> SlaPolicyInfo:
        """Read a policy row (its business hours are parsed here, once)."""
        hours = BusinessCalendar.from_dict(row.business_hours) if row.business_hours else None
        return cls(
            id=row.id,
            name=row.name,
            entity_type=row.entity_type,
            severity=row.severity,
            team_id=row.team_id,
            acknowledge_minutes=row.acknowledge_minutes,
            resolve_minutes=row.resolve_minutes,
            business_hours=hours,
            pause_statuses=tuple(row.pause_statuses or ()),
            near_breach_percent=row.near_breach_percent,
            enabled=row.enabled,
            created_at=row.created_at,
        )

    def minutes(self, target: str) -> int | None:
        """The policy's minutes for ``target`` (None when it sets none)."""
        return self.acknowledge_minutes if target == "acknowledge" else self.resolve_minutes

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "entity_type": self.entity_type,
            "severity": self.severity,
            "team_id": self.team_id,
            "acknowledge_minutes": self.acknowledge_minutes,
            "resolve_minutes": self.resolve_minutes,
            "business_hours": self.business_hours.to_dict() if self.business_hours else None,
            "pause_statuses": list(self.pause_statuses),
            "near_breach_percent": self.near_breach_percent,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """One target of one item: due time, working time used and left, state.

    ``remaining`` is negative once breached; ``due_at`` is None while paused (the clock is
    stopped, so no due time can be promised).
    """

    target: str
    minutes: int
    state: SlaStateName
    due_at: datetime | None
    elapsed: timedelta
    remaining: timedelta
    met_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (durations in seconds)."""
        return {
            "target": self.target,
            "minutes": self.minutes,
            "state": self.state.value,
            "due_at": _iso(self.due_at),
            "elapsed_seconds": self.elapsed.total_seconds(),
            "remaining_seconds": self.remaining.total_seconds(),
            "met_at": _iso(self.met_at),
        }


@dataclass(frozen=True, slots=True)
class SlaStatus:
    """The SLA standing of one alert or case at ``computed_at`` (no policy: no targets)."""

    entity_type: str
    entity_id: int
    policy_id: int | None
    policy_name: str | None
    acknowledge: TargetStatus | None
    resolve: TargetStatus | None
    computed_at: datetime

    @property
    def targets(self) -> tuple[TargetStatus, ...]:
        """The targets the policy sets."""
        return tuple(t for t in (self.acknowledge, self.resolve) if t is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "policy_id": self.policy_id,
            "policy": self.policy_name,
            "computed_at": self.computed_at.isoformat(),
            "targets": {t.target: t.to_dict() for t in self.targets},
        }


def pick_policy(
    policies: Iterable[SlaPolicyInfo], entity_type: str, severity: str, team_id: int | None
) -> SlaPolicyInfo | None:
    """The enabled policy for an item: its team's policy first, else the team-less one."""
    general: SlaPolicyInfo | None = None
    for policy in sorted(policies, key=lambda p: p.id):
        if not policy.enabled or policy.entity_type != entity_type:
            continue
        if policy.severity != severity:
            continue
        if policy.team_id is not None and policy.team_id == team_id:
            return policy
        if policy.team_id is None and general is None:
            general = policy
    return general


def _met_at(target: str, history: StageHistory, now: datetime) -> datetime | None:
    met = history.first_left(NEW) if target == "acknowledge" else history.first_entered(CLOSED)
    return met if met is not None and met <= now else None


def evaluate_target(
    target: str,
    minutes: int,
    history: StageHistory,
    policy: SlaPolicyInfo,
    now: datetime,
) -> TargetStatus:
    """Where ``target`` of an item stands at ``now`` (later history is ignored)."""
    calendar = policy.business_hours
    paused = set(policy.pause_statuses)
    goal = timedelta(minutes=minutes)
    met_at = _met_at(target, history, now)
    stop = met_at if met_at is not None else now
    segments = [
        (begin, end) for status, begin, end in history.intervals(stop) if status not in paused
    ]
    elapsed = timedelta(0)
    due_at: datetime | None = None
    for begin, end in segments:
        worked = working_elapsed(calendar, begin, end)
        if due_at is None and elapsed + worked >= goal:
            due_at = working_add(calendar, begin, goal - elapsed)
        elapsed += worked
    paused_now = history.status_at(stop) in paused
    if due_at is None and not paused_now:
        due_at = working_add(calendar, max(stop, history.created_at), goal - elapsed)
    if elapsed > goal:
        state = SlaStateName.BREACHED
    elif met_at is not None:
        state = SlaStateName.MET
    elif paused_now:
        state = SlaStateName.PAUSED
    elif elapsed * 100 >= goal * policy.near_breach_percent:
        state = SlaStateName.AT_RISK
    else:
        state = SlaStateName.OK
    return TargetStatus(target, minutes, state, due_at, elapsed, goal - elapsed, met_at)


def evaluate(
    policy: SlaPolicyInfo | None,
    entity_type: str,
    entity_id: int,
    history: StageHistory,
    now: datetime,
) -> SlaStatus:
    """The SLA standing of one item under ``policy`` at ``now``."""
    if policy is None:
        return SlaStatus(entity_type, entity_id, None, None, None, None, now)
    found: dict[str, TargetStatus | None] = {}
    for target in TARGETS:
        minutes = policy.minutes(target)
        found[target] = (
            None if minutes is None else evaluate_target(target, minutes, history, policy, now)
        )
    return SlaStatus(
        entity_type,
        entity_id,
        policy.id,
        policy.name,
        found["acknowledge"],
        found["resolve"],
        now,
    )


def policy_targets(policy: SlaPolicyInfo) -> Sequence[str]:
    """The targets ``policy`` sets minutes for."""
    return [t for t in TARGETS if policy.minutes(t) is not None]
