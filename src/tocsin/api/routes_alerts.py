"""Alerts over HTTP: the same ``AlertService`` the CLI and detectors use, with its checks.

Changing an alert may name the ``version`` that was read, in the body or as an ``If-Match``
header (reads send it as ``ETag``); a stale one answers 409 and the client reloads. The events
behind an alert are looked up in the lake by ``event.id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from tocsin.api.deps import Services, require, services
from tocsin.api.sla_view import attach_sla
from tocsin.api.versioning import IfMatch, Limit, Offset, tagged, version_from
from tocsin.core.timeutil import parse_time_bound
from tocsin.lake.reader import events_by_id
from tocsin.workspace.alerts import KEEP, AlertService
from tocsin.workspace.models import Classification
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["alerts"])


Svc = Annotated[Services, Depends(services)]
Reader = Annotated[Principal, Depends(require(Permission.ALERT_READ))]
Triager = Annotated[Principal, Depends(require(Permission.ALERT_TRIAGE))]
Closer = Annotated[Principal, Depends(require(Permission.ALERT_CLOSE))]
SuppressionManager = Annotated[Principal, Depends(require(Permission.SUPPRESSION_MANAGE))]
Listed = Annotated[
    list[str] | None, Query(description="Repeat or comma-separate for several values.")
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertStageUpdate(_Body):
    """A stage change (acknowledge, start, reopen); ``version`` is the version read."""

    version: int | None = None


class AlertClose(_Body):
    """Closing needs a classification; the comment is kept on the alert."""

    classification: Classification
    comment: str | None = Field(default=None, max_length=100_000)
    version: int | None = None


class AlertAssign(_Body):
    """A user and/or a team; null unassigns, a missing field stays as it is."""

    user_id: int | None = None
    team_id: int | None = None
    version: int | None = None


class CommentCreate(_Body):
    """A comment on an alert."""

    body: str = Field(min_length=1, max_length=100_000)


class AlertBulkUpdate(_Body):
    """One action on many alerts: ack, start, assign, close or reopen, with its parameters."""

    ids: list[int] = Field(min_length=1, max_length=1000)
    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class SuppressionCreate(_Body):
    """A suppression rule: a rule id (``prefix*`` allowed) and/or observable conditions."""

    name: str = Field(min_length=1, max_length=200)
    rule_id: str | None = Field(default=None, max_length=200)
    conditions: dict[str, str | list[str]] = Field(default_factory=dict)
    reason: str = Field(min_length=1, max_length=10_000)
    expires_at: datetime | None = None


def _alerts(svc: Services) -> AlertService:
    return svc.workspace.alerts


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


# Alerts ----------------------------------------------------------------------------------


@router.get("/alerts")
def list_alerts(
    actor: Reader,
    svc: Svc,
    status: Listed = None,
    severity: Listed = None,
    min_severity: str | None = None,
    rule_id: Annotated[str | None, Query(description="A rule id, or a prefix ending in *.")] = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
    classification: str | None = None,
    case_id: int | None = None,
    q: Annotated[str | None, Query(description="Text in the title or rule id.")] = None,
    since: Annotated[str | None, Query(description="Created at or after (-24h, ISO).")] = None,
    until: Annotated[str | None, Query(description="Created before (-1h, ISO).")] = None,
    sort: Annotated[str | None, Query(description="e.g. -severity,created_at")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Alerts, filtered, sorted (newest first by default) and paged."""
    page = _alerts(svc).list(
        actor,
        status=_split(status),
        severity=_split(severity),
        min_severity=min_severity,
        rule_id=rule_id,
        team_id=team_id,
        assignee_id=assignee_id,
        classification=classification,
        case_id=case_id,
        q=q,
        since=parse_time_bound(since) if since else None,
        until=parse_time_bound(until) if until else None,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return page.to_dict(attach_sla(svc, actor, "alert", [a.to_dict() for a in page.items]))


@router.post("/alerts/bulk")
def bulk_alerts(actor: Triager, svc: Svc, body: AlertBulkUpdate) -> dict[str, Any]:
    """Apply one action to many alerts; per-alert failures come back in ``errors``."""
    return _alerts(svc).bulk(actor, body.ids, body.action, **body.params).to_dict()


@router.get("/alerts/{alert_id}")
def get_alert(actor: Reader, svc: Svc, alert_id: int, response: Response) -> dict[str, Any]:
    """One alert; its ``version`` is also sent as the ETag."""
    alert = _alerts(svc).get(actor, alert_id).to_dict()
    return tagged(response, attach_sla(svc, actor, "alert", [alert])[0])


@router.post("/alerts/{alert_id}/ack")
def acknowledge_alert(
    actor: Triager,
    svc: Svc,
    alert_id: int,
    response: Response,
    body: AlertStageUpdate | None = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Acknowledge a new alert."""
    version = version_from(body.version if body else None, if_match)
    alert = _alerts(svc).acknowledge(actor, alert_id, version=version)
    return tagged(response, alert.to_dict())


@router.post("/alerts/{alert_id}/start")
def start_alert(
    actor: Triager,
    svc: Svc,
    alert_id: int,
    response: Response,
    body: AlertStageUpdate | None = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Mark an alert as in progress."""
    version = version_from(body.version if body else None, if_match)
    alert = _alerts(svc).start(actor, alert_id, version=version)
    return tagged(response, alert.to_dict())


@router.post("/alerts/{alert_id}/close")
def close_alert(
    actor: Closer,
    svc: Svc,
    alert_id: int,
    body: AlertClose,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Close an alert with a classification."""
    version = version_from(body.version, if_match)
    alert = _alerts(svc).close(actor, alert_id, body.classification, body.comment, version)
    return tagged(response, alert.to_dict())


@router.post("/alerts/{alert_id}/reopen")
def reopen_alert(
    actor: Closer,
    svc: Svc,
    alert_id: int,
    response: Response,
    body: AlertStageUpdate | None = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Reopen a closed alert (back to in progress, classification cleared)."""
    version = version_from(body.version if body else None, if_match)
    alert = _alerts(svc).reopen(actor, alert_id, version=version)
    return tagged(response, alert.to_dict())


@router.post("/alerts/{alert_id}/assign")
def assign_alert(
    actor: Triager,
    svc: Svc,
    alert_id: int,
    body: AlertAssign,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Assign to a user and/or a team (null unassigns; a missing field stays)."""
    given = body.model_fields_set
    alert = _alerts(svc).assign(
        actor,
        alert_id,
        user_id=body.user_id if "user_id" in given else KEEP,
        team_id=body.team_id if "team_id" in given else KEEP,
        version=version_from(body.version, if_match),
    )
    return tagged(response, alert.to_dict())


@router.get("/alerts/{alert_id}/comments")
def list_comments(actor: Reader, svc: Svc, alert_id: int) -> dict[str, Any]:
    """The alert's comments, oldest first."""
    comments = _alerts(svc).comments(actor, alert_id)
    return {"items": [c.to_dict() for c in comments], "total": len(comments)}


@router.post("/alerts/{alert_id}/comments", status_code=201)
def add_comment(actor: Triager, svc: Svc, alert_id: int, body: CommentCreate) -> dict[str, Any]:
    """Comment on an alert."""
    return {"id": _alerts(svc).comment(actor, alert_id, body.body)}


@router.get("/alerts/{alert_id}/history")
def alert_history(actor: Reader, svc: Svc, alert_id: int) -> dict[str, Any]:
    """Every change to the alert, oldest first."""
    _alerts(svc).get(actor, alert_id)  # 404 for an unknown alert
    entries = svc.workspace.history.history(actor, "alert", alert_id)
    return {"items": [e.to_dict() for e in entries], "total": len(entries)}


@router.get("/alerts/{alert_id}/events")
def alert_events(actor: Reader, svc: Svc, alert_id: int) -> dict[str, Any]:
    """The events that caused the alert, from the lake (``missing``: ids not found there)."""
    actor.require(Permission.SEARCH_READ)
    events, missing = events_by_id(svc.reader, _alerts(svc).events(actor, alert_id))
    return {"events": events, "missing": missing}


# Suppression rules ---------------------------------------------------------------------------


@router.get("/suppressions")
def list_suppressions(
    actor: Reader,
    svc: Svc,
    include_disabled: bool = True,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Suppression rules with their hit counts, newest first."""
    page = _alerts(svc).list_suppressions(
        actor, include_disabled=include_disabled, limit=limit, offset=offset
    )
    return page.to_dict([s.to_dict() for s in page.items])


@router.post("/suppressions", status_code=201)
def create_suppression(
    actor: SuppressionManager, svc: Svc, body: SuppressionCreate
) -> dict[str, Any]:
    """Create a suppression rule: matching drafts are counted on it instead of raised."""
    rule = _alerts(svc).create_suppression(
        actor,
        body.name,
        rule_id=body.rule_id,
        conditions=body.conditions,
        reason=body.reason,
        expires_at=body.expires_at,
    )
    return rule.to_dict()


@router.post("/suppressions/{suppression_id}/disable")
def disable_suppression(actor: SuppressionManager, svc: Svc, suppression_id: int) -> dict[str, Any]:
    """Stop a suppression rule (it stays listed with its hits)."""
    return _alerts(svc).disable_suppression(actor, suppression_id).to_dict()


@router.delete("/suppressions/{suppression_id}")
def delete_suppression(actor: SuppressionManager, svc: Svc, suppression_id: int) -> dict[str, str]:
    """Delete a suppression rule."""
    _alerts(svc).delete_suppression(actor, suppression_id)
    return {"status": "deleted"}
