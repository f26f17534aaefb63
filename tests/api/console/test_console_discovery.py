"""The console's data discovery page: inventory, findings, triage, escaping, permissions."""

from __future__ import annotations

import pytest

from tests.api.test_discovery_api import seed
from tocsin.workspace.permissions import Role

pytestmark = pytest.mark.anyio


async def test_page_shows_inventory_and_masked_findings_escaped(ws_api, console) -> None:
    planted = seed(ws_api)
    browser = await console(Role.READ_ONLY)
    page = await browser.get("/discovery")
    assert page.status_code == 200
    text = page.text
    assert planted["pat"] not in text
    assert "<script>alert(1)</script>" not in text and "<b>app</b>" not in text
    assert "src/&lt;b&gt;app&lt;/b&gt;/" in text  # the folder, escaped
    assert 'data-table="discovery-inventory"' in text and "GITHUB_PAT" in text
    assert 'action="/discovery/triage"' not in text  # read-only: no triage forms


async def test_triage_form_sets_the_state(ws_api, console) -> None:
    planted = seed(ws_api)
    browser = await console(Role.ANALYST)
    page = await browser.get("/discovery")
    assert 'action="/discovery/triage"' in page.text
    done = await browser.post(
        "/discovery/triage",
        {"fingerprint": planted["secret"], "state": "false_positive", "note": "test key"},
    )
    assert done.status_code == 303
    after = await browser.get("/discovery?state=false_positive")
    assert planted["secret"] in after.text
    still_open = await browser.get("/discovery?state=open")
    assert planted["secret"] not in still_open.text
    forged = await browser.client.post(
        "/discovery/triage",
        data={"fingerprint": planted["secret"], "state": "open", "csrf_token": "nope"},
    )
    assert forged.status_code in (303, 401, 403)
    again = await browser.get("/discovery?state=false_positive")
    assert planted["secret"] in again.text
