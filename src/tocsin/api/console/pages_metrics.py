"""The console's metrics page: MTTD, MTTA, MTTR and SLA compliance by team and by period.

Numbers come from ``MetricsService.compute``, as for ``tocsin metrics`` and the API; the page
draws them as server-side SVG charts with the table of the same numbers under each chart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from tocsin.api.console.common import Viewer, page, render_page
from tocsin.api.deps import Services, services
from tocsin.core.errors import InvalidInputError
from tocsin.web.charts import Measures, column_chart, grouped_bar_chart, nice_duration_max
from tocsin.web.render import format_duration
from tocsin.workspace.dashboard import data_version
from tocsin.workspace.metrics import (
    NO_TEAM,
    PERIODS,
    Compliance,
    DurationMetric,
    DurationStats,
    MetricsReport,
    period_start,
)
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]

WINDOWS = {"7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
DEFAULT_WINDOW = "7d"
DEFAULT_PERIOD = {"7d": "day", "30d": "week", "90d": "week"}
LABELS = {"mttd": "MTTD", "mtta": "MTTA", "mttr": "MTTR"}
HELP = {
    "mttd": "from the first triggering event to the alert",
    "mtta": "from creation to the first move away from new",
    "mttr": "from creation to closing",
}
DURATION_CSS = {"mttd": "series-4", "mtta": "series-0", "mttr": "series-1"}
TARGET_CSS = {"acknowledge": "series-0", "resolve": "series-1"}
ENTITIES = (("alert", "Alerts"), ("case", "Cases"))


@dataclass
class EntityView:
    """What the page shows about alerts or cases: the report and its charts."""

    key: str
    title: str
    report: MetricsReport
    teams: list[str]
    periods: list[str]
    durations: list[tuple[str, str, DurationMetric]]  # key, label, metric
    charts: dict[str, list[tuple[str, Markup]]] = field(default_factory=dict)

    def compliance(self, target: str, group: str, name: str) -> Compliance:
        """The SLA outcomes of one target for one team or period (zeros when none)."""
        metric = self.report.sla.get(target)
        if metric is None:
            return Compliance()
        found = metric.by_team if group == "team" else metric.by_period
        return found.get(name, Compliance())

    def stats(self, key: str, group: str, name: str) -> DurationStats:
        """The stats of one duration metric for one team or period (empty when none)."""
        metric = self.report.durations[key]
        found = metric.by_team if group == "team" else metric.by_period
        return found.get(name, DurationStats(0, None, None, None))


def _teams(report: MetricsReport) -> list[str]:
    """Every team that appears anywhere in the report, by name, with no team last."""
    names: set[str] = set()
    for metric in [*report.durations.values(), *report.stages.values()]:
        names.update(metric.by_team)
    for compliance in report.sla.values():
        names.update(compliance.by_team)
    return sorted(names - {NO_TEAM}, key=str.lower) + ([NO_TEAM] if NO_TEAM in names else [])


def period_keys(since: datetime, until: datetime, period: str) -> list[str]:
    """The first day of every day, week or month from ``since`` to ``until`` (ISO dates)."""
    current = period_start(since, period)
    last = period_start(until - timedelta(microseconds=1), period)
    keys: list[str] = []
    while current <= last:
        keys.append(current.isoformat())
        current = _next(current, period)
    return keys


def _next(day: date, period: str) -> date:
    if period == "week":
        return day + timedelta(days=7)
    if period == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=1)


def percent(rate: float | None) -> str:
    """A share as ``87.5%`` (a dash for none)."""
    return "\u2013" if rate is None else f"{rate * 100:.1f}%".replace(".0%", "%")


def _share(compliance: Compliance) -> float | None:
    """Met among settled targets, in percent (None when none is settled)."""
    rate = compliance.rate
    return None if rate is None else rate * 100


def _rate_percent(value: float) -> str:
    return f"{value:.0f}%"


def _charts(view: EntityView, period: str) -> dict[str, list[tuple[str, Markup]]]:
    """The charts by team (bars) and by period (columns), each with its title.

    Each duration gets a chart of its own, median beside p90, on its own scale: minutes to
    acknowledge next to hours to detect would flatten one of them. Then the share of SLA
    targets met.
    """
    report, noun = view.report, view.title.lower()
    charts: dict[str, list[tuple[str, Markup]]] = {"team": [], "period": []}
    for key, label, _metric in view.durations:
        teams = [view.stats(key, "team", t) for t in view.teams]
        periods = [view.stats(key, "period", p) for p in view.periods]
        css = DURATION_CSS[key]
        charts["team"].append(
            (
                label,
                grouped_bar_chart(
                    view.teams,
                    [
                        Measures("median", [s.median for s in teams], css),
                        Measures("p90", [s.p90 for s in teams], "series-5"),
                    ],
                    label=f"{label} of the {noun} by team: median and p90",
                    value_format=format_duration,
                ),
            )
        )
        charts["period"].append(
            (
                label,
                column_chart(
                    view.periods,
                    [
                        Measures("median", [s.median for s in periods], css),
                        Measures("p90", [s.p90 for s in periods], "series-5"),
                    ],
                    label=f"{label} of the {noun} by {period}: median and p90",
                    value_format=format_duration,
                    axis_max=nice_duration_max,
                ),
            )
        )
    if report.sla:
        by_team, by_period = [], []
        for target in report.sla:
            css = TARGET_CSS.get(target, "series-2")
            teams_met = [_share(view.compliance(target, "team", t)) for t in view.teams]
            periods_met = [_share(view.compliance(target, "period", p)) for p in view.periods]
            by_team.append(Measures(f"{target} met", teams_met, css))
            by_period.append(Measures(f"{target} met", periods_met, css))
        title = "SLA targets met"
        charts["team"].append(
            (
                title,
                grouped_bar_chart(
                    view.teams,
                    by_team,
                    label=f"Share of SLA targets met for the {noun} by team",
                    value_format=_rate_percent,
                    maximum=100.0,
                ),
            )
        )
        charts["period"].append(
            (
                title,
                column_chart(
                    view.periods,
                    by_period,
                    label=f"Share of SLA targets met for the {noun} by {period}",
                    value_format=_rate_percent,
                    axis_max=lambda _top: 100.0,
                ),
            )
        )
    return charts


def _view(key: str, title: str, report: MetricsReport, since: datetime, period: str) -> EntityView:
    durations = [(k, LABELS.get(k, k), m) for k, m in report.durations.items()]
    view = EntityView(
        key,
        title,
        report,
        _teams(report),
        period_keys(since, report.until, period),
        durations,
    )
    view.charts = _charts(view, period)
    return view


def _team_choice(svc: Services, viewer: Viewer, value: str | None) -> tuple[list[Any], int | None]:
    teams: list[Any] = []
    if viewer.can(Permission.USER_READ.value):
        teams = svc.workspace.users.list_teams(viewer.principal)
    if not value:
        return teams, None
    if not value.isdigit() or int(value) not in {t.id for t in teams}:
        raise InvalidInputError(f"unknown team {value!r}")
    return teams, int(value)


# A report is kept while no alert, case or history record changes, and at most this long (SLA
# states move with the clock): computing one reads every item of the window and its history.
CACHE_SECONDS = 60.0


@router.get("/metrics")
def metrics_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.METRICS_READ))],
    svc: Svc,
) -> HTMLResponse:
    """MTTD/MTTA/MTTR and SLA compliance of alerts and cases, by team and by period."""
    params = request.query_params
    chosen = params.get("range", "")
    window = chosen if chosen in WINDOWS else DEFAULT_WINDOW
    period = params.get("period") or DEFAULT_PERIOD[window]
    if period not in PERIODS:
        raise InvalidInputError(f"unknown period {period!r}: use day, week or month")
    teams, team_id = _team_choice(svc, viewer, params.get("team"))
    now = datetime.now(UTC)
    since = now - WINDOWS[window]
    views = []
    version = data_version(svc.workspace.db, viewer.principal)
    cache: dict[tuple[object, ...], tuple[float, datetime, Any]] = svc.__dict__.setdefault(
        "_metrics_cache", {}
    )
    for key, title in ENTITIES:
        slot = (key, window, period, team_id, version)
        kept = cache.get(slot)
        if kept is not None and time.monotonic() - kept[0] < CACHE_SECONDS:
            report, since = kept[2], kept[1]
        else:
            report = svc.workspace.metrics.compute(
                viewer.principal,
                since=since,
                until=now,
                team_id=team_id,
                period=period,
                entity_type=key,
                now=now,
            )
            if len(cache) > 64:
                cache.clear()
            cache[slot] = (time.monotonic(), since, report)
        views.append(_view(key, title, report, since, period))
    return render_page(
        request,
        viewer,
        "metrics.html",
        title="Metrics",
        nav="metrics",
        views=views,
        window=window,
        windows=list(WINDOWS),
        period=period,
        periods=list(PERIODS),
        teams=teams,
        team_id=team_id,
        since=since,
        until=now,
        help=HELP,
        percent=percent,
    )
