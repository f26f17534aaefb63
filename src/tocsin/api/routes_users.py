"""Users, teams and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from tocsin.api.deps import Services, require, services
from tocsin.workspace.permissions import Permission, Principal, Role
from tocsin.workspace.tokens import TokenInfo

router = APIRouter(prefix="/api/v1", tags=["users"])


class UserCreate(BaseModel):
    """A new user; without a password a one-time one is returned."""

    username: str = Field(min_length=1, max_length=100)
    role: Role
    password: str | None = Field(default=None, max_length=1000)
    display_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320)
    teams: list[str] = Field(default_factory=list)


class UserUpdate(BaseModel):
    """Fields of a user to change."""

    role: Role | None = None
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    disabled: bool | None = None


class TeamCreate(BaseModel):
    """A new team."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)


class TokenCreate(BaseModel):
    """A new API token (for oneself, or with token.manage for a user or the system)."""

    name: str = Field(default="token", max_length=200)
    scopes: list[str] = Field(min_length=1)
    expires_days: int | None = Field(default=None, ge=1, le=3650)
    user: str | None = Field(default=None, description="Owner; 'system' for a system token.")


def token_dict(info: TokenInfo) -> dict[str, object]:
    """A token as the API shows it (never the secret)."""
    return {
        "id": info.id,
        "prefix": info.prefix,
        "name": info.name,
        "scopes": list(info.scopes),
        "owner": info.owner,
        "user_id": info.user_id,
        "created_at": info.created_at.isoformat(),
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
        "active": info.is_active,
    }


Svc = Annotated[Services, Depends(services)]


@router.get("/users")
def list_users(
    actor: Annotated[Principal, Depends(require(Permission.USER_READ))], svc: Svc
) -> dict[str, object]:
    """Every user."""
    users = svc.workspace.users.list_users(actor)
    return {"items": [u.to_dict() for u in users], "total": len(users)}


@router.post("/users", status_code=201)
def create_user(
    body: UserCreate,
    actor: Annotated[Principal, Depends(require(Permission.USER_MANAGE))],
    svc: Svc,
) -> dict[str, object]:
    """Create a user; a generated one-time password is returned once."""
    user, password = svc.workspace.users.create_user(
        actor,
        body.username,
        body.role,
        password=body.password,
        display_name=body.display_name,
        email=body.email,
        teams=body.teams,
    )
    return {"user": user.to_dict(), "one_time_password": password}


@router.get("/users/{ident}")
def get_user(
    ident: str, actor: Annotated[Principal, Depends(require(Permission.USER_READ))], svc: Svc
) -> dict[str, object]:
    """One user by id or name."""
    return svc.workspace.users.get_user(actor, ident).to_dict()


@router.patch("/users/{ident}")
def update_user(
    ident: str,
    body: UserUpdate,
    actor: Annotated[Principal, Depends(require(Permission.USER_MANAGE))],
    svc: Svc,
) -> dict[str, object]:
    """Change a user's role, name, email or disabled flag."""
    return svc.workspace.users.update_user(
        actor,
        ident,
        role=body.role,
        display_name=body.display_name,
        email=body.email,
        disabled=body.disabled,
    ).to_dict()


@router.post("/users/{ident}/reset-password")
def reset_password(
    ident: str, actor: Annotated[Principal, Depends(require(Permission.USER_MANAGE))], svc: Svc
) -> dict[str, object]:
    """Give a user a new one-time password, returned once."""
    user, password = svc.workspace.users.reset_password(actor, ident)
    return {"user": user.to_dict(), "one_time_password": password}


@router.get("/teams")
def list_teams(
    actor: Annotated[Principal, Depends(require(Permission.USER_READ))], svc: Svc
) -> dict[str, object]:
    """Every team and its members."""
    teams = svc.workspace.users.list_teams(actor)
    return {"items": [t.to_dict() for t in teams], "total": len(teams)}


@router.post("/teams", status_code=201)
def create_team(
    body: TeamCreate,
    actor: Annotated[Principal, Depends(require(Permission.USER_MANAGE))],
    svc: Svc,
) -> dict[str, object]:
    """Create a team."""
    return svc.workspace.users.create_team(actor, body.name, body.description).to_dict()


@router.delete("/teams/{ident}")
def delete_team(
    ident: str, actor: Annotated[Principal, Depends(require(Permission.USER_MANAGE))], svc: Svc
) -> dict[str, str]:
    """Delete a team."""
    svc.workspace.users.delete_team(actor, ident)
    return {"status": "deleted"}


@router.put("/teams/{team}/members/{user}")
def add_member(
    team: str,
    user: str,
    actor: Annotated[Principal, Depends(require(Permission.USER_MANAGE))],
    svc: Svc,
) -> dict[str, object]:
    """Put a user in a team."""
    return svc.workspace.users.add_member(actor, team, user).to_dict()


@router.delete("/teams/{team}/members/{user}")
def remove_member(
    team: str,
    user: str,
    actor: Annotated[Principal, Depends(require(Permission.USER_MANAGE))],
    svc: Svc,
) -> dict[str, object]:
    """Take a user out of a team."""
    return svc.workspace.users.remove_member(actor, team, user).to_dict()


@router.get("/tokens")
def list_tokens(
    actor: Annotated[Principal, Depends(require(Permission.TOKEN_OWN))], svc: Svc
) -> dict[str, object]:
    """The caller's tokens (every token for token.manage)."""
    tokens = svc.workspace.users.list_tokens(actor)
    return {"items": [token_dict(t) for t in tokens], "total": len(tokens)}


@router.post("/tokens", status_code=201)
def create_token(
    body: TokenCreate, actor: Annotated[Principal, Depends(require(Permission.TOKEN_OWN))], svc: Svc
) -> dict[str, object]:
    """Create a token; the secret is in the answer and never again."""
    users = svc.workspace.users
    if body.user == "system":
        actor.require(Permission.TOKEN_MANAGE)
        token, info = svc.workspace.tokens.create(
            body.name, body.scopes, expires_days=body.expires_days
        )
    else:
        token, info = users.create_token(
            actor, body.name, body.scopes, expires_days=body.expires_days, user=body.user
        )
    return {"token": token, **token_dict(info)}


@router.delete("/tokens/{ident}")
def revoke_token(
    ident: str, actor: Annotated[Principal, Depends(require(Permission.TOKEN_OWN))], svc: Svc
) -> dict[str, object]:
    """Revoke a token by id or prefix."""
    return token_dict(svc.workspace.users.revoke_token(actor, ident))
