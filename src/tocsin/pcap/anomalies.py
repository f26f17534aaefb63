"""Anomalies met while reading packets: counted by kind, the first few kept with where they were.

A capture is attacker-controlled input (and sometimes just damaged): truncated records, length
fields that lie, fragments that overlap. None of them stops a read; each is counted here so the
import report and the lake can say what was odd and where.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MAX_EXAMPLES = 50


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One anomaly: its kind, where it was (file, packet number or byte offset) and what."""

    kind: str
    where: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        """The anomaly as a JSON-ready mapping."""
        return {"kind": self.kind, "where": self.where, "detail": self.detail}


@dataclass(slots=True)
class Anomalies:
    """Counts per kind, and the first ``MAX_EXAMPLES`` anomalies in full."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: list[Anomaly] = field(default_factory=list)

    def add(self, kind: str, where: str, detail: str, count: int = 1) -> None:
        """Count ``count`` anomalies of ``kind``; keep the first ones with their place."""
        if count <= 0:
            return
        self.counts[kind] += count
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(Anomaly(kind, where, detail))

    def merge(self, counts: Counter[str], where: str) -> None:
        """Add counts gathered elsewhere (the fragment table's), one example per new kind."""
        for kind, count in counts.items():
            if count:
                self.add(kind, where, f"{count} in this capture", count)

    @property
    def total(self) -> int:
        """Anomalies of every kind."""
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, object]:
        """Counts and examples, JSON-ready."""
        return {
            "total": self.total,
            "counts": dict(sorted(self.counts.items())),
            "examples": [a.to_dict() for a in self.examples],
        }
