"""Case templates: a name, a title, a severity, a description, tags and a list of tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.workspace.case_common import MAX_TEXT, MAX_TITLE, clean_tags, clean_text, transaction
from tocsin.workspace.db import Database
from tocsin.workspace.models import Severity
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import CaseTemplate

MAX_TEMPLATE_TASKS = 200


@dataclass(frozen=True, slots=True)
class TemplateRead:
    """A case template."""

    id: int
    name: str
    title: str
    description: str
    severity: str
    tags: list[str]
    tasks: list[dict[str, str]]
    created_at: datetime

    @classmethod
    def of(cls, row: CaseTemplate) -> TemplateRead:
        """From its row."""
        return cls(
            row.id,
            row.name,
            row.title,
            row.description,
            row.severity,
            list(row.tags or []),
            [
                {"title": str(t.get("title", "")), "description": str(t.get("description", ""))}
                for t in row.tasks or []
            ],
            row.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "tags": self.tags,
            "tasks": self.tasks,
            "created_at": self.created_at.isoformat(),
        }


def find_template(session: Session, ident: int | str) -> CaseTemplate:
    """A template by id or by name; NotFoundError when neither matches."""
    row: CaseTemplate | None = None
    text = str(ident).strip()
    if isinstance(ident, int) or text.isdigit():
        row = session.get(CaseTemplate, int(text))
    if row is None:
        row = session.scalar(select(CaseTemplate).where(CaseTemplate.name == text))
    if row is None:
        raise NotFoundError(f"there is no case template {ident!r}")
    return row


def _clean_tasks(tasks: Sequence[Mapping[str, Any] | str]) -> list[dict[str, str]]:
    if len(tasks) > MAX_TEMPLATE_TASKS:
        raise InvalidInputError(f"a template holds at most {MAX_TEMPLATE_TASKS} tasks")
    result: list[dict[str, str]] = []
    for item in tasks:
        if isinstance(item, str):
            item = {"title": item}
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"a template task needs a title, not {item!r}")
        result.append(
            {
                "title": clean_text(
                    item.get("title"), "a template task title", limit=MAX_TITLE, required=True
                ),
                "description": clean_text(
                    item.get("description"), "a template task description", limit=MAX_TEXT
                ),
            }
        )
    return result


class CaseTemplatesMixin:
    """Case templates, for ``CaseService``."""

    db: Database

    def create_template(
        self,
        actor: Principal,
        name: str,
        title: str,
        severity: Severity | str,
        description: str = "",
        tags: Sequence[str] = (),
        tasks: Sequence[Mapping[str, Any] | str] = (),
    ) -> TemplateRead:
        """Create a template; its name must be unique."""
        actor.require(Permission.TEMPLATE_MANAGE)
        label = clean_text(name, "the template name", limit=200, required=True)
        if label.isdigit():
            raise InvalidInputError(f"a template name needs a letter: {label!r} reads as an id")
        row = CaseTemplate(
            name=label,
            title=clean_text(title, "the template title", limit=MAX_TITLE, required=True),
            description=clean_text(description, "the template description", limit=MAX_TEXT),
            severity=Severity.parse(str(severity)).value,
            tags=clean_tags(tags),
            tasks=_clean_tasks(tasks),
            created_at=datetime.now(UTC),
        )
        with transaction(self.db) as session:
            if session.scalar(select(CaseTemplate.id).where(CaseTemplate.name == label)):
                raise ConflictError(f"a case template named {label!r} exists already")
            session.add(row)
            try:
                session.flush()
            except IntegrityError as exc:
                raise ConflictError(f"a case template named {label!r} exists already") from exc
            return TemplateRead.of(row)

    def list_templates(self, actor: Principal) -> list[TemplateRead]:
        """Every template, by name."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            rows = session.scalars(select(CaseTemplate).order_by(CaseTemplate.name))
            return [TemplateRead.of(r) for r in rows]

    def get_template(self, actor: Principal, template: int | str) -> TemplateRead:
        """One template by id or name."""
        actor.require(Permission.CASE_READ)
        with self.db.session() as session:
            return TemplateRead.of(find_template(session, template))

    def delete_template(self, actor: Principal, template: int | str) -> None:
        """Delete a template (cases made from it keep what they copied)."""
        actor.require(Permission.TEMPLATE_MANAGE)
        with transaction(self.db) as session:
            session.delete(find_template(session, template))
