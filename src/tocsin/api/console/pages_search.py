"""The search screen: query, time range, results with chosen columns, histogram, saved searches.

The page renders the newest page of hits on the server and answers at once; the total count and
the histogram come from two fragment routes that ``search.js`` fetches afterwards (they may take
a couple of seconds on a big lake). Every fragment and link carries the range resolved to
absolute times, so the hits, the count, the histogram and the export describe the same events.
A syntax error is shown in place with a caret under its column, and checked as the user types
through ``/search/check``. ``/search/rule`` drafts a Sigma rule from the query, checks it and
saves it into the home's local rule pack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import QueryParams

from tocsin.api.console.common import Viewer, form, page, redirect, render_page
from tocsin.api.console.pages_alerts import catalog
from tocsin.api.deps import Services, services
from tocsin.core.errors import InvalidInputError, QuerySyntaxError
from tocsin.core.event import ORIGINAL
from tocsin.core.timeutil import parse_time_bound
from tocsin.detect.from_search import (
    LOCAL_PACK,
    MAX_RULE_BYTES,
    RuleCheck,
    SigmaDraft,
    check_rule_text,
    draft_rule,
    save_to_local_pack,
)
from tocsin.lake.histogram import histogram
from tocsin.lake.querylang import parse_query
from tocsin.web.charts import Series, time_chart
from tocsin.web.render import format_time, iso, query_string, render
from tocsin.workspace.history import record_audit
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]

RANGES: dict[str, timedelta | None] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
DEFAULT_RANGE = "24h"
DEFAULT_COLUMNS = ("@timestamp", "event.dataset", "host.name", "user.name", "message")
MESSAGE = "message"
LIMITS = (100, 200, 500, 1000)
MAX_COLUMNS = 50
MAX_QUERY = 10_000
CELL_CHARS = 300
# envelope fields a summary leaves out: the row shows them elsewhere or they say little
_NOT_IN_SUMMARY = frozenset(
    {"@timestamp", "event.id", "event.ingested", "event.dataset", "event.original"}
)
# the fields that say what happened, first in a summary (ECS names and Sigma's native ones)
_SUMMARY_FIELDS = (
    "event.action",
    "EventID",
    "process.command_line",
    "CommandLine",
    "process.executable",
    "Image",
    "TargetFilename",
    "file.path",
    "url.full",
    "http.request.method",
    "http.response.status_code",
    "dns.question.name",
    "tls.client.server_name",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "network.transport",
    "event.outcome",
)
SUMMARY_PAIRS = 6


@dataclass
class SearchForm:
    """What the search form asked for, and the time range resolved once for the whole page."""

    q: str
    range: str
    since_text: str
    until_text: str
    since: datetime | None
    until: datetime | None
    columns: list[str]
    limit: int
    time_error: str | None = None

    @property
    def custom_columns(self) -> bool:
        """True when the columns are not the default ones."""
        return tuple(self.columns) != DEFAULT_COLUMNS

    def params(self) -> dict[str, str]:
        """The query string that reopens this search as the user wrote it."""
        out = {"q": self.q}
        if self.since_text or self.until_text:
            out.update(since=self.since_text, until=self.until_text)
        else:
            out["range"] = self.range
        if self.custom_columns:
            out["cols"] = ",".join(self.columns)
        if self.limit != LIMITS[0]:
            out["limit"] = str(self.limit)
        return {k: v for k, v in out.items() if v}

    def resolved(self) -> dict[str, str]:
        """``q`` with absolute ``since``/``until``: the same events a second later too."""
        out = {"q": self.q}
        if self.since is not None:
            out["since"] = iso(self.since)
        if self.until is not None:
            out["until"] = iso(self.until)
        return out


def _columns(params: QueryParams) -> list[str]:
    if "col" in params:  # the chooser's check boxes, when the script did not join them
        raw = [c for value in params.getlist("col") for c in value.split(",")]
    elif params.get("cols"):
        raw = params["cols"].split(",")
    else:
        raw = []
    chosen: list[str] = []
    for name in raw:
        cleaned = name.strip()[:200]
        if cleaned and cleaned not in chosen:
            chosen.append(cleaned)
    return chosen[:MAX_COLUMNS] or list(DEFAULT_COLUMNS)


def search_form(params: QueryParams, now: datetime | None = None) -> SearchForm:
    """Read the search form from the query string; a bad time is kept as ``time_error``."""
    moment = now or datetime.now(UTC)
    since_text = params.get("since", "").strip()[:64]
    until_text = params.get("until", "").strip()[:64]
    chosen = params.get("range", "").strip()
    try:
        limit = int(params.get("limit") or LIMITS[0])
    except ValueError:
        limit = LIMITS[0]
    result = SearchForm(
        q=params.get("q", "")[:MAX_QUERY],
        range="",
        since_text=since_text,
        until_text=until_text,
        since=None,
        until=None,
        columns=_columns(params),
        limit=min(max(limit, 1), LIMITS[-1]),
    )
    try:
        if since_text or until_text:
            result.since = parse_time_bound(since_text, now=moment) if since_text else None
            result.until = parse_time_bound(until_text, now=moment) if until_text else None
            if result.since and result.until and result.since > result.until:
                raise InvalidInputError("the start of the range is after its end")
        else:
            result.range = chosen or DEFAULT_RANGE
            if result.range not in RANGES:
                known = ", ".join(RANGES)
                raise InvalidInputError(f"unknown range {result.range!r}: use one of {known}")
            span = RANGES[result.range]
            if span is not None:
                result.since, result.until = moment - span, moment
    except InvalidInputError as exc:
        result.time_error = exc.message
        result.since = result.until = None
    return result


# -------------------------------------------------------------------------------- cells


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=str).decode()
    if value is None:
        return ""
    return str(value)


def _summary(event: Mapping[str, object], shown: Sequence[str]) -> str:
    """What a row shows for an event without a ``message``: its telling fields, or its line.

    Fields that say what happened come first; a raw text line (syslog, Zeek) is used when the
    event has few of them, never a raw JSON record (unreadable in a cell).
    """
    skip = {*_NOT_IN_SUMMARY, *shown}
    pairs: list[str] = []
    values: set[str] = set()
    for name in _SUMMARY_FIELDS:
        value = _text(event.get(name))
        # the ECS copy of a native field (process.command_line, CommandLine) says it once
        if name in event and name not in skip and value and value not in values:
            pairs.append(f"{name}={value}")
            values.add(value)
    original = event.get(ORIGINAL)
    if len(pairs) < 2 and isinstance(original, str) and original.strip()[:1] not in ("{", "<", ""):
        return original
    if len(pairs) < SUMMARY_PAIRS:
        rest = [k for k in event if k not in skip and k not in _SUMMARY_FIELDS]
        pairs += [f"{k}={_text(event[k])}" for k in rest[: SUMMARY_PAIRS - len(pairs)]]
    return " ".join(pairs[:SUMMARY_PAIRS])


@dataclass
class Cell:
    """One table cell: the text shown (cut short) and the whole text when it was cut."""

    text: str
    full: str = ""
    summary: bool = False

    @property
    def long(self) -> bool:
        """Long text may break anywhere; short values (names, datasets) keep whole words."""
        return len(self.text) > 40


@dataclass
class Row:
    """One hit: its cells in column order and the event for the detail view."""

    index: int
    cells: list[Cell]
    event: dict[str, object]
    dataset: str = ""
    fields: int = field(default=0)


def _cell(event: Mapping[str, object], column: str, columns: Sequence[str]) -> Cell:
    value = event.get(column)
    summary = False
    if value in (None, "") and column == MESSAGE:
        value, summary = _summary(event, columns), True
    text = _text(value)
    if len(text) > CELL_CHARS:
        return Cell(text[: CELL_CHARS - 1] + "\u2026", text[:5000], summary)
    return Cell(text, "", summary)


def _rows(events: Sequence[dict[str, object]], columns: Sequence[str]) -> list[Row]:
    return [
        Row(i, [_cell(e, c, columns) for c in columns], e, str(e.get("event.dataset", "")), len(e))
        for i, e in enumerate(events)
    ]


def _syntax(exc: QuerySyntaxError) -> dict[str, Any]:
    """The error as the template and the check endpoint show it: message, column, caret line."""
    shown = exc.query.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    column = max(1, min(exc.column, len(shown) + 1))
    return {
        "message": exc.message,
        "column": column,
        "query": shown,
        "caret": " " * (column - 1) + "^",
    }


# -------------------------------------------------------------------------------- pages


@router.get("/search")
def search_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.SEARCH_READ))],
    svc: Svc,
) -> HTMLResponse:
    """The search screen: the newest page of hits now, the count and histogram after."""
    chosen = search_form(request.query_params)
    syntax: dict[str, Any] | None = None
    error: str | None = None
    result = None
    if chosen.time_error is None:
        try:
            result = svc.reader.search(
                chosen.q, since=chosen.since, until=chosen.until, limit=chosen.limit
            )
        except QuerySyntaxError as exc:
            syntax = _syntax(exc)
        except InvalidInputError as exc:  # a field and value that cannot be compared
            error = exc.message
    events = result.events if result else []
    seen = sorted({k for e in events for k in e}, key=str.lower)
    return render_page(
        request,
        viewer,
        "search.html",
        title="Search",
        nav="search",
        form=chosen,
        ranges=list(RANGES),
        limits=LIMITS,
        syntax=syntax,
        error=error,
        result=result,
        rows=_rows(events, chosen.columns),
        fields_seen=[f for f in seen if f not in chosen.columns],
        saved=svc.workspace.saved_searches.list(viewer.principal),
        more=chosen.limit < LIMITS[-1] and len(events) >= chosen.limit,
        next_limit=next((n for n in LIMITS if n > chosen.limit), LIMITS[-1]),
    )


@router.get("/search/check")
def check_query(
    viewer: Annotated[Viewer, Depends(page(Permission.SEARCH_READ))],
    q: str = "",
) -> JSONResponse:
    """Whether a query parses; where it went wrong if not (the page checks as the user types)."""
    if len(q) > MAX_QUERY:
        return JSONResponse({"ok": False, "message": "the query is too long", "column": 1})
    try:
        parse_query(q)
    except QuerySyntaxError as exc:
        return JSONResponse({"ok": False, **_syntax(exc)})
    return JSONResponse({"ok": True})


def _fragment_bounds(request: Request) -> tuple[str, datetime | None, datetime | None]:
    params = request.query_params
    since = params.get("since") or None
    until = params.get("until") or None
    return (
        params.get("q", "")[:MAX_QUERY],
        parse_time_bound(since) if since else None,
        parse_time_bound(until) if until else None,
    )


@router.get("/search/count")
def search_count(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.SEARCH_READ))],
    svc: Svc,
) -> HTMLResponse:
    """The number of every hit in the range (a fragment the page fetches after loading)."""
    try:
        q, since, until = _fragment_bounds(request)
        total = svc.reader.count(q, since=since, until=until)
    except InvalidInputError as exc:
        return HTMLResponse(render("search_count.html", {"error": exc.message, "total": None}))
    return HTMLResponse(render("search_count.html", {"error": None, "total": total}))


def _time_format(width: timedelta, span: timedelta) -> str:
    if span > timedelta(days=366):
        return "%Y-%m"
    if width >= timedelta(days=1) or span > timedelta(days=2):
        return "%m-%d %H:%M" if width < timedelta(days=1) else "%m-%d"
    return "%H:%M"


@router.get("/search/histogram")
def search_histogram(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.SEARCH_READ))],
    svc: Svc,
) -> HTMLResponse:
    """Hits over time as a server-drawn SVG (a fragment the page fetches after loading)."""
    try:
        q, since, until = _fragment_bounds(request)
        found = histogram(svc.reader, q, since, until)
    except InvalidInputError as exc:
        return HTMLResponse(render("search_histogram.html", {"error": exc.message}))
    span = found.starts[-1] - found.starts[0] + found.width if found.starts else timedelta(0)
    chart = time_chart(
        found.starts,
        [Series("hits", found.counts)],
        label=f"Hits over time, {found.total} in all, one bar per {_width_text(found.width)}",
        time_format=_time_format(found.width, span),
        width=1400,
        height=120,
    )
    return HTMLResponse(
        render(
            "search_histogram.html",
            {
                "error": None,
                "chart": chart,
                "found": found,
                "buckets": list(zip(found.starts, found.counts, strict=True)),
                "width": _width_text(found.width),
            },
        )
    )


def _width_text(width: timedelta) -> str:
    seconds = int(width.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


# -------------------------------------------------------------------------- saved searches


def _search_url(params: Mapping[str, str]) -> str:
    return "/search?" + query_string(params)


def _form_text(data: Any, name: str, limit: int = MAX_QUERY) -> str:
    value = data.get(name)
    return str(value)[:limit] if isinstance(value, str) else ""


@router.post("/search/saved")
async def save_search(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.SEARCH_READ))],
    svc: Svc,
) -> Response:
    """Save the search shown (query, range, columns) under a name, shared or not."""
    data = await request.form()
    cols = [c for c in _form_text(data, "cols", 20_000).split(",") if c.strip()]
    saved = svc.workspace.saved_searches.create(
        viewer.principal,
        _form_text(data, "name", 500),
        _form_text(data, "q"),
        time_range=_form_text(data, "range", 20) or None,
        since=_form_text(data, "since", 100) or None,
        until=_form_text(data, "until", 100) or None,
        columns=cols if tuple(c.strip() for c in cols) != DEFAULT_COLUMNS else [],
        shared=data.get("shared") in ("1", "on", "true"),
        check_query=parse_query,
    )
    return redirect(
        request, _search_url(saved.params()), note=f"Search \u201c{saved.name}\u201d saved."
    )


@router.get("/search/saved/{search_id}")
def open_saved_search(
    request: Request,
    search_id: int,
    viewer: Annotated[Viewer, Depends(page(Permission.SEARCH_READ))],
    svc: Svc,
) -> RedirectResponse:
    """Open a saved search: the search page with its query, range and columns."""
    saved = svc.workspace.saved_searches.get(viewer.principal, search_id)
    return RedirectResponse(_search_url(saved.params()), status_code=303)


@router.post("/search/saved/{search_id}/delete")
async def delete_saved_search(
    request: Request,
    search_id: int,
    viewer: Annotated[Viewer, Depends(form(Permission.SEARCH_READ))],
    svc: Svc,
) -> Response:
    """Delete a saved search (its owner, or an administrator)."""
    data = await request.form()
    gone = svc.workspace.saved_searches.delete(viewer.principal, search_id)
    back = _form_text(data, "next", 20_000)
    return redirect(
        request,
        back if back.startswith("/search") else "/search",
        note=f"Saved search \u201c{gone.name}\u201d deleted.",
    )


# ------------------------------------------------------------------------ search -> rule


def _rule_context(
    svc: Services, viewer: Viewer, chosen: SearchForm
) -> tuple[list[dict[str, object]], dict[str, Any] | None, str | None]:
    """The search's newest hits (to draft and test the rule on), or why there are none."""
    if chosen.time_error is not None:
        return [], None, chosen.time_error
    try:
        found = svc.reader.search(chosen.q, since=chosen.since, until=chosen.until, limit=100)
    except QuerySyntaxError as exc:
        return [], _syntax(exc), None
    except InvalidInputError as exc:
        return [], None, exc.message
    return found.events, None, None


def _render_rule(
    request: Request,
    viewer: Viewer,
    chosen: SearchForm,
    *,
    text: str,
    draft: SigmaDraft | None,
    check: RuleCheck | None,
    syntax: dict[str, Any] | None,
    error: str | None,
    status_code: int = 200,
) -> HTMLResponse:
    return render_page(
        request,
        viewer,
        "search_rule.html",
        title="Search to rule",
        nav="search",
        form=chosen,
        text=text,
        draft=draft,
        check=check,
        syntax=syntax,
        error=error,
        max_bytes=MAX_RULE_BYTES,
        status_code=status_code,
    )


@router.get("/search/rule")
def rule_from_search(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.RULE_MANAGE))],
    svc: Svc,
) -> HTMLResponse:
    """A Sigma rule drafted from the search, checked on its hits, ready to edit and save."""
    chosen = search_form(request.query_params)
    events, syntax, error = _rule_context(svc, viewer, chosen)
    draft = check = None
    if syntax is None:
        try:
            draft = draft_rule(
                chosen.q,
                author=viewer.username,
                datasets_seen={str(e["event.dataset"]) for e in events if e.get("event.dataset")},
                fields_seen={k for e in events for k in e},
            )
        except QuerySyntaxError as exc:
            syntax = _syntax(exc)
    if draft is not None and draft.yaml:
        check = check_rule_text(draft.yaml, events, placeholders=svc.settings.sigma_placeholders)
    return _render_rule(
        request,
        viewer,
        chosen,
        text=draft.yaml if draft else "",
        draft=draft,
        check=check,
        syntax=syntax,
        error=error,
    )


@router.post("/search/rule")
async def check_or_save_rule(
    request: Request,
    viewer: Annotated[Viewer, Depends(form(Permission.RULE_MANAGE))],
    svc: Svc,
) -> Response:
    """Check the edited rule on the search's hits; save it into the local pack if asked."""
    data = await request.form()
    text = _form_text(data, "yaml", MAX_RULE_BYTES + 1).replace("\r\n", "\n")
    action = _form_text(data, "action", 20)
    chosen = _posted_form(data)
    events, _syntax_error, _error = _rule_context(svc, viewer, chosen)
    check = check_rule_text(text, events, placeholders=svc.settings.sigma_placeholders)
    rules = catalog(svc)
    if check.ok and check.rule_id:
        taken = rules.get(check.rule_id)
        if taken is not None and taken.pack != LOCAL_PACK:
            check.errors.append(
                f"rule id {check.rule_id!r} is already used by the {taken.pack!r} pack: "
                "give this rule a new id"
            )
    if action != "save" or not check.ok:
        return _render_rule(
            request,
            viewer,
            chosen,
            text=text,
            draft=None,
            check=check,
            syntax=None,
            error=None,
            status_code=200 if action != "save" else 400,
        )

    def installed(rule_id: str) -> Any:
        info = rules.get(rule_id)
        return info.rule.path if info is not None else None

    saved = save_to_local_pack(svc.settings.rules_dir, text, taken=installed)
    with svc.workspace.db.session() as session:
        record_audit(
            session,
            viewer.principal,
            "rule.create",
            target=saved.rule_id,
            detail={"title": saved.title, "file": saved.path.name, "query": chosen.q},
        )
    verb = "replaced" if saved.replaced else "saved"
    return redirect(
        request,
        "/rules?" + query_string({"q": saved.rule_id}),
        note=f"Rule \u201c{saved.title}\u201d {verb} in the local pack as {saved.path.name}.",
    )


def _posted_form(data: Any) -> SearchForm:
    """The search a rule form came from (its hidden fields), resolved like the page's."""
    values = {k: _form_text(data, k, MAX_QUERY if k == "q" else 200) for k in _POSTED}
    return search_form(QueryParams({k: v for k, v in values.items() if v}))


_POSTED = ("q", "range", "since", "until")
