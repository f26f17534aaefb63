"""What routes share: the services of one server, auth, and error mapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from tocsin.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    QuerySyntaxError,
    RateLimitedError,
    TocsinError,
)
from tocsin.core.settings import Settings
from tocsin.ingest.spool import Spool
from tocsin.lake.reader import LakeReader
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.service import Workspace
from tocsin.workspace.tokens import TokenService

SESSION_COOKIE = "tocsin_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Error base -> HTTP status, most specific first.
ERROR_STATUS: list[tuple[type[TocsinError], int]] = [
    (AuthenticationError, 401),
    (RateLimitedError, 429),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (QuerySyntaxError, 400),
    (InvalidInputError, 400),
    (TocsinError, 500),
]


@dataclass
class Services:
    """The long-lived objects the routes use."""

    settings: Settings
    workspace: Workspace
    reader: LakeReader
    spool: Spool | None = None

    @property
    def tokens(self) -> TokenService:
        """The workspace's token service."""
        return self.workspace.tokens


def services(request: Request) -> Services:
    """The server's services."""
    result: Services = request.app.state.services
    return result


def error_response(exc: TocsinError) -> JSONResponse:
    """Map an error to its status and a JSON body (never a stack trace)."""
    status = next(code for base, code in ERROR_STATUS if isinstance(exc, base))
    body: dict[str, object] = {"error": type(exc).__name__, "detail": exc.message}
    if isinstance(exc, QuerySyntaxError):
        body["column"] = exc.column
    headers: dict[str, str] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(max(1, int(exc.retry_after)))}
    return JSONResponse(body, status_code=status, headers=headers)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def client_ip(request: Request) -> str | None:
    """The peer address of the request (no proxy headers are trusted)."""
    return request.client.host if request.client else None


def authenticate(request: Request, svc: Services) -> Principal:
    """The principal of a request: a bearer token, else the session cookie.

    A cookie session must also send its CSRF token in ``X-CSRF-Token`` on every request that
    changes something (anything but GET, HEAD, OPTIONS); a bearer token needs none, since a
    browser never adds one by itself.
    """
    users = svc.workspace.users
    ip = client_ip(request)
    token = _bearer(request.headers.get("authorization"))
    if token is not None:
        return users.principal_for_token(token, ip=ip)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        csrf = None if request.method in _SAFE_METHODS else request.headers.get(CSRF_HEADER, "")
        return users.principal_for_session(cookie, csrf=csrf, ip=ip)
    raise AuthenticationError("sign in, or send 'Authorization: Bearer <token>'")


def require(permission: Permission):  # type: ignore[no-untyped-def]
    """A dependency: the request's principal, who must hold ``permission``.

    The returned function carries ``permission`` as an attribute, so the route tests can list
    what every route requires.
    """

    def check(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
        principal = authenticate(request, svc)
        principal.require(permission)
        return principal

    check.permission = permission  # type: ignore[attr-defined]
    return check


def signed_in(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
    """A dependency: any authenticated principal (for one's own session and password)."""
    return authenticate(request, svc)


signed_in.permission = None  # type: ignore[attr-defined]
