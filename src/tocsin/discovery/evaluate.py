"""Precision and recall of the PII rules against labelled texts.

A labelled sample is a text and its spans (start, end, type). A finding counts as a true
positive when it overlaps a labelled span of the same type (the finding's value may carry a
separator more or less than the label); every other finding of an evaluated type is a false
positive, and every labelled span no finding overlaps is a false negative. Only the types in
``types`` are evaluated, so names, addresses and other types we do not look for are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tocsin.discovery.engine import Scanner

PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
}
"""Presidio-research's entity names and ours, for ``synth_dataset_v2.json``."""


@dataclass(slots=True)
class Score:
    """Counts for one type."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_positives: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def _offsets(text: str, line: int, column: int) -> int:
    pos = 0
    for _ in range(line - 1):
        pos = text.index("\n", pos) + 1
    return pos + column - 1


def evaluate(
    scanner: Scanner,
    samples: Iterable[tuple[str, Iterable[tuple[int, int, str]]]],
    types: Iterable[str],
) -> dict[str, Score]:
    """Per type, the counts over all samples (spans are (start, end, our type))."""
    wanted = set(types)
    scores = {t: Score() for t in sorted(wanted)}
    for text, spans in samples:
        gold = [(s, e, t) for s, e, t in spans if t in wanted]
        hit = [False] * len(gold)
        for finding in scanner.scan_text(text, "sample.txt"):
            if finding.kind not in wanted:
                continue
            loc = finding.location
            start = _offsets(text, loc.line, loc.column)
            end = _offsets(text, loc.end_line, loc.end_column)
            matched = False
            for i, (s, e, t) in enumerate(gold):
                if t == finding.kind and start < e and s < end:
                    hit[i] = matched = True
            if matched:
                scores[finding.kind].tp += 1
            else:
                scores[finding.kind].fp += 1
                scores[finding.kind].false_positives.append(text[start:end])
        for (s, e, t), found in zip(gold, hit, strict=True):
            if not found:
                scores[t].fn += 1
                scores[t].missed.append(text[s:e])
    return scores


def presidio_samples(
    records: Iterable[Mapping[str, object]],
) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """presidio-research's JSON records as (text, spans in our type names)."""
    out = []
    for rec in records:
        spans = []
        for span in rec.get("spans", []) or []:  # type: ignore[attr-defined]
            ours = PRESIDIO_TYPES.get(span["entity_type"])
            if ours is not None:
                spans.append((int(span["start_position"]), int(span["end_position"]), ours))
        out.append((str(rec["full_text"]), spans))
    return out
