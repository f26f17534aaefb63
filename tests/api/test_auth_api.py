"""Console sign-in over HTTP: cookie session, CSRF, rate limit, one-time password, audit."""

from __future__ import annotations

import pytest

from tests.api.conftest import TEST_PASSWORD
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio
LOGIN = "/api/v1/auth/login"


async def test_cookie_session_needs_csrf_for_changes(ws_api):
    async with ws_api.client() as client:
        bad = await client.post(LOGIN, json={"username": "ana", "password": "nope"})
        assert bad.status_code == 401
        assert bad.json() == {
            "error": "AuthenticationError",
            "detail": "wrong user name or password",
        }
        response = await client.post(LOGIN, json={"username": "ana", "password": TEST_PASSWORD})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert "tocsin_session=" in cookie and "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        csrf = response.json()["csrf_token"]
        me = await client.get("/api/v1/auth/me")  # the cookie jar sends the session
        assert me.status_code == 200 and me.json()["name"] == "ana"
        assert me.json()["role"] == "analyst" and "alert.close" in me.json()["permissions"]
        assert me.json()["csrf_token"] == csrf
        # a change without the CSRF header is refused, with it accepted
        body = {"name": "Blue team"}
        refused = await client.post("/api/v1/tokens", json={"scopes": ["read"]})
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        made = await client.post(
            "/api/v1/tokens", json={"scopes": ["read"]}, headers={"X-CSRF-Token": csrf}
        )
        assert made.status_code == 201 and made.json()["owner"] == "ana"
        # an analyst may not create teams even with a valid session
        team = await client.post("/api/v1/teams", json=body, headers={"X-CSRF-Token": csrf})
        assert team.status_code == 403
        out = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 200
        assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_login_is_rate_limited(ws_api):
    limit = ws_api.settings.login_max_failures
    async with ws_api.client() as client:
        for _ in range(limit):
            r = await client.post(LOGIN, json={"username": "rex", "password": "wrong guess!!"})
            assert r.status_code == 401
        locked = await client.post(LOGIN, json={"username": "rex", "password": TEST_PASSWORD})
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) >= 1
        assert locked.json()["error"] == "RateLimitedError"


async def test_one_time_password_must_be_changed_first(ws_api):
    admin = Principal.system()
    _user, one_time = ws_api.workspace.users.create_user(admin, "newbie", Role.ANALYST)
    async with ws_api.client() as client:
        login = await client.post(LOGIN, json={"username": "newbie", "password": one_time})
        assert login.json()["must_change_password"] is True
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        assert (await client.get("/api/v1/users")).status_code == 403
        changed = await client.post(
            "/api/v1/auth/password",
            json={"current": one_time, "new": "newbie's own passphrase"},
            headers=csrf,
        )
        assert changed.status_code == 200
        assert (await client.get("/api/v1/users")).status_code == 200


async def test_admin_manages_users_and_reads_the_audit_log(ws_api):
    admin = ws_api.headers(Role.ADMIN)
    async with ws_api.client() as client:
        made = await client.post(
            "/api/v1/users",
            json={"username": "sam", "role": "responder", "teams": ["Security"]},
            headers=admin,
        )
        assert made.status_code == 201
        assert made.json()["one_time_password"] and made.json()["user"]["teams"] == ["Security"]
        patched = await client.patch("/api/v1/users/sam", json={"role": "analyst"}, headers=admin)
        assert patched.json()["role"] == "analyst"
        users = await client.get("/api/v1/users", headers=ws_api.headers(Role.READ_ONLY))
        assert "sam" in {u["username"] for u in users.json()["items"]}
        assert all("password_hash" not in u for u in users.json()["items"])
        audit = await client.get(
            "/api/v1/audit", params={"action": "permission.change"}, headers=admin
        )
        assert audit.status_code == 200
        [change] = [e for e in audit.json()["items"] if e["target"] == "sam"]
        assert change["detail"] == {"field": "role", "before": "responder", "after": "analyst"}
        assert change["actor"] == "ada"
        uses = await client.get("/api/v1/audit", params={"action": "token.use"}, headers=admin)
        assert {e["actor"] for e in uses.json()["items"]} >= {"ada", "rita"}
        # the audit log cannot be changed through the API: no route takes anything but GET
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = await client.request(method, "/api/v1/audit", headers=admin)
            assert r.status_code == 405


async def test_search_export_is_audited(ws_api):
    async with ws_api.client() as client:
        r = await client.get(
            "/api/v1/search/export",
            params={"q": "", "format": "ndjson"},
            headers=ws_api.headers(Role.RESPONDER),
        )
        assert r.status_code == 200
        assert (
            await client.get("/api/v1/search/export", headers=ws_api.headers(Role.READ_ONLY))
        ).status_code == 403
    page = ws_api.workspace.history.audit(Principal.system(), action="export")
    assert [e.actor for e in page.items] == ["rex"]
