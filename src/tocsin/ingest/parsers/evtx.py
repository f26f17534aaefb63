"""EVTX files, read with the Rust ``evtx`` package (pyevtx-rs), never python-evtx.

Each record comes out of ``PyEvtxParser.records_json()`` as compact JSON; it is decoded once
with orjson and flattened by :mod:`tocsin.ingest.parsers.windows`. ``event.original`` is that
JSON text as the package renders it, and ``event.id`` is made from the record's id in the file
header (the System ``EventRecordID`` repeats in merged and forwarded logs).

Damage is reported, never fatal:

* a record or chunk the package cannot read becomes a :class:`ParseIssue` (with the raw bytes of
  its chunk) and reading goes on with the next;
* a file cut short (fewer whole chunks than its header declares, or a partial last chunk) gets
  one issue; the cut chunk is mended (:func:`mend_cut_chunk`) so that the records lying whole
  before the cut are read;
* if the iterator itself dies, one issue names the file and the last record read, and the
  events read so far are kept.
"""

from __future__ import annotations

import io
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar, cast

import orjson
from evtx import PyEvtxParser

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.ingest.base import ParseBatch, ParseContext, ParseIssue
from tocsin.ingest.parsers.windows import windows_event

EVTX_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512
RECORD_MAGIC = b"**\x00\x00"
MAX_CONSECUTIVE_FAILURES = 1000
BATCH_SIZE = 2048
"""Events per batch: below the usual 8192 because a smaller working set is markedly faster
(freshly allocated memory is what a batch of decoded records costs most on small machines)."""

_RECORD_NUMBER = re.compile(r"record (?:number|IDs) (\d+)")
_CHUNK_NUMBER = re.compile(r"chunk number (\d+)")


@dataclass(slots=True)
class _EvtxInput:
    """The file handed to the evtx package: a path when it is intact on disk, else bytes."""

    source: str
    path: str | None
    data: bytes | None
    size: int
    damage: str | None = None
    reported_chunks: set[int] = field(default_factory=set)

    def target(self) -> str | BinaryIO:
        return self.path if self.path is not None else io.BytesIO(self.data or b"")

    def read(self, offset: int, length: int) -> bytes:
        if self.data is not None:
            return self.data[offset : offset + length]
        if self.path is None:
            return b""
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def chunk_of(self, message: str) -> int | None:
        """Find the chunk an evtx error message is about (by chunk or record number)."""
        match = _CHUNK_NUMBER.search(message)
        if match:
            return int(match.group(1))
        match = _RECORD_NUMBER.search(message)
        if not match:
            return None
        record_id = int(match.group(1))
        for index in range(max(0, (self.size - HEADER_SIZE) // CHUNK_SIZE)):
            head = self.read(HEADER_SIZE + index * CHUNK_SIZE, 40)
            if len(head) < 40 or not head.startswith(CHUNK_MAGIC):
                continue
            first, last = struct.unpack_from("<QQ", head, 24)
            if first <= record_id <= last:
                return index
        return None

    def issue(self, reason: str, *, chunk: int | None = None) -> ParseIssue:
        """An issue about this file, carrying the raw bytes of ``chunk`` the first time."""
        offset = 0
        raw = b""
        if chunk is not None:
            offset = HEADER_SIZE + chunk * CHUNK_SIZE
            if chunk not in self.reported_chunks:
                self.reported_chunks.add(chunk)
                raw = self.read(offset, CHUNK_SIZE)
            reason = f"{reason} (chunk {chunk} at offset {offset})"
        return ParseIssue(self.source, offset, None, reason, raw, EvtxParser.id)


def _disk_file(stream: BinaryIO) -> tuple[str, int] | None:
    """The path and descriptor of a stream that is a plain file on disk, else None."""
    raw = getattr(stream, "raw", stream)
    name = getattr(raw, "name", None)
    if not isinstance(raw, io.FileIO) or not isinstance(name, str):
        return None
    try:
        if not os.path.samestat(os.fstat(raw.fileno()), os.stat(name)):
            return None  # renamed or replaced since it was opened
    except OSError:
        return None
    return name, raw.fileno()


def find_damage(header: bytes, size: int) -> str | None:
    """Say how a file is cut short, judging by its header's chunk count and its size."""
    if size <= HEADER_SIZE or not header.startswith(EVTX_MAGIC) or len(header) < 44:
        return None
    declared = struct.unpack_from("<H", header, 42)[0]
    whole, partial = divmod(size - HEADER_SIZE, CHUNK_SIZE)
    if partial == 0 and whole >= declared:
        return None
    text = f"file truncated: its header declares {declared} chunks, it holds {whole} whole chunks"
    if partial:
        text += f" and {partial} bytes of the next (its complete records were read)"
    return text + "; the records after the cut are lost"


def open_evtx_input(stream: BinaryIO, source: str) -> _EvtxInput:
    """Prepare an input for the evtx package: the path if intact on disk, else padded bytes."""
    disk = _disk_file(stream)
    if disk is not None:
        path, descriptor = disk
        size = os.fstat(descriptor).st_size
        damage = find_damage(os.pread(descriptor, HEADER_SIZE, 0), size)
        if damage is None:
            return _EvtxInput(source, path, None, size)
        with open(path, "rb") as handle:
            data = handle.read()
    else:
        data = stream.read()
        size = len(data)
        damage = find_damage(data[:HEADER_SIZE], size)
    if damage is not None:
        data = mend_cut_chunk(data, size)
    return _EvtxInput(source, None, data, size, damage)


def mend_cut_chunk(data: bytes, size: int) -> bytes:
    """Make a file cut inside a chunk readable up to the last record lying whole before the cut.

    The cut chunk is padded with zeros and its header made to end at that record (records
    follow the 512-byte chunk header, each starting with ``**\\0\\0``, its size and its id);
    a chunk with no whole record is dropped. Without this the evtx package skips the whole
    chunk, or, padded only, reads the record across the cut from the zeros.
    """
    partial = (size - HEADER_SIZE) % CHUNK_SIZE if size > HEADER_SIZE else 0
    if not partial:
        return data
    start = size - partial
    chunk = data[start:]
    count = 0
    last: tuple[int, int] | None = None  # (offset, id) of the last whole record
    position = CHUNK_HEADER_SIZE
    if chunk.startswith(CHUNK_MAGIC):
        while position + 24 <= len(chunk) and chunk.startswith(RECORD_MAGIC, position):
            length, record_id = struct.unpack_from("<IQ", chunk, position + 4)
            if length < 24 or position + length > len(chunk):
                break
            last = (position, record_id)
            count += 1
            position += length
    if last is None:
        return data[:start]
    mended = bytearray(chunk)
    mended += bytes(CHUNK_SIZE - partial)
    first_number = struct.unpack_from("<Q", mended, 8)[0]
    struct.pack_into("<Q", mended, 16, first_number + count - 1)  # last record number
    struct.pack_into("<Q", mended, 32, last[1])  # last record id
    struct.pack_into("<II", mended, 44, last[0], position)  # last record, free space offsets
    return data[:start] + bytes(mended)


class EvtxParser:
    """Windows EVTX files: every record flattened the way Sigma expects, with ECS fields."""

    id: ClassVar[str] = "evtx"
    threads: ClassVar[int] = 1
    """Worker threads of the evtx package: 0, 1 and 2 measure the same on 2 cores (its record
    iterator parses one chunk at a time), so no thread pool is started."""

    def sniff(self, head: bytes) -> int:
        """An EVTX file starts with ``ElfFile\\0``."""
        return 100 if head.startswith(EVTX_MAGIC) else 0

    def parse_stream(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseBatch]:
        """Parse every readable record; damaged records and files become issues."""
        evtx_input = open_evtx_input(stream, ctx.source)
        size = evtx_input.size
        issues: list[ParseIssue] = []
        if evtx_input.damage is not None:
            issues.append(evtx_input.issue(evtx_input.damage))
        try:
            parser = PyEvtxParser(evtx_input.target(), number_of_threads=self.threads)
            records = cast("Iterator[dict[str, Any]]", parser.records_json())
        except (OSError, RuntimeError, ValueError) as exc:
            issues.append(evtx_input.issue(f"cannot read as EVTX: {exc}"))
            yield ParseBatch([], issues, size)
            return
        events: list[Event] = []
        forced = ctx.dataset
        event_id = ctx.event_id
        loads = orjson.loads
        record_id: int | None = None
        failures = 0
        while True:
            try:
                for record in records:
                    failures = 0
                    data = record["data"]
                    record_id = record["event_record_id"]
                    try:
                        event = windows_event(loads(data), forced)
                    except Exception as exc:  # whatever fails, it is this record's issue
                        issues.append(
                            ParseIssue(
                                ctx.source,
                                0,
                                None,
                                f"record {record_id}: {type(exc).__name__}: {exc}",
                                data.encode(),
                                self.id,
                            )
                        )
                        continue
                    event[ev.ID] = event_id(record_id)
                    event[ev.ORIGINAL] = data
                    events.append(event)
                    if len(events) >= BATCH_SIZE:
                        yield ParseBatch(events, issues, size)
                        events, issues = [], []
                break
            except RuntimeError as exc:  # one bad record or chunk; the iterator goes on
                failures += 1
                message = str(exc)
                issues.append(evtx_input.issue(message, chunk=evtx_input.chunk_of(message)))
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    issues.append(
                        evtx_input.issue(
                            f"gave up after {failures} failures in a row; last record read: "
                            f"{record_id}"
                        )
                    )
                    break
            except Exception as exc:  # the native iterator died: keep what was read
                issues.append(
                    evtx_input.issue(
                        f"reading {ctx.source} stopped: {type(exc).__name__}: {exc}; "
                        f"last record read: {record_id}"
                    )
                )
                break
        _seek_to_end(stream)
        yield ParseBatch(events, issues, size)


def _seek_to_end(stream: BinaryIO) -> None:
    """Leave a file stream at its end, so progress shows it as read."""
    try:
        if stream.seekable():
            stream.seek(0, os.SEEK_END)
    except (OSError, ValueError):
        pass
