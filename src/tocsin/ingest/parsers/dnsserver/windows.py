"""Windows Server DNS debug log (``dns.log``): one DNS event per PACKET line (``dns.windows``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Literal, cast

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, RecordError
from tocsin.ingest.parsers.dnsserver.base import _CACHE_SIZE, DnsServerLogParser

DateOrder = Literal["mdy", "dmy"]

_WIN_LINE = re.compile(
    r"(?P<date>\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}|\d{8}) +(?P<time>\d{1,2}:\d\d:\d\d)"
    r"(?: ?(?P<ampm>[AaPp]\.? ?[Mm]\.?))? +(?P<thread>[0-9A-Fa-f]+) +(?P<context>[A-Za-z]+)"
    r"(?: +(?P<rest>.*))?$"
)
_WIN_DATED = re.compile(r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4} |\d{8} \d")
# A whole PACKET line in one match: date, time, [AM|PM], thread, PACKET, [packet id], UDP|TCP,
# Rcv|Snd, remote, xid, [R], opcode, [flags chars rcode], [type], name.
_WIN_PACKET = re.compile(
    r"(\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}|\d{8}) +(\d{1,2}:\d\d:\d\d)(?: ?([AaPp]\.? ?[Mm]\.?))? +"
    r"([0-9A-Fa-f]+) +PACKET +(?:([0-9A-Fa-f]{6,16}) +)?(UDP|TCP) +(Rcv|Snd) +"
    r"([0-9A-Fa-f:.]+(?:%\S+)?) +([0-9A-Fa-f]{1,4}) +(?:(R) +)?([QNU?]) +"
    r"\[([^\]]*)\] +(?:([^\s(]\S*) +)?(\(\d+\).*)"
)
_WIN_HEADER_DATE = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.]\d{2,4}")
_WIRE_LENGTH = re.compile(r"\(\d+\)")
_WIN_OPCODES = {"Q": "QUERY", "N": "NOTIFY", "U": "UPDATE", "?": "UNKNOWN"}
_HEADER_BITS = (
    (0x0400, "AA"), (0x0200, "TC"), (0x0100, "RD"), (0x0080, "RA"), (0x0020, "AD"), (0x0010, "CD"),
)  # fmt: skip


def decode_wire_name(text: str) -> str:
    """Decode a name as the Windows debug log writes it: ``(3)www(7)example(3)com(0)``.

    The label lengths are followed exactly; when they disagree with the text (a label with
    bytes the log wrote otherwise) the name is split at the ``(n)`` marks instead.

    Raises:
        RecordError: when the name is truncated (no final ``(0)``).
    """
    labels: list[str] = []
    position = 0
    size = len(text)
    while position < size and text[position] == "(":
        close = text.find(")", position)
        digits = text[position + 1 : close] if close > 0 else ""
        if not digits.isdigit():
            break
        length = int(digits)
        if length == 0:
            if close + 1 == size:
                return ".".join(labels) or "."
            break
        start = close + 1
        position = start + length
        if position > size:
            break
        labels.append(text[start:position])
    if not text.endswith("(0)"):
        raise RecordError(f"truncated question name {text!r}: no final (0)")
    return ".".join(part for part in _WIRE_LENGTH.split(text) if part) or "."


def header_flags(bits: int) -> list[str]:
    """ECS ``dns.header_flags`` (AA, TC, RD, RA, AD, CD) of a DNS header's flags word."""
    return [name for mask, name in _HEADER_BITS if bits & mask]


@dataclass(slots=True)
class _WindowsState:
    order: DateOrder | None = None
    last_date: str = ""  # the order is looked for only when the date changes


class WindowsDnsDebugParser(DnsServerLogParser):
    """Windows Server DNS debug log (``dns.log``, "Log packets for debugging"), PACKET lines.

    Dates follow the server's locale: ``M/D/YYYY h:mm:ss AM|PM``, ``D/M/YYYY HH:mm:ss``,
    ``D.M.YYYY``, ``YYYY-MM-DD`` and the old ``YYYYMMDD``. A slash date is read day first when
    its first number is above 12, month first when its second is, else as the input has shown
    so far (month first when nothing decided); ``date_order`` (class attribute or constructor
    option) forces ``"mdy"`` or ``"dmy"``.

    The remote address is ``source.ip`` of a received packet and ``destination.ip`` of a sent
    one, and ``client.ip`` of both: for ``Rcv Q``/``Snd R`` it is the asking client; for the
    server's own recursion (``Snd Q``/``Rcv R``) it is the forwarder or authority it asked.
    ``dns.response_code`` is set on responses only.
    """

    id: ClassVar[str] = "dns_windows"
    dataset: ClassVar[str] = "dns.windows"
    date_order: ClassVar[DateOrder | None] = None

    def __init__(self, *, date_order: DateOrder | None = None) -> None:
        super().__init__()
        self._order = date_order or self.date_order
        self._dates: dict[tuple[str, str, str | None, DateOrder | None], datetime] = {}
        self._names: dict[str, str] = {}
        self._flags: dict[str, tuple[str, str, tuple[str, ...], str]] = {}

    def new_state(self) -> object:
        """The day/month order an input has shown."""
        return _WindowsState()

    def sniff(self, head: bytes) -> int:
        """Return 90 on the debug log's header or a PACKET line, else 0."""
        sample = head[:65536]
        if b"DNS Server log file creation at" in sample or b"Message logging key (for pa" in sample:
            return 90
        return 90 if _WIN_SNIFF.search(sample) else 0

    def read_line(self, text: str, raw: bytes, ctx: ParseContext, offset: int) -> Event | None:
        """Parse one PACKET line; None for headers, the legend and other lines."""
        match = _WIN_PACKET.match(text)
        if match is None:
            self._read_other(text, ctx)
            return None
        (date, clock, ampm, thread, packet, proto, direction, remote, xid, response, opcode,
         flags, qtype, wire) = match.groups()  # fmt: skip
        state = cast(_WindowsState, self.state(ctx))
        when = self._timestamp(date, clock, ampm, state)
        parsed = self._flags.get(flags) or self._parse_flags(flags)
        name = self._names.get(wire)
        if name is None:
            name = decode_wire_name(wire.rstrip())
            if len(self._names) >= _CACHE_SIZE:
                self._names.clear()
            self._names[wire] = name
        event: Event = {
            ev.ID: ctx.event_id(offset),
            ev.TIMESTAMP: when,
            ev.DATASET: ctx.dataset or self.dataset,
            ev.KIND: "event",
            ev.CATEGORY: ["network"],
            ev.TYPE: ["protocol"],
            ev.ORIGINAL: text,
            "network.protocol": "dns",
            "network.transport": "udp" if proto == "UDP" else "tcp",
            "source.ip" if direction == "Rcv" else "destination.ip": remote,
            "client.ip": remote,
            "related.ip": [remote],
            "dns.id": xid,
            "dns.type": "query" if response is None else "answer",
            "dns.op_code": _WIN_OPCODES[opcode],
            "dns.header_flags": list(parsed[2]),
            "dns.question.name": name,
            "dns.windows.thread_id": thread,
            "dns.windows.direction": direction,
            "dns.windows.flags": parsed[0],
        }
        if qtype:
            event["dns.question.type"] = qtype
        if response is not None:
            event["dns.response_code"] = parsed[3]
        if packet:
            event["dns.windows.packet_id"] = packet
        if parsed[1]:
            event["dns.windows.flag_chars"] = parsed[1]
        return event

    def _read_other(self, text: str, ctx: ParseContext) -> None:
        """Skip a line that is not a PACKET line, or raise if it is one that cannot be read."""
        match = _WIN_LINE.match(text)
        if match is None:
            if text.startswith("DNS Server log file creation at"):
                self._learn_header(text, ctx)
            elif _WIN_DATED.match(text):
                raise RecordError(f"Windows DNS debug line is truncated: {text[:80]!r}")
            return  # header, legend, packet details
        if match.group("context") != "PACKET":
            return  # EVENT, Note and the other non-packet lines
        self._timestamp(
            match.group("date"), match.group("time"), match.group("ampm"), _WindowsState()
        )
        raise RecordError(
            f"Windows DNS PACKET line not understood after the time: {match.group('rest')!r}"
        )

    def _parse_flags(self, flags: str) -> tuple[str, str, tuple[str, ...], str]:
        """``0001   D   NOERROR`` as (hex, chars, ECS header flags, rcode), remembered."""
        inner = flags.split()
        if len(inner) < 2:
            raise RecordError(f"Windows DNS PACKET flags not understood: [{flags}]")
        try:
            swapped = int(inner[0], 16)
        except ValueError:
            raise RecordError(f"Windows DNS PACKET flags {inner[0]!r} are not hex") from None
        # The log writes the header's flags word with its two bytes swapped (RD is 0001).
        bits = ((swapped & 0xFF) << 8) | (swapped >> 8)
        parsed = (inner[0], "".join(inner[1:-1]), tuple(header_flags(bits)), inner[-1])
        if len(self._flags) >= _CACHE_SIZE:
            self._flags.clear()
        self._flags[flags] = parsed
        return parsed

    def _learn_header(self, text: str, ctx: ParseContext) -> None:
        found = _WIN_HEADER_DATE.search(text)
        if found is None:
            return
        state = cast(_WindowsState, self.state(ctx))
        first, second = int(found.group(1)), int(found.group(2))
        if first > 12:
            state.order = "dmy"
        elif second > 12:
            state.order = "mdy"

    def _timestamp(self, date: str, clock: str, ampm: str | None, state: _WindowsState) -> datetime:
        if self._order is None and state.order is None and date != state.last_date:
            state.last_date = date
            state.order = _date_order_of(date)
        key = (date, clock, ampm, self._order or state.order)
        stamp = self._dates.get(key)
        if stamp is not None:
            return stamp
        try:
            stamp = self._parse_time(date, clock, ampm, state)
        except ValueError as exc:
            raise RecordError(f"invalid date {date!r} {clock!r}: {exc}") from None
        if len(self._dates) >= _CACHE_SIZE:
            self._dates.clear()
        self._dates[key] = stamp
        return stamp

    def _parse_time(
        self, date: str, clock: str, ampm: str | None, state: _WindowsState
    ) -> datetime:
        if len(date) == 8 and date.isdigit():
            year, month, day = int(date[:4]), int(date[4:6]), int(date[6:])
        else:
            dotted = "." in date
            parts = date.replace(".", "/").replace("-", "/").split("/")
            if len(parts) != 3:
                raise ValueError("expected three numbers")
            first, second, third = parts
            if len(first) == 4:
                year, month, day = int(first), int(second), int(third)
            elif len(third) in (2, 4):
                year = int(third) + (2000 if len(third) == 2 else 0)
                a, b = int(first), int(second)
                order = self._order
                if order is None:
                    if dotted or a > 12:
                        order = "dmy"
                    elif b > 12:
                        order = "mdy"
                    else:
                        order = state.order or "mdy"
                day, month = (a, b) if order == "dmy" else (b, a)
            else:
                raise ValueError("no year")
        hour_text, minute, second_text = clock.split(":")
        hour = int(hour_text)
        if ampm:
            if not 1 <= hour <= 12:
                raise ValueError(f"hour {hour} with {ampm}")
            pm = ampm[0] in "Pp"
            hour = (hour % 12) + (12 if pm else 0)
        return datetime(year, month, day, hour, int(minute), int(second_text), tzinfo=UTC)


def _date_order_of(date: str) -> DateOrder | None:
    """The day/month order a date proves (``28/11/2026``, ``28.11.2026``), else None."""
    parts = date.replace(".", "/").split("/")
    if len(parts) != 3 or len(parts[0]) > 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    if "." in date or int(parts[0]) > 12:
        return "dmy"
    if int(parts[1]) > 12:
        return "mdy"
    return None


_WIN_SNIFF = re.compile(
    rb"(?m)^(?:\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}|\d{8}) +\d{1,2}:\d\d:\d\d(?: ?[AaPp]\.? ?[Mm]\.?)?"
    rb" +[0-9A-Fa-f]+ +PACKET +(?:[0-9A-Fa-f]+ +)?(?:UDP|TCP) +(?:Rcv|Snd) "
)
