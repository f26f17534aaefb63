"""Stored captures: the packets behind the lake's flows, under a size and age budget.

``tocsin pcap import`` copies each capture into ``<home>/pcap/captures/`` and writes beside it a
packet index (``<id>.index.parquet``: frame number, byte offset in the capture, flow sequence),
so the packets of any flow can be cut out again later. A small catalogue (``catalogue.json``,
rewritten atomically under a lock) lists what is stored. Retention deletes the oldest captures
and their indexes beyond ``pcap_store_max_gb`` or ``pcap_store_max_days``; their flows and
metadata stay in the lake (the lake has its own retention), only the packets go.
"""

from __future__ import annotations

import builtins
import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from tocsin.core.errors import NotFoundError
from tocsin.core.settings import Settings

CATALOGUE = "catalogue.json"


@dataclass(slots=True)
class StoredCapture:
    """One stored capture, as the catalogue lists it."""

    id: str
    name: str
    file: str  # the stored copy, relative to the pcap folder
    size: int
    imported_at: str
    source: str = ""
    packets: int = 0
    flows: int = 0
    first: str | None = None
    last: str | None = None
    anomalies: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """The entry, JSON-ready."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Usage:
    """What the store holds against its budget."""

    captures: int
    bytes: int
    max_bytes: int
    max_days: float
    oldest: str | None

    def to_dict(self) -> dict[str, object]:
        """The figures, JSON-ready."""
        return asdict(self)


class CaptureStore:
    """The stored captures of a home."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.pcap_dir
        self.captures_dir = self.root / "captures"

    def capture_path(self, entry: StoredCapture) -> Path:
        """Where the stored copy of a capture is."""
        return self.root / entry.file

    def index_path(self, capture_id: str) -> Path:
        """Where a capture's packet index is."""
        return self.captures_dir / f"{capture_id}.index.parquet"

    @contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, object]]]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entries = self._read()
                yield entries
                self._write(entries)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, dict[str, object]]:
        path = self.root / CATALOGUE
        if not path.is_file():
            return {}
        data = orjson.loads(path.read_bytes())
        return data if isinstance(data, dict) else {}

    def _write(self, entries: dict[str, dict[str, object]]) -> None:
        path = self.root / CATALOGUE
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(entries, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)

    def list(self) -> list[StoredCapture]:
        """Every stored capture, oldest import first."""
        entries = [StoredCapture(**e) for e in self._read().values()]  # type: ignore[arg-type]
        return sorted(entries, key=lambda e: e.imported_at)

    def get(self, capture_id: str) -> StoredCapture:
        """One stored capture; NotFoundError when it is not (or no longer) stored."""
        entry = self._read().get(capture_id)
        if entry is None:
            raise NotFoundError(
                f"capture {capture_id} is not stored (never imported, or removed by retention)"
            )
        return StoredCapture(**entry)  # type: ignore[arg-type]

    def has(self, capture_id: str) -> bool:
        """True when the capture is stored."""
        return capture_id in self._read()

    def keep(self, source: Path, capture_id: str) -> StoredCapture:
        """Copy a capture into the store (before it is read, so offsets are the copy's)."""
        self.captures_dir.mkdir(parents=True, exist_ok=True)
        suffix = "".join(source.suffixes[-2:]) if source.suffix == ".gz" else source.suffix
        target = self.captures_dir / f"{capture_id}{suffix or '.pcap'}"
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        return StoredCapture(
            id=capture_id,
            name=source.name,
            file=str(target.relative_to(self.root)),
            size=target.stat().st_size,
            imported_at=datetime.now(UTC).isoformat(),
            source=str(source),
        )

    def record(self, entry: StoredCapture) -> None:
        """Add or replace a catalogue entry."""
        with self._locked() as entries:
            entries[entry.id] = entry.to_dict()

    def remove(self, capture_id: str) -> StoredCapture:
        """Delete a stored capture and its index."""
        with self._locked() as entries:
            raw = entries.pop(capture_id, None)
            if raw is None:
                raise NotFoundError(f"capture {capture_id} is not stored")
            entry = StoredCapture(**raw)  # type: ignore[arg-type]
            self._delete_files(entry)
        return entry

    def _delete_files(self, entry: StoredCapture) -> None:
        for path in (self.capture_path(entry), self.index_path(entry.id)):
            path.unlink(missing_ok=True)

    def usage(self) -> Usage:
        """Bytes and captures stored, against the budget."""
        entries = self.list()
        total = sum(e.size + _size(self.index_path(e.id)) for e in entries)
        return Usage(
            captures=len(entries),
            bytes=total,
            max_bytes=int(self.settings.pcap_store_max_gb * 2**30),
            max_days=self.settings.pcap_store_max_days,
            oldest=entries[0].imported_at if entries else None,
        )

    def enforce(self, *, now: datetime | None = None) -> builtins.list[StoredCapture]:
        """Delete the captures beyond the age budget, then the oldest beyond the size budget.

        The newest capture is never removed for size: a capture larger than the whole budget
        is kept until the next one arrives, so an import always leaves its packets behind.
        """
        moment = now or datetime.now(UTC)
        max_bytes = int(self.settings.pcap_store_max_gb * 2**30)
        days = self.settings.pcap_store_max_days
        removed: builtins.list[StoredCapture] = []
        with self._locked() as entries:
            ordered = sorted(
                (StoredCapture(**e) for e in entries.values()),  # type: ignore[arg-type]
                key=lambda e: e.imported_at,
            )
            sizes = {e.id: e.size + _size(self.index_path(e.id)) for e in ordered}
            total = sum(sizes.values())
            for position, entry in enumerate(ordered):
                too_old = days > 0 and datetime.fromisoformat(entry.imported_at) < moment - (
                    timedelta(days=days)
                )
                newest = position == len(ordered) - 1  # the size budget keeps the last import
                if not too_old and (total <= max_bytes or newest):
                    continue
                entries.pop(entry.id, None)
                self._delete_files(entry)
                total -= sizes[entry.id]
                removed.append(entry)
        return removed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
