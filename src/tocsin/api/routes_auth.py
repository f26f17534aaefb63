"""Signing in and out of the console, and one's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tocsin.api.deps import SESSION_COOKIE, Services, client_ip, services, signed_in
from tocsin.workspace.permissions import Principal

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    """User name and password."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class PasswordChange(BaseModel):
    """The current password and the new one."""

    current: str = Field(min_length=1, max_length=1000)
    new: str = Field(min_length=1, max_length=1000)


@router.post("/login")
def login(
    body: LoginRequest, request: Request, svc: Annotated[Services, Depends(services)]
) -> JSONResponse:
    """Open a console session: sets an HttpOnly cookie and returns the CSRF token.

    Send the CSRF token as ``X-CSRF-Token`` on every request that changes something.
    Repeated failures from one address or for one user name are refused with 429.
    """
    opened = svc.workspace.users.login(
        body.username,
        body.password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    response = JSONResponse(
        {
            "user": opened.user.to_dict(),
            "csrf_token": opened.csrf_token,
            "expires_at": opened.expires_at.isoformat(),
            "must_change_password": opened.user.must_change_password,
        }
    )
    response.set_cookie(
        SESSION_COOKIE,
        opened.cookie,
        max_age=int(svc.settings.session_hours * 3600),
        httponly=True,
        secure=svc.settings.secure_cookies,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/logout")
def logout(
    actor: Annotated[Principal, Depends(signed_in)], svc: Annotated[Services, Depends(services)]
) -> JSONResponse:
    """End the session and clear its cookie."""
    svc.workspace.users.logout(actor)
    response = JSONResponse({"status": "signed out"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me")
def me(
    actor: Annotated[Principal, Depends(signed_in)], svc: Annotated[Services, Depends(services)]
) -> dict[str, object]:
    """Who the caller is and what it may do."""
    body: dict[str, object] = {
        "name": actor.name,
        "kind": actor.kind,
        "role": actor.role.value if actor.role else None,
        "team_ids": list(actor.team_ids),
        "permissions": sorted(p.value for p in actor.permissions),
        "token": actor.token_prefix,
    }
    if actor.user_id is not None:
        users = svc.workspace.users
        body["user"] = users.profile(actor).to_dict()
        body["csrf_token"] = users.session_csrf(actor)
    return body


@router.post("/password")
def change_password(
    body: PasswordChange,
    actor: Annotated[Principal, Depends(signed_in)],
    svc: Annotated[Services, Depends(services)],
) -> dict[str, str]:
    """Change one's own password (required after a one-time password)."""
    svc.workspace.users.change_password(actor, body.current, body.new)
    return {"status": "password changed"}
