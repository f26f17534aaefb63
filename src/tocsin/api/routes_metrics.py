"""Operations metrics (MTTD, MTTA, MTTR, time in stage, SLA compliance, noisy rules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from tocsin.api.deps import Services, require, services
from tocsin.core.timeutil import parse_time_bound
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["metrics"])

DEFAULT_SINCE = "30d"


@router.get("/metrics")
def metrics(
    actor: Annotated[Principal, Depends(require(Permission.METRICS_READ))],
    svc: Annotated[Services, Depends(services)],
    since: Annotated[
        str, Query(description="Start of the window: -24h, 30d, an ISO time.")
    ] = DEFAULT_SINCE,
    until: Annotated[str | None, Query(description="End of the window (default: now).")] = None,
    team_id: int | None = None,
    period: Literal["day", "week", "month"] | None = None,
    entity_type: Literal["alert", "case"] = "alert",
) -> dict[str, object]:
    """Metrics of the alerts (or cases) created in the window, computed from their history."""
    now = datetime.now(UTC)
    report = svc.workspace.metrics.compute(
        actor,
        since=parse_time_bound(since, now=now),
        until=parse_time_bound(until, now=now) if until else now,
        team_id=team_id,
        period=period,
        entity_type=entity_type,
        now=now,
    )
    return report.to_dict()
