"""Users, teams, passwords, sessions and principals, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tocsin.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
    RateLimitedError,
)
from tocsin.core.settings import Settings
from tocsin.workspace.history import HistoryService
from tocsin.workspace.permissions import ROLE_PERMISSIONS, Permission, Principal, Role
from tocsin.workspace.tables import AuditRecord, User, UserSession
from tocsin.workspace.users import UserService

PASSWORD = "a long enough passphrase"


@pytest.fixture
def users(db, tmp_path):
    settings = Settings(home=tmp_path, login_max_failures=3, login_window_seconds=60)
    return UserService(db, settings)


def audit_actions(db) -> list[tuple[str, str, str | None]]:
    with db.session() as session:
        rows = session.execute(
            select(AuditRecord.action, AuditRecord.outcome, AuditRecord.target).order_by(
                AuditRecord.id
            )
        ).all()
        return [tuple(r) for r in rows]


def test_first_start_creates_one_admin_with_a_one_time_password(users):
    password = users.ensure_first_admin()
    assert password and len(password) >= 16
    assert users.ensure_first_admin() is None  # only once
    opened = users.login("admin", password)
    assert opened.user.role == "admin" and opened.user.must_change_password
    principal = users.principal_for_session(opened.cookie, csrf=None)
    # until the password changes, the session may do nothing else
    assert principal.permissions == frozenset()
    with pytest.raises(PermissionDeniedError):
        principal.require(Permission.ALERT_READ)
    users.change_password(principal, password, "my new admin passphrase")
    after = users.principal_for_session(opened.cookie, csrf=None)
    assert after.permissions == ROLE_PERMISSIONS[Role.ADMIN]


def test_passwords_are_argon2_hashed_and_checked(users, db, admin):
    user, generated = users.create_user(admin, "Bob", "analyst", password=PASSWORD)
    assert generated is None and user.username == "bob"
    with db.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "bob"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert users.login("bob", PASSWORD).user.id == user.id
    with pytest.raises(AuthenticationError, match="wrong user name or password"):
        users.login("bob", PASSWORD + "x")
    with pytest.raises(AuthenticationError, match="wrong user name or password"):
        users.login("nobody", PASSWORD)
    with pytest.raises(InvalidInputError, match="at least 12"):
        users.create_user(admin, "carol", "analyst", password="short")
    with pytest.raises(ConflictError):
        users.create_user(admin, "bob", "analyst", password=PASSWORD)
    actions = audit_actions(db)
    assert ("login", "success", None) in actions
    assert [a for a in actions if a[0] == "login" and a[1] == "failure"]


def test_failed_logins_are_rate_limited_per_user_name(users, admin):
    users.create_user(admin, "dave", "responder", password=PASSWORD)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            users.login("dave", "wrong password!!", ip="10.0.0.1")
    with pytest.raises(RateLimitedError) as caught:
        users.login("dave", PASSWORD, ip="10.0.0.2")  # right password, but locked
    assert 0 < caught.value.retry_after <= 60
    # another user from a fresh address is not affected
    users.create_user(admin, "erin", "responder", password=PASSWORD)
    assert users.login("erin", PASSWORD, ip="10.0.0.3").user.username == "erin"
    # and one address failing for many names is limited too
    for name in ("x1", "x2", "x3"):
        with pytest.raises(AuthenticationError):
            users.login(name, "nope nope nope", ip="10.9.9.9")
    with pytest.raises(RateLimitedError):
        users.login("erin", PASSWORD, ip="10.9.9.9")


def test_sessions_check_csrf_and_expire(users, db, admin):
    users.create_user(admin, "fay", "analyst", password=PASSWORD)
    opened = users.login("fay", PASSWORD)
    principal = users.principal_for_session(opened.cookie, csrf=opened.csrf_token)
    assert principal.name == "fay" and principal.role is Role.ANALYST
    with pytest.raises(PermissionDeniedError, match="CSRF"):
        users.principal_for_session(opened.cookie, csrf="")
    with pytest.raises(PermissionDeniedError, match="CSRF"):
        users.principal_for_session(opened.cookie, csrf="forged")
    with pytest.raises(AuthenticationError):
        users.principal_for_session("not-a-session", csrf=None)
    # idle too long
    with db.session() as session:
        session.execute(
            update(UserSession).values(last_seen_at=datetime.now(UTC) - timedelta(hours=2))
        )
    with pytest.raises(AuthenticationError, match="expired"):
        users.principal_for_session(opened.cookie, csrf=None)
    # the expired session is gone for good
    with pytest.raises(AuthenticationError, match="ended"):
        users.principal_for_session(opened.cookie, csrf=None)


def test_logout_ends_the_session(users, admin):
    users.create_user(admin, "gil", "read-only", password=PASSWORD)
    opened = users.login("gil", PASSWORD)
    principal = users.principal_for_session(opened.cookie, csrf=None)
    users.logout(principal)
    with pytest.raises(AuthenticationError):
        users.principal_for_session(opened.cookie, csrf=None)


def test_disabling_a_user_ends_its_sessions_and_tokens(users, admin):
    users.create_user(admin, "hal", "analyst", password=PASSWORD)
    opened = users.login("hal", PASSWORD)
    token, _info = users.create_token(admin, "hal's", ["write"], user="hal")
    assert users.principal_for_token(token).name == "hal"
    users.update_user(admin, "hal", disabled=True)
    with pytest.raises(AuthenticationError):
        users.principal_for_session(opened.cookie, csrf=None)
    with pytest.raises(AuthenticationError, match="disabled"):
        users.principal_for_token(token)
    with pytest.raises(AuthenticationError):
        users.login("hal", PASSWORD)


def test_token_permissions_are_role_and_scope_intersected(users, admin):
    users.create_user(admin, "ivy", "responder", password=PASSWORD)
    write_token, _ = users.create_token(admin, "w", ["write"], user="ivy")
    read_token, _ = users.create_token(admin, "r", ["read"], user="ivy")
    writer = users.principal_for_token(write_token)
    reader = users.principal_for_token(read_token)
    assert writer.can(Permission.ALERT_TRIAGE)  # responder role and write scope
    assert not writer.can(Permission.ALERT_CLOSE)  # write scope, but not the responder role
    assert not reader.can(Permission.ALERT_TRIAGE)  # responder role, but read scope
    assert reader.can(Permission.ALERT_READ)
    with pytest.raises(PermissionDeniedError, match="admin"):
        users.create_token(admin, "too much", ["admin"], user="ivy")
    # a system token (no owner) has exactly its scopes
    system_token, _ = users.tokens.create("forwarder", ["ingest"])
    forwarder = users.principal_for_token(system_token)
    assert forwarder.permissions == frozenset({Permission.INGEST})
    assert forwarder.name.startswith("token:")


def test_users_see_and_revoke_only_their_own_tokens(users, admin):
    jo, _ = users.create_user(admin, "jo", "analyst", password=PASSWORD)
    kim, _ = users.create_user(admin, "kim", "analyst", password=PASSWORD)
    as_jo = users.principal_for_token(users.create_token(admin, "jo", ["write"], user="jo")[0])
    kim_token, kim_info = users.create_token(admin, "kim", ["write"], user="kim")
    own, own_info = users.create_token(as_jo, "jo's laptop", ["read"])
    assert own_info.user_id == jo.id
    assert {t.user_id for t in users.list_tokens(as_jo)} == {jo.id}
    with pytest.raises(Exception, match="no token"):
        users.revoke_token(as_jo, kim_info.prefix)
    with pytest.raises(PermissionDeniedError):
        users.create_token(as_jo, "for kim", ["read"], user="kim")
    users.revoke_token(as_jo, own_info.prefix)
    with pytest.raises(AuthenticationError):
        users.principal_for_token(own)
    assert users.principal_for_token(kim_token).name == "kim"


def test_teams_membership_and_audit_of_permission_changes(users, db, admin):
    users.create_user(admin, "lee", "responder", password=PASSWORD)
    team = users.create_team(admin, "IT operations")
    users.add_member(admin, "IT operations", "lee")
    assert users.get_user(admin, "lee").teams == ("IT operations",)
    token, _ = users.create_token(admin, "t", ["write"], user="lee")
    assert users.principal_for_token(token).team_ids == (team.id,)
    users.update_user(admin, "lee", role="analyst")
    with pytest.raises(ConflictError):
        users.add_member(admin, "IT operations", "lee")
    users.remove_member(admin, "IT operations", "lee")
    assert users.list_teams(admin)[0].members == ()
    changes = [a for a in audit_actions(db) if a[0] == "permission.change"]
    assert len(changes) == 3 and all(target == "lee" for _a, _o, target in changes)
    entries = HistoryService(db).audit(admin, action="permission.change").items
    assert {e.detail.get("field") for e in entries} == {"team", "role"}


def test_only_admins_manage_users_and_the_last_admin_stays(users, analyst, reader):
    with pytest.raises(PermissionDeniedError):
        users.create_user(analyst, "mo", "analyst", password=PASSWORD)
    with pytest.raises(PermissionDeniedError):
        users.create_team(analyst, "Red team")
    assert users.list_users(reader) == []
    password = users.ensure_first_admin()
    assert password
    boss = Principal.system()
    with pytest.raises(ConflictError, match="last active admin"):
        users.update_user(boss, "admin", disabled=True)
    with pytest.raises(ConflictError, match="last active admin"):
        users.update_user(boss, "admin", role="analyst")
    users.create_user(boss, "second", "admin", password=PASSWORD)
    assert users.update_user(boss, "admin", disabled=True).disabled


def test_reset_password_forces_a_change(users, admin):
    users.create_user(admin, "ned", "analyst", password=PASSWORD)
    _user, one_time = users.reset_password(admin, "ned")
    with pytest.raises(AuthenticationError):
        users.login("ned", PASSWORD)
    opened = users.login("ned", one_time)
    assert opened.user.must_change_password
    principal = users.principal_for_session(opened.cookie, csrf=None)
    with pytest.raises(AuthenticationError, match="current password"):
        users.change_password(principal, "not the one-time one", "a fresh passphrase here")
    with pytest.raises(InvalidInputError):
        users.change_password(principal, one_time, one_time)
    users.change_password(principal, one_time, "a fresh passphrase here")
    assert users.login("ned", "a fresh passphrase here").user.must_change_password is False
