"""Block what a DNS alert found: its domain goes on the block list, with the alert as provenance.

The resolver then refuses it once the list is exported (``tocsin blocklist export --format
rpz``). A DGA alert is refused: its names are hundreds of throwaway domains, and the answer to
an infected host is to isolate it, not to chase its next name. The organisation's own domains
and the built-in infrastructure and popular domains are never put on the list from an alert
(a finding about ``a.cloudfront.net`` must not block every CloudFront site).
"""

from __future__ import annotations

from datetime import timedelta

from tocsin.core.errors import InvalidInputError
from tocsin.intel.lists import INFRASTRUCTURE, POPULAR, covered
from tocsin.respond.blocklist import AddResult, BlockLists, EntryDraft
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

BLOCKABLE = ("dns.tunnel", "dns.lookalike", "dns.indicator", "dns.new_domain")
_NEVER = INFRASTRUCTURE | POPULAR


def block_dns_alert(
    workspace: Workspace,
    actor: Principal,
    alert_id: int,
    *,
    ttl: timedelta | None,
    protected: tuple[str, ...] = (),
) -> list[AddResult]:
    """Put the domain of a DNS alert on the block list; returns what the list did."""
    alert = workspace.alerts.get(actor, alert_id)
    if alert.rule_id == "dns.dga":
        raise InvalidInputError(
            f"alert {alert_id} is a DGA host: its names change every day, so blocking them "
            "does not help; isolate the host instead"
        )
    if alert.rule_id not in BLOCKABLE:
        raise InvalidInputError(
            f"alert {alert_id} is a {alert.rule_id} alert, not a DNS alert ({', '.join(BLOCKABLE)})"
        )
    domains = [o["value"] for o in alert.observables if o["type"] == "domain"]
    own = frozenset(protected)
    refused = [d for d in domains if covered(d, _NEVER) or covered(d, own)]
    wanted = [d for d in domains if d not in refused]
    if not wanted:
        why = f" ({', '.join(refused)}: ours or common infrastructure)" if refused else ""
        raise InvalidInputError(f"alert {alert_id} has no domain to block{why}")
    drafts = [
        EntryDraft(
            domain,
            kind="domain",
            reason=f"{alert.rule_id}: {alert.title}"[:500],
            source=f"alert:{alert_id}",
            ttl=ttl,
        )
        for domain in wanted
    ]
    return BlockLists(workspace.db).add(actor, drafts)
