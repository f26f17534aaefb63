"""The durable spool: listeners write what they accepted here before acknowledging.

Records are appended to segment files ``seg-<n>.spool`` as ``<length:u32><crc32:u32><body>``,
the body being one JSON line of metadata, a newline, then the raw payload. A consumer reads
from its checkpoint, and commits a new checkpoint only after the lake has the events. After a
crash the spool is read again from the checkpoint; a torn record at the end of a segment (the
crash hit mid-write, so it was never acknowledged) is cut off.

The spool is bounded: when more than ``max_bytes`` wait unconsumed, :meth:`Spool.is_full` tells
listeners to stop reading (TCP) or answer 503 (HTTP) until the consumer catches up.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
SEGMENT_BYTES = 64 * 1024 * 1024
_CHECKPOINT = "checkpoint"


@dataclass(frozen=True, slots=True, order=True)
class SpoolPosition:
    """A place in the spool: segment number and byte offset within it."""

    segment: int
    offset: int

    def __str__(self) -> str:
        return f"{self.segment}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> SpoolPosition:
        """Read ``segment:offset``."""
        segment, offset = text.strip().split(":")
        return cls(int(segment), int(offset))


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One accepted input: a syslog message or an HTTP body, with where it came from.

    ``kind`` is ``syslog`` or ``http``; ``format`` and ``dataset`` are hints for the parser.
    """

    kind: str
    source: str
    payload: bytes
    received: float
    format: str | None = None
    dataset: str | None = None

    def encode(self) -> bytes:
        """The record's body as stored."""
        meta = {"k": self.kind, "s": self.source, "t": self.received}
        if self.format:
            meta["f"] = self.format
        if self.dataset:
            meta["d"] = self.dataset
        return orjson.dumps(meta) + b"\n" + self.payload

    @classmethod
    def decode(cls, body: bytes) -> SpoolRecord:
        """Read a stored body."""
        meta_raw, _, payload = body.partition(b"\n")
        meta = orjson.loads(meta_raw)
        return cls(
            kind=meta["k"],
            source=meta["s"],
            payload=payload,
            received=meta["t"],
            format=meta.get("f"),
            dataset=meta.get("d"),
        )


_LENGTH = struct.Struct("<I")

SYSLOG = "syslog"
"""Record kind: one syslog message."""
SYSLOG_BATCH = "syslog_batch"
"""Record kind: the syslog messages one read from one peer gave, packed by
:func:`pack_messages` (one record, one metadata line and one checksum for them all)."""


def pack_messages(messages: list[bytes]) -> bytes:
    """Pack messages as ``<length:u32><message>`` each."""
    return b"".join(_LENGTH.pack(len(m)) + m for m in messages)


def unpack_messages(payload: bytes) -> list[bytes]:
    """The messages of a packed payload."""
    out: list[bytes] = []
    cursor = 0
    size = len(payload)
    while cursor + 4 <= size:
        (length,) = _LENGTH.unpack_from(payload, cursor)
        cursor += 4
        out.append(payload[cursor : cursor + length])
        cursor += length
    return out


def _decode(body: bytes, crc: int) -> SpoolRecord | None:
    """The record, or None when its checksum or metadata is damaged."""
    if zlib.crc32(body) != crc:
        return None
    try:
        return SpoolRecord.decode(body)
    except (ValueError, KeyError, TypeError):
        return None


def _rest_of_segment(path: Path, offset: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read()


def _segment_path(folder: Path, number: int) -> Path:
    return folder / f"seg-{number:012d}.spool"


def _segment_number(path: Path) -> int:
    return int(path.stem.split("-", 1)[1])


class Spool:
    """Append records durably; read them back from a checkpoint."""

    def __init__(
        self,
        folder: Path,
        *,
        max_bytes: int = 1 << 30,
        fsync: bool = False,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        segments = self.segments()
        self._current = segments[-1] if segments else 1
        path = _segment_path(folder, self._current)
        self._repair(path)
        self._handle = path.open("ab")
        self._size = self._handle.tell()
        self._checkpoint = self.read_checkpoint()
        self._corrupt: list[tuple[SpoolPosition, bytes]] = []

    # -- writing ------------------------------------------------------------------------------
    def append(self, records: list[SpoolRecord]) -> SpoolPosition:
        """Append records; when this returns they are on disk (in the page cache, or fsynced
        when configured) and may be acknowledged. Returns the position after them."""
        if not records:
            return self.end()
        chunks = []
        for record in records:
            body = record.encode()
            chunks.append(_HEADER.pack(len(body), zlib.crc32(body)))
            chunks.append(body)
        data = b"".join(chunks)
        with self._lock:
            if self._size and self._size + len(data) > self.segment_bytes:
                self._rotate()
            self._handle.write(data)
            self._handle.flush()
            if self.fsync:
                os.fsync(self._handle.fileno())
            self._size += len(data)
            position = SpoolPosition(self._current, self._size)
            self._appended.notify_all()
        return position

    def _rotate(self) -> None:
        self._handle.close()
        self._current += 1
        self._handle = _segment_path(self.folder, self._current).open("ab")
        self._size = 0

    def end(self) -> SpoolPosition:
        """The position after the last appended record."""
        with self._lock:
            return SpoolPosition(self._current, self._size)

    def wait_for_data(self, after: SpoolPosition, timeout: float) -> bool:
        """Block until something was appended after ``after`` (or the timeout)."""
        with self._lock:
            if SpoolPosition(self._current, self._size) > after:
                return True
            self._appended.wait(timeout)
            return SpoolPosition(self._current, self._size) > after

    # -- reading ------------------------------------------------------------------------------
    def segments(self) -> list[int]:
        """Segment numbers on disk, in order."""
        return sorted(_segment_number(p) for p in self.folder.glob("seg-*.spool"))

    def read(
        self, start: SpoolPosition, *, max_records: int = 50_000, max_bytes: int = 64 * 1024 * 1024
    ) -> tuple[list[tuple[SpoolPosition, SpoolRecord]], SpoolPosition]:
        """Read complete records after ``start``; returns them (each with the position where it
        starts) and the position after the last one read."""
        out: list[tuple[SpoolPosition, SpoolRecord]] = []
        position = start
        budget = max_bytes
        # Listed before reading: a segment that is not the newest here is complete (the writer
        # rotated away from it), while the newest may still grow after it was read.
        segments = self.segments()
        for number in segments:
            if number < position.segment:
                continue
            offset = position.offset if number == position.segment else 0
            path = _segment_path(self.folder, number)
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read(budget)
                if not out and len(data) >= _HEADER.size:
                    # a single record larger than the budget is still read whole
                    length = _HEADER.unpack_from(data, 0)[0]
                    if _HEADER.size + length > len(data):
                        data += handle.read(_HEADER.size + length - len(data))
            cursor = 0
            data_exhausted = False
            while len(out) < max_records and cursor + _HEADER.size <= len(data):
                length, crc = _HEADER.unpack_from(data, cursor)
                end = cursor + _HEADER.size + length
                if end > len(data):
                    if number != segments[-1] and offset + len(data) >= path.stat().st_size:
                        # a complete segment whose last length field points past its end:
                        # damaged, not still being written
                        self._corrupt.append(
                            (SpoolPosition(number, offset + cursor), data[cursor:])
                        )
                        cursor = len(data)
                        data_exhausted = True
                    break
                body = data[cursor + _HEADER.size : end]
                record = _decode(body, crc)
                if record is None:
                    logger.error(
                        "spool record fails its checksum",
                        extra={"segment": number, "offset": offset + cursor},
                    )
                    if number != segments[-1]:
                        # A complete segment damaged on disk: its rest cannot be framed any
                        # more. Hand the bytes over for the quarantine and go on.
                        self._corrupt.append(
                            (
                                SpoolPosition(number, offset + cursor),
                                _rest_of_segment(path, offset + cursor),
                            )
                        )
                        cursor = len(data)
                        data_exhausted = True
                    break
                out.append((SpoolPosition(number, offset + cursor), record))
                cursor = end
            position = SpoolPosition(number, offset + cursor)
            budget -= cursor
            if data_exhausted and number != segments[-1]:
                position = SpoolPosition(number + 1, 0)
                continue
            if len(out) >= max_records or budget <= 0 or cursor < len(data):
                break
            # this segment is exhausted: continue with the next one, if it exists
            if number != segments[-1]:
                position = SpoolPosition(number + 1, 0)
        return out, position

    def take_corrupt(self) -> list[tuple[SpoolPosition, bytes]]:
        """Damaged spans met by :meth:`read` since the last call (position, raw bytes)."""
        spans, self._corrupt = self._corrupt, []
        return spans

    # -- checkpoints -------------------------------------------------------------------------
    def read_checkpoint(self) -> SpoolPosition:
        """The consumer's last committed position (the spool start when none)."""
        path = self.folder / _CHECKPOINT
        if path.is_file():
            try:
                return SpoolPosition.parse(path.read_text())
            except ValueError:
                logger.error("spool checkpoint unreadable; replaying from the first segment")
        segments = self.segments()
        return SpoolPosition(segments[0] if segments else 1, 0)

    def commit(self, position: SpoolPosition) -> None:
        """Record that everything before ``position`` is in the lake; drop consumed segments."""
        path = self.folder / _CHECKPOINT
        temp = path.with_suffix(".tmp")
        temp.write_text(str(position))
        if self.fsync:
            with temp.open("rb") as handle:
                os.fsync(handle.fileno())
        os.replace(temp, path)
        with self._lock:
            self._checkpoint = position
            current = self._current
        for number in self.segments():
            if number < position.segment and number != current:
                _segment_path(self.folder, number).unlink(missing_ok=True)

    def pending_bytes(self) -> int:
        """Bytes appended but not yet committed by the consumer."""
        with self._lock:
            checkpoint = self._checkpoint
            current, size = self._current, self._size
        if checkpoint.segment == current:
            return max(0, size - checkpoint.offset)
        total = size
        for number in self.segments():
            if checkpoint.segment <= number < current:
                try:
                    total += _segment_path(self.folder, number).stat().st_size
                except FileNotFoundError:
                    continue
        return max(0, total - checkpoint.offset)

    def is_full(self) -> bool:
        """True when listeners should stop accepting (backpressure)."""
        return self.pending_bytes() >= self.max_bytes

    def _repair(self, path: Path) -> None:
        """Cut a torn record off the end of the newest segment (left by a crash)."""
        if not path.exists():
            return
        data = path.read_bytes()
        cursor = 0
        while cursor + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, cursor)
            end = cursor + _HEADER.size + length
            if end > len(data) or zlib.crc32(data[cursor + _HEADER.size : end]) != crc:
                break
            cursor = end
        if cursor < len(data):
            logger.warning(
                "cutting a torn record off the spool",
                extra={"segment": path.name, "bytes": len(data) - cursor},
            )
            with path.open("r+b") as handle:
                handle.truncate(cursor)

    def close(self) -> None:
        """Close the segment being written."""
        with self._lock:
            self._handle.close()


def now() -> float:
    """Seconds since the epoch, for ``SpoolRecord.received``."""
    return time.time()
