"""The alert queue and the alert detail page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.api.console.common import (
    Viewer,
    form,
    page,
    people,
    redirect,
    render_page,
    sla_status,
)
from tocsin.api.deps import Services, services
from tocsin.core.errors import InvalidInputError
from tocsin.core.timeutil import parse_time_bound
from tocsin.detect.catalog import RuleCatalog
from tocsin.lake.reader import events_by_id
from tocsin.pcap.evidence import has_network_evidence
from tocsin.web.render import render
from tocsin.workspace.models import AlertStatus, Classification
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]

OPEN_STATUSES = ["new", "acknowledged", "in_progress"]
RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
SORTS = {
    "-created_at": "Newest first",
    "-severity,-created_at": "Most severe first",
    "created_at": "Oldest first",
    "-last_seen": "Last seen",
    "-count": "Most events",
}
PAGE_SIZE = 50


def catalog(svc: Services) -> RuleCatalog:
    """The server's rule catalogue (one per app, built on first use)."""
    state = svc.__dict__
    found: RuleCatalog | None = state.get("_rule_catalog")
    if found is None:
        found = state["_rule_catalog"] = RuleCatalog(svc.settings)
    return found


def _int(value: str | None) -> int | None:
    if value in (None, "", "any"):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"{value!r} is not a number") from None


def alert_filters(request: Request, viewer: Viewer) -> dict[str, Any]:
    """The queue's filters from the query string, as ``AlertService.list`` keywords."""
    params = request.query_params
    statuses = params.getlist("status")
    if not statuses:
        statuses = OPEN_STATUSES
    elif "all" in statuses:
        statuses = []
    since = until = None
    span = params.get("range", "")
    if span in RANGES:
        since = datetime.now(UTC) - RANGES[span]
    if params.get("since"):
        since = parse_time_bound(params["since"])
    if params.get("until"):
        until = parse_time_bound(params["until"])
    assignee = params.get("assignee", "")
    assignee_id = viewer.principal.user_id if assignee == "me" else _int(assignee)
    sort = params.get("sort") or "-created_at"
    return {
        "status": statuses or None,
        "severity": params.getlist("severity") or None,
        "rule_id": params.get("rule") or None,
        "team_id": _int(params.get("team")),
        "assignee_id": assignee_id,
        "q": params.get("q") or None,
        "since": since,
        "until": until,
        "sort": sort if sort in SORTS else "-created_at",
    }


@router.get("/alerts")
def alert_queue(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.ALERT_READ))],
    svc: Svc,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """The alert queue: filters, sort, bulk actions, live rows, SLA countdowns."""
    filters = alert_filters(request, viewer)
    alerts = svc.workspace.alerts.list(viewer.principal, limit=PAGE_SIZE, offset=offset, **filters)
    sla = sla_status(svc, viewer, "alert", [a.id for a in alerts.items])
    newest = max((a.id for a in alerts.items), default=0)
    live_query = str(request.url.query)
    return render_page(
        request,
        viewer,
        "alerts.html",
        title="Alerts",
        nav="alerts",
        alerts=alerts,
        sla=sla,
        filters=filters,
        sorts=SORTS,
        ranges=list(RANGES),
        statuses=[s.value for s in AlertStatus],
        classifications=[c.value for c in Classification],
        newest=newest,
        live=offset == 0 and filters["sort"] == "-created_at",
        live_query=live_query,
        **people(svc, viewer),
    )


@router.get("/alerts/rows")
def alert_rows(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.ALERT_READ))],
    svc: Svc,
    after: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Rows of the queue newer than ``after`` (the live update), with the filters applied."""
    filters = alert_filters(request, viewer)
    filters["sort"] = "-created_at"
    found = svc.workspace.alerts.list(viewer.principal, limit=PAGE_SIZE, **filters)
    fresh = [a for a in found.items if a.id > after]
    newest = max([after, *(a.id for a in fresh)])
    html = ""
    if fresh:
        html = render(
            "alert_rows.html",
            {
                "alerts": fresh,
                "sla": sla_status(svc, viewer, "alert", [a.id for a in fresh]),
                "viewer": viewer,
            },
        )
    return HTMLResponse(html, headers={"X-Tocsin-Newest": str(newest)})


@router.post("/alerts/bulk")
async def bulk_action(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.ALERT_READ))],
    svc: Svc,
) -> Response:
    """Acknowledge, start, assign, close or reopen the selected alerts."""
    data = await request.form()
    ids = [int(str(i)) for i in data.getlist("ids") if str(i).isdigit()]
    action = str(data.get("action") or "")
    params: dict[str, Any] = {}
    if action == "close":
        params["classification"] = str(data.get("classification") or "")
        if data.get("comment"):
            params["comment"] = str(data.get("comment"))
    elif action == "assign":
        params["user_id"] = _int(str(data.get("user_id") or "")) if data.get("user_id") else None
        if data.get("team_id"):
            params["team_id"] = _int(str(data.get("team_id")))
    if not ids:
        raise InvalidInputError("select at least one alert")
    result = svc.workspace.alerts.bulk(viewer.principal, ids, action, **params)
    note = f"{action}: {len(result.done)} done"
    if result.errors:
        first = next(iter(result.errors.items()))
        note += f", {len(result.errors)} not done (#{first[0]}: {first[1]})"
    back = str(data.get("next") or "/alerts")
    return redirect(request, back if back.startswith("/alerts") else "/alerts", note=note)


@router.get("/alerts/{alert_id}")
def alert_detail(
    request: Request,
    alert_id: int,
    viewer: Annotated[Viewer, Depends(page(Permission.ALERT_READ))],
    svc: Svc,
) -> HTMLResponse:
    """One alert: events as fields, reasons, the rule, observables, related alerts, actions."""
    alerts = svc.workspace.alerts
    actor = viewer.principal
    alert = alerts.get(actor, alert_id)
    events: list[dict[str, object]] = []
    missing: list[str] = []
    if viewer.can(Permission.SEARCH_READ.value):
        # the events lie around the alert's own times: bounding the lookup spares a scan of
        # the whole lake for ids that retention has removed
        margin = timedelta(days=1)
        events, missing = events_by_id(
            svc.reader,
            alerts.events(actor, alert_id)[:20],
            since=alert.first_seen - margin,
            until=alert.last_seen + margin,
        )
    same_rule = alerts.list(actor, rule_id=alert.rule_id, limit=9).items
    related = [a for a in same_rule if a.id != alert.id]
    cases: list[Any] = []
    if viewer.can(Permission.CASE_READ.value):
        cases = svc.workspace.cases.list(actor, status="open", limit=50).items
    rule = catalog(svc).get(alert.rule_id) if alert.rule_id else None
    return render_page(
        request,
        viewer,
        "alert.html",
        title=f"Alert #{alert.id}",
        nav="alerts",
        alert=alert,
        events=events,
        missing=missing,
        rule=rule,
        related=related,
        open_cases=cases,
        sla=sla_status(svc, viewer, "alert", [alert.id]).get(alert.id),
        comments=alerts.comments(actor, alert_id),
        classifications=[c.value for c in Classification],
        pivot=_pivot_query(alert),
        packets=has_network_evidence(events, alert.fields),
        **people(svc, viewer),
    )


def _pivot_query(alert: Any) -> str:
    """A search that finds the alert's context: its host and user, else its events."""
    parts = []
    fields = alert.fields or {}
    for key in ("host.name", "user.name", "source.ip"):
        value = fields.get(key)
        if value:
            parts.append(f'{key}:"{str(value).replace(chr(34), "")}"')
    if not parts and alert.event_ids:
        parts.append('event.id:"' + str(alert.event_ids[0]).replace('"', "") + '"')
    return " AND ".join(parts)


@router.post("/alerts/{alert_id}/action")
async def alert_action(
    request: Request,
    alert_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.ALERT_READ))],
    svc: Svc,
    action: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """One stage change on one alert: ack, start, assign, close, reopen, comment."""
    data = await request.form()
    alerts = svc.workspace.alerts
    actor = viewer.principal
    version = _int(str(data.get("version") or "")) if data.get("version") else None
    if action == "ack":
        alerts.acknowledge(actor, alert_id, version=version)
        note = "Acknowledged."
    elif action == "start":
        alerts.start(actor, alert_id, version=version)
        note = "Work started."
    elif action == "close":
        alerts.close(
            actor,
            alert_id,
            str(data.get("classification") or ""),
            str(data.get("comment") or "") or None,
            version=version,
        )
        note = "Closed."
    elif action == "reopen":
        alerts.reopen(actor, alert_id, version=version)
        note = "Reopened."
    elif action == "assign":
        user = str(data.get("user_id") or "")
        team = str(data.get("team_id") or "")
        alerts.assign(actor, alert_id, user_id=_int(user), team_id=_int(team))
        note = "Assigned."
    elif action == "comment":
        alerts.comment(actor, alert_id, str(data.get("body") or ""))
        note = "Comment added."
    else:
        raise InvalidInputError(f"unknown action {action!r}")
    return redirect(request, f"/alerts/{alert_id}", note=note)


@router.post("/alerts/{alert_id}/case")
async def alert_to_new_case(
    request: Request,
    alert_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.CASE_CREATE))],
    svc: Svc,
    title: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Open a new case from the alert."""
    case = svc.workspace.cases.create_from_alerts(
        viewer.principal, [alert_id], title=title.strip() or None
    )
    return redirect(request, f"/cases/{case.id}", note=f"Case #{case.id} opened.")


@router.post("/alerts/{alert_id}/add-to-case")
async def alert_to_open_case(
    request: Request,
    alert_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.CASE_UPDATE))],
    svc: Svc,
    case_id: Annotated[int, Form()] = 0,
) -> Response:
    """Add the alert to an open case."""
    svc.workspace.cases.add_alerts(viewer.principal, case_id, [alert_id])
    return redirect(request, f"/cases/{case_id}", note=f"Alert #{alert_id} added to the case.")
