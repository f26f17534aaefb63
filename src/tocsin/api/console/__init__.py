"""The web console: server-rendered pages over the same services as the API."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from tocsin.api.console import (
    pages_admin,
    pages_alerts,
    pages_auth,
    pages_cases,
    pages_discovery,
    pages_dns,
    pages_mail,
    pages_metrics,
    pages_overview,
    pages_rules,
    pages_search,
)
from tocsin.api.console.common import (
    LoginRequired,
    PasswordChangeRequired,
    login_redirect,
    redirect,
    render_page,
)
from tocsin.core.errors import TocsinError
from tocsin.web.render import STATIC_DIR

PAGE_MODULES = (
    pages_auth,
    pages_overview,
    pages_alerts,
    pages_cases,
    pages_search,
    pages_rules,
    pages_metrics,
    pages_admin,
    pages_mail,
    pages_dns,
    pages_discovery,
)

# No inline script or style anywhere: charts are SVG with classes, behaviour is in /static.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def is_console_path(path: str) -> bool:
    """Whether a path belongs to the console (HTML errors) rather than the JSON API."""
    return not (path.startswith("/api/") or path in ("/openapi.json", "/healthz"))


def console_error(request: Request, exc: TocsinError, status: int) -> Response:
    """The console's answer to an error: login, password change, back with a note, or a page."""
    if isinstance(exc, LoginRequired):
        return login_redirect(exc)
    if isinstance(exc, PasswordChangeRequired):
        return redirect(request, "/account/password")
    if request.method == "POST" and status in (400, 404, 409):
        # a form that failed goes back where it came from, saying why
        referer = request.headers.get("referer", "")
        origin = f"{request.url.scheme}://{request.url.netloc}"
        back = referer[len(origin) :] if referer.startswith(origin + "/") else "/"
        return redirect(request, back, note=f"Not done: {exc.message}")
    svc = request.app.state.services
    viewer = None
    try:
        from tocsin.api.console.common import _viewer

        viewer = _viewer(request, svc, None)
    except TocsinError:
        viewer = None
    return render_page(
        request,
        viewer,
        "error.html",
        title=f"Error {status}",
        status_code=status,
        status=status,
        message=exc.message,
    )


def mount_console(app: FastAPI) -> None:
    """Add the console's pages, its static files and the security headers to ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in PAGE_MODULES:
        app.include_router(module.router)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if is_console_path(request.url.path) and not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
