"""Windows events as JSON: the ``evtx`` / ``evtx_dump`` form, and Winlogbeat documents.

Both give the same Sigma fields as the EVTX parser (:mod:`tocsin.ingest.parsers.windows`):

* ``evtx_json``: ``{"Event": {"System": ..., "EventData": ...}}`` records, one per line
  (``evtx_dump -o jsonl``), pretty-printed and concatenated, in an array, or in the default
  ``evtx_dump -o json`` output where each record follows a ``Record <id>`` line.
* ``winlogbeat``: Winlogbeat and Elastic Agent documents (``winlog.channel``,
  ``winlog.event_id``, ``winlog.event_data.*``...), also as Elasticsearch hits (``_source``).

``event.id`` comes from ``Computer/Channel/EventRecordID`` (record ids repeat across the
channels and hosts a merged export mixes), else from the record's offset; ``event.original``
is the record's compact JSON.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from typing import BinaryIO, ClassVar

import orjson

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.core.flatten import flatten
from tocsin.core.timeutil import parse_timestamp
from tocsin.ingest.base import ParseContext
from tocsin.ingest.parsers.jsonfmt import (
    JsonRecord,
    JsonRecordParser,
    first_json_object,
    iter_json_records,
)
from tocsin.ingest.parsers.windows import (
    add_event_data,
    add_leaves,
    as_int,
    map_ecs,
    record_position,
    scalar_text,
    windows_event,
)

_RECORD_LINE = re.compile(rb"Record \d+\s*")


# ----------------------------------------------------------------------------- evtx JSON


def iter_dump_records(stream: BinaryIO) -> Iterator[JsonRecord]:
    """Split ``evtx_dump -o json`` output, where a ``Record <id>`` line precedes each record."""
    offset = 0
    lineno = 0
    start: tuple[int, int] | None = None
    lines: list[bytes] = []
    for raw in stream:
        lineno += 1
        if _RECORD_LINE.fullmatch(raw.strip()):
            if lines and start is not None:
                yield _decode(start, b"".join(lines))
            lines = []
            start = (offset + len(raw), lineno + 1)
        else:
            if start is None:
                start = (offset, lineno)
            lines.append(raw)
        offset += len(raw)
    if start is not None and b"".join(lines).strip():
        yield _decode(start, b"".join(lines))


def _decode(start: tuple[int, int], text: bytes) -> JsonRecord:
    offset, line = start
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return JsonRecord(offset, line, text.strip()[:65536], None, f"invalid JSON: {exc}")
    return JsonRecord(offset, line, orjson.dumps(value), value)


def _head(stream: BinaryIO, size: int = 256) -> tuple[bytes, BinaryIO]:
    """The first bytes of ``stream`` without consuming them (the stream may be replaced)."""
    if hasattr(stream, "peek"):
        return stream.peek(size)[:size], stream
    if stream.seekable():
        position = stream.tell()
        head = stream.read(size)
        stream.seek(position)
        return head, stream
    data = stream.read()
    return data[:size], io.BytesIO(data)


def _skip_record_line(head: bytes) -> bytes:
    first, _, rest = head.lstrip().partition(b"\n")
    return rest if _RECORD_LINE.fullmatch(first.strip()) else head


class EvtxJsonParser(JsonRecordParser):
    """Windows events in the JSON form the ``evtx`` package and ``evtx_dump`` write."""

    id: ClassVar[str] = "evtx_json"

    def accepts(self, obj: dict[str, object]) -> bool:
        """An object whose ``Event`` holds a ``System`` element."""
        event = obj.get("Event")
        return isinstance(event, dict) and isinstance(event.get("System"), dict)

    def sniff(self, head: bytes) -> int:
        """Like every JSON format, after a leading ``Record <id>`` line if there is one."""
        obj = first_json_object(_skip_record_line(head))
        return self.confidence if obj is not None and self.accepts(obj) else 0

    def records(self, stream: BinaryIO) -> Iterator[JsonRecord]:
        """Split the input; ``evtx_dump``'s ``Record <id>`` lines are understood."""
        head, stream = _head(stream)
        if _RECORD_LINE.match(head.lstrip()):
            return iter_dump_records(stream)
        return iter_json_records(stream)

    def convert(self, obj: dict[str, object], record: JsonRecord, ctx: ParseContext) -> Event:
        """Flatten the record and add its ECS fields and envelope."""
        event = windows_event(obj, ctx.dataset)
        event[ev.ID] = ctx.event_id(record_position(event, record.offset))
        event[ev.ORIGINAL] = record.raw.decode("utf-8", errors="replace")
        return event


# ----------------------------------------------------------------------------- Winlogbeat

_WINLOG_TEXT = (
    ("channel", "Channel"),
    ("computer_name", "Computer"),
    ("provider_name", "Provider_Name"),
    ("provider_guid", "Provider_Guid"),
    ("activity_id", "ActivityID"),
    ("related_activity_id", "RelatedActivityID"),
)
_WINLOG_INTS = (("event_id", "EventID"), ("version", "Version"), ("record_id", "EventRecordID"))
# Envelope fields are ours; ECS fields the Windows mapping sets win over the document's.
_DOC_SKIPPED = frozenset({ev.ID, ev.ORIGINAL, ev.DATASET, ev.KIND, ev.INGESTED, ev.TIMESTAMP})


def flatten_winlogbeat(doc: Mapping[str, object]) -> Event:
    """Flatten a Winlogbeat document's ``winlog`` object to the same Sigma fields as EVTX.

    ``winlog.event_id`` -> ``EventID``, ``winlog.record_id`` -> ``EventRecordID``,
    ``winlog.computer_name`` -> ``Computer``, ``winlog.process.pid``/``thread.id`` ->
    ``Execution_ProcessID``/``Execution_ThreadID``, ``winlog.user.identifier`` ->
    ``SecurityUserID``, ``winlog.event_data`` and ``winlog.user_data`` -> the data fields.
    Winlogbeat renders ``Level``, ``Task``, ``Opcode`` and ``Keywords`` as names, so the first
    three are kept only when numeric and ``Keywords`` not at all; it names unnamed ``<Data>``
    ``param1``, ``param2``..., which stay as they are.
    """
    winlog = doc.get("winlog")
    if not isinstance(winlog, Mapping):
        raise ValueError("the document has no winlog object")
    flat: Event = {}
    for key, name in _WINLOG_INTS:
        if winlog.get(key) is not None:
            flat[name] = as_int(winlog[key])
    event = doc.get("event")
    if "EventID" not in flat and isinstance(event, Mapping) and event.get("code") is not None:
        flat["EventID"] = as_int(event["code"])
    for key in ("level", "task", "opcode"):
        value = as_int(winlog.get(key))
        if type(value) is int:
            flat[key.capitalize()] = value
    for key, name in _WINLOG_TEXT:
        if winlog.get(key) is not None:
            flat[name] = winlog[key]
    host = doc.get("host")
    if "Computer" not in flat and isinstance(host, Mapping) and host.get("name") is not None:
        flat["Computer"] = host["name"]
    stamp = winlog.get("time_created", doc.get("@timestamp"))
    if stamp is not None:
        flat["TimeCreated"] = stamp
    process = winlog.get("process")
    if isinstance(process, Mapping):
        if process.get("pid") is not None:
            flat["Execution_ProcessID"] = as_int(process["pid"])
        thread = process.get("thread")
        if isinstance(thread, Mapping) and thread.get("id") is not None:
            flat["Execution_ThreadID"] = as_int(thread["id"])
    user = winlog.get("user")
    if isinstance(user, Mapping) and user.get("identifier") is not None:
        flat["SecurityUserID"] = user["identifier"]
    event_data = winlog.get("event_data")
    if event_data is not None:
        add_event_data(flat, dict(event_data) if isinstance(event_data, Mapping) else event_data)
    user_data = winlog.get("user_data")
    if user_data is not None:
        add_leaves(
            flat, dict(user_data) if isinstance(user_data, Mapping) else user_data, "UserData"
        )
    return flat


def winlogbeat_event(doc: Mapping[str, object], dataset: str | None = None) -> Event:
    """Flatten a Winlogbeat document, add the ECS fields, and keep the document's other fields.

    The document's own fields (``message``, ``host.*``, ``agent.*``, ``log.level``, ECS fields
    its pipelines added) keep their dotted names where the Windows mapping left them unset.
    """
    event = map_ecs(flatten_winlogbeat(doc), dataset)
    if ev.TIMESTAMP not in event:
        stamp = parse_timestamp(doc.get("@timestamp"))
        if stamp is not None:
            event[ev.TIMESTAMP] = stamp
    rest = {key: value for key, value in doc.items() if key not in ("winlog", "@timestamp")}
    for key, value in flatten(rest).items():
        if key in _DOC_SKIPPED or key in event:
            continue
        if key in (ev.CATEGORY, ev.TYPE) and not isinstance(value, list):
            value = [scalar_text(value)]
        event[key] = value
    return event


def _document(obj: Mapping[str, object]) -> Mapping[str, object]:
    """The Winlogbeat document itself, unwrapped from an Elasticsearch hit if need be."""
    source = obj.get("_source")
    if "winlog" not in obj and isinstance(source, Mapping):
        return source
    return obj


class WinlogbeatParser(JsonRecordParser):
    """Winlogbeat and Elastic Agent Windows documents (``winlog.*``)."""

    id: ClassVar[str] = "winlogbeat"

    def accepts(self, obj: dict[str, object]) -> bool:
        """An object whose ``winlog`` holds a ``channel`` or an ``event_id``."""
        winlog = _document(obj).get("winlog")
        return isinstance(winlog, dict) and ("channel" in winlog or "event_id" in winlog)

    def convert(self, obj: dict[str, object], record: JsonRecord, ctx: ParseContext) -> Event:
        """Flatten the document and add its ECS fields and envelope."""
        event = winlogbeat_event(_document(obj), ctx.dataset)
        event[ev.ID] = ctx.event_id(record_position(event, record.offset))
        event[ev.ORIGINAL] = record.raw.decode("utf-8", errors="replace")
        return event
