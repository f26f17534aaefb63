"""Search over the lake: the same library function as the CLI."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from tocsin.api.deps import Services, require, services
from tocsin.core.timeutil import parse_time_bound
from tocsin.ingest.pipeline import prepare_export
from tocsin.workspace.history import record_audit
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["search"])


def _bounds(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    return (parse_time_bound(since) if since else None, parse_time_bound(until) if until else None)


@router.get("/search")
async def search(
    _actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))],
    svc: Annotated[Services, Depends(services)],
    q: Annotated[str, Query(description="Query in the tocsin search language.")] = "",
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    dataset: Annotated[list[str] | None, Query()] = None,
    count: Annotated[bool, Query(description="Also count every hit.")] = False,
) -> dict[str, object]:
    """The newest events matching ``q``."""
    start, end = _bounds(since, until)
    result = await run_in_threadpool(
        svc.reader.search, q, since=start, until=end, limit=limit, datasets=dataset
    )
    body: dict[str, object] = {
        "events": result.events,
        "elapsed_ms": round(result.elapsed * 1000, 1),
        "files_scanned": result.files_scanned,
        "files_total": result.files_total,
    }
    if count:
        body["total"] = await run_in_threadpool(
            svc.reader.count, q, since=start, until=end, datasets=dataset
        )
    return body


@router.get("/search/count")
async def search_count(
    _actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))],
    svc: Annotated[Services, Depends(services)],
    q: Annotated[str, Query()] = "",
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
    dataset: Annotated[list[str] | None, Query()] = None,
) -> dict[str, object]:
    """How many events match ``q``."""
    start, end = _bounds(since, until)
    total = await run_in_threadpool(svc.reader.count, q, since=start, until=end, datasets=dataset)
    return {"total": total}


@router.get("/search/export")
def search_export(
    actor: Annotated[Principal, Depends(require(Permission.SEARCH_EXPORT))],
    svc: Annotated[Services, Depends(services)],
    q: Annotated[str, Query(description="Query in the tocsin search language.")] = "",
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    dataset: Annotated[list[str] | None, Query()] = None,
    format: Annotated[str, Query(pattern="^(csv|ndjson)$")] = "ndjson",  # noqa: A002
) -> Response:
    """Download the newest matching events as CSV or NDJSON (each export is audited)."""
    start, end = _bounds(since, until)
    result = svc.reader.search(q, since=start, until=end, limit=limit, datasets=dataset)
    events = prepare_export(result.events, svc.settings)
    if format == "csv":
        columns: dict[str, None] = {}
        for event in events:
            columns.update(dict.fromkeys(event))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for event in events:
            writer.writerow({k: _cell(v) for k, v in event.items()})
        body = buffer.getvalue().encode()
        media = "text/csv"
    else:
        body = b"".join(orjson.dumps(e, default=str) + b"\n" for e in events)
        media = "application/x-ndjson"
    with svc.workspace.db.session() as session:
        record_audit(
            session,
            actor,
            "export",
            target="search",
            detail={"q": q, "format": format, "rows": len(events), "since": since, "until": until},
        )
    headers = {"Content-Disposition": f'attachment; filename="tocsin-search.{format}"'}
    return Response(body, media_type=media, headers=headers)


def _cell(value: object) -> object:
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=str).decode()
    return value
