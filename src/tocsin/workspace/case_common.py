"""What the case modules share: reads of case parts, input cleaning, loading, version checks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.workspace.db import Database
from tocsin.workspace.models import Pap, Tlp
from tocsin.workspace.paging import Page, paginate
from tocsin.workspace.tables import (
    Alert,
    Attachment,
    Case,
    CaseObservable,
    Comment,
    Task,
    Team,
    User,
)

MAX_TITLE = 500
MAX_COMMENT = 100_000
MAX_TEXT = 1_000_000
MAX_TAG = 100
TLP_ORDER = list(Tlp)
PAP_ORDER = list(Pap)
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
_ATTACK_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


# Shared helpers ---------------------------------------------------------------------------


@contextmanager
def transaction(db: Database) -> Iterator[Session]:
    """A session whose lost optimistic-lock race becomes a ConflictError."""
    try:
        with db.session() as session:
            yield session
    except StaleDataError as exc:
        raise ConflictError(
            "someone else changed this record meanwhile: reload it and apply your change again"
        ) from exc


def load_case(session: Session, case_id: int) -> Case:
    """The case row; NotFoundError when there is none."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"there is no case #{case_id}")
    return case


def check_version(kind: str, ident: int, current: int, expected: int | None) -> None:
    """Refuse a missing or stale ``version`` (optimistic locking)."""
    if expected is None:
        raise InvalidInputError(
            f"give the version of {kind} #{ident} you read ('version' field or If-Match header)"
        )
    if int(expected) != current:
        raise ConflictError(
            f"{kind} #{ident} was changed by someone else (it is at version {current}, you "
            f"read version {expected}): reload it and apply your change again"
        )


def flush_or_conflict(session: Session, kind: str, ident: int) -> None:
    """Flush now, so a concurrent writer's win shows as a ConflictError naming the record."""
    try:
        session.flush()
    except StaleDataError as exc:
        raise ConflictError(
            f"{kind} #{ident} was changed by someone else meanwhile: reload it and apply your "
            "change again"
        ) from exc


def clean_text(value: object, name: str, *, limit: int, required: bool = False) -> str:
    """Text input trimmed; refuses an empty required value or one over ``limit`` characters."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text, not {type(value).__name__}")
    text = value.strip()
    if required and not text:
        raise InvalidInputError(f"{name} must not be empty")
    if len(text) > limit:
        raise InvalidInputError(f"{name} is {len(text)} characters long; the limit is {limit}")
    return text


def clean_tags(values: Iterable[object] | None) -> list[str]:
    """Tags trimmed, without empties and repeats, in their first order."""
    if values is None:
        return []
    if isinstance(values, str):
        values = values.split(",")
    result: dict[str, None] = {}
    for value in values:
        text = clean_text(value, "a tag", limit=MAX_TAG)
        if text:
            result.setdefault(text, None)
    return list(result)


def clean_techniques(values: Iterable[object] | None) -> list[str]:
    """ATT&CK technique ids (``T1059`` or ``T1059.001``), upper-cased and without repeats."""
    result: dict[str, None] = {}
    for value in clean_tags(values):
        name = value.upper()
        if name.startswith("ATTACK."):
            name = name.removeprefix("ATTACK.")
        if not _TECHNIQUE.match(name):
            raise InvalidInputError(
                f"not an ATT&CK technique id: {value!r} (use T1059 or T1059.001)"
            )
        result.setdefault(name, None)
    return list(result)


def techniques_from_tags(tags: Iterable[str]) -> list[str]:
    """Technique ids from Sigma-style tags: ``attack.t1059.001`` -> ``T1059.001``."""
    result: dict[str, None] = {}
    for tag in tags:
        match = _ATTACK_TAG.match(str(tag).strip())
        if match:
            result.setdefault(match.group(1).upper(), None)
    return list(result)


def parse_tlp(value: Tlp | str) -> Tlp:
    """A TLP level from its name (``amber+strict`` included)."""
    try:
        return Tlp(str(value).strip().lower())
    except ValueError:
        known = ", ".join(t.value for t in Tlp)
        raise InvalidInputError(f"unknown TLP {value!r}: use one of {known}") from None


def parse_pap(value: Pap | str) -> Pap:
    """A PAP level from its name."""
    try:
        return Pap(str(value).strip().lower())
    except ValueError:
        known = ", ".join(p.value for p in Pap)
        raise InvalidInputError(f"unknown PAP {value!r}: use one of {known}") from None


def stricter_tlp(a: str, b: str) -> str:
    """The more restrictive of two TLP levels."""
    return max(parse_tlp(a), parse_tlp(b), key=TLP_ORDER.index).value


def stricter_pap(a: str, b: str) -> str:
    """The more restrictive of two PAP levels."""
    return max(parse_pap(a), parse_pap(b), key=PAP_ORDER.index).value


def check_user(session: Session, user_id: int | None) -> int | None:
    """A user id that exists and is enabled (None passes through)."""
    if user_id is None:
        return None
    user = session.get(User, int(user_id))
    if user is None or user.disabled:
        raise InvalidInputError(f"there is no active user with id {user_id!r}")
    return user.id


def check_team(session: Session, team_id: int | None) -> int | None:
    """A team id that exists (None passes through)."""
    if team_id is None:
        return None
    team = session.get(Team, int(team_id))
    if team is None:
        raise InvalidInputError(f"there is no team with id {team_id!r}")
    return team.id


def page_of(
    session: Session, query: Select[Any], limit: int, offset: int, convert: Any
) -> Page[Any]:
    """One page of ``query`` with each row converted."""
    rows, total = paginate(session, query, limit=limit, offset=offset)
    return Page([convert(r) for r in rows], total, limit, offset)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# Reads -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskRead:
    """A case task."""

    id: int
    case_id: int
    title: str
    description: str
    status: str
    assignee_id: int | None
    due_at: datetime | None
    position: int
    created_at: datetime
    completed_at: datetime | None
    version: int

    @classmethod
    def of(cls, row: Task) -> TaskRead:
        """From its row."""
        return cls(
            row.id,
            row.case_id,
            row.title,
            row.description,
            row.status,
            row.assignee_id,
            row.due_at,
            row.position,
            row.created_at,
            row.completed_at,
            row.version,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "case_id": self.case_id,
            "title": self.title,
            "description": self.description,
            "status": self.status,
            "assignee_id": self.assignee_id,
            "due_at": _iso(self.due_at),
            "position": self.position,
            "created_at": self.created_at.isoformat(),
            "completed_at": _iso(self.completed_at),
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class ObservableRead:
    """A typed observable of a case."""

    id: int
    case_id: int
    type: str
    value: str
    tlp: str
    pap: str
    ioc: bool
    description: str
    tags: list[str]
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: CaseObservable) -> ObservableRead:
        """From its row."""
        return cls(
            row.id,
            row.case_id,
            row.type,
            row.value,
            row.tlp,
            row.pap,
            row.ioc,
            row.description,
            list(row.tags or []),
            row.created_by,
            row.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "case_id": self.case_id,
            "type": self.type,
            "value": self.value,
            "tlp": self.tlp,
            "pap": self.pap,
            "ioc": self.ioc,
            "description": self.description,
            "tags": self.tags,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CommentRead:
    """A comment on a case."""

    id: int
    case_id: int
    author: str
    body: str
    created_at: datetime

    @classmethod
    def of(cls, row: Comment) -> CommentRead:
        """From its row."""
        return cls(row.id, row.case_id or 0, row.author, row.body, row.created_at)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "case_id": self.case_id,
            "author": self.author,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AttachmentRead:
    """A file attached to a case (its bytes are stored under ``sha256``)."""

    id: int
    case_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: Attachment) -> AttachmentRead:
        """From its row."""
        return cls(
            row.id,
            row.case_id,
            row.filename,
            row.content_type,
            row.size,
            row.sha256,
            row.uploaded_by,
            row.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "case_id": self.case_id,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "uploaded_by": self.uploaded_by,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One moment on a case timeline; ``kind`` is entry, alert, comment, task_done or history."""

    kind: str
    at: datetime
    title: str
    actor: str
    description: str = ""
    ref: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "title": self.title,
            "actor": self.actor,
            "description": self.description,
            "ref": self.ref,
        }


_COUNTED: dict[str, Any] = {
    "tasks": Task.case_id,
    "observables": CaseObservable.case_id,
    "alerts": Alert.case_id,
    "comments": Comment.case_id,
    "attachments": Attachment.case_id,
}


@dataclass(frozen=True, slots=True)
class CaseRead:
    """A case as the API and CLI show it, with counts of what it holds and its ``version``."""

    id: int
    title: str
    description: str
    severity: str
    status: str
    classification: str | None
    summary: str | None
    tlp: str
    pap: str
    team_id: int | None
    assignee_id: int | None
    tags: list[str]
    techniques: list[str]
    template_id: int | None
    merged_into_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "status": self.status,
            "classification": self.classification,
            "summary": self.summary,
            "tlp": self.tlp,
            "pap": self.pap,
            "team_id": self.team_id,
            "assignee_id": self.assignee_id,
            "tags": self.tags,
            "techniques": self.techniques,
            "template_id": self.template_id,
            "merged_into_id": self.merged_into_id,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "version": self.version,
            "counts": self.counts,
        }


def case_read(case: Case, counts: dict[str, int]) -> CaseRead:
    """A case row as a CaseRead with the given counts."""
    return CaseRead(
        id=case.id,
        title=case.title,
        description=case.description,
        severity=case.severity,
        status=case.status,
        classification=case.classification,
        summary=case.summary,
        tlp=case.tlp,
        pap=case.pap,
        team_id=case.team_id,
        assignee_id=case.assignee_id,
        tags=list(case.tags or []),
        techniques=list(case.techniques or []),
        template_id=case.template_id,
        merged_into_id=case.merged_into_id,
        created_by=case.created_by,
        created_at=case.created_at,
        updated_at=case.updated_at,
        closed_at=case.closed_at,
        version=case.version,
        counts=counts,
    )


def case_counts(session: Session, case_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Tasks, observables, alerts, comments and attachments of each case."""
    result = {cid: dict.fromkeys(_COUNTED, 0) for cid in case_ids}
    if not case_ids:
        return result
    for name, column in _COUNTED.items():
        rows = session.execute(
            select(column, func.count()).where(column.in_(case_ids)).group_by(column)
        )
        for case_id, count in rows:
            result[case_id][name] = int(count)
    return result


def read_case(session: Session, case: Case) -> CaseRead:
    """A case row as a CaseRead, counts included."""
    return case_read(case, case_counts(session, [case.id])[case.id])
