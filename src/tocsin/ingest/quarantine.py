"""The quarantine: records that were accepted but could not be parsed.

Each record is kept with its raw bytes, origin and reason in NDJSON files under
``<home>/quarantine/``, one file per writer. ``retry`` parses them again (after a parser fix or
with another format); records that now parse go to the lake and leave the quarantine.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from tocsin.ingest.base import ParseIssue


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    """A quarantined record as stored."""

    id: str
    time: datetime
    source: str
    identity: str
    offset: int
    line: int | None
    parser: str
    reason: str
    raw: bytes
    dataset: str | None

    @property
    def where(self) -> str:
        """``source:line`` or ``source@offset``."""
        return (
            f"{self.source}:{self.line}"
            if self.line is not None
            else f"{self.source}@{self.offset}"
        )

    def to_row(self) -> dict[str, object]:
        """A JSON-ready row for listings (raw shown as text, cut to 200 characters)."""
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "where": self.where,
            "parser": self.parser,
            "reason": self.reason,
            "raw": self.raw[:200].decode("utf-8", errors="replace"),
        }


class Quarantine:
    """Append and read quarantined records."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._file = folder / f"q-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}.ndjson"

    def add(
        self, issues: Iterable[ParseIssue], *, identity: str, dataset: str | None = None
    ) -> int:
        """Store issues; returns how many were stored."""
        lines: list[bytes] = []
        now = datetime.now(UTC).isoformat()
        for issue in issues:
            lines.append(
                orjson.dumps(
                    {
                        "id": _record_id(identity, issue),
                        "time": now,
                        "source": issue.source,
                        "identity": identity,
                        "offset": issue.offset,
                        "line": issue.line,
                        "parser": issue.parser,
                        "reason": issue.reason,
                        "raw": base64.b64encode(issue.raw).decode(),
                        "dataset": dataset,
                    }
                )
            )
        if not lines:
            return 0
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with self._file.open("ab") as handle:
                handle.write(b"\n".join(lines) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
        return len(lines)

    def records(self) -> Iterator[QuarantinedRecord]:
        """Every quarantined record, oldest file first, each once.

        A spool replayed after a crash meets the same bad records again; they carry the same
        id (source identity, position, raw bytes), so they are listed once.
        """
        if not self.folder.is_dir():
            return
        seen: set[str] = set()
        for path in sorted(self.folder.glob("q-*.ndjson")):
            for record in _read(path):
                if record.id not in seen:
                    seen.add(record.id)
                    yield record

    def count(self) -> int:
        """How many records are quarantined."""
        return sum(1 for _ in self.records())

    def remove(self, ids: set[str]) -> int:
        """Remove records by id (after a successful retry); returns how many were removed."""
        removed = 0
        with self._lock:
            for path in sorted(self.folder.glob("q-*.ndjson")):
                keep: list[bytes] = []
                changed = False
                for raw_line in path.read_bytes().splitlines():
                    if not raw_line.strip():
                        continue
                    row = orjson.loads(raw_line)
                    if row.get("id") in ids:
                        removed += 1
                        changed = True
                    else:
                        keep.append(raw_line)
                if not changed:
                    continue
                if keep:
                    temp = path.with_suffix(".tmp")
                    temp.write_bytes(b"\n".join(keep) + b"\n")
                    os.replace(temp, path)
                else:
                    path.unlink()
        return removed


def _record_id(identity: str, issue: ParseIssue) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in (identity, str(issue.offset), str(issue.line), issue.parser):
        digest.update(part.encode())
        digest.update(b"\x00")
    digest.update(issue.raw)
    return digest.hexdigest()


def _read(path: Path) -> Iterator[QuarantinedRecord]:
    for raw_line in path.read_bytes().splitlines():
        if not raw_line.strip():
            continue
        try:
            row = orjson.loads(raw_line)
            yield QuarantinedRecord(
                id=row["id"],
                time=datetime.fromisoformat(row["time"]),
                source=row["source"],
                identity=row.get("identity", ""),
                offset=int(row["offset"]),
                line=row.get("line"),
                parser=row["parser"],
                reason=row["reason"],
                raw=base64.b64decode(row["raw"]),
                dataset=row.get("dataset"),
            )
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError):
            continue  # a torn last line after a crash; the rest is intact
