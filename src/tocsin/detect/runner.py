"""One detection run: the matcher, then correlation, over batches in order.

The three places detection runs (the ingest pipeline, ``tocsin hunt`` and ``tocsin scan``) all
go through :class:`Detector`, so on the same events in the same order they give the same
matches. Rules that a correlation names with ``generate: false`` feed the correlation but give no
output of their own, as the Sigma correlation specification says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tocsin.detect.engine import Engine, Match

if TYPE_CHECKING:
    from tocsin.detect.correlation import CorrelationEngine, CorrelationFiring


@dataclass(slots=True)
class Detection:
    """What one batch (or the end of the input) produced."""

    matches: list[Match] = field(default_factory=list)
    firings: list[CorrelationFiring] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.matches or self.firings)


class Detector:
    """Run an engine and its correlations over batches of events."""

    def __init__(
        self,
        engine: Engine,
        *,
        lateness: timedelta = timedelta(0),
        state_path: Path | None = None,
    ) -> None:
        self.engine = engine
        self.correlation: CorrelationEngine | None = None
        self.silent: set[str] = set()
        if engine.correlations:
            from tocsin.detect.correlation import CorrelationEngine

            self.correlation = CorrelationEngine(
                engine.correlations, engine.rules, lateness=lateness, state_path=state_path
            )
            self.silent = set(self.correlation.silent_rule_ids())

    def run(self, events: Sequence[Mapping[str, Any]]) -> Detection:
        """Match one batch and feed the matches to the correlations."""
        matches = self.engine.match(events)
        firings: list[CorrelationFiring] = []
        if self.correlation is not None and matches:
            firings = self.correlation.feed([(m.rule, m.event) for m in matches])
        if self.silent:
            matches = [m for m in matches if m.rule.id not in self.silent]
        return Detection(matches, firings)

    def finish(self) -> Detection:
        """End of a finite input (scan, hunt): close the open correlation windows."""
        if self.correlation is None:
            return Detection()
        return Detection([], self.correlation.flush())

    def save(self) -> None:
        """Persist the correlation state (a no-op without correlations or a state path)."""
        if self.correlation is not None:
            self.correlation.save()

    @property
    def late_dropped(self) -> int:
        """Events that came later than the allowed lateness and were not correlated."""
        return self.correlation.late_dropped if self.correlation is not None else 0
