"""The lake's file layout: where each file goes and what its name says about it.

``lake/dataset=<name>/day=<YYYY-MM-DD>/p_<min_us>_<max_us>_<rows>_<uid>.parquet``

The name records the file's min and max ``@timestamp`` (microseconds since the epoch, UTC) and
its row count, so search and stats can skip files and count rows without opening any. The same
figures are also in the file's key-value metadata. A file being written ends in ``.tmp`` and is
renamed into place when complete, so readers only ever see whole files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

_NAME = re.compile(r"^p_(-?\d+)_(-?\d+)_(\d+)_([0-9a-zA-Z-]+)\.parquet$")
_DATASET_OK = re.compile(r"^[a-z0-9_][a-z0-9_.\-]*$")


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One Parquet file of the lake and what its path tells."""

    path: Path
    dataset: str
    day: date
    min_us: int
    max_us: int
    rows: int

    @property
    def min_time(self) -> datetime:
        """Earliest ``@timestamp`` in the file."""
        return datetime.fromtimestamp(self.min_us / 1e6, UTC)

    @property
    def max_time(self) -> datetime:
        """Latest ``@timestamp`` in the file."""
        return datetime.fromtimestamp(self.max_us / 1e6, UTC)


def is_valid_dataset(name: str) -> bool:
    """True when ``name`` is a safe dataset name (lowercase letters, digits, ``._-``)."""
    return bool(_DATASET_OK.match(name)) and ".." not in name


def file_name(min_us: int, max_us: int, rows: int, uid: str) -> str:
    """Return the name of a lake file with these figures."""
    return f"p_{min_us}_{max_us}_{rows}_{uid}.parquet"


def partition_dir(lake: Path, dataset: str, day: date) -> Path:
    """Return the folder of one dataset's ingest day."""
    return lake / f"dataset={dataset}" / f"day={day.isoformat()}"


def list_datasets(lake: Path) -> list[str]:
    """Return the datasets that have a folder in the lake."""
    if not lake.is_dir():
        return []
    return sorted(
        entry.name.split("=", 1)[1]
        for entry in lake.iterdir()
        if entry.is_dir() and entry.name.startswith("dataset=")
    )


def list_files(
    lake: Path,
    *,
    datasets: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[LakeFile]:
    """List the lake's complete files, optionally only those that may hold events in a range."""
    since_us = int(since.timestamp() * 1e6) if since else None
    until_us = int(until.timestamp() * 1e6) if until else None
    out: list[LakeFile] = []
    for dataset in datasets if datasets is not None else list_datasets(lake):
        dataset_dir = lake / f"dataset={dataset}"
        if not dataset_dir.is_dir():
            continue
        for day_dir in dataset_dir.iterdir():
            if not day_dir.name.startswith("day="):
                continue
            try:
                day = date.fromisoformat(day_dir.name[4:])
            except ValueError:
                continue
            try:
                names = [entry.name for entry in day_dir.iterdir()]
            except FileNotFoundError:  # removed by retention meanwhile
                continue
            for name in names:
                match = _NAME.match(name)
                if match is None:
                    continue
                min_us, max_us, rows = int(match[1]), int(match[2]), int(match[3])
                if since_us is not None and max_us < since_us:
                    continue
                if until_us is not None and min_us > until_us:
                    continue
                out.append(LakeFile(day_dir / name, dataset, day, min_us, max_us, rows))
    return out
