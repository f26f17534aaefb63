"""The console's data discovery page: where sensitive data lives, and the findings to triage.

The inventory (kinds of data per folder, table or dataset, as ``tocsin discovery inventory``
counts them) is a bar chart and a table; below it, the stored findings with their state, each
with a form to confirm it, call it a false positive or mark it fixed. Locations and masked
values come from scanned files and may be an attacker's text: the template autoescapes them
and the chart escapes its labels. No page ever shows a found value, only its masked form.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.api.console.common import Viewer, form, page, redirect, render_page
from tocsin.api.deps import Services, services
from tocsin.discovery.inventory import inventory
from tocsin.discovery.store import STATES, list_findings, set_state
from tocsin.web.charts import bar_chart
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]

PAGE_SIZE = 100
STATE_LABELS = {
    "open": "Open",
    "confirmed": "Confirmed",
    "false_positive": "False positive",
    "fixed": "Fixed",
}


@router.get("/discovery", response_class=HTMLResponse)
def discovery_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.SEARCH_READ))],
    svc: Svc,
    state: str | None = "open",
    by: str = "folder",
    offset: int = 0,
) -> HTMLResponse:
    """The inventory chart and table, and the findings in one state."""
    chosen = state if state in STATES else None
    grouping = by if by in ("folder", "owner", "source") else "folder"
    table = inventory(svc.workspace, viewer.principal, by=grouping, depth=2)
    rows, total = list_findings(
        svc.workspace, viewer.principal, state=chosen, limit=PAGE_SIZE, offset=max(0, offset)
    )
    totals = {place: sum(counts.values()) for place, counts in table.rows.items()}
    chart = bar_chart(
        [(place, float(n)) for place, n in list(totals.items())[:15]],
        label=f"Findings by {grouping}",
    )
    return render_page(
        request,
        viewer,
        "discovery.html",
        title="Data discovery",
        nav="discovery",
        inventory=table,
        totals=totals,
        chart=chart,
        findings=rows,
        total=total,
        state=chosen,
        by=grouping,
        offset=max(0, offset),
        page_size=PAGE_SIZE,
        states=STATE_LABELS,
        can_triage=viewer.can(Permission.ALERT_TRIAGE.value),
    )


@router.post("/discovery/triage")
def discovery_triage(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.ALERT_TRIAGE))],
    svc: Svc,
    fingerprint: Annotated[str, Form(max_length=64)],
    state: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Set a finding's state, then back to the list with a note."""
    row = set_state(svc.workspace, viewer.principal, fingerprint, state, note=note)
    label = STATE_LABELS.get(row.state, row.state)
    return redirect(request, "/discovery", note=f"{row.kind} at {row.location[:120]}: {label}")
