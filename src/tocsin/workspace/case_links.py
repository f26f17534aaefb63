"""Alerts in cases, and merging cases into one.

``CaseLinksMixin`` gives ``CaseService`` its alert links and ``merge``. An alert belongs to at
most one open case. Linking an alert brings its observables (without repeats) and its ATT&CK
techniques into the case. Merging moves everything a case holds into the target, closes the
source as a duplicate, and adds the source's description to the target's only when the target
does not contain that text already (so merging twice, or merging cases made from the same
template, never repeats it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.core.settings import Settings
from tocsin.workspace.case_common import (
    CaseRead,
    clean_tags,
    clean_techniques,
    flush_or_conflict,
    load_case,
    read_case,
    stricter_pap,
    stricter_tlp,
    techniques_from_tags,
    transaction,
)
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_change
from tocsin.workspace.models import CaseStatus, Classification, Observable
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import (
    Alert,
    Attachment,
    Case,
    CaseObservable,
    Comment,
    Task,
    TimelineEntry,
)

logger = logging.getLogger(__name__)
MAX_OBSERVABLE = 2000


@dataclass(frozen=True, slots=True)
class CaseAlert:
    """An alert linked to a case, as the case view lists it."""

    id: int
    rule_id: str
    title: str
    severity: str
    status: str
    count: int
    first_seen: datetime
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "count": self.count,
            "first_seen": self.first_seen.isoformat(),
            "created_at": self.created_at.isoformat(),
        }


def alert_summary(alert: Alert) -> CaseAlert:
    """An alert row as a CaseAlert."""
    return CaseAlert(
        alert.id,
        alert.rule_id,
        alert.title,
        alert.severity,
        alert.status,
        alert.count,
        alert.first_seen,
        alert.created_at,
    )


def load_alerts(session: Session, alert_ids: Sequence[int]) -> list[Alert]:
    """The alerts, most severe first; NotFoundError naming any that do not exist."""
    ids = list(dict.fromkeys(int(i) for i in alert_ids))
    if not ids:
        return []
    rows = list(session.scalars(select(Alert).where(Alert.id.in_(ids))))
    missing = sorted(set(ids) - {r.id for r in rows})
    if missing:
        names = ", ".join(f"#{i}" for i in missing)
        raise NotFoundError(f"there is no alert {names}")
    return sorted(rows, key=lambda a: (-a.severity_rank, a.id))


def merged_description(target: str, source: Case) -> str:
    """The target's description with the source's added as a section, unless already there."""
    text = (source.description or "").strip()
    if not text or text in target:
        return target
    section = f"Merged from case #{source.id}: {source.title}\n\n{text}"
    return f"{target.rstrip()}\n\n{section}" if target.strip() else section


class CaseLinksMixin:
    """Alerts of a case, and ``merge``, for ``CaseService``."""

    db: Database
    settings: Settings

    def add_alerts(self, actor: Principal, case_id: int, alert_ids: Sequence[int]) -> CaseRead:
        """Link alerts to an open case; an alert already in another open case is a conflict."""
        actor.require(Permission.CASE_UPDATE)
        if not alert_ids:
            raise InvalidInputError("name at least one alert to add")
        now = datetime.now(UTC)
        with transaction(self.db) as session:
            case = load_case(session, case_id)
            if case.status == CaseStatus.CLOSED.value:
                raise ConflictError(f"case #{case.id} is closed: reopen it before adding alerts")
            self._attach_alerts(session, actor, case, load_alerts(session, alert_ids), now)
            return read_case(session, case)

    def list_alerts(self, actor: Principal, case_id: int) -> list[CaseAlert]:
        """The alerts linked to a case, most severe first."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            load_case(session, case_id)
            rows = session.scalars(
                select(Alert)
                .where(Alert.case_id == case_id)
                .order_by(Alert.severity_rank.desc(), Alert.id)
            )
            return [alert_summary(a) for a in rows]

    def _attach_alerts(
        self,
        session: Session,
        actor: Principal,
        case: Case,
        alerts: Sequence[Alert],
        now: datetime,
    ) -> None:
        linked: list[Alert] = []
        for alert in alerts:
            if alert.case_id == case.id:
                continue
            if alert.case_id is not None:
                other = session.get(Case, alert.case_id)
                if other is not None and other.status != CaseStatus.CLOSED.value:
                    raise ConflictError(
                        f"alert #{alert.id} is already in open case #{other.id} "
                        f"({other.title!r}): merge the cases, or close that one first"
                    )
            record_change(
                session,
                "alert",
                alert.id,
                actor,
                "link",
                field="case_id",
                before=alert.case_id,
                after=case.id,
                at=now,
            )
            alert.case_id = case.id
            alert.updated_at = now
            linked.append(alert)
        if not linked:
            return
        record_change(
            session,
            "case",
            case.id,
            actor,
            "link",
            field="alert_ids",
            after=[a.id for a in linked],
            at=now,
        )
        tags = [t for a in linked for t in (a.tags or [])]
        changes: list[tuple[str, Any, Any]] = []
        new_tags = clean_tags([*case.tags, *tags])
        if new_tags != list(case.tags):
            changes.append(("tags", list(case.tags), new_tags))
        techniques = clean_techniques([*case.techniques, *techniques_from_tags(tags)])
        if techniques != list(case.techniques):
            changes.append(("techniques", list(case.techniques), techniques))
        for name, before, after in changes:
            setattr(case, name, after)
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
        if changes:
            case.updated_at = now
        flush_or_conflict(session, "case", case.id)
        _copy_observables(session, actor, case, linked, now)

    def merge(self, actor: Principal, target_id: int, source_ids: Sequence[int]) -> CaseRead:
        """Merge cases into ``target_id``; each source is closed as a duplicate.

        Alerts, tasks, observables (one per type and value, keeping the stricter TLP and PAP),
        comments, attachments, timeline entries, tags and techniques move to the target. The
        target's description gains each source's description as a section "Merged from case
        #N: ..." unless it already contains that text. A case cannot be merged into itself,
        and a case already merged cannot be merged again.
        """
        actor.require(Permission.CASE_CLOSE)
        ids = list(dict.fromkeys(int(i) for i in source_ids))
        if not ids:
            raise InvalidInputError("name at least one case to merge")
        if target_id in ids:
            raise InvalidInputError(f"cannot merge case #{target_id} into itself")
        now = datetime.now(UTC)
        with transaction(self.db) as session:
            # Lock in id order, so two merges over the same cases cannot deadlock.
            rows = session.scalars(
                select(Case)
                .where(Case.id.in_([target_id, *ids]))
                .order_by(Case.id)
                .with_for_update()
            ).all()
            by_id = {c.id: c for c in rows}
            for ident in [target_id, *ids]:
                if ident not in by_id:
                    raise NotFoundError(f"there is no case #{ident}")
            target = by_id[target_id]
            if target.merged_into_id is not None:
                raise ConflictError(
                    f"case #{target.id} was merged into case #{target.merged_into_id}: "
                    "merge into that one"
                )
            if target.status == CaseStatus.CLOSED.value:
                raise ConflictError(f"case #{target.id} is closed: reopen it before merging")
            sources = [by_id[i] for i in ids]
            for source in sources:
                if source.merged_into_id is not None:
                    raise ConflictError(
                        f"case #{source.id} was already merged into case #{source.merged_into_id}"
                    )
            before = {
                "description": target.description,
                "tags": list(target.tags),
                "techniques": list(target.techniques),
            }
            observables = {
                (o.type, o.value): o
                for o in session.scalars(
                    select(CaseObservable).where(CaseObservable.case_id == target.id)
                )
            }
            for source in sources:
                _move_parts(session, actor, source, target, observables, now)
                target.description = merged_description(target.description, source)
                target.tags = clean_tags([*target.tags, *source.tags])
                target.techniques = clean_techniques([*target.techniques, *source.techniques])
                _close_as_duplicate(session, actor, source, target, now)
            target.updated_at = now
            flush_or_conflict(session, "case", target.id)
            for source in sources:
                record_change(
                    session,
                    "case",
                    target.id,
                    actor,
                    "merge",
                    after={"from": source.id},
                    at=now,
                )
            for name, old in before.items():
                new = getattr(target, name)
                if new != old:
                    record_change(
                        session,
                        "case",
                        target.id,
                        actor,
                        "update",
                        field=name,
                        before=old,
                        after=new,
                        at=now,
                    )
            logger.info("cases merged", extra={"target": target.id, "sources": ids})
            return read_case(session, target)


def _copy_observables(
    session: Session, actor: Principal, case: Case, alerts: Sequence[Alert], now: datetime
) -> None:
    seen: set[tuple[str, str]] = {
        (kind, value)
        for kind, value in session.execute(
            select(CaseObservable.type, CaseObservable.value).where(
                CaseObservable.case_id == case.id
            )
        )
    }
    added: list[CaseObservable] = []
    for alert in alerts:
        for item in alert.observables or []:
            if not isinstance(item, Mapping):
                continue
            try:
                observable = Observable.of(str(item.get("type", "")), str(item.get("value", "")))
            except InvalidInputError:
                logger.info("alert observable skipped", extra={"alert_id": alert.id})
                continue
            key = (observable.type, observable.value)
            if key in seen or len(observable.value) > MAX_OBSERVABLE:
                continue
            seen.add(key)
            row = CaseObservable(
                case_id=case.id,
                type=observable.type,
                value=observable.value,
                tlp=case.tlp,
                pap=case.pap,
                ioc=False,
                description=f"From alert #{alert.id}",
                tags=[],
                created_by=actor.name,
                created_at=now,
            )
            session.add(row)
            added.append(row)
    if not added:
        return
    session.flush()
    for row in added:
        record_change(
            session,
            "case",
            case.id,
            actor,
            "add_observable",
            field="observables",
            after={"id": row.id, "type": row.type, "value": row.value},
            at=now,
        )


def _move_parts(
    session: Session,
    actor: Principal,
    source: Case,
    target: Case,
    observables: dict[tuple[str, str], CaseObservable],
    now: datetime,
) -> None:
    """Move what ``source`` holds into ``target`` (observables merged by type and value)."""
    for alert in session.scalars(select(Alert).where(Alert.case_id == source.id)):
        record_change(
            session,
            "alert",
            alert.id,
            actor,
            "link",
            field="case_id",
            before=source.id,
            after=target.id,
            at=now,
        )
        alert.case_id = target.id
        alert.updated_at = now
    last = session.scalar(
        select(func.coalesce(func.max(Task.position), -1)).where(Task.case_id == target.id)
    )
    position = int(last if last is not None else -1)
    for task in session.scalars(
        select(Task).where(Task.case_id == source.id).order_by(Task.position, Task.id)
    ):
        position += 1
        record_change(
            session,
            "task",
            task.id,
            actor,
            "update",
            field="case_id",
            before=source.id,
            after=target.id,
            at=now,
        )
        task.case_id = target.id
        task.position = position
    for obs in session.scalars(
        select(CaseObservable)
        .where(CaseObservable.case_id == source.id)
        .order_by(CaseObservable.id)
    ):
        kept = observables.get((obs.type, obs.value))
        if kept is None:
            obs.case_id = target.id
            observables[(obs.type, obs.value)] = obs
            continue
        kept.tlp = stricter_tlp(kept.tlp, obs.tlp)
        kept.pap = stricter_pap(kept.pap, obs.pap)
        kept.ioc = kept.ioc or obs.ioc
        kept.tags = clean_tags([*kept.tags, *obs.tags])
        extra = (obs.description or "").strip()
        if extra and extra not in (kept.description or ""):
            kept.description = f"{kept.description.rstrip()}\n{extra}".strip()
        session.delete(obs)
    # The moved rows must be written before the next source's rows are compared with them.
    session.flush()
    session.execute(update(Comment).where(Comment.case_id == source.id).values(case_id=target.id))
    session.execute(
        update(Attachment).where(Attachment.case_id == source.id).values(case_id=target.id)
    )
    session.execute(
        update(TimelineEntry).where(TimelineEntry.case_id == source.id).values(case_id=target.id)
    )


def _close_as_duplicate(
    session: Session, actor: Principal, source: Case, target: Case, now: datetime
) -> None:
    was = {"status": source.status, "classification": source.classification}
    source.status = CaseStatus.CLOSED.value
    source.classification = Classification.DUPLICATE.value
    source.merged_into_id = target.id
    source.closed_at = now
    source.updated_at = now
    flush_or_conflict(session, "case", source.id)
    record_change(session, "case", source.id, actor, "merge", after={"into": target.id}, at=now)
    for name, before in was.items():
        after = getattr(source, name)
        if before != after:
            record_change(
                session,
                "case",
                source.id,
                actor,
                "update",
                field=name,
                before=before,
                after=after,
                at=now,
            )
