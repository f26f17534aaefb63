"""IBM Log Event Extended Format (LEEF) 1.0 and 2.0, alone or behind a syslog header.

* 1.0: ``LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value...``
* 2.0: ``LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|key=value<D>key=value...``; the
  delimiter is one character or its code in hex (``x5E``, ``0x09``); empty means tab. A 2.0
  line that leaves the delimiter field out (its sixth field already holds ``key=value``) is
  read with tab.

When the delimiter never occurs but several ``key=`` do (1.0 senders that use spaces), the
attributes are split the way CEF extensions are. A piece without ``=`` belongs to the value
before it (the delimiter was part of that value).

Native fields: ``leefVersion``, ``deviceVendor``, ``deviceProduct``, ``deviceVersion``,
``eventId`` and every attribute by its own name, all strings. ECS: ``source.ip``/``port``,
``destination.ip``/``port``, ``source.mac``, ``destination.mac``, ``source.bytes``,
``destination.bytes``, ``network.transport`` (``proto``; 6, 17, 1 read as tcp, udp, icmp),
``user.name`` (``usrName``), ``event.severity`` (``sev``), ``message`` (``msg``),
``observer.*`` and ``event.code``. ``@timestamp`` is ``devTime`` read with ``devTimeFormat``
(a Java date pattern) when given, else as epoch milliseconds or ``MMM dd yyyy HH:mm:ss[.SSS]
[zone]`` or ISO 8601; else the syslog header time; else ``ctx.received``. The dataset is
``leef.<vendor>.<product>`` (names normalised as for CEF).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, RecordError
from tocsin.ingest.parsers.cef import (
    SyslogWrappedParser,
    finish_device_event,
    parse_cef_time,
    resolve_zone,
    severity_number,
    split_extension,
    split_header,
)
from tocsin.ingest.parsers.syslog import month_number

_SNIFF = re.compile(rb"LEEF:[12](?:\.0)?\|")
_HEX_DELIMITER = re.compile(r"(?:0?[xX])([0-9a-fA-F]{1,4})$")
_TRANSPORTS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}
_JAVA_TOKEN = re.compile(r"'([^']*)'|([A-Za-z])\2*|(.)", re.DOTALL)
_formats: dict[str, re.Pattern[str] | None] = {}


def _as_int(value: str) -> object:
    return int(value)


def _as_str(value: str) -> object:
    return value


def _as_transport(value: str) -> object:
    return _TRANSPORTS.get(value, value.lower())


def _as_severity(value: str) -> object:
    number = severity_number(value)
    if number is None:
        raise ValueError(value)
    return number


ECS_MAP: dict[str, tuple[str, Callable[[str], object]]] = {
    "src": ("source.ip", _as_str),
    "srcPort": ("source.port", _as_int),
    "srcMAC": ("source.mac", _as_str),
    "srcBytes": ("source.bytes", _as_int),
    "srcPackets": ("source.packets", _as_int),
    "dst": ("destination.ip", _as_str),
    "dstPort": ("destination.port", _as_int),
    "dstMAC": ("destination.mac", _as_str),
    "dstBytes": ("destination.bytes", _as_int),
    "dstPackets": ("destination.packets", _as_int),
    "proto": ("network.transport", _as_transport),
    "usrName": ("user.name", _as_str),
    "sev": ("event.severity", _as_severity),
    "msg": ("message", _as_str),
    "url": ("url.original", _as_str),
}
"""How LEEF attributes fill ECS fields."""

# Java SimpleDateFormat letters -> regex group names of _build_time.
_JAVA_GROUPS = {
    "y": ("year", r"\d{2,4}"),
    "M": ("month", r"\d{1,2}|[A-Za-z]{3,9}"),
    "d": ("day", r"\d{1,2}"),
    "H": ("hour", r"\d{1,2}"),
    "k": ("hour", r"\d{1,2}"),
    "h": ("hour12", r"\d{1,2}"),
    "K": ("hour12", r"\d{1,2}"),
    "m": ("minute", r"\d{1,2}"),
    "s": ("second", r"\d{1,2}"),
    "S": ("fraction", r"\d{1,9}"),
    "a": ("ampm", r"[AaPp][Mm]"),
    "z": ("zone", r"[A-Za-z][\w/+-]*"),
    "Z": ("zone", r"Z|[+-]\d\d:?\d\d"),
    "X": ("zone", r"Z|[+-]\d\d(?::?\d\d)?"),
    "E": ("", r"[A-Za-z]+"),
}


def compile_java_format(pattern: str) -> re.Pattern[str] | None:
    """Turn a Java ``SimpleDateFormat`` pattern into a regex with named parts (None if unknown)."""
    if pattern in _formats:
        return _formats[pattern]
    parts: list[str] = []
    seen: set[str] = set()
    compiled: re.Pattern[str] | None = None
    for match in _JAVA_TOKEN.finditer(pattern):
        literal, letter, other = match.groups()
        if literal is not None:
            parts.append(re.escape(literal or "'"))
        elif letter is not None:
            spec = _JAVA_GROUPS.get(letter)
            if spec is None:
                break
            group, regex = spec
            if not group or group in seen:
                parts.append(f"(?:{regex})")
            else:
                seen.add(group)
                parts.append(f"(?P<{group}>{regex})")
        else:
            parts.append(re.escape(other))
    else:
        compiled = re.compile("".join(parts) + r"\s*$")
    if len(_formats) < 256:
        _formats[pattern] = compiled
    return compiled


def parse_java_time(text: str, pattern: str, received: datetime) -> datetime | None:
    """Parse ``text`` written with the Java date ``pattern``; None when it does not fit."""
    regex = compile_java_format(pattern)
    if regex is None:
        return None
    match = regex.match(text.strip())
    if match is None:
        return None
    parts = match.groupdict()
    try:
        month_text = parts.get("month") or "1"
        month = int(month_text) if month_text.isdigit() else month_number(month_text)
        hour = int(parts.get("hour") or 0)
        if parts.get("hour12") is not None:
            hour = int(parts["hour12"]) % 12
            if (parts.get("ampm") or "").lower() == "pm":
                hour += 12
        fraction = parts.get("fraction") or ""
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        year_text = parts.get("year")
        year = int(year_text) if year_text else received.year
        if year < 100:
            year += 2000
        stamp = datetime(
            year,
            month,
            int(parts.get("day") or 1),
            hour,
            int(parts.get("minute") or 0),
            int(parts.get("second") or 0),
            micro,
            tzinfo=UTC,
        )
    except ValueError:
        return None
    zone_name = parts.get("zone")
    if zone_name:
        zone = resolve_zone(zone_name)
        if zone is not None and zone is not UTC:
            try:
                stamp = stamp.replace(tzinfo=zone).astimezone(UTC)
            except OverflowError:
                return None
    return stamp


def _delimiter(spec: str) -> str:
    if not spec:
        return "\t"
    if len(spec) == 1:
        return spec
    match = _HEX_DELIMITER.match(spec)
    if match is not None:
        return chr(int(match.group(1), 16))
    if spec == "\\t":
        return "\t"
    raise RecordError(f"LEEF delimiter {spec!r} is neither one character nor hex like x09")


def split_attributes(text: str, delimiter: str) -> list[tuple[str, str]]:
    """Split LEEF attributes on ``delimiter`` into (key, value) pairs."""
    if delimiter not in text and text.count("=") > 1:
        return split_extension(text, unescape=False)
    pairs: list[tuple[str, str]] = []
    for piece in text.split(delimiter):
        key, sep, value = piece.partition("=")
        if sep and key and " " not in key.strip():
            pairs.append((key.strip(), value))
        elif pairs:
            last_key, last_value = pairs[-1]
            pairs[-1] = (last_key, last_value + delimiter + piece)
    return pairs


def parse_leef(
    text: str,
    ctx: ParseContext,
    position: int | str,
    *,
    fallback_time: datetime | None = None,
) -> Event:
    """Parse one LEEF record (starting at ``LEEF:``; a prefix before it is ignored).

    ``fallback_time`` (the syslog header time) is used when ``devTime`` is absent or bad.

    Raises:
        RecordError: when there is no LEEF header or it is short of fields.
    """
    start = text.find("LEEF:")
    if start < 0:
        raise RecordError(f"no 'LEEF:' header in {text[:40]!r}")
    body = text[start:]
    version = body[5 : body.find("|")] if "|" in body else body[5:]
    two = version.startswith("2")
    header, attributes = split_header(body, 6 if two else 5)
    delimiter = "\t"
    if two and len(header) == 6:
        spec = header[5]
        if "=" in spec and len(spec) > 1:
            # No delimiter field: the sixth field is the first attribute.
            header, attributes = split_header(body, 5)
        else:
            delimiter = _delimiter(spec)
            header = header[:5]
    if len(header) < 5 or attributes is None:
        raise RecordError(
            f"LEEF header has {len(header)} of {6 if two else 5} pipe-separated fields "
            "(LEEF:Version|Vendor|Product|Version|EventID|...)"
        )
    _, vendor, product, device_version, event_id = header
    event: Event = {
        ev.ID: ctx.event_id(position),
        "leefVersion": version,
        "deviceVendor": vendor,
        "deviceProduct": product,
        "deviceVersion": device_version,
        "eventId": event_id,
    }
    pairs = split_attributes(attributes, delimiter)
    for key, value in pairs:
        event[key] = value
    for key, value in pairs:
        target = ECS_MAP.get(key)
        if target is None or not value:
            continue
        field, convert = target
        try:
            event[field] = convert(value)
        except ValueError:
            continue
    when = None
    dev_time = event.get("devTime")
    if isinstance(dev_time, str):
        time_format = event.get("devTimeFormat")
        if isinstance(time_format, str) and time_format:
            when = parse_java_time(dev_time, time_format, ctx.received)
        if when is None:
            when = parse_cef_time(dev_time, ctx.received)
    return finish_device_event(
        event,
        "leef",
        vendor,
        product,
        device_version,
        event_id,
        when or fallback_time,
        ctx,
        text,
    )


class LeefParser(SyslogWrappedParser):
    """IBM LEEF 1.0 and 2.0 lines, with or without a syslog header before ``LEEF:``."""

    id: ClassVar[str] = "leef"
    marker: ClassVar[str] = "LEEF:"
    version_field: ClassVar[str] = "leefVersion"
    sniff_pattern: ClassVar[re.Pattern[bytes]] = _SNIFF

    def parse_payload(self, text: str, ctx: ParseContext, offset: int) -> Event:
        """Parse a LEEF record."""
        return parse_leef(text, ctx, offset)
