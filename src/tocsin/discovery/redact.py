"""Redaction: an enricher (``tocsin.enrichers``: ``discovery.redact``) that masks personal data
and secrets in events before they are stored, and in exports.

Switchable per dataset (``discovery_redact_datasets``; ``*`` for all) and by category
(``discovery_redact_categories``). Only the datasets it redacts go through it one by one
(``sees``), so the others keep the bulk ingest path. Each string value (and each string in a
list) is scanned with the discovery rules; what is found is replaced by its masked form, and
the event says so in ``tocsin.redacted`` (how many values) and ``tags`` (``redacted``).
``discovery.finding`` events are never redacted again: they hold masked values only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from tocsin.core.event import Event
from tocsin.core.settings import Settings
from tocsin.discovery.engine import Scanner
from tocsin.discovery.rules import load_rules

# Fields that are ids, times and categories: never personal data, and scanning them costs.
SKIP_FIELDS = frozenset(
    {
        "event.id",
        "event.dataset",
        "event.kind",
        "event.module",
        "event.category",
        "event.type",
        "event.outcome",
        "@timestamp",
        "event.ingested",
        "tags",
        "tocsin.source",
        "network.community_id",
    }
)
MIN_CONFIDENCE = 0.5
"""Redaction masks what is at least medium confidence: a low guess is left readable."""


class RedactStage:
    """Mask PII and secrets in the events of the datasets chosen in the settings."""

    id: ClassVar[str] = "discovery.redact"

    def __init__(self) -> None:
        self.datasets: frozenset[str] = frozenset()
        self.everything = False
        self._scanner: Scanner | None = None
        self._categories: tuple[str, ...] = ("secret", "pii")
        self._rule_files: tuple[object, ...] = ()
        self.redacted = 0

    def bind(self, settings: Settings) -> None:
        """Take the datasets, categories and extra rules from the home's settings."""
        chosen = {d.strip() for d in settings.discovery_redact_datasets if d.strip()}
        self.everything = "*" in chosen
        self.datasets = frozenset(chosen - {"*"})
        self._categories = tuple(settings.discovery_redact_categories) or ("secret", "pii")
        self._rule_files = tuple(settings.discovery_rules)
        self._scanner = None

    def sees(self, dataset: str) -> bool:
        """Whether events of ``dataset`` are redacted (the others skip this stage)."""
        if dataset == "discovery.finding":
            return False
        return self.everything or dataset in self.datasets

    @property
    def scanner(self) -> Scanner:
        """The scanner, built on first use (rules compile once per process)."""
        if self._scanner is None:
            rules = load_rules(list(self._rule_files))  # type: ignore[arg-type]
            self._scanner = Scanner(
                rules, min_confidence=MIN_CONFIDENCE, categories=self._categories
            )
        return self._scanner

    def process(self, events: list[Event]) -> list[Event]:
        """Mask values in the events of redacted datasets (the others pass untouched)."""
        if not self.everything and not self.datasets:
            return events
        for event in events:
            if self.sees(str(event.get("event.dataset", ""))):
                self.redact_event(event)
        return events

    def export(self, events: Iterable[Event]) -> list[Event]:
        """Copies of the events for an export, masked where their dataset is redacted."""
        out = []
        for event in events:
            if self.sees(str(event.get("event.dataset", ""))):
                event = dict(event)
                self.redact_event(event)
            out.append(event)
        return out

    def redact_event(self, event: Event) -> int:
        """Mask one event in place; returns how many values changed."""
        changed = 0
        scanner = self.scanner
        for name, value in list(event.items()):
            if name in SKIP_FIELDS:
                continue
            if isinstance(value, str):
                if len(value) < 6:
                    continue
                new, found = scanner.redact(value, name)
                if found:
                    event[name] = new
                    changed += 1
            elif isinstance(value, list) and value and isinstance(value[0], str):
                items = []
                hit = False
                for item in value:
                    new, found = scanner.redact(item, name) if isinstance(item, str) else (item, [])
                    hit = hit or bool(found)
                    items.append(new)
                if hit:
                    event[name] = items
                    changed += 1
        if changed:
            event["tocsin.redacted"] = changed
            tags = event.get("tags")
            tags = list(tags) if isinstance(tags, list) else []
            if "redacted" not in tags:
                event["tags"] = [*tags, "redacted"]
            self.redacted += 1
        return changed
