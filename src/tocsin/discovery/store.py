"""Keep what a scan found: ``discovery.finding`` events, ``discovery.secret`` alerts, and
each finding's triage state in the workspace.

An event's ``event.original`` is the finding as the CLI prints it: masked value, hash,
fingerprint and reasons, never the value. Its id comes from the fingerprint and the exact
place, so scanning the same tree twice stores each finding once. High-confidence secrets raise
``discovery.secret`` alerts, deduplicated by fingerprint; personal data is inventoried, not
alerted (``discovery_alert_pii`` turns PII alerts on for high confidence).

Triage states: ``open`` (new), ``confirmed``, ``false_positive`` (later scans with this home
drop it, as an allow-list entry would) and ``fixed`` (seen again, it opens again, and the
history says so). Setting a state closes or acknowledges the finding's alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa

from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.core.event import Event, Reason
from tocsin.core.settings import Settings
from tocsin.discovery.findings import Finding
from tocsin.ingest.base import ParseBatch, ParseContext
from tocsin.ingest.pipeline import Pipeline
from tocsin.ingest.quarantine import Quarantine
from tocsin.lake.writer import LakeWriter
from tocsin.workspace.models import AlertDraft, Classification, Observable
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.service import Workspace
from tocsin.workspace.tables import DiscoveryFinding, DiscoveryTriage

DATASET = "discovery.finding"
SECRET_RULE = "discovery.secret"  # noqa: S105 - a rule id
PII_RULE = "discovery.pii"
STATES = ("open", "confirmed", "false_positive", "fixed")
PRINCIPAL_NAME = "discovery"


def discovery_principal() -> Principal:
    """The system principal discovery alerts are raised as."""
    return Principal.system(PRINCIPAL_NAME)


def event_id(finding: Finding) -> str:
    """Fingerprint plus exact place (line, commit, row): the same finding stored once."""
    loc = finding.location
    raw = f"{finding.fingerprint}\0{loc.line}:{loc.column}\0{loc.commit}\0{loc.row}\0{loc.event_id}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def to_event(finding: Finding, seen: datetime) -> Event:
    """The lake event of a finding (no value, only its masked form and hash)."""
    row = finding.to_dict()
    loc = finding.location
    event: Event = {
        "event.id": event_id(finding),
        "@timestamp": seen,
        "event.dataset": DATASET,
        "event.kind": "alert" if finding.level == "high" else "event",
        "event.category": ["file"] if loc.source in ("file", "git", "diff") else ["database"],
        "event.type": ["info"],
        "event.original": orjson.dumps(row).decode(),
        "rule.id": finding.rule_id,
        "rule.name": finding.title,
        "tocsin.discovery.category": finding.category,
        "tocsin.discovery.kind": finding.kind,
        "tocsin.discovery.level": finding.level,
        "tocsin.discovery.confidence": float(finding.confidence),
        "tocsin.discovery.masked": finding.masked,
        "tocsin.discovery.hash": finding.hash,
        "tocsin.discovery.fingerprint": finding.fingerprint,
        "tocsin.discovery.source": loc.source,
        "tocsin.discovery.location": loc.display(),
        "tocsin.discovery.reasons": [f"{r.check}: {r.detail}" for r in finding.reasons],
        "tags": list(finding.tags),
    }
    if loc.path:
        event["file.path"] = loc.path
    if loc.line:
        event["tocsin.discovery.line"] = loc.line
    if loc.owner:
        event["file.owner"] = loc.owner
    if loc.commit:
        event["tocsin.discovery.commit"] = loc.commit
    if loc.author:
        event["user.name"] = loc.author
    if loc.table is not None:
        event["tocsin.discovery.table"] = loc.table
        event["tocsin.discovery.column"] = loc.column_name or ""
        event["tocsin.discovery.row"] = loc.row or ""
    if loc.dataset is not None:
        event["tocsin.discovery.dataset"] = loc.dataset
        event["tocsin.discovery.event_id"] = loc.event_id or ""
    return event


def draft_for(finding: Finding, ids: Sequence[str]) -> AlertDraft:
    """The alert of a high-confidence finding."""
    loc = finding.location
    rule_id = SECRET_RULE if finding.category == "secret" else PII_RULE
    observables = [Observable("file", loc.path)] if loc.path and loc.source != "lake" else []
    if loc.author:
        observables.append(Observable("user", loc.author))
    return AlertDraft(
        rule_id=rule_id,
        title=f"{finding.title} in {loc.display()}"[:200],
        severity=finding.severity if finding.severity != "informational" else "low",
        event_ids=list(ids),
        observables=observables,
        tags=["attack.credential-access", "attack.t1552.001"]
        if finding.category == "secret"
        else ["attack.collection"],
        reasons=list(finding.reasons)
        + [Reason("masked", finding.masked, 0.0), Reason("fingerprint", finding.fingerprint, 0.0)],
        dedup_key=f"{rule_id}:{finding.fingerprint}",
        description=(
            f"{finding.kind} ({finding.level} confidence {finding.confidence:.2f}) at "
            f"{loc.display()}: {finding.masked}. Rotate the secret, then remove it and mark "
            "the finding fixed."
            if finding.category == "secret"
            else f"{finding.kind} at {loc.display()}: {finding.masked}."
        ),
        source="discovery",
        fields={
            "tocsin.discovery.fingerprint": finding.fingerprint,
            "tocsin.discovery.kind": finding.kind,
            "tocsin.discovery.masked": finding.masked,
            "file.path": loc.path,
        },
    )


@dataclass(slots=True)
class StoreReport:
    """What storing a scan wrote."""

    events: int = 0
    alerts_new: int = 0
    alerts_updated: int = 0
    suppressed: int = 0
    reopened: int = 0
    dropped_false_positive: int = 0
    alert_ids: dict[str, int] = field(default_factory=dict)


def false_positives(settings: Settings) -> frozenset[str]:
    """Fingerprints the team marked as false positives (scans with this home drop them)."""
    ws = Workspace.open(settings)
    try:
        with ws.db.session() as session:
            rows = session.scalars(
                sa.select(DiscoveryFinding.fingerprint).where(
                    DiscoveryFinding.state == "false_positive"
                )
            )
            return frozenset(rows)
    finally:
        ws.close()


def store_findings(
    settings: Settings,
    findings: Sequence[Finding],
    *,
    alert_pii: bool | None = None,
    now: datetime | None = None,
) -> StoreReport:
    """Write the findings to the lake, refresh their triage rows and raise their alerts."""
    report = StoreReport()
    if not findings:
        return report
    moment = now or datetime.now(UTC)
    ws = Workspace.open(settings)
    try:
        keep, report.reopened = _refresh(ws, findings, moment)
        report.dropped_false_positive = len(findings) - len(keep)
        events = [to_event(f, moment) for f in keep]
        _write(settings, events, moment)
        report.events = len(events)
        pii = settings.discovery_alert_pii if alert_pii is None else alert_pii
        grouped: dict[str, tuple[Finding, list[str]]] = {}
        for f, ev in zip(keep, events, strict=True):
            if f.level != "high" or (f.category == "pii" and not pii):
                continue
            grouped.setdefault(f.fingerprint, (f, []))[1].append(str(ev["event.id"]))
        actor = discovery_principal()
        for fp, (f, ids) in grouped.items():
            result = ws.raise_alerts([draft_for(f, ids)], actor=actor)
            report.alerts_new += len(result.created)
            report.alerts_updated += len(result.updated)
            report.suppressed += result.suppressed
            alert = [*result.created, *result.updated]
            if alert:
                report.alert_ids[fp] = alert[0]
        if report.alert_ids:
            with ws.db.session() as session:
                for fp, alert_id in report.alert_ids.items():
                    row = session.get(DiscoveryFinding, fp)
                    if row is not None:
                        row.alert_id = alert_id
    finally:
        ws.close()
    return report


def _refresh(
    ws: Workspace, findings: Sequence[Finding], moment: datetime
) -> tuple[list[Finding], int]:
    """Upsert triage rows; drop false positives; reopen fixed ones seen again."""
    keep: list[Finding] = []
    reopened = 0
    with ws.db.session() as session:
        prints = sorted({f.fingerprint for f in findings})
        rows: dict[str, DiscoveryFinding] = {}
        for start in range(0, len(prints), 500):
            chunk = prints[start : start + 500]
            for row in session.scalars(
                sa.select(DiscoveryFinding).where(DiscoveryFinding.fingerprint.in_(chunk))
            ):
                rows[row.fingerprint] = row
        for f in findings:
            found = rows.get(f.fingerprint)
            if found is None:
                row = DiscoveryFinding(
                    fingerprint=f.fingerprint,
                    rule_id=f.rule_id,
                    category=f.category,
                    kind=f.kind,
                    level=f.level,
                    source=f.location.source,
                    place=_place(f)[:2048],
                    location=f.location.display()[:2048],
                    owner=f.location.owner,
                    masked=f.masked[:300],
                    state="open",
                    first_seen=moment,
                    last_seen=moment,
                )
                session.add(row)
                rows[f.fingerprint] = row
                keep.append(f)
                continue
            row = found
            if row.state == "false_positive":
                continue
            if row.state == "fixed":
                session.add(
                    DiscoveryTriage(
                        fingerprint=row.fingerprint,
                        old_state="fixed",
                        new_state="open",
                        note=f"seen again at {f.location.display()}",
                        actor=PRINCIPAL_NAME,
                        at=moment,
                    )
                )
                row.state = "open"
                row.updated_by = PRINCIPAL_NAME
                row.updated_at = moment
                reopened += 1
            row.last_seen = moment
            row.location = f.location.display()[:2048]
            keep.append(f)
    return keep, reopened


def _place(f: Finding) -> str:
    loc = f.location
    if loc.table is not None:
        return f"{loc.path} {loc.table}"
    if loc.dataset is not None:
        return f"lake {loc.dataset}"
    return loc.path


def _write(settings: Settings, events: list[Event], moment: datetime) -> None:
    if not events:
        return
    writer = LakeWriter(settings.lake_dir, flush_events=settings.flush_events)
    pipeline = Pipeline(writer, Quarantine(settings.quarantine_dir), settings=settings)
    try:
        ctx = ParseContext(
            source="discovery", identity="discovery", dataset=DATASET, received=moment
        )
        pipeline.process(ParseBatch(events=events, issues=[], end_offset=0), ctx)
        writer.flush()
    finally:
        pipeline.close()
        writer.close()


@dataclass(frozen=True, slots=True)
class TriageRow:
    """A finding as the triage list shows it."""

    fingerprint: str
    rule_id: str
    category: str
    kind: str
    level: str
    source: str
    place: str
    location: str
    owner: str | None
    masked: str
    state: str
    alert_id: int | None
    first_seen: datetime
    last_seen: datetime

    def to_dict(self) -> dict[str, object]:
        """The row as JSON-ready values."""
        return {name: getattr(self, name) for name in self.__slots__}


def _row(r: DiscoveryFinding) -> TriageRow:
    return TriageRow(
        r.fingerprint,
        r.rule_id,
        r.category,
        r.kind,
        r.level,
        r.source,
        r.place,
        r.location,
        r.owner,
        r.masked,
        r.state,
        r.alert_id,
        r.first_seen,
        r.last_seen,
    )


def list_findings(
    ws: Workspace,
    actor: Principal,
    *,
    state: str | None = None,
    kind: str | None = None,
    category: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[TriageRow], int]:
    """Findings with their triage state, newest first, and how many match."""
    actor.require(Permission.SEARCH_READ)
    if state is not None and state not in STATES:
        raise InvalidInputError(f"state must be one of {', '.join(STATES)}")
    query = sa.select(DiscoveryFinding)
    if state:
        query = query.where(DiscoveryFinding.state == state)
    if kind:
        query = query.where(DiscoveryFinding.kind == kind)
    if category:
        query = query.where(DiscoveryFinding.category == category)
    with ws.db.session() as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(DiscoveryFinding.last_seen.desc(), DiscoveryFinding.fingerprint)
            .limit(max(1, min(limit, 1000)))
            .offset(max(0, offset))
        ).all()
        return [_row(r) for r in rows], int(total)


def set_state(
    ws: Workspace,
    actor: Principal,
    fingerprint: str,
    state: str,
    *,
    note: str = "",
    now: datetime | None = None,
) -> TriageRow:
    """Set a finding's state, record who and why, and close or acknowledge its alert."""
    actor.require(Permission.ALERT_TRIAGE)
    if state not in STATES:
        raise InvalidInputError(f"state must be one of {', '.join(STATES)}")
    moment = now or datetime.now(UTC)
    with ws.db.session() as session:
        row = session.get(DiscoveryFinding, fingerprint)
        if row is None:
            raise NotFoundError(f"no discovery finding {fingerprint}")
        old = row.state
        row.state = state
        row.updated_by = actor.name
        row.updated_at = moment
        session.add(
            DiscoveryTriage(
                fingerprint=fingerprint,
                old_state=old,
                new_state=state,
                note=note[:2000],
                actor=actor.name,
                at=moment,
            )
        )
        result = _row(row)
    if result.alert_id is not None and old != state:
        _follow_alert(ws, actor, result.alert_id, state, note)
    return result


def _follow_alert(ws: Workspace, actor: Principal, alert_id: int, state: str, note: str) -> None:
    from tocsin.workspace.models import AlertStatus

    alert = ws.alerts.get(actor, alert_id)
    comment = f"discovery finding marked {state.replace('_', ' ')}" + (f": {note}" if note else "")
    if state in ("false_positive", "fixed"):
        if alert.status != AlertStatus.CLOSED:
            classification = (
                Classification.FALSE_POSITIVE
                if state == "false_positive"
                else Classification.TRUE_POSITIVE
            )
            ws.alerts.close(actor, alert_id, classification, comment=comment)
    elif state == "confirmed" and alert.status == AlertStatus.NEW:
        ws.alerts.acknowledge(actor, alert_id)
    elif state == "open" and alert.status == AlertStatus.CLOSED:
        ws.alerts.reopen(actor, alert_id)


def triage_history(ws: Workspace, actor: Principal, fingerprint: str) -> list[dict[str, object]]:
    """Every change of a finding's state, oldest first."""
    actor.require(Permission.SEARCH_READ)
    with ws.db.session() as session:
        rows = session.scalars(
            sa.select(DiscoveryTriage)
            .where(DiscoveryTriage.fingerprint == fingerprint)
            .order_by(DiscoveryTriage.at, DiscoveryTriage.id)
        ).all()
        return [
            {"from": r.old_state, "to": r.new_state, "by": r.actor, "at": r.at, "note": r.note}
            for r in rows
        ]
