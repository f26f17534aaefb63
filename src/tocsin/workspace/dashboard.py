"""Aggregates for the console's overview, counted by the database, never row by row in Python.

The overview must stay fast with 100,000 alerts, so each figure is one ``GROUP BY`` that an
index can serve: open alerts per severity, alerts per time bucket and severity, the rules with
the most alerts, open cases. The SLA watch list reads only open items old enough to be at risk
(a target cannot be at risk before ``near_breach_percent`` of its minutes have passed on the
wall clock: business hours and pauses only slow a clock down), a bounded number per policy and
target, and evaluates those with ``sla_eval`` as the SLA service does.

Every function takes the workspace ``Database`` and the acting principal, whose permissions are
checked here as in the services. Queries use bound parameters and run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, cast, func, literal, or_, select, union_all

from tocsin.core.errors import InvalidInputError
from tocsin.workspace.db import Database
from tocsin.workspace.models import AlertStatus, CaseStatus, Severity
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.sla import item_table, load_policies
from tocsin.workspace.sla_eval import (
    SlaPolicyInfo,
    SlaStateName,
    SlaStatus,
    TargetStatus,
    evaluate,
    pick_policy,
    policy_targets,
)
from tocsin.workspace.stages import CLOSED, NEW, load_stage_histories
from tocsin.workspace.tables import Alert, Case, HistoryRecord

__all__ = [
    "MAX_BUCKETS",
    "OPEN_ALERT_STATUSES",
    "RuleCount",
    "SlaItem",
    "SlaWatch",
    "TimeBuckets",
    "alerts_over_time",
    "data_version",
    "open_alerts_by_severity",
    "open_cases_by_severity",
    "sla_watch",
    "top_rules",
]

OPEN_ALERT_STATUSES = tuple(s.value for s in AlertStatus if s is not AlertStatus.CLOSED)
SEVERITIES_HIGH_FIRST = tuple(reversed([s.value for s in Severity]))
MAX_BUCKETS = 200  # one sub-select each; SQLite allows 500 in a compound select
_ALERTING = (SlaStateName.AT_RISK, SlaStateName.BREACHED)
_NEVER = datetime.max.replace(tzinfo=UTC)
_WATCHED = (("alert", Permission.ALERT_READ), ("case", Permission.CASE_READ))
_OPEN = {
    "alert": list(OPEN_ALERT_STATUSES),
    "case": [s.value for s in CaseStatus if s is not CaseStatus.CLOSED],
}


@dataclass(frozen=True, slots=True)
class TimeBuckets:
    """Alert counts per time bucket and severity: ``counts[severity][i]`` for ``starts[i]``."""

    starts: tuple[datetime, ...]
    size: timedelta
    counts: dict[str, list[int]]

    @property
    def totals(self) -> list[int]:
        """All severities together, per bucket."""
        return [sum(c[i] for c in self.counts.values()) for i in range(len(self.starts))]

    @property
    def total(self) -> int:
        """Every alert in the window."""
        return sum(sum(c) for c in self.counts.values())


@dataclass(frozen=True, slots=True)
class RuleCount:
    """A rule with its number of alerts (``title`` is one of its alerts' titles)."""

    rule_id: str
    title: str
    count: int


@dataclass(frozen=True, slots=True)
class SlaItem:
    """An open alert or case with a target at risk or breached; ``urgent`` is due first."""

    entity_type: str
    id: int
    title: str
    severity: str
    status: str
    created_at: datetime
    sla: SlaStatus
    urgent: TargetStatus


@dataclass(frozen=True, slots=True)
class SlaWatch:
    """The most urgent SLA items, how many were found, and whether that count is exact.

    ``complete`` is false when more items were old enough to be at risk than were evaluated:
    ``total`` is then a lower bound.
    """

    items: list[SlaItem]
    total: int
    complete: bool


def _severity_counts(rows: Sequence[Any]) -> dict[str, int]:
    """Counts by severity name from ``(severity_rank, count)`` rows."""
    names = list(Severity)
    counts = dict.fromkeys(SEVERITIES_HIGH_FIRST, 0)
    for rank, count in rows:
        counts[names[int(rank)].value] += int(count)
    return counts


def open_alerts_by_severity(db: Database, actor: Principal) -> dict[str, int]:
    """Open alerts per severity, most severe first (every severity present, zero or not)."""
    actor.require(Permission.ALERT_READ)
    query = (
        # by rank: an index on (status, severity_rank) would answer it without the table
        select(Alert.severity_rank, func.count())
        .where(Alert.status.in_(OPEN_ALERT_STATUSES))
        .group_by(Alert.severity_rank)
    )
    with db.session() as session:
        return _severity_counts(session.execute(query).all())


def open_cases_by_severity(db: Database, actor: Principal) -> dict[str, int]:
    """Open cases (anything not closed) per severity, most severe first."""
    actor.require(Permission.CASE_READ)
    query = (
        select(Case.severity_rank, func.count())
        .where(Case.status != CLOSED)
        .group_by(Case.severity_rank)
    )
    with db.session() as session:
        return _severity_counts(session.execute(query).all())


def alerts_over_time(
    db: Database,
    actor: Principal,
    *,
    since: datetime,
    size: timedelta,
    buckets: int,
) -> TimeBuckets:
    """Alerts created in ``buckets`` consecutive buckets of ``size`` from ``since``, by severity.

    Each bucket is one range count over the (severity, created) index, all in one statement:
    no table row is read and no date function is needed, so SQLite and PostgreSQL share it.

    Raises:
        InvalidInputError: a bucket shorter than a second, or too many buckets.
    """
    actor.require(Permission.ALERT_READ)
    if size < timedelta(seconds=1) or not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidInputError(
            f"{buckets!r} buckets of {size!r}: use 1 to {MAX_BUCKETS} buckets of a second or more"
        )
    since = since.astimezone(UTC)
    edges = [since + size * i for i in range(buckets + 1)]
    ranks = [s.rank for s in Severity]
    parts = [
        select(
            cast(literal(index), Integer).label("bucket"),
            Alert.severity_rank,
            func.count().label("n"),
        )
        .where(
            Alert.severity_rank.in_(ranks),  # lets the index serve the range on created_at
            Alert.created_at >= edges[index],
            Alert.created_at < edges[index + 1],
        )
        .group_by(Alert.severity_rank)
        for index in range(buckets)
    ]
    counts = {s: [0] * buckets for s in SEVERITIES_HIGH_FIRST}
    names = list(Severity)
    with db.session() as session:
        for index, rank, count in session.execute(union_all(*parts)).all():
            counts[names[int(rank)].value][int(index)] += int(count)
    return TimeBuckets(tuple(edges[:-1]), size, counts)


def top_rules(
    db: Database,
    actor: Principal,
    *,
    since: datetime | None = None,
    open_only: bool = False,
    limit: int = 10,
) -> list[RuleCount]:
    """The rules with the most alerts (created since ``since``, or open), most first."""
    actor.require(Permission.ALERT_READ)
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(Alert.created_at >= since)
    if open_only:
        conditions.append(Alert.status.in_(OPEN_ALERT_STATUSES))
    count = func.count().label("n")
    # Grouping by an expression (rule_id is never NULL) keeps SQLite from walking the whole
    # rule_id index to save a sort: the filter's own index then reads only the rows it needs.
    rule = func.coalesce(Alert.rule_id, "").label("rule")
    query = (
        select(rule, func.max(Alert.title), count)
        .where(*conditions)
        .group_by(rule)
        .order_by(count.desc(), rule)
        .limit(max(1, min(limit, 100)))
    )
    with db.session() as session:
        return [RuleCount(r, t or "", int(n)) for r, t, n in session.execute(query).all()]


def _covered(
    table: type[Alert] | type[Case], policy: SlaPolicyInfo, policies: Sequence[SlaPolicyInfo]
) -> ColumnElement[bool]:
    """Items this policy applies to: its severity, and its team or a team without its own."""
    # The severity text (not the indexed rank) so that the planner walks the status index in
    # creation order and stops at the limit, instead of reading every item of that severity.
    severity = table.severity == policy.severity
    if policy.team_id is not None:
        return and_(severity, table.team_id == policy.team_id)
    own = sorted(
        {
            p.team_id
            for p in policies
            if p.team_id is not None and p.severity == policy.severity and p.enabled
        }
    )
    if not own:
        return severity
    return and_(severity, or_(table.team_id.is_(None), table.team_id.not_in(own)))


def sla_watch(
    db: Database,
    actor: Principal,
    *,
    now: datetime | None = None,
    limit: int = 15,
) -> SlaWatch:
    """Open alerts and cases with an acknowledge or resolve target at risk or breached.

    Soonest due first (the most overdue at the top). Alerts are included when the actor may
    read alerts, cases when they may read cases. Only open items old enough to be at risk are
    read, and per policy, target and status only the oldest few: a due time grows with the
    creation time (pauses can only delay it, hence a margin of twice ``limit``), so the
    cost stays bounded however many items are open.
    """
    actor.require(Permission.SLA_READ)
    now = now or datetime.now(UTC)
    scan = max(limit, 1) * 2
    found: list[SlaItem] = []
    complete = True
    for entity_type, permission in _WATCHED:
        if not actor.can(permission):
            continue
        items, whole = _watch_type(db, entity_type, now, scan)
        found.extend(items)
        complete = complete and whole
    found.sort(key=lambda i: (i.urgent.due_at or _NEVER, i.entity_type, i.id))
    return SlaWatch(found[:limit], len(found), complete)


def _watch_type(
    db: Database, entity_type: str, now: datetime, scan: int
) -> tuple[list[SlaItem], bool]:
    """The alerting items of one type, and whether every candidate was evaluated."""
    table = item_table(entity_type)
    with db.session() as session:
        policies = load_policies(session, entity_type)
        # item id -> the earliest its targets can fall due (the wall clock with no pause)
        earliest: dict[int, datetime] = {}
        complete = True
        for policy in policies:
            covered = _covered(table, policy, policies)
            for target in policy_targets(policy):
                goal = timedelta(minutes=policy.minutes(target) or 0)
                # nothing is at risk before this share of the target has passed on the wall
                # clock (business hours and pauses only slow the clock down)
                cutoff = now - goal * policy.near_breach_percent / 100
                unmet = [NEW] if target == "acknowledge" else _OPEN[entity_type]
                oldest: list[tuple[datetime, int]] = []
                for status in unmet:  # one index range each, read in creation order
                    oldest.extend(
                        (created, item)
                        for item, created in session.execute(
                            select(table.id, table.created_at)
                            .where(table.status == status, table.created_at <= cutoff, covered)
                            .order_by(table.created_at, table.id)
                            .limit(scan + 1)
                        ).all()
                    )
                oldest.sort()
                complete = complete and len(oldest) <= scan
                for created, item in oldest[:scan]:
                    due = created + goal
                    earliest[item] = min(due, earliest.get(item, due))
        ranked = sorted(earliest, key=lambda i: (earliest[i], i))
        complete = complete and len(ranked) <= scan
        ids = ranked[:scan]  # the few that can be due first are the ones evaluated
        if not ids:
            return [], complete
        rows = session.execute(
            select(
                table.id,
                table.title,
                table.severity,
                table.status,
                table.team_id,
                table.created_at,
            ).where(table.id.in_(ids), table.status != CLOSED)
        ).all()
        histories = load_stage_histories(session, entity_type, {r.id: r.created_at for r in rows})
    items: list[SlaItem] = []
    for r in rows:
        chosen = pick_policy(policies, entity_type, r.severity, r.team_id)
        standing = evaluate(chosen, entity_type, r.id, histories[r.id], now)
        alerting = [t for t in standing.targets if t.state in _ALERTING and t.met_at is None]
        if not alerting:
            continue
        urgent = min(alerting, key=lambda t: t.due_at or _NEVER)
        items.append(
            SlaItem(
                entity_type, r.id, r.title, r.severity, r.status, r.created_at, standing, urgent
            )
        )
    return items, complete


def data_version(db: Database, actor: Principal) -> tuple[int, int, int]:
    """A value that changes whenever an alert or case is added or changes stage.

    Ids only grow and every stage change writes a history record, so the largest alert, case
    and history ids (each read from its primary key index) name the state of the counts
    above: a caller may keep them while this value stays the same.
    """
    actor.require(Permission.ALERT_READ)
    query = select(
        select(func.max(Alert.id)).scalar_subquery(),
        select(func.max(Case.id)).scalar_subquery(),
        select(func.max(HistoryRecord.id)).scalar_subquery(),
    )
    with db.session() as session:
        alert, case, history = session.execute(query).one()
    return (int(alert or 0), int(case or 0), int(history or 0))
