"""Signing in and out of the console, expiry, first-login password change, headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from tests.api.conftest import TEST_PASSWORD
from tests.api.console.conftest import login_token, sign_in
from tocsin.api.console import CSP
from tocsin.api.deps import SESSION_COOKIE
from tocsin.workspace.permissions import Role
from tocsin.workspace.tables import User, UserSession

pytestmark = pytest.mark.anyio


async def test_a_page_without_a_session_goes_to_login_and_comes_back(anonymous):
    response = await anonymous.get("/alerts?severity=high")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Falerts%3Fseverity%3Dhigh"
    login = await anonymous.get(response.headers["location"])
    assert 'name="next" value="/alerts?severity=high"' in login.text


async def test_login_sets_a_strict_httponly_cookie_and_lands_on_next(anonymous):
    token = await login_token(anonymous)
    response = await anonymous.post(
        "/login",
        data={"username": "ana", "password": TEST_PASSWORD, "csrf_token": token, "next": "/alerts"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/alerts"
    cookie = next(c for c in response.headers.get_list("set-cookie") if SESSION_COOKIE in c)
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert (await anonymous.get("/alerts")).status_code == 200


async def test_login_refuses_a_form_without_its_token_and_a_wrong_password(anonymous):
    await anonymous.get("/login")
    forged = await anonymous.post(
        "/login", data={"username": "ana", "password": TEST_PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 403
    assert SESSION_COOKIE not in anonymous.cookies
    token = await login_token(anonymous)
    wrong = await anonymous.post(
        "/login", data={"username": "ana", "password": "nope", "csrf_token": token}
    )
    assert wrong.status_code == 401
    assert "Wrong user name or password" in wrong.text


async def test_login_never_redirects_to_another_site(anonymous):
    token = await login_token(anonymous)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = await anonymous.post(
            "/login",
            data={
                "username": "ana",
                "password": TEST_PASSWORD,
                "csrf_token": token,
                "next": target,
            },
        )
        assert response.headers["location"] == "/", target
        token = await login_token(anonymous)


async def test_a_form_post_without_the_csrf_token_is_refused(console):
    browser = await console(Role.ANALYST)
    response = await browser.client.post(
        "/logout",
        data={"csrf_token": "wrong"},
    )
    assert response.status_code == 403
    assert (await browser.get("/alerts")).status_code == 200  # still signed in


async def test_logout_ends_the_session(console):
    browser = await console(Role.ANALYST)
    response = await browser.post("/logout")
    assert response.status_code == 303
    after = await browser.get("/alerts")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


async def test_an_idle_session_expires_and_the_login_page_says_so(console, ws_api):
    browser = await console(Role.ANALYST)
    long_ago = datetime.now(UTC) - timedelta(days=2)
    with ws_api.workspace.db.session() as session:
        session.execute(update(UserSession).values(last_seen_at=long_ago))
    response = await browser.get("/alerts")
    assert response.status_code == 303
    assert "expired=1" in response.headers["location"]
    assert "Your session expired" in (await browser.get(response.headers["location"])).text


async def test_first_login_must_change_the_password_before_anything_else(anonymous, ws_api):
    with ws_api.workspace.db.session() as session:
        session.execute(
            update(User).where(User.username == "ana").values(must_change_password=True)
        )
    browser = await sign_in(anonymous, "ana")
    blocked = await browser.get("/alerts")
    assert blocked.headers["location"] == "/account/password"
    page = await browser.get("/account/password")
    csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    browser.csrf = csrf
    mismatch = await browser.post(
        "/account/password", {"current": TEST_PASSWORD, "new": "a" * 14, "confirm": "b" * 14}
    )
    assert mismatch.status_code == 400
    done = await browser.post(
        "/account/password",
        {"current": TEST_PASSWORD, "new": "new pass phrase 42", "confirm": "new pass phrase 42"},
    )
    assert done.status_code == 303
    assert (await browser.get("/alerts")).status_code == 200


async def test_every_answer_carries_the_security_headers(console, anonymous):
    browser = await console(Role.ANALYST)
    for response in (
        await browser.get("/alerts"),
        await anonymous.get("/login"),
        await anonymous.get("/healthz"),
    ):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    assert "unsafe-inline" not in CSP
    assert "script-src 'self'" in CSP


async def test_a_role_without_the_permission_gets_a_403_page(console, ws_api):
    from tocsin.workspace.models import AlertDraft
    from tocsin.workspace.permissions import Principal

    system = Principal.system("test")
    ws_api.workspace.raise_alerts([AlertDraft("r", "untouched", "high")], actor=system)
    [alert] = ws_api.workspace.alerts.list(system, limit=1).items
    browser = await console(Role.READ_ONLY)
    response = await browser.post("/alerts/bulk", {"ids": alert.id, "action": "ack"})
    assert response.status_code == 403
    assert "Not allowed" in response.text
    assert ws_api.workspace.alerts.get(system, alert.id).status == "new"
