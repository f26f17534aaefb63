"""Signing in and out of the console, session expiry, and the first-login password change."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.api.console.common import (
    CSRF_FIELD,
    Viewer,
    form,
    is_secure,
    new_token,
    page,
    redirect,
    render_page,
    safe_next,
)
from tocsin.api.deps import SESSION_COOKIE, Services, client_ip, services
from tocsin.core.errors import AuthenticationError, InvalidInputError, RateLimitedError

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "tocsin_login_csrf"


def _login_form(
    request: Request,
    *,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
    next_url: str | None = None,
) -> HTMLResponse:
    token = new_token()
    params = request.query_params
    response = render_page(
        request,
        None,
        "login.html",
        title="Sign in",
        csrf=token,
        error=error,
        username=username,
        next_url=safe_next(next_url or params.get("next")),
        expired=params.get("expired") == "1",
        signed_out=params.get("signed_out") == "1",
        status_code=status_code,
    )
    # double-submit: the login form has no session yet, so its CSRF token rides in a cookie
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path="/login",
        max_age=3600,
    )
    return response


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    """The sign-in form (open to everyone)."""
    return _login_form(request)


@router.post("/login")
def login(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    """Check the name and password, open a session and go where the user was going."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_form(
            request,
            error="The form expired: please sign in again.",
            status_code=403,
            next_url=next_url,
        )
    try:
        opened = svc.workspace.users.login(
            username,
            password,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    except RateLimitedError as exc:
        return _login_form(
            request, error=exc.message, username=username, status_code=429, next_url=next_url
        )
    except AuthenticationError:
        return _login_form(
            request,
            error="Wrong user name or password.",
            username=username,
            status_code=401,
            next_url=next_url,
        )
    target = "/account/password" if opened.user.must_change_password else safe_next(next_url)
    response = redirect(request, target)
    response.set_cookie(
        SESSION_COOKIE,
        opened.cookie,
        max_age=int(svc.settings.session_hours * 3600),
        httponly=True,
        secure=is_secure(request),
        samesite="strict",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(None, allow_password_change=True))],
    svc: Annotated[Services, Depends(services)],
) -> Response:
    """End the session and clear its cookie."""
    svc.workspace.users.logout(viewer.principal)
    response = redirect(request, "/login?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account/password")
def password_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(None, allow_password_change=True))],
) -> HTMLResponse:
    """Change one's own password (required after a one-time password)."""
    return render_page(request, viewer, "password.html", title="Change password", error=None)


@router.post("/account/password")
def change_password(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(None, allow_password_change=True))],
    svc: Annotated[Services, Depends(services)],
    current: Annotated[str, Form(max_length=1000)] = "",
    new: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Set a new password; on success the user carries on to the overview."""
    error = None
    if new != confirm:
        error = "The two new passwords differ."
    else:
        try:
            svc.workspace.users.change_password(viewer.principal, current, new)
        except (AuthenticationError, InvalidInputError) as exc:
            error = exc.message
    if error:
        return render_page(
            request,
            viewer,
            "password.html",
            title="Change password",
            error=error,
            status_code=400,
        )
    return redirect(request, "/", note="Password changed.")
