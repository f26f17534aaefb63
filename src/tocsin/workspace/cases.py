"""Cases: investigations opened by hand, from a template or from alerts.

``CaseService`` is the only way the API and the CLI touch cases. Every method takes the acting
``Principal`` first and checks its permission: reading needs ``case.read``, edits
``case.update``, creating ``case.create``, closing, reopening and merging ``case.close``, and
templates ``template.manage``.

Invariants:
- every change writes its history records in the same transaction (``workspace.history``);
- a case's own fields change only through ``update`` (or close, reopen, merge), which needs the
  ``version`` the caller read: a stale version raises ConflictError, so of two analysts editing
  the same case the second must reload and reapply, and no update is silently lost;
- an alert belongs to at most one open case;
- merging never repeats a description the target already contains.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session

from tocsin.core.errors import ConflictError, InvalidInputError
from tocsin.core.settings import Settings
from tocsin.workspace.case_common import (
    MAX_TEXT,
    MAX_TITLE,
    CaseRead,
    case_counts,
    case_read,
    check_team,
    check_user,
    check_version,
    clean_tags,
    clean_techniques,
    clean_text,
    flush_or_conflict,
    load_case,
    parse_pap,
    parse_tlp,
    read_case,
    techniques_from_tags,
    transaction,
)
from tocsin.workspace.case_links import CaseLinksMixin, load_alerts
from tocsin.workspace.case_parts import CasePartsMixin, insert_task
from tocsin.workspace.case_templates import CaseTemplatesMixin, find_template
from tocsin.workspace.db import Database
from tocsin.workspace.history import HistoryEntry, record_change
from tocsin.workspace.models import CaseStatus, Classification, Severity, Tlp
from tocsin.workspace.notify import Emission, NotificationEvent, emit
from tocsin.workspace.paging import Page, order_by, paginate
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import (
    Alert,
    Case,
    HistoryRecord,
    Task,
)

_UPDATABLE = frozenset(
    {
        "title",
        "description",
        "severity",
        "tags",
        "techniques",
        "tlp",
        "pap",
        "team_id",
        "assignee_id",
        "summary",
        "status",
    }
)
_SORTS = {
    "id": Case.id,
    "created_at": Case.created_at,
    "updated_at": Case.updated_at,
    "closed_at": Case.closed_at,
    "severity": Case.severity_rank,
    "status": Case.status,
    "title": Case.title,
}


def parse_classification(value: Classification | str) -> Classification:
    """A classification from its name."""
    try:
        return Classification(str(value).strip().lower())
    except ValueError:
        known = ", ".join(c.value for c in Classification)
        raise InvalidInputError(f"unknown classification {value!r}: use one of {known}") from None


def parse_case_status(value: CaseStatus | str) -> CaseStatus:
    """A case status from its name."""
    try:
        return CaseStatus(str(value).strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in CaseStatus)
        raise InvalidInputError(f"unknown case status {value!r}: use one of {known}") from None


class CaseService(CaseLinksMixin, CaseTemplatesMixin, CasePartsMixin):
    """Create, read, update, close, reopen and merge cases; their parts and templates."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # Create ---------------------------------------------------------------------------

    def create(
        self,
        actor: Principal,
        *,
        title: str | None = None,
        description: str | None = None,
        severity: Severity | str | None = None,
        team_id: int | None = None,
        assignee_id: int | None = None,
        tags: Sequence[str] = (),
        techniques: Sequence[str] = (),
        tlp: Tlp | str = "amber",
        pap: Tlp | str = "amber",
        template: int | str | None = None,
        alert_ids: Sequence[int] = (),
    ) -> CaseRead:
        """Open a case by hand, from a template (name or id), from alerts, or all three.

        What is not given comes from the template, then from the alerts: the title from the
        template, else the most severe alert's; the severity is the highest of the template's
        and the alerts'; description and tags from the template. Linked alerts bring their
        observables (without repeats) and their ATT&CK techniques (``attack.t1059.001`` ->
        ``T1059.001``). The template's tasks are created.
        """
        actor.require(Permission.CASE_CREATE)
        now = datetime.now(UTC)
        with transaction(self.db) as session:
            tpl = find_template(session, template) if template is not None else None
            alerts = load_alerts(session, alert_ids)
            top = alerts[0] if alerts else None
            if title is not None:
                title = clean_text(title, "the title", limit=MAX_TITLE, required=True)
            else:
                title = tpl.title if tpl else top.title[:MAX_TITLE] if top else None
            if not title:
                raise InvalidInputError(
                    "a case needs a title (or a template or alerts to take it from)"
                )
            level = self._initial_severity(severity, tpl.severity if tpl else None, top)
            if description is None:
                description = tpl.description if tpl else ""
            text = clean_text(description, "the description", limit=MAX_TEXT)
            case_tags = clean_tags(tags) or list(tpl.tags if tpl else [])
            alert_tags = [t for a in alerts for t in (a.tags or [])]
            case_tags = clean_tags([*case_tags, *alert_tags])
            case_techniques = clean_techniques([*techniques, *techniques_from_tags(alert_tags)])
            case = Case(
                title=title,
                description=text,
                severity=level.value,
                severity_rank=level.rank,
                status=CaseStatus.NEW.value,
                tlp=parse_tlp(tlp).value,
                pap=parse_pap(pap).value,
                team_id=check_team(session, team_id),
                assignee_id=check_user(session, assignee_id),
                tags=case_tags,
                techniques=case_techniques,
                template_id=tpl.id if tpl else None,
                created_by=actor.name,
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            session.flush()
            record_change(
                session,
                "case",
                case.id,
                actor,
                "create",
                after={
                    "title": case.title,
                    "severity": case.severity,
                    "status": case.status,
                    "team_id": case.team_id,
                    "assignee_id": case.assignee_id,
                    "tlp": case.tlp,
                    "pap": case.pap,
                    "tags": case.tags,
                    "techniques": case.techniques,
                    "template_id": case.template_id,
                    "alert_ids": [a.id for a in alerts],
                },
                at=now,
            )
            for item in tpl.tasks if tpl else []:
                insert_task(
                    session,
                    actor,
                    case.id,
                    title=str(item.get("title", "")),
                    description=str(item.get("description", "") or ""),
                    now=now,
                )
            if alerts:
                self._attach_alerts(session, actor, case, alerts, now)
            emissions = [
                Emission(
                    NotificationEvent.CASE_CREATED,
                    f"Case #{case.id} opened: {case.title}",
                    {"case_id": case.id, "title": case.title, "severity": case.severity},
                    case.severity,
                    case.team_id,
                )
            ]
            if case.assignee_id is not None:
                emissions.append(self._assigned(case))
            emit(session, emissions)
            return read_case(session, case)

    def create_from_alerts(
        self, actor: Principal, alert_ids: Sequence[int], **overrides: Any
    ) -> CaseRead:
        """Open a case from alerts; ``overrides`` are ``create`` keywords (title, severity...)."""
        if not alert_ids:
            raise InvalidInputError("name at least one alert to open a case from")
        return self.create(actor, alert_ids=alert_ids, **overrides)

    @staticmethod
    def _initial_severity(
        given: Severity | str | None, template: str | None, top: Alert | None
    ) -> Severity:
        if given is not None:
            return Severity.parse(str(given))
        candidates = [Severity.parse(s) for s in (template, top.severity if top else None) if s]
        if not candidates:
            raise InvalidInputError(
                "a case needs a severity (or a template or alerts to take it from)"
            )
        return max(candidates, key=lambda s: s.rank)

    @staticmethod
    def _assigned(case: Case) -> Emission:
        return Emission(
            NotificationEvent.CASE_ASSIGNED,
            f"Case #{case.id} assigned to you: {case.title}",
            {"case_id": case.id, "title": case.title, "assignee_id": case.assignee_id},
            case.severity,
            case.team_id,
            case.assignee_id,
        )

    # Read -----------------------------------------------------------------------------

    def get(self, actor: Principal, case_id: int) -> CaseRead:
        """One case with its counts and ``version``."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            return read_case(session, load_case(session, case_id))

    def list(
        self,
        actor: Principal,
        *,
        status: str | None = None,
        severity: Severity | str | None = None,
        min_severity: Severity | str | None = None,
        team_id: int | None = None,
        assignee_id: int | None = None,
        q: str | None = None,
        tag: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        sort: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[CaseRead]:
        """Cases filtered and sorted, newest first by default.

        ``status`` is one status, several comma-separated, or ``open`` (anything not closed);
        ``q`` searches title and description (case-insensitive); ``since``/``until`` bound the
        creation time.
        """
        actor.require(Permission.CASE_READ)
        query = select(Case)
        if status:
            names = [s.strip().lower() for s in status.split(",") if s.strip()]
            if names == ["open"]:
                query = query.where(Case.status != CaseStatus.CLOSED.value)
            else:
                query = query.where(Case.status.in_([parse_case_status(n).value for n in names]))
        if severity:
            query = query.where(Case.severity == Severity.parse(str(severity)).value)
        if min_severity:
            query = query.where(Case.severity_rank >= Severity.parse(str(min_severity)).rank)
        if team_id is not None:
            query = query.where(Case.team_id == team_id)
        if assignee_id is not None:
            query = query.where(Case.assignee_id == assignee_id)
        if q:
            needle = q.strip().lower()
            query = query.where(
                or_(
                    func.lower(Case.title).contains(needle, autoescape=True),
                    func.lower(Case.description).contains(needle, autoescape=True),
                )
            )
        if tag:
            # Tags are a JSON list; match the tag's exact JSON string inside its text.
            encoded = json.dumps(tag.strip())
            query = query.where(cast(Case.tags, String).contains(encoded, autoescape=True))
        if since:
            query = query.where(Case.created_at >= since)
        if until:
            query = query.where(Case.created_at < until)
        query = query.order_by(*order_by(sort, _SORTS, "-created_at"), Case.id.desc())
        with self.db.session() as session:
            rows, total = paginate(session, query, limit=limit, offset=offset)
            counts = case_counts(session, [r.id for r in rows])
            items = [case_read(r, counts[r.id]) for r in rows]
        return Page(items, total, limit, offset)

    def history(self, actor: Principal, case_id: int) -> builtins.list[HistoryEntry]:
        """Every change to the case and to its tasks, oldest first."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            load_case(session, case_id)
            task_ids = select(Task.id).where(Task.case_id == case_id)
            rows = session.scalars(
                select(HistoryRecord)
                .where(
                    or_(
                        (HistoryRecord.entity_type == "case")
                        & (HistoryRecord.entity_id == case_id),
                        (HistoryRecord.entity_type == "task")
                        & HistoryRecord.entity_id.in_(task_ids),
                    )
                )
                .order_by(HistoryRecord.at, HistoryRecord.id)
            ).all()
            return [
                HistoryEntry(
                    r.id,
                    r.entity_type,
                    r.entity_id,
                    r.action,
                    r.field,
                    r.before,
                    r.after,
                    r.actor,
                    r.at,
                )
                for r in rows
            ]

    # Update, close, reopen ------------------------------------------------------------

    def update(
        self, actor: Principal, case_id: int, *, version: int | None, **fields: Any
    ) -> CaseRead:
        """Change case fields; ``version`` is the one read (stale: ConflictError).

        Fields: title, description, severity, tags, techniques, tlp, pap, team_id,
        assignee_id, summary, status (new, in_progress, on_hold; closing is ``close``). Each
        changed field writes one history record (action ``update``).
        """
        actor.require(Permission.CASE_UPDATE)
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise InvalidInputError(
                f"cannot change {', '.join(sorted(unknown))} of a case: use "
                f"{', '.join(sorted(_UPDATABLE))}"
            )
        now = datetime.now(UTC)
        with transaction(self.db) as session:
            case = load_case(session, case_id)
            check_version("case", case.id, case.version, version)
            changes: builtins.list[tuple[str, Any, Any]] = []
            for name, raw in fields.items():
                value = self._field_value(session, name, raw)
                before = getattr(case, name)
                if before != value:
                    changes.append((name, before, value))
            if any(name == "status" for name, _b, _a in changes):
                if case.status == CaseStatus.CLOSED.value:
                    raise ConflictError(f"case #{case.id} is closed: reopen it first")
            if not changes:
                return read_case(session, case)
            for name, _before, value in changes:
                setattr(case, name, value)
                if name == "severity":
                    case.severity_rank = Severity(value).rank
            case.updated_at = now
            flush_or_conflict(session, "case", case.id)
            for name, before, after in changes:
                record_change(
                    session,
                    "case",
                    case.id,
                    actor,
                    "update",
                    field=name,
                    before=before,
                    after=after,
                    at=now,
                )
            if any(n == "assignee_id" for n, _b, _a in changes) and case.assignee_id is not None:
                emit(session, [self._assigned(case)])
            return read_case(session, case)

    @staticmethod
    def _field_value(session: Session, name: str, raw: Any) -> Any:
        if name == "title":
            return clean_text(raw, "the title", limit=MAX_TITLE, required=True)
        if name in {"description", "summary"}:
            text = clean_text(raw, f"the {name}", limit=MAX_TEXT)
            return None if name == "summary" and raw is None else text
        if name == "severity":
            return Severity.parse(str(raw)).value
        if name == "tags":
            return clean_tags(raw)
        if name == "techniques":
            return clean_techniques(raw)
        if name == "tlp":
            return parse_tlp(raw).value
        if name == "pap":
            return parse_pap(raw).value
        if name == "team_id":
            return check_team(session, raw)
        if name == "assignee_id":
            return check_user(session, raw)
        status = parse_case_status(raw)
        if status is CaseStatus.CLOSED:
            raise InvalidInputError("close a case with close (it needs a classification)")
        return status.value

    def close(
        self,
        actor: Principal,
        case_id: int,
        *,
        classification: Classification | str,
        summary: str | None = None,
        version: int | None = None,
    ) -> CaseRead:
        """Close a case with a classification (and a summary); history records both."""
        actor.require(Permission.CASE_CLOSE)
        verdict = parse_classification(classification)
        text = None if summary is None else clean_text(summary, "the summary", limit=MAX_TEXT)
        now = datetime.now(UTC)
        with transaction(self.db) as session:
            case = load_case(session, case_id)
            if version is not None:
                check_version("case", case.id, case.version, version)
            if case.status == CaseStatus.CLOSED.value:
                raise ConflictError(f"case #{case.id} is already closed")
            changes = [
                ("status", case.status, CaseStatus.CLOSED.value),
                ("classification", case.classification, verdict.value),
            ]
            if text is not None and text != case.summary:
                changes.append(("summary", case.summary, text))
            self._apply(session, actor, case, changes, now, closed_at=now)
            return read_case(session, case)

    def reopen(self, actor: Principal, case_id: int, *, version: int | None = None) -> CaseRead:
        """Reopen a closed case: back to in_progress, classification cleared."""
        actor.require(Permission.CASE_CLOSE)
        now = datetime.now(UTC)
        with transaction(self.db) as session:
            case = load_case(session, case_id)
            if version is not None:
                check_version("case", case.id, case.version, version)
            if case.merged_into_id is not None:
                raise ConflictError(
                    f"case #{case.id} was merged into case #{case.merged_into_id}: "
                    "work in that case instead"
                )
            if case.status != CaseStatus.CLOSED.value:
                raise ConflictError(f"case #{case.id} is not closed")
            before = case.classification
            case.status = CaseStatus.IN_PROGRESS.value
            case.classification = None
            case.closed_at = None
            case.updated_at = now
            flush_or_conflict(session, "case", case.id)
            record_change(
                session,
                "case",
                case.id,
                actor,
                "reopen",
                field="status",
                before=CaseStatus.CLOSED.value,
                after=case.status,
                at=now,
            )
            record_change(
                session,
                "case",
                case.id,
                actor,
                "update",
                field="classification",
                before=before,
                after=None,
                at=now,
            )
            return read_case(session, case)

    @staticmethod
    def _apply(
        session: Session,
        actor: Principal,
        case: Case,
        changes: builtins.list[tuple[str, Any, Any]],
        now: datetime,
        *,
        closed_at: datetime | None = None,
    ) -> None:
        for name, _before, value in changes:
            setattr(case, name, value)
        case.updated_at = now
        if closed_at is not None:
            case.closed_at = closed_at
        flush_or_conflict(session, "case", case.id)
        for name, before, after in changes:
            record_change(
                session,
                "case",
                case.id,
                actor,
                "update",
                field=name,
                before=before,
                after=after,
                at=now,
            )
