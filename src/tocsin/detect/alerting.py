"""Sigma matches and correlation firings as alert drafts for ``raise_alerts``.

One draft per match, with the rule's severity, tags and description, the reasons (which
selection, field and value matched), the typed observables found in the event, and a dedup key
of the rule and its *group*: for a detection rule the host (so repeats of one rule on one host
fold into one alert within the dedup window), for a correlation its group-by values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tocsin.core.event import Reason
from tocsin.detect.engine import Engine, Match
from tocsin.workspace.models import AlertDraft, Observable

if TYPE_CHECKING:
    from tocsin.detect.correlation import CorrelationFiring

SOURCE = "sigma"

# field -> observable type, the ECS fields first, then the native Windows ones
OBSERVABLE_FIELDS: tuple[tuple[str, str], ...] = (
    ("host.name", "host"),
    ("user.name", "user"),
    ("source.ip", "ip"),
    ("destination.ip", "ip"),
    ("process.executable", "process"),
    ("file.path", "file"),
    ("dns.question.name", "domain"),
    ("url.full", "url"),
    ("email.from.address", "email"),
    ("file.hash.sha256", "hash"),
    ("process.hash.sha256", "hash"),
    ("tls.client.ja3", "ja3"),
    ("tls.client.ja4", "ja4"),
)
HOST_FIELDS = ("host.name", "Computer", "hostname", "log.syslog.hostname")
MAX_OBSERVABLES = 12


def event_host(event: Mapping[str, Any]) -> str | None:
    """The host an event comes from, if it says."""
    for name in HOST_FIELDS:
        value = event.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def observables_of(event: Mapping[str, Any]) -> list[Observable]:
    """Typed observables found in the event's ECS fields (bad values are skipped)."""
    found: list[Observable] = []
    seen: set[tuple[str, str]] = set()
    for name, kind in OBSERVABLE_FIELDS:
        value = event.get(name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if not isinstance(item, str) or not item.strip() or item == "-":
                continue
            try:
                observable = Observable.of(kind, item)
            except ValueError:
                continue
            key = (observable.type, observable.value)
            if key not in seen:
                seen.add(key)
                found.append(observable)
            if len(found) >= MAX_OBSERVABLES:
                return found
    return found


def _time(event: Mapping[str, Any]) -> datetime | None:
    value = event.get("@timestamp")
    return value if isinstance(value, datetime) else None


def match_draft(engine: Engine, match: Match) -> AlertDraft:
    """The draft of one detection match."""
    rule = match.rule
    event = match.event
    host = event_host(event)
    event_id = event.get("event.id")
    return AlertDraft(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.level,
        event_ids=[str(event_id)] if event_id is not None else [],
        observables=observables_of(event),
        tags=list(rule.tags),
        reasons=engine.explain(match),
        dedup_key=f"{rule.id}|host={host or '-'}",
        event_time=_time(event),
        description=rule.description or "",
        source=SOURCE,
        fields={"event.dataset": event.get("event.dataset"), "host": host},
    )


def firing_draft(firing: CorrelationFiring) -> AlertDraft:
    """The draft of one correlation firing."""
    rule = firing.rule
    group = ", ".join(f"{k}={v}" for k, v in sorted(firing.group.items())) or "all events"
    return AlertDraft(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.level,
        event_ids=list(firing.event_ids),
        observables=observables_of(firing.group),
        tags=list(rule.tags),
        reasons=list(firing.reasons)
        or [Reason("correlation", f"{firing.value} in the window for {group}", 1.0)],
        dedup_key=firing.dedup_key(),
        event_time=firing.window_start,
        description=rule.description or "",
        source=SOURCE,
        fields={"group": {k: str(v) for k, v in firing.group.items()}, "value": firing.value},
    )


def drafts(
    engine: Engine,
    matches: Sequence[Match],
    firings: Sequence[CorrelationFiring] = (),
    *,
    silent: set[str] | frozenset[str] = frozenset(),
) -> list[AlertDraft]:
    """Drafts of the matches (except rules that only feed correlations) and the firings."""
    out = [match_draft(engine, m) for m in matches if m.rule.id not in silent]
    out.extend(firing_draft(f) for f in firings)
    return out
