"""Issue 5's journey through the console in a real browser, one step per test, in order.

An analyst signs in, looks at the demo's alerts, acknowledges one from the keyboard, opens its
page, opens a case from it, comments on the case, closes it with a classification, runs a
search, and finds the closed case in the metrics. Each screen is saved with ``shot`` (into
docs/screenshots/ by ``make screenshots``).

The steps share one signed-in page and what earlier steps made (the alert, the case); a step
that needs what a failed step should have made skips, naming it (the failure is the report).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, OpenPage, PageWatch, Shot, Site
from tocsin.lake.reader import LakeReader
from tocsin.web.render import format_duration
from tocsin.workspace.metrics import NO_TEAM
from tocsin.workspace.permissions import Principal

# The alert the analyst handles: the critical LSASS dump, not yet in any demo case.
ALERT_QUERY = "comsvcs"
ALERT_TITLE = "LSASS memory dumped with comsvcs.dll MiniDump"
SEARCH_QUERY = "CommandLine:*comsvcs*"
COMMENT = "Memory dump confirmed on the workstation; credentials must be reset."
CLOSING_NOTE = "Host reimaged, the user's and the service accounts' passwords reset."


@dataclass
class Journey:
    """The page the steps share and what they made along the way."""

    site: Site
    page: Page
    watch: PageWatch
    signed_in: bool = False
    alert_id: int | None = None
    case_id: int | None = None
    case_closed: bool = False

    def needs(self, what: str) -> None:
        """Skip the step when an earlier one did not make ``what``."""
        missing = {
            "signed_in": not self.signed_in,
            "alert": self.alert_id is None,
            "case": self.case_id is None,
            "closed case": not self.case_closed,
        }
        if missing[what]:
            pytest.skip(f"needs the {what} from an earlier step, which did not complete")

    def alert(self) -> int:
        """The alert acknowledged in step 3 (skips the step without it)."""
        self.needs("alert")
        assert self.alert_id is not None
        return self.alert_id

    def case(self) -> int:
        """The case opened in step 4 (skips the step without it)."""
        self.needs("case")
        assert self.case_id is not None
        return self.case_id

    def actor(self) -> Principal:
        """The signed-in user, for checking what the service recorded."""
        return self.site.workspace.users.principal_of(self.site.username)


@pytest.fixture(scope="module")
def journey(browser: Browser, demo_site: Site) -> Iterator[Journey]:
    """One browser tab for the whole journey, at 1366x768, watched for script errors."""
    context = browser.new_context(viewport={"width": DESKTOP[0], "height": DESKTOP[1]})
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = PageWatch()
    watch.attach(page)
    yield Journey(demo_site, page, watch)
    context.close()


@pytest.fixture(autouse=True)
def _no_script_errors(journey: Journey) -> Iterator[None]:
    """Each step fails on any JS error or CSP violation that happened during it."""
    journey.watch.errors.clear()
    yield
    journey.watch.assert_clean()


def test_01_sign_in(journey: Journey, shot: Shot) -> None:
    """A visitor is sent to the login page, signs in and comes back where they were going."""
    page, site = journey.page, journey.site
    page.goto(site.url("/alerts"))
    expect(page).to_have_url(re.compile(r"/login\?next=%2Falerts$"))
    expect(page.get_by_role("heading", name="Tocsin")).to_be_visible()
    expect(page.get_by_label("User name")).to_be_focused()  # autofocus: type at once
    shot(page, "01-login")

    page.get_by_label("User name").fill(site.username)
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.url("/alerts"))
    session = [c for c in page.context.cookies() if c["name"] == "tocsin_session"]
    assert session, "no session cookie after signing in"
    assert session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
    journey.signed_in = True


def test_02_overview(journey: Journey, shot: Shot) -> None:
    """The overview shows open alerts by severity, linked to the filtered queue, and charts."""
    journey.needs("signed_in")
    page = journey.page
    response = journey.page.goto(journey.site.url("/"))
    assert response is not None and response.status == 200
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    critical = page.locator('main a[href*="severity=critical"]').first
    expect(critical).to_be_visible()
    expect(critical).to_contain_text("critical")
    expect(page.locator("main svg").first).to_be_visible()
    shot(page, "02-overview")


def test_03_alert_queue_and_acknowledge_by_keyboard(journey: Journey, shot: Shot) -> None:
    """The queue lists the demo's open alerts; j, x, a acknowledge the one the analyst picks."""
    journey.needs("signed_in")
    page, site = journey.page, journey.site
    page.goto(site.url("/alerts"))
    expect(page.get_by_role("heading", name=re.compile(r"^Alerts"))).to_be_visible()
    open_alerts = site.workspace.alerts.list(
        journey.actor(), status=["new", "acknowledged", "in_progress"], limit=50
    )
    assert open_alerts.total > 10, "the demo should leave many alerts open"
    rows = page.locator("table.alerts tbody tr[data-href]")
    expect(rows).to_have_count(min(open_alerts.total, 50))
    expect(page.get_by_role("link", name=ALERT_TITLE)).to_be_visible()
    shot(page, "03-alert-queue")

    page.goto(site.url(f"/alerts?q={ALERT_QUERY}"))
    expect(page.get_by_label("Text")).to_have_value(ALERT_QUERY)
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("new")
    journey.alert_id = int(row.get_attribute("data-alert-id") or "0")

    acknowledge = page.get_by_role("button", name="Acknowledge")
    expect(acknowledge).to_be_disabled()  # nothing selected yet
    page.locator("body").press("j")
    expect(row).to_have_class(re.compile(r"\bfocused\b"))
    page.keyboard.press("x")
    expect(row.get_by_role("checkbox")).to_be_checked()
    expect(acknowledge).to_be_enabled()
    with page.expect_response(lambda r: r.url.endswith("/alerts/bulk")):
        page.keyboard.press("a")
    expect(page.get_by_role("status")).to_have_text("ack: 1 done")
    expect(rows.first.locator(".status")).to_have_text("acknowledged")
    stored = site.workspace.alerts.get(journey.actor(), journey.alert_id)
    assert stored.status == "acknowledged"


def test_04_alert_detail_and_open_a_case(journey: Journey, shot: Shot) -> None:
    """The alert page explains the alert and shows its events; "Open a case" makes a case."""
    alert_id = journey.alert()
    page, site = journey.page, journey.site
    page.get_by_role("link", name=ALERT_TITLE).click()
    page.wait_for_url(site.url(f"/alerts/{alert_id}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(ALERT_TITLE)
    expect(page.get_by_role("heading", name="Why it fired")).to_be_visible()
    events = page.locator("section[aria-labelledby=h-events] table.fields")
    expect(events.first).to_contain_text("comsvcs.dll")
    expect(page.get_by_role("link", name=re.compile("^Pivot to search"))).to_be_visible()
    shot(page, "04-alert-detail")

    form = page.get_by_role("form", name="Open a case")
    expect(form.get_by_label("Title of the new case")).to_have_value(ALERT_TITLE)
    form.get_by_role("button", name="Open a case").click()
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    case = site.workspace.cases.get(journey.actor(), case_id)
    assert case.title == ALERT_TITLE
    assert site.workspace.alerts.get(journey.actor(), alert_id).case_id == case_id
    journey.case_id = case_id

    page.goto(site.url(f"/alerts/{alert_id}"))
    expect(page.get_by_role("link", name=f"Case #{case_id}")).to_be_visible()


def test_05_case_comment_and_close(journey: Journey, shot: Shot) -> None:
    """On the case: the linked alert, a comment, then closing with a classification."""
    case_id, alert_id = journey.case(), journey.alert()
    page, site = journey.page, journey.site
    response = page.goto(site.url(f"/cases/{case_id}"))
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_contain_text(ALERT_TITLE)
    expect(page.locator(f'main a[href="/alerts/{alert_id}"]').first).to_be_visible()

    body = page.locator("textarea[name=body]")
    expect(body).to_have_count(1)
    expect(body).to_have_accessible_name(re.compile(r"\w"))  # a label, not a bare box
    body.fill(COMMENT)
    page.locator("form", has=body).get_by_role("button").first.click()
    expect(page.get_by_text(COMMENT).first).to_be_visible()
    comments = site.workspace.cases.list_comments(journey.actor(), case_id)
    assert [c.body for c in comments.items][-1] == COMMENT
    shot(page, "05-case")

    closing = re.compile(r"close", re.IGNORECASE)
    # a form folded away in <details> opens by its summary, as a person would open it
    folded = page.locator("main details:not([open])").filter(
        has=page.locator("select[name=classification]")
    )
    for index in range(folded.count()):
        folded.nth(index).locator("summary").first.click()
    close_form = (
        page.locator("main form")
        .filter(has=page.locator("select[name=classification]"))
        .filter(has=page.get_by_role("button", name=closing))
        .first
    )
    classification = close_form.locator("select[name=classification]")
    expect(classification).to_have_accessible_name(re.compile(r"\w"))
    classification.select_option("true_positive")
    note = close_form.locator("textarea")
    if note.count():
        note.first.fill(CLOSING_NOTE)
    close_form.get_by_role("button", name=closing).click()
    expect(page.locator("main")).to_contain_text(re.compile(r"closed", re.IGNORECASE))
    case = site.workspace.cases.get(journey.actor(), case_id)
    assert case.status == "closed"
    assert case.classification == "true_positive"
    journey.case_closed = True


def test_06_search(journey: Journey, shot: Shot) -> None:
    """A search over the last week finds the LSASS dump, with its hit histogram."""
    journey.needs("signed_in")
    page, site = journey.page, journey.site
    response = page.goto(site.url("/search?q=" + SEARCH_QUERY.replace("*", "%2A") + "&range=7d"))
    assert response is not None and response.status == 200
    since = datetime.now(UTC) - timedelta(days=7)
    found = LakeReader(site.settings.lake_dir).search(SEARCH_QUERY, since=since, limit=5)
    assert found.events, "the demo scenario has the comsvcs dump"
    host = str(found.events[0]["host.name"])
    # the results table (the histogram's own table of counts may come first, folded away)
    expect(page.locator("main table tbody tr", has_text=host).first).to_be_visible()
    # the histogram comes after the first page, fetched by the page's script
    expect(page.locator("main svg").first).to_be_visible()
    shot(page, "06-search")


def test_07_rules(journey: Journey, shot: Shot) -> None:
    """The rules page lists the starter rules and finds the alert's rule, level in words."""
    journey.needs("signed_in")
    page, site = journey.page, journey.site
    response = page.goto(site.url("/rules"))
    assert response is not None and response.status == 200
    expect(page.locator("main .sev").first).to_be_visible()
    shot(page, "07-rules")

    rule_id = site.workspace.alerts.get(journey.actor(), journey.alert()).rule_id
    # q= is how the alert page links to its rule on the rules page
    page.goto(site.url(f"/rules?q={rule_id}"))
    expect(page.get_by_text(ALERT_TITLE).first).to_be_visible()
    expect(page.locator("main .sev-critical").first).to_contain_text("critical")


def test_08_metrics_show_the_closed_case(journey: Journey, shot: Shot) -> None:
    """The metrics page counts the case the analyst just closed, in its team's MTTR row."""
    journey.needs("signed_in")
    page, site = journey.page, journey.site
    response = page.goto(site.url("/metrics"))
    assert response is not None and response.status == 200
    expect(page.locator("main svg").first).to_be_visible()
    shot(page, "08-metrics")

    journey.needs("closed case")
    actor = journey.actor()
    case = site.workspace.cases.get(actor, journey.case())
    teams = {t.id: t.name for t in site.workspace.users.list_teams(actor)}
    team = teams.get(case.team_id, NO_TEAM) if case.team_id else NO_TEAM
    now = datetime.now(UTC)
    report = site.workspace.metrics.compute(
        actor, since=now - timedelta(days=7), until=now, entity_type="case", now=now
    )
    mttr = report.durations["mttr"].by_team[team]
    assert mttr.count >= 1 and mttr.median is not None
    shown = format_duration(mttr.median)
    label = re.compile(r"no team", re.IGNORECASE) if team == NO_TEAM else team
    row = page.locator("main tr", has_text=label).filter(has=page.get_by_text(shown, exact=True))
    expect(row.first).to_be_visible()


def test_09_admin(journey: Journey, shot: Shot) -> None:
    """The admin index links to users, teams and tokens; the users page lists the team."""
    journey.needs("signed_in")
    page, site = journey.page, journey.site
    response = page.goto(site.url("/admin"))
    assert response is not None and response.status == 200
    for part in ("Users", "Teams", "Tokens"):
        expect(page.get_by_role("link", name=re.compile(part, re.IGNORECASE)).first).to_be_visible()
    shot(page, "09-admin")

    page.get_by_role("link", name="Users", exact=True).first.click()
    page.wait_for_load_state()
    expect(page.locator("main")).to_contain_text(site.username)
    expect(page.locator("main")).to_contain_text("olga")  # a demo team member


def test_wrong_password_keeps_where_the_user_was_going(
    open_page: OpenPage, demo_site: Site
) -> None:
    """After a wrong password, the second try still lands on the page first asked for."""
    page = open_page(demo_site, signed_in=False)
    page.goto(demo_site.url("/alerts"))
    page.get_by_label("User name").fill(demo_site.username)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page.get_by_label("User name")).to_have_value(demo_site.username)
    page.get_by_label("Password").fill(demo_site.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.url == demo_site.url("/alerts")


def test_filtered_queue_keeps_its_filters_after_a_bulk_action(
    open_page: OpenPage, demo_site: Site
) -> None:
    """Filter with the form, acknowledge the one row: the same filtered queue comes back."""
    page = open_page(demo_site)
    page.goto(demo_site.url("/alerts"))
    page.get_by_label("Text").fill("Whoami")
    page.get_by_label("Text").press("Enter")
    page.wait_for_url(re.compile(r"q=Whoami"))
    rows = page.locator("table.alerts tbody tr[data-href]")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("checkbox").check()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_have_text("ack: 1 done")
    # no waiting: the page is rendered, the row is there or not
    assert rows.count() == 1, page.url
