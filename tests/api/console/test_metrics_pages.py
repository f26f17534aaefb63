"""The metrics page over a real workspace: the numbers of ``metrics.compute``, drawn and tabled."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.workspace.history_builder import Story
from tocsin.api.console.pages_metrics import period_keys
from tocsin.web.charts import Measures, column_chart, grouped_bar_chart, nice_duration_max
from tocsin.web.render import format_duration
from tocsin.workspace.metrics import NO_TEAM
from tocsin.workspace.models import AlertDraft
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio

PAYLOAD = "<script>alert(1)</script>"


def system() -> Principal:
    return Principal.system("test")


def section(page: str, key: str) -> str:
    """The HTML of the page's alerts or cases section."""
    start = page.index(f'<section class="panel metrics-section" id="{key}s"')
    return page[start : page.index("</section>", start)]


def table(part: str, caption: str) -> dict[str, list[str]]:
    """The rows of the table whose caption starts with ``caption``: first cell -> other cells."""
    for found in re.findall(r"<table[^>]*>.*?</table>", part, re.S):
        title = re.search(r"<caption[^>]*>(.*?)</caption>", found, re.S)
        if title and html.unescape(title[1]).startswith(caption):
            rows = {}
            for row in re.findall(r"<tr>(.*?)</tr>", found.split("<tbody>", 1)[1], re.S):
                cells = [
                    " ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split())
                    for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
                ]
                rows[cells[0]] = cells[1:]
            return rows
    raise AssertionError(f"no table {caption!r}")


def expected_cells(stats) -> list[str]:
    def shown(value):
        return "–" if value is None else format_duration(value)

    return [str(stats.count), shown(stats.median), shown(stats.p90), shown(stats.mean)]


@pytest.fixture
def story_alerts(ws_api):
    """Alerts of the last days with exact acknowledge and close times, under an SLA policy."""
    now = datetime.now(UTC)
    security, it_ops = ws_api.team_ids["Security"], ws_api.team_ids["IT operations"]
    ws_api.workspace.sla.create_policy(
        system(), "high alerts", "alert", "high", acknowledge_minutes=10, resolve_minutes=90
    )
    story = Story(ws_api.workspace.db)
    first = now - timedelta(days=2)
    a1 = story.alert(first, team_id=security, first_seen=first - timedelta(minutes=2))
    story.move("alert", a1, first + timedelta(minutes=5), "acknowledged")
    story.close("alert", a1, first + timedelta(minutes=60), "false_positive")
    second = now - timedelta(days=2, hours=-1)
    a2 = story.alert(second, team_id=security)
    story.move("alert", a2, second + timedelta(minutes=15), "acknowledged")
    story.close("alert", a2, second + timedelta(hours=3), "true_positive")
    third = now - timedelta(days=1)
    a3 = story.alert(third, team_id=it_ops, severity="low")
    story.move("alert", a3, third + timedelta(minutes=30), "acknowledged")
    story.alert(now - timedelta(days=20), team_id=security)  # in the 30-day window only
    return now


async def test_alert_durations_by_team_are_the_numbers_of_compute(console, ws_api, story_alerts):
    # and one alert handled through the service right now, with no team
    ws_api.workspace.raise_alerts(
        [AlertDraft(rule_id="test.rule", title="handled now", severity="medium")], actor=system()
    )
    alerts = ws_api.workspace.alerts
    handled = alerts.list(system(), q="handled now").items[0]
    alerts.acknowledge(system(), handled.id)
    alerts.close(system(), handled.id, "benign_positive")

    browser = await console(Role.ANALYST)
    page = await browser.get("/metrics")
    assert page.status_code == 200
    now = datetime.now(UTC)
    report = ws_api.workspace.metrics.compute(
        system(), since=now - timedelta(days=7), until=now, period="day", entity_type="alert"
    )
    part = section(page.text, "alert")
    assert "(4 created in the window)" in part and report.total == 4
    by_team = table(part, "Durations of the alerts by team")
    assert list(by_team) == ["IT operations", "Security", NO_TEAM]
    for team, cells in by_team.items():
        expected = []
        for key in ("mttd", "mtta", "mttr"):
            found = report.durations[key].by_team.get(team)
            expected += expected_cells(found) if found else ["0", "–", "–", "–"]
        assert cells == expected, team
    # the exact figures of the story: Security acknowledged after 5 and 15 min, closed after 1 h
    # and 3 h; the medians are 10 min and 2 h
    assert by_team["Security"][4:8] == ["2", "10 min", "14 min", "10 min"]
    assert by_team["Security"][8:10] == ["2", "2 h"]
    assert by_team["IT operations"][8:12] == ["0", "–", "–", "–"]  # not closed

    overall = table(part, "Each duration")
    assert overall["MTTA"][:4] == expected_cells(report.durations["mtta"].overall)
    assert overall["MTTR"][:4] == expected_cells(report.durations["mttr"].overall)

    by_day = table(part, "Durations of the alerts by day")
    assert list(by_day) == period_keys(now - timedelta(days=7), now, "day")
    day = (now - timedelta(days=2)).date().isoformat()
    assert by_day[day][4:8] == expected_cells(report.durations["mtta"].by_period[day])

    # SLA: the high alerts met one acknowledge target and breached one, same for resolve
    sla = table(part, "SLA targets of the alerts by team")
    assert sla["Security"] == ["1", "1", "0", "50%", "1", "1", "0", "50%"]
    assert report.sla["acknowledge"].by_team["Security"].rate == 0.5
    tiles = part.split('class="kpis"', 1)[1].split("<h3", 1)[0]
    kpis = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", tiles)).split())
    assert "50% acknowledge SLA met · 1 met, 1 breached" in kpis
    assert "10 min MTTA median · 4 measured" in kpis  # 0 s, 5, 15 and 30 min


async def test_a_closed_case_shows_in_the_case_figures_of_its_team(console, ws_api):
    analyst = ws_api.workspace.users.principal_for_token(ws_api.tokens[Role.ANALYST])
    security = ws_api.team_ids["Security"]
    case = ws_api.workspace.cases.create(
        analyst, title="phishing wave", severity="high", team_id=security
    )
    ws_api.workspace.cases.close(analyst, case.id, classification="true_positive")
    # and a case of the story, closed two hours after it was opened
    story = Story(ws_api.workspace.db)
    opened = datetime.now(UTC) - timedelta(days=3)
    other = story.case(opened, team_id=ws_api.team_ids["IT operations"])
    story.move("case", other, opened + timedelta(minutes=30), "in_progress")
    story.close("case", other, opened + timedelta(hours=2), "benign_positive")

    browser = await console(Role.READ_ONLY)
    page = await browser.get("/metrics")
    assert page.status_code == 200
    now = datetime.now(UTC)
    report = ws_api.workspace.metrics.compute(
        system(), since=now - timedelta(days=7), until=now, entity_type="case"
    )
    part = section(page.text, "case")
    assert "(2 created in the window)" in part
    by_team = table(part, "Durations of the cases by team")
    mttr = report.durations["mttr"].by_team["Security"]
    assert mttr.count == 1
    assert by_team["Security"][4:8] == expected_cells(mttr)
    assert by_team["IT operations"][4:8] == ["1", "2 h", "2 h", "2 h"]
    assert by_team["IT operations"][0:2] == ["1", "30 min"]  # MTTA
    assert "closed" in part and "true positive 1" in part


async def test_the_window_and_period_pickers_choose_the_items_and_buckets(
    console, ws_api, story_alerts
):
    browser = await console(Role.ANALYST)
    week = await browser.get("/metrics")
    assert "(3 created in the window)" in section(week.text, "alert")
    month = await browser.get("/metrics?range=30d&period=week")
    part = section(month.text, "alert")
    assert "(4 created in the window)" in part
    by_week = table(part, "Durations of the alerts by week")
    now = datetime.now(UTC)
    assert list(by_week) == period_keys(now - timedelta(days=30), now, "week")
    assert '<option value="30d" selected>' in month.text
    assert '<option value="week" selected>' in month.text
    one_team = await browser.get(f"/metrics?team={ws_api.team_ids['IT operations']}")
    assert list(table(section(one_team.text, "alert"), "Durations of the alerts by team")) == [
        "IT operations"
    ]
    bad = await browser.get("/metrics?period=fortnight")
    assert bad.status_code == 400


async def test_charts_are_svg_with_their_labels_escaped(console, ws_api):
    team = ws_api.workspace.users.create_team(system(), f"Team {PAYLOAD}")
    story = Story(ws_api.workspace.db)
    created = datetime.now(UTC) - timedelta(hours=5)
    alert = story.alert(created, team_id=team.id)
    story.move("alert", alert, created + timedelta(minutes=7), "acknowledged")
    browser = await console(Role.ANALYST)
    page = await browser.get("/metrics")
    part = section(page.text, "alert")
    svgs = re.findall(r"<svg .*?</svg>", part, re.S)
    assert len(svgs) >= 2
    assert all('role="img" aria-label="' in s for s in svgs)
    assert PAYLOAD not in page.text
    team_chart = next(s for s in svgs if 'aria-label="MTTA of the alerts by team' in s)
    assert "Team &lt;script&gt;alert(1)&lt;/script&gt;" in team_chart
    assert "7 min" in team_chart  # the MTTA median, written on its bar


def test_grouped_bars_escape_labels_and_leave_missing_values_out():
    chart = str(
        grouped_bar_chart(
            ["<b>one</b>", "two"],
            [Measures("MTTA", [60.0, None], "series-0"), Measures('M"TTR', [None, 7200.0])],
            label="by <team>",
            value_format=format_duration,
        )
    )
    assert chart.startswith('<svg class="chart grouped-bar-chart"')
    assert 'aria-label="by &lt;team&gt;"' in chart
    assert "&lt;b&gt;one&lt;/b&gt;" in chart and "<b>" not in chart
    assert "M&#34;TTR" in chart
    assert chart.count("<rect") == 2 + 2  # two measured bars and two legend keys
    assert ">1 min</text>" in chart and ">2 h</text>" in chart and ">–</text>" in chart
    empty = grouped_bar_chart(["a"], [Measures("x", [None])], label="none")
    assert "No data" in str(empty) and "<svg" not in str(empty)


def test_columns_are_side_by_side_on_a_round_axis():
    chart = str(
        column_chart(
            ["2026-11-23", "2026-11-30"],
            [Measures("MTTA", [600.0, None]), Measures("MTTR", [3000.0, 5400.0], "series-1")],
            label="by week",
            value_format=format_duration,
            axis_max=nice_duration_max,
        )
    )
    assert chart.count('class="bar series-0"') == 2  # one bar and the legend key
    assert chart.count('class="bar series-1"') == 3
    assert ">2 h</text>" in chart and ">1 h</text>" in chart  # axis top 7200 s and its half
    assert "2026-11-23" in chart
    assert nice_duration_max(0) == 1 and nice_duration_max(61) == 300
    assert nice_duration_max(5400) == 7200 and nice_duration_max(40 * 86400) == 50 * 86400
