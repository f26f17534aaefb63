"""HTTP ingest: JSON and NDJSON batches from forwarders (Fluent Bit, Vector, Winlogbeat)."""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tocsin.api.deps import Services, require, services
from tocsin.ingest.spool import SpoolRecord, now
from tocsin.lake.layout import is_valid_dataset
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["ingest"])

MAX_BODY = 32 * 1024 * 1024
MAX_INFLATED = MAX_BODY * 8


@router.post("/ingest", status_code=202)
async def ingest(
    request: Request,
    actor: Annotated[Principal, Depends(require(Permission.INGEST))],
    svc: Annotated[Services, Depends(services)],
    dataset: Annotated[str | None, Query(description="Dataset to store under.")] = None,
    format: Annotated[str, Query(description="Parser id, or auto.")] = "auto",
) -> JSONResponse:
    """Accept a JSON or NDJSON body; it is in the spool before this answers 202."""
    if svc.spool is None:
        return JSONResponse({"error": "Unavailable", "detail": "ingest is not running"}, 503)
    if dataset is not None and not is_valid_dataset(dataset):
        return JSONResponse(
            {"error": "InvalidInputError", "detail": f"dataset {dataset!r} is not valid"}, 400
        )
    if svc.spool.is_full():
        return JSONResponse(
            {"error": "Busy", "detail": "the spool is full; retry later"},
            503,
            headers={"Retry-After": "5"},
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return JSONResponse({"error": "TooLarge", "detail": f"body over {MAX_BODY} bytes"}, 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return JSONResponse({"error": "TooLarge", "detail": f"body over {MAX_BODY} bytes"}, 413)
        chunks.append(chunk)
    body = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() == "gzip" or body[:2] == b"\x1f\x8b":
        try:
            inflated = await run_in_threadpool(_gunzip, body)
        except (OSError, EOFError, zlib.error):
            return JSONResponse({"error": "InvalidInputError", "detail": "bad gzip body"}, 400)
        if inflated is None:
            detail = f"body over {MAX_INFLATED} bytes once decompressed"
            return JSONResponse({"error": "TooLarge", "detail": detail}, 413)
        body = inflated
    if not body.strip():
        return JSONResponse({"error": "InvalidInputError", "detail": "empty body"}, 400)
    peer = request.client.host if request.client else "unknown"
    record = SpoolRecord(
        "http", f"http://{peer} {actor.name}", body, now(), format=format, dataset=dataset
    )
    # off the event loop: the syslog listeners share it
    position = await run_in_threadpool(svc.spool.append, [record])
    return JSONResponse({"status": "accepted", "bytes": len(body), "spool": str(position)}, 202)


def _gunzip(body: bytes) -> bytes | None:
    """Decompress a gzip body (several members too), or None when it inflates past
    ``MAX_INFLATED``: reading stops just past the limit, so a bomb never inflates whole."""
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
        out = stream.read(MAX_INFLATED + 1)
    return None if len(out) > MAX_INFLATED else out
