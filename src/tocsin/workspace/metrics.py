"""Operations metrics, computed from the history each time (never stored by hand).

For the alerts (or cases) created in a window: MTTD (for alerts: from the earliest triggering
event, ``first_seen``, to the alert), MTTA (creation to the first move away from ``new``), MTTR
(creation to the first move to ``closed``), the time spent in each stage, SLA compliance (the
share of finished targets that were met, from ``sla_eval``), and counts by status, severity,
classification and rule, with each rule's noise ratio (false and benign positives among its
closed alerts) to find noisy rules. Each duration gives count, mean, median and p90 in seconds,
overall, per team and per period (UTC days, ISO weeks from Monday, or months, by creation).

Everything known about the items up to ``now`` counts, also what happened after ``until``:
the window only chooses the items.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.core.settings import Settings
from tocsin.workspace.db import Database
from tocsin.workspace.models import AlertStatus, CaseStatus, Classification, Severity
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.sla import item_table, load_policies
from tocsin.workspace.sla_eval import (
    TARGETS,
    SlaStateName,
    check_entity_type,
    evaluate,
    pick_policy,
)
from tocsin.workspace.stages import CLOSED, NEW, StageHistory, load_stage_histories
from tocsin.workspace.tables import Alert, HistoryRecord, Team

Period = Literal["day", "week", "month"]
PERIODS: tuple[str, ...] = get_args(Period)
NO_TEAM = "(no team)"
P90 = Fraction(9, 10)
NOISE = (Classification.FALSE_POSITIVE.value, Classification.BENIGN_POSITIVE.value)
_STAGES = {
    "alert": [s.value for s in AlertStatus if s is not AlertStatus.CLOSED],
    "case": [s.value for s in CaseStatus if s is not CaseStatus.CLOSED],
}


def percentile(ordered: Sequence[float], fraction: Fraction) -> float:
    """The ``fraction`` quantile of sorted values, interpolating between closest ranks.

    The same definition as numpy's default ("linear"): rank ``fraction * (n - 1)``, computed
    with exact fractions so that whole seconds give exact results.
    """
    if not ordered:
        raise InvalidInputError("a percentile of no values")
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    below, above = Fraction(ordered[low]), Fraction(ordered[high])
    return float(below + (above - below) * (rank - low))


@dataclass(frozen=True, slots=True)
class DurationStats:
    """Count, mean, median and p90 of some durations, in seconds (None when there are none)."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> DurationStats:
        """Summarise ``values`` (seconds)."""
        if not values:
            return cls(0, None, None, None)
        ordered = sorted(values)
        return cls(
            len(ordered),
            math.fsum(ordered) / len(ordered),
            statistics.median(ordered),
            percentile(ordered, P90),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"count": self.count, "mean": self.mean, "median": self.median, "p90": self.p90}


@dataclass(frozen=True, slots=True)
class DurationMetric:
    """One duration metric overall, per team (by name) and per period (by first day)."""

    overall: DurationStats
    by_team: dict[str, DurationStats]
    by_period: dict[str, DurationStats]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "overall": self.overall.to_dict(),
            "by_team": {k: v.to_dict() for k, v in self.by_team.items()},
            "by_period": {k: v.to_dict() for k, v in self.by_period.items()},
        }


@dataclass(frozen=True, slots=True)
class Compliance:
    """How many SLA targets were met, breached, or are not settled yet."""

    met: int = 0
    breached: int = 0
    pending: int = 0

    @property
    def rate(self) -> float | None:
        """Met among settled targets (None when none is settled)."""
        settled = self.met + self.breached
        return self.met / settled if settled else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "met": self.met,
            "breached": self.breached,
            "pending": self.pending,
            "compliance": self.rate,
        }


@dataclass(frozen=True, slots=True)
class ComplianceMetric:
    """SLA compliance of one target overall, per team and per period."""

    overall: Compliance
    by_team: dict[str, Compliance]
    by_period: dict[str, Compliance]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "overall": self.overall.to_dict(),
            "by_team": {k: v.to_dict() for k, v in self.by_team.items()},
            "by_period": {k: v.to_dict() for k, v in self.by_period.items()},
        }


@dataclass(frozen=True, slots=True)
class RuleCount:
    """Alerts of one rule: how many, how they were classified, how noisy."""

    rule_id: str
    total: int
    open: int
    closed: int
    classifications: dict[str, int]

    @property
    def noise_ratio(self) -> float | None:
        """False and benign positives among the closed alerts (None when none is closed)."""
        if not self.closed:
            return None
        return sum(self.classifications.get(c, 0) for c in NOISE) / self.closed

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "rule_id": self.rule_id,
            "total": self.total,
            "open": self.open,
            "closed": self.closed,
            "classifications": self.classifications,
            "noise_ratio": self.noise_ratio,
        }


@dataclass(frozen=True, slots=True)
class MetricsReport:
    """Everything ``tocsin metrics`` and ``GET /api/v1/metrics`` show."""

    entity_type: str
    since: datetime
    until: datetime
    team_id: int | None
    period: str | None
    computed_at: datetime
    total: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    by_classification: dict[str, int]
    durations: dict[str, DurationMetric]  # mttd (alerts), mtta, mttr
    stages: dict[str, DurationMetric]  # time in each stage but closed
    sla: dict[str, ComplianceMetric]  # acknowledge, resolve
    rules: list[RuleCount] = field(default_factory=list)  # alerts only, most alerts first

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "entity_type": self.entity_type,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "team_id": self.team_id,
            "period": self.period,
            "computed_at": self.computed_at.isoformat(),
            "counts": {
                "total": self.total,
                "by_status": self.by_status,
                "by_severity": self.by_severity,
                "by_classification": self.by_classification,
            },
            "durations": {k: v.to_dict() for k, v in self.durations.items()},
            "stages": {k: v.to_dict() for k, v in self.stages.items()},
            "sla": {k: v.to_dict() for k, v in self.sla.items()},
            "rules": [r.to_dict() for r in self.rules],
        }

    def rows(self) -> list[dict[str, object]]:
        """The report as flat rows (for NDJSON and CSV): one per metric, group and key."""
        rows: list[dict[str, object]] = []

        def add(section: str, metric: str, group: str, key: str, **values: object) -> None:
            rows.append(
                {"section": section, "metric": metric, "group": group, "key": key, **values}
            )

        for section, metrics in (("duration", self.durations), ("stage", self.stages)):
            for name, metric in metrics.items():
                for group, key, stats in _groups(metric.overall, metric.by_team, metric.by_period):
                    add(section, name, group, key, **stats.to_dict())
        for target, compliance in self.sla.items():
            for group, key, c in _groups(
                compliance.overall, compliance.by_team, compliance.by_period
            ):
                add(
                    "sla",
                    target,
                    group,
                    key,
                    count=c.met + c.breached,
                    value=c.rate,
                    detail=c.to_dict(),
                )
        for kind, counts in (
            ("status", self.by_status),
            ("severity", self.by_severity),
            ("classification", self.by_classification),
        ):
            for key, count in counts.items():
                add("count", kind, "overall", key, count=count)
        for rule in self.rules:
            detail = {"open": rule.open, "closed": rule.closed, **rule.classifications}
            add(
                "rule",
                "noise_ratio",
                "overall",
                rule.rule_id,
                count=rule.total,
                value=rule.noise_ratio,
                detail=detail,
            )
        return rows


def _groups(
    overall: Any, by_team: dict[str, Any], by_period: dict[str, Any]
) -> list[tuple[str, str, Any]]:
    return [
        ("overall", "all", overall),
        *(("team", k, v) for k, v in by_team.items()),
        *(("period", k, v) for k, v in by_period.items()),
    ]


def period_start(instant: datetime, period: str) -> date:
    """The first UTC day of the day, ISO week (Monday) or month holding ``instant``."""
    day = instant.astimezone(UTC).date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


class _Durations:
    """Collects seconds per team and period, then summarises them."""

    def __init__(self) -> None:
        self.overall: list[float] = []
        self.teams: dict[str, list[float]] = defaultdict(list)
        self.periods: dict[str, list[float]] = defaultdict(list)

    def add(self, value: timedelta, team: str, period: str | None) -> None:
        seconds = max(value, timedelta(0)).total_seconds()
        self.overall.append(seconds)
        self.teams[team].append(seconds)
        if period is not None:
            self.periods[period].append(seconds)

    def build(self) -> DurationMetric:
        return DurationMetric(
            DurationStats.of(self.overall),
            {k: DurationStats.of(self.teams[k]) for k in sorted(self.teams)},
            {k: DurationStats.of(self.periods[k]) for k in sorted(self.periods)},
        )


class _Compliance:
    """Counts met, breached and pending targets per team and period."""

    def __init__(self) -> None:
        self.overall: Counter[str] = Counter()
        self.teams: dict[str, Counter[str]] = defaultdict(Counter)
        self.periods: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, outcome: str, team: str, period: str | None) -> None:
        self.overall[outcome] += 1
        self.teams[team][outcome] += 1
        if period is not None:
            self.periods[period][outcome] += 1

    @staticmethod
    def _of(counts: Counter[str]) -> Compliance:
        return Compliance(counts["met"], counts["breached"], counts["pending"])

    def build(self) -> ComplianceMetric:
        return ComplianceMetric(
            self._of(self.overall),
            {k: self._of(self.teams[k]) for k in sorted(self.teams)},
            {k: self._of(self.periods[k]) for k in sorted(self.periods)},
        )


def _check_window(since: datetime, until: datetime, period: str | None) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInputError("since and until must carry a time zone")
    if until <= since:
        raise InvalidInputError(
            f"until {until.isoformat()!r} must be after since {since.isoformat()!r}"
        )
    if period is not None and period not in PERIODS:
        raise InvalidInputError(f"unknown period {period!r}: use day, week or month")


class MetricsService:
    """MTTD, MTTA, MTTR, time in stage, SLA compliance and noisy rules, from the history."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def team_id(self, actor: Principal, name: str) -> int:
        """The id of the team called ``name`` (for ``--team NAME``).

        Raises:
            NotFoundError: no such team.
        """
        actor.require(Permission.METRICS_READ)
        with self.db.session() as session:
            found = session.scalar(select(Team.id).where(Team.name == name))
        if found is None:
            raise NotFoundError(f"team {name!r} does not exist")
        return found

    def compute(
        self,
        actor: Principal,
        *,
        since: datetime,
        until: datetime,
        team_id: int | None = None,
        period: str | None = None,
        entity_type: str = "alert",
        now: datetime | None = None,
    ) -> MetricsReport:
        """Metrics of the items created in ``[since, until)`` (of one team when given).

        Raises:
            InvalidInputError: a bad window, period or entity type.
        """
        actor.require(Permission.METRICS_READ)
        check_entity_type(entity_type)
        _check_window(since, until, period)
        now = now or datetime.now(UTC)
        with self.db.session() as session:
            return self._compute(session, entity_type, since, until, team_id, period, now)

    def _compute(
        self,
        session: Session,
        entity_type: str,
        since: datetime,
        until: datetime,
        team_id: int | None,
        period: str | None,
        now: datetime,
    ) -> MetricsReport:
        table = item_table(entity_type)
        alerts = entity_type == "alert"
        conditions = [table.created_at >= since, table.created_at < until]
        if team_id is not None:
            conditions.append(table.team_id == team_id)
        columns = [
            table.id,
            table.severity,
            table.status,
            table.classification,
            table.team_id,
            table.created_at,
        ]
        if alerts:
            columns += [Alert.rule_id, Alert.first_seen]
        rows = session.execute(select(*columns).where(*conditions)).all()
        histories = load_stage_histories(
            session,
            entity_type,
            {r.id: r.created_at for r in rows},
            id_filter=HistoryRecord.entity_id.in_(select(table.id).where(*conditions)),
        )
        teams: dict[int, str] = dict(session.execute(select(Team.id, Team.name)).all())
        policies = load_policies(session, entity_type)

        durations = {name: _Durations() for name in (["mttd"] if alerts else []) + ["mtta", "mttr"]}
        stages = {name: _Durations() for name in _STAGES[entity_type]}
        compliance = {target: _Compliance() for target in TARGETS}
        by_status: Counter[str] = Counter()
        by_severity: Counter[str] = Counter()
        by_classification: Counter[str] = Counter()
        rules: dict[str, Counter[str]] = defaultdict(Counter)
        for r in rows:
            history = histories[r.id]
            team = teams.get(r.team_id, NO_TEAM) if r.team_id is not None else NO_TEAM
            bucket = period_start(r.created_at, period).isoformat() if period else None
            by_status[r.status] += 1
            by_severity[r.severity] += 1
            closed = r.status == CLOSED
            if closed:
                by_classification[r.classification or "unclassified"] += 1
            if alerts:
                durations["mttd"].add(r.created_at - r.first_seen, team, bucket)
                counts = rules[r.rule_id]
                counts["total"] += 1
                counts["closed" if closed else "open"] += 1
                if closed:
                    counts["class:" + (r.classification or "unclassified")] += 1
            self._add_history(history, now, durations, stages, team, bucket)
            policy = pick_policy(policies, entity_type, r.severity, r.team_id)
            status = evaluate(policy, entity_type, r.id, history, now)
            for target in status.targets:
                outcome = {SlaStateName.MET: "met", SlaStateName.BREACHED: "breached"}
                compliance[target.target].add(outcome.get(target.state, "pending"), team, bucket)
        severities = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
        stage_order = [*_STAGES[entity_type], CLOSED, *sorted(by_status)]
        return MetricsReport(
            entity_type=entity_type,
            since=since,
            until=until,
            team_id=team_id,
            period=period,
            computed_at=now,
            total=len(rows),
            by_status={k: by_status[k] for k in sorted(by_status, key=stage_order.index)},
            by_severity={k: by_severity[k] for k in severities if by_severity[k]},
            by_classification=dict(
                sorted(by_classification.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            durations={k: v.build() for k, v in durations.items()},
            stages={k: v.build() for k, v in stages.items()},
            sla={k: v.build() for k, v in compliance.items() if v.overall},
            rules=sorted(
                (
                    RuleCount(
                        rule_id,
                        c["total"],
                        c["open"],
                        c["closed"],
                        {k[6:]: v for k, v in sorted(c.items()) if k.startswith("class:")},
                    )
                    for rule_id, c in rules.items()
                ),
                key=lambda rule: (-rule.total, rule.rule_id),
            ),
        )

    @staticmethod
    def _add_history(
        history: StageHistory,
        now: datetime,
        durations: dict[str, _Durations],
        stages: dict[str, _Durations],
        team: str,
        bucket: str | None,
    ) -> None:
        acknowledged = history.first_left(NEW)
        if acknowledged is not None and acknowledged <= now:
            durations["mtta"].add(acknowledged - history.created_at, team, bucket)
        resolved = history.first_entered(CLOSED)
        if resolved is not None and resolved <= now:
            durations["mttr"].add(resolved - history.created_at, team, bucket)
        spent: dict[str, timedelta] = defaultdict(timedelta)
        for status, begin, end in history.intervals(now):
            if status in stages:
                spent[status] += end - begin
        for status, total in spent.items():
            stages[status].add(total, team, bucket)
