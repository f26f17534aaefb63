"""The case list, the new-case form and the case page with everything a case holds.

Every change is its own small form that posts to ``/cases/{id}/...`` and redirects back with a
note, so each route declares the one permission its ``CaseService`` call checks. Forms that
change the case's own fields carry the ``version`` the page showed: a stale one is refused by
the service and the page comes back saying so (reload and apply again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from tocsin.api.console.common import (
    Viewer,
    form,
    page,
    people,
    redirect,
    render_page,
    sla_status,
)
from tocsin.api.deps import Services, services
from tocsin.api.routes_cases import MULTIPART_OVERHEAD
from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.core.timeutil import parse_time_bound
from tocsin.workspace.attachments import AttachmentTooLargeError
from tocsin.workspace.history import HistoryEntry
from tocsin.workspace.models import (
    CaseStatus,
    Classification,
    ObservableType,
    Pap,
    TaskStatus,
    Tlp,
)
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Reader = Annotated[Viewer, Depends(page(Permission.CASE_READ))]
CreatorPage = Annotated[Viewer, Depends(page(Permission.CASE_CREATE))]
Creator = Annotated[Viewer, Depends(form(Permission.CASE_CREATE))]
Editor = Annotated[Viewer, Depends(form(Permission.CASE_UPDATE))]
Closer = Annotated[Viewer, Depends(form(Permission.CASE_CLOSE))]

PAGE_SIZE = 50
SORTS = {
    "-created_at": "Newest first",
    "-severity,-created_at": "Most severe first",
    "-updated_at": "Recently changed",
    "created_at": "Oldest first",
    "title": "Title",
}
# What the status filter offers: "open" is every status but closed.
STATUS_FILTERS = ["open", "all", *(s.value for s in CaseStatus)]
# Statuses an edit may set; closing needs a classification and has its own form.
EDITABLE_STATUSES = [s.value for s in CaseStatus if s is not CaseStatus.CLOSED]
MERGE_CANDIDATES = 200
SHORT_VALUE = 80


# Form and query input ------------------------------------------------------------------------


def _text(data: FormData | Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _number(value: str, what: str) -> int | None:
    """An id typed or chosen in a form; blank (or "none") is None."""
    text = value.strip().lstrip("#")
    if text in ("", "any", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(f"{what} must be a number, not {value!r}") from None


def _numbers(values: Iterable[object], what: str) -> list[int]:
    """Ids from select options and from text such as ``"12, #15 17"``, without repeats."""
    found: dict[int, None] = {}
    for value in values:
        if not isinstance(value, str):
            continue
        for part in value.replace(",", " ").split():
            number = _number(part, what)
            if number is not None:
                found.setdefault(number, None)
    return list(found)


def _time(value: str, what: str) -> datetime | None:
    """A time from a form: ``datetime-local`` (taken as UTC), ISO, or relative (``-2h``)."""
    if not value.strip():
        return None
    try:
        return parse_time_bound(value.strip())
    except InvalidInputError:
        raise InvalidInputError(
            f"cannot read {value!r} as {what}: use 2026-11-28 10:04, -2h or now"
        ) from None


def case_filters(request: Request, viewer: Viewer) -> dict[str, Any]:
    """The list's filters from the query string, as ``CaseService.list`` keywords."""
    params = request.query_params
    status = params.get("status") or "open"
    assignee = params.get("assignee", "")
    assignee_id = viewer.principal.user_id if assignee == "me" else _number(assignee, "assignee")
    sort = params.get("sort") or "-created_at"
    return {
        "status": None if status == "all" else status,
        "severity": params.get("severity") or None,
        "team_id": _number(params.get("team", ""), "team"),
        "assignee_id": assignee_id,
        "q": params.get("q") or None,
        "sort": sort if sort in SORTS else "-created_at",
    }


# What pages show besides the case ----------------------------------------------------------


def _short(value: Any, names: Mapping[int, str] | None = None) -> str:
    if value is None or value == "" or value == []:
        return "none"
    if names is not None and isinstance(value, int):
        return names.get(value, f"#{value}")
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={v}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= SHORT_VALUE else text[: SHORT_VALUE - 1] + "\u2026"


def describe_change(entry: HistoryEntry, people: Mapping[str, Any]) -> str:
    """One history record in words: ``severity: low -> high``, ``Observable added: ip 1.2.3.4``."""
    after: Any = entry.after
    before: Any = entry.before
    names: dict[str, Mapping[int, str]] = {
        "assignee_id": people["user_names"],
        "team_id": people["team_names"],
    }
    if entry.action == "create":
        if entry.entity_type == "task" and isinstance(after, Mapping):
            return f"Task created: {_short(after.get('title'))}"
        return "Case created"
    if entry.action == "reopen":
        return "Case reopened"
    if entry.action == "merge" and isinstance(after, Mapping):
        if "into" in after:
            return f"Merged into case #{after['into']}"
        return f"Case #{after.get('from')} merged into this case"
    if entry.action == "link":
        return f"Alerts linked: {_short(after)}"
    if entry.action in ("add_observable", "delete_observable"):
        item = after if entry.action == "add_observable" else before
        verb = "added" if entry.action == "add_observable" else "removed"
        if isinstance(item, Mapping):
            return f"Observable {verb}: {item.get('type')} {_short(item.get('value'))}"
    if entry.action == "attach" and isinstance(after, Mapping):
        return f"Attachment added: {_short(after.get('filename'))}"
    if entry.action == "comment":
        return "Comment added"
    if entry.action == "timeline" and isinstance(after, Mapping):
        return f"Timeline entry: {_short(after.get('title'))}"
    if entry.action == "update" and entry.field:
        if entry.field in ("description", "summary"):
            return f"{entry.field} changed"
        field_names = names.get(entry.field)
        label = entry.field.removesuffix("_id")
        return f"{label}: {_short(before, field_names)} \u2192 {_short(after, field_names)}"
    return entry.action


# The list and the new case ---------------------------------------------------------------


@router.get("/cases")
def case_list(
    request: Request,
    viewer: Reader,
    svc: Svc,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """Cases: filters, sort, pages, SLA, keyboard row navigation."""
    filters = case_filters(request, viewer)
    cases = svc.workspace.cases.list(viewer.principal, limit=PAGE_SIZE, offset=offset, **filters)
    return render_page(
        request,
        viewer,
        "cases.html",
        title="Cases",
        nav="cases",
        cases=cases,
        sla=sla_status(svc, viewer, "case", [c.id for c in cases.items]),
        filters=filters,
        status_filter=request.query_params.get("status") or "open",
        status_filters=STATUS_FILTERS,
        sorts=SORTS,
        **people(svc, viewer),
    )


@router.get("/cases/new")
def new_case(request: Request, viewer: CreatorPage, svc: Svc) -> HTMLResponse:
    """The form that opens a case by hand, from a template, or from alerts."""
    alert_ids = _numbers(request.query_params.getlist("alert"), "an alert id")
    return render_page(
        request,
        viewer,
        "case_new.html",
        title="New case",
        nav="cases",
        templates=svc.workspace.cases.list_templates(viewer.principal),
        alert_ids=", ".join(str(i) for i in alert_ids),
        tlps=[t.value for t in Tlp],
        paps=[p.value for p in Pap],
        **people(svc, viewer),
    )


@router.post("/cases")
async def create_case(request: Request, viewer: Creator, svc: Svc) -> Response:
    """Open the case the new-case form describes."""
    data = await request.form()
    template = _text(data, "template").strip()
    severity = _text(data, "severity").strip()
    title = _text(data, "title").strip()
    case = svc.workspace.cases.create(
        viewer.principal,
        # Blank title or severity: the service takes them from the template or the alerts.
        title=title or None,
        severity=severity or None,
        description=_text(data, "description") or None,
        team_id=_number(_text(data, "team_id"), "the team"),
        assignee_id=_number(_text(data, "assignee_id"), "the assignee"),
        tags=_text(data, "tags").split(","),
        tlp=_text(data, "tlp") or Tlp.AMBER.value,
        pap=_text(data, "pap") or Pap.AMBER.value,
        template=int(template) if template.isdigit() else (template or None),
        alert_ids=_numbers([_text(data, "alert_ids")], "an alert id"),
    )
    return redirect(request, f"/cases/{case.id}", note=f"Case #{case.id} opened.")


# The case page ---------------------------------------------------------------------------


@router.get("/cases/{case_id}")
def case_detail(request: Request, case_id: int, viewer: Reader, svc: Svc) -> HTMLResponse:
    """One case: summary, tasks, observables, timeline, comments, files, history, alerts."""
    cases = svc.workspace.cases
    actor = viewer.principal
    case = cases.get(actor, case_id)
    names = people(svc, viewer)
    history = cases.history(actor, case_id)
    merge_candidates: list[Any] = []
    if viewer.can(Permission.CASE_CLOSE.value) and case.status != CaseStatus.CLOSED.value:
        found = cases.list(actor, status="open", limit=MERGE_CANDIDATES).items
        merge_candidates = [c for c in found if c.id != case.id]
    return render_page(
        request,
        viewer,
        "case.html",
        title=f"Case #{case.id}",
        nav="cases",
        case=case,
        # Parts of a merged case moved to its target: adding more here would be lost work.
        can_edit=viewer.can(Permission.CASE_UPDATE.value) and case.merged_into_id is None,
        sla=sla_status(svc, viewer, "case", [case.id]).get(case.id),
        alerts=cases.list_alerts(actor, case_id),
        tasks=cases.list_tasks(actor, case_id).items,
        observables=cases.list_observables(actor, case_id).items,
        comments=cases.list_comments(actor, case_id).items,
        attachments=cases.list_attachments(actor, case_id).items,
        timeline=cases.timeline(actor, case_id),
        history=[(h, describe_change(h, names)) for h in reversed(history)],
        merge_candidates=merge_candidates,
        editable_statuses=EDITABLE_STATUSES,
        classifications=[c.value for c in Classification],
        task_statuses=[s.value for s in TaskStatus],
        observable_types=[t.value for t in ObservableType],
        tlps=[t.value for t in Tlp],
        paps=[p.value for p in Pap],
        now_local=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
        max_upload=svc.settings.attachment_max_bytes,
        **names,
    )


def _back(case_id: int, section: str = "") -> str:
    return f"/cases/{case_id}" + (f"#{section}" if section else "")


@router.post("/cases/{case_id}/edit")
async def edit_case(request: Request, case_id: int, viewer: Editor, svc: Svc) -> Response:
    """Change the title, description, severity, status or tags (with the version read)."""
    data = await request.form()
    fields = {
        name: _text(data, name)
        for name in ("title", "description", "severity", "status", "tags")
        if name in data
    }
    version = _number(_text(data, "version"), "the version")
    svc.workspace.cases.update(viewer.principal, case_id, version=version, **fields)
    return redirect(request, _back(case_id), note="Case updated.")


@router.post("/cases/{case_id}/assign")
async def assign_case(request: Request, case_id: int, viewer: Editor, svc: Svc) -> Response:
    """Give the case to a user and a team (either may be nobody)."""
    data = await request.form()
    svc.workspace.cases.update(
        viewer.principal,
        case_id,
        version=_number(_text(data, "version"), "the version"),
        assignee_id=_number(_text(data, "assignee_id"), "the assignee"),
        team_id=_number(_text(data, "team_id"), "the team"),
    )
    return redirect(request, _back(case_id), note="Assignment saved.")


@router.post("/cases/{case_id}/close")
async def close_case(request: Request, case_id: int, viewer: Closer, svc: Svc) -> Response:
    """Close the case with a classification and a closing note."""
    data = await request.form()
    note = _text(data, "summary").strip()
    svc.workspace.cases.close(
        viewer.principal,
        case_id,
        classification=_text(data, "classification"),
        # An empty note keeps any summary written before.
        summary=note or None,
        version=_number(_text(data, "version"), "the version"),
    )
    return redirect(request, _back(case_id), note="Case closed.")


@router.post("/cases/{case_id}/reopen")
async def reopen_case(request: Request, case_id: int, viewer: Closer, svc: Svc) -> Response:
    """Reopen a closed case."""
    data = await request.form()
    version = _number(_text(data, "version"), "the version")
    svc.workspace.cases.reopen(viewer.principal, case_id, version=version)
    return redirect(request, _back(case_id), note="Case reopened.")


@router.post("/cases/{case_id}/merge")
async def merge_cases(request: Request, case_id: int, viewer: Closer, svc: Svc) -> Response:
    """Merge the chosen cases into this one (they close as duplicates)."""
    data = await request.form()
    ids = _numbers([*data.getlist("source_ids"), _text(data, "more_ids")], "a case number")
    svc.workspace.cases.merge(viewer.principal, case_id, ids)
    merged = ", ".join(f"#{i}" for i in ids)
    return redirect(request, _back(case_id), note=f"Merged {merged} into this case.")


@router.post("/cases/{case_id}/alerts")
async def link_alerts(request: Request, case_id: int, viewer: Editor, svc: Svc) -> Response:
    """Link alerts, by id, to the case."""
    data = await request.form()
    ids = _numbers([_text(data, "alert_ids")], "an alert id")
    svc.workspace.cases.add_alerts(viewer.principal, case_id, ids)
    return redirect(request, _back(case_id, "alerts"), note=f"{len(ids)} alert(s) linked.")


# Tasks, observables, comments, timeline ----------------------------------------------------


@router.post("/cases/{case_id}/tasks")
async def add_task(request: Request, case_id: int, viewer: Editor, svc: Svc) -> Response:
    """Add a task at the end of the case's list."""
    data = await request.form()
    svc.workspace.cases.add_task(
        viewer.principal,
        case_id,
        _text(data, "title"),
        _text(data, "description"),
        _number(_text(data, "assignee_id"), "the assignee"),
        _time(_text(data, "due_at"), "the due time"),
    )
    return redirect(request, _back(case_id, "tasks"), note="Task added.")


@router.post("/cases/{case_id}/tasks/{task_id}")
async def update_task(
    request: Request, case_id: int, task_id: int, viewer: Editor, svc: Svc
) -> Response:
    """Move a task to another status (start, done, reopen, cancel)."""
    data = await request.form()
    cases = svc.workspace.cases
    if task_id not in {t.id for t in cases.list_tasks(viewer.principal, case_id).items}:
        raise NotFoundError(f"case #{case_id} has no task #{task_id}")
    task = cases.update_task(
        viewer.principal,
        task_id,
        version=_number(_text(data, "version"), "the version"),
        status=_text(data, "status"),
    )
    note = f"Task {task.title!r} is {task.status.replace('_', ' ')}."
    return redirect(request, _back(case_id, "tasks"), note=note)


@router.post("/cases/{case_id}/observables")
async def add_observable(request: Request, case_id: int, viewer: Editor, svc: Svc) -> Response:
    """Add a typed observable."""
    data = await request.form()
    svc.workspace.cases.add_observable(
        viewer.principal,
        case_id,
        _text(data, "type"),
        _text(data, "value"),
        tlp=_text(data, "tlp") or Tlp.AMBER.value,
        pap=_text(data, "pap") or Pap.AMBER.value,
        ioc=bool(_text(data, "ioc")),
        description=_text(data, "description"),
    )
    return redirect(request, _back(case_id, "observables"), note="Observable added.")


@router.post("/cases/{case_id}/observables/{observable_id}/delete")
async def delete_observable(
    request: Request, case_id: int, observable_id: int, viewer: Editor, svc: Svc
) -> Response:
    """Remove an observable (the history keeps what it was)."""
    svc.workspace.cases.delete_observable(viewer.principal, case_id, observable_id)
    return redirect(request, _back(case_id, "observables"), note="Observable removed.")


@router.post("/cases/{case_id}/comments")
async def add_comment(request: Request, case_id: int, viewer: Editor, svc: Svc) -> Response:
    """Add a comment (comments are append-only)."""
    data = await request.form()
    svc.workspace.cases.add_comment(viewer.principal, case_id, _text(data, "body"))
    return redirect(request, _back(case_id, "comments"), note="Comment added.")


@router.post("/cases/{case_id}/timeline")
async def add_timeline_entry(request: Request, case_id: int, viewer: Editor, svc: Svc) -> Response:
    """Place something that happened during the incident on the timeline."""
    data = await request.form()
    when = _time(_text(data, "occurred_at"), "the time")
    if when is None:
        raise InvalidInputError("say when it happened")
    svc.workspace.cases.add_timeline_entry(
        viewer.principal, case_id, when, _text(data, "title"), _text(data, "description")
    )
    return redirect(request, _back(case_id, "timeline"), note="Timeline entry added.")


# Attachments -------------------------------------------------------------------------------


def upload_size(request: Request, svc: Svc) -> None:
    """Refuse an upload larger than allowed (or of unknown size) before its body is read."""
    # Declared before the form check: that check parses the whole multipart body, and the
    # parser would spool any size to disk.
    limit = svc.settings.attachment_max_bytes
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise InvalidInputError("send the upload with a Content-Length header")
    if int(length) > limit + MULTIPART_OVERHEAD:
        raise AttachmentTooLargeError(limit)


@router.post("/cases/{case_id}/attachments")
async def upload_attachment(
    request: Request,
    case_id: int,
    _size: Annotated[None, Depends(upload_size)],
    viewer: Editor,
    svc: Svc,
) -> Response:
    """Attach the uploaded file (multipart field ``file``) to the case."""
    data = await request.form()
    try:
        upload = data.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInputError("choose a file to attach")
        read = await run_in_threadpool(
            svc.workspace.cases.add_attachment,
            viewer.principal,
            case_id,
            upload.filename,
            upload.content_type,
            upload.file,
        )
    finally:
        await data.close()
    return redirect(request, _back(case_id, "attachments"), note=f"Attached {read.filename}.")


@router.get("/cases/{case_id}/attachments/{attachment_id}")
def download_attachment(case_id: int, attachment_id: int, viewer: Reader, svc: Svc) -> FileResponse:
    """The attachment's bytes, always as a download: never rendered in the console's origin."""
    read, path = svc.workspace.cases.open_attachment(viewer.principal, attachment_id)
    if read.case_id != case_id:
        raise NotFoundError(f"case #{case_id} has no attachment #{attachment_id}")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=read.filename,
        content_disposition_type="attachment",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
