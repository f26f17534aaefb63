"""What routes share: the services of one server, auth, and error mapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from tocsin.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    QuerySyntaxError,
    TocsinError,
)
from tocsin.core.settings import Settings
from tocsin.ingest.spool import Spool
from tocsin.lake.reader import LakeReader
from tocsin.workspace.tokens import Scope, TokenInfo, TokenService

# Error base -> HTTP status, most specific first.
ERROR_STATUS: list[tuple[type[TocsinError], int]] = [
    (AuthenticationError, 401),
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
    tokens: TokenService
    reader: LakeReader
    spool: Spool | None = None


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
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require(scope: Scope):  # type: ignore[no-untyped-def]
    """A dependency that checks the request's token for ``scope``."""

    def check(
        svc: Annotated[Services, Depends(services)],
        authorization: Annotated[str | None, Header()] = None,
    ) -> TokenInfo:
        return svc.tokens.check(_bearer(authorization), scope)

    return check
