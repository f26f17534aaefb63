"""People: users, teams, roles, passwords, console sessions, and who a request is.

Passwords are hashed with argon2id (argon2-cffi). A console session is a random cookie of
which only the SHA-256 is stored, with its own CSRF token. Failed logins are rate limited per
user name and per client address. Tokens are tied to users: a token may do what its owner's
role allows and its scopes allow, and stops working when its owner is disabled.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tocsin.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tocsin.core.settings import Settings
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_audit
from tocsin.workspace.passwords import (
    LoginLimiter,
    check_password_policy,
    dummy_hash,
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from tocsin.workspace.permissions import (
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    scope_permissions,
)
from tocsin.workspace.tables import Team, TeamMember, User, UserSession
from tocsin.workspace.tokens import TokenInfo, TokenService

logger = logging.getLogger(__name__)

FIRST_ADMIN = "admin"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,99}$")
_CACHE_SECONDS = 5.0
_TOKEN_AUDIT_SECONDS = 600.0
_SEEN_WRITE_SECONDS = 60.0


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class UserRead:
    """A user as lists show it (never the password hash)."""

    id: int
    username: str
    display_name: str
    email: str | None
    role: str
    disabled: bool
    must_change_password: bool
    teams: tuple[str, ...]
    created_at: datetime
    last_login_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "email": self.email,
            "role": self.role,
            "disabled": self.disabled,
            "must_change_password": self.must_change_password,
            "teams": list(self.teams),
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


@dataclass(frozen=True, slots=True)
class TeamRead:
    """A team and its members' user names."""

    id: int
    name: str
    description: str
    members: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "members": list(self.members),
        }


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened: the cookie value and CSRF token are shown only now."""

    cookie: str
    csrf_token: str
    expires_at: datetime
    user: UserRead


class UserService:
    """Users, teams, passwords, sessions, and resolving a request to a Principal."""

    def __init__(
        self, db: Database, settings: Settings, tokens: TokenService | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.tokens = tokens or TokenService(db)
        self.limiter = LoginLimiter(settings.login_max_failures, settings.login_window_seconds)
        self._user_cache: dict[int, tuple[float, User | None, tuple[int, ...]]] = {}
        self._token_audit: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- users ---------------------------------------------------------------------------
    def create_user(
        self,
        actor: Principal,
        username: str,
        role: Role | str,
        *,
        password: str | None = None,
        display_name: str = "",
        email: str | None = None,
        teams: tuple[str, ...] | list[str] = (),
    ) -> tuple[UserRead, str | None]:
        """Create a user; without ``password`` a one-time one is made and returned.

        A generated password must be changed at first login.
        """
        actor.require(Permission.USER_MANAGE)
        name = username.strip().lower()
        if not _USERNAME.match(name):
            raise InvalidInputError(
                f"user name {username!r} is not allowed: use lowercase letters, digits and . _ @ -"
            )
        chosen_role = Role.parse(role) if isinstance(role, str) else role
        generated = None
        if password is None:
            generated = password = generate_password()
        else:
            check_password_policy(password)
        now = datetime.now(UTC)
        with self.db.session() as session:
            if session.scalar(select(User.id).where(User.username == name)) is not None:
                raise ConflictError(f"user {name!r} already exists")
            user = User(
                username=name,
                display_name=display_name or name,
                email=email,
                role=chosen_role.value,
                password_hash=hash_password(password),
                must_change_password=generated is not None,
                disabled=False,
                created_at=now,
                password_changed_at=now,
            )
            session.add(user)
            session.flush()
            for team_name in teams:
                team = self._team(session, team_name)
                session.add(TeamMember(team_id=team.id, user_id=user.id))
            record_audit(
                session,
                actor,
                "user.create",
                target=name,
                detail={"role": chosen_role.value, "teams": list(teams)},
            )
            session.flush()
            read = self._read(session, user)
        return read, generated

    def list_users(self, actor: Principal) -> list[UserRead]:
        """Every user, by name."""
        actor.require(Permission.USER_READ)
        with self.db.session() as session:
            users = session.scalars(select(User).order_by(User.username)).all()
            teams = self._team_names(session)
            return [self._read(session, u, teams) for u in users]

    def get_user(self, actor: Principal, ident: int | str) -> UserRead:
        """One user by id or name."""
        actor.require(Permission.USER_READ)
        with self.db.session() as session:
            return self._read(session, self._user(session, ident))

    def profile(self, actor: Principal) -> UserRead:
        """The actor's own user record (every signed-in user may read its own)."""
        if actor.user_id is None:
            raise NotFoundError(f"{actor.name!r} is not a user")
        with self.db.session() as session:
            return self._read(session, self._user(session, actor.user_id))

    def update_user(
        self,
        actor: Principal,
        ident: int | str,
        *,
        role: Role | str | None = None,
        display_name: str | None = None,
        email: str | None = None,
        disabled: bool | None = None,
    ) -> UserRead:
        """Change a user's role, name, email or disabled flag (each change is audited)."""
        actor.require(Permission.USER_MANAGE)
        with self.db.session() as session:
            user = self._user(session, ident)
            if role is not None:
                new_role = Role.parse(role) if isinstance(role, str) else role
                if new_role.value != user.role:
                    self._keep_an_admin(session, user, new_role=new_role)
                    record_audit(
                        session,
                        actor,
                        "permission.change",
                        target=user.username,
                        detail={"field": "role", "before": user.role, "after": new_role.value},
                    )
                    user.role = new_role.value
            if disabled is not None and disabled != user.disabled:
                if disabled:
                    self._keep_an_admin(session, user, disabling=True)
                    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
                record_audit(
                    session,
                    actor,
                    "user.disable" if disabled else "user.enable",
                    target=user.username,
                )
                user.disabled = disabled
            if display_name is not None:
                user.display_name = display_name
            if email is not None:
                user.email = email or None
            session.flush()
            read = self._read(session, user)
        self._forget(read.id)
        return read

    def reset_password(self, actor: Principal, ident: int | str) -> tuple[UserRead, str]:
        """Give a user a new one-time password (to change at next login); ends its sessions."""
        actor.require(Permission.USER_MANAGE)
        password = generate_password()
        with self.db.session() as session:
            user = self._user(session, ident)
            user.password_hash = hash_password(password)
            user.must_change_password = True
            user.password_changed_at = datetime.now(UTC)
            session.execute(delete(UserSession).where(UserSession.user_id == user.id))
            record_audit(session, actor, "user.password_reset", target=user.username)
            session.flush()
            read = self._read(session, user)
        self._forget(read.id)
        return read, password

    def change_password(self, actor: Principal, current: str, new: str) -> None:
        """A signed-in user changes its own password (the current one is checked)."""
        if actor.user_id is None:
            raise PermissionDeniedError("only a user can change its password")
        check_password_policy(new)
        if hmac.compare_digest(current, new):
            raise InvalidInputError("the new password must differ from the current one")
        with self.db.session() as session:
            user = self._user(session, actor.user_id)
            if not verify_password(user.password_hash, current):
                record_audit(
                    session, actor, "user.password_change", target=user.username, outcome="failure"
                )
                raise AuthenticationError("the current password is wrong")
            user.password_hash = hash_password(new)
            user.must_change_password = False
            user.password_changed_at = datetime.now(UTC)
            # other sessions of the user end; the one in use stays
            query = delete(UserSession).where(UserSession.user_id == user.id)
            if actor.session_id:
                query = query.where(UserSession.id != actor.session_id)
            session.execute(query)
            record_audit(session, actor, "user.password_change", target=user.username)
        self._forget(actor.user_id)

    def ensure_first_admin(self) -> str | None:
        """On the first start (no users yet) create ``admin``; returns its one-time password."""
        with self.db.session() as session:
            if session.scalar(select(func.count()).select_from(User)):
                return None
        try:
            _user, password = self.create_user(
                Principal.system("first-start"), FIRST_ADMIN, Role.ADMIN
            )
        except ConflictError:  # another process made it first
            return None
        return password

    # -- teams ---------------------------------------------------------------------------
    def create_team(self, actor: Principal, name: str, description: str = "") -> TeamRead:
        """Create a team."""
        actor.require(Permission.USER_MANAGE)
        clean = name.strip()
        if not clean or len(clean) > 100:
            raise InvalidInputError(f"team name {name!r} must have 1 to 100 characters")
        with self.db.session() as session:
            if session.scalar(select(Team.id).where(Team.name == clean)) is not None:
                raise ConflictError(f"team {clean!r} already exists")
            team = Team(name=clean, description=description, created_at=datetime.now(UTC))
            session.add(team)
            record_audit(session, actor, "team.create", target=clean)
            session.flush()
            return TeamRead(team.id, team.name, team.description, ())

    def list_teams(self, actor: Principal) -> list[TeamRead]:
        """Every team with its members."""
        actor.require(Permission.USER_READ)
        with self.db.session() as session:
            teams = session.scalars(select(Team).order_by(Team.name)).all()
            rows = session.execute(
                select(TeamMember.team_id, User.username)
                .join(User, User.id == TeamMember.user_id)
                .order_by(User.username)
            ).all()
            members: dict[int, list[str]] = {}
            for team_id, username in rows:
                members.setdefault(team_id, []).append(username)
            return [
                TeamRead(t.id, t.name, t.description, tuple(members.get(t.id, []))) for t in teams
            ]

    def delete_team(self, actor: Principal, ident: int | str) -> None:
        """Delete a team (its alerts and cases keep existing, without a team)."""
        actor.require(Permission.USER_MANAGE)
        with self.db.session() as session:
            team = self._team(session, ident)
            record_audit(session, actor, "team.delete", target=team.name)
            session.delete(team)
        self._forget_all()

    def add_member(self, actor: Principal, team: int | str, user: int | str) -> TeamRead:
        """Put a user in a team (audited as a permission change)."""
        return self._membership(actor, team, user, add=True)

    def remove_member(self, actor: Principal, team: int | str, user: int | str) -> TeamRead:
        """Take a user out of a team (audited as a permission change)."""
        return self._membership(actor, team, user, add=False)

    def _membership(
        self, actor: Principal, team: int | str, user: int | str, *, add: bool
    ) -> TeamRead:
        actor.require(Permission.USER_MANAGE)
        with self.db.session() as session:
            row = self._team(session, team)
            member = self._user(session, user)
            existing = session.get(TeamMember, (row.id, member.id))
            if add and existing is None:
                session.add(TeamMember(team_id=row.id, user_id=member.id))
            elif not add and existing is not None:
                session.delete(existing)
            else:
                state = "already" if add else "not"
                raise ConflictError(f"user {member.username!r} is {state} in team {row.name!r}")
            record_audit(
                session,
                actor,
                "permission.change",
                target=member.username,
                detail={"field": "team", "action": "add" if add else "remove", "team": row.name},
            )
            session.flush()
            names = session.scalars(
                select(User.username)
                .join(TeamMember, TeamMember.user_id == User.id)
                .where(TeamMember.team_id == row.id)
                .order_by(User.username)
            ).all()
            result = TeamRead(row.id, row.name, row.description, tuple(names))
        self._forget(member.id)
        return result

    # -- sign-in and sessions ---------------------------------------------------------------
    def login(
        self, username: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> NewSession:
        """Check a user name and password and open a session.

        Raises:
            RateLimitedError: too many recent failures for this name or address.
            AuthenticationError: wrong name or password, or a disabled user (one message for all).
        """
        name = username.strip().lower()
        keys = (f"user:{name}", f"ip:{ip or '-'}")
        self.limiter.check(*keys)
        with self.db.session() as session:
            user = session.scalars(select(User).where(User.username == name)).first()
            if user is None:
                verify_password(dummy_hash(), password)
                reason = "unknown user"
            elif not verify_password(user.password_hash, password):
                reason = "wrong password"
            elif user.disabled:
                reason = "disabled"
            else:
                reason = ""
            if reason:
                record_audit(
                    session,
                    name or "-",
                    "login",
                    outcome="failure",
                    ip=ip,
                    detail={"reason": reason},
                )
        if reason:
            self.limiter.fail(*keys)
            raise AuthenticationError("wrong user name or password")
        assert user is not None  # noqa: S101 - narrowed by reason == ""
        self.limiter.clear(keys[0])
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + timedelta(hours=self.settings.session_hours)
        with self.db.session() as session:
            row = session.get(User, user.id)
            assert row is not None  # noqa: S101 - read just above
            if needs_rehash(row.password_hash):
                row.password_hash = hash_password(password)
            row.last_login_at = now
            session.add(
                UserSession(
                    id=_sha256(cookie),
                    user_id=row.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                    last_seen_at=now,
                    ip=ip,
                    user_agent=(user_agent or "")[:400] or None,
                )
            )
            record_audit(session, row.username, "login", ip=ip)
            session.flush()
            read = self._read(session, row)
        return NewSession(cookie, csrf, expires, read)

    def logout(self, actor: Principal) -> None:
        """End the actor's session."""
        if actor.session_id is None:
            return
        with self.db.session() as session:
            session.execute(delete(UserSession).where(UserSession.id == actor.session_id))
            record_audit(session, actor, "logout")

    def principal_for_session(
        self, cookie: str, *, csrf: str | None, ip: str | None = None
    ) -> Principal:
        """The principal of a session cookie; ``csrf`` (when not None) must match its token."""
        digest = _sha256(cookie)
        now = datetime.now(UTC)
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        expired = False
        with self.db.session() as session:
            row = session.get(UserSession, digest)
            if row is None:
                raise AuthenticationError("the session has ended: sign in again")
            if row.expires_at <= now or row.last_seen_at + idle <= now:
                session.delete(row)  # committed before the error below
                expired = True
        if expired:
            raise AuthenticationError("the session has expired: sign in again")
        with self.db.session() as session:
            row = session.get(UserSession, digest)
            if row is None:
                raise AuthenticationError("the session has ended: sign in again")
            if csrf is not None and not hmac.compare_digest(csrf, row.csrf_token):
                raise PermissionDeniedError(
                    "missing or wrong CSRF token: send the X-CSRF-Token header from login"
                )
            if (now - row.last_seen_at).total_seconds() > _SEEN_WRITE_SECONDS:
                row.last_seen_at = now
            user_id = row.user_id
        return self._principal(user_id, session_id=digest)

    def session_csrf(self, actor: Principal) -> str | None:
        """The CSRF token of the actor's session (for a console page that reloads)."""
        if actor.session_id is None:
            return None
        with self.db.session() as session:
            row = session.get(UserSession, actor.session_id)
            return row.csrf_token if row else None

    def principal_for_token(self, token: str, *, ip: str | None = None) -> Principal:
        """The principal of an API token: its owner's role intersected with its scopes."""
        info = self.tokens.verify(token)
        self._audit_token_use(info, ip)
        scoped = scope_permissions(info.scopes)
        if info.user_id is None:
            return Principal(
                kind="token",
                name=f"token:{info.prefix}",
                permissions=scoped,
                token_prefix=info.prefix,
            )
        base = self._principal(info.user_id)
        return Principal(
            kind="token",
            name=base.name,
            permissions=base.permissions & scoped,
            user_id=base.user_id,
            role=base.role,
            team_ids=base.team_ids,
            token_prefix=info.prefix,
        )

    def principal_of(self, ident: int | str) -> Principal:
        """The principal of a user, for trusted local code (the demo, scheduled work)."""
        with self.db.session() as session:
            user_id = self._user(session, ident).id
        return self._principal(user_id, trusted=True)

    # -- tokens of users ---------------------------------------------------------------------
    def create_token(
        self,
        actor: Principal,
        name: str,
        scopes: list[str],
        *,
        expires_days: int | None = None,
        user: int | str | None = None,
    ) -> tuple[str, TokenInfo]:
        """Create a token for the actor (or, with TOKEN_MANAGE, for another user or the system).

        A user's token does what both its owner's role and its scopes allow; only an admin's
        token may carry the ``admin`` scope.
        """
        owner_id = actor.user_id if user is None else None
        owner_name = actor.name
        role = actor.role
        if user is not None or actor.user_id is None:
            actor.require(Permission.TOKEN_MANAGE)
        else:
            actor.require(Permission.TOKEN_OWN)
        if user is not None:
            with self.db.session() as session:
                row = self._user(session, user)
                owner_id, owner_name, role = row.id, row.username, Role(row.role)
        if owner_id is None:
            owner_name = "system"
        if (
            role is not None
            and role is not Role.ADMIN
            and "admin" in [x.strip().lower() for v in scopes for x in v.split(",")]
        ):
            raise PermissionDeniedError(f"a {role.value} may not hold a token with scope 'admin'")
        token, info = self.tokens.create(
            name, scopes, expires_days=expires_days, owner=owner_name, user_id=owner_id
        )
        with self.db.session() as session:
            record_audit(
                session,
                actor,
                "token.create",
                target=info.prefix,
                detail={"name": name, "scopes": list(info.scopes), "owner": owner_name},
            )
        return token, info

    def list_tokens(self, actor: Principal) -> list[TokenInfo]:
        """The actor's tokens, or every token with TOKEN_MANAGE."""
        if actor.can(Permission.TOKEN_MANAGE):
            return self.tokens.list()
        actor.require(Permission.TOKEN_OWN)
        return [t for t in self.tokens.list() if t.user_id == actor.user_id]

    def revoke_token(self, actor: Principal, ident: str) -> TokenInfo:
        """Revoke one of the actor's tokens (any token with TOKEN_MANAGE)."""
        if not actor.can(Permission.TOKEN_MANAGE):
            actor.require(Permission.TOKEN_OWN)
            owned = {str(t.id) for t in self.list_tokens(actor)} | {
                t.prefix for t in self.list_tokens(actor)
            }
            if ident not in owned:
                raise NotFoundError(f"you have no token with id or prefix {ident!r}")
        info = self.tokens.revoke(ident)
        with self.db.session() as session:
            record_audit(session, actor, "token.revoke", target=info.prefix)
        return info

    # -- helpers -----------------------------------------------------------------------------
    def _principal(
        self, user_id: int, *, session_id: str | None = None, trusted: bool = False
    ) -> Principal:
        now = time.monotonic()
        with self._lock:
            cached = self._user_cache.get(user_id)
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            _at, user, team_ids = cached
        else:
            with self.db.session() as session:
                user = session.get(User, user_id)
                team_ids = tuple(
                    session.scalars(
                        select(TeamMember.team_id).where(TeamMember.user_id == user_id)
                    ).all()
                )
                if user is not None:
                    session.expunge(user)
            with self._lock:
                self._user_cache[user_id] = (now, user, team_ids)
        if user is None or user.disabled:
            raise AuthenticationError("this user no longer exists or is disabled")
        role = Role(user.role)
        # until the one-time password is changed, a session may only change it
        locked = user.must_change_password and not trusted
        permissions = frozenset() if locked else ROLE_PERMISSIONS[role]
        return Principal(
            kind="user",
            name=user.username,
            permissions=permissions,
            user_id=user.id,
            role=role,
            team_ids=team_ids,
            session_id=session_id,
        )

    def _audit_token_use(self, info: TokenInfo, ip: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._token_audit.get(info.prefix)
            if last is not None and now - last < _TOKEN_AUDIT_SECONDS:
                return
            self._token_audit[info.prefix] = now
        with self.db.session() as session:
            record_audit(
                session,
                info.owner,
                "token.use",
                target=info.prefix,
                ip=ip,
            )

    def _forget(self, user_id: int) -> None:
        with self._lock:
            self._user_cache.pop(user_id, None)

    def _forget_all(self) -> None:
        with self._lock:
            self._user_cache.clear()

    @staticmethod
    def _user(session: Session, ident: int | str) -> User:
        if isinstance(ident, int) or (isinstance(ident, str) and ident.isdigit()):
            user = session.get(User, int(ident))
        else:
            user = session.scalars(
                select(User).where(User.username == ident.strip().lower())
            ).first()
        if user is None:
            raise NotFoundError(f"no user {ident!r}")
        return user

    @staticmethod
    def _team(session: Session, ident: int | str) -> Team:
        if isinstance(ident, int) or (isinstance(ident, str) and ident.isdigit()):
            team = session.get(Team, int(ident))
        else:
            team = session.scalars(select(Team).where(Team.name == ident.strip())).first()
        if team is None:
            raise NotFoundError(f"no team {ident!r}: create it with `tocsin user team-add`")
        return team

    @staticmethod
    def _keep_an_admin(
        session: Session, user: User, *, new_role: Role | None = None, disabling: bool = False
    ) -> None:
        if user.role != Role.ADMIN.value or user.disabled:
            return
        if new_role is Role.ADMIN and not disabling:
            return
        others = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN.value, User.disabled.is_(False), User.id != user.id)
        )
        if not others:
            raise ConflictError(f"{user.username!r} is the last active admin: make another first")

    @staticmethod
    def _team_names(session: Session) -> dict[int, list[str]]:
        rows = session.execute(
            select(TeamMember.user_id, Team.name)
            .join(Team, Team.id == TeamMember.team_id)
            .order_by(Team.name)
        ).all()
        names: dict[int, list[str]] = {}
        for user_id, name in rows:
            names.setdefault(user_id, []).append(name)
        return names

    def _read(
        self, session: Session, user: User, teams: dict[int, list[str]] | None = None
    ) -> UserRead:
        if teams is None:
            teams = self._team_names(session)
        return UserRead(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            role=user.role,
            disabled=user.disabled,
            must_change_password=user.must_change_password,
            teams=tuple(teams.get(user.id, [])),
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )
