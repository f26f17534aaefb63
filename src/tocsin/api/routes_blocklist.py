"""Block and allow lists over HTTP: the same ``BlockLists`` service the CLI and sensors use.

``GET /api/v1/blocklist/export?format=domains`` answers plain text, so a firewall, resolver or
proxy can fetch a list with a read-only token; every other route speaks JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from tocsin.api.deps import Services, require, services
from tocsin.api.versioning import Limit, Offset
from tocsin.core.errors import InvalidInputError
from tocsin.respond.blocklist import (
    MAX_REASON,
    MAX_SOURCE,
    MAX_VALUE,
    BlockLists,
    EntryDraft,
    EntryKind,
    ListName,
    get_exporter,
    parse_expiry,
)
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["blocklist"])

Svc = Annotated[Services, Depends(services)]
Reader = Annotated[Principal, Depends(require(Permission.BLOCKLIST_READ))]
Manager = Annotated[Principal, Depends(require(Permission.BLOCKLIST_MANAGE))]
MAX_ENTRIES = 1000


class EntryCreate(BaseModel):
    """One value for a list; ``kind`` is detected when absent; ``expires`` absent: never."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=MAX_VALUE)
    kind: EntryKind | None = None
    list: ListName = ListName.BLOCK
    reason: str = Field(default="", max_length=MAX_REASON)
    source: str = Field(default="manual", min_length=1, max_length=MAX_SOURCE)
    expires: str | None = Field(
        default=None,
        max_length=64,
        description="30d, 12h, 2w, 90m from now; a date (00:00 UTC) or an ISO time; never.",
    )


class EntriesCreate(BaseModel):
    """Values to add, all or none (one invalid value fails the request and is named)."""

    model_config = ConfigDict(extra="forbid")

    entries: list[EntryCreate] = Field(min_length=1, max_length=MAX_ENTRIES)


def _lists(svc: Services) -> BlockLists:
    return BlockLists(svc.workspace.db)


def _draft(item: EntryCreate, now: datetime) -> EntryDraft:
    try:
        expires_at = parse_expiry(item.expires, now=now)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{item.value!r}: {exc.message}") from exc
    return EntryDraft(
        item.value,
        kind=item.kind,
        list=item.list,
        reason=item.reason,
        source=item.source,
        expires_at=expires_at,
    )


@router.get("/blocklist")
def list_entries(
    actor: Reader,
    svc: Svc,
    list_name: Annotated[ListName | None, Query(alias="list")] = None,
    kind: EntryKind | None = None,
    source: Annotated[
        str | None, Query(max_length=MAX_SOURCE, description="Exact, or a prefix ending in *.")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=500, description="Text in the value or the reason.")
    ] = None,
    include_expired: bool = False,
    include_removed: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Entries, newest first and paged; live ones unless asked for expired or removed ones."""
    page = _lists(svc).list(
        actor,
        list_name=list_name,
        kind=kind,
        source=source,
        text=q,
        include_expired=include_expired,
        include_removed=include_removed,
        limit=limit,
        offset=offset,
    )
    return page.to_dict([e.to_dict() for e in page.items])


@router.post("/blocklist")
def add_entries(actor: Manager, svc: Svc, body: EntriesCreate) -> dict[str, Any]:
    """Add values; each result says ``added``, ``updated`` (expiry extended) or ``unchanged``."""
    now = datetime.now(UTC)
    drafts = [_draft(item, now) for item in body.entries]
    results = _lists(svc).add(actor, drafts, now=now)
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for result in results:
        counts[result.outcome] += 1
    return {"results": [r.to_dict() for r in results], **counts}


@router.get("/blocklist/export", response_class=PlainTextResponse)
def export_list(
    actor: Reader,
    svc: Svc,
    fmt: Annotated[str, Query(alias="format", max_length=50, description="domains, hosts, ...")],
    list_name: Annotated[ListName, Query(alias="list")] = ListName.BLOCK,
) -> PlainTextResponse:
    """One list as text for a firewall, resolver or proxy (allow-listed values left out)."""
    exporter = get_exporter(fmt)
    text = _lists(svc).export(actor, fmt, list_name=list_name)
    return PlainTextResponse(text, media_type=exporter.media_type)


@router.get("/blocklist/{entry_id}")
def get_entry(actor: Reader, svc: Svc, entry_id: int) -> dict[str, Any]:
    """One entry, live, expired or removed."""
    return _lists(svc).get(actor, entry_id).to_dict()


@router.delete("/blocklist/{entry_id}")
def remove_entry(
    actor: Manager,
    svc: Svc,
    entry_id: int,
    reason: Annotated[str, Query(max_length=MAX_REASON, description="Why, for the audit.")] = "",
) -> dict[str, Any]:
    """Remove an entry: it stops counting at once and stays in the history."""
    (entry,) = _lists(svc).remove(actor, ids=[entry_id], reason=reason)
    return entry.to_dict()
