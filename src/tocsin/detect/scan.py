"""Offline scanning: rules over files, no home needed, nothing written.

Files are read as the ingest reads them (:class:`tocsin.detect.reader.EventReader`), matched
batch by batch, and every match becomes one record with the keys ``rule_id, rule_title,
severity, tags, @timestamp, event.dataset, file, event``. Correlations then run over the matches
in event-time order (with no lateness limit: a scan sees the whole input), so a scan, a hunt
and the ingest pipeline agree on the same events.

With ``workers > 1`` the files are shared out to forked processes that inherit the compiled
engine; the records come back in file order.
"""

from __future__ import annotations

import gc
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tocsin.detect.cache import load_engine
from tocsin.detect.engine import Engine, Match
from tocsin.detect.reader import EventReader, ReadIssue, store_form
from tocsin.ingest.files import expand_paths

if TYPE_CHECKING:
    from tocsin.detect.correlation import CorrelationFiring

Record = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCAN_LATENESS = timedelta(days=36500)
"""A scan sorts its matches by time before correlating, so nothing is ever too late."""


@dataclass(slots=True)
class ScanResult:
    """Everything a scan found and the figures of its summary."""

    records: list[Record] = field(default_factory=list)
    events_read: int = 0
    files_read: int = 0
    files_failed: list[tuple[Path, str]] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    rules_loaded: int = 0
    rules_failed: int = 0
    unrouted: int = 0
    from_cache: bool = False
    load_seconds: float = 0.0
    match_seconds: float = 0.0
    late_dropped: int = 0

    @property
    def by_severity(self) -> dict[str, int]:
        """Matches per severity."""
        counts: dict[str, int] = {}
        for record in self.records:
            level = str(record["severity"])
            counts[level] = counts.get(level, 0) + 1
        return counts


def match_record(match: Match, path: Path) -> Record:
    """The output record of one detection match."""
    event = match.event
    return {
        "rule_id": match.rule.id,
        "rule_title": match.rule.title,
        "severity": match.rule.level.value,
        "tags": list(match.rule.tags),
        "@timestamp": event.get("@timestamp"),
        "event.dataset": event.get("event.dataset"),
        "file": str(path),
        "event": dict(event),
    }


def firing_record(firing: CorrelationFiring, files: Mapping[str, str]) -> Record:
    """The output record of one correlation firing (``event`` summarises the window)."""
    first = firing.event_ids[0] if firing.event_ids else None
    return {
        "rule_id": firing.rule.id,
        "rule_title": firing.rule.title,
        "severity": firing.rule.level.value,
        "tags": list(firing.rule.tags),
        "@timestamp": firing.window_end,
        "event.dataset": "correlation",
        "file": files.get(first, "") if first is not None else "",
        "event": {
            "group": firing.group,
            "value": firing.value,
            "window_start": firing.window_start,
            "window_end": firing.window_end,
            "event_ids": list(firing.event_ids),
            "reasons": [r.detail for r in firing.reasons],
        },
    }


@dataclass(slots=True)
class _Part:
    """What one worker sends back: matches as (rule index, event, file) and its read figures."""

    hits: list[tuple[int, dict[str, Any], str]] = field(default_factory=list)
    events_read: int = 0
    files_read: int = 0
    files_failed: list[tuple[Path, str]] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)


_WORKER_ENGINE: Engine | None = None


def _scan_files(
    engine: Engine,
    files: Sequence[Path],
    *,
    format: str,
    dataset: str | None,
    progress: Callable[[int], None] | None = None,
) -> _Part:
    part = _Part()
    # the matcher reads values alike whatever their type; only matched events are given the
    # types the lake would store, which saves a fifth of the reading time
    reader = EventReader(format=format, dataset=dataset, lake_types=False)
    index = {id(c.rule): i for i, c in enumerate(engine.compiled)}
    for batch in reader.read(list(files), progress=progress):
        path = str(batch.path)
        for match in engine.match(batch.events):
            [event] = store_form([dict(match.event)])
            part.hits.append((index[id(match.rule)], event, path))
    part.events_read = reader.events_read
    part.files_read = reader.files_read
    part.files_failed = list(reader.files_failed)
    part.issues = list(reader.issues)
    return part


def _worker(files: list[Path], format: str, dataset: str | None) -> _Part:
    if _WORKER_ENGINE is None:  # pragma: no cover - only without fork
        raise RuntimeError("the scan worker has no engine")
    return _scan_files(_WORKER_ENGINE, files, format=format, dataset=dataset)


def _share_out(files: list[Path], groups: int) -> list[list[Path]]:
    """Contiguous runs of files of similar total size (keeps file order when re-joined)."""
    sizes = [max(1, f.stat().st_size) if f.exists() else 1 for f in files]
    total = sum(sizes)
    out: list[list[Path]] = [[]]
    acc = 0
    for path, size in zip(files, sizes, strict=True):
        if acc >= total * len(out) / groups and len(out) < groups:
            out.append([])
        out[-1].append(path)
        acc += size
    return [group for group in out if group]


def scan(
    inputs: Sequence[Path],
    rule_paths: Sequence[Path],
    *,
    format: str = "auto",
    dataset: str | None = None,
    placeholders: Mapping[str, Sequence[str]] | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ScanResult:
    """Scan files and folders with the rules under ``rule_paths``."""
    global _WORKER_ENGINE
    result = ScanResult()
    started = time.perf_counter()
    loaded = load_engine(
        rule_paths, placeholders=placeholders, cache_dir=cache_dir, use_cache=use_cache
    )
    engine = loaded.engine
    result.from_cache = loaded.from_cache
    result.rules_loaded = len(engine.compiled) + len(engine.correlations)
    result.rules_failed = len({(i.path, i.rule_id) for i in engine.issues if i.severity == "error"})
    result.unrouted = len(engine.unrouted)
    result.load_seconds = time.perf_counter() - started

    started = time.perf_counter()
    files = list(expand_paths(inputs))
    workers = max(1, min(workers, len(files)))
    parts: list[_Part]
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        parts = [_scan_files(engine, files, format=format, dataset=dataset, progress=progress)]
    else:
        _WORKER_ENGINE = engine
        gc.collect()
        gc.freeze()  # forked workers then share the rule objects without copying them
        try:
            context = multiprocessing.get_context("fork")
            # more chunks than workers, so a chunk of big files does not leave a worker idle;
            # each worker keeps its compiled route groups from one chunk to the next
            groups = _share_out(files, workers * 4)
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = [pool.submit(_worker, group, format, dataset) for group in groups]
                parts = []
                for future, group in zip(futures, groups, strict=True):
                    parts.append(future.result())
                    if progress is not None:
                        progress(sum(p.stat().st_size for p in group if p.exists()))
        finally:
            gc.unfreeze()
            _WORKER_ENGINE = None

    hits: list[tuple[Match, str]] = []
    for part in parts:
        result.events_read += part.events_read
        result.files_read += part.files_read
        result.files_failed.extend(part.files_failed)
        result.issues.extend(part.issues)
        for rule_index, event, path in part.hits:
            hits.append((Match(engine.compiled[rule_index].rule, event, 0), path))

    silent: set[str] = set()
    firings: list[CorrelationFiring] = []
    if engine.correlations:
        from tocsin.detect.correlation import CorrelationEngine

        correlation = CorrelationEngine(engine.correlations, engine.rules, lateness=SCAN_LATENESS)
        silent = set(correlation.silent_rule_ids())
        ordered = sorted(hits, key=lambda h: (_time(h[0].event), str(h[0].event.get("event.id"))))
        firings = correlation.feed([(m.rule, m.event) for m, _ in ordered])
        firings.extend(correlation.flush())
        result.late_dropped = correlation.late_dropped
    result.records = [match_record(m, Path(p)) for m, p in hits if m.rule.id not in silent]
    if firings:
        files_of = {str(m.event.get("event.id")): p for m, p in hits}
        result.records.extend(firing_record(f, files_of) for f in firings)
    result.match_seconds = time.perf_counter() - started
    return result


def _time(event: Mapping[str, Any]) -> datetime:
    value = event.get("@timestamp")
    return value if isinstance(value, datetime) else _EPOCH
