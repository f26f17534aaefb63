"""The cases API through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from tests.workspace.case_helpers import add_alert
from tocsin.workspace.permissions import Role

pytestmark = pytest.mark.anyio

ANA, REX, RITA, ADA = Role.ANALYST, Role.RESPONDER, Role.READ_ONLY, Role.ADMIN


async def create(client, ws_api, role=ANA, **body):
    response = await client.post("/api/v1/cases", json=body, headers=ws_api.headers(role))
    assert response.status_code == 201, response.text
    return response.json()


async def test_case_lifecycle_over_http(ws_api):
    security = ws_api.team_ids["Security"]
    rex_id = ws_api.user_ids[REX]
    async with ws_api.client() as client:
        case = await create(
            client,
            ws_api,
            title="Phishing wave",
            severity="high",
            team_id=security,
            tags=["phishing"],
        )
        assert (case["status"], case["version"], case["created_by"]) == ("new", 1, "ana")
        got = await client.get(f"/api/v1/cases/{case['id']}", headers=ws_api.headers(RITA))
        assert got.status_code == 200
        assert got.headers["etag"] == '"1"'
        assert got.json()["counts"]["tasks"] == 0

        patched = await client.patch(
            f"/api/v1/cases/{case['id']}",
            json={"version": 1, "assignee_id": rex_id, "status": "in_progress"},
            headers=ws_api.headers(REX),
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["assignee_id"] == rex_id
        assert patched.headers["etag"] == '"2"'
        # If-Match works in place of the body's version.
        by_header = await client.patch(
            f"/api/v1/cases/{case['id']}",
            json={"summary": "blocking sender"},
            headers={**ws_api.headers(REX), "If-Match": 'W/"2"'},
        )
        assert by_header.status_code == 200, by_header.text
        no_version = await client.patch(
            f"/api/v1/cases/{case['id']}", json={"title": "x"}, headers=ws_api.headers(REX)
        )
        assert no_version.status_code == 400
        assert "version" in no_version.json()["detail"]
        unknown = await client.patch(
            f"/api/v1/cases/{case['id']}",
            json={"version": 3, "classification": "duplicate"},
            headers=ws_api.headers(REX),
        )
        assert unknown.status_code == 422

        listed = await client.get(
            "/api/v1/cases",
            params={"status": "open", "team_id": security, "q": "PHISH", "sort": "-severity"},
            headers=ws_api.headers(RITA),
        )
        assert listed.status_code == 200
        body = listed.json()
        assert (body["total"], body["limit"], body["offset"]) == (1, 100, 0)
        assert body["items"][0]["summary"] == "blocking sender"
        bad_sort = await client.get(
            "/api/v1/cases", params={"sort": "secret"}, headers=ws_api.headers(RITA)
        )
        assert bad_sort.status_code == 400

        closed = await client.post(
            f"/api/v1/cases/{case['id']}/close",
            json={"classification": "true_positive", "summary": "done"},
            headers=ws_api.headers(ANA),
        )
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed"
        reopened = await client.post(
            f"/api/v1/cases/{case['id']}/reopen", headers=ws_api.headers(ANA)
        )
        assert reopened.json()["status"] == "in_progress"
        history = await client.get(
            f"/api/v1/cases/{case['id']}/history", headers=ws_api.headers(RITA)
        )
        actions = [(h["action"], h["field"], h["actor"]) for h in history.json()["items"]]
        assert actions[0] == ("create", None, "ana")
        assert ("update", "assignee_id", "rex") in actions
        assert ("reopen", "status", "ana") in actions
        missing = await client.get("/api/v1/cases/999999", headers=ws_api.headers(RITA))
        assert missing.status_code == 404
        assert missing.json()["error"] == "NotFoundError"


async def test_two_analysts_patching_the_same_version_get_200_and_409(ws_api):
    async with ws_api.client() as client:
        case = await create(client, ws_api, title="C2 traffic", severity="medium")
        url = f"/api/v1/cases/{case['id']}"
        seen_by_ana = (await client.get(url, headers=ws_api.headers(ANA))).json()["version"]
        seen_by_rex = (await client.get(url, headers=ws_api.headers(REX))).json()["version"]
        first = await client.patch(
            url, json={"version": seen_by_ana, "severity": "high"}, headers=ws_api.headers(ANA)
        )
        assert first.status_code == 200
        second = await client.patch(
            url,
            json={"version": seen_by_rex, "title": "C2 to 203.0.113.8"},
            headers=ws_api.headers(REX),
        )
        assert second.status_code == 409
        assert second.json()["error"] == "ConflictError"
        assert "reload" in second.json()["detail"]
        reloaded = await client.get(url, headers=ws_api.headers(REX))
        retry = await client.patch(
            url,
            json={"title": "C2 to 203.0.113.8"},
            headers={**ws_api.headers(REX), "If-Match": reloaded.headers["etag"]},
        )
        assert retry.status_code == 200
        final = (await client.get(url, headers=ws_api.headers(RITA))).json()
        assert (final["severity"], final["title"]) == ("high", "C2 to 203.0.113.8")

        # Sent at the same time with the same version: exactly one wins.
        version = final["version"]
        answers = await asyncio.gather(
            client.patch(
                url, json={"version": version, "summary": "ana's"}, headers=ws_api.headers(ANA)
            ),
            client.patch(
                url, json={"version": version, "tags": ["rex"]}, headers=ws_api.headers(REX)
            ),
        )
        assert sorted(a.status_code for a in answers) == [200, 409]


async def test_parts_over_http(ws_api):
    async with ws_api.client() as client:
        case = await create(client, ws_api, title="Web shell", severity="critical")
        base = f"/api/v1/cases/{case['id']}"
        task = await client.post(
            f"{base}/tasks",
            json={"title": "Take image", "due_at": "2031-01-02T03:04:05Z"},
            headers=ws_api.headers(REX),
        )
        assert task.status_code == 201, task.text
        assert task.json()["due_at"] == "2031-01-02T03:04:05+00:00"
        task_id = task.json()["id"]
        done = await client.patch(
            f"/api/v1/tasks/{task_id}",
            json={"version": 1, "status": "done"},
            headers=ws_api.headers(REX),
        )
        assert done.status_code == 200
        assert done.json()["completed_at"] is not None
        stale = await client.patch(
            f"/api/v1/tasks/{task_id}",
            json={"version": 1, "status": "open"},
            headers=ws_api.headers(REX),
        )
        assert stale.status_code == 409
        tasks = await client.get(f"{base}/tasks", headers=ws_api.headers(RITA))
        assert [t["status"] for t in tasks.json()["items"]] == ["done"]

        obs = await client.post(
            f"{base}/observables",
            json={"type": "url", "value": "http://x.example/shell.php", "tlp": "red", "ioc": True},
            headers=ws_api.headers(REX),
        )
        assert obs.status_code == 201, obs.text
        dup = await client.post(
            f"{base}/observables",
            json={"type": "url", "value": "http://x.example/shell.php"},
            headers=ws_api.headers(REX),
        )
        assert dup.status_code == 409
        bad = await client.post(
            f"{base}/observables", json={"type": "mac", "value": "aa"}, headers=ws_api.headers(REX)
        )
        assert bad.status_code == 400
        gone = await client.delete(
            f"{base}/observables/{obs.json()['id']}", headers=ws_api.headers(REX)
        )
        assert gone.status_code == 204
        listed = await client.get(f"{base}/observables", headers=ws_api.headers(RITA))
        assert listed.json()["total"] == 0

        comment = await client.post(
            f"{base}/comments", json={"body": "shell removed"}, headers=ws_api.headers(REX)
        )
        assert comment.status_code == 201
        empty = await client.post(
            f"{base}/comments", json={"body": " "}, headers=ws_api.headers(REX)
        )
        assert empty.status_code == 400
        comments = await client.get(f"{base}/comments", headers=ws_api.headers(RITA))
        assert [c["body"] for c in comments.json()["items"]] == ["shell removed"]

        entry = await client.post(
            f"{base}/timeline",
            json={"occurred_at": "2020-01-01T00:00:00Z", "title": "Shell uploaded"},
            headers=ws_api.headers(REX),
        )
        assert entry.status_code == 201
        timeline = (await client.get(f"{base}/timeline", headers=ws_api.headers(RITA))).json()
        assert timeline["items"][0]["title"] == "Shell uploaded"
        assert {"entry", "comment", "task_done", "history"} <= {
            i["kind"] for i in timeline["items"]
        }
        counts = (await client.get(base, headers=ws_api.headers(RITA))).json()["counts"]
        assert (counts["tasks"], counts["comments"], counts["observables"]) == (1, 1, 0)


async def test_attachment_upload_and_safe_download(ws_api):
    data = b"<html><script>alert(1)</script></html>"
    async with ws_api.client() as client:
        case = await create(client, ws_api, title="Drive-by", severity="high")
        base = f"/api/v1/cases/{case['id']}"
        uploaded = await client.post(
            f"{base}/attachments",
            files={"file": ("../../etc/evil page.html", data, "text/html")},
            headers=ws_api.headers(REX),
        )
        assert uploaded.status_code == 201, uploaded.text
        att = uploaded.json()
        assert att["filename"] == "evil page.html"
        assert att["sha256"] == hashlib.sha256(data).hexdigest()
        assert att["size"] == len(data)
        assert (ws_api.settings.attachments_dir / att["sha256"]).read_bytes() == data

        download = await client.get(
            f"/api/v1/attachments/{att['id']}", headers=ws_api.headers(RITA)
        )
        assert download.status_code == 200
        assert download.content == data
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert "evil%20page.html" in download.headers["content-disposition"]
        assert download.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in download.headers["content-security-policy"]
        anonymous = await client.get(f"/api/v1/attachments/{att['id']}")
        assert anonymous.status_code == 401

        listed = await client.get(f"{base}/attachments", headers=ws_api.headers(RITA))
        assert [a["id"] for a in listed.json()["items"]] == [att["id"]]
        no_file = await client.post(
            f"{base}/attachments", data={"other": "x"}, headers=ws_api.headers(REX)
        )
        assert no_file.status_code == 400
        assert "'file'" in no_file.json()["detail"]
        refused = await client.post(
            f"{base}/attachments",
            files={"file": ("a.txt", b"x", "text/plain")},
            headers=ws_api.headers(RITA),
        )
        assert refused.status_code == 403


async def test_attachment_over_the_limit_is_refused(ws_api):
    limit = 2048
    ws_api.services.settings = ws_api.settings.model_copy(update={"attachment_max_bytes": limit})
    ws_api.workspace.cases.settings = ws_api.services.settings
    async with ws_api.client() as client:
        case = await create(client, ws_api, title="Big files", severity="low")
        url = f"/api/v1/cases/{case['id']}/attachments"
        just = await client.post(
            url, files={"file": ("ok.bin", b"a" * limit)}, headers=ws_api.headers(REX)
        )
        assert just.status_code == 201
        over = await client.post(
            url, files={"file": ("big.bin", b"a" * (limit + 1))}, headers=ws_api.headers(REX)
        )
        assert over.status_code == 413
        assert over.json() == {
            "error": "AttachmentTooLargeError",
            "detail": f"the attachment is larger than the limit of {limit} bytes "
            "(setting attachment_max_bytes)",
            "limit": limit,
        }
        # A declared length far past the limit is refused before the body is parsed.
        huge = await client.post(
            url,
            files={"file": ("huge.bin", b"a" * (limit + 200_000))},
            headers=ws_api.headers(REX),
        )
        assert huge.status_code == 413

        async def chunks():
            yield b"--b\r\nContent-Disposition: form-data; name=file; filename=a\r\n\r\n"
            yield b"a" * 10
            yield b"\r\n--b--\r\n"

        chunked = await client.post(
            url,
            content=chunks(),
            headers={**ws_api.headers(REX), "Content-Type": "multipart/form-data; boundary=b"},
        )
        assert chunked.status_code == 411
        assert "Content-Length" in chunked.json()["detail"]
        listed = await client.get(url, headers=ws_api.headers(RITA))
        assert listed.json()["total"] == 1


async def test_alerts_merge_and_templates_over_http(ws_api):
    db = ws_api.workspace.db
    a1 = add_alert(db, "Brute force on vpn", "high", observables=(("ip", "192.0.2.1"),))
    a2 = add_alert(db, "Brute force on owa", "medium", observables=(("ip", "192.0.2.1"),))
    async with ws_api.client() as client:
        tpl = await client.post(
            "/api/v1/case-templates",
            json={
                "name": "brute-force",
                "title": "Brute force",
                "severity": "medium",
                "description": "Reset, block, review.",
                "tasks": [{"title": "Block IP"}],
            },
            headers=ws_api.headers(ANA),
        )
        assert tpl.status_code == 201, tpl.text
        refused = await client.post(
            "/api/v1/case-templates",
            json={"name": "x", "title": "x", "severity": "low"},
            headers=ws_api.headers(REX),
        )
        assert refused.status_code == 403
        target = await create(client, ws_api, template="brute-force", alert_ids=[a1])
        assert (target["title"], target["severity"]) == ("Brute force", "high")
        assert target["counts"] == {
            "tasks": 1,
            "observables": 1,
            "alerts": 1,
            "comments": 0,
            "attachments": 0,
        }
        source = await create(client, ws_api, template="brute-force", title="OWA")
        taken = await client.post(
            f"/api/v1/cases/{source['id']}/alerts",
            json={"alert_ids": [a1]},
            headers=ws_api.headers(REX),
        )
        assert taken.status_code == 409
        assert f"case #{target['id']}" in taken.json()["detail"]
        linked = await client.post(
            f"/api/v1/cases/{source['id']}/alerts",
            json={"alert_ids": [a2]},
            headers=ws_api.headers(REX),
        )
        assert linked.status_code == 200
        alerts = await client.get(
            f"/api/v1/cases/{source['id']}/alerts", headers=ws_api.headers(RITA)
        )
        assert [a["id"] for a in alerts.json()["items"]] == [a2]
        no_merge = await client.post(
            f"/api/v1/cases/{target['id']}/merge",
            json={"source_ids": [source["id"]]},
            headers=ws_api.headers(REX),
        )
        assert no_merge.status_code == 403
        merged = await client.post(
            f"/api/v1/cases/{target['id']}/merge",
            json={"source_ids": [source["id"]]},
            headers=ws_api.headers(ANA),
        )
        assert merged.status_code == 200, merged.text
        body = merged.json()
        assert body["description"] == "Reset, block, review."
        assert (body["counts"]["alerts"], body["counts"]["observables"]) == (2, 1)
        assert body["counts"]["tasks"] == 2
        itself = await client.post(
            f"/api/v1/cases/{target['id']}/merge",
            json={"source_ids": [target["id"]]},
            headers=ws_api.headers(ANA),
        )
        assert itself.status_code == 400
        templates = await client.get("/api/v1/case-templates", headers=ws_api.headers(RITA))
        assert [t["name"] for t in templates.json()["items"]] == ["brute-force"]
        one = await client.get("/api/v1/case-templates/brute-force", headers=ws_api.headers(RITA))
        assert one.json()["tasks"] == [{"title": "Block IP", "description": ""}]
        deleted = await client.delete(
            f"/api/v1/case-templates/{tpl.json()['id']}", headers=ws_api.headers(ANA)
        )
        assert deleted.status_code == 204
        again = await client.delete(
            "/api/v1/case-templates/brute-force", headers=ws_api.headers(ANA)
        )
        assert again.status_code == 404


@pytest.mark.parametrize(
    ("role", "create_status", "comment_status", "close_status"),
    [(RITA, 403, 403, 403), (REX, 403, 201, 403), (ANA, 201, 201, 200), (ADA, 201, 201, 200)],
)
async def test_roles_over_http(ws_api, role, create_status, comment_status, close_status):
    async with ws_api.client() as client:
        case = await create(client, ws_api, title="Role check", severity="low")
        made = await client.post(
            "/api/v1/cases", json={"title": "t", "severity": "low"}, headers=ws_api.headers(role)
        )
        assert made.status_code == create_status
        commented = await client.post(
            f"/api/v1/cases/{case['id']}/comments",
            json={"body": "hi"},
            headers=ws_api.headers(role),
        )
        assert commented.status_code == comment_status
        closed = await client.post(
            f"/api/v1/cases/{case['id']}/close",
            json={"classification": "false_positive"},
            headers=ws_api.headers(role),
        )
        assert closed.status_code == close_status
        read = await client.get(f"/api/v1/cases/{case['id']}", headers=ws_api.headers(role))
        assert read.status_code == 200
