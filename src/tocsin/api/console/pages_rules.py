"""The console's rules pages: the catalogue with hits and noise, a rule, switches, rule tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.api.console.common import Viewer, form, page, redirect, render_page
from tocsin.api.console.pages_alerts import catalog
from tocsin.api.deps import Services, services
from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.detect.catalog import (
    MAX_PASTED_BYTES,
    TRIAL_LIMIT,
    LakeTrial,
    RuleHits,
    RuleInfo,
    load_pasted,
    rule_hits,
    try_on_lake,
)
from tocsin.detect.store import RuleStore
from tocsin.web.render import SEVERITIES
from tocsin.workspace.paging import Page
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]

# the window of the hit counts
RANGES = {
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
DEFAULT_RANGE = "7d"
# how far back a rule test reads the lake
TEST_RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
DEFAULT_TEST_RANGE = "24h"
SORTS = {
    "title": "Title",
    "-hits": "Most alerts",
    "-events": "Most events",
    "-noise": "Noisiest",
    "-level": "Most severe",
}
PAGE_SIZE = 100
MAX_SWITCH = 1000
_RANK = {level: index for index, level in enumerate(reversed(SEVERITIES))}
_EXAMPLE = """\
title: Whoami run to list privileges
id: 00000000-0000-4000-8000-000000000001
status: experimental
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    Image|endswith: '\\whoami.exe'
  condition: selection
level: low
"""


@dataclass(frozen=True, slots=True)
class RuleRow:
    """A rule of the list with its hits in the chosen window (None: no alert)."""

    info: RuleInfo
    hits: RuleHits | None


def _choice(value: str | None, choices: dict[str, Any], default: str) -> str:
    return value if value in choices else default


def _window(span: str) -> tuple[datetime, datetime]:
    until = datetime.now(UTC)
    return until - RANGES[span], until


def _filter(rows: list[RuleRow], request: Request) -> list[RuleRow]:
    """The rows the query string's filters keep: text, pack, levels, enabled, kind."""
    params = request.query_params
    text = params.get("q", "").strip()
    pack = params.get("pack", "")
    levels = [v for v in params.getlist("level") if v in SEVERITIES]
    enabled = params.get("enabled", "")
    kept = []
    for row in rows:
        info = row.info
        if text and not info.matches_text(text):
            continue
        if pack and info.pack != pack:
            continue
        if levels and info.rule.level.value not in levels:
            continue
        if enabled in ("on", "off") and info.enabled != (enabled == "on"):
            continue
        kept.append(row)
    return kept


def _sort(rows: list[RuleRow], sort: str) -> list[RuleRow]:
    def title(row: RuleRow) -> tuple[str, str]:
        return row.info.rule.title.lower(), row.info.id

    ordered = sorted(rows, key=title)
    if sort == "-hits":
        ordered.sort(key=lambda r: -(r.hits.alerts if r.hits else 0))
    elif sort == "-events":
        ordered.sort(key=lambda r: -(r.hits.events if r.hits else 0))
    elif sort == "-noise":
        # noisiest first; among equals the rule with more closed alerts; unknown noise last
        def noise(row: RuleRow) -> tuple[float, int]:
            ratio = row.hits.noise_ratio if row.hits else None
            closed = row.hits.counts.closed if row.hits else 0
            return (-ratio if ratio is not None else 1.0, -closed)

        ordered.sort(key=noise)
    elif sort == "-level":
        ordered.sort(key=lambda r: -_RANK.get(r.info.rule.level.value, 0))
    return ordered


def _hits(svc: Services, viewer: Viewer, span: str) -> dict[str, RuleHits]:
    since, until = _window(span)
    return rule_hits(svc.workspace, viewer.principal, since=since, until=until)


@router.get("/rules")
def rule_list(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.ALERT_READ))],
    svc: Svc,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """Every installed rule with its level, pack, switch and alerts in the window; filters."""
    params = request.query_params
    span = _choice(params.get("range"), RANGES, DEFAULT_RANGE)
    sort = _choice(params.get("sort"), SORTS, "title")
    rules = catalog(svc)
    hits = _hits(svc, viewer, span)
    everything = [RuleRow(info, hits.get(info.id)) for info in rules.rules()]
    rows = _sort(_filter(everything, request), sort)
    shown = Page(rows[offset : offset + PAGE_SIZE], len(rows), PAGE_SIZE, offset)
    return render_page(
        request,
        viewer,
        "rules.html",
        title="Rules",
        nav="rules",
        rows=shown,
        installed=len(everything),
        enabled_count=sum(1 for r in everything if r.info.enabled),
        packs=rules.packs(),
        problems=len([i for i in rules.issues() if i.severity == "error"]),
        levels=[v for v in params.getlist("level") if v in SEVERITIES],
        span=span,
        ranges=list(RANGES),
        sort=sort,
        sorts=SORTS,
        next_url=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


@router.post("/rules/switch")
async def switch_rules(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.RULE_MANAGE))],
    svc: Svc,
    action: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Enable or disable one rule or the selected rules, by id (``RuleStore`` switches)."""
    data = await request.form()
    ids = [str(i).strip() for i in data.getlist("ids") if str(i).strip()]
    if action not in ("enable", "disable"):
        raise InvalidInputError(f"unknown action {action!r}: use enable or disable")
    if not ids:
        raise InvalidInputError("select at least one rule")
    if len(ids) > MAX_SWITCH:
        raise InvalidInputError(f"switch at most {MAX_SWITCH} rules at once")
    rules = catalog(svc)
    unknown = [i for i in ids if rules.get(i) is None]
    if unknown:
        raise NotFoundError(f"no installed rule has the id {unknown[0]!r}")
    store = RuleStore(svc.settings.rules_dir)
    if action == "enable":
        store.enable(ids)
    else:
        store.disable(ids)
    now_on = sum(1 for i in ids if (found := rules.get(i)) is not None and found.enabled)
    done = "enabled" if action == "enable" else "disabled"
    note = f"{len(ids)} rule(s) {done}."
    if action == "enable" and now_on < len(ids):
        note += (
            f" {len(ids) - now_on} stay off: a correlation runs only while all its rules run,"
            " and a rule that only feeds a switched-off correlation stays quiet."
        )
    back = str(data.get("next") or "/rules")
    return redirect(request, back if back.startswith("/rules") else "/rules", note=note)


@router.get("/rules/test")
def rule_test_form(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.ALERT_READ))],
) -> HTMLResponse:
    """A form to paste a rule and try it on the lake's recent events."""
    return render_page(
        request,
        viewer,
        "rule_test.html",
        title="Test a rule",
        nav="rules",
        rule=None,
        text=_EXAMPLE,
        trial=None,
        errors=[],
        warnings=[],
        tested=[],
        test_ranges=list(TEST_RANGES),
        test_range=DEFAULT_TEST_RANGE,
        limit=TRIAL_LIMIT,
        max_kb=MAX_PASTED_BYTES // 1024,
    )


@router.post("/rules/test")
async def rule_test_pasted(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.SEARCH_READ))],
    svc: Svc,
    text: Annotated[str, Form()] = "",
    span: Annotated[str, Form(alias="range", max_length=10)] = DEFAULT_TEST_RANGE,
) -> HTMLResponse:
    """Validate pasted rule YAML; when it compiles, run it over the lake's recent events."""
    viewer.principal.require(Permission.ALERT_READ)
    span = _choice(span, TEST_RANGES, DEFAULT_TEST_RANGE)
    pasted = load_pasted(text, placeholders=svc.settings.sigma_placeholders)
    trial = None
    if pasted.engine is not None:
        trial = _trial(svc, pasted.engine, span)
    return render_page(
        request,
        viewer,
        "rule_test.html",
        title="Test a rule",
        nav="rules",
        rule=None,
        text=text,
        trial=trial,
        errors=pasted.errors,
        warnings=pasted.warnings,
        tested=pasted.rules,
        test_ranges=list(TEST_RANGES),
        test_range=span,
        limit=TRIAL_LIMIT,
        max_kb=MAX_PASTED_BYTES // 1024,
    )


def _trial(svc: Services, engine: Any, span: str) -> LakeTrial:
    until = datetime.now(UTC)
    return try_on_lake(engine, svc.reader, since=until - TEST_RANGES[span], until=until)


def _rule(svc: Services, rule_id: str) -> RuleInfo:
    info = catalog(svc).get(rule_id)
    if info is None:
        raise NotFoundError(f"no installed rule has the id {rule_id!r}")
    return info


@router.get("/rules/{rule_id}")
def rule_detail(
    request: Request,
    rule_id: str,
    viewer: Annotated[Viewer, Depends(page(Permission.ALERT_READ))],
    svc: Svc,
) -> HTMLResponse:
    """One rule: what it detects, its logsource, its YAML, its activity and recent alerts."""
    info = _rule(svc, rule_id)
    span = _choice(request.query_params.get("range"), RANGES, DEFAULT_RANGE)
    alerts = svc.workspace.alerts.list(viewer.principal, rule_id=info.id, limit=20)
    return render_page(
        request,
        viewer,
        "rule.html",
        title=info.rule.title,
        nav="rules",
        info=info,
        rule=info.rule,
        hits=_hits(svc, viewer, span).get(info.id),
        span=span,
        ranges=list(RANGES),
        source=catalog(svc).source(info.id),
        alerts=alerts,
        test_ranges=list(TEST_RANGES),
        test_range=DEFAULT_TEST_RANGE,
    )


@router.get("/rules/{rule_id}/test")
def rule_test_installed(
    request: Request,
    rule_id: str,
    viewer: Annotated[Viewer, Depends(page(Permission.SEARCH_READ))],
    svc: Svc,
) -> HTMLResponse:
    """Run an installed rule (enabled or not) over the lake's events of the last 1h/24h/7d."""
    viewer.principal.require(Permission.ALERT_READ)
    info = _rule(svc, rule_id)
    span = _choice(request.query_params.get("range"), TEST_RANGES, DEFAULT_TEST_RANGE)
    engine = catalog(svc).engine_for(info.id)
    if engine is None:  # the catalogue changed between the two calls
        raise NotFoundError(f"no installed rule has the id {rule_id!r}")
    return render_page(
        request,
        viewer,
        "rule_test.html",
        title=f"Test: {info.rule.title}",
        nav="rules",
        rule=info,
        text="",
        trial=_trial(svc, engine, span),
        errors=[],
        warnings=[],
        tested=[info.rule],
        test_ranges=list(TEST_RANGES),
        test_range=span,
        limit=TRIAL_LIMIT,
        max_kb=MAX_PASTED_BYTES // 1024,
    )
