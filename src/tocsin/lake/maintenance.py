"""Lake upkeep: compaction of small files, retention by ingest day, and stats.

Only one compactor runs at a time (a lock file in the home). Compaction merges the small
files of each dataset's ingest day into larger ones sorted by ``@timestamp``, dropping
duplicate ``event.id`` values, then removes the originals. Retention deletes whole ingest days.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tocsin.core import event as ev
from tocsin.lake.layout import LakeFile, list_datasets, list_files
from tocsin.lake.writer import write_lake_file

logger = logging.getLogger(__name__)

SMALL_FILE_BYTES = 64 * 1024 * 1024
TARGET_ROWS = 2_000_000
MIN_AGE_SECONDS = 10.0


class CompactionBusyError(RuntimeError):
    """Another compactor holds the lock."""


@contextmanager
def compaction_lock(state_dir: Path) -> Iterator[None]:
    """Hold the home's compaction lock, or raise CompactionBusyError."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "compact.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise CompactionBusyError("another compaction is running") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(slots=True)
class CompactionReport:
    """What a compaction did."""

    partitions: int = 0
    files_in: int = 0
    files_out: int = 0
    duplicates: int = 0


def harmonise(tables: list[pa.Table]) -> list[pa.Table]:
    """Give tables with the same column names one type each (conflicts become strings)."""
    types: dict[str, pa.DataType] = {}
    conflict: set[str] = set()
    for table in tables:
        for fld in table.schema:
            known = types.get(fld.name)
            if known is None:
                types[fld.name] = fld.type
            elif known != fld.type:
                conflict.add(fld.name)
    if not conflict:
        return tables
    out = []
    for table in tables:
        for name in conflict & set(table.column_names):
            index = table.column_names.index(name)
            column = table.column(index)
            if pa.types.is_list(column.type):
                as_text = pa.array(
                    [None if v is None else str(v) for v in column.to_pylist()], type=pa.string()
                )
            else:
                as_text = column.cast(pa.string())
            table = table.set_column(index, name, as_text)
        out.append(table)
    return out


def compact(
    lake_dir: Path,
    state_dir: Path,
    *,
    min_age: float = MIN_AGE_SECONDS,
    small_bytes: int = SMALL_FILE_BYTES,
) -> CompactionReport:
    """Merge the small files of every partition; returns what was done."""
    report = CompactionReport()
    with compaction_lock(state_dir):
        partitions: dict[tuple[str, date], list[LakeFile]] = {}
        now = time.time()
        for lake_file in list_files(lake_dir):
            try:
                stat = lake_file.path.stat()
            except FileNotFoundError:
                continue
            if stat.st_size >= small_bytes or now - stat.st_mtime < min_age:
                continue
            partitions.setdefault((lake_file.dataset, lake_file.day), []).append(lake_file)
        for (dataset, _day), files in partitions.items():
            if len(files) < 2:
                continue
            report.partitions += 1
            report.files_in += len(files)
            written, dups = _merge(dataset, files)
            report.files_out += written
            report.duplicates += dups
    return report


def _merge(dataset: str, files: list[LakeFile]) -> tuple[int, int]:
    files = sorted(files, key=lambda f: f.min_us)
    tables = harmonise([pq.read_table(f.path) for f in files])
    table = pa.concat_tables(tables, promote_options="permissive")
    before = table.num_rows
    if ev.ID in table.column_names:
        ids = table.column(ev.ID)
        _, first = _first_occurrences(ids)
        if len(first) < before:
            table = table.take(pa.array(first))
    duplicates = before - table.num_rows
    table = table.sort_by([(ev.TIMESTAMP, "ascending")])
    folder = files[0].path.parent
    written = 0
    uid = uuid.uuid4().hex[:12]
    for start in range(0, table.num_rows, TARGET_ROWS):
        write_lake_file(
            folder, dataset, table.slice(start, TARGET_ROWS), f"c{uid}-{written}", compact=True
        )
        written += 1
    for lake_file in files:
        lake_file.path.unlink(missing_ok=True)
    return written, duplicates


def _first_occurrences(ids: pa.ChunkedArray) -> tuple[int, list[int]]:
    seen: set[object] = set()
    keep: list[int] = []
    for index, value in enumerate(ids.to_pylist()):
        if value is None or value not in seen:
            if value is not None:
                seen.add(value)
            keep.append(index)
    return len(seen), keep


@dataclass(slots=True)
class RetentionReport:
    """Ingest days removed by retention, per dataset."""

    removed: dict[str, list[str]]


def apply_retention(
    lake_dir: Path, days_by_dataset: dict[str, int], *, today: date | None = None
) -> RetentionReport:
    """Delete ingest days older than each dataset's retention (``*`` is the default)."""
    today = today or datetime.now(UTC).date()
    default = days_by_dataset.get("*")
    removed: dict[str, list[str]] = {}
    for dataset in list_datasets(lake_dir):
        keep_days = days_by_dataset.get(dataset, default)
        if keep_days is None:
            continue
        cutoff = today - timedelta(days=keep_days)
        dataset_dir = lake_dir / f"dataset={dataset}"
        for day_dir in sorted(dataset_dir.glob("day=*")):
            try:
                day = date.fromisoformat(day_dir.name[4:])
            except ValueError:
                continue
            if day < cutoff:
                shutil.rmtree(day_dir, ignore_errors=True)
                removed.setdefault(dataset, []).append(day.isoformat())
        if dataset in removed and not any(dataset_dir.iterdir()):
            dataset_dir.rmdir()  # a dataset with no day left is gone from stats and search
    return RetentionReport(removed)


@dataclass(frozen=True, slots=True)
class DatasetStats:
    """Size and span of one dataset."""

    dataset: str
    events: int
    bytes: int
    files: int
    days: int
    first: datetime | None
    last: datetime | None

    def to_row(self) -> dict[str, object]:
        """A JSON-ready row."""
        return {
            "dataset": self.dataset,
            "events": self.events,
            "bytes": self.bytes,
            "files": self.files,
            "days": self.days,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
        }


def lake_stats(lake_dir: Path) -> list[DatasetStats]:
    """Events, bytes, files, ingest days and time span per dataset (no file is opened)."""
    out: list[DatasetStats] = []
    for dataset in list_datasets(lake_dir):
        files = list_files(lake_dir, datasets=[dataset])
        size = 0
        for lake_file in files:
            try:
                size += lake_file.path.stat().st_size
            except FileNotFoundError:
                continue
        out.append(
            DatasetStats(
                dataset=dataset,
                events=sum(f.rows for f in files),
                bytes=size,
                files=len(files),
                days=len({f.day for f in files}),
                first=min((f.min_time for f in files), default=None),
                last=max((f.max_time for f in files), default=None),
            )
        )
    return out
