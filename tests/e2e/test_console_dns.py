"""The DNS page in a real browser: the chart and the top domains over a small home of its own,
a bar that leads to the search of its lookups, and names from the lake that stay text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.api.test_dns_api import (
    TOP_DOMAIN,
    TUNNEL_CLIENT,
    TUNNEL_DOMAIN,
    ingest_zeek,
    office_dns,
    tunnel_dns,
    zeek_record,
)
from tests.e2e.conftest import OpenPage, Shot, Site, add_admin, e2e_settings, serve, watch_of
from tests.e2e.test_console_layout import assert_fits
from tests.e2e.test_console_xss import _SCAN
from tocsin.core.home import init_home
from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

SCRIPT_NAME = "<script>window.__xss=1</script>"
PAYLOADS = (
    "<img src=x onerror=alert(1)>.evil.com",
    SCRIPT_NAME,
    '"><svg onload="window.__xss=1">.com',
)
ALERT_TITLE = f"DNS tunnel to {TUNNEL_DOMAIN} from {TUNNEL_CLIENT} <img src=x onerror=alert(1)>"


def _site(folder: Path, records: list[dict[str, object]], title: str) -> Iterator[Site]:
    settings = e2e_settings(folder / "home")
    init_home(settings)
    now = datetime.now(UTC)
    ingest_zeek(settings, records, folder / "input")
    workspace = Workspace.open(settings)
    try:
        workspace.raise_alerts(
            [
                AlertDraft(
                    rule_id="dns.tunnel",
                    title=title,
                    severity="high",
                    observables=[Observable("domain", TUNNEL_DOMAIN)],
                    event_time=now - timedelta(minutes=30),
                    source="dns",
                )
            ],
            actor=Principal.system("e2e"),
        )
        add_admin(workspace)
    finally:
        workspace.close()
    yield from serve(settings)


@pytest.fixture(scope="module")
def dns_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An office's lookups of the last hour, a tunnel, and its DNS alert."""
    now = datetime.now(UTC)
    title = f"DNS tunnel suspected: {TUNNEL_CLIENT} to {TUNNEL_DOMAIN}"
    yield from _site(tmp_path_factory.mktemp("e2e-dns"), office_dns(now) + tunnel_dns(now), title)


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The same office with hostile names in the lake and a hostile alert title."""
    now = datetime.now(UTC)
    records = office_dns(now) + [
        zeek_record(now - timedelta(minutes=5 + i), "10.6.6.6", name, rcode="NXDOMAIN")
        for i, name in enumerate(PAYLOADS)
    ]
    yield from _site(tmp_path_factory.mktemp("e2e-dns-hostile"), records, ALERT_TITLE)


def test_the_chart_and_the_top_domains_lead_to_the_search(
    open_page: OpenPage, dns_site: Site, shot: Shot
) -> None:
    page = open_page(dns_site)
    page.goto(dns_site.url("/dns"))
    expect(page.get_by_role("heading", level=1)).to_have_text("DNS")
    timeline = page.locator("section[data-chart=dns-timeline] svg.time-chart")
    expect(timeline).to_be_visible()
    assert timeline.locator("rect.bar").count() > 0
    domains = page.locator("section[data-chart=dns-domains] svg.bar-chart")
    expect(domains).to_be_visible()
    # the tunnel's 80 TXT questions make its domain the top one, then the office's
    labels = domains.locator("text.chart-label").all_text_contents()
    assert labels[:2] == [TUNNEL_DOMAIN, TOP_DOMAIN]
    expect(page.locator("[data-kpi=lookups] .value")).to_have_text("110")
    alert = page.locator("table.dns-alerts tbody").get_by_role("link").first
    expect(alert).to_have_text("#1")
    shot(page, "11-dns")
    domains.get_by_role("link", name=TOP_DOMAIN).click()
    page.wait_for_url(lambda url: "/search?" in url)
    expect(page.get_by_text("www.example.com").first).to_be_visible()


def test_no_script_runs_from_dns_names(open_page: OpenPage, hostile_site: Site) -> None:
    page = open_page(hostile_site)
    page.goto(hostile_site.url("/dns"))
    page.wait_for_load_state("load")
    nx_table = page.locator("table[data-table=dns-nx]")
    expect(nx_table.get_by_role("link", name=SCRIPT_NAME)).to_be_visible()  # shown, as text
    expect(page.get_by_text(ALERT_TITLE)).to_be_visible()
    found = page.evaluate(_SCAN)
    assert found == {"handlers": [], "jsUrls": [], "inlineScripts": 0, "injected": 0}
    assert page.evaluate("() => window.__xss") is None
    watch = watch_of(page)
    assert watch.dialogs == []
    watch.assert_clean()


def test_the_page_fits_the_screen(open_page: OpenPage, dns_site: Site) -> None:
    assert_fits(open_page(dns_site), dns_site, "/dns")
