"""Lists in pages, filtered and sorted the same way for every kind of record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from tocsin.core.errors import InvalidInputError

T = TypeVar("T")
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the total it was cut from."""

    items: list[T]
    total: int
    limit: int
    offset: int

    def to_dict(self, items: list[Any] | None = None) -> dict[str, Any]:
        """JSON form; ``items`` replaces the items (already converted) when given."""
        return {
            "items": self.items if items is None else items,
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
        }


def check_window(limit: int, offset: int) -> None:
    """Refuse a limit outside 1..MAX_LIMIT or a negative offset."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit {limit!r} is out of range: use 1 to {MAX_LIMIT}")
    if offset < 0:
        raise InvalidInputError(f"offset {offset!r} is negative")


def order_by(
    sort: str | None, columns: Mapping[str, Any], default: str
) -> list[ColumnElement[Any]]:
    """Order clauses from ``"-created_at,severity"`` (``-`` for descending).

    Only the names in ``columns`` are allowed; a query never sorts by raw input.
    """
    clauses: list[ColumnElement[Any]] = []
    for part in (sort or default).split(","):
        name = part.strip()
        if not name:
            continue
        descending = name.startswith("-")
        name = name.lstrip("-+")
        column = columns.get(name)
        if column is None:
            known = ", ".join(sorted(columns))
            raise InvalidInputError(f"cannot sort by {name!r}: use one of {known}")
        clauses.append(column.desc() if descending else column.asc())
    return clauses


def paginate(
    session: Session, query: Select[Any], *, limit: int, offset: int, count: bool = True
) -> tuple[list[Any], int]:
    """Rows of one page and the total count of the unpaged query."""
    check_window(limit, offset)
    rows = list(session.scalars(query.limit(limit).offset(offset)).all())
    if not count:
        return rows, -1
    if offset == 0 and len(rows) < limit:
        return rows, len(rows)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return rows, int(total or 0)
