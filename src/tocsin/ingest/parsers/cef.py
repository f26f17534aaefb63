r"""ArcSight Common Event Format (CEF), alone or behind a syslog header.

``CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|
Extension``. In the header ``\|`` and ``\\`` are escapes; in the extension, values run to the
space before the next ``key=``, and ``\=``, ``\\``, ``\n``, ``\r`` (and the tolerated ``\|``)
are escapes. A line missing the last pipe (no extension) is accepted.

Native fields: ``cefVersion``, ``deviceVendor``, ``deviceProduct``, ``deviceVersion``,
``deviceEventClassId``, ``name``, ``severity`` (as written: ``7`` or ``High``) and every
extension key as it is written (``src``, ``cs1``, ``cs1Label``...), all strings. ECS fields come
from a small table (:data:`ECS_MAP`, which also knows the long key names such as
``sourceAddress``); ``message`` is ``msg`` or else the event name. ``@timestamp`` is the first
of ``rt``, ``end``, ``start`` that parses (epoch milliseconds or the CEF date formats
``MMM dd [yyyy ]HH:mm:ss[.SSS][ zone]``, zone as ``UTC``, an offset, an IANA name or a common
abbreviation; an unknown zone is read as UTC), else the syslog header time, else
``ctx.received``.

The dataset is ``cef.<vendor>.<product>``, each lowercased with every run of characters other
than letters, digits and ``_`` (spaces, ``/``, ``-``, dots) turned into one ``_``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.core.timeutil import parse_timestamp
from tocsin.ingest.base import LineParser, ParseContext, RecordError
from tocsin.ingest.parsers.syslog import (
    MONTHS,
    parse_iso_time,
    parse_syslog_message,
    resolve_year,
)

_EXT_KEY = re.compile(r"([A-Za-z0-9_.\[\]-]+)=")
_EXT_ESCAPE = re.compile(r"\\([=\\|nr])")
_EXT_UNESCAPED = {"=": "=", "\\": "\\", "|": "|", "n": "\n", "r": "\r"}
_SNIFF = re.compile(rb"CEF:\d+(?:\.\d+)?\|")
_DATASET_JUNK = re.compile(r"[^a-z0-9_]+")
_CEF_TIME = re.compile(
    r"([A-Za-z]{3}) +(\d{1,2})(?: (\d{4}))? (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?: +(\S+))?\s*$"
)
_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d\d):?(\d\d)?$")

_ABBREVIATIONS: dict[str, tzinfo] = {
    name: timezone(timedelta(hours=hours), name)
    for name, hours in (
        ("EST", -5), ("EDT", -4), ("CST", -6), ("CDT", -5), ("MST", -7), ("MDT", -6),
        ("PST", -8), ("PDT", -7), ("AKST", -9), ("AKDT", -8), ("HST", -10),
        ("WET", 0), ("WEST", 1), ("CET", 1), ("CEST", 2), ("EET", 2), ("EEST", 3),
        ("MSK", 3), ("JST", 9), ("KST", 9), ("AEST", 10), ("AEDT", 11),
    )
}  # fmt: skip
_ZONES: dict[str, tzinfo | None] = {"UTC": UTC, "GMT": UTC, "Z": UTC, "UT": UTC}

TIME_KEYS = ("rt", "deviceReceiptTime", "end", "endTime", "start", "startTime")
"""Extension keys read for ``@timestamp``, in order."""
_TIME_KEY_SET = frozenset(TIME_KEYS)


def _as_int(value: str) -> object:
    return int(value)


def _as_lower(value: str) -> object:
    return value.lower()


def _as_outcome(value: str) -> object:
    word = value.strip().strip("/").lower()
    if word in ("success", "failure", "unknown"):
        return word
    if word in ("failed", "fail"):
        return "failure"
    raise ValueError(word)


def _as_str(value: str) -> object:
    return value


# key -> (ECS field, converter, primary). A primary key overwrites; a fallback key (False)
# only fills the field when nothing set it.
ECS_MAP: dict[str, tuple[str, Callable[[str], object], bool]] = {
    "src": ("source.ip", _as_str, True),
    "sourceAddress": ("source.ip", _as_str, True),
    "c6a2": ("source.ip", _as_str, False),
    "spt": ("source.port", _as_int, True),
    "sourcePort": ("source.port", _as_int, True),
    "shost": ("source.domain", _as_str, True),
    "sourceHostName": ("source.domain", _as_str, True),
    "smac": ("source.mac", _as_str, True),
    "dst": ("destination.ip", _as_str, True),
    "destinationAddress": ("destination.ip", _as_str, True),
    "c6a3": ("destination.ip", _as_str, False),
    "dpt": ("destination.port", _as_int, True),
    "destinationPort": ("destination.port", _as_int, True),
    "dhost": ("destination.domain", _as_str, True),
    "destinationHostName": ("destination.domain", _as_str, True),
    "dmac": ("destination.mac", _as_str, True),
    "suser": ("user.name", _as_str, True),
    "sourceUserName": ("user.name", _as_str, True),
    "duser": ("user.name", _as_str, False),
    "destinationUserName": ("user.name", _as_str, False),
    "act": ("event.action", _as_str, True),
    "deviceAction": ("event.action", _as_str, True),
    "outcome": ("event.outcome", _as_outcome, True),
    "eventOutcome": ("event.outcome", _as_outcome, True),
    "app": ("network.protocol", _as_lower, True),
    "applicationProtocol": ("network.protocol", _as_lower, True),
    "proto": ("network.transport", _as_lower, True),
    "transportProtocol": ("network.transport", _as_lower, True),
    "msg": ("message", _as_str, True),
    "message": ("message", _as_str, True),
    "request": ("url.original", _as_str, True),
    "requestUrl": ("url.original", _as_str, True),
    "requestMethod": ("http.request.method", _as_str, True),
    "requestClientApplication": ("user_agent.original", _as_str, True),
    "dvchost": ("observer.hostname", _as_str, True),
    "deviceHostName": ("observer.hostname", _as_str, True),
    "fname": ("file.name", _as_str, True),
    "fileName": ("file.name", _as_str, True),
    "filePath": ("file.path", _as_str, True),
    "fsize": ("file.size", _as_int, True),
    "fileSize": ("file.size", _as_int, True),
}
"""How extension keys fill ECS fields."""

_SEVERITY_WORDS = {"low": 3, "medium": 6, "high": 8, "very-high": 10, "veryhigh": 10}
_dataset_cache: dict[tuple[str, str, str], str] = {}


def dataset_name(prefix: str, vendor: str, product: str) -> str:
    """Return ``<prefix>.<vendor>.<product>`` with names normalised (see module docstring)."""
    key = (prefix, vendor, product)
    name = _dataset_cache.get(key)
    if name is None:
        parts = [prefix]
        for value in (vendor, product):
            parts.append(_DATASET_JUNK.sub("_", value.lower()).strip("_") or "unknown")
        name = ".".join(parts)
        if len(_dataset_cache) > 1024:
            _dataset_cache.clear()
        _dataset_cache[key] = name
    return name


def split_header(text: str, fields: int) -> tuple[list[str], str | None]:
    r"""Split ``fields`` pipe-ended header fields off ``text``, honouring ``\|`` and ``\\``.

    Returns the fields and the rest after the last pipe; when the text has fewer pipes, the
    fields found (the last one unterminated) and None.
    """
    parts = text.split("|", fields)
    if len(parts) > fields and "\\" not in text[: len(text) - len(parts[fields])]:
        return parts[:fields], parts[fields]
    if "\\" not in text:
        return parts, None
    out: list[str] = []
    buffer: list[str] = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\" and index + 1 < length and text[index + 1] in "|\\":
            buffer.append(text[index + 1])
            index += 2
            continue
        index += 1
        if char == "|":
            out.append("".join(buffer))
            buffer = []
            if len(out) == fields:
                return out, text[index:]
            continue
        buffer.append(char)
    out.append("".join(buffer))
    return out, None


def split_extension(text: str, *, unescape: bool = True) -> list[tuple[str, str]]:
    """Split a CEF extension into (key, value) pairs; values may hold spaces.

    A space-separated token that starts with ``key=`` begins a pair; other tokens belong to
    the value before them. Text before the first key is dropped.
    """
    pairs: list[tuple[str, str]] = []
    key: str | None = None
    parts: list[str] = []
    for token in text.split(" "):
        if "=" in token:
            match = _EXT_KEY.match(token)
            if match is not None:
                if key is not None:
                    pairs.append((key, _finish_value(parts, unescape)))
                key = match.group(1)
                parts = [token[match.end() :]]
                continue
        parts.append(token)
    if key is not None:
        pairs.append((key, _finish_value(parts, unescape)))
    return pairs


def _finish_value(parts: list[str], unescape: bool) -> str:
    value = parts[0] if len(parts) == 1 else " ".join(parts).rstrip()
    if unescape and "\\" in value:
        value = _EXT_ESCAPE.sub(_unescape_one, value)
    return value


def _unescape_one(match: re.Match[str]) -> str:
    return _EXT_UNESCAPED[match.group(1)]


def resolve_zone(name: str) -> tzinfo | None:
    """Return the time zone written as ``name`` (UTC, offset, IANA name, abbreviation) or None."""
    if name in _ZONES:
        return _ZONES[name]
    zone: tzinfo | None = _ABBREVIATIONS.get(name.upper())
    if zone is None:
        match = _OFFSET.match(name)
        if match is not None:
            sign, hours, minutes = match.groups()
            delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
            if delta < timedelta(hours=24):
                zone = timezone(-delta if sign == "-" else delta)
        elif "/" in name:
            try:
                zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                zone = None
    if len(_ZONES) < 256:
        _ZONES[name] = zone
    return zone


def parse_cef_time(text: str, received: datetime) -> datetime | None:
    """Parse a CEF time: epoch milliseconds, ``MMM dd [yyyy ]HH:mm:ss[.SSS][ zone]`` or ISO."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return parse_timestamp(int(text))  # milliseconds, or seconds by magnitude
    match = _CEF_TIME.match(text)
    if match is None:
        try:
            return parse_iso_time(text)
        except ValueError:
            return None
    mon, day, year, hh, mm, ss, frac, zone_name = match.groups()
    month = MONTHS.get(mon[:1].upper() + mon[1:].lower())
    if month is None:
        return None
    micro = int(frac.ljust(6, "0")) if frac else 0
    clock = (int(hh), int(mm), int(ss), micro)
    try:
        if year is None:
            stamp = resolve_year(month, int(day), clock, received)
        else:
            stamp = datetime(int(year), month, int(day), *clock, tzinfo=UTC)
    except ValueError:
        return None
    if zone_name:
        zone = resolve_zone(zone_name)
        if zone is not None and zone is not UTC:
            try:
                stamp = stamp.replace(tzinfo=zone).astimezone(UTC)
            except OverflowError:
                return None
    return stamp


def severity_number(value: str) -> int | None:
    """Return the numeric severity of a CEF or LEEF severity (``7``, ``High``), or None."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    return _SEVERITY_WORDS.get(value.lower())


def parse_cef(
    text: str,
    ctx: ParseContext,
    position: int | str,
    *,
    fallback_time: datetime | None = None,
) -> Event:
    """Parse one CEF record (starting at ``CEF:``; a prefix before it is ignored).

    ``fallback_time`` (the syslog header time) is used when no extension time parses.

    Raises:
        RecordError: when there is no CEF header or it has fewer than seven fields.
    """
    start = text.find("CEF:")
    if start < 0:
        raise RecordError(f"no 'CEF:' header in {text[:40]!r}")
    header, extension = split_header(text[start:], 7)
    if len(header) < 7:
        raise RecordError(
            f"CEF header has {len(header)} of 7 pipe-separated fields "
            "(Version|Vendor|Product|Version|Signature ID|Name|Severity)"
        )
    version, vendor, product, device_version, signature, name, severity = header
    event: Event = {
        ev.ID: ctx.event_id(position),
        "cefVersion": version[4:],
        "deviceVendor": vendor,
        "deviceProduct": product,
        "deviceVersion": device_version,
        "deviceEventClassId": signature,
        "name": name,
        "severity": severity,
    }
    times: dict[str, str] = {}
    if extension:
        for key, value in split_extension(extension):
            event[key] = value
            target = ECS_MAP.get(key)
            if target is not None and value:
                field, convert, primary = target
                if primary or field not in event:
                    try:
                        event[field] = convert(value)
                    except ValueError:
                        pass
            elif key in _TIME_KEY_SET:
                times[key] = value
    when = None
    if times:
        for key in TIME_KEYS:
            raw = times.get(key)
            if raw is not None:
                when = parse_cef_time(raw, ctx.received)
                if when is not None:
                    break
    event.setdefault("message", name)
    number = severity_number(severity)
    if number is not None:
        event["event.severity"] = number
    return finish_device_event(
        event,
        "cef",
        vendor,
        product,
        device_version,
        signature,
        when or fallback_time,
        ctx,
        text,
    )


def finish_device_event(
    event: Event,
    family: str,
    vendor: str,
    product: str,
    version: str,
    code: str,
    when: datetime | None,
    ctx: ParseContext,
    text: str,
) -> Event:
    """Add what CEF and LEEF events share: the device as observer, code, time and envelope."""
    event["observer.vendor"] = vendor
    event["observer.product"] = product
    event["observer.version"] = version
    event["event.code"] = code
    event[ev.TIMESTAMP] = when or ctx.received
    event[ev.DATASET] = ctx.dataset or dataset_name(family, vendor, product)
    event[ev.KIND] = "event"
    event[ev.ORIGINAL] = text
    return event


class SyslogWrappedParser(LineParser):
    """Base of formats whose lines may carry a syslog header before their own marker.

    Subclasses set ``marker`` (``CEF:``), ``version_field`` (the field only a parsed payload
    has), ``sniff_pattern``, and implement :meth:`parse_payload`.
    """

    marker: ClassVar[str]
    version_field: ClassVar[str]
    sniff_pattern: ClassVar[re.Pattern[bytes]]

    def parse_payload(self, text: str, ctx: ParseContext, offset: int) -> Event:
        """Parse the text from the marker on."""
        raise NotImplementedError

    def sniff(self, head: bytes) -> int:
        """Return 80 when the first non-blank line holds the format's header, else 0."""
        for line in head.split(b"\n", 8)[:8]:
            if line.strip():
                return 80 if self.sniff_pattern.search(line) else 0
        return 0

    def parse_line(self, line: bytes, ctx: ParseContext, offset: int) -> Event:
        """Parse one line; a syslog prefix contributes its header fields."""
        text = line.decode("utf-8", errors="replace")
        if text.startswith(self.marker):
            return self.parse_payload(text, ctx, offset)
        start = text.find(self.marker)
        if start < 0:
            raise RecordError(f"no {self.marker!r} header in {text[:40]!r}")
        try:
            event = parse_syslog_message(line, ctx, offset)
        except RecordError:
            event = {}
        if self.version_field not in event:
            event = self.parse_payload(text[start:], ctx, offset)
        event[ev.ORIGINAL] = text
        return event


class CefParser(SyslogWrappedParser):
    """ArcSight CEF lines, with or without a syslog header before ``CEF:``."""

    id: ClassVar[str] = "cef"
    marker: ClassVar[str] = "CEF:"
    version_field: ClassVar[str] = "cefVersion"
    sniff_pattern: ClassVar[re.Pattern[bytes]] = _SNIFF

    def parse_payload(self, text: str, ctx: ParseContext, offset: int) -> Event:
        """Parse a CEF record."""
        return parse_cef(text, ctx, offset)
