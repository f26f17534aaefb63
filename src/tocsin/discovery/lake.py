"""Secrets and personal data that leaked into logs: scan events in the lake.

Each dataset gives at most ``max_rows`` events, newest files first, within the time window.
An event is scanned by its raw record (``event.original``), which holds every field as the
source sent it; a dataset without raw records is scanned by its text columns, each as
``field: value``. ``discovery.finding`` events are never scanned (they hold masked values).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tocsin.lake.layout import list_datasets, list_files

SKIP_DATASETS = frozenset({"discovery.finding"})
RAW = "event.original"


@dataclass(frozen=True, slots=True)
class LakeRecord:
    """One value of one event."""

    dataset: str
    event_id: str
    field: str
    text: str


def iter_lake_records(
    lake_dir: Path,
    *,
    datasets: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_rows: int = 1000,
) -> Iterator[LakeRecord]:
    """Values to scan, dataset by dataset, newest files first."""
    for dataset in datasets if datasets else list_datasets(lake_dir):
        if dataset in SKIP_DATASETS:
            continue
        files = sorted(
            list_files(lake_dir, datasets=[dataset], since=since, until=until),
            key=lambda f: f.max_us,
            reverse=True,
        )
        left = max_rows
        for lake_file in files:
            if left <= 0:
                break
            schema = pq.read_schema(lake_file.path)
            names = set(schema.names)
            if RAW in names:
                fields = [RAW]
            else:
                fields = [
                    f.name
                    for f in schema
                    if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                ]
                fields = [f for f in fields if f not in ("event.id", "event.dataset")]
            if not fields or "event.id" not in names:
                continue
            table = pq.read_table(lake_file.path, columns=["event.id", *fields])
            if table.num_rows > left:
                table = table.slice(table.num_rows - left)
            ids = table.column("event.id").to_pylist()
            for name in fields:
                for event_id, value in zip(ids, table.column(name).to_pylist(), strict=True):
                    if value:
                        yield LakeRecord(dataset, str(event_id), name, str(value))
            left -= table.num_rows
