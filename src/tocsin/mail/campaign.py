"""Find the campaign: the other messages in the lake that share a sender, a link or a file.

One reported phish is rarely alone. Given a message's observables, this builds one search in
the ordinary query language (so an analyst can paste it into the console and refine it) and
groups what it finds by what they share. Free-mail domains and the big brands' domains are
never used as a domain pivot: "every message from gmail.com" is not a campaign.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from tocsin.intel.brands import BRANDS
from tocsin.intel.lists import covered, is_freemail
from tocsin.lake.reader import LakeReader

DATASET = "mail.message"
MAX_PIVOTS = 20
MAX_MESSAGES = 500


@dataclass(frozen=True, slots=True)
class Pivots:
    """What a campaign's messages may share."""

    senders: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    hashes: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """Nothing to look for."""
        return not (self.senders or self.domains or self.urls or self.hashes or self.subjects)


@dataclass(slots=True)
class CampaignMessage:
    """One message of the campaign and what ties it to the others."""

    event_id: str
    time: object
    sender: str | None
    subject: str | None
    verdict: str | None
    recipients: list[str]
    shared: list[str]


@dataclass(slots=True)
class Campaign:
    """The query that was run and the messages it found, newest first."""

    query: str
    messages: list[CampaignMessage] = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        """Everyone the campaign reached (who may need a warning or a password reset)."""
        seen: dict[str, None] = {}
        for message in self.messages:
            for address in message.recipients:
                seen.setdefault(address, None)
        return list(seen)


_BRAND_DOMAINS = frozenset(d for brand in BRANDS for d in brand.domains)
MIN_SUBJECT = 12  # shorter subjects ("Hello", "Invoice") tie unrelated mail together


def pivots_from(observables: Iterable[tuple[str, str]], subject: str | None = None) -> Pivots:
    """Pivots from typed observables (of an analysis or an alert) and the subject.

    A domain pivot leaves out free-mail and well-known brand domains: a phish linking to
    microsoft.com beside its kit would otherwise pull in every Microsoft newsletter.
    """
    by_type: dict[str, list[str]] = {}
    for kind, value in observables:
        by_type.setdefault(kind, []).append(value)

    def keep(domain: str) -> bool:
        return not is_freemail(domain) and not covered(domain, _BRAND_DOMAINS)

    subjects = (subject.strip(),) if subject and len(subject.strip()) >= MIN_SUBJECT else ()
    return Pivots(
        senders=tuple(v.lower() for v in by_type.get("email", [])[:MAX_PIVOTS]),
        domains=tuple(d for d in by_type.get("domain", []) if keep(d))[:MAX_PIVOTS],
        urls=tuple(by_type.get("url", [])[:MAX_PIVOTS]),
        hashes=tuple(by_type.get("hash", [])[:MAX_PIVOTS]),
        subjects=subjects,
    )


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _group(field_name: str, values: Iterable[str]) -> str | None:
    chosen = [v for v in dict.fromkeys(values) if v and "*" not in v and "?" not in v]
    if not chosen:
        return None
    return f"{field_name}:({' OR '.join(_quote(v) for v in chosen[:MAX_PIVOTS])})"


def campaign_query(pivots: Pivots) -> str:
    """The search that finds messages sharing any pivot."""
    parts = [
        _group("email.from.address", pivots.senders),
        _group("email.subject", pivots.subjects),
        _group("tocsin.mail.urls", pivots.urls),
        _group("tocsin.mail.hashes", pivots.hashes),
        _group(
            "tocsin.mail.domains",
            (d for d in pivots.domains if not is_freemail(d)),
        ),
    ]
    chosen = [p for p in parts if p]
    if not chosen:
        raise ValueError("nothing to look for: the message has no sender, link or file")
    return f"event.dataset:{DATASET} AND ({' OR '.join(chosen)})"


def find_campaign(
    reader: LakeReader,
    pivots: Pivots,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_MESSAGES,
) -> Campaign:
    """Search the lake for the campaign's messages, each with what it shares."""
    query = campaign_query(pivots)
    result = reader.search(query, since=since, until=until, limit=limit, datasets=[DATASET])
    campaign = Campaign(query)
    senders = {s.lower() for s in pivots.senders}
    urls, hashes = set(pivots.urls), set(pivots.hashes)
    domains, subjects = set(pivots.domains), set(pivots.subjects)
    for event in result.events:
        shared: list[str] = []
        from_addresses = [str(a).lower() for a in _list(event.get("email.from.address"))]
        if senders.intersection(from_addresses):
            shared.append("sender")
        if subjects and event.get("email.subject") in subjects:
            shared.append("subject")
        if urls.intersection(map(str, _list(event.get("tocsin.mail.urls")))):
            shared.append("url")
        if hashes.intersection(map(str, _list(event.get("tocsin.mail.hashes")))):
            shared.append("attachment")
        if domains.intersection(map(str, _list(event.get("tocsin.mail.domains")))):
            shared.append("domain")
        campaign.messages.append(
            CampaignMessage(
                event_id=str(event.get("event.id")),
                time=event.get("@timestamp"),
                sender=from_addresses[0] if from_addresses else None,
                subject=_text(event.get("email.subject")),
                verdict=_text(event.get("tocsin.mail.verdict")),
                recipients=[str(a).lower() for a in _list(event.get("email.to.address"))],
                shared=shared,
            )
        )
    return campaign


def _list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _text(value: object) -> str | None:
    return None if value is None else str(value)
