"""The console's DNS page over a real lake: totals, charts, links to the search, DNS alerts,
and names from the lake kept as text."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.test_dns_api import (
    LOOKUPS,
    TOP_CLIENT,
    TOP_DOMAIN,
    TUNNEL_CLIENT,
    TUNNEL_DOMAIN,
    ingest_zeek,
    office_dns,
    zeek_record,
)
from tocsin.api.console.pages_dns import client_query, domain_query, query_value
from tocsin.core.timeutil import parse_time_bound
from tocsin.lake.querylang import parse_query
from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio

_HREF = re.compile(r'href="(/search\?[^"]+)"')
_KPI = re.compile(r'data-kpi="([\w-]+)"><span class="value">([^<]*)</span>')


def search_links(page: str) -> list[dict[str, str]]:
    """The query string of every link to the search page, decoded."""
    found = []
    for href in _HREF.findall(page):
        query = parse_qs(urlsplit(html.unescape(href)).query)
        found.append({k: v[0] for k, v in query.items()})
    return found


def raise_dns_alerts(ws_api) -> dict[str, int]:
    """A DNS tunnel alert and a Sigma one of the same hour; their ids by rule."""
    when = datetime.now(UTC) - timedelta(minutes=30)
    drafts = [
        AlertDraft(
            rule_id="dns.tunnel",
            title=f"DNS tunnel to {TUNNEL_DOMAIN} from {TUNNEL_CLIENT}",
            severity="high",
            observables=[Observable("ip", TUNNEL_CLIENT), Observable("domain", TUNNEL_DOMAIN)],
            event_time=when,
            source="dns",
        ),
        AlertDraft(
            rule_id="sigma-rule-1", title="Not a DNS alert", severity="low", event_time=when
        ),
    ]
    ws_api.workspace.raise_alerts(drafts, actor=Principal.system("test"))
    alerts = ws_api.workspace.alerts.list(Principal.system(), limit=10).items
    return {a.rule_id: a.id for a in alerts}


async def test_the_page_shows_the_windows_figures_charts_and_alerts(ws_api, console, tmp_path):
    ingest_zeek(ws_api.settings, office_dns(datetime.now(UTC)), tmp_path / "input")
    ids = raise_dns_alerts(ws_api)
    browser = await console(Role.READ_ONLY)
    response = await browser.get("/dns")
    assert response.status_code == 200, response.text[:500]
    page = response.text
    assert '<a href="/dns" aria-current="page" class="active">DNS</a>' in page
    kpis = dict(_KPI.findall(page))
    assert kpis == {"lookups": "30", "clients": "3", "names": "4", "nx-share": "13.3%"}
    # the charts: a timeline and bars labelled with the domain or client and its count
    assert 'class="chart time-chart"' in page and 'aria-label="DNS lookups and NXDOMAIN' in page
    assert f"<title>{TOP_DOMAIN}: 20</title>" in page
    assert f"<title>{TOP_CLIENT}: 15</title>" in page
    assert '<td class="mono">AAAA</td><td class="num">8</td>' in page
    assert '<td class="mono">NXDOMAIN</td><td class="num">4</td>' in page
    assert '>example.net</a></td><td class="num">4</td>' in page
    # rare: resolved for at most two clients, least common first (example.net never resolved)
    rare = re.search(r'data-table="dns-rare">(.*?)</table>', page, re.S)
    assert rare and rare[1].index(">python.org<") < rare[1].index(">example.com<")
    assert '>python.org</a></td><td class="num">1</td><td class="num">6</td>' in rare[1]
    assert "example.net" not in rare[1]
    # each bar links to the search of its lookups over the same window, which finds them
    links = search_links(page)
    by_query = {link["q"]: link for link in links}
    domain = by_query[f"dns.question.name:*.{TOP_DOMAIN} OR dns.question.name:{TOP_DOMAIN}"]
    since, until = parse_time_bound(domain["since"]), parse_time_bound(domain["until"])
    assert until - since == timedelta(hours=24)
    reader = ws_api.services.reader
    assert reader.count(domain["q"], since=since, until=until) == 20
    client = by_query[f"source.ip:{TOP_CLIENT} OR client.ip:{TOP_CLIENT}"]
    assert reader.count(client["q"], since=since, until=until) == 15
    # the DNS alerts of the window, each linked to its page; no other alert
    assert f'<a href="/alerts/{ids["dns.tunnel"]}">#{ids["dns.tunnel"]}</a>' in page
    assert f"DNS tunnel to {TUNNEL_DOMAIN}" in page
    assert "Not a DNS alert" not in page
    assert f'href="/alerts/{ids["sigma-rule-1"]}"' not in page


async def test_the_window_picker_changes_the_window(ws_api, console, tmp_path):
    ingest_zeek(ws_api.settings, office_dns(datetime.now(UTC)), tmp_path / "input")
    browser = await console(Role.ANALYST)
    hour = (await browser.get("/dns?range=1h")).text
    assert 'href="/dns?range=1h" aria-current="true" class="active">1 hour</a>' in hour
    assert dict(_KPI.findall(hour))["lookups"] == str(LOOKUPS)  # all are 10 to 50 minutes old
    rows = re.search(r'data-chart-table="dns-timeline">(.*?)</table>', hour, re.S)
    assert rows and rows[1].count("<tr>") == 1 + 60  # header and a bar per minute
    week = (await browser.get("/dns?range=7d")).text
    assert 'aria-current="true" class="active">7 days</a>' in week
    link = search_links(week)[0]
    span = parse_time_bound(link["until"]) - parse_time_bound(link["since"])
    assert span == timedelta(days=7)
    unknown = await browser.get("/dns?range=1y")
    assert unknown.status_code == 200
    assert 'aria-current="true" class="active">24 hours</a>' in unknown.text


PAYLOADS = (
    "<img src=x onerror=alert(1)>.evil.com",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>.com',
)


async def test_names_from_the_lake_stay_text(ws_api, console, tmp_path):
    now = datetime.now(UTC)
    records = [
        zeek_record(now - timedelta(minutes=5 + i), "10.6.6.6", name, rcode="NXDOMAIN")
        for i, name in enumerate(PAYLOADS)
    ]
    ingest_zeek(ws_api.settings, records, tmp_path / "input")
    browser = await console(Role.ADMIN)
    page = (await browser.get("/dns")).text
    assert "<script>alert(1)" not in page and "<img src=x" not in page and "<svg onload" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;.com" in page
    assert "evil.com" in page  # the first name counts for its registered domain
    # the search links carry the names URL-encoded, and their queries find the lookups
    links = {link["q"]: link for link in search_links(page)}
    script = "<script>alert(1)</script>"
    link = links[f'dns.question.name:"*.{script}" OR dns.question.name:"{script}"']
    since, until = parse_time_bound(link["since"]), parse_time_bound(link["until"])
    assert ws_api.services.reader.count(link["q"], since=since, until=until) == 1
    evil = links["dns.question.name:*.evil.com OR dns.question.name:evil.com"]["q"]
    assert ws_api.services.reader.count(evil, since=since, until=until) == 1


async def test_an_empty_lake_says_so(ws_api, console):
    browser = await console(Role.READ_ONLY)
    page = (await browser.get("/dns")).text
    assert "No DNS event in this window" in page
    assert dict(_KPI.findall(page))["lookups"] == "0"
    assert "No DNS alert in this window" in page


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", "example.com"),
        ("or", '"or"'),
        ("-lead", '"-lead"'),
        ("a b", '"a b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("ends\\", '"ends\\\\"'),
    ],
)
def test_query_values_are_quoted_when_they_must(value, expected):
    assert query_value(value) == expected


def test_queries_for_domains_and_clients():
    assert domain_query("example.com") == (
        "dns.question.name:*.example.com OR dns.question.name:example.com"
    )
    assert domain_query("a b.com") == 'dns.question.name:"*.a b.com" OR dns.question.name:"a b.com"'
    assert client_query("10.0.0.1") == "source.ip:10.0.0.1 OR client.ip:10.0.0.1"
    assert client_query("fe80::1") == 'source.ip:"fe80::1" OR client.ip:"fe80::1"'
    assert client_query("WS-042") == "host.name:WS-042"
    for query in (domain_query('x"y\\'), client_query("fe80::1"), domain_query("<b>")):
        parse_query(query)
