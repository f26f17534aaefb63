"""``/api/v1/mail``: submit a message (raw or multipart), store it, answer the reporter,
find the campaign; each role allowed what its permissions say."""

from __future__ import annotations

import pytest

from tests.mail import corpus
from tocsin.workspace.permissions import Principal, Role
from tocsin.workspace.tables import Notification

pytestmark = pytest.mark.anyio

RAW = {"Content-Type": "message/rfc822"}


async def test_raw_upload_gives_the_cli_row(ws_api):
    async with ws_api.client() as client:
        response = await client.post(
            "/api/v1/mail/analyze",
            content=corpus.brand_phish(),
            headers={**ws_api.headers(Role.RESPONDER), **RAW},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verdict"] == "phishing"
    assert body["file"].startswith("api:rex/")
    assert "event_id" not in body  # not stored unless asked


async def test_multipart_upload_and_store(ws_api):
    files = {"file": ("report.eml", corpus.macro_attachment(), "message/rfc822")}
    async with ws_api.client() as client:
        response = await client.post(
            "/api/v1/mail/analyze?store=true", files=files, headers=ws_api.headers(Role.ANALYST)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["verdict"] == "phishing" and body["alert_id"]
        alert = ws_api.workspace.alerts.get(Principal.local(), body["alert_id"])
        assert alert.rule_id == "mail.phishing"
        campaign = await client.get(
            f"/api/v1/mail/campaign?alert_id={body['alert_id']}",
            headers=ws_api.headers(Role.READ_ONLY),
        )
    assert campaign.status_code == 200, campaign.text
    found = campaign.json()
    assert [m["event_id"] for m in found["messages"]] == [body["event_id"]]
    assert found["recipients"] == ["j.doe@corp.example"]
    assert "tocsin.mail.hashes" in found["query"]


async def test_reporter_gets_an_answer_on_the_mail_channel(ws_api):
    ws_api.workspace.channels.create_channel(
        Principal.local(),
        "outbound",
        "email",
        {"host": "127.0.0.1", "port": 2525, "from_address": "soc@corp.example"},
    )
    async with ws_api.client() as client:
        response = await client.post(
            "/api/v1/mail/analyze?reporter=j.doe@corp.example",
            content=corpus.internal(),
            headers={**ws_api.headers(Role.RESPONDER), **RAW},
        )
    body = response.json()
    assert body["verdict"] == "clean" and body["answer_id"]
    with ws_api.workspace.db.session() as session:
        note = session.get(Notification, body["answer_id"])
        assert note.recipients == ["j.doe@corp.example"]
        assert "looks safe" in note.payload["body"]


async def test_read_only_cannot_submit_and_bad_input_is_clear(ws_api):
    async with ws_api.client() as client:
        denied = await client.post(
            "/api/v1/mail/analyze",
            content=corpus.internal(),
            headers={**ws_api.headers(Role.READ_ONLY), **RAW},
        )
        empty = await client.post(
            "/api/v1/mail/analyze", content=b"", headers={**ws_api.headers(Role.ANALYST), **RAW}
        )
        anonymous = await client.post("/api/v1/mail/analyze", content=corpus.internal())
    assert denied.status_code == 403
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    assert anonymous.status_code == 401


async def test_campaign_refuses_other_alerts(ws_api):
    from tocsin.workspace.models import AlertDraft

    alert_id = ws_api.workspace.raise_alert(AlertDraft("some.rule", "x", "low"))
    async with ws_api.client() as client:
        response = await client.get(
            f"/api/v1/mail/campaign?alert_id={alert_id}", headers=ws_api.headers(Role.ANALYST)
        )
    assert response.status_code == 400
    assert "mail.phishing" in response.json()["detail"]


async def test_an_outlook_msg_upload_is_rebuilt_and_analysed(ws_api):
    from tests.mail.cfb_writer import MsgItem, write_msg

    item = MsgItem(
        props={
            0x0037: "Your account has been limited",  # subject
            0x0C1A: "PayPal Service",  # sender name
            0x0C1F: "service@mail-notice.top",  # sender address
            0x1000: "Verify your account: http://paypa1-secure-login.top/verify",
        }
    )
    files = {"file": ("report.msg", write_msg(item), "application/vnd.ms-outlook")}
    async with ws_api.client() as client:
        response = await client.post(
            "/api/v1/mail/analyze", files=files, headers=ws_api.headers(Role.ANALYST)
        )
        broken = await client.post(
            "/api/v1/mail/analyze",
            files={"file": ("bad.msg", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1broken", "x/y")},
            headers=ws_api.headers(Role.ANALYST),
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == "service@mail-notice.top"
    assert "sender.brand_impersonation" in {r["check"] for r in body["reasons"]}
    assert broken.status_code == 400 and "bad.msg" in broken.json()["detail"]


async def test_block_over_the_api_counts_in_the_next_verdict(ws_api):
    headers = {**ws_api.headers(Role.RESPONDER), **RAW}
    async with ws_api.client() as client:
        first = await client.post(
            "/api/v1/mail/analyze?store=true", content=corpus.brand_phish(), headers=headers
        )
        alert_id = first.json()["alert_id"]
        blocked = await client.post(
            f"/api/v1/mail/block?alert_id={alert_id}&days=7", headers=ws_api.headers(Role.RESPONDER)
        )
        again = await client.post(
            "/api/v1/mail/analyze", content=corpus.brand_phish(), headers=headers
        )
        denied = await client.post(
            f"/api/v1/mail/block?alert_id={alert_id}", headers=ws_api.headers(Role.READ_ONLY)
        )
    assert blocked.status_code == 200, blocked.text
    values = {(e["entry"]["kind"], e["entry"]["value"]) for e in blocked.json()["entries"]}
    assert ("email", "service@mail-notice.top") in values
    assert all(e["entry"]["source"] == f"alert:{alert_id}" for e in blocked.json()["entries"])
    assert "blocklist.sender" in {r["check"] for r in again.json()["reasons"]}
    assert denied.status_code == 403
