"""systemd journal entries as ``journalctl -o json`` writes them.

Fields keep their journal names (``_PID``, ``_SYSTEMD_UNIT``, ``__CURSOR``...), except
``MESSAGE``, which is stored as ``message`` only: a dataset cannot hold two names that differ
only in case (a multi-valued ``MESSAGE`` is joined with newlines).
The journal writes a value that is not printable UTF-8 as an array of byte values: it is
decoded as UTF-8 with invalid bytes replaced. A field present several times is an array of
values and becomes a list of strings. A ``null`` value (a field too large for the export) is
left out.

ECS: ``@timestamp`` from ``__REALTIME_TIMESTAMP`` (microseconds since the epoch; else
``_SOURCE_REALTIME_TIMESTAMP``; else ``ctx.received``), ``host.name``,
``process.pid``, ``process.name`` (``_COMM``, else ``SYSLOG_IDENTIFIER``),
``process.executable``, ``process.command_line``, ``log.syslog.appname``,
``log.syslog.severity.*`` (``PRIORITY``), ``log.syslog.facility.*`` (``SYSLOG_FACILITY``) and
``user.id``. sshd, sudo and pam_unix messages get the same categorisation as in syslog
(:func:`~tocsin.ingest.parsers.syslog.classify_message`). ``event.id`` derives from
``__CURSOR``, else the record's offset. The dataset is ``linux.journald``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext
from tocsin.ingest.parsers.jsonfmt import JsonRecord, JsonRecordParser
from tocsin.ingest.parsers.syslog import FACILITY_NAMES, SEVERITY_NAMES, classify_message

DATASET = "linux.journald"

_TIME_KEYS = ("__REALTIME_TIMESTAMP", "_SOURCE_REALTIME_TIMESTAMP")


def _decode_bytes(values: list[object]) -> str | None:
    """Return the text of a byte-array value, or None when it is not one."""
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in values):
        return None
    try:
        raw = bytes(values)  # type: ignore[arg-type]  # checked: all ints above
    except ValueError:
        return None
    return raw.decode("utf-8", errors="replace")


def journal_value(value: object) -> object:
    """Return a journal JSON value as a string, a list of strings, or None to drop it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        if not value:
            return None
        text = _decode_bytes(value)
        if text is not None:
            return text
        out: list[str] = []
        for item in value:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, list):
                decoded = _decode_bytes(item)
                if decoded is not None:
                    out.append(decoded)
            elif item is not None:
                out.append(str(item))
        return out
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _microseconds(value: object) -> datetime | None:
    if isinstance(value, str) and value.isdigit():
        micros = int(value)
        try:
            return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(
                microsecond=micros % 1_000_000
            )
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _small_int(value: object) -> int | None:
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


class JournaldParser(JsonRecordParser):
    """systemd journal export as JSON (``journalctl -o json``)."""

    id: ClassVar[str] = "journald"
    confidence: ClassVar[int] = 70

    def accepts(self, obj: dict[str, object]) -> bool:
        """A journal entry has ``__REALTIME_TIMESTAMP`` or ``__CURSOR``."""
        return "__REALTIME_TIMESTAMP" in obj or "__CURSOR" in obj

    def convert(self, obj: dict[str, object], record: JsonRecord, ctx: ParseContext) -> Event:
        """Turn one journal entry into an event."""
        cursor = obj.get("__CURSOR")
        event: Event = {
            ev.ID: ctx.event_id(cursor if isinstance(cursor, str) and cursor else record.offset)
        }
        for key, raw in obj.items():
            value = journal_value(raw)
            if value is not None:
                event[key] = value
        when = None
        for key in _TIME_KEYS:
            when = _microseconds(event.get(key))
            if when is not None:
                break
        message = event.pop("MESSAGE", None)
        if isinstance(message, list):
            message = "\n".join(message)
        if isinstance(message, str):
            event["message"] = message
        hostname = event.get("_HOSTNAME")
        if isinstance(hostname, str):
            event["host.name"] = hostname
        pid = _small_int(event.get("_PID"))
        if pid is None:
            pid = _small_int(event.get("SYSLOG_PID"))
        if pid is not None:
            event["process.pid"] = pid
        identifier = event.get("SYSLOG_IDENTIFIER")
        if isinstance(identifier, str):
            event["log.syslog.appname"] = identifier
        comm = event.get("_COMM")
        name = comm if isinstance(comm, str) else identifier
        if isinstance(name, str):
            event["process.name"] = name
        exe = event.get("_EXE")
        if isinstance(exe, str):
            event["process.executable"] = exe
        cmdline = event.get("_CMDLINE")
        if isinstance(cmdline, str):
            event["process.command_line"] = cmdline
        priority = _small_int(event.get("PRIORITY"))
        if priority is not None and priority < len(SEVERITY_NAMES):
            event["log.syslog.severity.code"] = priority
            event["log.syslog.severity.name"] = SEVERITY_NAMES[priority]
        facility = _small_int(event.get("SYSLOG_FACILITY"))
        if facility is not None and facility < len(FACILITY_NAMES):
            event["log.syslog.facility.code"] = facility
            event["log.syslog.facility.name"] = FACILITY_NAMES[facility]
        uid = event.get("_UID")
        if isinstance(uid, str):
            event["user.id"] = uid
        if isinstance(identifier, str) and isinstance(message, str):
            classify_message(identifier, message, event)
        event[ev.TIMESTAMP] = when or ctx.received
        event[ev.DATASET] = ctx.dataset or DATASET
        event[ev.KIND] = "event"
        event[ev.ORIGINAL] = record.raw.decode("utf-8", errors="replace")
        return event
