"""What a DNS detector found, and how it becomes an alert.

Every finding names its detector (``dns.dga``, ``dns.tunnel``, ``dns.new_domain``,
``dns.lookalike``, ``dns.indicator``: the alert's rule id), who asked (the client) and for what
(the registered domain), and explains itself with reasons. Its dedup key is the detector, the
client and the domain, so the scheduled hunt, whose windows overlap, folds a repeat of the
same finding into the open alert instead of raising a new one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tocsin.core.event import Reason
from tocsin.workspace.models import AlertDraft, Observable

TAGS: dict[str, tuple[str, ...]] = {
    "dns.dga": ("attack.command-and-control", "attack.t1568.002"),
    "dns.tunnel": (
        "attack.command-and-control",
        "attack.t1071.004",
        "attack.exfiltration",
        "attack.t1048",
    ),
    "dns.new_domain": ("attack.command-and-control",),
    "dns.lookalike": (
        "attack.initial-access",
        "attack.t1566",
        "attack.resource-development",
        "attack.t1583.001",
    ),
    "dns.indicator": ("attack.command-and-control",),
}
"""ATT&CK tags per detector: DGA is T1568.002, DNS as C2 channel T1071.004."""

SEVERITIES = ("informational", "low", "medium", "high", "critical")


def _client_observable(client: str) -> Observable:
    try:
        ipaddress.ip_address(client)
    except ValueError:
        return Observable("host", client)
    return Observable("ip", client)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a DNS detector found: who, what, how bad, and why."""

    detector: str
    severity: str
    title: str
    client: str | None
    domain: str | None
    score: float
    reasons: tuple[Reason, ...]
    event_ids: tuple[str, ...] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    names: tuple[str, ...] = ()
    fields: Mapping[str, object] = field(default_factory=dict)

    def dedup_key(self) -> str:
        """Detector, client and domain: overlapping windows fold into one alert."""
        return f"{self.detector}:{self.client or '-'}:{self.domain or '-'}"

    def to_draft(self) -> AlertDraft:
        """The alert this finding raises."""
        observables: list[Observable] = []
        if self.client:
            observables.append(_client_observable(self.client))
        if self.domain:
            observables.append(Observable("domain", self.domain))
        top = "; ".join(r.detail for r in self.reasons[:3])
        return AlertDraft(
            rule_id=self.detector,
            title=self.title[:200],
            severity=self.severity,
            event_ids=list(self.event_ids),
            observables=observables,
            tags=list(TAGS.get(self.detector, ())),
            reasons=list(self.reasons),
            dedup_key=self.dedup_key(),
            event_time=self.first_seen,
            description=f"Score {self.score:.2f}: {top}"[:2000],
            source="dns",
            fields={
                "dns.detector": self.detector,
                "dns.score": round(self.score, 3),
                "client": self.client,
                "dns.registered_domain": self.domain,
                "dns.names": list(self.names[:10]),
                **self.fields,
            },
        )

    def row(self) -> dict[str, object]:
        """The finding as one row for the command line."""
        return {
            "detector": self.detector,
            "severity": self.severity,
            "client": self.client,
            "domain": self.domain,
            "score": round(self.score, 3),
            "title": self.title,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "reasons": "; ".join(f"{r.check}: {r.detail}" for r in self.reasons),
            "events": len(self.event_ids),
        }


def level(score: float, table: Sequence[tuple[float, str]]) -> str:
    """The Sigma level of a score by a table of ``(minimum score, level)``, highest first."""
    for minimum, name in table:
        if score >= minimum:
            return name
    return "informational"
