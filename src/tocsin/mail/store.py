"""Keep what the analysis found: ``mail.message`` events in the lake, ``mail.phishing`` alerts.

Events go through the same pipeline as every other source (enrichers and detectors run on
them, so a Sigma rule over ``mail.message`` works too) and alerts through
``Workspace.raise_alerts``, where dedup and suppression happen. An event's id comes from where
the message was read (file and position, or mailbox and UID), so storing the same message
twice keeps one event and folds into one alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tocsin.core.event import Reason, utcnow
from tocsin.core.settings import Settings
from tocsin.ingest.base import ParseBatch, ParseContext
from tocsin.ingest.pipeline import Pipeline
from tocsin.ingest.quarantine import Quarantine
from tocsin.lake.reader import LakeReader
from tocsin.lake.writer import LakeWriter
from tocsin.mail.analyze import Analysis
from tocsin.mail.blocking import block_alert
from tocsin.mail.scoring import Verdict
from tocsin.workspace.models import AlertDraft
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

RULE_ID = "mail.phishing"
DATASET = "mail.message"
ID_CHUNK = 200
PRINCIPAL_NAME = "mail"


@dataclass(slots=True)
class Stored:
    """One analysis with the id of its event and, when it raised one, of its alert."""

    analysis: Analysis
    event_id: str
    alert_id: int | None = None


@dataclass(slots=True)
class StoreReport:
    """What a store call wrote."""

    stored: list[Stored] = field(default_factory=list)
    alerts_new: int = 0
    alerts_updated: int = 0
    suppressed: int = 0
    blocked: int = 0
    """Block-list entries added or extended (``mail_auto_block``)."""
    already_stored: int = 0
    """Messages whose event the lake already had (read again after a crash, or twice)."""


def block_ttl(settings: Settings) -> timedelta | None:
    """How long mail block-list entries last (None: no expiry)."""
    days = settings.mail_block_days
    return timedelta(days=days) if days > 0 else None


def mail_principal() -> Principal:
    """The system principal ``mail.phishing`` alerts are raised as."""
    return Principal.system(PRINCIPAL_NAME)


def tags_for(reasons: Sequence[Reason]) -> list[str]:
    """ATT&CK tags of a phishing alert: by attachment, by link, or by service (T1566.00x)."""
    checks = {r.check.split(".", 1)[0] for r in reasons if r.weight > 0}
    tags = ["attack.initial-access", "attack.t1566"]
    if "attachment" in checks:
        tags.append("attack.t1566.001")
    if "link" in checks:
        tags.append("attack.t1566.002")
    if any(r.check.startswith("sender.") and "impersonation" in r.check for r in reasons):
        tags.append("attack.t1656")  # impersonation
    return tags


def _stored_ids(settings: Settings, ids: Sequence[str]) -> set[str]:
    """The ids among ``ids`` that the lake already holds (one query per 200 ids)."""
    found: set[str] = set()
    if not ids or not settings.lake_dir.is_dir():
        return found
    reader = LakeReader(settings.lake_dir)
    for start in range(0, len(ids), ID_CHUNK):
        chunk = list(dict.fromkeys(ids[start : start + ID_CHUNK]))
        group = " OR ".join(f'"{i}"' for i in chunk)  # ids are hex: nothing to escape
        result = reader.search(f"event.id:({group})", limit=len(chunk), datasets=[DATASET])
        found.update(str(e.get("event.id")) for e in result.events)
    return found


def draft_for(analysis: Analysis, event_id: str) -> AlertDraft:
    """The ``mail.phishing`` alert of one analysis."""
    msg = analysis.message
    scored = analysis.scored
    who = msg.from_address or "an unknown sender"
    subject = msg.subject.strip() or "(no subject)"
    title = f"{scored.verdict.value.capitalize()} email from {who}: {subject}"[:200]
    top = "; ".join(f"{r.check} (+{r.weight:g})" for r in scored.reasons[:5] if r.weight)
    key_part = msg.message_id or (msg.attachments[0].sha256 if msg.attachments else event_id)
    return AlertDraft(
        rule_id=RULE_ID,
        title=title,
        severity=scored.severity or "low",
        event_ids=[event_id],
        observables=analysis.observables,
        tags=tags_for(scored.reasons),
        reasons=scored.reasons,
        dedup_key=f"{RULE_ID}:{key_part}",
        event_time=msg.date,
        description=f"Score {scored.score:g} ({scored.verdict.value}): {top}",
        source=analysis.source,
        fields={
            "email.subject": msg.subject,
            "email.from.address": msg.from_address,
            "email.message_id": msg.message_id,
            "tocsin.mail.verdict": scored.verdict.value,
            "tocsin.mail.score": scored.score,
        },
    )


def store_analyses(
    settings: Settings,
    analyses: Sequence[tuple[Analysis, str]],
    *,
    alert_suspicious: bool | None = None,
    workspace: Workspace | None = None,
) -> StoreReport:
    """Write each ``(analysis, event_id)`` as an event, and raise alerts for the bad ones."""
    report = StoreReport()
    known = _stored_ids(settings, [event_id for _a, event_id in analyses])
    fresh = [(a, event_id) for a, event_id in analyses if event_id not in known]
    report.already_stored = len(analyses) - len(fresh)
    if not fresh:
        return report
    received = utcnow()
    events = []
    for analysis, event_id in fresh:
        event = analysis.to_event()
        event["event.id"] = event_id
        moment = analysis.message.date
        event["@timestamp"] = moment if isinstance(moment, datetime) else received
        event["event.kind"] = "alert" if analysis.verdict is Verdict.PHISHING else "event"
        events.append(event)
        report.stored.append(Stored(analysis, event_id))
    writer = LakeWriter(settings.lake_dir, flush_events=settings.flush_events)
    pipeline = Pipeline(writer, Quarantine(settings.quarantine_dir), settings=settings)
    try:
        ctx = ParseContext(
            source="mail", identity="mail", dataset="mail.message", received=received
        )
        pipeline.process(ParseBatch(events=events, issues=[], end_offset=0), ctx)
        writer.flush()
    finally:
        pipeline.close()
        writer.close()

    raise_suspicious = (
        settings.mail_alert_suspicious if alert_suspicious is None else alert_suspicious
    )
    wanted = {Verdict.PHISHING} | ({Verdict.SUSPICIOUS} if raise_suspicious else set())
    drafts = [
        (index, draft_for(item.analysis, item.event_id))
        for index, item in enumerate(report.stored)
        if item.analysis.verdict in wanted
    ]
    if not drafts:
        return report
    owned = workspace is None
    ws = workspace or Workspace.open(settings)
    try:
        for index, draft in drafts:
            # one call per alert, so each analysis learns its alert's id
            result = ws.raise_alerts([draft], actor=mail_principal())
            report.alerts_new += len(result.created)
            report.alerts_updated += len(result.updated)
            report.suppressed += result.suppressed
            ids = [*result.created, *result.updated]
            report.stored[index].alert_id = ids[0] if ids else None
            if settings.mail_auto_block and result.created:
                report.blocked += len(
                    block_alert(
                        ws,
                        mail_principal(),
                        result.created[0],
                        ttl=block_ttl(settings),
                        protected=settings.organisation_domains,
                    )
                )
    finally:
        if owned:
            ws.close()
    return report
