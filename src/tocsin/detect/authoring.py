"""Rule testing for authors: which selections of a rule each event satisfies, and why.

``tocsin rules test RULE --events FILE`` evaluates every selection of the rule on every event,
the whole condition, and whether the event's dataset is one the rule's logsource reads (a rule
that is right but never routed is a common authoring mistake).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tocsin.core.errors import InvalidInputError
from tocsin.detect.engine import CompiledRule, Engine
from tocsin.detect.evaluate import build, explain
from tocsin.detect.plan import routing_field
from tocsin.detect.reader import EventReader


@dataclass(slots=True)
class SelectionResult:
    """One named selection on one event."""

    name: str
    matched: bool
    evidence: str = ""


@dataclass(slots=True)
class EventResult:
    """The rule on one event."""

    position: int
    event_id: str | None
    dataset: str | None
    routed: bool
    condition: bool
    selections: list[SelectionResult] = field(default_factory=list)

    @property
    def fires(self) -> bool:
        """True when the rule would raise on this event (routed and condition true)."""
        return self.routed and self.condition


@dataclass(slots=True)
class RuleTestReport:
    """A rule tested against a set of events."""

    rule_id: str
    title: str
    results: list[EventResult]

    @property
    def fired(self) -> int:
        """Events the rule fires on."""
        return sum(1 for r in self.results if r.fires)


def check_rule(compiled: CompiledRule, events: Sequence[Mapping[str, Any]]) -> RuleTestReport:
    """Evaluate a compiled rule, selection by selection, on each event."""
    condition = build(compiled.detection.condition)
    predicates = [(name, build(node)) for name, node in compiled.detection.selections]
    results: list[EventResult] = []
    for position, event in enumerate(events):
        dataset = event.get("event.dataset")
        routing = routing_field(dataset)
        value = event.get(routing) if routing is not None else None
        routed = isinstance(dataset, str) and any(
            route.covers(dataset, value) for route in compiled.routes
        )
        evidence = dict(explain(compiled.detection.selections, event))
        selections = [
            SelectionResult(name, bool(predicate(event)), evidence.get(name, ""))
            for name, predicate in predicates
        ]
        event_id = event.get("event.id")
        results.append(
            EventResult(
                position,
                str(event_id) if event_id is not None else None,
                dataset if isinstance(dataset, str) else None,
                routed,
                bool(condition(event)),
                selections,
            )
        )
    rule = compiled.rule
    return RuleTestReport(rule.id, rule.title, results)


def check_rule_file(
    rule_path: Path,
    event_paths: Sequence[Path],
    *,
    rule_id: str | None = None,
    format: str = "auto",
    dataset: str | None = None,
) -> list[RuleTestReport]:
    """Load the rule file (every detection rule in it, or the one ``rule_id`` names) and test it.

    Raises:
        InvalidInputError: when the file holds no usable rule or no events can be read.
    """
    engine = Engine.load([rule_path])
    errors = [i for i in engine.issues if i.severity == "error"]
    chosen = [c for c in engine.compiled if rule_id is None or c.rule.id == rule_id]
    if not chosen:
        reason = "; ".join(i.message for i in errors) or "no detection rule in the file"
        raise InvalidInputError(f"cannot test {rule_path}: {reason}", source=str(rule_path))
    reader = EventReader(format=format, dataset=dataset)
    events = [event for batch in reader.read(list(event_paths)) for event in batch.events]
    if not events and reader.files_failed:
        path, reason = reader.files_failed[0]
        raise InvalidInputError(f"cannot read {path}: {reason}", source=str(path))
    return [check_rule(c, events) for c in chosen]
