"""The console's mail screens: submit, verdict, campaign, block; hostile text stays escaped."""

from __future__ import annotations

import pytest

from tests.mail import corpus
from tocsin.core.event import make_event_id
from tocsin.mail.analyze import MailAnalyzer, MailPolicy
from tocsin.mail.store import store_analyses
from tocsin.respond.blocklist import BlockLists
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio

HOSTILE = '"><script>alert(1)</script>'


def stored_phish(ws_api, *raws):
    analyzer = MailAnalyzer(MailPolicy())
    items = [
        (analyzer.analyze_bytes(raw, source=f"m{i}.eml"), make_event_id("mail:console", i))
        for i, raw in enumerate(raws)
    ]
    report = store_analyses(ws_api.settings, items, workspace=ws_api.workspace)
    return [s.alert_id for s in report.stored]


async def test_submit_shows_the_verdict_with_escaped_reasons(console, ws_api):
    browser = await console(Role.RESPONDER)
    page = await browser.get("/mail")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    raw = corpus.brand_phish().replace(
        b"Subject: Your account has been limited", f"Subject: {HOSTILE}".encode()
    )
    response = await browser.client.post(
        "/mail/analyze",
        data={"csrf_token": browser.csrf},
        files={"file": ("report.eml", raw, "message/rfc822")},
    )
    assert response.status_code == 200, response.text
    assert "phishing" in response.text and "sender.brand_impersonation" in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
    # nothing kept unless asked
    assert ws_api.workspace.alerts.list(Principal.local(), limit=5).items == []


async def test_submit_and_keep_raises_the_alert(console, ws_api):
    browser = await console(Role.ANALYST)
    response = await browser.client.post(
        "/mail/analyze",
        data={"csrf_token": browser.csrf, "store": "1"},
        files={"file": ("m.eml", corpus.macro_attachment(), "message/rfc822")},
    )
    assert response.status_code == 200, response.text
    alerts = ws_api.workspace.alerts.list(Principal.local(), limit=5).items
    assert [a.rule_id for a in alerts] == ["mail.phishing"]
    assert f'href="/alerts/{alerts[0].id}"' in response.text


async def test_read_only_cannot_submit(console, ws_api):
    browser = await console(Role.READ_ONLY)
    assert (await browser.get("/mail")).status_code == 403
    response = await browser.client.post(
        "/mail/analyze",
        data={"csrf_token": browser.csrf, "store": "1"},
        files={"file": ("m.eml", corpus.brand_phish(), "message/rfc822")},
    )
    assert response.status_code in (303, 403)
    assert ws_api.workspace.alerts.list(Principal.local(), limit=5).items == []


async def test_alert_page_links_the_campaign_and_blocks(console, ws_api):
    first, _second = stored_phish(ws_api, corpus.brand_phish(), corpus.macro_attachment())
    browser = await console(Role.RESPONDER)
    page = await browser.get(f"/alerts/{first}")
    assert f'href="/mail/campaign?alert_id={first}"' in page.text
    assert 'action="/mail/block"' in page.text
    campaign = await browser.get(f"/mail/campaign?alert_id={first}")
    assert campaign.status_code == 200
    assert "service@mail-notice.top" in campaign.text
    assert "1 message(s)" in campaign.text  # the macro invoice shares nothing with it
    blocked = await browser.post("/mail/block", {"alert_id": str(first)})
    assert blocked.status_code == 303
    assert blocked.headers["location"] == f"/alerts/{first}"
    snapshot = BlockLists(ws_api.workspace.db).snapshot(Principal.local())
    assert snapshot.is_blocked("email", "service@mail-notice.top")


async def test_read_only_sees_no_block_button(console, ws_api):
    (alert_id,) = stored_phish(ws_api, corpus.brand_phish())
    browser = await console(Role.READ_ONLY)
    page = await browser.get(f"/alerts/{alert_id}")
    assert "Find the campaign" in page.text
    assert 'action="/mail/block"' not in page.text
    refused = await browser.post("/mail/block", {"alert_id": str(alert_id)})
    assert refused.status_code in (303, 403)
    snapshot = BlockLists(ws_api.workspace.db).snapshot(Principal.local())
    assert not snapshot.is_blocked("email", "service@mail-notice.top")
