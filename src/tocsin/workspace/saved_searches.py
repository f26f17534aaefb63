"""Saved searches: a query with its time range and columns, kept by name.

A saved search belongs to the principal who saved it (by user id for users, by name
otherwise). Its owner sees it; when ``shared`` every user who may search sees it too. Only the
owner deletes it, or an administrator (a principal holding ``user.manage``); anyone else gets a
permission error for a shared search and "not found" for a private one, whose existence stays
private. Every call needs ``search.read``. Names are unique per owner.

The workspace does not import the lake (imports point one way), so the query is checked by a
function the caller passes (the console passes ``tocsin.lake.querylang.parse_query``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.exc import IntegrityError

from tocsin.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tocsin.core.timeutil import parse_time_bound
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_audit
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import SavedSearch

TIME_RANGES = ("15m", "1h", "24h", "7d", "30d", "all")
"""The preset ranges a saved search may name (the console's time picker)."""
MAX_QUERY = 10_000
MAX_COLUMNS = 50
MAX_COLUMN_NAME = 200


@dataclass(frozen=True, slots=True)
class SavedSearchRead:
    """A saved search as lists show it."""

    id: int
    name: str
    query: str
    time_range: str | None
    since: str | None
    until: str | None
    columns: tuple[str, ...]
    owner: str
    owner_id: int | None
    shared: bool
    created_at: datetime

    def params(self) -> dict[str, str]:
        """The search's query-string parameters (``q``, ``range``/``since``/``until``, ``cols``)."""
        out = {"q": self.query}
        if self.since or self.until:
            out.update({k: v for k, v in (("since", self.since), ("until", self.until)) if v})
        elif self.time_range:
            out["range"] = self.time_range
        if self.columns:
            out["cols"] = ",".join(self.columns)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "query": self.query,
            "time_range": self.time_range,
            "since": self.since,
            "until": self.until,
            "columns": list(self.columns),
            "owner": self.owner,
            "shared": self.shared,
            "created_at": self.created_at.isoformat(),
        }


def _read(row: SavedSearch) -> SavedSearchRead:
    return SavedSearchRead(
        id=row.id,
        name=row.name,
        query=row.query,
        time_range=row.time_range,
        since=row.since,
        until=row.until,
        columns=tuple(row.columns or ()),
        owner=row.owner,
        owner_id=row.owner_id,
        shared=bool(row.shared),
        created_at=row.created_at,
    )


def _is_owner(actor: Principal, row: SavedSearch) -> bool:
    if row.owner_id is not None or actor.user_id is not None:
        return row.owner_id == actor.user_id
    return row.owner == actor.name


def _is_admin(actor: Principal) -> bool:
    return actor.can(Permission.USER_MANAGE)


def _mine(actor: Principal) -> ColumnElement[bool]:
    if actor.user_id is not None:
        return SavedSearch.owner_id == actor.user_id
    return and_(SavedSearch.owner_id.is_(None), SavedSearch.owner == actor.name)


def _clean_name(name: str) -> str:
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > 200:
        raise InvalidInputError(f"a saved search's name must have 1 to 200 characters: {name!r}")
    return cleaned


def _clean_bound(text: str | None, which: str) -> str | None:
    value = (text or "").strip()
    if not value:
        return None
    if len(value) > 64:
        raise InvalidInputError(f"{which} {value[:70]!r} is too long")
    parse_time_bound(value)  # raises with the forms it accepts
    return value


def _clean_columns(columns: Sequence[str]) -> list[str]:
    result: list[str] = []
    for column in columns:
        name = str(column).strip()
        if not name or name in result:
            continue
        if len(name) > MAX_COLUMN_NAME or any(c in name for c in ",\n\r"):
            raise InvalidInputError(f"{name[:80]!r} is not a column name")
        result.append(name)
    if len(result) > MAX_COLUMNS:
        raise InvalidInputError(f"at most {MAX_COLUMNS} columns, not {len(result)}")
    return result


class SavedSearchService:
    """Create, list, open and delete saved searches."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        actor: Principal,
        name: str,
        query: str,
        *,
        time_range: str | None = None,
        since: str | None = None,
        until: str | None = None,
        columns: Sequence[str] = (),
        shared: bool = False,
        check_query: Callable[[str], object] | None = None,
    ) -> SavedSearchRead:
        """Save a search for the actor; ``check_query`` raises when the query is wrong.

        Raises:
            InvalidInputError: a bad name, query, range, time or column.
            ConflictError: the actor already has a saved search of that name.
        """
        actor.require(Permission.SEARCH_READ)
        cleaned = _clean_name(name)
        if len(query) > MAX_QUERY:
            raise InvalidInputError(f"the query is too long ({len(query)} characters)")
        if check_query is not None:
            check_query(query)
        chosen_range = (time_range or "").strip() or None
        if chosen_range is not None and chosen_range not in TIME_RANGES:
            raise InvalidInputError(
                f"unknown time range {chosen_range!r}: use one of {', '.join(TIME_RANGES)}"
            )
        row = SavedSearch(
            name=cleaned,
            query=query,
            time_range=chosen_range,
            since=_clean_bound(since, "since"),
            until=_clean_bound(until, "until"),
            columns=_clean_columns(columns),
            owner=actor.name,
            owner_id=actor.user_id,
            shared=bool(shared),
            created_at=datetime.now(UTC),
        )
        try:
            with self.db.session() as session:
                duplicate = session.scalar(
                    select(SavedSearch.id).where(_mine(actor), SavedSearch.name == cleaned)
                )
                if duplicate is not None:
                    raise ConflictError(f"you already have a saved search named {cleaned!r}")
                session.add(row)
                session.flush()
                record_audit(
                    session,
                    actor,
                    "saved_search.create",
                    target=str(row.id),
                    detail={"name": cleaned, "shared": row.shared},
                )
                return _read(row)
        except IntegrityError as exc:  # the same name saved at the same moment
            raise ConflictError(f"you already have a saved search named {cleaned!r}") from exc

    def list(self, actor: Principal) -> list[SavedSearchRead]:
        """The actor's saved searches and the shared ones, by name."""
        actor.require(Permission.SEARCH_READ)
        with self.db.session() as session:
            rows = session.scalars(
                select(SavedSearch)
                .where(or_(_mine(actor), SavedSearch.shared.is_(True)))
                .order_by(SavedSearch.name, SavedSearch.id)
            ).all()
            return [_read(r) for r in rows]

    def get(self, actor: Principal, search_id: int) -> SavedSearchRead:
        """One saved search the actor may see (its own or a shared one).

        Raises:
            NotFoundError: no such search, or another user's private one.
        """
        actor.require(Permission.SEARCH_READ)
        with self.db.session() as session:
            row = session.get(SavedSearch, search_id)
            if row is None or not (row.shared or _is_owner(actor, row) or _is_admin(actor)):
                raise NotFoundError(f"no saved search #{search_id}")
            return _read(row)

    def delete(self, actor: Principal, search_id: int) -> SavedSearchRead:
        """Delete a saved search: its owner may, and an administrator.

        Raises:
            NotFoundError: no such search, or another user's private one.
            PermissionDeniedError: a shared search of someone else.
        """
        actor.require(Permission.SEARCH_READ)
        with self.db.session() as session:
            row = session.get(SavedSearch, search_id)
            if row is None or not (row.shared or _is_owner(actor, row) or _is_admin(actor)):
                raise NotFoundError(f"no saved search #{search_id}")
            if not (_is_owner(actor, row) or _is_admin(actor)):
                raise PermissionDeniedError(
                    f"{actor.name!r} may not delete {row.owner!r}'s saved search {row.name!r}"
                )
            found = _read(row)
            session.delete(row)
            record_audit(
                session,
                actor,
                "saved_search.delete",
                target=str(search_id),
                detail={"name": found.name, "owner": found.owner},
            )
            return found
