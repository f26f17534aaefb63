"""The audit log: read-only, as everything in it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tocsin.api.deps import Services, require, services
from tocsin.core.timeutil import parse_time_bound
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit")
def audit(
    actor: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
    svc: Annotated[Services, Depends(services)],
    action: Annotated[str | None, Query(description="login, token.use, export, ...")] = None,
    who: Annotated[str | None, Query(description="Actor name.")] = None,
    since: str | None = None,
    until: str | None = None,
    sort: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, object]:
    """Logins, permission changes, token use and exports, newest first."""
    page = svc.workspace.history.audit(
        actor,
        action=action,
        who=who,
        since=parse_time_bound(since) if since else None,
        until=parse_time_bound(until) if until else None,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return page.to_dict([e.to_dict() for e in page.items])
