"""The console at 1366x768 and on a 4K screen, by keyboard, and severity beyond colour."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DESKTOP, UHD, OpenPage, Site, is_unbuilt
from tocsin.api.console.common import NAV
from tocsin.web.render import SEVERITIES
from tocsin.workspace.permissions import Principal

SCREENS = [pytest.param(DESKTOP, id="1366x768"), pytest.param(UHD, id="3840x2160")]
# the demo alert with the widest content: a long command line in its event's fields
WIDE_ALERT = "LSASS memory dumped with comsvcs.dll MiniDump"


def wide_alert_id(site: Site) -> int:
    """The id of the demo alert whose page has the longest lines."""
    found = site.workspace.alerts.list(Principal.system("e2e"), q="comsvcs", status=None)
    assert found.items, "the demo raises the comsvcs alert"
    return found.items[0].id


def overflow(page: Page) -> dict[str, Any]:
    """How wide the page is against the window, and the widest elements poking out."""
    result: dict[str, Any] = page.evaluate(
        """() => {
            const width = window.innerWidth;
            const out = [];
            for (const el of document.querySelectorAll('body *')) {
                const box = el.getBoundingClientRect();
                if (box.width && box.right > width + 1) {
                    const name = el.name ? '[name=' + el.name + ']' : '';
                    const cls = el.className ? '.' + el.className : '';
                    const tag = el.tagName.toLowerCase();
                    out.push(tag + cls + name + ' right=' + Math.round(box.right));
                }
            }
            return {scroll: document.documentElement.scrollWidth, inner: width,
                    culprits: out.slice(0, 8)};
        }"""
    )
    return result


def assert_fits(page: Page, site: Site, path: str) -> None:
    """The page at ``path`` has no sideways scroll and its whole nav is on screen."""
    page.goto(site.url(path))
    page.wait_for_load_state("load")
    found = overflow(page)
    assert found["scroll"] <= found["inner"] + 1, f"{path} scrolls sideways: {found}"
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_visible()
    links = nav.get_by_role("link")
    expect(links).to_have_count(len(NAV))  # an admin sees every part of the console
    for index in range(links.count()):
        expect(links.nth(index)).to_be_in_viewport()


@pytest.mark.parametrize("screen", SCREENS)
def test_alert_queue_fits_the_screen(
    open_page: OpenPage, demo_site: Site, screen: tuple[int, int]
) -> None:
    """No sideways scrolling on the queue with every alert listed; the nav is on screen."""
    assert_fits(open_page(demo_site, viewport=screen), demo_site, "/alerts?status=all")


ALERT_SCREENS = [
    pytest.param(DESKTOP, id="1366x768"),
    pytest.param(UHD, id="3840x2160"),
]


@pytest.mark.parametrize("screen", ALERT_SCREENS)
def test_alert_page_fits_the_screen(
    open_page: OpenPage, demo_site: Site, screen: tuple[int, int]
) -> None:
    """No sideways scrolling on the alert with the longest lines; the nav is on screen."""
    page = open_page(demo_site, viewport=screen)
    assert_fits(page, demo_site, f"/alerts/{wide_alert_id(demo_site)}")


OTHER_PAGES = ["/", "/cases", "/search?q=EventID%3A4698&range=7d", "/rules", "/metrics", "/admin"]


@pytest.mark.parametrize("path", OTHER_PAGES)
def test_other_pages_fit_the_screen(open_page: OpenPage, demo_site: Site, path: str) -> None:
    """The other screens do not scroll sideways either at 1366x768 (the narrowest we support)."""
    page = open_page(demo_site)
    response = page.goto(demo_site.url(path))
    assert not is_unbuilt(response), response.url
    assert_fits(page, demo_site, path)


def test_tab_reaches_the_skip_link_then_the_nav(page: Page, demo_site: Site) -> None:
    """The first Tab shows the skip link; the next ones reach the first nav link."""
    page.goto(demo_site.url("/alerts"))
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # hidden until focused, then on screen
    first_nav = page.get_by_role("navigation", name="Main").get_by_role("link").first
    for _ in range(4):
        page.keyboard.press("Tab")
        if first_nav.evaluate("el => el === document.activeElement"):
            break
    expect(first_nav).to_be_focused()
    expect(first_nav).to_have_text("Overview")


def test_skip_link_moves_focus_to_the_content(page: Page, demo_site: Site) -> None:
    """Enter on the skip link jumps past the header to the main content."""
    page.goto(demo_site.url("/alerts"))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()


def test_j_then_enter_opens_the_first_alert(page: Page, demo_site: Site) -> None:
    """j focuses the first row of the queue, Enter opens its alert."""
    page.goto(demo_site.url("/alerts"))
    first = page.locator("table.alerts tbody tr[data-href]").first
    target = first.get_attribute("data-href")
    assert target and re.fullmatch(r"/alerts/\d+", target)
    page.locator("body").press("j")
    expect(first).to_have_class(re.compile(r"\bfocused\b"))
    page.keyboard.press("Enter")
    page.wait_for_url(demo_site.url(target))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"#{target.rsplit('/', 1)[1]}")


def test_question_mark_opens_the_shortcuts(page: Page, demo_site: Site) -> None:
    """? opens the keyboard shortcuts dialog, Escape closes it."""
    page.goto(demo_site.url("/alerts"))
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_hidden()
    page.locator("body").press("?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Next / previous row")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_slash_focuses_the_filter_box(page: Page, demo_site: Site) -> None:
    """/ puts the cursor in the queue's text filter."""
    page.goto(demo_site.url("/alerts"))
    page.locator("body").press("/")
    expect(page.get_by_label("Text")).to_be_focused()


def test_severity_is_written_not_only_coloured(page: Page, demo_site: Site) -> None:
    """Every severity cell of the queue says its level in words, next to a shape."""
    page.goto(demo_site.url("/alerts?status=all"))
    cells = page.locator("table.alerts tbody tr[data-href] td:nth-child(2) .sev")
    expect(cells.first).to_be_visible()
    seen = set()
    for cell in cells.all():
        classes = cell.get_attribute("class") or ""
        level = re.search(r"\bsev-(\w+)", classes)
        assert level, classes
        text = cell.inner_text().split()
        assert level[1] in SEVERITIES and text[-1] == level[1], (classes, text)
        assert cell.locator(".sev-mark").inner_text().strip(), "a shape beside the word"
        seen.add(level[1])
    assert {"critical", "high", "medium", "low"} <= seen
