"""The mail screens in a real browser: upload a message and read its verdict, then follow a
phishing alert to its campaign and block it (a small home of its own, not the demo site)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenPage, Shot, Site, add_admin, e2e_settings, serve
from tests.mail import corpus
from tocsin.core.event import make_event_id
from tocsin.core.home import init_home
from tocsin.mail.analyze import MailAnalyzer, MailPolicy
from tocsin.mail.store import store_analyses
from tocsin.respond.blocklist import BlockLists
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace


@pytest.fixture(scope="module")
def mail_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A home where the same macro invoice reached three people, each copy an alert."""
    settings = e2e_settings(tmp_path_factory.mktemp("e2e-mail") / "home")
    init_home(settings)
    workspace = Workspace.open(settings)
    analyzer = MailAnalyzer(MailPolicy())
    items = []
    for i, user in enumerate(("ann", "bob", "cy")):
        raw = corpus.macro_attachment().replace(
            b"To: j.doe@corp.example", f"To: {user}@corp.example".encode()
        )
        raw = raw.replace(b"@test.example>", f"-{i}@test.example>".encode())
        items.append((analyzer.analyze_bytes(raw, source=f"{user}.eml"), make_event_id("e2e", i)))
    try:
        store_analyses(settings, items, workspace=workspace)
        add_admin(workspace)
    finally:
        workspace.close()
    yield from serve(settings)


def test_upload_a_message_and_read_the_verdict(
    open_page: OpenPage, mail_site: Site, shot: Shot, tmp_path: Path
) -> None:
    page = open_page(mail_site)
    page.goto(mail_site.url("/mail"))
    upload = tmp_path / "reported.eml"
    upload.write_bytes(corpus.brand_phish())
    page.get_by_label("Message file").set_input_files(str(upload))
    page.get_by_role("button", name="Analyse").click()
    page.wait_for_url(mail_site.url("/mail/analyze"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("phishing")
    expect(page.locator("section[aria-labelledby=h-reasons]")).to_contain_text(
        "sender.brand_impersonation"
    )
    shot(page, "10-mail-verdict")


def test_from_the_alert_to_its_campaign_and_the_block_list(
    open_page: OpenPage, mail_site: Site
) -> None:
    page = open_page(mail_site)
    actor = Principal.local()
    alert = mail_site.workspace.alerts.list(actor, limit=1).items[0]
    page.goto(mail_site.url(f"/alerts/{alert.id}"))
    page.get_by_role("link", name="Find the campaign").click()
    page.wait_for_url(re.compile(r"/mail/campaign\?alert_id=\d+$"))
    expect(page.get_by_role("heading", name=re.compile("Reached 3 recipient"))).to_be_visible()
    page.go_back()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Block sender, links and files").click()
    page.wait_for_url(mail_site.url(f"/alerts/{alert.id}"))
    expect(page.get_by_text(re.compile("Block list: \\d+ added"))).to_be_visible()
    lists = BlockLists(mail_site.workspace.db).snapshot(actor)
    assert lists.is_blocked("email", "billing@northwind-invoices.example")
