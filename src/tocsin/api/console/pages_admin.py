"""The console's admin pages: the index, users, teams and the roles matrix.

Tokens and notification channels live in :mod:`pages_admin_tokens` and
:mod:`pages_admin_channels`, data sources and the audit log in :mod:`pages_admin_data`; their
routers are included here, so the console registers this one module.

A one-time password is shown once, on the page that answers the form that made it: never in a
redirect, a flash cookie or a log line, so a reload (or the browser's history) cannot show it
again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.api.console import pages_admin_channels, pages_admin_data, pages_admin_tokens
from tocsin.api.console.common import Viewer, form, page, redirect, render_page
from tocsin.api.deps import Services, services
from tocsin.core.errors import InvalidInputError
from tocsin.workspace.permissions import (
    ROLE_PERMISSIONS,
    SCOPE_PERMISSIONS,
    Permission,
    Role,
)

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]

# What each permission lets a principal do, for the roles matrix.
PERMISSION_HELP: dict[Permission, str] = {
    Permission.HEALTH_READ: "See ingest health, data sources and the API description",
    Permission.SEARCH_READ: "Search the event lake",
    Permission.SEARCH_EXPORT: "Export search results",
    Permission.INGEST: "Send events (HTTP ingest, TLS syslog)",
    Permission.ALERT_READ: "See alerts and rules",
    Permission.ALERT_TRIAGE: "Acknowledge, start, assign and comment on alerts",
    Permission.ALERT_CLOSE: "Close and reopen alerts",
    Permission.SUPPRESSION_MANAGE: "Manage alert suppressions",
    Permission.CASE_READ: "See cases",
    Permission.CASE_CREATE: "Open cases",
    Permission.CASE_UPDATE: "Edit cases: fields, tasks, observables, comments, attachments",
    Permission.CASE_CLOSE: "Close, reopen and merge cases",
    Permission.TEMPLATE_MANAGE: "Manage case templates",
    Permission.METRICS_READ: "See metrics",
    Permission.SLA_READ: "See SLA targets and countdowns",
    Permission.SLA_MANAGE: "Change SLA targets",
    Permission.USER_READ: "See users and teams",
    Permission.USER_MANAGE: "Create and change users, teams and roles",
    Permission.TOKEN_OWN: "Create and revoke one's own API tokens",
    Permission.TOKEN_MANAGE: "Create and revoke every API token",
    Permission.AUDIT_READ: "Read the audit log",
    Permission.NOTIFICATION_MANAGE: "Manage notification channels and deliveries",
    Permission.SUBSCRIPTION_OWN: "Subscribe oneself to notifications",
    Permission.RULE_MANAGE: "Enable and disable detection rules",
}

for _module in (pages_admin_tokens, pages_admin_channels, pages_admin_data):
    router.include_router(_module.router)


def _user_id(value: str) -> int:
    if not value.strip():
        raise InvalidInputError("choose a user first")
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"user id {value!r} is not a number") from None


@router.get("/admin")
def admin_index(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.USER_READ))],
    svc: Svc,
) -> HTMLResponse:
    """Links to each admin part the viewer may use, with a count for each."""
    users = svc.workspace.users
    actor = viewer.principal
    all_users = users.list_users(actor)
    counts: dict[str, Any] = {
        "users": len(all_users),
        "disabled": sum(1 for u in all_users if u.disabled),
        "teams": len(users.list_teams(actor)),
        "tokens": sum(1 for t in users.list_tokens(actor) if t.is_active),
    }
    if viewer.can(Permission.NOTIFICATION_MANAGE.value):
        counts["channels"] = svc.workspace.channels.list_channels(actor, limit=1).total
        counts["failed"] = svc.workspace.channels.list_notifications(actor, "failed", limit=1).total
    return render_page(
        request, viewer, "admin.html", title="Admin", nav="admin", tab="", counts=counts
    )


@router.get("/admin/roles")
def roles_matrix(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.USER_READ))],
) -> HTMLResponse:
    """What each role may do, and what each token scope allows at most (read-only)."""
    roles = list(Role)
    scopes = list(SCOPE_PERMISSIONS)
    rows = [
        {
            "permission": p.value,
            "help": PERMISSION_HELP.get(p, ""),
            "roles": [p in ROLE_PERMISSIONS[r] for r in roles],
            "scopes": [p in SCOPE_PERMISSIONS[s] for s in scopes],
        }
        for p in Permission
    ]
    return render_page(
        request,
        viewer,
        "admin_roles.html",
        title="Roles",
        nav="admin",
        tab="roles",
        roles=[r.value for r in roles],
        scopes=scopes,
        rows=rows,
    )


# -- users ----------------------------------------------------------------------------------
@router.get("/admin/users")
def user_list(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.USER_READ))],
    svc: Svc,
) -> HTMLResponse:
    """Every user, and (for user.manage) the form that creates one."""
    users = svc.workspace.users
    return render_page(
        request,
        viewer,
        "admin_users.html",
        title="Users",
        nav="admin",
        tab="users",
        users=users.list_users(viewer.principal),
        teams=users.list_teams(viewer.principal),
        roles=[r.value for r in Role],
    )


@router.post("/admin/users")
async def create_user(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.USER_MANAGE))],
    svc: Svc,
    username: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Create a user with a one-time password, shown on this answer only."""
    data = await request.form()
    teams = [str(t) for t in data.getlist("teams") if str(t).strip()]
    user, password = svc.workspace.users.create_user(
        viewer.principal,
        username,
        role,
        display_name=display_name.strip(),
        email=email.strip() or None,
        teams=teams,
    )
    return _one_time_password(request, viewer, user, password or "", created=True)


@router.get("/admin/users/{user_id}")
def user_detail(
    request: Request,
    user_id: int,
    viewer: Annotated[Viewer, Depends(page(Permission.USER_READ))],
    svc: Svc,
) -> HTMLResponse:
    """One user: profile, role, teams, sign-in state, and the forms that change them."""
    user = svc.workspace.users.get_user(viewer.principal, user_id)
    return render_page(
        request,
        viewer,
        "admin_user.html",
        title=f"User {user.username}",
        nav="admin",
        tab="users",
        user=user,
        roles=[r.value for r in Role],
        is_self=user.id == viewer.principal.user_id,
    )


@router.post("/admin/users/{user_id}")
def update_user(
    request: Request,
    user_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.USER_MANAGE))],
    svc: Svc,
    role: Annotated[str, Form(max_length=20)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Change a user's role, display name and email."""
    users = svc.workspace.users
    current = users.get_user(viewer.principal, user_id)
    users.update_user(
        viewer.principal,
        user_id,
        role=role or None,
        display_name=display_name.strip() or current.username,
        email=email.strip(),
    )
    return redirect(request, f"/admin/users/{user_id}", note=f"{current.username} updated.")


@router.post("/admin/users/{user_id}/disable")
def disable_user(
    request: Request,
    user_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.USER_MANAGE))],
    svc: Svc,
) -> Response:
    """Disable a user: its sessions end and its tokens stop working."""
    user = svc.workspace.users.update_user(viewer.principal, user_id, disabled=True)
    return redirect(request, f"/admin/users/{user_id}", note=f"{user.username} disabled.")


@router.post("/admin/users/{user_id}/enable")
def enable_user(
    request: Request,
    user_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.USER_MANAGE))],
    svc: Svc,
) -> Response:
    """Enable a disabled user again."""
    user = svc.workspace.users.update_user(viewer.principal, user_id, disabled=False)
    return redirect(request, f"/admin/users/{user_id}", note=f"{user.username} enabled.")


@router.post("/admin/users/{user_id}/reset-password")
def reset_password(
    request: Request,
    user_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.USER_MANAGE))],
    svc: Svc,
) -> Response:
    """Give a user a new one-time password, shown on this answer only; its sessions end."""
    user, password = svc.workspace.users.reset_password(viewer.principal, user_id)
    return _one_time_password(request, viewer, user, password, created=False)


def _one_time_password(
    request: Request, viewer: Viewer, user: Any, password: str, *, created: bool
) -> HTMLResponse:
    # rendered as the POST's answer (no redirect): the secret never enters a URL or a cookie
    return render_page(
        request,
        viewer,
        "admin_secret.html",
        title="User created" if created else "Password reset",
        nav="admin",
        tab="users",
        kind="password",
        created=created,
        user=user,
        secret=password,
    )


# -- teams ----------------------------------------------------------------------------------
@router.get("/admin/teams")
def team_list(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.USER_READ))],
    svc: Svc,
) -> HTMLResponse:
    """Every team with its members, and the forms that change them."""
    users = svc.workspace.users
    everyone = users.list_users(viewer.principal)
    return render_page(
        request,
        viewer,
        "admin_teams.html",
        title="Teams",
        nav="admin",
        tab="teams",
        teams=users.list_teams(viewer.principal),
        users=everyone,
        ids={u.username: u.id for u in everyone},
    )


@router.post("/admin/teams")
def create_team(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.USER_MANAGE))],
    svc: Svc,
    name: Annotated[str, Form(max_length=100)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Create a team."""
    team = svc.workspace.users.create_team(viewer.principal, name, description.strip())
    return redirect(request, "/admin/teams", note=f"Team {team.name} created.")


@router.post("/admin/teams/{team_id}/delete")
def delete_team(
    request: Request,
    team_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.USER_MANAGE))],
    svc: Svc,
) -> Response:
    """Delete a team (its alerts and cases stay, without a team)."""
    svc.workspace.users.delete_team(viewer.principal, team_id)
    return redirect(request, "/admin/teams", note="Team deleted.")


@router.post("/admin/teams/{team_id}/members")
def add_member(
    request: Request,
    team_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.USER_MANAGE))],
    svc: Svc,
    user_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Put a user in a team."""
    team = svc.workspace.users.add_member(viewer.principal, team_id, _user_id(user_id))
    return redirect(request, "/admin/teams", note=f"Added to {team.name}.")


@router.post("/admin/teams/{team_id}/members/remove")
def remove_member(
    request: Request,
    team_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.USER_MANAGE))],
    svc: Svc,
    user_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Take a user out of a team."""
    team = svc.workspace.users.remove_member(viewer.principal, team_id, _user_id(user_id))
    return redirect(request, "/admin/teams", note=f"Member removed from {team.name}.")
