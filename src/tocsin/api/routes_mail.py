"""Anti-phishing over HTTP: submit a message for a verdict, find its campaign.

``POST /api/v1/mail/analyze`` takes one message, either as the raw request body
(``Content-Type: message/rfc822``) or as the multipart field ``file`` (an .eml or .msg), and
answers with the same object as ``tocsin mail analyze --output json``. With ``store=true`` the
message also becomes a ``mail.message`` event and, when it is phishing, an alert; with
``reporter=`` the reporter's answer is queued too.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tocsin.api.deps import Services, require, services
from tocsin.core.errors import InvalidInputError
from tocsin.core.event import make_event_id
from tocsin.mail.analyze import MailAnalyzer
from tocsin.mail.answer import answer_channel, queue_answer, render_answer
from tocsin.mail.blocking import block_alert
from tocsin.mail.campaign import find_campaign, pivots_from
from tocsin.mail.intake import MAX_MESSAGE_BYTES
from tocsin.mail.policy import build_policy
from tocsin.mail.store import RULE_ID, block_ttl, store_analyses
from tocsin.mail.upload import as_rfc822
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1/mail", tags=["mail"])
Svc = Annotated[Services, Depends(services)]
MULTIPART_OVERHEAD = 64 * 1024
ANALYZER_TTL = 60.0  # seconds


def analyzer_for(request: Request, svc: Services) -> MailAnalyzer:
    """The server's analyzer, rebuilt at most every minute so new block-list entries, feeds
    and known senders count without a restart (building it takes a fraction of a second)."""
    state = request.app.state
    analyzer = getattr(state, "mail_analyzer", None)
    built = getattr(state, "mail_analyzer_built", 0.0)
    now = time.monotonic()
    if not isinstance(analyzer, MailAnalyzer) or now - built > ANALYZER_TTL:
        analyzer = MailAnalyzer(build_policy(svc.settings).policy)
        state.mail_analyzer = analyzer
        state.mail_analyzer_built = now
    return analyzer


async def _message_bytes(request: Request) -> tuple[bytes, str]:
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise InvalidInputError("send the message with a Content-Length header")
    if int(length) > MAX_MESSAGE_BYTES + MULTIPART_OVERHEAD:
        raise InvalidInputError(f"the message is over the {MAX_MESSAGE_BYTES:,}-byte limit")
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInputError("send the message as the multipart field 'file'")
            data = await upload.read(MAX_MESSAGE_BYTES + 1)
            name = upload.filename or "upload.eml"
        finally:
            await form.close()
    else:
        data = await request.body()
        name = "upload.eml"
    if len(data) > MAX_MESSAGE_BYTES:
        raise InvalidInputError(f"the message is over the {MAX_MESSAGE_BYTES:,}-byte limit")
    return as_rfc822(name, data), name


@router.post("/analyze")
async def analyze(
    request: Request,
    actor: Annotated[Principal, Depends(require(Permission.MAIL_SUBMIT))],
    svc: Svc,
    store: Annotated[bool, Query(description="Keep the event and raise the alert.")] = False,
    reporter: Annotated[
        str | None, Query(description="Address that reported it: gets the answer.")
    ] = None,
) -> JSONResponse:
    """Analyse one message; with ``store`` keep it, with ``reporter`` answer the reporter."""
    raw, name = await _message_bytes(request)
    analyzer = analyzer_for(request, svc)
    source = f"api:{actor.name}/{name}"
    analysis = await run_in_threadpool(analyzer.analyze_bytes, raw, source=source)
    body: dict[str, Any] = analysis.to_dict()
    if store or reporter:
        event_id = make_event_id("mail:api", hashlib.sha256(raw).hexdigest())
        report = await run_in_threadpool(
            store_analyses, svc.settings, [(analysis, event_id)], workspace=svc.workspace
        )
        stored = report.stored[0]
        body["event_id"] = event_id
        body["alert_id"] = stored.alert_id
        if reporter:
            body["answer_id"] = await run_in_threadpool(
                _answer, svc, reporter, analysis, stored.alert_id
            )
    return JSONResponse(body)


def _answer(svc: Services, reporter: str, analysis: Any, alert_id: int | None) -> int | None:
    if "@" not in reporter:
        raise InvalidInputError(f"reporter {reporter!r} is not an e-mail address")
    db = svc.workspace.db
    channel = answer_channel(db)
    if channel is None:
        return None
    msg = analysis.message
    text = render_answer(
        analysis.verdict.value,
        subject=msg.subject,
        sender=msg.from_address,
        reasons=analysis.scored.reasons,
        alert_id=alert_id,
        template_dir=svc.settings.home / "templates" / "mail",
    )
    return queue_answer(db, channel, reporter, msg.subject, text, alert_id=alert_id)


@router.get("/campaign")
async def campaign(
    actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))],
    svc: Svc,
    alert_id: Annotated[int, Query(description="A mail.phishing alert.")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The other messages that share the alert's sender, links, files or subject."""
    alert = await run_in_threadpool(svc.workspace.alerts.get, actor, alert_id)
    if alert.rule_id != RULE_ID:
        raise InvalidInputError(f"alert {alert_id} is not a {RULE_ID} alert")
    subject = alert.fields.get("email.subject")
    pivots = pivots_from(
        ((o["type"], o["value"]) for o in alert.observables),
        subject if isinstance(subject, str) else None,
    )
    found = await run_in_threadpool(find_campaign, svc.reader, pivots, limit=limit)
    return {
        "query": found.query,
        "recipients": found.recipients,
        "messages": [
            {
                "event_id": m.event_id,
                "time": m.time,
                "from": m.sender,
                "subject": m.subject,
                "verdict": m.verdict,
                "to": m.recipients,
                "shared": m.shared,
            }
            for m in found.messages
        ],
    }


@router.post("/block")
async def block(
    request: Request,
    actor: Annotated[Principal, Depends(require(Permission.BLOCKLIST_MANAGE))],
    svc: Svc,
    alert_id: Annotated[int, Query(description="A mail.phishing alert.")],
    days: Annotated[
        float | None, Query(ge=0, description="Expiry in days (default mail_block_days).")
    ] = None,
) -> dict[str, Any]:
    """Block the alert's sender, domains, links and attachment hashes, with provenance."""
    if days is None:
        ttl = block_ttl(svc.settings)
    else:
        ttl = timedelta(days=days) if days > 0 else None
    results = await run_in_threadpool(
        block_alert,
        svc.workspace,
        actor,
        alert_id,
        ttl=ttl,
        protected=svc.settings.organisation_domains,
    )
    request.app.state.mail_analyzer = None  # the next analysis reads the new entries
    return {"alert_id": alert_id, "entries": [r.to_dict() for r in results]}
