"""The overview page over a real workspace, lake, quarantine and spool."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape

from tests.workspace.history_builder import Story
from tocsin.ingest.base import ParseIssue
from tocsin.ingest.quarantine import Quarantine
from tocsin.ingest.spool import Spool, SpoolRecord
from tocsin.lake.writer import LakeWriter
from tocsin.workspace.models import AlertDraft
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio

PAYLOAD = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
SYSTEM = Principal.system("test")


def raise_alerts(ws_api, *drafts: AlertDraft) -> None:
    ws_api.workspace.raise_alerts(list(drafts), actor=SYSTEM)


def draft(title: str, severity: str = "high", rule_id: str = "test.rule") -> AlertDraft:
    # a distinct dedup key per title, so that equal titles are separate alerts
    return AlertDraft(rule_id=rule_id, title=title, severity=severity, dedup_key=title)


def kpi(page: str, key: str) -> int:
    found = re.search(
        rf'data-kpi="{key}">\s*<a href="[^"]*"[^>]*>\s*<span class="value">([\d,]+)</span>', page
    )
    assert found, f"no KPI tile {key!r}"
    return int(found[1].replace(",", ""))


def table(page: str, name: str) -> str:
    found = re.search(rf'<table[^>]*data-chart-table="{name}".*?</table>', page, re.S)
    assert found, f"no table {name!r}"
    return found[0]


def hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


async def test_kpis_count_open_alerts_per_severity_and_link_to_the_queue(console, ws_api):
    raise_alerts(
        ws_api,
        draft("c1", "critical"),
        draft("c2", "critical"),
        draft("h1", "high"),
        draft("h2", "high"),
        draft("l1", "low"),
        draft("l2", "low"),
        draft("l3", "low"),
    )
    closed = ws_api.workspace.alerts.list(SYSTEM, q="h2").items[0]
    ws_api.workspace.alerts.close(SYSTEM, closed.id, "false_positive", None)
    browser = await console(Role.READ_ONLY)
    page = await browser.get("/")
    assert page.status_code == 200
    text = page.text
    counts = {s: kpi(text, s) for s in ("critical", "high", "medium", "low", "informational")}
    assert counts == {"critical": 2, "high": 1, "medium": 0, "low": 3, "informational": 0}
    assert kpi(text, "open") == 6
    assert kpi(text, "cases") == 0
    for severity in ("critical", "low"):
        assert f'<a href="/alerts?severity={severity}"' in text
    # the tile says the severity in words and with a shape, not by colour alone
    assert '<span class="sev sev-critical"><span class="sev-mark" aria-hidden="true">' in text
    # the queue the tile links to shows the same number
    queue = await browser.get("/alerts?severity=critical")
    assert "(2)" in queue.text

    # a new alert and a case show at the next visit (nothing stale is kept)
    raise_alerts(ws_api, draft("c3", "critical"))
    ws_api.workspace.cases.create(SYSTEM, title="an incident", severity="high")
    again = (await browser.get("/")).text
    assert kpi(again, "critical") == 3
    assert kpi(again, "cases") == 1


async def test_the_time_chart_has_bars_for_the_hours_with_alerts(console, ws_api):
    now = datetime.now(UTC)
    story = Story(ws_api.workspace.db)
    three_hours_ago = hour(now) - timedelta(hours=3)
    story.alert(three_hours_ago + timedelta(minutes=5), severity="high")
    story.alert(three_hours_ago + timedelta(minutes=50), severity="high")
    story.alert(three_hours_ago + timedelta(minutes=20), severity="critical")
    story.alert(now - timedelta(days=3), severity="low")  # outside the last 24 hours
    raise_alerts(ws_api, draft("now", "medium"))  # the current hour

    browser = await console(Role.ANALYST)
    text = (await browser.get("/")).text
    # one group per hour, whose tooltip gives the counts by severity
    tip = f"{three_hours_ago:%Y-%m-%d %H:%M}, critical: 1, high: 2"
    assert f"<title>{tip}</title>" in text
    assert f"<title>{hour(now):%Y-%m-%d %H:%M}, medium: 1</title>" in text
    bars = re.findall(r"<g><title>[^<]*</title>((?:<rect [^>]*></rect>)+)</g>", text)
    assert len(bars) == 2
    assert sum(group.count("<rect") for group in bars) == 3  # critical+high, then medium
    # the table fallback holds the same numbers
    rows = re.findall(
        r'<tr class="has-alerts"><th scope="row"><time datetime="([^"]+)">.*?</tr>',
        table(text, "timeline"),
    )
    assert rows == [
        f"{three_hours_ago:%Y-%m-%dT%H:%M:%SZ}",
        f"{hour(now):%Y-%m-%dT%H:%M:%SZ}",
    ]
    assert "4 alerts from" in text
    assert table(text, "timeline").count("<tr") == 25  # a header and 24 hours

    # seven days: the old alert is in, in 6-hour or daily buckets
    week = (await browser.get("/?range=7d")).text
    assert table(week, "timeline").count("<tr") == 29  # 28 buckets of 6 hours
    assert "5 alerts from" in week
    daily = (await browser.get("/?range=7d&bucket=1d")).text
    assert table(daily, "timeline").count("<tr") == 8
    assert 'aria-current="true" class="active">7 days, daily</a>' in daily


async def test_top_rules_by_alerts_in_the_period_and_by_open_alerts(console, ws_api):
    raise_alerts(
        ws_api,
        *(draft(f"busy {i}", rule_id="rule.busy") for i in range(3)),
        *(draft(f"second {i}", rule_id="rule.second") for i in range(2)),
        draft("third", rule_id="rule.third"),
    )
    browser = await console(Role.ANALYST)
    text = (await browser.get("/")).text
    rules = table(text, "rules")
    order = re.findall(r'<td class="mono"><a href="([^"]+)">([^<]+)</a></td>', rules)
    assert [name for _href, name in order] == ["rule.busy", "rule.second", "rule.third"]
    counts = re.findall(r'<td class="num">(\d+)</td>', rules)
    assert counts == ["3", "2", "1"]
    link = html.unescape(order[0][0])
    assert link.startswith("/alerts?rule=rule.busy&status=all&since=")
    # the chart's labels link to the same filtered queue
    assert f'<a href="{order[0][0]}"><text class="chart-label"' in text
    queue = await browser.get(link)
    assert "(3)" in queue.text

    # closing the busy rule's alerts: by open alerts it drops to the bottom
    for alert in ws_api.workspace.alerts.list(SYSTEM, rule_id="rule.busy").items[:2]:
        ws_api.workspace.alerts.close(SYSTEM, alert.id, "false_positive", None)
    by_open = table((await browser.get("/?rules=open")).text, "rules")
    names = re.findall(r'<td class="mono"><a href="[^"]+">([^<]+)</a></td>', by_open)
    assert names == ["rule.second", "rule.busy", "rule.third"]
    assert 'href="/alerts?rule=rule.second"' in by_open
    assert "Open alerts</th>" in by_open


async def test_an_alert_past_its_sla_shows_as_breached(console, ws_api):
    ws_api.workspace.sla.create_policy(
        SYSTEM, "fast", "alert", "high", acknowledge_minutes=1, resolve_minutes=600
    )
    story = Story(ws_api.workspace.db)
    now = datetime.now(UTC)
    late = story.alert(now - timedelta(minutes=10), title="late alert")
    story.alert(now - timedelta(minutes=10), severity="low", title="no policy")
    handled = story.alert(now - timedelta(minutes=10), title="acknowledged in time")
    story.move("alert", handled, now - timedelta(minutes=9, seconds=30), "acknowledged")

    browser = await console(Role.RESPONDER)
    text = (await browser.get("/")).text
    rows = re.findall(
        r'<tr data-href="([^"]+)" data-sla-item="([^"]+)" data-sla-state="(\w+)"', text
    )
    assert rows == [(f"/alerts/{late}", f"alert-{late}", "breached")]
    row = re.search(rf'data-sla-item="alert-{late}".*?</tr>', text, re.S)[0]
    assert "late alert" in row
    assert '<span class="sla sla-breached"' in row
    assert "breached 9 min ago" in row
    assert 'SLAs at risk <span class="muted">(1)</span>' in text

    ws_api.workspace.alerts.acknowledge(SYSTEM, late)
    after = (await browser.get("/")).text
    assert "data-sla-item=" not in after
    assert "No open alert or case is at risk" in after


async def test_ingest_health_shows_datasets_hosts_and_their_last_event(console, ws_api):
    now = datetime.now(UTC).replace(microsecond=0)
    newest = now - timedelta(seconds=20)
    writer = LakeWriter(ws_api.settings.lake_dir)
    events = [
        {
            "event.id": f"ev-{i}",
            "@timestamp": newest - timedelta(seconds=i),
            "event.ingested": now,
            "event.dataset": "windows.sysmon",
            "event.original": f"line {i}",
            "host.name": "WS-01" if i % 2 else PAYLOAD,
        }
        for i in range(30)
    ]
    events.append(
        {
            "event.id": "old-1",
            "@timestamp": now - timedelta(hours=5),
            "event.ingested": now,
            "event.dataset": "zeek.conn",
            "event.original": "conn",
        }
    )
    writer.add(events)
    writer.flush()
    writer.close()

    browser = await console(Role.READ_ONLY)
    text = (await browser.get("/")).text
    sysmon = re.search(r'<tr data-dataset="windows.sysmon">.*?</tr>', text, re.S)[0]
    assert f"({newest:%Y-%m-%d %H:%M:%S}Z)" in sysmon  # the last event time
    # 30 events in the last 5 minutes and the last hour
    assert re.findall(r'<td class="num">([\d.,]+)</td>', sysmon)[:3] == ["0.10", "0.01", "30"]
    zeek = re.search(r'<tr data-dataset="zeek.conn">.*?</tr>', text, re.S)[0]
    assert f"({now - timedelta(hours=5):%Y-%m-%d %H:%M:%S}Z)" in zeek
    assert re.findall(r'<td class="num">([\d.,]+)</td>', zeek)[:2] == ["0", "0"]
    # hosts: each with its own last event, the longest silent first; names escaped
    hosts = re.findall(r'<tr data-host="([^"]*)"><th scope="row">([^<]*)</th>', text)
    assert [html.unescape(name) for _attr, name in hosts] == ["WS-01", PAYLOAD]
    ws01 = re.search(r'<tr data-host="WS-01">.*?</tr>', text, re.S)[0]
    assert f"({newest - timedelta(seconds=1):%Y-%m-%d %H:%M:%S}Z)" in ws01
    assert PAYLOAD not in text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in text

    # a later file is read and merged (files already read are remembered)
    writer = LakeWriter(ws_api.settings.lake_dir)
    writer.add(
        [
            {
                "event.id": "ev-new",
                "@timestamp": now,
                "event.ingested": now,
                "event.dataset": "windows.sysmon",
                "event.original": "new",
                "host.name": "WS-02",
            }
        ]
    )
    writer.flush()
    writer.close()
    later = (await browser.get("/")).text
    names = re.findall(r'<tr data-host="[^"]*"><th scope="row">([^<]*)</th>', later)
    assert [html.unescape(n) for n in names] == ["WS-01", PAYLOAD, "WS-02"]


async def test_quarantined_records_show_with_their_reason_escaped(console, ws_api):
    quarantine = Quarantine(ws_api.settings.quarantine_dir)
    quarantine.add(
        [
            ParseIssue("/var/log/app.log", 0, 1, "not JSON", b"{oops", "json"),
            ParseIssue("/var/log/app.log", 6, 2, f"bad field {PAYLOAD}", b"<b>raw</b>", "json"),
        ],
        identity="file-1",
        dataset="json",
    )
    browser = await console(Role.ANALYST)
    text = (await browser.get("/")).text
    assert re.search(r'data-fact="quarantine">Quarantined records: <strong>2</strong>', text)
    rows = re.findall(r'<tr data-quarantine="[^"]+">.*?</tr>', text, re.S)
    assert len(rows) == 2
    assert any("not JSON" in r and "/var/log/app.log:1" in r for r in rows)
    assert any(str(escape(f"bad field {PAYLOAD}")) in r for r in rows)
    assert "&lt;b&gt;raw&lt;/b&gt;" in text
    assert PAYLOAD not in text

    quarantine.add(
        [ParseIssue("/var/log/other.log", 0, 1, "newest one", b"x", "syslog")], identity="f2"
    )
    again = (await browser.get("/")).text
    assert "Quarantined records: <strong>3</strong>" in again
    newest = re.findall(r'<tr data-quarantine="[^"]+">.*?</tr>', again, re.S)
    assert len(newest) == 3
    assert "newest one" in newest[0]


async def test_the_spool_backlog_shows_when_a_spool_exists(console, ws_api, tmp_path):
    browser = await console(Role.ANALYST)
    assert 'data-fact="spool"' not in (await browser.get("/")).text
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    ws_api.services.spool = spool
    try:
        spool.append([SpoolRecord("syslog", "udp:127.0.0.1", b"x" * 3000, 0.0)])
        text = (await browser.get("/")).text
        fact = re.search(r'data-fact="spool">.*?</li>', text, re.S)[0]
        assert re.search(r"<strong>[1-9]\.\d KiB of 1\.0 MiB</strong>", fact), fact
        assert "backpressure" not in fact
    finally:
        ws_api.services.spool = None
        spool.close()


async def test_labels_from_data_are_escaped(console, ws_api):
    raise_alerts(ws_api, draft(PAYLOAD, "critical", rule_id="rule.<evil>"))
    ws_api.workspace.sla.create_policy(SYSTEM, "fast", "alert", "critical", acknowledge_minutes=1)
    Story(ws_api.workspace.db).alert(
        datetime.now(UTC) - timedelta(minutes=5), severity="critical", title="late " + PAYLOAD
    )
    browser = await console(Role.ANALYST)
    text = (await browser.get("/")).text
    assert PAYLOAD not in text
    assert "<evil>" not in text
    assert "rule.&lt;evil&gt;" in text
    escaped = str(escape(PAYLOAD))
    assert escaped in table(text, "rules")  # the rule's title
    assert f"<title>{escaped}: 1</title>" in text  # the bar chart's tooltip
    assert re.search(r'data-sla-item="alert-\d+".*?' + re.escape(escaped), text, re.S)
    # nothing from the data became markup, and the page has no inline script or style
    assert "<img" not in text
    assert "<script>" not in text  # scripts come only as <script src=... defer>
    assert " style=" not in text


async def test_sections_follow_the_viewers_permissions(console, ws_api, anonymous):
    response = await anonymous.get("/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    browser = await console(Role.READ_ONLY)
    text = (await browser.get("/")).text
    assert 'id="overview-sla"' in text  # read-only users may read SLAs and health
    assert 'id="overview-ingest"' in text
    assert '<link rel="stylesheet" href="/static/overview.css' in text
    css = await browser.get("/static/overview.css")
    assert css.status_code == 200


async def test_events_per_second_come_from_file_metadata():
    from pathlib import Path

    from tocsin.api.console.pages_overview import events_in_window
    from tocsin.lake.layout import LakeFile

    since = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    us = int(since.timestamp() * 1e6)
    minute = 60_000_000

    def lake_file(dataset, start, end, rows):
        return LakeFile(Path(f"{dataset}-{start}"), dataset, since.date(), start, end, rows)

    found = events_in_window(
        [
            lake_file("a", us + minute, us + 2 * minute, 100),  # inside: whole
            lake_file("a", us - 3 * minute, us + minute, 400),  # a quarter inside
            lake_file("b", us - 2 * minute, us - minute, 50),  # before: none
            lake_file("b", us, us, 7),  # one instant, at the start
        ],
        since,
    )
    assert found == {"a": 200.0, "b": 7.0}


async def test_rule_labels_fall_back_to_the_rule_id_when_titles_look_alike():
    from tocsin.api.console.pages_overview import _rule_labels
    from tocsin.workspace.dashboard import RuleCount

    alike = "Suspicious PowerShell download cradle, variant "
    rules = [
        RuleCount("rule.a", alike + "one", 3),
        RuleCount("rule.b", alike + "two", 2),
        RuleCount("rule.c", "Short title", 1),
        RuleCount("rule.d", "", 1),
    ]
    assert _rule_labels(rules) == ["rule.a", "rule.b", "Short title", "rule.d"]
