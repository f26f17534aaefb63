"""What every console page shares: sign-in by cookie, CSRF on forms, rendering, flash notes.

Pages are server-rendered; a page's dependency is :func:`page` (GET) or :func:`form` (POST),
each carrying the permission it needs as an attribute, as the API's ``require`` does, so the
route tests can list what every page requires. A browser without a session is sent to the
login page; a signed-in user without the permission gets a 403 page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tocsin.api.deps import SESSION_COOKIE, Services, client_ip, services
from tocsin.core.errors import AuthenticationError, TocsinError
from tocsin.web.render import render

FLASH_COOKIE = "tocsin_flash"
CSRF_FIELD = "csrf_token"

# The nav bar: (key, label, path, permission needed to see it).
NAV: list[tuple[str, str, str, str | None]] = [
    ("overview", "Overview", "/", "alert.read"),
    ("alerts", "Alerts", "/alerts", "alert.read"),
    ("cases", "Cases", "/cases", "case.read"),
    ("search", "Search", "/search", "search.read"),
    ("mail", "Mail", "/mail", "mail.submit"),
    ("dns", "DNS", "/dns", "search.read"),
    ("discovery", "Data", "/discovery", "search.read"),
    ("rules", "Rules", "/rules", "alert.read"),
    ("metrics", "Metrics", "/metrics", "metrics.read"),
    ("admin", "Admin", "/admin", "user.manage"),
]


class LoginRequired(TocsinError):
    """The request has no valid console session: the browser goes to the login page."""

    def __init__(self, next_url: str, *, expired: bool = False) -> None:
        super().__init__("sign in to use the console")
        self.next_url = next_url
        self.expired = expired


class PasswordChangeRequired(TocsinError):
    """The user signed in with a one-time password and must choose a new one first."""


@dataclass
class Viewer:
    """The signed-in user of a page, with what the templates need to know about them."""

    principal: Any  # tocsin.workspace.permissions.Principal
    csrf: str
    username: str
    role: str
    must_change_password: bool
    permissions: frozenset[str] = field(default_factory=frozenset)

    def can(self, permission: str) -> bool:
        """Whether the user holds ``permission`` (by its value, e.g. ``"alert.triage"``)."""
        return permission in self.permissions


def safe_next(value: str | None) -> str:
    """A local path to return to after login (never another site)."""
    if not value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value:
        return "/"
    return value


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _viewer(request: Request, svc: Services, csrf: str | None) -> Viewer:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired(_here(request))
    users = svc.workspace.users
    try:
        principal = users.principal_for_session(cookie, csrf=csrf, ip=client_ip(request))
    except AuthenticationError as exc:
        raise LoginRequired(_here(request), expired="expired" in exc.message) from exc
    profile = users.profile(principal)
    return Viewer(
        principal=principal,
        csrf=users.session_csrf(principal) or "",
        username=principal.name,
        role=principal.role.value if principal.role else "",
        must_change_password=bool(profile.must_change_password),
        permissions=frozenset(p.value for p in principal.permissions),
    )


def page(permission: Any, *, allow_password_change: bool = False):  # type: ignore[no-untyped-def]
    """A dependency for a GET page: the signed-in viewer, who must hold ``permission``."""

    def check(request: Request, svc: Annotated[Services, Depends(services)]) -> Viewer:
        viewer = _viewer(request, svc, None)
        if viewer.must_change_password and not allow_password_change:
            raise PasswordChangeRequired("choose a new password first")
        if permission is not None:
            viewer.principal.require(permission)
        return viewer

    check.permission = permission  # type: ignore[attr-defined]
    return check


def form(permission: Any, *, allow_password_change: bool = False):  # type: ignore[no-untyped-def]
    """A dependency for a form POST: checks the session, the form's CSRF token, the permission."""

    async def check(request: Request, svc: Annotated[Services, Depends(services)]) -> Viewer:
        data = await request.form()
        try:
            token = data.get(CSRF_FIELD)
            viewer = _viewer(request, svc, token if isinstance(token, str) else "")
            if viewer.must_change_password and not allow_password_change:
                raise PasswordChangeRequired("choose a new password first")
            if permission is not None:
                viewer.principal.require(permission)
        except Exception:
            await data.close()  # a refused upload's spooled files go at once
            raise
        return viewer

    check.permission = permission  # type: ignore[attr-defined]
    return check


def render_page(
    request: Request,
    viewer: Viewer | None,
    template: str,
    *,
    title: str,
    nav: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page inside the layout, with the viewer, the nav and any flash note."""
    flash = request.cookies.get(FLASH_COOKIE)
    links = []
    if viewer is not None:
        links = [
            {"key": k, "label": label, "path": p, "active": k == nav}
            for k, label, p, perm in NAV
            if perm is None or viewer.can(perm)
        ]
    body = render(
        template,
        {
            "title": title,
            "nav": nav,
            "nav_links": links,
            "viewer": viewer,
            "csrf": viewer.csrf if viewer else context.pop("csrf", ""),
            "flash": unquote(flash)[:300] if flash else None,
            "path": request.url.path,
            "params": query_params(request),
            **context,
        },
    )
    response = HTMLResponse(body, status_code=status_code)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def query_params(request: Request) -> dict[str, Any]:
    """The query string as a dict; a key given more than once keeps all its values (a list)."""
    result: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in result:
            previous = result[key]
            result[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            result[key] = value
    return result


def redirect(request: Request, url: str, *, note: str | None = None) -> RedirectResponse:
    """A 303 to ``url`` (a local path), with a one-shot note shown by the next page."""
    response = RedirectResponse(safe_next(url), status_code=303)
    if note:
        response.set_cookie(
            FLASH_COOKIE,
            quote(note[:300], safe=" ,.:;!?'()#-_/"),
            httponly=True,
            samesite="strict",
            secure=is_secure(request),
            path="/",
        )
    return response


def is_secure(request: Request) -> bool:
    """Whether cookies get the Secure flag: served over HTTPS, or configured so."""
    svc: Services = request.app.state.services
    return request.url.scheme == "https" or svc.settings.secure_cookies


def new_token() -> str:
    """A random token for a form that has no session yet (the login form)."""
    return secrets.token_urlsafe(24)


def login_redirect(exc: LoginRequired) -> Response:
    """Send a browser without a session to the login page, keeping where it was going."""
    target = "/login?next=" + quote(safe_next(exc.next_url), safe="")
    if exc.expired:
        target += "&expired=1"
    return RedirectResponse(target, status_code=303)


def people(svc: Services, viewer: Viewer) -> dict[str, Any]:
    """Users and teams to choose from, and every name by id (empty without user.read)."""
    users = svc.workspace.users
    if not viewer.can("user.read"):
        return {"users": [], "teams": [], "user_names": {}, "team_names": {}}
    everyone = users.list_users(viewer.principal)
    teams = users.list_teams(viewer.principal)
    return {
        "users": [u for u in everyone if not u.disabled],
        "teams": teams,
        "user_names": {u.id: u.username for u in everyone},
        "team_names": {t.id: t.name for t in teams},
    }


def sla_status(svc: Services, viewer: Viewer, entity: str, ids: list[int]) -> dict[int, Any]:
    """The SLA status of a page of alerts or cases (empty without sla.read)."""
    if not ids or not viewer.can("sla.read"):
        return {}
    return svc.workspace.sla.status_many(viewer.principal, entity, ids)
