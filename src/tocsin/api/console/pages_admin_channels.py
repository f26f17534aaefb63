"""Notification channels and the outbox in the console (``notification.manage``).

Channel secrets never come back to the browser: the workspace masks them on every read, and
the page shows only whether each one is set. A channel is made from a form per built-in kind
(e-mail, webhook, Slack, Teams), or from a JSON config for a kind a plugin adds; its notifier
checks the config before it is stored, as the API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.api.console.common import Viewer, form, page, redirect, render_page
from tocsin.api.deps import Services, services
from tocsin.core.errors import InvalidInputError
from tocsin.respond.delivery import Deliverer
from tocsin.workspace.channels import BUILTIN_KINDS, MASK, STATUSES, secret_keys
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Manager = Annotated[Viewer, Depends(page(Permission.NOTIFICATION_MANAGE))]
ManagerForm = Annotated[Viewer, Depends(form(Permission.NOTIFICATION_MANAGE))]

PAGE_SIZE = 50
# Form fields of each built-in kind, copied into the config when filled in.
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "email": (
        "host",
        "port",
        "security",
        "username",
        "password",
        "from_address",
        "to_addresses",
        "timeout",
        "ca_file",
    ),
    "webhook": ("url", "secret", "timeout"),
    "slack": ("url", "timeout"),
    "teams": ("url", "timeout"),
}
STATUS_MARK = {"pending": "\u25cb", "sending": "\u25b7", "sent": "\u2714", "failed": "\u2716"}


def _deliverer(svc: Services) -> Deliverer:
    return Deliverer(svc.workspace.db, svc.settings)


def config_rows(kind: str, config: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A masked config as rows to show: a secret says only whether it is set."""
    rows: list[dict[str, Any]] = []
    hidden = secret_keys(kind, config or {})
    for key, value in (config or {}).items():
        if key in hidden or value == MASK:
            is_set = value not in (None, "", {}, [])
            rows.append({"key": key, "secret": True, "set": is_set, "value": ""})
        elif value in (None, "", [], {}):
            continue
        else:
            if isinstance(value, list | tuple):
                shown = ", ".join(str(v) for v in value)
            elif isinstance(value, dict):
                shown = orjson.dumps(value).decode()
            else:
                shown = str(value)
            rows.append({"key": key, "secret": False, "set": True, "value": shown})
    return rows


@router.get("/admin/channels")
def channel_list(
    request: Request,
    viewer: Manager,
    svc: Svc,
    status: Annotated[str, Query(max_length=20)] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """Channels (secrets shown as set or not), forms per kind, and recent deliveries."""
    channels = svc.workspace.channels
    actor = viewer.principal
    found = channels.list_channels(actor, limit=1000).items
    deliveries = channels.list_notifications(
        actor, status if status in STATUSES else None, limit=PAGE_SIZE, offset=offset
    )
    kinds = _deliverer(svc).kinds()
    return render_page(
        request,
        viewer,
        "admin_channels.html",
        title="Notification channels",
        nav="admin",
        tab="channels",
        channels=[{"channel": c, "config": config_rows(c.kind, c.config)} for c in found],
        names={c.id: c.name for c in found},
        builtin=[k for k in BUILTIN_KINDS if k in kinds],
        plugin_kinds=[k for k in kinds if k not in BUILTIN_KINDS],
        deliveries=deliveries,
        statuses=STATUSES,
        status=status if status in STATUSES else "",
        status_mark=STATUS_MARK,
    )


def config_from_form(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A channel config from a form: only filled-in fields, so the notifier's defaults apply."""
    if kind not in TEXT_FIELDS:
        raw = str(data.get("config") or "").strip() or "{}"
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidInputError(f"{kind} channel: the config is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise InvalidInputError(f"{kind} channel: the config must be a JSON object")
        return parsed
    config: dict[str, Any] = {}
    for key in TEXT_FIELDS[kind]:
        value = str(data.get(key) or "")
        # secrets keep their spaces (a password may end with one); other fields are trimmed
        if key not in ("password", "secret"):
            value = value.strip()
        if value:
            config[key] = value
    if data.get("skip_tls_verify") and kind in ("email", "webhook"):
        config["verify_tls"] = False
    if kind == "webhook" and str(data.get("headers") or "").strip():
        config["headers"] = _headers(str(data.get("headers")))
    return config


def _headers(text: str) -> dict[str, str]:
    """``Name: value`` lines as a mapping (the notifier checks names and values)."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            # the line may hold a secret value: say where it is, never what it is
            raise InvalidInputError(f"webhook channel: header line {number} needs 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


@router.post("/admin/channels")
async def create_channel(
    request: Request,
    viewer: ManagerForm,
    svc: Svc,
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=50)] = "",
) -> Response:
    """Create a channel; its notifier checks the config first."""
    data = await request.form()
    kind = kind.strip().lower()
    config = config_from_form(kind, data)
    channel = svc.workspace.channels.create_channel(
        viewer.principal,
        name,
        kind,
        config,
        enabled=bool(data.get("enabled")),
        validate=_deliverer(svc).validate_config,
    )
    return redirect(request, "/admin/channels", note=f"Channel {channel.name} created.")


@router.post("/admin/channels/{channel_id}/test")
def test_channel(request: Request, channel_id: int, viewer: ManagerForm, svc: Svc) -> Response:
    """Send a test message now and say how it went (the error never holds a secret)."""
    result = _deliverer(svc).send_test(viewer.principal, channel_id)
    note = "Test message sent." if result.ok else f"Test message failed: {result.error}"
    return redirect(request, "/admin/channels", note=note)


@router.post("/admin/channels/{channel_id}/enable")
def enable_channel(request: Request, channel_id: int, viewer: ManagerForm, svc: Svc) -> Response:
    """Deliver through the channel again."""
    channel = svc.workspace.channels.update_channel(viewer.principal, channel_id, enabled=True)
    return redirect(request, "/admin/channels", note=f"Channel {channel.name} enabled.")


@router.post("/admin/channels/{channel_id}/disable")
def disable_channel(request: Request, channel_id: int, viewer: ManagerForm, svc: Svc) -> Response:
    """Stop the channel: nothing new is queued for it, and what is queued fails."""
    channel = svc.workspace.channels.update_channel(viewer.principal, channel_id, enabled=False)
    return redirect(request, "/admin/channels", note=f"Channel {channel.name} disabled.")


@router.post("/admin/channels/{channel_id}/delete")
def delete_channel(request: Request, channel_id: int, viewer: ManagerForm, svc: Svc) -> Response:
    """Delete a channel with its subscriptions and queued notifications."""
    svc.workspace.channels.delete_channel(viewer.principal, channel_id)
    return redirect(request, "/admin/channels", note="Channel deleted.")


@router.post("/admin/notifications/{notification_id}/retry")
def retry_notification(
    request: Request, notification_id: int, viewer: ManagerForm, svc: Svc
) -> Response:
    """Queue a failed notification again."""
    svc.workspace.channels.retry_notification(viewer.principal, notification_id)
    return redirect(
        request,
        "/admin/channels?status=failed#deliveries",
        note=f"Notification #{notification_id} queued again.",
    )
