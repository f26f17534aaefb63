"""The admin pages: users, teams, roles, tokens, channels, data sources, audit log."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.api.conftest import TEST_PASSWORD, bearer
from tests.api.console.conftest import login_token, new_client, sign_in
from tocsin.api.console.common import FLASH_COOKIE
from tocsin.ingest.base import ParseIssue
from tocsin.ingest.quarantine import Quarantine
from tocsin.lake.writer import LakeWriter
from tocsin.workspace.permissions import Permission, Principal, Role
from tocsin.workspace.tables import Notification, NotificationChannel

pytestmark = pytest.mark.anyio

XSS = "<img src=x onerror=alert(1)>"
_SECRET = re.compile(r'<input id="secret"[^>]*value="([^"]+)"')
NOW = datetime.now(UTC)


def shown_secret(page_html: str) -> str:
    """The one-time secret a result page shows (unescaped)."""
    found = _SECRET.search(page_html)
    assert found, page_html[:2000]
    return html.unescape(found[1])


def user_id(ws_api, name: str) -> int:
    return ws_api.workspace.users.get_user(Principal.system("test"), name).id


async def flash_of(browser, url: str) -> str:
    """The note the next page shows after a redirect."""
    page = await browser.get(url)
    found = re.search(r'<div class="flash" role="status">([^<]*)</div>', page.text)
    return html.unescape(found[1]) if found else ""


# -- users --------------------------------------------------------------------------------------
async def test_an_admin_creates_a_user_and_sees_the_one_time_password_once(console, ws_api):
    admin = await console(Role.ADMIN)
    listing = await admin.get("/admin/users")
    assert listing.status_code == 200
    created = await admin.post(
        "/admin/users",
        {
            "username": "nina",
            "display_name": "Nina N",
            "email": "nina@example.org",
            "role": "responder",
            "teams": ["Security", "IT operations"],
        },
    )
    # the answer itself shows the password: no redirect, no flash cookie that could carry it
    assert created.status_code == 200
    assert "location" not in created.headers
    assert FLASH_COOKIE not in created.headers.get("set-cookie", "")
    password = shown_secret(created.text)
    assert len(password) >= 16
    assert created.headers["cache-control"] == "no-store"
    nina = ws_api.workspace.users.get_user(Principal.system("test"), "nina")
    assert nina.role == "responder"
    assert set(nina.teams) == {"Security", "IT operations"}
    assert nina.must_change_password
    # a reload of any admin page never shows it again
    for url in ("/admin/users", f"/admin/users/{nina.id}", "/admin", "/admin/audit"):
        again = await admin.get(url)
        assert again.status_code == 200, url
        assert password not in again.text, url
    listing = await admin.get("/admin/users")
    assert "must change password" in listing.text
    # the new user signs in with it and is sent to choose a password first
    async with new_client(ws_api) as client:
        token = await login_token(client)
        response = await client.post(
            "/login",
            data={"username": "nina", "password": password, "csrf_token": token, "next": "/"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/account/password"
        blocked = await client.get("/admin/tokens")
        assert blocked.headers["location"] == "/account/password"


async def test_a_password_reset_shows_a_new_one_time_password_once(console, ws_api):
    admin = await console(Role.ADMIN)
    rita = user_id(ws_api, "rita")
    page = await admin.get(f"/admin/users/{rita}")
    assert f'action="/admin/users/{rita}/reset-password"' in page.text
    reset = await admin.post(f"/admin/users/{rita}/reset-password")
    assert reset.status_code == 200
    password = shown_secret(reset.text)
    assert "New password for rita" in reset.text
    assert password not in (await admin.get(f"/admin/users/{rita}")).text
    async with new_client(ws_api) as client:
        token = await login_token(client)
        old = await client.post(
            "/login", data={"username": "rita", "password": TEST_PASSWORD, "csrf_token": token}
        )
        assert old.status_code == 401
        token = await login_token(client)
        new = await client.post(
            "/login", data={"username": "rita", "password": password, "csrf_token": token}
        )
        assert new.headers["location"] == "/account/password"


async def test_an_admin_changes_a_role_name_and_email_and_disables_a_user(console, ws_api):
    admin = await console(Role.ADMIN)
    rita = user_id(ws_api, "rita")
    await admin.get(f"/admin/users/{rita}")
    changed = await admin.post(
        f"/admin/users/{rita}",
        {"role": "analyst", "display_name": "Rita R", "email": "rita.r@example.org"},
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == f"/admin/users/{rita}"
    read = ws_api.workspace.users.get_user(Principal.system("test"), rita)
    assert (read.role, read.display_name, read.email) == ("analyst", "Rita R", "rita.r@example.org")
    page = await admin.get(f"/admin/users/{rita}")
    assert '<option value="analyst" selected>' in page.text
    # the change is audited as a permission change
    audit = await admin.get("/admin/audit?action=permission.change")
    assert "rita" in audit.text and "analyst" in audit.text

    assert (await admin.post(f"/admin/users/{rita}/disable")).status_code == 303
    assert ws_api.workspace.users.get_user(Principal.system("test"), rita).disabled
    assert "disabled" in (await admin.get("/admin/users")).text
    async with new_client(ws_api) as client:
        token = await login_token(client)
        refused = await client.post(
            "/login", data={"username": "rita", "password": TEST_PASSWORD, "csrf_token": token}
        )
        assert refused.status_code == 401
    assert (await admin.post(f"/admin/users/{rita}/enable")).status_code == 303
    async with new_client(ws_api) as client:
        await sign_in(client, "rita")


async def test_the_last_admin_cannot_be_demoted_and_the_page_says_why(console, ws_api):
    admin = await console(Role.ADMIN)
    ada = user_id(ws_api, "ada")
    await admin.get(f"/admin/users/{ada}")
    response = await admin.post(f"/admin/users/{ada}", {"role": "analyst"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/users/{ada}"
    assert "last active admin" in await flash_of(admin, response.headers["location"])
    assert ws_api.workspace.users.get_user(Principal.system("test"), ada).role == "admin"


async def test_an_analyst_may_look_but_every_change_is_refused(console, ws_api):
    analyst = await console(Role.ANALYST)
    page = await analyst.get("/admin/users")
    assert page.status_code == 200
    assert "rita" in page.text
    assert 'action="/admin/users"' not in page.text  # no create form
    rita = user_id(ws_api, "rita")
    detail = await analyst.get(f"/admin/users/{rita}")
    assert "reset-password" not in detail.text and "/disable" not in detail.text
    teams = await analyst.get("/admin/teams")
    assert 'action="/admin/teams"' not in teams.text and "/members" not in teams.text
    for url, data in (
        ("/admin/users", {"username": "mallory", "role": "admin"}),
        (f"/admin/users/{rita}", {"role": "admin"}),
        (f"/admin/users/{rita}/disable", {}),
        (f"/admin/users/{rita}/reset-password", {}),
        ("/admin/teams", {"name": "Shadow"}),
        (f"/admin/teams/{ws_api.team_ids['Security']}/delete", {}),
    ):
        response = await analyst.post(url, data)
        assert response.status_code == 403, url
        assert "Not allowed" in response.text
    users = ws_api.workspace.users
    system = Principal.system("test")
    assert "mallory" not in {u.username for u in users.list_users(system)}
    assert users.get_user(system, rita).role == "read-only"
    assert not users.get_user(system, rita).disabled
    assert {t.name for t in users.list_teams(system)} == {"Security", "IT operations"}
    for url in ("/admin/channels", "/admin/audit"):
        assert (await analyst.get(url)).status_code == 403, url


async def test_the_admin_nav_link_shows_for_an_admin(console):
    admin = await console(Role.ADMIN)
    page = await admin.get("/admin")
    assert page.status_code == 200
    assert '<a href="/admin" aria-current="page" class="active">Admin</a>' in page.text
    for part in ("/admin/users", "/admin/teams", "/admin/roles", "/admin/tokens"):
        assert f'href="{part}"' in page.text
    for part in ("/admin/channels", "/admin/data", "/admin/audit"):
        assert f'href="{part}"' in page.text


async def test_an_analyst_sees_no_admin_nav_link(console):
    analyst = await console(Role.ANALYST)
    page = await analyst.get("/alerts")
    assert 'href="/admin"' not in page.text


async def test_the_index_shows_only_the_parts_a_role_may_use(console):
    analyst = await console(Role.ANALYST)
    page = await analyst.get("/admin")
    assert page.status_code == 200
    assert 'href="/admin/tokens"' in page.text
    assert 'href="/admin/channels"' not in page.text
    assert 'href="/admin/audit"' not in page.text


# -- teams and roles ----------------------------------------------------------------------------
async def test_an_admin_creates_a_team_adds_and_removes_a_member_and_deletes_it(console, ws_api):
    admin = await console(Role.ADMIN)
    await admin.get("/admin/teams")
    created = await admin.post("/admin/teams", {"name": "Red team", "description": "offence"})
    assert created.status_code == 303
    system = Principal.system("test")
    team = next(t for t in ws_api.workspace.users.list_teams(system) if t.name == "Red team")
    rex = user_id(ws_api, "rex")
    added = await admin.post(f"/admin/teams/{team.id}/members", {"user_id": str(rex)})
    assert added.status_code == 303
    assert "Red team" in ws_api.workspace.users.get_user(system, rex).teams
    page = await admin.get("/admin/teams")
    assert "offence" in page.text
    assert f'action="/admin/teams/{team.id}/members/remove"' in page.text
    assert "Remove rex from Red team" in page.text
    removed = await admin.post(f"/admin/teams/{team.id}/members/remove", {"user_id": str(rex)})
    assert removed.status_code == 303
    assert "Red team" not in ws_api.workspace.users.get_user(system, rex).teams
    # adding nobody goes back with the reason, and changes nothing
    nobody = await admin.post(f"/admin/teams/{team.id}/members", {"user_id": ""})
    assert "choose a user" in await flash_of(admin, nobody.headers["location"])
    deleted = await admin.post(f"/admin/teams/{team.id}/delete")
    assert deleted.status_code == 303
    assert "Red team" not in {t.name for t in ws_api.workspace.users.list_teams(system)}


async def test_the_roles_matrix_lists_every_permission_per_role(console):
    browser = await console(Role.READ_ONLY)
    page = await browser.get("/admin/roles")
    assert page.status_code == 200
    for permission in Permission:
        assert f'<span class="mono">{permission.value}</span>' in page.text
    # user.manage: admin yes, the three others no; then the scopes: admin only
    row = page.text.split('<span class="mono">user.manage</span>')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="admin-yesno">(.*?)</td>', row)
    assert ["yes" in c for c in cells] == [True, False, False, False, False, False, False, True]


# -- tokens -------------------------------------------------------------------------------------
async def test_a_token_secret_is_shown_once_works_as_a_bearer_and_revoking_stops_it(
    console, ws_api
):
    admin = await console(Role.ADMIN)
    page = await admin.get("/admin/tokens")
    assert "New API token" in page.text and "New ingest token" in page.text
    created = await admin.post(
        "/admin/tokens",
        {"purpose": "api", "name": "ticket sync", "scopes": ["read"], "expires_days": "30"},
    )
    assert created.status_code == 200
    assert "location" not in created.headers
    secret = shown_secret(created.text)
    assert secret.startswith("tcn_")
    listing = await admin.get("/admin/tokens")
    assert secret not in listing.text
    prefix = secret.split("_")[1]
    assert prefix in listing.text and "ticket sync" in listing.text
    async with ws_api.client() as api:
        me = await api.get("/api/v1/auth/me", headers=bearer(secret))
        assert me.status_code == 200
        assert me.json()["name"] == "ada"
        assert me.json()["token"] == prefix
        assert "user.manage" not in me.json()["permissions"]  # a read token, though ada's
        revoked = await admin.post(f"/admin/tokens/{prefix}/revoke")
        assert revoked.status_code == 303
        assert (await api.get("/api/v1/auth/me", headers=bearer(secret))).status_code == 401
    assert "revoked" in (await admin.get("/admin/tokens")).text


async def test_an_ingest_token_has_its_own_form_and_list_and_only_ingests(console, ws_api):
    admin = await console(Role.ADMIN)
    await admin.get("/admin/tokens")
    created = await admin.post(
        "/admin/tokens",
        # a scope smuggled into the ingest form is ignored: the ingest token has only ingest
        {"purpose": "ingest", "name": "fluent-bit web01", "owner": "system", "scopes": ["admin"]},
    )
    assert created.status_code == 200
    assert "Ingest token fluent-bit web01 created" in created.text
    assert "/api/v1/ingest" in created.text
    secret = shown_secret(created.text)
    info = next(t for t in ws_api.workspace.tokens.list() if t.name == "fluent-bit web01")
    assert info.scopes == ("ingest",)
    assert info.owner == "system" and info.user_id is None
    listing = (await admin.get("/admin/tokens")).text
    ingest_part = listing.split('id="h-ingest"')[1].split('id="h-api"')[0]
    assert "fluent-bit web01" in ingest_part
    async with ws_api.client() as api:
        refused = await api.get("/api/v1/alerts", headers=bearer(secret))
        assert refused.status_code == 403


async def test_an_analyst_sees_and_revokes_only_its_own_tokens(console, ws_api):
    analyst = await console(Role.ANALYST)
    page = await analyst.get("/admin/tokens")
    assert page.status_code == 200
    assert "ana-token" in page.text and "ada-token" not in page.text
    # an analyst cannot ingest, so no ingest form; its API scopes stop at write
    assert 'value="ingest"' not in page.text
    assert 'name="scopes" value="admin"' not in page.text
    assert 'name="owner"' not in page.text
    ada_token = next(t for t in ws_api.workspace.tokens.list() if t.name == "ada-token")
    response = await analyst.post(f"/admin/tokens/{ada_token.prefix}/revoke")
    assert response.status_code == 303  # back with a note, nothing done
    assert "no token" in await flash_of(analyst, "/admin/tokens")
    assert next(t for t in ws_api.workspace.tokens.list() if t.name == "ada-token").is_active
    smuggled = await analyst.post("/admin/tokens", {"purpose": "api", "scopes": ["admin"]})
    assert smuggled.status_code == 403
    for_system = await analyst.post("/admin/tokens", {"purpose": "ingest", "owner": "system"})
    assert for_system.status_code == 403
    made = await analyst.post(
        "/admin/tokens", {"purpose": "api", "name": "mine", "scopes": ["read"]}
    )
    assert made.status_code == 200
    mine = next(t for t in ws_api.workspace.tokens.list() if t.name == "mine")
    assert mine.owner == "ana"


# -- notification channels ---------------------------------------------------------------------
async def test_channel_secrets_are_stored_but_never_shown(console, ws_api):
    admin = await console(Role.ADMIN)
    await admin.get("/admin/channels")
    hook = await admin.post(
        "/admin/channels",
        {
            "kind": "webhook",
            "name": "SOAR hook",
            "url": "https://soar.corp.test/T0-SECRET-PATH",
            "secret": "signing-s3cret",
            "headers": "X-Api-Key: header-s3cret",
            "enabled": "1",
        },
    )
    assert hook.status_code == 303
    mail = await admin.post(
        "/admin/channels",
        {
            "kind": "email",
            "name": "SOC mail",
            "host": "smtp.example.org",
            "username": "soc",
            "password": "smtp-pa55word",
            "from_address": "soc@example.org",
            "to_addresses": "team@example.org",
            "enabled": "1",
        },
    )
    assert mail.status_code == 303
    with ws_api.workspace.db.session() as session:
        stored = {
            c.name: dict(c.config) for c in session.scalars(select(NotificationChannel)).all()
        }
    assert stored["SOAR hook"]["url"] == "https://soar.corp.test/T0-SECRET-PATH"
    assert stored["SOAR hook"]["headers"] == {"X-Api-Key": "header-s3cret"}
    assert stored["SOC mail"]["password"] == "smtp-pa55word"
    page = await admin.get("/admin/channels")
    for secret in ("T0-SECRET-PATH", "soar.corp.test", "signing-s3cret", "header-s3cret"):
        assert secret not in page.text
    assert "smtp-pa55word" not in page.text
    assert "********" not in page.text
    assert page.text.count("set (hidden)") == 4  # url, secret, headers, password
    assert "smtp.example.org" in page.text and "team@example.org" in page.text


async def test_a_channel_is_tested_disabled_enabled_and_deleted(console, ws_api):
    admin = await console(Role.ADMIN)
    await admin.get("/admin/channels")
    # nothing listens on the discard port: the test fails at once, and says so
    await admin.post(
        "/admin/channels",
        {"kind": "slack", "name": "Ops Slack", "url": "http://127.0.0.1:9/services/SECRET"},
    )
    system = Principal.system("test")
    channel = ws_api.workspace.channels.list_channels(system).items[0]
    assert not channel.enabled  # the box was not ticked
    tested = await admin.post(f"/admin/channels/{channel.id}/test")
    assert tested.status_code == 303
    note = await flash_of(admin, "/admin/channels")
    assert note.startswith("Test message failed")
    assert "SECRET" not in note
    audit = ws_api.workspace.history.audit(system, action="channel.test").items
    assert audit[0].outcome == "failure"
    await admin.post(f"/admin/channels/{channel.id}/enable")
    assert ws_api.workspace.channels.get_channel(system, channel.id).enabled
    page = await admin.get("/admin/channels")
    assert f'action="/admin/channels/{channel.id}/disable"' in page.text
    await admin.post(f"/admin/channels/{channel.id}/disable")
    assert not ws_api.workspace.channels.get_channel(system, channel.id).enabled
    await admin.post(f"/admin/channels/{channel.id}/delete")
    assert ws_api.workspace.channels.list_channels(system).total == 0


async def test_a_bad_channel_config_goes_back_with_the_reason(console, ws_api):
    admin = await console(Role.ADMIN)
    await admin.get("/admin/channels")
    response = await admin.post(
        "/admin/channels", {"kind": "webhook", "name": "Broken", "url": "ftp://nope"}
    )
    assert response.status_code == 303
    note = await flash_of(admin, response.headers["location"])
    assert note.startswith("Not done: webhook channel: 'url' must be an http")
    assert ws_api.workspace.channels.list_channels(Principal.system("t")).total == 0


async def test_failed_deliveries_are_listed_and_retried(console, ws_api):
    system = Principal.system("test")
    channel = ws_api.workspace.channels.create_channel(
        system, "Hook", "webhook", {"url": "https://hooks.example.org/x"}
    )
    with ws_api.workspace.db.session() as session:
        for status, subject in (("failed", "Alert 7 raised"), ("sent", "Alert 8 raised")):
            session.add(
                Notification(
                    channel_id=channel.id,
                    event="alert.created",
                    subject=subject,
                    payload={},
                    recipients=[],
                    status=status,
                    attempts=6 if status == "failed" else 1,
                    last_error="endpoint answered 500" if status == "failed" else None,
                    created_at=NOW,
                    next_attempt_at=NOW,
                    sent_at=NOW if status == "sent" else None,
                )
            )
    admin = await console(Role.ADMIN)
    page = await admin.get("/admin/channels")
    assert "Alert 7 raised" in page.text and "Alert 8 raised" in page.text
    assert "endpoint answered 500" in page.text
    failed = ws_api.workspace.channels.list_notifications(system, "failed").items[0]
    assert page.text.count('action="/admin/notifications/') == 1
    only_failed = await admin.get("/admin/channels?status=failed")
    assert "Alert 7 raised" in only_failed.text and "Alert 8 raised" not in only_failed.text
    retried = await admin.post(f"/admin/notifications/{failed.id}/retry")
    assert retried.status_code == 303
    assert ws_api.workspace.channels.list_notifications(system, "pending").items[0].id == failed.id


# -- data sources and audit --------------------------------------------------------------------
async def test_the_data_sources_page_lists_datasets_retention_and_quarantine(console, ws_api):
    settings = ws_api.settings.model_copy(
        update={"retention_days": {"*": 30, "zeek.conn": 7, "gone.dataset": 5}}
    )
    ws_api.services.settings = settings
    writer = LakeWriter(settings.lake_dir)
    writer.add(
        [
            {
                "event.id": f"z-{i}",
                "@timestamp": NOW - timedelta(minutes=i),
                "event.ingested": NOW,
                "event.dataset": "zeek.conn",
                "event.original": f"line {i}",
            }
            for i in range(3)
        ]
        + [
            {
                "event.id": "s-1",
                "@timestamp": NOW,
                "event.ingested": NOW,
                "event.dataset": "syslog",
                "event.original": "x",
            }
        ]
    )
    writer.flush()
    writer.close()
    Quarantine(settings.quarantine_dir).add(
        [
            ParseIssue("/var/log/fw.log", i * 10, i + 1, f"bad line {XSS}", b"raw", "syslog")
            for i in range(2)
        ],
        identity="fw",
    )
    browser = await console(Role.READ_ONLY)
    page = await browser.get("/admin/data")
    assert page.status_code == 200
    row = page.text.split("zeek.conn</a></td>")[1].split("</tr>")[0]
    assert '<td class="num">3</td>' in row
    assert "7 days" in row and "own setting" in row
    syslog_row = page.text.split("syslog</a></td>")[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in syslog_row and "30 days" in syslog_row
    assert "gone.dataset" in page.text and "(not in the lake)" in page.text
    assert "retention_days" in page.text and "TOCSIN_RETENTION_DAYS" in page.text
    assert str(settings.home / "tocsin.toml") in page.text
    assert "/api/v1/ingest" in page.text
    assert "127.0.0.1:5514" in page.text
    assert "/var/log/fw.log" in page.text
    assert XSS not in page.text and html.escape(XSS) in page.text


async def test_the_audit_log_filters_by_action_and_actor(console, ws_api):
    admin = await console(Role.ADMIN)
    await admin.get("/admin/teams")
    await admin.post("/admin/teams", {"name": "Blue team"})
    page = await admin.get("/admin/audit?action=team.create&who=ada")
    assert page.status_code == 200
    assert "Blue team" in page.text
    assert "(1)" in page.text  # the setup's teams were made by test-setup, not ada
    logins = await admin.get("/admin/audit?action=login")
    assert "team.create</a>" not in logins.text and "login</a>" in logins.text
    bad = await admin.get("/admin/audit?since=yesterdayish")
    assert bad.status_code == 200
    assert "the time filter was left out" in bad.text


# -- escaping -----------------------------------------------------------------------------------
async def test_every_admin_page_escapes_what_users_typed(console, ws_api):
    admin = await console(Role.ADMIN)
    await admin.get("/admin/users")
    created = await admin.post(
        "/admin/users", {"username": "eve", "display_name": XSS, "role": "analyst"}
    )
    assert XSS not in created.text
    await admin.post("/admin/teams", {"name": XSS, "description": XSS})
    await admin.post("/admin/tokens", {"purpose": "api", "name": XSS, "scopes": ["read"]})
    system = Principal.system("test")
    ws_api.workspace.channels.create_channel(
        system, XSS, "webhook", {"url": "https://hooks.example.org/x"}
    )
    eve = user_id(ws_api, "eve")
    for url in (
        "/admin/users",
        f"/admin/users/{eve}",
        "/admin/teams",
        "/admin/tokens",
        "/admin/channels",
        "/admin/audit",
    ):
        page = await admin.get(url)
        assert page.status_code == 200, url
        assert XSS not in page.text, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text, url
