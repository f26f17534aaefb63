"""End-to-end console tests: the real server on 127.0.0.1 and a real headless Chromium.

The browser is Debian's ``chromium`` driven by Playwright for Python (``playwright install``
cannot download a browser here, so Playwright is pointed at the system binary). Without either
the whole folder skips, saying which package is missing.

Fixtures:
- ``demo_site`` (session): a home in a tmp folder with the ``tocsin demo`` scenario (generated
  logs ingested with detection, the demo team, SLA policies, cases), the user ``morgan`` (admin,
  password :data:`PASSWORD`), and the real server (:class:`tocsin.api.server.Server` under
  uvicorn, syslog listeners off) on a free port in a background thread.
- ``browser`` (session): one Chromium; ``open_page(site, viewport=..., signed_in=...)`` gives a
  fresh context and page per call (1366x768 unless told), ``page`` is a signed-in page on the
  demo site. Every page is watched: a JS error, a Content-Security-Policy violation or an
  uncaught exception fails the test.
- ``shot(page, name)`` writes ``name.png`` into a temporary folder, or into
  ``$TOCSIN_SCREENSHOTS_DIR`` when set (``make screenshots`` sets it to docs/screenshots).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tocsin.api.server import Server
from tocsin.core.home import init_home
from tocsin.core.settings import Settings
from tocsin.workspace.permissions import Principal, Role
from tocsin.workspace.service import Workspace

try:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright
except ImportError:
    pytest.skip(
        "end-to-end console tests need the 'playwright' Python package (pip install playwright;"
        " no 'playwright install': the system chromium is used)",
        allow_module_level=True,
    )
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
if CHROMIUM is None:
    pytest.skip(
        "end-to-end console tests need Debian's 'chromium' package (apt-get install chromium)",
        allow_module_level=True,
    )

# The flags issue 5 asks for, plus the ones that keep Chromium from phoning home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME = "morgan"
PASSWORD = "e2e correct horse battery staple"
DESKTOP = (1366, 768)
UHD = (3840, 2160)
SCREENSHOTS_ENV = "TOCSIN_SCREENSHOTS_DIR"
# Console messages that mean script ran where it must not, or was blocked by the CSP.
_BAD_CONSOLE = ("content security policy", "csp violation", "refused to", "uncaught")
# Reports every CSP violation on the console in our own words, whatever Chromium's wording is
# (an init script runs outside the page's CSP).
_REPORT_CSP = """document.addEventListener('securitypolicyviolation', (e) => console.error(
  'CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline code')
  + ' at ' + e.sourceFile + ':' + e.lineNumber));"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here as an integration test (they start a server and a browser)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


# -- the server ----------------------------------------------------------------------------


@dataclass
class Site:
    """A running server: its URL, its settings and the workspace it serves."""

    base_url: str
    settings: Settings
    server: Server
    username: str = USERNAME
    password: str = PASSWORD
    storage: Any = None  # a signed-in browser state (cookies), made on first use

    @property
    def workspace(self) -> Workspace:
        """The server's own workspace (SQLite, safe to share across threads)."""
        return self.server.workspace

    def url(self, path: str) -> str:
        """An absolute URL of a path on this server."""
        return self.base_url + path


def e2e_settings(home: Path) -> Settings:
    """Settings of a test home: SQLite in the home, no syslog listeners, whatever the env says."""
    return Settings(
        home=home,
        database_url=None,
        syslog_udp_port=None,
        syslog_tcp_port=None,
        syslog_tls_port=None,
        hunt_interval_minutes=0.0,
    )


def add_admin(workspace: Workspace, username: str = USERNAME, password: str = PASSWORD) -> None:
    """An admin who signs in with a known password (no forced change)."""
    workspace.users.create_user(
        Principal.system("e2e"),
        username,
        Role.ADMIN,
        password=password,
        display_name=username.title(),
        email=f"{username}@example.org",
    )


def build_demo_home(home: Path) -> Settings:
    """What ``tocsin demo`` builds, without serving: the scenario ingested, the team at work."""
    from tocsin.demo.operations import seed_operations
    from tocsin.demo.scenario import write_scenario
    from tocsin.ingest.service import IngestService
    from tocsin.lake.reader import LakeReader

    settings = e2e_settings(home)
    init_home(settings)
    inputs = home / "demo-input"
    write_scenario(inputs, end=datetime.now(UTC))
    workspace = Workspace.open(settings)
    try:
        report = IngestService(settings, db=workspace.db).ingest([inputs], workers=1)
        assert report.total > 0, report
        seed_operations(workspace, LakeReader(settings.lake_dir))
        add_admin(workspace)
    finally:
        workspace.close()
    return settings


def _wait_healthy(base_url: str, thread: threading.Thread, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the server thread stopped before it answered /healthz")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server at {base_url!r} did not answer /healthz in {timeout} s")


def serve(settings: Settings) -> Iterator[Site]:
    """Run the real server for ``settings`` on a free port until the generator is closed."""
    server = Server(settings, syslog=False)
    # bind first and hand the socket over, so no other process can take the port in between
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        server.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws="none",
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(
        target=runner.run, kwargs={"sockets": [sock]}, name="tocsin-e2e-server", daemon=True
    )
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, thread)
        yield Site(base_url, settings, server)
    finally:
        runner.should_exit = True
        thread.join(timeout=60)
        sock.close()
    assert not thread.is_alive(), "the server did not stop within 60 s"


@pytest.fixture(scope="package")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo home behind the real server (built once for this folder)."""
    settings = build_demo_home(tmp_path_factory.mktemp("e2e") / "demo-home")
    yield from serve(settings)


# -- the browser ---------------------------------------------------------------------------


@dataclass
class PageWatch:
    """What a page did that it must not: JS errors, CSP violations, dialogs."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        """Listen to the page's errors, console and dialogs."""
        page.add_init_script(_REPORT_CSP)
        page.on("pageerror", self._on_error)
        page.on("console", self._on_console)
        page.on("dialog", self._on_dialog)

    def _on_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")

    def _on_console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.type == "error" and any(bad in text.lower() for bad in _BAD_CONSOLE):
            self.errors.append(f"console {message.type}: {text} ({message.location})")

    def _on_dialog(self, dialog: Dialog) -> None:
        # recorded so a test can assert none appeared; accepted so confirm() flows go on
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    def assert_clean(self) -> None:
        """Fail with every JS error and CSP violation seen so far."""
        assert not self.errors, "the page reported errors:\n" + "\n".join(self.errors)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for this folder (Debian's binary, never a download).

    Package scope, not session: Playwright's sync API keeps an event loop running in the
    main thread while it is open, and later tests that call ``asyncio.run`` would fail.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


def sign_in(page: Page, site: Site) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(site.url("/login?next=%2Falerts"))
    page.get_by_label("User name").fill(site.username)
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """A factory: ``open_page(site, viewport=(w, h), signed_in=True)`` gives a watched page."""
    opened: list[tuple[Any, PageWatch]] = []

    def open_one(
        site: Site, *, viewport: tuple[int, int] = DESKTOP, signed_in: bool = True
    ) -> Page:
        if signed_in and site.storage is None:
            # sign in once per site and reuse the cookie: password hashing is slow on purpose
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            sign_in(context.new_page(), site)
            site.storage = context.storage_state()
            context.close()
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            storage_state=site.storage if signed_in else None,
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.watch = watch = PageWatch()  # type: ignore[attr-defined]
        watch.attach(page)
        opened.append((context, watch))
        return page

    yield open_one
    problems = []
    for context, watch in opened:
        context.close()
        problems.extend(watch.errors)
    assert not problems, "pages reported errors:\n" + "\n".join(problems)


@pytest.fixture
def page(open_page: OpenPage, demo_site: Site) -> Page:
    """A signed-in page on the demo site at 1366x768."""
    return open_page(demo_site)


def watch_of(page: Page) -> PageWatch:
    """The watcher of a page made by ``open_page``."""
    found: PageWatch = page.watch  # type: ignore[attr-defined]
    return found


# -- screenshots ---------------------------------------------------------------------------


@pytest.fixture(scope="package")
def screenshots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $TOCSIN_SCREENSHOTS_DIR when set, else a temporary folder."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    if chosen:
        folder = Path(chosen)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


Shot = Callable[[Page, str], Path]


@pytest.fixture(scope="package")
def shot(screenshots_dir: Path) -> Shot:
    """``shot(page, name)`` saves the top of the page as ``name.png`` and returns the path."""

    def take(page: Page, name: str) -> Path:
        target = screenshots_dir / f"{name}.png"
        # the top of the screen, as a reader meets it (a form post may land lower down)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(target), full_page=False, animations="disabled")
        assert target.stat().st_size > 0
        return target

    return take


# -- pages other helpers are still building ------------------------------------------------


def is_unbuilt(response: Any) -> bool:
    """Whether a route does not exist yet: FastAPI's bare JSON 404, not the console's page."""
    if response is None or response.status != 404:
        return False
    return "application/json" in (response.headers.get("content-type") or "")
