"""Search over the lake: the same library function as the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from tocsin.api.deps import Services, require, services
from tocsin.core.timeutil import parse_time_bound
from tocsin.workspace.tokens import Scope, TokenInfo

router = APIRouter(prefix="/api/v1", tags=["search"])


def _bounds(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    return (parse_time_bound(since) if since else None, parse_time_bound(until) if until else None)


@router.get("/search")
async def search(
    _token: Annotated[TokenInfo, Depends(require(Scope.READ))],
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
    _token: Annotated[TokenInfo, Depends(require(Scope.READ))],
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
