"""Packets over HTTP: the stored captures, and the packets of flows or of an alert as pcap.

``GET /api/v1/pcap/extract`` answers a pcap file of the packets named by flow ids, Community IDs
or an alert's evidence (the console's "Download packets" link), cut from the stored captures
as ``tocsin pcap extract`` does. Packets are raw event data: reading them needs the search
export permission, and an alert's packets also the alert read permission.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from tocsin.api.deps import Services, require, services
from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.lake.reader import events_by_id
from tocsin.pcap.evidence import alert_flow_ids
from tocsin.pcap.extract import extract_flows, flows_of_community_ids
from tocsin.pcap.store import CaptureStore
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1/pcap", tags=["pcap"])
Svc = Annotated[Services, Depends(services)]
MAX_KEYS = 200


@router.get("/captures")
def captures(
    _actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))], svc: Svc
) -> dict[str, Any]:
    """The stored captures and the store's use of its budget."""
    store = CaptureStore(svc.settings)
    return {
        "captures": [e.to_dict() for e in store.list()],
        "usage": store.usage().to_dict(),
    }


def _alert_flows(svc: Services, actor: Principal, alert_id: int) -> list[str]:
    if not actor.can(Permission.ALERT_READ):
        raise NotFoundError(f"alert {alert_id} not found")
    alerts = svc.workspace.alerts
    alert = alerts.get(actor, alert_id)
    margin = timedelta(days=1)
    events, _missing = events_by_id(
        svc.reader,
        alerts.events(actor, alert_id)[:MAX_KEYS],
        since=alert.first_seen - margin,
        until=alert.last_seen + margin,
    )
    return alert_flow_ids(svc.settings, events, alert.fields)


@router.get("/extract", response_class=FileResponse)
async def extract(
    actor: Annotated[Principal, Depends(require(Permission.SEARCH_EXPORT))],
    svc: Svc,
    flow: Annotated[list[str] | None, Query(description="Flow ids: <capture>-<n>.")] = None,
    community_id: Annotated[list[str] | None, Query(description="Community IDs.")] = None,
    alert: Annotated[int | None, Query(description="An alert: the packets of its flows.")] = None,
) -> FileResponse:
    """A pcap of the packets of flows, Community IDs or an alert's evidence."""
    keys = [*(flow or []), *(community_id or [])]
    if len(keys) > MAX_KEYS or any(len(k) > 128 for k in keys):
        raise InvalidInputError(f"at most {MAX_KEYS} flow ids and Community IDs of 128 characters")
    if not keys and alert is None:
        raise InvalidInputError("give flow, community_id or alert")

    def work() -> tuple[Path, str]:
        ids = list(flow or [])
        if community_id:
            ids += flows_of_community_ids(svc.settings, list(community_id))
        name = "flows"
        if alert is not None:
            ids += _alert_flows(svc, actor, alert)
            name = f"alert-{alert}"
        if not ids:
            raise NotFoundError("no stored packets for these flows")
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - removed after the response
            prefix="tocsin-", suffix=".pcap", delete=False
        )
        try:
            result = extract_flows(svc.settings, sorted(set(ids)), handle)  # type: ignore[arg-type]  # a binary file
        finally:
            handle.close()
        if result.packets == 0:
            Path(handle.name).unlink(missing_ok=True)
            raise NotFoundError(
                "the packets of these flows are not stored (not imported from a capture, "
                "or removed by retention)"
            )
        return Path(handle.name), name

    path, name = await run_in_threadpool(work)
    return FileResponse(
        path,
        media_type="application/vnd.tcpdump.pcap",
        filename=f"tocsin-{name}.pcap",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
