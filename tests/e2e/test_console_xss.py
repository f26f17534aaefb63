"""Log data is attacker-controlled: in a real browser, payloads in events, rules and alerts stay
text, and nothing they carry runs.

A home of its own (so the demo's screenshots stay clean) gets:
- a Sigma rule pack whose rule has payloads in its title, description, author, references and
  false positives, and a syslog line with payloads that the rule matches while it is ingested
  (so the alert comes through detection, reasons and all);
- JSON events with payloads in ``message``, ``host.name``, ``user.name`` and ``url.full``;
- alerts raised directly with payloads in title, description, fields, observables and reasons,
  one with a template expression in its title.
Each page is then checked: ``window.__xss`` never set, no dialog, no CSP violation, no event
handler attribute, inline script or ``javascript:`` URL in the DOM, and the payloads readable
as text (so the check is not passing on a page that just left them out).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import OpenPage, Site, add_admin, e2e_settings, is_unbuilt, serve, watch_of
from tocsin.core.event import Reason
from tocsin.core.home import init_home
from tocsin.detect.store import RuleStore
from tocsin.ingest.service import IngestService
from tocsin.lake.reader import LakeReader
from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

SCRIPT = "<script>window.__xss=1</script>"
IMG = '"><img src=x onerror="window.__xss=1">'
JS_URL = "javascript:window.__xss=1"
SVG = '<svg onload="window.__xss=1">'
ATTR = "' autofocus onfocus='window.__xss=1"
TEXTAREA = "</textarea><script>window.__xss=1</script>"
TEMPLATE = "{{7*7}}"

SIGMA_TITLE = f"Sigma probe {IMG} {TEMPLATE}"
SIGMA_DESCRIPTION = f"{SCRIPT} fires on the probe line"
DIRECT_TITLE = f"Direct probe {IMG}"
TEMPLATE_TITLE = f"Template probe {TEMPLATE} ${{7*7}}"
ATTR_TITLE = f"Attribute probe {ATTR}"
RULE_ID = "5d0c1d52-3f0e-4c8e-9d7b-6a2f3c1e0b9a"

RULE_YAML = f"""\
title: {json.dumps(SIGMA_TITLE)}
id: {RULE_ID}
status: test
description: {json.dumps(SIGMA_DESCRIPTION)}
references:
  - {json.dumps(JS_URL)}
author: {json.dumps(SVG)}
date: 2026-11-28
tags:
  - attack.t1059
logsource:
  product: linux
detection:
  selection:
    message|contains: '__xss'
  condition: selection
falsepositives:
  - {json.dumps(IMG)}
level: high
"""

# What a page must not hold if the payloads stayed text.
_SCAN = """() => {
  const handlers = [], jsUrls = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (attr.name.toLowerCase().startsWith('on')) handlers.push(el.tagName + ' ' + attr.name);
      if (/^\\s*javascript:/i.test(attr.value)) jsUrls.push(el.tagName + ' ' + attr.name);
    }
  }
  return {
    handlers, jsUrls,
    inlineScripts: document.querySelectorAll('script:not([src])').length,
    injected: document.querySelectorAll('img[src="x"], iframe, object, embed').length,
  };
}"""


@dataclass
class XssSite:
    """The server of the payload home and the ids of what was raised."""

    site: Site
    alerts: dict[str, int]  # title -> alert id


def _write_inputs(folder: Path) -> None:
    folder.mkdir(parents=True)
    line = f"Nov 28 10:00:00 web01 app[1]: probe {SCRIPT} {IMG} {SVG}\n"
    (folder / "syslog").write_text(line)
    now = datetime.now(UTC).isoformat()
    records = [
        {
            "@timestamp": now,
            "probe": "xss",
            "message": SCRIPT,
            "host": {"name": SVG},
            "user": {"name": IMG},
            "url": {"full": JS_URL},
            "note": f"{TEMPLATE} {ATTR} {TEXTAREA}",
        },
        {"@timestamp": now, "probe": "xss", "message": f"second {IMG}", "host": {"name": "web02"}},
    ]
    (folder / "payloads.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records))


def _drafts(event_ids: list[str]) -> list[AlertDraft]:
    direct = AlertDraft(
        rule_id="e2e.xss_probe",
        title=DIRECT_TITLE,
        severity="critical",
        event_ids=event_ids,
        observables=[
            Observable("url", JS_URL),
            Observable("user", IMG),
            Observable("host", SVG),
            Observable("domain", SCRIPT),
        ],
        reasons=[Reason("e2e.payload", f"{SCRIPT} {ATTR}", 1.0)],
        tags=["attack.t1059", f"attack.{SVG}"],
        description=f"{TEXTAREA} {ATTR}",
        fields={"message": SCRIPT, "user.name": IMG, "host.name": SVG, "url.full": JS_URL},
        dedup_key="e2e-direct",
        source=SVG,
    )
    template = AlertDraft(
        rule_id="e2e.xss_probe",
        title=TEMPLATE_TITLE,
        severity="medium",
        description=TEMPLATE,
        dedup_key="e2e-template",
    )
    attribute = AlertDraft(
        rule_id="e2e.xss_probe",
        title=ATTR_TITLE,
        severity="low",
        dedup_key="e2e-attribute",
    )
    return [direct, template, attribute]


@pytest.fixture(scope="module")
def xss_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XssSite]:
    """A home full of payloads behind the real server."""
    home = tmp_path_factory.mktemp("e2e-xss") / "home"
    settings = e2e_settings(home)
    init_home(settings)
    pack = home / "pack"
    pack.mkdir()
    (pack / "xss_probe.yml").write_text(RULE_YAML)
    installed = RuleStore(settings.rules_dir).install(str(pack), name="e2e-xss")
    assert installed.rules == 1 and not installed.issues, installed.issues
    _write_inputs(home / "inputs")
    workspace = Workspace.open(settings)
    try:
        report = IngestService(settings, db=workspace.db).ingest([home / "inputs"], workers=1)
        assert report.accepted == {"syslog": 1, "json": 2}, report
        found = LakeReader(settings.lake_dir).search("probe:xss")
        workspace.raise_alerts(
            _drafts([str(e["event.id"]) for e in found.events]), actor=Principal.system("e2e")
        )
        add_admin(workspace)
        raised = workspace.alerts.list(Principal.system("e2e"), status=None).items
        alerts = {a.title: a.id for a in raised}
    finally:
        workspace.close()
    assert set(alerts) == {SIGMA_TITLE, DIRECT_TITLE, TEMPLATE_TITLE, ATTR_TITLE}, alerts
    for site in serve(settings):
        yield XssSite(site, alerts)


def assert_inert(page: Page) -> None:
    """Nothing on the page ran, and no markup came out of the data."""
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.__xss") == "undefined"
    found = page.evaluate(_SCAN)
    assert found == {"handlers": [], "jsUrls": [], "inlineScripts": 0, "injected": 0}, found
    watch = watch_of(page)
    assert not watch.dialogs, watch.dialogs
    watch.assert_clean()


def _directives(policy: str) -> dict[str, list[str]]:
    parts = [p.split() for p in policy.split(";") if p.strip()]
    return {p[0].lower(): p[1:] for p in parts}


@pytest.mark.parametrize("path", ["/login", "/alerts"])
def test_csp_allows_no_inline_script(open_page: OpenPage, xss_site: XssSite, path: str) -> None:
    """The pages' Content-Security-Policy runs scripts from the console's own files only."""
    page = open_page(xss_site.site, signed_in=path != "/login")
    response = page.goto(xss_site.site.url(path))
    assert response is not None and response.status == 200
    directives = _directives(response.headers["content-security-policy"])
    scripts = directives.get("script-src") or directives["default-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, scripts
    assert not {"*", "data:", "http:", "https:"} & set(scripts), scripts
    assert directives["object-src"] == ["'none'"]
    assert_inert(page)


def test_alert_queue_shows_payloads_as_text(open_page: OpenPage, xss_site: XssSite) -> None:
    """Every payload title is a plain link in the queue."""
    page = open_page(xss_site.site)
    page.goto(xss_site.site.url("/alerts?status=all"))
    for title, alert_id in xss_site.alerts.items():
        link = page.get_by_role("link", name=title, exact=True)
        expect(link).to_have_attribute("href", f"/alerts/{alert_id}")
    assert_inert(page)


def test_sigma_alert_page_shows_payloads_as_text(open_page: OpenPage, xss_site: XssSite) -> None:
    """The rule's title, description, false positives and reference stay text."""
    page = open_page(xss_site.site)
    page.goto(xss_site.site.url(f"/alerts/{xss_site.alerts[SIGMA_TITLE]}"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(SIGMA_TITLE)
    expect(heading).not_to_contain_text("49")
    main = page.locator("main")
    expect(main).to_contain_text(SIGMA_DESCRIPTION)
    expect(main).to_contain_text(IMG)  # the false positive
    expect(main).to_contain_text(JS_URL)  # the reference, as text and not as a link
    expect(page.locator("section[aria-labelledby=h-events]")).to_contain_text(SVG)
    expect(page.get_by_label("Title of the new case")).to_have_value(SIGMA_TITLE)
    assert_inert(page)


def test_direct_alert_page_shows_payloads_as_text(open_page: OpenPage, xss_site: XssSite) -> None:
    """Fields, observables, reasons, tags and the events' fields stay text."""
    page = open_page(xss_site.site)
    page.goto(xss_site.site.url(f"/alerts/{xss_site.alerts[DIRECT_TITLE]}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(DIRECT_TITLE)
    observables = page.locator("section[aria-labelledby=h-obs]")
    for value in (JS_URL, IMG, SVG, SCRIPT):
        expect(observables).to_contain_text(value)
    expect(page.locator("section[aria-labelledby=h-reasons]")).to_contain_text(ATTR)
    expect(page.locator("section[aria-labelledby=h-summary]")).to_contain_text(TEXTAREA)
    events = page.locator("section[aria-labelledby=h-events]")
    expect(events).to_contain_text("2 shown of 2")
    for value in (SCRIPT, IMG, SVG, JS_URL, TEXTAREA):
        expect(events).to_contain_text(value)
    expect(page.get_by_label("Title of the new case")).to_have_value(DIRECT_TITLE)
    assert_inert(page)


@pytest.mark.parametrize("title", [TEMPLATE_TITLE, ATTR_TITLE])
def test_template_and_attribute_titles_stay_text(
    open_page: OpenPage, xss_site: XssSite, title: str
) -> None:
    """``{{7*7}}`` is not evaluated (no 49); a quote does not end an attribute."""
    page = open_page(xss_site.site)
    page.goto(xss_site.site.url(f"/alerts/{xss_site.alerts[title]}"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(title)
    expect(heading).not_to_contain_text("49")
    expect(page.get_by_label("Title of the new case")).to_have_value(title)
    assert_inert(page)


def test_search_shows_payloads_as_text(open_page: OpenPage, xss_site: XssSite) -> None:
    """The events found by a search show their payload fields as text."""
    page = open_page(xss_site.site)
    response = page.goto(xss_site.site.url("/search?q=probe%3Axss&range=all"))
    assert not is_unbuilt(response), response.url
    assert response is not None and response.status == 200
    main = page.locator("main")
    expect(main).to_contain_text(SCRIPT)
    expect(main).to_contain_text(SVG)
    expect(main).to_contain_text(IMG)
    # the histogram and count arrive later, through the page's script: wait for them too
    expect(page.locator("main svg").first).to_be_visible()
    assert_inert(page)


@pytest.mark.parametrize(
    ("path", "shows"),
    [("/", None), (f"/rules?q={RULE_ID}", SIGMA_TITLE), ("/metrics", None), ("/cases", None)],
)
def test_other_pages_stay_inert(
    open_page: OpenPage, xss_site: XssSite, path: str, shows: str | None
) -> None:
    """The overview, rules, metrics and cases pages show the payloads' rule and alerts inertly."""
    page = open_page(xss_site.site)
    response = page.goto(xss_site.site.url(path))
    assert not is_unbuilt(response), response.url
    assert response is not None and response.status == 200
    if shows:
        expect(page.locator("main")).to_contain_text(shows)
    assert_inert(page)


def test_case_opened_from_a_payload_alert_is_inert(open_page: OpenPage, xss_site: XssSite) -> None:
    """A case whose title came from a payload alert shows it as text."""
    page = open_page(xss_site.site)
    page.goto(xss_site.site.url(f"/alerts/{xss_site.alerts[DIRECT_TITLE]}"))
    form = page.get_by_role("form", name="Open a case")
    with page.expect_response(lambda r: r.url.endswith("/case")) as posted:
        form.get_by_role("button", name="Open a case").click()
    assert posted.value.status == 303
    page.wait_for_url(lambda url: "/cases/" in url)
    response = page.reload()
    assert not is_unbuilt(response), response.url
    expect(page.get_by_role("heading", level=1)).to_contain_text(DIRECT_TITLE)
    assert_inert(page)
