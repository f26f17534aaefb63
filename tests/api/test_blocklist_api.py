"""The block and allow list routes through the real app, with a user per role (both engines)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tocsin.workspace.permissions import Role
from tocsin.workspace.tables import AuditRecord

pytestmark = pytest.mark.anyio

LISTS = "/api/v1/blocklist"
EXPORT = f"{LISTS}/export"


async def test_a_responder_adds_and_everyone_reads_and_exports(ws_api):
    responder = ws_api.headers(Role.RESPONDER)
    reader = ws_api.headers(Role.READ_ONLY)
    body = {
        "entries": [
            {"value": "Evil.COM", "reason": "phishing kit", "source": "alert:12", "expires": "30d"},
            {"value": "hxxps://evil[.]com/login"},
            {"value": "safe.evil.com", "list": "allow", "kind": "domain"},
            {"value": "203.0.113.0/24", "expires": "2099-12-31"},
        ]
    }
    async with ws_api.client() as client:
        created = await client.post(LISTS, json=body, headers=responder)
        assert created.status_code == 200, created.text
        answer = created.json()
        assert (answer["added"], answer["updated"], answer["unchanged"]) == (4, 0, 0)
        first = answer["results"][0]
        assert first["outcome"] == "added" and first["detail"].startswith("until ")
        assert first["entry"]["value"] == "evil.com"
        assert first["entry"]["created_by"] == "rex" and first["entry"]["source"] == "alert:12"
        assert answer["results"][3]["entry"]["expires_at"] == "2099-12-31T00:00:00+00:00"

        again = await client.post(
            LISTS, json={"entries": [{"value": "evil.com", "expires": "1h"}]}, headers=responder
        )
        (result,) = again.json()["results"]
        assert result["outcome"] == "unchanged"
        assert result["detail"].startswith("kept the later expiry")

        listed = await client.get(LISTS, headers=reader)
        assert listed.status_code == 200
        page = listed.json()
        assert (page["total"], page["limit"], page["offset"]) == (4, 100, 0)
        assert [e["value"] for e in page["items"]] == [
            "203.0.113.0/24",
            "safe.evil.com",
            "https://evil.com/login",
            "evil.com",
        ]
        allow = await client.get(LISTS, params={"list": "allow"}, headers=reader)
        assert [e["value"] for e in allow.json()["items"]] == ["safe.evil.com"]
        urls = await client.get(LISTS, params={"kind": "url", "q": "LOGIN"}, headers=reader)
        assert [e["value"] for e in urls.json()["items"]] == ["https://evil.com/login"]
        paged = await client.get(LISTS, params={"limit": 1, "offset": 1}, headers=reader)
        assert [e["value"] for e in paged.json()["items"]] == ["safe.evil.com"]
        assert paged.json()["total"] == 4
        by_source = await client.get(LISTS, params={"source": "alert:*"}, headers=reader)
        assert [e["value"] for e in by_source.json()["items"]] == ["evil.com"]

        hosts = await client.get(EXPORT, params={"format": "hosts"}, headers=reader)
        assert hosts.status_code == 200
        assert hosts.headers["content-type"].startswith("text/plain")
        assert hosts.text.splitlines()[2:] == ["# count: 1", "0.0.0.0 evil.com"]
        plain = await client.get(EXPORT, params={"format": "plain"}, headers=reader)
        assert plain.text == "evil.com\nhttps://evil.com/login\n203.0.113.0/24\n"
        allowed = await client.get(
            EXPORT, params={"format": "domains", "list": "allow"}, headers=reader
        )
        assert allowed.text.endswith("# count: 1\nsafe.evil.com\n")
        unknown = await client.get(EXPORT, params={"format": "bind9"}, headers=reader)
        assert unknown.status_code == 400
        assert "unknown export format 'bind9'" in unknown.json()["detail"]

        entry_id = first["entry"]["id"]
        shown = await client.get(f"{LISTS}/{entry_id}", headers=reader)
        assert shown.json()["value"] == "evil.com" and shown.json()["state"] == "active"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.READ_ONLY, False), (Role.RESPONDER, True), (Role.ANALYST, True), (Role.ADMIN, True)],
)
async def test_who_may_add_and_remove(ws_api, role, allowed):
    headers = ws_api.headers(role)
    async with ws_api.client() as client:
        seeded = await client.post(
            LISTS,
            json={"entries": [{"value": "seed.example"}]},
            headers=ws_api.headers(Role.RESPONDER),
        )
        seed_id = seeded.json()["results"][0]["entry"]["id"]
        added = await client.post(
            LISTS, json={"entries": [{"value": "evil.example"}]}, headers=headers
        )
        removed = await client.delete(f"{LISTS}/{seed_id}", headers=headers)
        readable = await client.get(LISTS, headers=headers)
        exported = await client.get(EXPORT, params={"format": "domains"}, headers=headers)
    assert readable.status_code == 200 and exported.status_code == 200
    if allowed:
        assert added.status_code == 200 and removed.status_code == 200
        assert removed.json()["state"] == "removed"
        assert removed.json()["removed_by"] == ws_api.username(role)
        assert exported.text.endswith("evil.example\n")
    else:
        assert (added.status_code, removed.status_code) == (403, 403)
        assert added.json()["error"] == "PermissionDeniedError"
        assert [e["value"] for e in readable.json()["items"]] == ["seed.example"]


async def test_removal_is_soft_audited_and_errors_map_to_statuses(ws_api):
    analyst = ws_api.headers(Role.ANALYST)
    async with ws_api.client() as client:
        created = await client.post(
            LISTS, json={"entries": [{"value": "evil.com"}]}, headers=analyst
        )
        entry_id = created.json()["results"][0]["entry"]["id"]
        gone = await client.delete(
            f"{LISTS}/{entry_id}", params={"reason": "false positive"}, headers=analyst
        )
        assert gone.status_code == 200
        assert (await client.get(LISTS, headers=analyst)).json()["items"] == []
        history = await client.get(LISTS, params={"include_removed": "true"}, headers=analyst)
        assert [e["state"] for e in history.json()["items"]] == ["removed"]
        kept = await client.get(f"{LISTS}/{entry_id}", headers=analyst)
        assert kept.json()["removed_by"] == "ana"

        twice = await client.delete(f"{LISTS}/{entry_id}", headers=analyst)
        assert twice.status_code == 409
        missing = await client.delete(f"{LISTS}/424242", headers=analyst)
        assert missing.status_code == 404
        assert (await client.get(f"{LISTS}/424242", headers=analyst)).status_code == 404

        invalid = await client.post(
            LISTS,
            json={"entries": [{"value": "ok.example"}, {"value": "10.0.0.1/8"}]},
            headers=analyst,
        )
        assert invalid.status_code == 400
        assert "did you mean '10.0.0.0/8'?" in invalid.json()["detail"]
        bad_expiry = await client.post(
            LISTS, json={"entries": [{"value": "ok.example", "expires": "soon"}]}, headers=analyst
        )
        assert bad_expiry.status_code == 400
        assert bad_expiry.json()["detail"].startswith("'ok.example': cannot read 'soon'")
        empty = await client.post(LISTS, json={"entries": []}, headers=analyst)
        assert empty.status_code == 422
        extra = await client.post(
            LISTS, json={"entries": [{"value": "x.example", "colour": "red"}]}, headers=analyst
        )
        assert extra.status_code == 422
        assert (await client.get(LISTS, headers=analyst)).json()["total"] == 0

    with ws_api.workspace.db.session() as session:
        audit = session.execute(
            select(AuditRecord.action, AuditRecord.actor, AuditRecord.detail)
            .where(AuditRecord.action.startswith("blocklist."))
            .order_by(AuditRecord.id)
        ).all()
    assert [(a, actor) for a, actor, _d in audit] == [
        ("blocklist.add", "ana"),
        ("blocklist.remove", "ana"),
    ]
    assert audit[1][2]["reason"] == "false positive" and audit[1][2]["value"] == "evil.com"
