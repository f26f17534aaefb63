"""Data sources and retention, and the audit log, in the console.

Retention is read-only here: it is the ``retention_days`` setting of the home's ``tocsin.toml``
(or ``TOCSIN_RETENTION_DAYS``), and ``core.settings`` has no safe way to write that file while
keeping its comments, so the page says where to change it instead of offering a form.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from tocsin.api.console.common import Viewer, page, render_page
from tocsin.api.deps import Services, services
from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import CONFIG_FILE, Settings
from tocsin.core.timeutil import parse_time_bound
from tocsin.ingest.quarantine import Quarantine
from tocsin.lake.maintenance import lake_stats
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]

# Reading the quarantine means reading its files: past this many records the page stops
# counting and says so, so a flood of bad records cannot make the page slow.
QUARANTINE_SCAN_LIMIT = 200_000
TOP = 20
AUDIT_PAGE = 100
AUDIT_ACTIONS = (
    "login",
    "logout",
    "user.create",
    "user.disable",
    "user.enable",
    "user.password_reset",
    "user.password_change",
    "permission.change",
    "team.create",
    "team.delete",
    "token.create",
    "token.revoke",
    "token.use",
    "channel.create",
    "channel.update",
    "channel.delete",
    "channel.test",
    "export",
)


@dataclass(slots=True)
class QuarantineSummary:
    """How many records are quarantined, by source and by reason."""

    total: int = 0
    truncated: bool = False
    oldest: datetime | None = None
    newest: datetime | None = None
    by_source: list[tuple[str, int]] = field(default_factory=list)
    by_reason: list[tuple[str, str, int]] = field(default_factory=list)  # parser, reason, n


def summarise_quarantine(settings: Settings) -> QuarantineSummary:
    """Count the quarantined records per source and per (parser, reason)."""
    summary = QuarantineSummary()
    sources: Counter[str] = Counter()
    reasons: Counter[tuple[str, str]] = Counter()
    for record in Quarantine(settings.quarantine_dir).records():
        if summary.total >= QUARANTINE_SCAN_LIMIT:
            summary.truncated = True
            break
        summary.total += 1
        sources[record.source] += 1
        reasons[(record.parser, record.reason)] += 1
        if summary.oldest is None or record.time < summary.oldest:
            summary.oldest = record.time
        if summary.newest is None or record.time > summary.newest:
            summary.newest = record.time
    summary.by_source = sources.most_common(TOP)
    summary.by_reason = [(p, r, n) for (p, r), n in reasons.most_common(TOP)]
    return summary


def retention_for(settings: Settings, dataset: str) -> tuple[int | None, str]:
    """Days kept for a dataset and where that comes from (its own key, ``*``, or none)."""
    days = settings.retention_days
    if dataset in days:
        return days[dataset], dataset
    if "*" in days:
        return days["*"], "*"
    return None, ""


def listeners(settings: Settings, base_url: str) -> list[dict[str, Any]]:
    """The listeners the settings configure, with how a sender authenticates."""
    found: list[dict[str, Any]] = [
        {
            "name": "HTTP ingest",
            "where": f"POST {base_url}api/v1/ingest",
            "auth": "a bearer token with the ingest scope",
            "configured": True,
        }
    ]
    for name, port, auth in (
        ("Syslog UDP", settings.syslog_udp_port, "none (keep it on a trusted network)"),
        ("Syslog TCP", settings.syslog_tcp_port, "none (keep it on a trusted network)"),
    ):
        found.append(
            {
                "name": name,
                "where": f"{settings.host}:{port}" if port is not None else "",
                "auth": auth,
                "configured": port is not None,
            }
        )
    tls_port = settings.syslog_tls_port
    tls_ready = tls_port is not None and settings.syslog_tls_cert and settings.syslog_tls_key
    found.append(
        {
            "name": "Syslog TLS",
            "where": f"{settings.host}:{tls_port}" if tls_port is not None else "",
            "auth": "a client certificate signed by syslog_tls_client_ca"
            if settings.syslog_tls_client_ca
            else "TLS without client certificates",
            "configured": bool(tls_ready),
            "problem": "needs syslog_tls_cert and syslog_tls_key"
            if tls_port is not None and not tls_ready
            else "",
        }
    )
    return found


@router.get("/admin/data")
def data_sources(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.HEALTH_READ))],
    svc: Svc,
) -> HTMLResponse:
    """Datasets of the lake with their size, span and retention; listeners; the quarantine."""
    settings = svc.settings
    stats = lake_stats(settings.lake_dir)
    datasets: list[dict[str, Any]] = []
    for row in stats:
        days, source = retention_for(settings, row.dataset)
        datasets.append({"stats": row, "retention": days, "retention_from": source})
    present = {row.dataset for row in stats}
    config_path = settings.home / CONFIG_FILE
    return render_page(
        request,
        viewer,
        "admin_data.html",
        title="Data sources",
        nav="admin",
        tab="data",
        datasets=datasets,
        total_events=sum(row.events for row in stats),
        total_bytes=sum(row.bytes for row in stats),
        retention=sorted(settings.retention_days.items()),
        retention_absent=sorted(k for k in settings.retention_days if k not in present | {"*"}),
        config_path=str(config_path),
        config_exists=config_path.is_file(),
        listeners=listeners(settings, str(request.base_url)),
        spool_pending=svc.spool.pending_bytes() if svc.spool is not None else None,
        quarantine=summarise_quarantine(settings),
    )


@router.get("/admin/audit")
def audit_log(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.AUDIT_READ))],
    svc: Svc,
    action: Annotated[str, Query(max_length=100)] = "",
    who: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=100)] = "",
    until: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """Logins, permission changes, token use and exports, newest first, filtered."""
    error = None
    try:
        bounds = [parse_time_bound(t) if t.strip() else None for t in (since, until)]
    except InvalidInputError as exc:
        # a typo in a time box shows the whole log with the reason, not an error page
        error, bounds = exc.message, [None, None]
    entries = svc.workspace.history.audit(
        viewer.principal,
        action=action.strip() or None,
        who=who.strip() or None,
        since=bounds[0],
        until=bounds[1],
        limit=AUDIT_PAGE,
        offset=offset,
    )
    return render_page(
        request,
        viewer,
        "admin_audit.html",
        title="Audit log",
        nav="admin",
        tab="audit",
        entries=entries,
        actions=AUDIT_ACTIONS,
        error=error,
    )
