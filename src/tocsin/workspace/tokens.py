"""API tokens: created with scopes, stored as a SHA-256 hash, revocable, with expiry.

A token reads ``tcn_<prefix>_<secret>``; the prefix identifies it in lists and logs, the whole
token is shown once at creation and never stored. The scope ``admin`` implies every other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select

from tocsin.core.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tocsin.workspace.db import ApiToken, Database


class Scope(StrEnum):
    """What a token may do."""

    INGEST = "ingest"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


SYSTEM_OWNER = "system"
_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as lists and checks show it (never the secret)."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    owner: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    user_id: int | None = None

    @property
    def is_active(self) -> bool:
        """True when neither revoked nor expired."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or _aware(self.expires_at) > datetime.now(UTC)

    def allows(self, scope: Scope | str) -> bool:
        """True when the token carries ``scope`` or ``admin``."""
        return Scope.ADMIN in self.scopes or str(scope) in self.scopes


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(row.scopes),
        owner=row.owner,
        created_at=_aware(row.created_at),
        expires_at=_aware(row.expires_at) if row.expires_at else None,
        revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
        last_used_at=_aware(row.last_used_at) if row.last_used_at else None,
        user_id=row.user_id,
    )


def parse_scopes(values: list[str]) -> tuple[str, ...]:
    """Validate scope names (comma-separated values allowed)."""
    scopes: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in Scope.__members__.values():
                known = ", ".join(s.value for s in Scope)
                raise InvalidInputError(f"unknown scope {name!r}: use one of {known}")
            if name not in scopes:
                scopes.append(name)
    if not scopes:
        raise InvalidInputError("a token needs at least one scope")
    return tuple(scopes)


class TokenService:
    """Create, list, revoke and check API tokens."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, TokenInfo]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        name: str,
        scopes: list[str],
        *,
        expires_days: int | None = None,
        owner: str = SYSTEM_OWNER,
        user_id: int | None = None,
    ) -> tuple[str, TokenInfo]:
        """Create a token; returns the plaintext (shown once) and its info."""
        checked = parse_scopes(scopes)
        prefix = secrets.token_hex(4)
        token = f"tcn_{prefix}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        row = ApiToken(
            name=name,
            prefix=prefix,
            token_hash=_hash(token),
            scopes=list(checked),
            owner=owner,
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(days=expires_days) if expires_days else None,
        )
        with self.db.session() as session:
            session.add(row)
            session.flush()
            info = _info(row)
        return token, info

    def list(self) -> list[TokenInfo]:
        """Every token, newest first."""
        with self.db.session() as session:
            rows = session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).all()
            return [_info(row) for row in rows]

    def revoke(self, ident: str) -> TokenInfo:
        """Revoke a token by id or prefix."""
        with self.db.session() as session:
            # a prefix may be all digits too (8 hex digits): it is tried first
            row = session.scalars(select(ApiToken).where(ApiToken.prefix == ident)).first()
            if row is None and ident.isdigit():
                row = session.get(ApiToken, int(ident))
            if row is None:
                raise NotFoundError(f"no token with id or prefix {ident!r}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            info = _info(row)
        with self._lock:
            self._cache.clear()
        return info

    def check(self, token: str | None, scope: Scope | str) -> TokenInfo:
        """Return the token's info if it is valid and allows ``scope``.

        Raises:
            AuthenticationError: no token, unknown, revoked or expired.
            PermissionDeniedError: a valid token without the scope.
        """
        info = self.verify(token)
        if not info.allows(scope):
            raise PermissionDeniedError(f"token {info.prefix!r} lacks the {str(scope)!r} scope")
        return info

    def verify(self, token: str | None) -> TokenInfo:
        """Return the token's info if it is known, not revoked and not expired.

        Raises:
            AuthenticationError: no token, unknown, revoked or expired.
        """
        if not token:
            raise AuthenticationError("a token is required: send 'Authorization: Bearer <token>'")
        digest = _hash(token)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            info = cached[1]
        else:
            with self.db.session() as session:
                rows = session.scalars(select(ApiToken).where(ApiToken.prefix == _prefix(token)))
                row = next((r for r in rows if hmac.compare_digest(r.token_hash, digest)), None)
                if row is None:
                    raise AuthenticationError("unknown token")
                row.last_used_at = datetime.now(UTC)
                info = _info(row)
            with self._lock:
                self._cache[digest] = (now, info)
        if not info.is_active:
            raise AuthenticationError(f"token {info.prefix!r} is revoked or expired")
        return info


def _prefix(token: str) -> str:
    parts = token.split("_")
    return parts[1] if len(parts) >= 3 and parts[0] == "tcn" else ""
