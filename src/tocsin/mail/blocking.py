"""Mail and the block lists: what a phishing verdict puts on them, and what they say of a mail.

A confirmed phish's sender, its own domain, its links and its attachments go to the block
list with provenance (the alert) and an expiry, so the DNS resolver, the proxy and the mail
gateway can refuse them. What the lists already say counts in the verdict: a blocked sender or
link is as strong as a known-bad indicator, and an allowed sender lowers the score (without
zeroing it: the From of an allowed sender can be forged).

Values that would block half the internet are never proposed: free-mail domains, the big
brands' own domains, document-sharing hosts and our protected domains stay off the list (the
individual address or URL on them is blocked instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tocsin.core.event import Reason
from tocsin.intel.brands import BRANDS
from tocsin.intel.lists import covered, is_freemail, is_shortener
from tocsin.mail.checks import FILE_SHARING, FREE_HOSTING
from tocsin.mail.message import MailMessage

if TYPE_CHECKING:  # the workspace (SQLAlchemy) loads only when lists are used
    from tocsin.respond.blocklist import AddResult, EntryDraft, ListSnapshot
    from tocsin.workspace.permissions import Principal
    from tocsin.workspace.service import Workspace

_BRAND_DOMAINS = frozenset(d for brand in BRANDS for d in brand.domains)
MAX_URLS = 20


def blockable_domain(domain: str, protected: Iterable[str] = ()) -> bool:
    """Whether blocking a whole domain would only hurt the impostor."""
    shared = _BRAND_DOMAINS | FREE_HOSTING | FILE_SHARING | frozenset(protected)
    return not (is_freemail(domain) or is_shortener(domain) or covered(domain, shared))


def drafts_for(
    observables: Iterable[tuple[str, str]],
    *,
    source: str,
    reason: str,
    ttl: timedelta | None,
    protected: Sequence[str] = (),
) -> list[EntryDraft]:
    """Block-list entries for a phish's observables (sender, domains, URLs, file hashes)."""
    from tocsin.respond.blocklist import EntryDraft

    drafts: dict[tuple[str, str], EntryDraft] = {}
    urls = 0

    def add(kind: str, value: str) -> None:
        drafts.setdefault(
            (kind, value.lower()),
            EntryDraft(value, kind=kind, reason=reason, source=source, ttl=ttl),
        )

    for kind, value in observables:
        if kind == "email":
            add("email", value)
        elif kind == "domain" and blockable_domain(value, protected):
            add("domain", value)
        elif kind == "url" and urls < MAX_URLS:
            urls += 1
            add("url", value)
        elif kind == "hash" and len(value) in (32, 40, 64):
            add("hash", value)
    return list(drafts.values())


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


def list_reasons(msg: MailMessage, urls: Sequence[str], lists: ListSnapshot) -> list[Reason]:
    """What the block and allow lists say about the sender, the links and the files."""
    reasons: list[Reason] = []
    address = (msg.from_address or "").lower()
    if address:
        verdict = lists.verdict("email", address)
        if verdict is None and msg.from_domain:
            verdict = lists.verdict("domain", msg.from_domain)
        if verdict is not None and verdict.value == "allow":
            reasons.append(Reason("allowlist.sender", f"{address} is on the allow list", 0.0))
        elif verdict is not None:
            reasons.append(Reason("blocklist.sender", f"{address} is on the block list", 0.0))
    blocked = [u for u in urls[:200] if lists.is_blocked("url", u)]
    if blocked:
        reasons.append(
            Reason("blocklist.url", f"{len(blocked)} link(s) on the block list: {blocked[0]}", 0.0)
        )
    else:
        hosts = {h for h in (_host(u) for u in urls[:200]) if h}
        listed = sorted(h for h in hosts if lists.is_blocked("domain", h))
        if listed:
            reasons.append(
                Reason("blocklist.domain", f"links go to blocked domain(s): {listed[0]}", 0.0)
            )
    for attachment in msg.attachments:
        if lists.is_blocked("hash", attachment.sha256):
            reasons.append(
                Reason(
                    "blocklist.hash",
                    f"{attachment.filename or 'an attachment'} ({attachment.sha256[:16]}...) "
                    "is on the block list",
                    0.0,
                )
            )
            break
    return reasons


def block_alert(
    workspace: Workspace,
    actor: Principal,
    alert_id: int,
    *,
    ttl: timedelta | None,
    protected: Sequence[str] = (),
) -> list[AddResult]:
    """Put a ``mail.phishing`` alert's sender, domains, links and files on the block list."""
    from tocsin.core.errors import InvalidInputError
    from tocsin.respond.blocklist import BlockLists

    alert = workspace.alerts.get(actor, alert_id)
    if alert.rule_id != "mail.phishing":
        raise InvalidInputError(f"alert {alert_id} is not a mail.phishing alert")
    drafts = drafts_for(
        ((o["type"], o["value"]) for o in alert.observables),
        source=f"alert:{alert_id}",
        reason=f"mail.phishing: {alert.title}"[:500],
        ttl=ttl,
        protected=protected,
    )
    if not drafts:
        raise InvalidInputError(f"alert {alert_id} has nothing to block")
    return BlockLists(workspace.db).add(actor, drafts)
