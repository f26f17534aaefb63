"""DNS security over HTTP: what the traffic looks like, a hunt on demand, names scored.

The routes call the same functions as ``tocsin dns top|hunt|score`` (``tocsin.dns.views``,
``tocsin.dns.hunt``, ``tocsin.dns.dga``) and answer with the same figures. Times accept what
the search route accepts (``-24h``, ``now``, ISO dates). A hunt reads its whole window from the
lake, so its window is bounded and one hunt runs at a time per server: a second request gets a
409 rather than a second full scan on the same cores.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tocsin.api.deps import Services, client_ip, require, services
from tocsin.core.errors import ConflictError, InvalidInputError
from tocsin.core.timeutil import parse_time_bound
from tocsin.workspace.history import record_audit
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1/dns", tags=["dns"])
Svc = Annotated[Services, Depends(services)]

TOP_DEFAULT = timedelta(hours=24)
HUNT_DEFAULT = timedelta(hours=1)
MAX_HUNT_WINDOW = timedelta(days=31)
MAX_NAMES = 100
MAX_NAME_CHARS = 253  # the longest name DNS can carry (RFC 1035, in text form)
TIME_CHARS = 64
# One hunt at a time per process: each reads its whole window, and two would share 2 cores.
_HUNTING = threading.Lock()

SinceQuery = Annotated[
    str | None, Query(description="Start: -24h, 7d, or an ISO date (default: 24 h before until).")
]
UntilQuery = Annotated[
    str | None, Query(description="End: -5m, now, or an ISO date (default now).")
]


def window(
    since: str | None,
    until: str | None,
    *,
    default: timedelta,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """``[since, until)`` from search-style times; ``default`` before ``until`` if no ``since``."""
    moment = now or datetime.now(UTC)
    for name, text in (("since", since), ("until", until)):
        if text is not None and len(text) > TIME_CHARS:
            raise InvalidInputError(f"{name}: at most {TIME_CHARS} characters")
    end = parse_time_bound(until, now=moment) if until else moment
    start = parse_time_bound(since, now=moment) if since else end - default
    if end <= start:
        raise InvalidInputError(
            f"the window is empty: until ({end.isoformat()}) must be after since "
            f"({start.isoformat()})"
        )
    return start, end


@router.get("/top")
async def top(
    _actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))],
    svc: Svc,
    since: SinceQuery = None,
    until: UntilQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    """Top domains, clients, NXDOMAIN domains, query types, codes and the timeline of a window."""
    from tocsin.dns.views import dns_top

    start, end = window(since, until, default=TOP_DEFAULT)
    summary = await run_in_threadpool(
        dns_top, svc.settings, since=start, until=end, limit=limit, reader=svc.reader
    )
    return summary.to_dict()


class DnsHuntRequest(BaseModel):
    """What ``POST /api/v1/dns/hunt`` runs: a window, the detectors, whether to raise alerts."""

    model_config = ConfigDict(extra="forbid")

    since: str | None = Field(default=None, description="Start (default: an hour before until).")
    until: str | None = Field(default=None, description="End (default: now).")
    detectors: list[str] | None = Field(
        default=None, max_length=10, description="Detectors to run (default: dns_detectors)."
    )
    alerts: bool = Field(default=True, description="Raise the findings as alerts.")


@router.post("/hunt")
async def hunt(
    request: Request,
    actor: Annotated[Principal, Depends(require(Permission.ALERT_TRIAGE))],
    svc: Svc,
    body: DnsHuntRequest | None = None,
) -> dict[str, Any]:
    """Run the DNS detectors over a window (at most 31 days); findings become alerts."""
    from tocsin.dns.hunt import hunt_dns

    asked = body or DnsHuntRequest()
    start, end = window(asked.since, asked.until, default=HUNT_DEFAULT)
    if end - start > MAX_HUNT_WINDOW:
        raise InvalidInputError(
            f"the hunt window is {(end - start).total_seconds() / 86400:.1f} days: at most "
            f"{MAX_HUNT_WINDOW.days} days per hunt; split it into several hunts"
        )
    if not _HUNTING.acquire(blocking=False):
        raise ConflictError("a DNS hunt is already running on this server: try again when it ends")
    try:
        report = await run_in_threadpool(
            hunt_dns,
            svc.settings,
            since=start,
            until=end,
            detectors=asked.detectors,
            alerts=asked.alerts,
        )
    finally:
        _HUNTING.release()
    with svc.workspace.db.session() as session:
        record_audit(
            session,
            actor,
            "dns.hunt",
            target="dns",
            ip=client_ip(request),
            detail={
                "since": start.isoformat(),
                "until": end.isoformat(),
                "detectors": asked.detectors,
                "alerts": asked.alerts,
                "findings": len(report.findings),
                "alerts_new": report.alerts_new,
            },
        )
    return {
        "report": report.row(),
        "summary": report.summary(),
        "findings": [finding.row() for finding in report.findings],
    }


def score_names(names: Sequence[str]) -> list[dict[str, Any]]:
    """Each name's registered label, its DGA score and the reasons, in the order given."""
    from tocsin.dns.dga import DgaModel, registrable_label

    model = DgaModel.load()
    rows: list[dict[str, Any]] = []
    labels: list[str] = []
    for name in names:
        text = name.strip()
        row: dict[str, Any] = {"name": name, "label": None, "score": None, "reasons": []}
        if not text:
            row["error"] = "empty name"
        elif len(text.rstrip(".")) > MAX_NAME_CHARS:
            row["error"] = f"not a DNS name: over {MAX_NAME_CHARS} characters"
        else:
            label = registrable_label(text)
            if label is None:
                row["error"] = "no registered domain in this name (a bare suffix or not DNS)"
            else:
                row["label"] = label
                labels.append(label)
        rows.append(row)
    scores = model.score_labels(labels).tolist() if labels else []
    scored = iter(zip(labels, scores, strict=True))
    for row in rows:
        if row["label"] is None:
            continue
        label, value = next(scored)
        row["score"] = round(float(value), 3)
        row["reasons"] = [
            {"check": r.check, "detail": r.detail, "weight": r.weight} for r in model.explain(label)
        ]
    return rows


@router.get("/score")
async def score(
    _actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))],
    name: Annotated[
        list[str] | None, Query(description=f"A domain name (repeat, at most {MAX_NAMES}).")
    ] = None,
) -> dict[str, Any]:
    """How random each name's registered label looks to the DGA model, and why."""
    names = name or []
    if not names:
        raise InvalidInputError("give at least one name: /api/v1/dns/score?name=example.com")
    if len(names) > MAX_NAMES:
        raise InvalidInputError(f"{len(names)} names: at most {MAX_NAMES} per request")
    return {"names": await run_in_threadpool(score_names, names)}


@router.post("/block")
async def block(
    actor: Annotated[Principal, Depends(require(Permission.BLOCKLIST_MANAGE))],
    svc: Svc,
    alert_id: Annotated[
        int,
        Query(description="A dns.tunnel, dns.lookalike, dns.indicator or dns.new_domain alert."),
    ],
    days: Annotated[float, Query(ge=0, description="Expiry in days (0: never).")] = 30.0,
) -> dict[str, Any]:
    """Put the alert's domain on the block list, with the alert as provenance."""
    from tocsin.dns.blocking import block_dns_alert

    results = await run_in_threadpool(
        block_dns_alert,
        svc.workspace,
        actor,
        alert_id,
        ttl=timedelta(days=days) if days > 0 else None,
        protected=svc.settings.organisation_domains,
    )
    return {"alert_id": alert_id, "entries": [r.to_dict() for r in results]}
