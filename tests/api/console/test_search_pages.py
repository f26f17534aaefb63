"""The search screen over a real workspace and lake: hits, errors, ranges, columns, histogram,
count, export, saved searches, search-to-rule, and attacker-controlled event data."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tocsin.detect.catalog import RuleCatalog
from tocsin.detect.store import RuleStore
from tocsin.lake.writer import LakeWriter
from tocsin.workspace.permissions import Role

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC)
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def write_events(settings, events):
    writer = LakeWriter(settings.lake_dir)
    writer.add(events)
    writer.flush()
    writer.close()


def sysmon(i, minutes_ago, **fields):
    return {
        "event.id": f"sm-{i}",
        "@timestamp": NOW - timedelta(minutes=minutes_ago),
        "event.ingested": NOW,
        "event.dataset": "windows.sysmon",
        "event.original": f"sysmon record {i}",
        "EventID": 1,
        "host.name": f"WS-{i % 3:02d}",
        "user.name": "ana" if i % 2 else "bob",
        "Image": "C:\\Windows\\System32\\certutil.exe" if i % 4 == 0 else "C:\\Apps\\chrome.exe",
        "CommandLine": f"certutil -urlcache -f http://x/{i}" if i % 4 == 0 else f"chrome {i}",
        **fields,
    }


@pytest.fixture
def lake(ws_api):
    """20 Sysmon process starts, one every 30 minutes back from now, and 3 syslog lines."""
    write_events(ws_api.settings, [sysmon(i, 30 * i) for i in range(20)])
    write_events(
        ws_api.settings,
        [
            {
                "event.id": f"sl-{i}",
                "@timestamp": NOW - timedelta(minutes=5 + i),
                "event.ingested": NOW,
                "event.dataset": "syslog",
                "event.original": f"<34>sshd[1]: Failed password for root {i}",
                "message": f"Failed password for root {i}",
                "host.name": "gw",
            }
            for i in range(3)
        ],
    )
    return ws_api


def hit_ids(page_html: str) -> list[str]:
    """The event ids of the hits, from the detail rows (every field is listed there)."""
    found = re.findall(r'<th scope="row">event\.id</th><td>([^<]*)</td>', page_html)
    return [html.unescape(f) for f in found]


def header_columns(page_html: str) -> list[str]:
    head = page_html.split('<table class="results"', 1)[1].split("</thead>", 1)[0]
    return [
        html.unescape(c) for c in re.findall(r'<th scope="col" class="mono">([^<]*)</th>', head)
    ]


def fragment_url(page_html: str, path: str) -> str:
    found = re.search(rf'data-fragment-url="({re.escape(path)}\?[^"]*)"', page_html)
    assert found, f"no {path} fragment on the page"
    return html.unescape(found[1])


async def test_a_field_query_finds_the_right_events_newest_first(console, lake):
    browser = await console(Role.ANALYST)
    page = await browser.get("/search?q=CommandLine:*certutil*&range=24h")
    assert page.status_code == 200
    assert hit_ids(page.text) == ["sm-0", "sm-4", "sm-8", "sm-12", "sm-16"]
    assert "Newest 5 hits shown" in page.text
    # free text and boolean logic go through the same reader
    other = await browser.get("/search?q=" + "Failed AND NOT host.name:WS-01" + "&range=24h")
    assert hit_ids(other.text) == ["sl-0", "sl-1", "sl-2"]
    # the default columns, with the syslog message shown and the sysmon rows summarised
    assert header_columns(page.text) == [
        "@timestamp",
        "event.dataset",
        "host.name",
        "user.name",
        "message",
    ]
    # an event without a message is summarised by the fields that say what happened
    summary = re.search(r'<span class="summary muted"[^>]*>([^<]*)</span>', page.text)
    assert html.unescape(summary[1]).startswith(
        "EventID=1 CommandLine=certutil -urlcache -f http://x/0 "
        "Image=C:\\Windows\\System32\\certutil.exe"
    )
    assert "<span>Failed password for root 0</span>" in other.text


async def test_a_syntax_error_is_shown_in_place_with_a_caret(console, lake):
    browser = await console(Role.READ_ONLY)
    page = await browser.get("/search?q=host.name:(WS-01&range=24h")
    assert page.status_code == 200
    assert "Syntax error at column 11:" in page.text
    assert "unbalanced parenthesis: this &#39;(&#39; is never closed" in page.text
    caret = re.search(
        r'<pre class="caret" aria-hidden="true">([^\n]*)\n<span class="caret-mark">'
        r"([^<]*)</span></pre>",
        page.text,
    )
    assert caret, page.text
    assert caret[1] == "host.name:(WS-01"
    assert caret[2] == " " * 10 + "^"
    # no results table, no fragments to load
    assert 'class="results"' not in page.text
    assert "data-fragment-url" not in page.text


async def test_the_check_endpoint_gives_the_message_and_column(console, lake):
    browser = await console(Role.READ_ONLY)
    good = await browser.get("/search/check", params={"q": "EventID:1 AND Image:*\\cmd.exe"})
    assert good.json() == {"ok": True}
    bad = await browser.get("/search/check", params={"q": 'user.name:"ana'})
    body = bad.json()
    assert body["ok"] is False
    assert body["column"] == 11
    assert body["message"].startswith("unterminated quote")
    assert body["caret"] == " " * 10 + "^"
    dangling = (await browser.get("/search/check", params={"q": "a AND"})).json()
    assert (dangling["ok"], dangling["column"]) == (False, 6)


async def test_the_time_range_limits_the_hits(console, lake):
    browser = await console(Role.ANALYST)
    q = "event.dataset:windows.sysmon"
    last_hour = await browser.get(f"/search?q={q}&range=1h")
    assert hit_ids(last_hour.text) == ["sm-0", "sm-1"]  # now and 30 min ago; 60 min is out
    day = await browser.get(f"/search?q={q}&range=24h")
    assert len(hit_ids(day.text)) == 20
    # absolute bounds win over the preset, and relative forms work there too
    since = (NOW - timedelta(minutes=95)).strftime("%Y-%m-%dT%H:%M:%S")
    between = await browser.get(f"/search?q={q}&range=15m&since={since}Z&until=-50m")
    assert hit_ids(between.text) == ["sm-2", "sm-3"]
    wrong = await browser.get(f"/search?q={q}&since=last+tuesday")
    assert "Time range: cannot read &#39;last tuesday&#39; as a time" in wrong.text
    assert 'class="results"' not in wrong.text


async def test_the_column_chooser_changes_the_columns_and_keeps_them_in_the_url(console, lake):
    browser = await console(Role.ANALYST)
    page = await browser.get(
        "/search?q=Image:*certutil*&range=24h&cols=host.name,CommandLine,Image"
    )
    assert header_columns(page.text) == ["host.name", "CommandLine", "Image"]
    row = page.text.split('<tr data-href="#event-0" class="hit">', 1)[1].split("</tr>", 1)[0]
    cells = [html.unescape(c) for c in re.findall(r"<td><span>([^<]*)</span></td>", row)]
    assert cells == [
        "WS-00",
        "certutil -urlcache -f http://x/0",
        "C:\\Windows\\System32\\certutil.exe",
    ]
    # the chooser offers the other fields seen, checked ones first
    assert '<input type="checkbox" name="col" value="CommandLine" checked>' in page.text
    assert '<input type="checkbox" name="col" value="EventID">' in page.text
    # every link keeps the columns: show more, save, rule; the export takes them all
    assert "cols=host.name%2CCommandLine%2CImage" in page.text
    # the check boxes, when no script joined them, are read too
    boxes = await browser.get("/search?q=certutil&range=24h&col=user.name&col=EventID&col=")
    assert header_columns(boxes.text) == ["user.name", "EventID"]
    default = await browser.get("/search?q=certutil&range=24h&cols=")
    assert header_columns(default.text)[0] == "@timestamp"


async def test_histogram_and_count_come_after_and_agree(console, lake):
    browser = await console(Role.READ_ONLY)
    page = await browser.get("/search?q=event.dataset:windows.sysmon OR sshd&range=24h")
    count_url = fragment_url(page.text, "/search/count")
    histogram_url = fragment_url(page.text, "/search/histogram")
    # both fragments get the range resolved to absolute times, the same for both
    bounds = parse_qs(urlsplit(count_url).query)
    assert set(bounds) == {"q", "since", "until"}
    assert bounds == parse_qs(urlsplit(histogram_url).query)
    count = await browser.get(count_url)
    total = int(re.search(r'data-total="(\d+)"', count.text)[1])
    assert total == 23
    chart = await browser.get(histogram_url)
    assert chart.status_code == 200
    assert '<svg class="chart time-chart"' in chart.text
    assert "<script" not in chart.text
    buckets = [
        int(n.replace(",", "")) for n in re.findall(r"data-bucket-count>([\d,]+)<", chart.text)
    ]
    assert sum(buckets) == total
    assert "23 hits over time" in chart.text


async def test_the_export_link_downloads_the_hits_as_csv(console, lake):
    browser = await console(Role.ANALYST)
    page = await browser.get("/search?q=CommandLine:*certutil*&range=24h")
    link = re.search(r'href="(/api/v1/search/export\?[^"]*format=csv[^"]*)"', page.text)
    assert link, page.text
    download = await browser.get(html.unescape(link[1]))
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [r["event.id"] for r in rows] == ["sm-0", "sm-4", "sm-8", "sm-12", "sm-16"]
    assert rows[0]["CommandLine"] == "certutil -urlcache -f http://x/0"
    assert "format=ndjson" in page.text
    # a role without search.export sees no export link
    reader = await console(Role.READ_ONLY)
    assert "/api/v1/search/export" not in (await reader.get("/search?q=x")).text


async def test_saved_searches_create_list_open_and_delete(console, lake, ws_api):
    ana = await console(Role.ANALYST)
    await ana.get("/search?q=Image:*certutil*&range=7d&cols=host.name,Image")
    saved = await ana.post(
        "/search/saved",
        {
            "name": "Certutil",
            "q": "Image:*certutil*",
            "range": "7d",
            "cols": "host.name,Image",
            "shared": "1",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == (
        "/search?q=Image%3A%2Acertutil%2A&range=7d&cols=host.name%2CImage"
    )
    private = await ana.post("/search/saved", {"name": "Mine only", "q": "user.name:ana"})
    assert private.status_code == 303
    listed = await ana.get("/search")
    names = re.findall(r'<a href="/search/saved/(\d+)">([^<]*)</a>', listed.text)
    by_name = {name: int(i) for i, name in names}
    assert set(by_name) == {"Certutil", "Mine only"}
    # open: the search with its query, range and columns
    opened = await ana.get(f"/search/saved/{by_name['Certutil']}")
    assert opened.status_code == 303
    page = await ana.get(opened.headers["location"])
    assert header_columns(page.text) == ["host.name", "Image"]
    assert hit_ids(page.text)[0] == "sm-0"
    # another user sees the shared one only, and may not delete it
    rex = await console(Role.RESPONDER)
    theirs = await rex.get("/search")
    assert "Certutil" in theirs.text and "Mine only" not in theirs.text
    assert f'action="/search/saved/{by_name["Certutil"]}/delete"' not in theirs.text
    refused = await rex.post(f"/search/saved/{by_name['Certutil']}/delete")
    assert refused.status_code == 403
    hidden = await rex.post(f"/search/saved/{by_name['Mine only']}/delete")
    assert hidden.status_code == 303  # not found: back with a note, nothing deleted
    assert (await rex.get(f"/search/saved/{by_name['Mine only']}")).status_code == 404
    ana_principal = ws_api.workspace.users.principal_of("ana")
    assert len(ws_api.workspace.saved_searches.list(ana_principal)) == 2
    # the owner deletes
    gone = await ana.post(
        f"/search/saved/{by_name['Certutil']}/delete", {"next": "/search?q=certutil"}
    )
    assert gone.status_code == 303
    assert gone.headers["location"] == "/search?q=certutil"
    remaining = ws_api.workspace.saved_searches.list(ana_principal)
    assert [s.name for s in remaining] == ["Mine only"]


async def test_saving_a_broken_search_goes_back_saying_why(console, lake):
    ana = await console(Role.ANALYST)
    await ana.get("/search?q=a:(b")
    response = await ana.post("/search/saved", {"name": "broken", "q": "a:(b"})
    assert response.status_code == 303
    assert response.headers["location"] == "/search?q=a:(b"
    note = response.cookies.get("tocsin_flash") or ""
    assert "never%20closed" in note or "never closed" in note


async def test_a_search_becomes_a_rule_that_is_validated_saved_and_installed(console, lake, ws_api):
    browser = await console(Role.ANALYST)
    query = "event.dataset:windows.sysmon AND EventID:1 AND Image:*\\certutil.exe"
    draft_page = await browser.get("/search/rule", params={"q": query, "range": "24h"})
    assert draft_page.status_code == 200
    text = html.unescape(
        re.search(r'<textarea id="rule-yaml"[^>]*>(.*?)</textarea>', draft_page.text, re.S)[1]
    )
    rule = yaml.safe_load(text)
    assert rule["logsource"] == {"product": "windows", "category": "process_creation"}
    assert rule["detection"] == {
        "selection": {"Image|endswith": "\\certutil.exe"},
        "condition": "selection",
    }
    assert rule["author"] == "ana"
    assert "The whole query is in the rule" in draft_page.text
    # checked on the search's own hits: it fires on each of them
    assert "<strong>Valid.</strong>" in draft_page.text
    assert re.search(r"fires on <strong data-fired>5</strong> of the 5 newest", draft_page.text)
    # edited, validated again, then saved
    edited = text.replace("level: medium", "level: high")
    checked = await browser.post(
        "/search/rule", {"yaml": edited, "q": query, "range": "24h", "action": "validate"}
    )
    assert checked.status_code == 200
    assert "<strong>Valid.</strong>" in checked.text
    assert "level: high" in checked.text
    saved = await browser.post(
        "/search/rule", {"yaml": edited, "q": query, "range": "24h", "action": "save"}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/rules?q={rule['id']}"
    pack = ws_api.settings.rules_dir / "packs" / "local"
    files = sorted(p.name for p in pack.glob("*.yml"))
    assert len(files) == 1 and files[0].startswith("search-event-dataset-windows-sysmon")
    assert [p.name for p in RuleStore(ws_api.settings.rules_dir).packs()] == ["local"]
    info = RuleCatalog(ws_api.settings).get(rule["id"])
    assert info is not None
    assert info.pack == "local"
    assert info.enabled
    assert info.rule.level.value == "high"
    # saving the same rule again replaces its file
    again = await browser.post(
        "/search/rule", {"yaml": edited, "q": query, "range": "24h", "action": "save"}
    )
    assert again.status_code == 303
    assert sorted(p.name for p in pack.glob("*.yml")) == files


async def test_a_rule_that_does_not_load_is_not_saved(console, lake, ws_api):
    browser = await console(Role.ANALYST)
    bad = "title: broken\nid: 8f0e6a1c-8a55-4e2b-9d61-2f0c1d6a4b10\nlogsource: {product: windows}\n"
    response = await browser.post("/search/rule", {"yaml": bad, "q": "x", "action": "save"})
    assert response.status_code == 400
    assert "Not valid:" in response.text
    assert "data-rule-error" in response.text
    assert "title: broken" in response.text  # the text is kept for the fix
    assert not (ws_api.settings.rules_dir / "packs" / "local").exists()


async def test_what_cannot_be_converted_is_said(console, lake):
    browser = await console(Role.ANALYST)
    page = await browser.get(
        "/search/rule",
        params={"q": "event.dataset:windows.sysmon AND @timestamp>-1h AND user.name:ana"},
    )
    assert "Not converted" in page.text
    assert "<code>@timestamp&gt;-1h</code>: a rule sees each event as it arrives" in page.text
    unroutable = await browser.get("/search/rule", params={"q": "event.dataset:json foo:bar"})
    assert "no Sigma logsource reads json" in unroutable.text
    everything = await browser.get("/search/rule", params={"q": "*"})
    assert "it matches every event" in everything.text
    # and the rule pages are for rule managers only
    reader = await console(Role.READ_ONLY)
    assert (await reader.get("/search/rule?q=x")).status_code == 403
    assert "Turn into a rule" not in (await reader.get("/search?q=x")).text


async def test_event_fields_are_shown_escaped(console, ws_api):
    write_events(
        ws_api.settings,
        [
            {
                "event.id": "xss-1",
                "@timestamp": NOW - timedelta(minutes=1),
                "event.ingested": NOW,
                "event.dataset": "json",
                "event.original": f'{{"probe": "xss", "message": "{SCRIPT}"}}',
                "probe": "xss",
                "message": SCRIPT,
                "host.name": IMG,
                "user.name": f"{IMG}{SCRIPT}",
                IMG: "a field named like a payload",
            }
        ],
    )
    browser = await console(Role.ANALYST)
    page = await browser.get(f"/search?q=probe:xss&range=1h&cols=message,host.name,{IMG}")
    assert page.status_code == 200
    assert hit_ids(page.text) == ["xss-1"]
    assert SCRIPT not in page.text
    assert "<img" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    # the only scripts are the page's own files
    assert re.findall(r"<script[^>]*>", page.text) == [
        re.search(r'<script src="/static/app\.js[^"]*" defer>', page.text)[0],
        re.search(r'<script src="/static/search\.js[^"]*" defer>', page.text)[0],
    ]
    assert " onerror=" not in page.text.replace("onerror=alert(1)&gt;", "")
    # the error path escapes too: a query holding markup
    bad = await browser.get("/search", params={"q": f"{SCRIPT}:("})
    assert SCRIPT not in bad.text
    check = await browser.get("/search/check", params={"q": f'"{SCRIPT}'})
    assert check.headers["content-type"].startswith("application/json")


async def test_a_text_line_without_a_message_is_its_own_summary(console, ws_api):
    line = "1795866125.47 CxASD3 10.20.20.128 50577 192.0.2.50 443 tcp ssl"
    write_events(
        ws_api.settings,
        [
            {
                "event.id": "zk-1",
                "@timestamp": NOW - timedelta(minutes=2),
                "event.ingested": NOW,
                "event.dataset": "zeek.conn",
                "event.original": line,
                "source.ip": "10.20.20.128",
            },
            {
                "event.id": "js-1",
                "@timestamp": NOW - timedelta(minutes=3),
                "event.ingested": NOW,
                "event.dataset": "json",
                "event.original": '{"a": 1}',
                "a": 1,
            },
        ],
    )
    browser = await console(Role.READ_ONLY)
    page = await browser.get("/search?q=&range=1h")
    summaries = re.findall(r'<span class="summary muted"[^>]*>([^<]*)</span>', page.text)
    # a raw JSON record is never the summary: its fields are
    assert summaries == [line, "a=1"]
