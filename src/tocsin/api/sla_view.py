"""SLA time left beside the alerts and cases a route returns."""

from __future__ import annotations

from typing import Any

from tocsin.api.deps import Services
from tocsin.workspace.permissions import Permission, Principal


def attach_sla(
    svc: Services, actor: Principal, entity_type: str, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Add ``sla`` (targets, due times, time left, state) to each item, in one query."""
    if not items or not actor.can(Permission.SLA_READ):
        return items
    statuses = svc.workspace.sla.status_many(actor, entity_type, [int(i["id"]) for i in items])
    for item in items:
        status = statuses.get(int(item["id"]))
        item["sla"] = status.to_dict() if status is not None else None
    return items
