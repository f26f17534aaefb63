"""``tocsin metrics``: MTTD, MTTA, MTTR, time in stage, SLA compliance and noisy rules."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tocsin.cli.common import ensure_home, handle_errors
from tocsin.cli.output import OutputFormat, print_rows, resolve_format, stdout
from tocsin.core.timeutil import parse_time_bound
from tocsin.workspace.metrics import (
    Compliance,
    ComplianceMetric,
    DurationMetric,
    DurationStats,
    MetricsReport,
)
from tocsin.workspace.models import Classification
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

app = typer.Typer(
    help="Operations metrics from the alert and case history.",
    invoke_without_command=True,
)

ROW_COLUMNS = [
    "section",
    "metric",
    "group",
    "key",
    "count",
    "mean",
    "median",
    "p90",
    "value",
    "detail",
]
_LABELS = {"mttd": "MTTD", "mtta": "MTTA", "mttr": "MTTR"}
_CLASS_SHORT = {
    Classification.TRUE_POSITIVE.value: "TP",
    Classification.BENIGN_POSITIVE.value: "BP",
    Classification.FALSE_POSITIVE.value: "FP",
    Classification.UNDETERMINED.value: "Undet.",
    Classification.DUPLICATE.value: "Dup.",
}
TOP_RULES = 20


class Period(StrEnum):
    """Period buckets."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Entity(StrEnum):
    """What to measure."""

    ALERT = "alert"
    CASE = "case"


def humanize(seconds: float | None) -> str:
    """A duration for people: ``4m 12s``, ``3h 5m``, ``2d 4h`` (``-`` for none)."""
    if seconds is None:
        return "-"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _stats_cells(stats: DurationStats) -> list[str]:
    return [
        str(stats.count),
        humanize(stats.mean),
        humanize(stats.median),
        humanize(stats.p90),
    ]


def _named_durations(report: MetricsReport) -> list[tuple[str, DurationMetric]]:
    named = [(_LABELS.get(k, k), v) for k, v in report.durations.items()]
    named += [(f"time in {k}", v) for k, v in report.stages.items()]
    return named


def _durations_table(report: MetricsReport) -> Table:
    table = Table(title="Durations", header_style="bold")
    for name in ("Metric", "Count", "Mean", "Median", "P90"):
        table.add_column(name, justify="left" if name == "Metric" else "right")
    for name, metric in _named_durations(report):
        table.add_row(name, *_stats_cells(metric.overall))
    return table


def _grouped_table(report: MetricsReport, group: str) -> Table | None:
    title = "By team" if group == "team" else "By period"
    table = Table(title=title, header_style="bold")
    for name in ("Metric", group.title(), "Count", "Mean", "Median", "P90"):
        table.add_column(name, justify="left" if name in ("Metric", group.title()) else "right")
    for name, metric in _named_durations(report):
        groups = metric.by_team if group == "team" else metric.by_period
        for key, stats in groups.items():
            table.add_row(name, escape(key), *_stats_cells(stats))
    return table if table.row_count else None


def _compliance_rows(target: str, metric: ComplianceMetric) -> list[tuple[str, str, Compliance]]:
    return [
        (target, "all", metric.overall),
        *((target, f"team {k}", v) for k, v in metric.by_team.items()),
        *((target, f"period {k}", v) for k, v in metric.by_period.items()),
    ]


def _sla_table(report: MetricsReport) -> Table | None:
    if not report.sla:
        return None
    table = Table(title="SLA compliance", header_style="bold")
    for name in ("Target", "Scope", "Met", "Breached", "Pending", "Compliance"):
        table.add_column(name, justify="left" if name in ("Target", "Scope") else "right")
    for target, metric in report.sla.items():
        for label, scope, c in _compliance_rows(target, metric):
            table.add_row(
                label, escape(scope), str(c.met), str(c.breached), str(c.pending), _percent(c.rate)
            )
    return table


def _rules_table(report: MetricsReport) -> Table | None:
    if not report.rules:
        return None
    shown = report.rules[:TOP_RULES]
    title = "Alerts by rule" + (f" (top {TOP_RULES})" if len(report.rules) > TOP_RULES else "")
    table = Table(title=title, header_style="bold")
    table.add_column("Rule", overflow="fold")
    for name in ("Alerts", "Open", "Closed", *_CLASS_SHORT.values(), "Noise"):
        table.add_column(name, justify="right")
    for rule in shown:
        table.add_row(
            escape(rule.rule_id),
            str(rule.total),
            str(rule.open),
            str(rule.closed),
            *(str(rule.classifications.get(c, 0)) for c in _CLASS_SHORT),
            _percent(rule.noise_ratio),
        )
    return table


def _counts_table(report: MetricsReport) -> Table | None:
    table = Table(title="Counts", header_style="bold")
    for name in ("By", "Value", "Count"):
        table.add_column(name, justify="right" if name == "Count" else "left")
    for kind, counts in (
        ("status", report.by_status),
        ("severity", report.by_severity),
        ("classification", report.by_classification),
    ):
        for key, count in counts.items():
            table.add_row(kind, escape(key), str(count))
    return table if table.row_count else None


def render_tables(report: MetricsReport) -> list[Table]:
    """The report as Rich tables: durations, by team, by period, SLA, rules, counts."""
    candidates = [
        _durations_table(report),
        _grouped_table(report, "team"),
        _grouped_table(report, "period") if report.period else None,
        _sla_table(report),
        _rules_table(report),
        _counts_table(report),
    ]
    return [t for t in candidates if t is not None]


@app.callback(invoke_without_command=True)
@handle_errors
def report(
    since: Annotated[
        str, typer.Option(help="Items created since: 30d, -24h, an ISO time.")
    ] = "30d",
    until: Annotated[str | None, typer.Option(help="Items created before (default now).")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team (by name).")] = None,
    period: Annotated[
        Period | None, typer.Option(help="Also per day, week or month (UTC).")
    ] = None,
    entity: Annotated[Entity, typer.Option(help="Measure alerts or cases.")] = Entity.ALERT,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "--output",
            "-o",
            help="table, json, ndjson or csv (default: table on a terminal, ndjson when piped).",
        ),
    ] = None,
) -> None:
    """MTTD, MTTA, MTTR, time in stage, SLA compliance and noisy rules."""
    workspace = Workspace.open(ensure_home())
    try:
        actor = Principal.local()
        now = datetime.now(UTC)
        result = workspace.metrics.compute(
            actor,
            since=parse_time_bound(since, now=now),
            until=parse_time_bound(until, now=now) if until else now,
            team_id=workspace.metrics.team_id(actor, team) if team else None,
            period=period.value if period else None,
            entity_type=entity.value,
            now=now,
        )
    finally:
        workspace.close()
    chosen = resolve_format(output)
    if chosen is not OutputFormat.TABLE:
        print_rows(result.rows(), chosen, ROW_COLUMNS)
        return
    kind = "alerts" if entity is Entity.ALERT else "cases"
    stdout.print(
        f"{result.total} {kind} created from {result.since:%Y-%m-%d %H:%M} "
        f"to {result.until:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    for table in render_tables(result):
        stdout.print(table)
