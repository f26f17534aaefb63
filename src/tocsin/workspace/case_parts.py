"""What a case holds besides its own fields: tasks, observables, comments, attachments, timeline.

``CasePartsMixin`` gives ``CaseService`` these methods. Adding a part does not change the case
row, so it does not bump the case's ``version``: an analyst commenting never makes another
analyst's edit of the case fields conflict. Every change writes its history record in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.core.settings import Settings
from tocsin.workspace.attachments import (
    AttachmentStore,
    Readable,
    sanitize_content_type,
    sanitize_filename,
)
from tocsin.workspace.case_common import (
    MAX_COMMENT,
    MAX_TEXT,
    MAX_TITLE,
    AttachmentRead,
    CommentRead,
    ObservableRead,
    TaskRead,
    TimelineItem,
    check_user,
    check_version,
    clean_tags,
    clean_text,
    flush_or_conflict,
    load_case,
    page_of,
    parse_pap,
    parse_tlp,
    transaction,
)
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_change
from tocsin.workspace.models import Observable, Pap, TaskStatus, Tlp
from tocsin.workspace.paging import MAX_LIMIT, Page
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import (
    Alert,
    Attachment,
    CaseObservable,
    Comment,
    HistoryRecord,
    Task,
    TimelineEntry,
)

# History actions shown by their own timeline items (comments, manual entries).
_TIMELINE_OWN = frozenset({"comment", "timeline"})
_TASK_FIELDS = frozenset({"title", "description", "status", "assignee_id", "due_at"})
_KIND_ORDER = {"alert": 0, "entry": 1, "history": 2, "comment": 3, "task_done": 4}


class CasePartsMixin:
    """Tasks, observables, comments, attachments and the timeline of ``CaseService``."""

    db: Database
    settings: Settings

    @property
    def attachment_store(self) -> AttachmentStore:
        """Where attachment bytes are kept."""
        return AttachmentStore(self.settings.attachments_dir, self.settings.attachment_max_bytes)

    # Tasks ------------------------------------------------------------------------------

    def add_task(
        self,
        actor: Principal,
        case_id: int,
        title: str,
        description: str = "",
        assignee_id: int | None = None,
        due_at: datetime | None = None,
    ) -> TaskRead:
        """Add a task at the end of the case's list."""
        actor.require(Permission.CASE_UPDATE)
        with transaction(self.db) as session:
            case = load_case(session, case_id)
            task = insert_task(
                session,
                actor,
                case.id,
                title=title,
                description=description,
                assignee_id=check_user(session, assignee_id),
                due_at=due_at,
                now=datetime.now(UTC),
            )
            return TaskRead.of(task)

    def update_task(
        self, actor: Principal, task_id: int, *, version: int | None, **fields: Any
    ) -> TaskRead:
        """Change a task's title, description, status, assignee_id or due_at.

        ``version`` is the one read; a stale one raises ConflictError. Status ``done`` sets
        ``completed_at``; leaving it clears it. Each changed field writes a history record.
        """
        actor.require(Permission.CASE_UPDATE)
        unknown = set(fields) - _TASK_FIELDS
        if unknown:
            raise InvalidInputError(
                f"cannot change {', '.join(sorted(unknown))} of a task: use "
                f"{', '.join(sorted(_TASK_FIELDS))}"
            )
        now = datetime.now(UTC)
        with transaction(self.db) as session:
            task = session.get(Task, task_id)
            if task is None:
                raise NotFoundError(f"there is no task #{task_id}")
            check_version("task", task.id, task.version, version)
            changes: list[tuple[str, Any, Any]] = []
            for name, raw in fields.items():
                value = self._task_value(session, name, raw)
                before = getattr(task, name)
                if before != value:
                    changes.append((name, before, value))
                    setattr(task, name, value)
            if any(name == "status" for name, _b, _a in changes):
                task.completed_at = now if task.status == TaskStatus.DONE else None
            flush_or_conflict(session, "task", task.id)
            for name, before, after in changes:
                record_change(
                    session,
                    "task",
                    task.id,
                    actor,
                    "update",
                    field=name,
                    before=before,
                    after=after,
                    at=now,
                )
            return TaskRead.of(task)

    @staticmethod
    def _task_value(session: Session, name: str, raw: Any) -> Any:
        if name == "title":
            return clean_text(raw, "the task title", limit=MAX_TITLE, required=True)
        if name == "description":
            return clean_text(raw, "the task description", limit=MAX_TEXT)
        if name == "status":
            try:
                return TaskStatus(str(raw).strip().lower()).value
            except ValueError:
                known = ", ".join(s.value for s in TaskStatus)
                raise InvalidInputError(
                    f"unknown task status {raw!r}: use one of {known}"
                ) from None
        if name == "assignee_id":
            return check_user(session, raw)
        return utc_time(raw, "due_at")

    def list_tasks(
        self, actor: Principal, case_id: int, *, limit: int = MAX_LIMIT, offset: int = 0
    ) -> Page[TaskRead]:
        """The case's tasks in their order."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            load_case(session, case_id)
            query = select(Task).where(Task.case_id == case_id).order_by(Task.position, Task.id)
            return page_of(session, query, limit, offset, TaskRead.of)

    # Observables ------------------------------------------------------------------------

    def add_observable(
        self,
        actor: Principal,
        case_id: int,
        type: str,  # noqa: A002 - the observable's type, as the API names it
        value: str,
        tlp: Tlp | str = Tlp.AMBER,
        pap: Pap | str = Pap.AMBER,
        ioc: bool = False,
        description: str = "",
        tags: Sequence[str] = (),
    ) -> ObservableRead:
        """Add a typed observable; the same type and value twice in a case is a ConflictError."""
        actor.require(Permission.CASE_UPDATE)
        observable = Observable.of(type, value)
        if len(observable.value) > 2000:
            raise InvalidInputError("an observable value is limited to 2000 characters")
        with transaction(self.db) as session:
            case = load_case(session, case_id)
            existing = session.scalar(
                select(CaseObservable.id).where(
                    CaseObservable.case_id == case.id,
                    CaseObservable.type == observable.type,
                    CaseObservable.value == observable.value,
                )
            )
            if existing is not None:
                raise ConflictError(
                    f"case #{case.id} already has the {observable.type} observable "
                    f"{observable.value!r} (observable #{existing})"
                )
            row = CaseObservable(
                case_id=case.id,
                type=observable.type,
                value=observable.value,
                tlp=parse_tlp(tlp).value,
                pap=parse_pap(pap).value,
                ioc=bool(ioc),
                description=clean_text(description, "the description", limit=MAX_TEXT),
                tags=clean_tags(tags),
                created_by=actor.name,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError as exc:
                raise ConflictError(
                    f"case #{case.id} already has the {observable.type} observable "
                    f"{observable.value!r}"
                ) from exc
            record_change(
                session,
                "case",
                case.id,
                actor,
                "add_observable",
                field="observables",
                after={"id": row.id, "type": row.type, "value": row.value},
                at=row.created_at,
            )
            return ObservableRead.of(row)

    def list_observables(
        self, actor: Principal, case_id: int, *, limit: int = MAX_LIMIT, offset: int = 0
    ) -> Page[ObservableRead]:
        """The case's observables, oldest first."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            load_case(session, case_id)
            query = (
                select(CaseObservable)
                .where(CaseObservable.case_id == case_id)
                .order_by(CaseObservable.id)
            )
            return page_of(session, query, limit, offset, ObservableRead.of)

    def delete_observable(self, actor: Principal, case_id: int, observable_id: int) -> None:
        """Remove an observable from a case (the history keeps what it was)."""
        actor.require(Permission.CASE_UPDATE)
        with transaction(self.db) as session:
            row = session.get(CaseObservable, observable_id)
            if row is None or row.case_id != case_id:
                raise NotFoundError(f"case #{case_id} has no observable #{observable_id}")
            record_change(
                session,
                "case",
                case_id,
                actor,
                "delete_observable",
                field="observables",
                before={"id": row.id, "type": row.type, "value": row.value},
            )
            session.delete(row)

    # Comments ---------------------------------------------------------------------------

    def add_comment(self, actor: Principal, case_id: int, body: str) -> CommentRead:
        """Add a comment (comments are append-only: there is no edit or delete)."""
        actor.require(Permission.CASE_UPDATE)
        text = clean_text(body, "a comment", limit=MAX_COMMENT, required=True)
        with transaction(self.db) as session:
            case = load_case(session, case_id)
            row = Comment(
                case_id=case.id, author=actor.name, body=text, created_at=datetime.now(UTC)
            )
            session.add(row)
            session.flush()
            record_change(
                session,
                "case",
                case.id,
                actor,
                "comment",
                after={"comment_id": row.id},
                at=row.created_at,
            )
            return CommentRead.of(row)

    def list_comments(
        self, actor: Principal, case_id: int, *, limit: int = MAX_LIMIT, offset: int = 0
    ) -> Page[CommentRead]:
        """The case's comments, oldest first."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            load_case(session, case_id)
            query = select(Comment).where(Comment.case_id == case_id).order_by(Comment.id)
            return page_of(session, query, limit, offset, CommentRead.of)

    # Attachments ------------------------------------------------------------------------

    def add_attachment(
        self,
        actor: Principal,
        case_id: int,
        filename: str,
        content_type: str | None,
        data: bytes | Readable,
    ) -> AttachmentRead:
        """Store a file for a case: content-addressed, at most ``attachment_max_bytes``.

        A stream is read in chunks and refused (AttachmentTooLargeError, an InvalidInputError)
        as soon as it passes the limit. The file name is reduced to a plain name.
        """
        actor.require(Permission.CASE_UPDATE)
        with self.db.session() as session:
            load_case(session, case_id)
        blob = self.attachment_store.put(data)
        with transaction(self.db) as session:
            case = load_case(session, case_id)
            row = Attachment(
                case_id=case.id,
                filename=sanitize_filename(filename),
                content_type=sanitize_content_type(content_type),
                size=blob.size,
                sha256=blob.sha256,
                uploaded_by=actor.name,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            record_change(
                session,
                "case",
                case.id,
                actor,
                "attach",
                field="attachments",
                after={
                    "id": row.id,
                    "filename": row.filename,
                    "size": row.size,
                    "sha256": row.sha256,
                },
                at=row.created_at,
            )
            return AttachmentRead.of(row)

    def list_attachments(
        self, actor: Principal, case_id: int, *, limit: int = MAX_LIMIT, offset: int = 0
    ) -> Page[AttachmentRead]:
        """The case's attachments, oldest first."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            load_case(session, case_id)
            query = select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.id)
            return page_of(session, query, limit, offset, AttachmentRead.of)

    def open_attachment(self, actor: Principal, attachment_id: int) -> tuple[AttachmentRead, Path]:
        """An attachment and the path of its bytes (serve it as a download, never inline)."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            row = session.get(Attachment, attachment_id)
            if row is None:
                raise NotFoundError(f"there is no attachment #{attachment_id}")
            read = AttachmentRead.of(row)
        return read, self.attachment_store.open_path(read.sha256)

    # Timeline ---------------------------------------------------------------------------

    def add_timeline_entry(
        self,
        actor: Principal,
        case_id: int,
        occurred_at: datetime,
        title: str,
        description: str = "",
    ) -> TimelineItem:
        """Place something that happened during the incident on the case timeline."""
        actor.require(Permission.CASE_UPDATE)
        when = utc_time(occurred_at, "occurred_at")
        if when is None:
            raise InvalidInputError("occurred_at is required")
        with transaction(self.db) as session:
            case = load_case(session, case_id)
            row = TimelineEntry(
                case_id=case.id,
                occurred_at=when,
                title=clean_text(title, "the title", limit=MAX_TITLE, required=True),
                description=clean_text(description, "the description", limit=MAX_TEXT),
                created_by=actor.name,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            record_change(
                session,
                "case",
                case.id,
                actor,
                "timeline",
                after={"entry_id": row.id, "title": row.title},
                at=row.created_at,
            )
            return _entry_item(row)

    def timeline(self, actor: Principal, case_id: int) -> list[TimelineItem]:
        """Manual entries, linked alerts, comments, task completions and history, by time."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            load_case(session, case_id)
            items = [
                _entry_item(r)
                for r in session.scalars(
                    select(TimelineEntry).where(TimelineEntry.case_id == case_id)
                )
            ]
            for alert in session.scalars(select(Alert).where(Alert.case_id == case_id)):
                items.append(_alert_item(alert))
            for comment in session.scalars(select(Comment).where(Comment.case_id == case_id)):
                items.append(
                    TimelineItem(
                        "comment",
                        comment.created_at,
                        _first_line(comment.body),
                        comment.author,
                        comment.body,
                        {"comment_id": comment.id},
                    )
                )
            items.extend(_task_items(session, case_id))
            for record in session.scalars(
                select(HistoryRecord).where(
                    HistoryRecord.entity_type == "case", HistoryRecord.entity_id == case_id
                )
            ):
                if record.action not in _TIMELINE_OWN:
                    items.append(
                        TimelineItem(
                            "history",
                            record.at,
                            history_title(record),
                            record.actor,
                            "",
                            {
                                "history_id": record.id,
                                "action": record.action,
                                "field": record.field,
                            },
                        )
                    )
        items.sort(key=lambda i: (i.at, _KIND_ORDER.get(i.kind, 9)))
        return items


def insert_task(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    title: str,
    description: str = "",
    assignee_id: int | None = None,
    due_at: datetime | None = None,
    now: datetime,
) -> Task:
    """Add a task row at the end of a case's list, with its ``create`` history record."""
    position = session.scalar(
        select(func.coalesce(func.max(Task.position), -1)).where(Task.case_id == case_id)
    )
    task = Task(
        case_id=case_id,
        title=clean_text(title, "the task title", limit=MAX_TITLE, required=True),
        description=clean_text(description, "the task description", limit=MAX_TEXT),
        status=TaskStatus.OPEN.value,
        assignee_id=assignee_id,
        due_at=utc_time(due_at, "due_at"),
        position=int(position if position is not None else -1) + 1,
        created_at=now,
    )
    session.add(task)
    session.flush()
    record_change(
        session,
        "task",
        task.id,
        actor,
        "create",
        after={
            "case_id": case_id,
            "title": task.title,
            "status": task.status,
            "assignee_id": assignee_id,
            "due_at": task.due_at,
        },
        at=now,
    )
    return task


def utc_time(value: object, name: str) -> datetime | None:
    """A time in UTC (a naive one is taken as UTC); None passes through."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{name} must be a time, not {value!r}")
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def _entry_item(row: TimelineEntry) -> TimelineItem:
    return TimelineItem(
        "entry", row.occurred_at, row.title, row.created_by, row.description, {"entry_id": row.id}
    )


def _alert_item(alert: Alert) -> TimelineItem:
    at = min(alert.first_seen, alert.created_at)
    return TimelineItem(
        "alert",
        at,
        f"Alert #{alert.id}: {alert.title}",
        alert.source or alert.rule_id,
        alert.description,
        {
            "alert_id": alert.id,
            "severity": alert.severity,
            "rule_id": alert.rule_id,
            "first_seen": alert.first_seen.isoformat(),
            "created_at": alert.created_at.isoformat(),
        },
    )


def _task_items(session: Session, case_id: int) -> list[TimelineItem]:
    tasks = {
        t.id: t
        for t in session.scalars(
            select(Task).where(Task.case_id == case_id, Task.completed_at.is_not(None))
        )
    }
    if not tasks:
        return []
    done_by: dict[int, str] = {}
    for record in session.scalars(
        select(HistoryRecord)
        .where(
            HistoryRecord.entity_type == "task",
            HistoryRecord.entity_id.in_(tasks),
            HistoryRecord.field == "status",
        )
        .order_by(HistoryRecord.id)
    ):
        if record.after == TaskStatus.DONE.value:
            done_by[record.entity_id] = record.actor
    return [
        TimelineItem(
            "task_done",
            t.completed_at,
            f"Task done: {t.title}",
            done_by.get(t.id, ""),
            "",
            {"task_id": t.id},
        )
        for t in tasks.values()
        if t.completed_at is not None
    ]


def history_title(record: HistoryRecord) -> str:
    """A short human title for a case history record."""
    after: Any = record.after
    before: Any = record.before
    if record.action == "create":
        return "Case created"
    if record.action == "reopen":
        return "Case reopened"
    if record.action == "merge":
        if isinstance(after, Mapping) and "into" in after:
            return f"Merged into case #{after['into']}"
        if isinstance(after, Mapping) and "from" in after:
            return f"Case #{after['from']} merged into this case"
    if record.action == "link":
        ids = after if isinstance(after, list) else []
        return "Alerts linked: " + ", ".join(f"#{i}" for i in ids)
    if record.action in {"add_observable", "delete_observable"}:
        item = after if record.action == "add_observable" else before
        verb = "added" if record.action == "add_observable" else "removed"
        if isinstance(item, Mapping):
            return f"Observable {verb}: {item.get('type')} {item.get('value')}"
    if record.action == "attach" and isinstance(after, Mapping):
        return f"Attachment added: {after.get('filename')}"
    if record.action == "update" and record.field:
        if record.field in {"description", "summary"}:
            return f"{record.field} changed"
        return f"{record.field}: {_short(before)} \u2192 {_short(after)}"
    return record.action


def _short(value: Any) -> str:
    if value is None:
        return "none"
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return text if len(text) <= 80 else text[:79] + "\u2026"
