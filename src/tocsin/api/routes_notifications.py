"""Notification channels, subscriptions and the outbox.

Channel configs are checked by the notifier of their kind (``tocsin.respond``) before the
workspace stores them; reads mask secrets as ``********``, and sending ``********`` back in an
update keeps the stored secret.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from tocsin.api.deps import Services, require, services
from tocsin.api.versioning import Limit
from tocsin.respond.delivery import Deliverer
from tocsin.workspace.permissions import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["notifications"])

Svc = Annotated[Services, Depends(services)]
Manager = Annotated[Principal, Depends(require(Permission.NOTIFICATION_MANAGE))]
Subscriber = Annotated[Principal, Depends(require(Permission.SUBSCRIPTION_OWN))]
Offset = Annotated[int, Query(ge=0)]


class ChannelCreate(BaseModel):
    """A new channel: ``kind`` is a notifier (email, webhook, slack, teams, or a plugin's)."""

    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=50)
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class ChannelUpdate(BaseModel):
    """Fields of a channel to change; ``config`` replaces the whole config."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    enabled: bool | None = None


class ChannelTest(BaseModel):
    """Who gets the test e-mail (default: the channel's addresses, else the caller)."""

    recipients: list[str] | None = Field(default=None, max_length=20)


class SubscriptionCreate(BaseModel):
    """A subscription: yourself by default; a user, a team or everyone needs manage."""

    channel_id: int
    events: list[str] = Field(min_length=1, max_length=20)
    min_severity: str = "high"
    user_id: int | None = None
    team_id: int | None = None
    broadcast: bool = Field(default=False, description="Every matching event, any team.")


def _deliverer(svc: Services) -> Deliverer:
    return Deliverer(svc.workspace.db, svc.settings)


@router.get("/notification-channels")
def list_channels(
    actor: Subscriber,
    svc: Svc,
    kind: str | None = None,
    enabled: bool | None = None,
    sort: Annotated[str | None, Query(description="e.g. name or -created_at")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, object]:
    """Channels; configs (secrets masked) only for notification.manage."""
    page = svc.workspace.channels.list_channels(
        actor, kind=kind, enabled=enabled, sort=sort, limit=limit, offset=offset
    )
    return page.to_dict([c.to_dict() for c in page.items])


@router.post("/notification-channels", status_code=201)
def create_channel(body: ChannelCreate, actor: Manager, svc: Svc) -> dict[str, object]:
    """Create a channel; its notifier checks the config first."""
    return svc.workspace.channels.create_channel(
        actor,
        body.name,
        body.kind,
        body.config,
        body.enabled,
        validate=_deliverer(svc).validate_config,
    ).to_dict()


@router.get("/notification-channels/{channel_id}")
def get_channel(channel_id: int, actor: Subscriber, svc: Svc) -> dict[str, object]:
    """One channel."""
    return svc.workspace.channels.get_channel(actor, channel_id).to_dict()


@router.patch("/notification-channels/{channel_id}")
def update_channel(
    channel_id: int, body: ChannelUpdate, actor: Manager, svc: Svc
) -> dict[str, object]:
    """Rename, enable or disable a channel, or replace its config."""
    return svc.workspace.channels.update_channel(
        actor,
        channel_id,
        name=body.name,
        config=body.config,
        enabled=body.enabled,
        validate=_deliverer(svc).validate_config,
    ).to_dict()


@router.delete("/notification-channels/{channel_id}", status_code=204)
def delete_channel(channel_id: int, actor: Manager, svc: Svc) -> Response:
    """Delete a channel, its subscriptions and its queued notifications."""
    svc.workspace.channels.delete_channel(actor, channel_id)
    return Response(status_code=204)


@router.post("/notification-channels/{channel_id}/test")
def send_test_message(
    channel_id: int, actor: Manager, svc: Svc, body: ChannelTest | None = None
) -> dict[str, object]:
    """Send a test message now; answers ``{"ok": true}`` or ``{"ok": false, "error": ...}``."""
    recipients = body.recipients if body is not None else None
    return _deliverer(svc).send_test(actor, channel_id, recipients).to_dict()


@router.get("/subscriptions")
def list_subscriptions(
    actor: Subscriber,
    svc: Svc,
    user_id: int | None = None,
    team_id: int | None = None,
    channel_id: int | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, object]:
    """Your subscriptions (everyone's for notification.manage)."""
    page = svc.workspace.channels.list_subscriptions(
        actor, user_id=user_id, team_id=team_id, channel_id=channel_id, limit=limit, offset=offset
    )
    return page.to_dict([s.to_dict() for s in page.items])


@router.post("/subscriptions", status_code=201)
def subscribe(body: SubscriptionCreate, actor: Subscriber, svc: Svc) -> dict[str, object]:
    """Subscribe yourself, or (notification.manage) a user, a team or everyone."""
    return svc.workspace.channels.subscribe(
        actor,
        body.channel_id,
        body.events,
        body.min_severity,
        user_id=body.user_id,
        team_id=body.team_id,
        broadcast=body.broadcast,
    ).to_dict()


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def unsubscribe(subscription_id: int, actor: Subscriber, svc: Svc) -> Response:
    """Delete one of your subscriptions (any, for notification.manage)."""
    svc.workspace.channels.unsubscribe(actor, subscription_id)
    return Response(status_code=204)


@router.get("/notifications")
def list_notifications(
    actor: Manager,
    svc: Svc,
    status: Annotated[str | None, Query(description="pending, sending, sent or failed")] = None,
    channel_id: int | None = None,
    event: str | None = None,
    sort: Annotated[str | None, Query(description="e.g. -id or next_attempt_at")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, object]:
    """The outbox, newest first."""
    page = svc.workspace.channels.list_notifications(
        actor,
        status,
        channel_id=channel_id,
        event=event,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return page.to_dict([n.to_dict() for n in page.items])


@router.post("/notifications/{notification_id}/retry")
def retry_notification(notification_id: int, actor: Manager, svc: Svc) -> dict[str, object]:
    """Queue a failed notification again."""
    return svc.workspace.channels.retry_notification(actor, notification_id).to_dict()
