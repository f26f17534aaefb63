"""SLA policies, the SLA status of alerts and cases, and an on-demand breach check."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from tocsin.api.deps import Services, require, services
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["sla"])

EntityType = Literal["alert", "case"]


class SlaPolicyCreate(BaseModel):
    """A new SLA policy: targets in minutes for one entity type and severity (and team)."""

    name: str = Field(min_length=1, max_length=200)
    entity_type: EntityType
    severity: str = Field(min_length=1, max_length=20)
    team_id: int | None = None
    acknowledge_minutes: int | None = Field(default=None, ge=1)
    resolve_minutes: int | None = Field(default=None, ge=1)
    business_hours: dict[str, Any] | None = Field(
        default=None,
        description="Working time (timezone, weekdays, start, end, holidays); null for 24x7.",
    )
    pause_statuses: list[str] = Field(default_factory=list)
    near_breach_percent: int = Field(default=80, ge=1, le=100)


class SlaPolicyUpdate(BaseModel):
    """Fields of a policy to change; a field left out stays, null clears where allowed."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    severity: str | None = Field(default=None, min_length=1, max_length=20)
    team_id: int | None = None
    acknowledge_minutes: int | None = Field(default=None, ge=1)
    resolve_minutes: int | None = Field(default=None, ge=1)
    business_hours: dict[str, Any] | None = None
    pause_statuses: list[str] | None = None
    near_breach_percent: int | None = Field(default=None, ge=1, le=100)
    enabled: bool | None = None


@router.get("/sla/policies")
def list_policies(
    actor: Annotated[Principal, Depends(require(Permission.SLA_READ))],
    svc: Annotated[Services, Depends(services)],
    entity_type: EntityType | None = None,
    severity: str | None = None,
    team_id: int | None = None,
    sort: Annotated[str | None, Query(description="id, name, severity, created_at; -desc")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, object]:
    """SLA policies."""
    page = svc.workspace.sla.list_policies(
        actor,
        entity_type=entity_type,
        severity=severity,
        team_id=team_id,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return page.to_dict([p.to_dict() for p in page.items])


@router.post("/sla/policies", status_code=201)
def create_policy(
    actor: Annotated[Principal, Depends(require(Permission.SLA_MANAGE))],
    svc: Annotated[Services, Depends(services)],
    body: SlaPolicyCreate,
) -> dict[str, object]:
    """Create an SLA policy."""
    policy = svc.workspace.sla.create_policy(
        actor,
        body.name,
        body.entity_type,
        body.severity,
        team_id=body.team_id,
        acknowledge_minutes=body.acknowledge_minutes,
        resolve_minutes=body.resolve_minutes,
        business_hours=body.business_hours,
        pause_statuses=body.pause_statuses,
        near_breach_percent=body.near_breach_percent,
    )
    return policy.to_dict()


@router.get("/sla/policies/{policy_id}")
def get_policy(
    actor: Annotated[Principal, Depends(require(Permission.SLA_READ))],
    svc: Annotated[Services, Depends(services)],
    policy_id: int,
) -> dict[str, object]:
    """One SLA policy."""
    return svc.workspace.sla.get_policy(actor, policy_id).to_dict()


@router.patch("/sla/policies/{policy_id}")
def update_policy(
    actor: Annotated[Principal, Depends(require(Permission.SLA_MANAGE))],
    svc: Annotated[Services, Depends(services)],
    policy_id: int,
    body: SlaPolicyUpdate,
) -> dict[str, object]:
    """Change an SLA policy."""
    changes = body.model_dump(exclude_unset=True)
    policy = svc.workspace.sla.update_policy(actor, policy_id, **changes)
    return policy.to_dict()


@router.delete("/sla/policies/{policy_id}", status_code=204, response_class=Response)
def delete_policy(
    actor: Annotated[Principal, Depends(require(Permission.SLA_MANAGE))],
    svc: Annotated[Services, Depends(services)],
    policy_id: int,
) -> Response:
    """Delete an SLA policy."""
    svc.workspace.sla.delete_policy(actor, policy_id)
    return Response(status_code=204)


@router.get("/sla/status/{entity_type}")
def status_many(
    actor: Annotated[Principal, Depends(require(Permission.SLA_READ))],
    svc: Annotated[Services, Depends(services)],
    entity_type: EntityType,
    ids: Annotated[list[int], Query(alias="id", max_length=1000)],
) -> dict[str, object]:
    """The SLA status of many alerts or cases (``?id=1&id=2``), for list views."""
    found = svc.workspace.sla.status_many(actor, entity_type, ids)
    return {"items": [s.to_dict() for s in found.values()]}


@router.get("/sla/status/{entity_type}/{entity_id}")
def status(
    actor: Annotated[Principal, Depends(require(Permission.SLA_READ))],
    svc: Annotated[Services, Depends(services)],
    entity_type: EntityType,
    entity_id: int,
) -> dict[str, object]:
    """The SLA status of one alert or case: due times, time left, state per target."""
    return svc.workspace.sla.status(actor, entity_type, entity_id).to_dict()


@router.post("/sla/check")
def check(
    _actor: Annotated[Principal, Depends(require(Permission.SLA_MANAGE))],
    svc: Annotated[Services, Depends(services)],
) -> dict[str, object]:
    """Run the SLA check now (as the scheduled job does) and return what changed."""
    events = svc.workspace.sla.check()
    return {"events": [e.to_dict() for e in events]}
