"""The batching lake writer: events in, whole Parquet files out.

Each writer writes its own uniquely named files (several processes may write at once), sorts
each file by ``@timestamp``, and drops an ``event.id`` it has already written within its recent
window (the spool-replay case); compaction drops duplicates across files.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tocsin.core import event as ev
from tocsin.core.errors import InvalidInputError
from tocsin.core.event import Event
from tocsin.lake.convert import events_to_table
from tocsin.lake.layout import file_name, is_valid_dataset, partition_dir

logger = logging.getLogger(__name__)

# New files favour speed (LZ4); compaction rewrites them smaller (zstd), as LSM stores do.
COMPRESSION = "lz4"
COMPACT_COMPRESSION = "zstd"
COMPACT_LEVEL = 1
ROW_GROUP_SIZE = 128 * 1024


@dataclass(slots=True)
class WriteStats:
    """What a writer has done: events written and duplicates dropped, per dataset."""

    written: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    files: int = 0

    def add(self, dataset: str, count: int) -> None:
        """Count ``count`` events written to ``dataset``."""
        self.written[dataset] = self.written.get(dataset, 0) + count


class RecentIds:
    """A bounded set of the most recent event ids (insertion order, oldest evicted first)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        """Remember ``event_id``, forgetting the oldest beyond capacity."""
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


class LakeWriter:
    """Buffer events per (dataset, ingest day) and write them as Parquet files.

    ``add`` buffers; ``flush`` writes everything buffered. A buffer reaching ``flush_events``
    is written at once. Thread-safe.
    """

    def __init__(
        self,
        lake_dir: Path,
        *,
        flush_events: int = 200_000,
        dedup_window: int = 2_000_000,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.lake_dir = lake_dir
        self.flush_events = flush_events
        self.uid = uuid.uuid4().hex[:12]
        self._seq = 0
        self._recent = RecentIds(dedup_window)
        self._buffers: dict[tuple[str, date], list[Event]] = {}
        self._lock = threading.Lock()
        self.stats = WriteStats()
        self.metadata = metadata or {}
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[Path | None] | None = None
        self._text_fields: dict[str, set[str]] = {}  # per dataset: fields stored as text

    @property
    def buffered(self) -> int:
        """Events waiting in the buffers."""
        return sum(len(b) for b in self._buffers.values())

    def add(self, events: Iterable[Event]) -> int:
        """Buffer normalised events; returns how many were kept (not duplicates)."""
        kept = 0
        with self._lock:
            recent = self._recent
            buffers = self._buffers
            today = datetime.now(UTC).date()
            for event in events:
                event_id = event.get(ev.ID)
                if event_id in recent:
                    self.stats.duplicates += 1
                    continue
                if isinstance(event_id, str):
                    recent.add(event_id)
                dataset = str(event.get(ev.DATASET) or "json")
                ingested = event.get(ev.INGESTED)
                day = ingested.date() if isinstance(ingested, datetime) else today
                key = (dataset, day)
                buffer = buffers.get(key)
                if buffer is None:
                    buffer = buffers[key] = []
                buffer.append(event)
                kept += 1
                if len(buffer) >= self.flush_events:
                    self._write(dataset, day, buffers.pop(key))
        return kept

    def flush(
        self, extra_metadata: dict[str, str] | None = None, name_tag: str | None = None
    ) -> int:
        """Write every buffer; returns the number of events written.

        ``name_tag`` (letters and digits) ends the unique part of each file name, so a reader
        can tell which files a flush wrote without opening them (the spool consumer's mark).
        """
        self.wait()
        with self._lock:
            buffers, self._buffers = self._buffers, {}
            total = 0
            for (dataset, day), events in buffers.items():
                total += self._write(dataset, day, events, extra_metadata, name_tag)
            return total

    def remember(self, event_id: str) -> None:
        """Treat ``event_id`` as already written (seeding the window after a crash)."""
        with self._lock:
            self._recent.add(event_id)

    def write_table(
        self, dataset: str, day: date, table: pa.Table, extra_metadata: dict[str, str] | None = None
    ) -> Path | None:
        """Write an Arrow table that already has the envelope columns (the bulk path).

        The bulk path skips the recent-id window (file ingest knows its files through the
        import ledger); duplicates from a forced re-import are dropped by compaction.
        """
        with self._lock:
            return self._write_table(dataset, day, table, extra_metadata)

    def write_table_async(self, dataset: str, day: date, table: pa.Table) -> None:
        """Like :meth:`write_table`, in a background thread, so the next chunk can be parsed
        while this one is compressed and written (both release the GIL).

        At most one write is in flight; :meth:`flush` (or the next call) waits for it and
        raises its error, if any.
        """
        self.wait()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-write")
        self._pending = self._executor.submit(self.write_table, dataset, day, table)

    def wait(self) -> None:
        """Wait for the background write, if one is in flight."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for background work and stop its thread."""
        self.wait()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def _write(
        self,
        dataset: str,
        day: date,
        events: Sequence[Event],
        extra_metadata: dict[str, str] | None = None,
        name_tag: str | None = None,
    ) -> int:
        if not events:
            return 0
        table = events_to_table(events, self._text_fields.setdefault(dataset, set()))
        self._write_table(dataset, day, table, extra_metadata, name_tag)
        return len(events)

    def _write_table(
        self,
        dataset: str,
        day: date,
        table: pa.Table,
        extra_metadata: dict[str, str] | None,
        name_tag: str | None = None,
    ) -> Path | None:
        if table.num_rows == 0:
            return None
        if not is_valid_dataset(dataset):
            raise InvalidInputError(f"dataset name {dataset!r} is not valid: use a-z, 0-9, '._-'")
        stamps = table.column(ev.TIMESTAMP)
        if stamps.null_count:
            fallback = table.column(ev.INGESTED) if ev.INGESTED in table.column_names else None
            if fallback is not None:
                stamps = pc.coalesce(stamps, fallback)
                table = table.set_column(
                    table.column_names.index(ev.TIMESTAMP), ev.TIMESTAMP, stamps
                )
        if not _is_sorted(table.column(ev.TIMESTAMP)):
            table = table.sort_by([(ev.TIMESTAMP, "ascending")])
        self._seq += 1
        uid = f"{self.uid}-{self._seq}" + (f"-{name_tag}" if name_tag else "")
        folder = partition_dir(self.lake_dir, dataset, day)
        final = write_lake_file(
            folder, dataset, table, uid, {**self.metadata, **(extra_metadata or {})}
        )
        self.stats.add(dataset, table.num_rows)
        self.stats.files += 1
        logger.debug("lake file written", extra={"path": str(final), "rows": table.num_rows})
        return final


def write_lake_file(
    folder: Path,
    dataset: str,
    table: pa.Table,
    uid: str,
    metadata: dict[str, str] | None = None,
    *,
    compact: bool = False,
) -> Path:
    """Write a table sorted by ``@timestamp`` as one lake file, atomically; returns its path.

    The name and the key-value metadata carry the min and max ``@timestamp`` and the row count.
    """
    bounds = pc.min_max(table.column(ev.TIMESTAMP))
    min_us = _micros(bounds["min"])
    max_us = _micros(bounds["max"])
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / file_name(min_us, max_us, table.num_rows, uid)
    temp = final.with_name(final.name + ".tmp")
    meta = {
        "tocsin.min_ts_us": str(min_us),
        "tocsin.max_ts_us": str(max_us),
        "tocsin.dataset": dataset,
        **(metadata or {}),
    }
    schema_meta = dict(table.schema.metadata or {})
    schema_meta.update({k.encode(): v.encode() for k, v in meta.items()})
    pq.write_table(
        table.replace_schema_metadata(schema_meta),
        temp,
        compression=COMPACT_COMPRESSION if compact else COMPRESSION,
        compression_level=COMPACT_LEVEL if compact else None,
        row_group_size=ROW_GROUP_SIZE,
    )
    os.replace(temp, final)
    return final


def _is_sorted(stamps: pa.ChunkedArray) -> bool:
    """True when the times already ascend (logs usually do): the sort's copy can be skipped."""
    if len(stamps) < 2:
        return True
    flat = stamps.combine_chunks() if isinstance(stamps, pa.ChunkedArray) else stamps
    ascending = pc.less_equal(flat.slice(0, len(flat) - 1), flat.slice(1))
    return bool(pc.all(ascending).as_py())


def _micros(scalar: pa.Scalar) -> int:
    value = scalar.value if scalar.is_valid else None
    if value is None:
        return 0
    return int(value)
