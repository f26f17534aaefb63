"""API and ingest tokens in the console: list, create (the secret shown once), revoke.

Everyone may manage their own tokens (``token.own``); ``token.manage`` sees every token and
may make one for another user or for the system. An ingest token is a token whose only scope
is ``ingest``: it has its own form and list, because a forwarder needs nothing else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.api.console.common import Viewer, form, page, redirect, render_page
from tocsin.api.deps import Services, services
from tocsin.core.errors import InvalidInputError
from tocsin.workspace.permissions import Permission, scopes_for_role
from tocsin.workspace.tokens import Scope, TokenInfo

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]

SYSTEM_OWNER = "system"
SCOPE_HELP = {
    Scope.READ.value: "read alerts, cases, search and metrics",
    Scope.WRITE.value: "also triage alerts and edit cases (what the owner's role allows)",
    Scope.ADMIN.value: "everything, users and tokens included (admins only)",
    Scope.INGEST.value: "send events to the HTTP ingest route and TLS syslog, nothing else",
}


def is_ingest_token(token: TokenInfo) -> bool:
    """Whether a token is meant for a forwarder (it carries the ``ingest`` scope)."""
    return Scope.INGEST.value in token.scopes


def token_state(token: TokenInfo) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if token.revoked_at is not None:
        return "revoked"
    return "active" if token.is_active else "expired"


def _api_scopes(viewer: Viewer) -> list[str]:
    """Scopes the API-token form offers: what the viewer's own role can use."""
    if viewer.can(Permission.TOKEN_MANAGE.value):
        allowed = [s.value for s in Scope]
    else:
        allowed = list(scopes_for_role(viewer.principal.role)) if viewer.principal.role else []
    return [s for s in allowed if s != Scope.INGEST.value]


def _can_make_ingest(viewer: Viewer) -> bool:
    if viewer.can(Permission.TOKEN_MANAGE.value):
        return True
    role = viewer.principal.role
    return role is not None and Scope.INGEST.value in scopes_for_role(role)


@router.get("/admin/tokens")
def token_list(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.TOKEN_OWN))],
    svc: Svc,
) -> HTMLResponse:
    """Ingest tokens and API tokens (one's own, or every one with token.manage)."""
    users = svc.workspace.users
    tokens = users.list_tokens(viewer.principal)
    owners = []
    if viewer.can(Permission.TOKEN_MANAGE.value):
        owners = [u for u in users.list_users(viewer.principal) if not u.disabled]
    return render_page(
        request,
        viewer,
        "admin_tokens.html",
        title="Tokens",
        nav="admin",
        tab="tokens",
        ingest_tokens=[t for t in tokens if is_ingest_token(t)],
        api_tokens=[t for t in tokens if not is_ingest_token(t)],
        state=token_state,
        api_scopes=_api_scopes(viewer),
        scope_help=SCOPE_HELP,
        can_ingest=_can_make_ingest(viewer),
        owners=owners,
        manager=viewer.can(Permission.TOKEN_MANAGE.value),
    )


@router.post("/admin/tokens")
async def create_token(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.TOKEN_OWN))],
    svc: Svc,
    name: Annotated[str, Form(max_length=200)] = "",
    purpose: Annotated[str, Form(max_length=20)] = "api",
    expires_days: Annotated[str, Form(max_length=10)] = "",
    owner: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Create a token; its secret is on this answer and never again."""
    data = await request.form()
    if purpose == "ingest":
        scopes = [Scope.INGEST.value]
    else:
        scopes = [str(s) for s in data.getlist("scopes") if str(s) != Scope.INGEST.value]
        if not scopes:
            raise InvalidInputError("choose at least one scope")
    days = _days(expires_days)
    label = name.strip() or ("forwarder" if purpose == "ingest" else "token")
    actor = viewer.principal
    if owner == SYSTEM_OWNER:
        # as the API does: a system token belongs to no user, so only token.manage makes one
        actor.require(Permission.TOKEN_MANAGE)
        secret, info = svc.workspace.tokens.create(label, scopes, expires_days=days)
    else:
        secret, info = svc.workspace.users.create_token(
            actor, label, scopes, expires_days=days, user=owner or None
        )
    # rendered as the POST's answer (no redirect): the secret never enters a URL or a cookie
    return render_page(
        request,
        viewer,
        "admin_secret.html",
        title="Token created",
        nav="admin",
        tab="tokens",
        kind="token",
        token=info,
        ingest=is_ingest_token(info),
        secret=secret,
        base_url=str(request.base_url).rstrip("/"),
    )


def _days(value: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise InvalidInputError(f"expiry {value!r} must be a number of days from 1 to 3650")
    return int(text)


@router.post("/admin/tokens/{prefix}/revoke")
def revoke_token(
    request: Request,
    prefix: str,
    viewer: Annotated[Viewer, Depends(form(Permission.TOKEN_OWN))],
    svc: Svc,
) -> Response:
    """Revoke a token by its prefix (any token with token.manage, else one's own)."""
    info = svc.workspace.users.revoke_token(viewer.principal, prefix)
    return redirect(request, "/admin/tokens", note=f"Token {info.prefix} revoked.")
