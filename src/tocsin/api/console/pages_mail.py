"""The console's mail screens: submit a message, see its verdict, find its campaign, block it.

``/mail`` takes an .eml or .msg from the analyst's disk (a user's report, a message saved from
the gateway) and shows the verdict with every reason, as ``tocsin mail analyze`` prints it;
"keep it" stores the event and raises the alert. A ``mail.phishing`` alert's page links to
``/mail/campaign`` (the other messages sharing its sender, links or files) and offers to put
its sender, links and files on the block list.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tocsin.api.console.common import Viewer, form, page, redirect, render_page
from tocsin.api.deps import Services, services
from tocsin.api.routes_mail import analyzer_for
from tocsin.core.errors import InvalidInputError
from tocsin.core.event import make_event_id
from tocsin.mail.analyze import Analysis
from tocsin.mail.blocking import block_alert
from tocsin.mail.campaign import Campaign, find_campaign, pivots_from
from tocsin.mail.intake import MAX_MESSAGE_BYTES
from tocsin.mail.store import RULE_ID, block_ttl, store_analyses
from tocsin.mail.upload import as_rfc822
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]


@router.get("/mail")
def mail_form(
    request: Request, viewer: Annotated[Viewer, Depends(page(Permission.MAIL_SUBMIT))]
) -> HTMLResponse:
    """The form to submit a message."""
    return render_page(
        request,
        viewer,
        "mail.html",
        title="Analyse an email",
        nav="mail",
        limit=MAX_MESSAGE_BYTES,
    )


@router.post("/mail/analyze")
async def mail_analyze(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.MAIL_SUBMIT))],
    svc: Svc,
) -> Response:
    """Analyse the uploaded message; with ``store`` keep it and raise the alert."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_MESSAGE_BYTES + 64 * 1024:
        raise InvalidInputError(f"send a message of at most {MAX_MESSAGE_BYTES:,} bytes")
    data = await request.form()
    try:
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInputError("choose a message file (.eml or .msg)")
        raw = await upload.read(MAX_MESSAGE_BYTES + 1)
        name = upload.filename or "message.eml"
        stored = data.get("store") == "1"
    finally:
        await data.close()
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidInputError(f"{name} is over the {MAX_MESSAGE_BYTES:,}-byte limit")
    raw = as_rfc822(name, raw)
    source = f"console:{viewer.principal.name}/{name}"
    analysis: Analysis = await run_in_threadpool(
        analyzer_for(request, svc).analyze_bytes, raw, source=source
    )
    alert_id = None
    if stored:
        event_id = make_event_id("mail:console", _digest(raw))
        report = await run_in_threadpool(
            store_analyses, svc.settings, [(analysis, event_id)], workspace=svc.workspace
        )
        alert_id = report.stored[0].alert_id
    return render_page(
        request,
        viewer,
        "mail_result.html",
        title=f"Verdict: {analysis.verdict.value}",
        nav="mail",
        row=analysis.to_dict(),
        name=name,
        stored=stored,
        alert_id=alert_id,
    )


def _digest(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()


@router.get("/mail/campaign")
def mail_campaign(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.SEARCH_READ))],
    svc: Svc,
    alert_id: Annotated[int, Query()],
) -> HTMLResponse:
    """The messages that share the alert's sender, links, files or subject."""
    alert = svc.workspace.alerts.get(viewer.principal, alert_id)
    if alert.rule_id != RULE_ID:
        raise InvalidInputError(f"alert {alert_id} is not a {RULE_ID} alert")
    subject = (alert.fields or {}).get("email.subject")
    pivots = pivots_from(
        ((o["type"], o["value"]) for o in alert.observables),
        subject if isinstance(subject, str) else None,
    )
    found: Campaign | None = None
    problem = None
    try:
        found = find_campaign(svc.reader, pivots)
    except ValueError as exc:
        problem = str(exc)
    return render_page(
        request,
        viewer,
        "mail_campaign.html",
        title=f"Campaign of alert #{alert_id}",
        nav="mail",
        alert=alert,
        campaign=found,
        problem=problem,
    )


@router.post("/mail/block")
def mail_block(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.BLOCKLIST_MANAGE))],
    svc: Svc,
    alert_id: Annotated[int, Form()],
) -> Response:
    """Block the alert's sender, domains, links and files; back to the alert with a note."""
    results = block_alert(
        svc.workspace,
        viewer.principal,
        alert_id,
        ttl=block_ttl(svc.settings),
        protected=svc.settings.organisation_domains,
    )
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    request.app.state.mail_analyzer = None  # the next analysis reads the new entries
    return redirect(request, f"/alerts/{alert_id}", note=f"Block list: {summary}")
