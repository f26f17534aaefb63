"""Hunting: run rules over what the lake already holds, in event-time order.

Only the datasets some rule can see are read. Each dataset is read with DuckDB in ``@timestamp``
order (files outside the time range are skipped by their names), and the datasets are merged by
time, so correlations see one ordered stream, as they would have during ingest.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tocsin.core.event import Event
from tocsin.detect.engine import Engine
from tocsin.detect.runner import Detection, Detector
from tocsin.lake.layout import LakeFile, list_datasets, list_files
from tocsin.lake.reader import LakeReader

BATCH = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class HuntReport:
    """What a hunt read and found."""

    events: int = 0
    datasets: list[str] = field(default_factory=list)
    matches: int = 0
    firings: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)

    def count(self, detection: Detection) -> None:
        """Add one batch's results."""
        self.matches += len(detection.matches)
        self.firings += len(detection.firings)
        for match in detection.matches:
            level = match.rule.level.value
            self.by_severity[level] = self.by_severity.get(level, 0) + 1
        for firing in detection.firings:
            level = firing.rule.level.value
            self.by_severity[level] = self.by_severity.get(level, 0) + 1


def hunt_datasets(engine: Engine, available: Sequence[str]) -> list[str]:
    """The datasets of the lake that at least one rule can see."""
    wanted: list[str] = []
    for dataset in available:
        for compiled in engine.compiled:
            if any(route.covers_dataset(dataset) for route in compiled.routes):
                wanted.append(dataset)
                break
    return wanted


def _event_time(event: Event) -> datetime:
    value = event.get("@timestamp")
    return value if isinstance(value, datetime) else _EPOCH


def read_dataset(
    reader: LakeReader,
    files: Sequence[LakeFile],
    *,
    since: datetime | None,
    until: datetime | None,
    batch: int = BATCH,
) -> Iterator[Event]:
    """The events of one dataset's files in time order, null fields left out."""
    if not files:
        return
    paths = [str(f.path) for f in files]
    where: list[str] = []
    params: list[Any] = [paths]
    if since is not None:
        where.append('"@timestamp" >= ?')
        params.append(since)
    if until is not None:
        where.append('"@timestamp" < ?')
        params.append(until)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    # the clause is made of the constant conditions above; the values are parameters
    query = (
        "SELECT * FROM read_parquet(?, union_by_name = true)"  # noqa: S608
        f'{clause} ORDER BY "@timestamp", "event.id"'
    )
    with reader.connect() as con:
        relation = con.sql(query, params=params)
        if relation is None:
            return
        stream = relation.to_arrow_reader(batch)
        for record_batch in stream:
            for row in record_batch.to_pylist():
                yield {k: v for k, v in row.items() if v is not None}


def lake_events(
    reader: LakeReader,
    datasets: Sequence[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Event]:
    """The events of several datasets merged into one stream in time order."""
    streams: list[Iterable[Event]] = []
    for dataset in datasets:
        files = list_files(reader.lake_dir, datasets=[dataset], since=since, until=until)
        streams.append(read_dataset(reader, files, since=since, until=until))
    return heapq.merge(*streams, key=_event_time)


def batched(events: Iterable[Event], size: int = BATCH) -> Iterator[list[Event]]:
    """Lists of up to ``size`` events."""
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_hunt(
    engine: Engine,
    reader: LakeReader,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    on_detection: Callable[[Detection], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> HuntReport:
    """Run the engine (and its correlations, from a clean state) over the lake."""
    report = HuntReport()
    report.datasets = hunt_datasets(engine, list_datasets(reader.lake_dir))
    detector = Detector(engine)
    for chunk in batched(lake_events(reader, report.datasets, since=since, until=until)):
        report.events += len(chunk)
        detection = detector.run(chunk)
        report.count(detection)
        if detection and on_detection is not None:
            on_detection(detection)
        if on_batch is not None:
            on_batch(len(chunk))
    final = detector.finish()
    report.count(final)
    if final and on_detection is not None:
        on_detection(final)
    return report
