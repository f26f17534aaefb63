"""Data discovery over HTTP: stored findings and their triage, the inventory, and a check of a
text on demand.

The routes call the functions behind ``tocsin discovery findings|triage|inventory``. A text
check (``POST /scan``) is for other tools (a ticketing system asking "does this comment hold
a secret?"): it is bounded in size, answers with masked values only, and is audited. Nothing
here returns a found value.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tocsin.api.deps import Services, require, services
from tocsin.workspace.history import record_audit
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1/discovery", tags=["discovery"])
Svc = Annotated[Services, Depends(services)]

MAX_TEXT = 1_000_000
"""Characters a text check takes (larger texts belong in `tocsin discovery scan`)."""


class TriageBody(BaseModel):
    """A new state for a finding, and why."""

    model_config = ConfigDict(extra="forbid")
    state: str = Field(pattern="^(open|confirmed|false_positive|fixed)$")
    note: str = Field(default="", max_length=2000)


class ScanBody(BaseModel):
    """A text to check."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT)
    name: str = Field(default="text", max_length=500)
    pii: bool = True
    secrets: bool = True


@router.get("/findings")
def findings(
    actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))],
    svc: Svc,
    state: Annotated[str | None, Query(pattern="^(open|confirmed|false_positive|fixed)$")] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(pattern="^(secret|pii)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Stored findings with their triage state, the most recently seen first."""
    from tocsin.discovery.store import list_findings

    rows, total = list_findings(
        svc.workspace,
        actor,
        state=state,
        kind=kind,
        category=category,
        limit=limit,
        offset=offset,
    )
    return {"total": total, "items": [r.to_dict() for r in rows]}


@router.get("/findings/{fingerprint}/history")
def history(
    actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))],
    svc: Svc,
    fingerprint: str,
) -> dict[str, Any]:
    """Every change of a finding's state, oldest first."""
    from tocsin.discovery.store import triage_history

    return {"items": triage_history(svc.workspace, actor, fingerprint[:64])}


@router.post("/findings/{fingerprint}/triage")
def triage(
    actor: Annotated[Principal, Depends(require(Permission.ALERT_TRIAGE))],
    svc: Svc,
    fingerprint: str,
    body: TriageBody,
) -> dict[str, Any]:
    """Set a finding's state; its alert is closed (false positive, fixed) or acknowledged."""
    from tocsin.discovery.store import set_state

    row = set_state(svc.workspace, actor, fingerprint[:64], body.state, note=body.note)
    return row.to_dict()


@router.get("/inventory")
def inventory(
    actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))],
    svc: Svc,
    by: Annotated[str, Query(pattern="^(folder|owner|source)$")] = "folder",
    depth: Annotated[int, Query(ge=1, le=10)] = 2,
) -> dict[str, Any]:
    """Where each type of sensitive data lives: live findings per place and kind."""
    from tocsin.discovery.inventory import inventory as build

    table = build(svc.workspace, actor, by=by, depth=depth)
    return {"by": by, "kinds": table.kinds, "rows": table.rows}


@router.post("/scan")
async def scan_text(
    actor: Annotated[Principal, Depends(require(Permission.SEARCH_READ))],
    svc: Svc,
    body: ScanBody,
) -> dict[str, Any]:
    """Check a text for secrets and personal data; findings come back masked."""
    from tocsin.discovery.findings import DEFAULT_HASH_KEY
    from tocsin.discovery.scan import ScanOptions, build_scanner

    categories = tuple(c for c, on in (("secret", body.secrets), ("pii", body.pii)) if on)
    key = svc.settings.discovery_hash_key
    options = ScanOptions(
        rule_files=tuple(svc.settings.discovery_rules),
        categories=categories or ("secret",),
        min_confidence=svc.settings.discovery_min_confidence,
        hash_key=key.encode() if key else DEFAULT_HASH_KEY,
    )
    scanner = svc.__dict__.get("_discovery_scanner")
    if scanner is None or scanner[0] != options.categories:
        scanner = (options.categories, build_scanner(options))
        svc.__dict__["_discovery_scanner"] = scanner
    found = await run_in_threadpool(scanner[1].scan_text, body.text, body.name)
    with svc.workspace.db.session() as session:
        record_audit(
            session,
            actor,
            "discovery.scan",
            target="text",
            detail={"name": body.name, "chars": len(body.text), "findings": len(found)},
        )
    return {"findings": [f.to_dict() for f in found]}
