"""Cases over HTTP: the same ``CaseService`` the CLI uses, with its permission checks.

Updating a case or a task needs the ``version`` that was read, in the body or as an
``If-Match`` header (reads send it as ``ETag``); a stale one answers 409 and the client reloads.
Attachments are uploaded as ``multipart/form-data`` (field ``file``) and always downloaded as
``application/octet-stream`` with ``Content-Disposition: attachment``: their bytes come from
whoever uploaded them and must never render in the console's origin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tocsin.api.deps import Services, require, services
from tocsin.api.sla_view import attach_sla
from tocsin.api.versioning import IfMatch, Limit, Offset, tagged, version_from
from tocsin.core.errors import InvalidInputError
from tocsin.core.timeutil import parse_time_bound
from tocsin.workspace.attachments import AttachmentTooLargeError
from tocsin.workspace.cases import CaseService
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["cases"])

# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024

Svc = Annotated[Services, Depends(services)]
Reader = Annotated[Principal, Depends(require(Permission.CASE_READ))]
Editor = Annotated[Principal, Depends(require(Permission.CASE_UPDATE))]
Creator = Annotated[Principal, Depends(require(Permission.CASE_CREATE))]
Closer = Annotated[Principal, Depends(require(Permission.CASE_CLOSE))]
TemplateManager = Annotated[Principal, Depends(require(Permission.TEMPLATE_MANAGE))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseCreate(_Body):
    """A new case; title and severity may come from a template or from alerts."""

    title: str | None = None
    description: str | None = None
    severity: str | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    tags: list[str] = Field(default_factory=list)
    techniques: list[str] = Field(default_factory=list)
    tlp: str = "amber"
    pap: str = "amber"
    template: int | str | None = Field(default=None, description="Template name or id.")
    alert_ids: list[int] = Field(default_factory=list)


class CaseUpdate(_Body):
    """Fields to change; ``version`` (or If-Match) is the version read."""

    version: int | None = None
    title: str | None = None
    description: str | None = None
    severity: str | None = None
    tags: list[str] | None = None
    techniques: list[str] | None = None
    tlp: str | None = None
    pap: str | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    summary: str | None = None
    status: str | None = Field(default=None, description="new, in_progress or on_hold.")


class CaseClose(_Body):
    """How the case turned out."""

    classification: str
    summary: str | None = None
    version: int | None = None


class CaseMerge(_Body):
    """Cases to merge into this one."""

    source_ids: list[int] = Field(min_length=1)


class CaseAlerts(_Body):
    """Alerts to link to this case."""

    alert_ids: list[int] = Field(min_length=1)


class TaskCreate(_Body):
    """A new task."""

    title: str
    description: str = ""
    assignee_id: int | None = None
    due_at: datetime | None = None


class TaskUpdate(_Body):
    """Task fields to change; ``version`` (or If-Match) is the version read."""

    version: int | None = None
    title: str | None = None
    description: str | None = None
    status: str | None = Field(default=None, description="open, in_progress, done, cancelled.")
    assignee_id: int | None = None
    due_at: datetime | None = None


class ObservableCreate(_Body):
    """A typed observable."""

    type: str
    value: str
    tlp: str = "amber"
    pap: str = "amber"
    ioc: bool = False
    description: str = ""
    tags: list[str] = Field(default_factory=list)


class CommentCreate(_Body):
    """A comment (append-only)."""

    body: str


class TimelineEntryCreate(_Body):
    """Something that happened during the incident."""

    occurred_at: datetime
    title: str
    description: str = ""


class TemplateTask(_Body):
    """A task a template creates."""

    title: str
    description: str = ""


class TemplateCreate(_Body):
    """A case template."""

    name: str
    title: str
    severity: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    tasks: list[TemplateTask] = Field(default_factory=list)


def _cases(svc: Services) -> CaseService:
    return svc.workspace.cases


def _items(items: list[Any]) -> dict[str, Any]:
    return {"items": [i.to_dict() for i in items], "total": len(items)}


# Cases -----------------------------------------------------------------------------------


@router.get("/cases")
def list_cases(
    actor: Reader,
    svc: Svc,
    status: Annotated[str | None, Query(description="A status, several, or 'open'.")] = None,
    severity: str | None = None,
    min_severity: str | None = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
    q: Annotated[str | None, Query(description="Text in title or description.")] = None,
    tag: str | None = None,
    since: Annotated[str | None, Query(description="Created at or after (-7d, ISO).")] = None,
    until: str | None = None,
    sort: Annotated[str | None, Query(description="e.g. -severity,created_at")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Cases, filtered, sorted and paged."""
    page = _cases(svc).list(
        actor,
        status=status,
        severity=severity,
        min_severity=min_severity,
        team_id=team_id,
        assignee_id=assignee_id,
        q=q,
        tag=tag,
        since=parse_time_bound(since) if since else None,
        until=parse_time_bound(until) if until else None,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return page.to_dict(attach_sla(svc, actor, "case", [c.to_dict() for c in page.items]))


@router.post("/cases", status_code=201)
def create_case(actor: Creator, svc: Svc, body: CaseCreate, response: Response) -> dict[str, Any]:
    """Open a case by hand, from a template or from alerts."""
    case = _cases(svc).create(actor, **body.model_dump())
    return tagged(response, case.to_dict())


@router.get("/cases/{case_id}")
def get_case(actor: Reader, svc: Svc, case_id: int, response: Response) -> dict[str, Any]:
    """One case; its ``version`` is also sent as the ETag."""
    case = _cases(svc).get(actor, case_id).to_dict()
    return tagged(response, attach_sla(svc, actor, "case", [case])[0])


@router.patch("/cases/{case_id}")
def update_case(
    actor: Editor,
    svc: Svc,
    case_id: int,
    body: CaseUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change case fields; a stale version answers 409 (reload and apply again)."""
    fields = body.model_dump(exclude_unset=True)
    version = version_from(fields.pop("version", None), if_match)
    case = _cases(svc).update(actor, case_id, version=version, **fields)
    return tagged(response, case.to_dict())


@router.post("/cases/{case_id}/close")
def close_case(
    actor: Closer,
    svc: Svc,
    case_id: int,
    body: CaseClose,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Close a case with a classification."""
    case = _cases(svc).close(
        actor,
        case_id,
        classification=body.classification,
        summary=body.summary,
        version=version_from(body.version, if_match),
    )
    return tagged(response, case.to_dict())


@router.post("/cases/{case_id}/reopen")
def reopen_case(actor: Closer, svc: Svc, case_id: int, response: Response) -> dict[str, Any]:
    """Reopen a closed case."""
    return tagged(response, _cases(svc).reopen(actor, case_id).to_dict())


@router.post("/cases/{case_id}/merge")
def merge_cases(
    actor: Closer, svc: Svc, case_id: int, body: CaseMerge, response: Response
) -> dict[str, Any]:
    """Merge other cases into this one; they close as duplicates."""
    return tagged(response, _cases(svc).merge(actor, case_id, body.source_ids).to_dict())


@router.get("/cases/{case_id}/alerts")
def list_case_alerts(actor: Reader, svc: Svc, case_id: int) -> dict[str, Any]:
    """The alerts linked to a case."""
    return _items(_cases(svc).list_alerts(actor, case_id))


@router.post("/cases/{case_id}/alerts")
def add_case_alerts(
    actor: Editor, svc: Svc, case_id: int, body: CaseAlerts, response: Response
) -> dict[str, Any]:
    """Link alerts to a case (409 for an alert already in another open case)."""
    return tagged(response, _cases(svc).add_alerts(actor, case_id, body.alert_ids).to_dict())


@router.get("/cases/{case_id}/history")
def case_history(actor: Reader, svc: Svc, case_id: int) -> dict[str, Any]:
    """Every change to the case and its tasks, oldest first."""
    return _items(_cases(svc).history(actor, case_id))


@router.get("/cases/{case_id}/timeline")
def case_timeline(actor: Reader, svc: Svc, case_id: int) -> dict[str, Any]:
    """Entries, alerts, comments, task completions and history, in time order."""
    return _items(_cases(svc).timeline(actor, case_id))


@router.post("/cases/{case_id}/timeline", status_code=201)
def add_timeline_entry(
    actor: Editor, svc: Svc, case_id: int, body: TimelineEntryCreate
) -> dict[str, Any]:
    """Place an entry on the timeline."""
    item = _cases(svc).add_timeline_entry(
        actor, case_id, body.occurred_at, body.title, body.description
    )
    return item.to_dict()


# Tasks, observables, comments ---------------------------------------------------------------


@router.get("/cases/{case_id}/tasks")
def list_tasks(
    actor: Reader, svc: Svc, case_id: int, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """The case's tasks in order."""
    page = _cases(svc).list_tasks(actor, case_id, limit=limit, offset=offset)
    return page.to_dict([t.to_dict() for t in page.items])


@router.post("/cases/{case_id}/tasks", status_code=201)
def add_task(actor: Editor, svc: Svc, case_id: int, body: TaskCreate) -> dict[str, Any]:
    """Add a task."""
    task = _cases(svc).add_task(
        actor, case_id, body.title, body.description, body.assignee_id, body.due_at
    )
    return task.to_dict()


@router.patch("/tasks/{task_id}")
def update_task(
    actor: Editor,
    svc: Svc,
    task_id: int,
    body: TaskUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change a task; a stale version answers 409."""
    fields = body.model_dump(exclude_unset=True)
    version = version_from(fields.pop("version", None), if_match)
    task = _cases(svc).update_task(actor, task_id, version=version, **fields)
    return tagged(response, task.to_dict())


@router.get("/cases/{case_id}/observables")
def list_observables(
    actor: Reader, svc: Svc, case_id: int, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """The case's observables."""
    page = _cases(svc).list_observables(actor, case_id, limit=limit, offset=offset)
    return page.to_dict([o.to_dict() for o in page.items])


@router.post("/cases/{case_id}/observables", status_code=201)
def add_observable(actor: Editor, svc: Svc, case_id: int, body: ObservableCreate) -> dict[str, Any]:
    """Add a typed observable (409 when the case has it already)."""
    return _cases(svc).add_observable(actor, case_id, **body.model_dump()).to_dict()


@router.delete("/cases/{case_id}/observables/{observable_id}", status_code=204)
def delete_observable(actor: Editor, svc: Svc, case_id: int, observable_id: int) -> Response:
    """Remove an observable (its history stays)."""
    _cases(svc).delete_observable(actor, case_id, observable_id)
    return Response(status_code=204)


@router.get("/cases/{case_id}/comments")
def list_comments(
    actor: Reader, svc: Svc, case_id: int, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """The case's comments, oldest first."""
    page = _cases(svc).list_comments(actor, case_id, limit=limit, offset=offset)
    return page.to_dict([c.to_dict() for c in page.items])


@router.post("/cases/{case_id}/comments", status_code=201)
def add_comment(actor: Editor, svc: Svc, case_id: int, body: CommentCreate) -> dict[str, Any]:
    """Add a comment (comments cannot be edited or deleted)."""
    return _cases(svc).add_comment(actor, case_id, body.body).to_dict()


# Attachments -----------------------------------------------------------------------------

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


def _too_large(limit: int) -> JSONResponse:
    exc = AttachmentTooLargeError(limit)
    return JSONResponse(
        {"error": type(exc).__name__, "detail": exc.message, "limit": limit}, status_code=413
    )


@router.get("/cases/{case_id}/attachments")
def list_attachments(
    actor: Reader, svc: Svc, case_id: int, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """The case's attachments (metadata)."""
    page = _cases(svc).list_attachments(actor, case_id, limit=limit, offset=offset)
    return page.to_dict([a.to_dict() for a in page.items])


@router.post("/cases/{case_id}/attachments", status_code=201, openapi_extra=_UPLOAD_BODY)
async def upload_attachment(actor: Editor, svc: Svc, case_id: int, request: Request) -> Any:
    """Upload a file (multipart field ``file``); 413 past ``attachment_max_bytes``.

    The body must declare its length: one larger than the limit (plus room for the multipart
    framing) is refused before anything is read; otherwise the file is read in chunks and
    refused as soon as it passes the limit.
    """
    limit = svc.settings.attachment_max_bytes
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        # Without a declared length the form parser would spool an unbounded body to disk.
        return JSONResponse(
            {"error": "LengthRequired", "detail": "send the upload with a Content-Length header"},
            status_code=411,
        )
    if int(length) > limit + MULTIPART_OVERHEAD:
        return _too_large(limit)
    form = await request.form(max_files=1, max_fields=10)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInputError("send the file as the multipart/form-data field 'file'")
        read = await run_in_threadpool(
            _cases(svc).add_attachment,
            actor,
            case_id,
            upload.filename or "",
            upload.content_type,
            upload.file,
        )
    except AttachmentTooLargeError:
        return _too_large(limit)
    finally:
        await form.close()
    return JSONResponse(read.to_dict(), status_code=201)


@router.get("/attachments/{attachment_id}")
def download_attachment(actor: Reader, svc: Svc, attachment_id: int) -> FileResponse:
    """The attachment's bytes, always as a download (never rendered inline)."""
    read, path = _cases(svc).open_attachment(actor, attachment_id)
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


# Templates -------------------------------------------------------------------------------


@router.get("/case-templates")
def list_templates(actor: Reader, svc: Svc) -> dict[str, Any]:
    """Every case template."""
    return _items(_cases(svc).list_templates(actor))


@router.post("/case-templates", status_code=201)
def create_template(actor: TemplateManager, svc: Svc, body: TemplateCreate) -> dict[str, Any]:
    """Create a case template (409 for a name in use)."""
    data = body.model_dump()
    return _cases(svc).create_template(actor, **data).to_dict()


@router.get("/case-templates/{template}")
def get_template(actor: Reader, svc: Svc, template: str) -> dict[str, Any]:
    """One template by id or name."""
    return _cases(svc).get_template(actor, template).to_dict()


@router.delete("/case-templates/{template}", status_code=204)
def delete_template(actor: TemplateManager, svc: Svc, template: str) -> Response:
    """Delete a template (cases made from it keep their copies)."""
    _cases(svc).delete_template(actor, template)
    return Response(status_code=204)
