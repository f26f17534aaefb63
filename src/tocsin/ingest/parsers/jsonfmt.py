"""JSON input in every shape logs come in, and the generic JSON parser.

Input may be one object, an array of objects, NDJSON, or concatenated (even pretty-printed)
objects as ``evtx_dump`` writes them. :func:`iter_json_records` splits any of these into
records with their byte offsets; the JSON-based format parsers (Zeek JSON, Suricata EVE,
CloudTrail, Windows JSON, journald) build on :class:`JsonRecordParser`.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, ClassVar

import orjson

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.core.flatten import flatten
from tocsin.core.timeutil import parse_timestamp
from tocsin.ingest.base import BATCH_SIZE, ParseBatch, ParseContext, ParseIssue

_CHUNK = 1 << 20


@dataclass(slots=True)
class JsonRecord:
    """One JSON record of an input: where it starts, its raw text, and the decoded value.

    ``value`` is the decoded object, or None with ``error`` set when the record is malformed.
    """

    offset: int
    line: int | None
    raw: bytes
    value: object
    error: str | None = None


def _first_significant(head: bytes) -> int:
    for byte in head:
        if byte not in b" \t\r\n\xef\xbb\xbf":
            return byte
    return 0


def iter_json_records(stream: BinaryIO) -> Iterator[JsonRecord]:
    """Split a JSON input into records, whatever its shape (see module docstring).

    A line that is not valid JSON in an NDJSON input is yielded with ``error`` set and reading
    goes on; in concatenated input a broken object ends the input with one error record.
    """
    head = stream.peek(4096)[:4096] if hasattr(stream, "peek") else b""
    if not head:
        head = stream.read(4096)
        rest = stream
        prefix = head
    else:
        prefix = b""
        rest = stream
    first = _first_significant(head)
    if first == ord("["):
        data = prefix + rest.read()
        yield from _iter_array(data)
        return
    ndjson = True
    if first == ord("{"):
        newline = head.find(b"\n")
        if newline < 0 and len(head) >= 4096:
            ndjson = False  # a long first line without newline: pretty or concatenated
        else:
            first_line = head[: newline if newline >= 0 else len(head)].strip()
            try:
                orjson.loads(first_line)
            except orjson.JSONDecodeError:
                ndjson = False
    if ndjson:
        yield from _iter_lines(prefix, rest)
    else:
        yield from _iter_concatenated(prefix, rest)


def _iter_lines(prefix: bytes, stream: BinaryIO) -> Iterator[JsonRecord]:
    offset = 0
    lineno = 0
    lines: Iterator[bytes]
    if prefix:
        lines = iter((prefix + stream.read()).splitlines(keepends=True))
    else:
        lines = iter(stream)
    for raw in lines:
        lineno += 1
        start = offset
        offset += len(raw)
        line = raw.strip()
        if not line:
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield JsonRecord(start, lineno, line, None, f"invalid JSON: {exc}")
            continue
        yield JsonRecord(start, lineno, line, value)


def _iter_array(data: bytes) -> Iterator[JsonRecord]:
    try:
        values = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield JsonRecord(0, None, data[:4096], None, f"invalid JSON array: {exc}")
        return
    if not isinstance(values, list):
        values = [values]
    for index, value in enumerate(values):
        yield JsonRecord(index, None, orjson.dumps(value), value)


def _iter_concatenated(prefix: bytes, stream: BinaryIO) -> Iterator[JsonRecord]:
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    buffer = utf8.decode(prefix)
    consumed = 0  # characters of the input before buffer[0]
    eof = False
    while True:
        if not eof:
            chunk = stream.read(_CHUNK)
            eof = not chunk
            buffer += utf8.decode(chunk, final=eof)
        position = 0
        length = len(buffer)
        while True:
            while position < length and buffer[position] in " \t\r\n,\ufeff":
                position += 1
            if position >= length:
                break
            try:
                value, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as exc:
                if eof:
                    raw = buffer[position:].encode()
                    yield JsonRecord(
                        consumed + position,
                        None,
                        raw[:65536],
                        None,
                        f"invalid or truncated JSON: {exc.msg}",
                    )
                    return
                break
            if end >= length and not eof:
                break  # a number or object may continue in the next chunk
            text = buffer[position:end]
            try:
                compact = orjson.dumps(value)
            except TypeError:
                compact = text.encode()
            yield JsonRecord(consumed + position, None, compact, value)
            position = end
        buffer = buffer[position:]
        consumed += position
        if eof and not buffer.strip():
            return
        if eof and buffer.strip():
            continue


TIMESTAMP_KEYS = ("@timestamp", "timestamp", "time", "ts", "eventTime", "date", "datetime")


class JsonRecordParser:
    """Base for JSON-based formats: one decoded object in, one event out.

    Subclasses set ``id``, implement ``accepts(obj)`` (is this object of my format?) and
    ``convert(obj, record, ctx)``. ``sniff`` decodes the first record of the head and asks
    ``accepts``; generic JSON answers with a low confidence so specific formats win.
    """

    id: ClassVar[str] = "json_record"
    confidence: ClassVar[int] = 60

    def accepts(self, obj: dict[str, object]) -> bool:
        """Return True when ``obj`` is a record of this format."""
        raise NotImplementedError

    def convert(self, obj: dict[str, object], record: JsonRecord, ctx: ParseContext) -> Event:
        """Turn one decoded record into an event (raise ValueError for a bad one)."""
        raise NotImplementedError

    def sniff(self, head: bytes) -> int:
        """Decode the first record of ``head`` and ask :meth:`accepts`."""
        obj = first_json_object(head)
        if obj is None:
            return 0
        try:
            return self.confidence if self.accepts(obj) else 0
        except (KeyError, TypeError, ValueError):
            return 0

    def records(self, stream: BinaryIO) -> Iterator[JsonRecord]:
        """Split the input into records; formats wrapping records (CloudTrail) override."""
        return iter_json_records(stream)

    def parse_stream(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseBatch]:
        """Parse every record; malformed ones become issues."""
        return self.parse_records(self.records(stream), ctx)

    def parse_ndjson(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseBatch]:
        """Parse input known to be NDJSON, line by line."""
        return self.parse_records(_iter_lines(b"", stream), ctx)

    def parse_records(
        self, records: Iterator[JsonRecord], ctx: ParseContext
    ) -> Iterator[ParseBatch]:
        """Turn split records into batches of events and issues."""
        events: list[Event] = []
        issues: list[ParseIssue] = []
        end = 0
        for record in records:
            end = record.offset + len(record.raw)
            if record.error is not None or not isinstance(record.value, dict):
                reason = (
                    record.error or f"expected a JSON object, got {type(record.value).__name__}"
                )
                issues.append(
                    ParseIssue(ctx.source, record.offset, record.line, reason, record.raw, self.id)
                )
                continue
            try:
                events.append(self.convert(record.value, record, ctx))
            except (ValueError, KeyError, TypeError) as exc:
                issues.append(
                    ParseIssue(
                        ctx.source,
                        record.offset,
                        record.line,
                        f"{type(exc).__name__}: {exc}",
                        record.raw,
                        self.id,
                    )
                )
                continue
            if len(events) >= BATCH_SIZE:
                yield ParseBatch(events, issues, end)
                events, issues = [], []
        yield ParseBatch(events, issues, end)


def first_json_object(head: bytes) -> dict[str, object] | None:
    """Decode the first JSON object in ``head`` (NDJSON line, array item or pretty object)."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        text = text[1:].lstrip()
    if not text.startswith("{"):
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def pick_timestamp(flat: dict[str, object], keys: tuple[str, ...] = TIMESTAMP_KEYS) -> object:
    """Return the first parseable timestamp among ``keys`` of ``flat``, or None."""
    for key in keys:
        value = flat.get(key)
        if value is not None:
            parsed = parse_timestamp(value)
            if parsed is not None:
                return parsed
    return None


class JsonParser(JsonRecordParser):
    """Generic JSON and NDJSON: nested objects flattened to dotted names.

    The dataset is ``--dataset`` when given, else ``json``. ``@timestamp`` comes from the first
    of ``@timestamp``, ``timestamp``, ``time``, ``ts``, ``eventTime``, ``date``, ``datetime``
    that parses, else the time of receipt.
    """

    id: ClassVar[str] = "json"
    confidence: ClassVar[int] = 10

    def accepts(self, obj: dict[str, object]) -> bool:
        """Any JSON object is generic JSON."""
        return True

    def convert(self, obj: dict[str, object], record: JsonRecord, ctx: ParseContext) -> Event:
        """Flatten the object and add the envelope."""
        flat = flatten(obj)
        stamp = pick_timestamp(flat)
        flat[ev.ID] = ctx.event_id(record.offset)
        flat[ev.TIMESTAMP] = stamp if stamp is not None else ctx.received
        flat[ev.DATASET] = ctx.dataset or "json"
        flat[ev.ORIGINAL] = record.raw.decode("utf-8", errors="replace")
        return flat
