"""DNS servers' own logs: Windows DNS debug log, BIND query log, dnsmasq/Pi-hole, Unbound.

These logs are where a site's lookups are when there is no network sensor, so each line a
server writes about a query or an answer becomes one DNS event with the ECS DNS fields the DNS
sensor reads (``dns.question.name``, ``dns.question.type``, ``dns.response_code``,
``dns.answers.data``, ``client.ip``/``source.ip``) and the datasets ``dns.windows``,
``dns.bind``, ``dns.dnsmasq`` and ``dns.unbound``. See docs/dns-sources.md for the fields.

Rules the four parsers share:

* Every event has ``event.kind`` ``event``, ``event.category`` ``["network"]``,
  ``event.type`` ``["protocol"]``, ``network.protocol`` ``dns``, ``event.original`` (the
  line) and ``event.id`` from the line's byte offset.
* ``dns.question.name`` is the name as the server logged it (case kept, so DNS 0x20 case
  randomisation stays visible) without its trailing dot; the root stays ``.``.
* ``client.ip`` (with ``source.ip``) is the client a query or answer line is about; the
  analytics group lookups by it before ``source.ip``. Two cases differ, each documented on its
  class: a Windows packet's remote is ``client.ip`` whichever way it went (the forwarder for the
  server's own recursion), and a dnsmasq ``forwarded`` line, the server's own query upstream,
  has no client (so a lookup is not counted twice for its client).
* ``dns.type`` is ``query`` for a question and ``answer`` for a response, a failure, a denial or
  a block; ``dns.response_code`` is set on answers only.
* Times without a zone are the server's local time and are stored as if UTC (the logs do not
  say the zone; ``event.original`` keeps what was written). Syslog times without a year take
  the year of ``ctx.received`` (the year before when that would be more than a day ahead).
* A line of the server that is not about a query or an answer (headers, start-up, statistics,
  DHCP) is skipped silently. A line that has the shape of a query or answer line but cannot be
  read (bad date, truncated) is a :class:`~tocsin.ingest.base.ParseIssue` with its line number.
  In a syslog file, lines of other programs become plain ``syslog`` events, so pointing one of
  these parsers at a mixed ``/var/log/syslog`` loses nothing.

The dnsmasq parser and the Windows date reader remember a little about each input (the last
client of a name, the day/month order seen), keyed by ``ctx.identity`` and reset when an input
is read from its start.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO, ClassVar, Literal, cast

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.ingest.base import LineParser, ParseBatch, ParseContext, ParseIssue, RecordError
from tocsin.ingest.parsers.syslog import (
    month_number,
    parse_iso_time,
    parse_syslog_message,
    resolve_year,
)

RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADVERS",
}  # fmt: skip
"""DNS response codes by number (RFC 1035, 2136, 6891), as the servers spell them."""

DateOrder = Literal["mdy", "dmy"]

_MAX_STREAMS = 64
_MAX_NAMES = 4096
_CACHE_SIZE = 4096
_ERRORS = (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError)


class SkippedLine(RecordError):
    """Raised by ``parse_line`` for a line that is not DNS traffic (``parse_stream`` skips it)."""


def strip_dot(name: str) -> str:
    """Return ``name`` without its trailing dot (the root ``.`` stays ``.``)."""
    if len(name) > 1 and name[-1] == ".":
        return name[:-1]
    return name


def _envelope(ctx: ParseContext, offset: int, text: str, when: datetime, dataset: str) -> Event:
    return {
        ev.ID: ctx.event_id(offset),
        ev.TIMESTAMP: when,
        ev.DATASET: ctx.dataset or dataset,
        ev.KIND: "event",
        # fresh lists: a later stage may extend them in place
        ev.CATEGORY: ["network"],
        ev.TYPE: ["protocol"],
        ev.ORIGINAL: text,
        "network.protocol": "dns",
    }


def _set_client(event: Event, address: str, port: int | None = None) -> None:
    """The asking client: ``client.ip`` and ``source.ip`` (and its port)."""
    event["client.ip"] = address
    event["source.ip"] = address
    event["related.ip"] = [address]
    if port is not None:
        event["client.port"] = port
        event["source.port"] = port


def _add_related(event: Event, address: str) -> None:
    related = event.get("related.ip")
    if isinstance(related, list):
        if address not in related:
            related.append(address)
    else:
        event["related.ip"] = [address]


# -- syslog prefix ------------------------------------------------------------------------------

_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# [<PRI>]TIME [HOST ]TAG[PID]: MSG, with a BSD or an ISO 8601 time (what rsyslog and syslog-ng
# write to files, and Pi-hole's pihole.log, which has no host).
_SYSLOG_HEAD = re.compile(
    rf"(?:<\d{{1,3}}>)?(?:(?P<bsd>(?:{_MONTHS}) {{1,2}}\d{{1,2}} (?:\d{{4}} )?\d\d:\d\d:\d\d"
    r"(?:\.\d{1,6})?)|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?"
    r"(?:Z|[+-]\d\d:?\d\d)?)) +(?:(?P<host>[^\s\[\]]+) +)??(?P<tag>[^\s\[\]:]+)"
    r"(?:\[(?P<pid>[^\]]*)\])?: ?"
)

_bsd_cache: dict[tuple[str, datetime], datetime] = {}


def _bsd_time(text: str, received: datetime) -> datetime:
    """UTC time of a BSD syslog timestamp, resolving a missing year against ``received``."""
    key = (text, received)
    stamp = _bsd_cache.get(key)
    if stamp is not None:
        return stamp
    fields = text.split()
    try:
        month = month_number(fields[0])
        day = int(fields[1])
        clock, _, frac = fields[-1].partition(".")
        hour, minute, second = (int(part) for part in clock.split(":"))
        micro = int(frac.ljust(6, "0")) if frac else 0
        if len(fields) == 4:
            stamp = datetime(int(fields[2]), month, day, hour, minute, second, micro, tzinfo=UTC)
        else:
            stamp = resolve_year(month, day, (hour, minute, second, micro), received)
    except ValueError as exc:
        raise RecordError(f"invalid syslog timestamp {text!r}: {exc}") from None
    if len(_bsd_cache) >= _CACHE_SIZE:
        _bsd_cache.clear()
    _bsd_cache[key] = stamp
    return stamp


@dataclass(frozen=True, slots=True)
class SyslogHead:
    """The parts of a syslog line's header: time, host, tag (program), pid, message."""

    when: datetime
    host: str | None
    tag: str
    pid: str | None
    message: str


def split_syslog(
    text: str, raw: bytes, ctx: ParseContext, offset: int, what: str
) -> SyslogHead | Event:
    """Split a syslog line into its header and message.

    Returns a plain ``syslog`` event instead when the line is syslog this module does not
    take apart (RFC 5424 and other rare forms are read by the syslog parser and handed back as
    a head when they carry a program name).

    Raises:
        RecordError: when the line is not syslog (``what`` names the format expected), or its
            time cannot be read.
    """
    match = _SYSLOG_HEAD.match(text)
    if match is not None:
        bsd = match.group("bsd")
        if bsd is not None:
            when = _bsd_time(bsd, ctx.received)
        else:
            try:
                when = parse_iso_time(match.group("iso"))
            except ValueError as exc:
                raise RecordError(f"invalid syslog timestamp: {exc}") from None
        return SyslogHead(
            when, match.group("host"), match.group("tag"), match.group("pid"), text[match.end() :]
        )
    try:
        event = parse_syslog_message(raw, ctx, offset)
    except RecordError:
        raise RecordError(f"not a {what} line: {text[:80]!r}") from None
    app = event.get("log.syslog.appname")
    stamp = event.get(ev.TIMESTAMP)
    if isinstance(app, str) and isinstance(stamp, datetime):
        host = event.get("host.name")
        pid = event.get("log.syslog.procid")
        return SyslogHead(
            stamp,
            host if isinstance(host, str) else None,
            app,
            pid if isinstance(pid, str) else None,
            str(event.get("message", "")),
        )
    return event


def _add_head(event: Event, head: SyslogHead) -> None:
    if head.host:
        event["host.name"] = head.host
    event["process.name"] = head.tag
    pid = head.pid
    if pid:
        number = pid.partition(":")[0]
        if number.isdigit():
            event["process.pid"] = int(number)


# -- the shared base ----------------------------------------------------------------------------


class DnsServerLogParser(LineParser):
    """Base of the DNS server log parsers: ``read_line`` returns None for lines to skip."""

    id: ClassVar[str] = "dns_server"
    dataset: ClassVar[str] = "dns"

    def __init__(self) -> None:
        self._streams: OrderedDict[str, object] = OrderedDict()

    def read_line(self, text: str, raw: bytes, ctx: ParseContext, offset: int) -> Event | None:
        """Return the event of one line, or None when the line is not DNS traffic."""
        raise NotImplementedError

    def new_state(self) -> object:
        """What the parser remembers about one input (nothing by default)."""
        return None

    def state(self, ctx: ParseContext) -> object:
        """The memory of the input ``ctx`` names, created on first use (bounded in number)."""
        found = self._streams.get(ctx.identity)
        if found is None:
            if len(self._streams) >= _MAX_STREAMS:
                self._streams.popitem(last=False)
            found = self._streams[ctx.identity] = self.new_state()
        return found

    def parse_line(self, line: bytes, ctx: ParseContext, offset: int) -> Event:
        """Parse one line; raise :class:`SkippedLine` for a line that is not DNS traffic."""
        event = self.read_line(line.decode("utf-8", errors="replace"), line, ctx, offset)
        if event is None:
            raise SkippedLine(f"not a DNS query or answer line for {self.id}")
        return event

    def parse_stream(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseBatch]:
        """Parse every line; skipped lines leave no event and no issue."""
        if ctx.base_offset == 0:
            self._streams.pop(ctx.identity, None)  # a new reading from the start
        events: list[Event] = []
        issues: list[ParseIssue] = []
        read_line = self.read_line
        batch_size = self.batch_size
        offset = 0
        lineno = 0
        for raw in stream:
            lineno += 1
            start = offset
            offset += len(raw)
            line = raw.rstrip(b"\r\n")
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line or line.isspace():
                continue
            try:
                event = read_line(line.decode("utf-8", errors="replace"), line, ctx, start)
            except _ERRORS as exc:
                reason = str(exc) or type(exc).__name__
                issues.append(ParseIssue(ctx.source, start, lineno, reason, bytes(line), self.id))
                continue
            if event is None:
                continue
            events.append(event)
            if len(events) >= batch_size:
                yield ParseBatch(events, issues, offset)
                events, issues = [], []
        if events or issues or offset:
            yield ParseBatch(events, issues, offset)


def _sniff_lines(head: bytes, hit: re.Pattern[bytes], ours: re.Pattern[bytes]) -> int:
    """85 when the head has DNS lines of the program and its lines are at least half of all."""
    hits = own = total = 0
    for raw in head.split(b"\n", 400)[:400]:
        line = raw.strip(b"\r\x00\t \xef\xbb\xbf")
        if not line:
            continue
        total += 1
        if hit.search(line):
            hits += 1
            own += 1
        elif ours.search(line):
            own += 1
    # A syslog file where the program is a minority stays with the syslog parser.
    return 85 if hits and own * 2 >= total else 0


# -- Windows DNS debug log ----------------------------------------------------------------------

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


# -- BIND 9 -------------------------------------------------------------------------------------

_BIND_TIME = re.compile(
    r"(\d{1,2}-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d)(?:\.(\d{1,6}))? +"
)  # print-time local: 28-Nov-2026 10:15:22.123
_BIND_ISO = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?) +"
    r"(?=client |[a-z][a-z0-9-]*: )"
)  # print-time iso8601 / iso8601-utc, not followed by a syslog host
_BIND_PREFIX = re.compile(
    r"(?:(?P<category>[a-z][a-z0-9-]*): )?"
    r"(?:(?P<severity>critical|error|warning|notice|info|dynamic|debug(?: \d+)?): )?"
)
_BIND_CLIENT = (
    r"client (?:@0x[0-9A-Fa-f]+ )?(?P<ip>[0-9A-Fa-f:.]+(?:%[^#\s]+)?)#(?P<port>\d+)"
    r"(?: \([^)]*\))?: (?:view (?P<view>[^:]+): )?"
)
_BIND_QUERY = re.compile(
    _BIND_CLIENT + r"query: (?P<name>\S+) (?P<cls>\S+) (?P<type>\S+) (?P<flags>[-+][\w()]*)"
    r"(?: \((?P<server>[^)]*)\))?(?: \[ECS (?P<ecs>[^\]]*)\])?\s*$"
)
_BIND_FAILED = re.compile(
    _BIND_CLIENT + r"query failed \((?P<reason>[^)]*)\) for (?P<what>\S+)(?: at (?P<where>\S+))?"
)
_BIND_DENIED = re.compile(
    _BIND_CLIENT + r"query (?:\((?P<scope>[^)]*)\) )?'(?P<what>[^']*)' denied"
)
_BIND_RPZ = re.compile(
    _BIND_CLIENT + r"rpz (?P<trigger>\S+) (?P<policy>\S+) rewrite (?P<what>\S+) via (?P<rule>\S+)"
)
# A query line in one match, after BIND's own time or a syslog header (the general path reads
# the rest): time, fraction, syslog time, host, pid, then the query.
_BIND_FAST = re.compile(
    r"(?:(\d{1,2}-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d)(?:\.(\d{1,6}))? (?:queries: )?(?:info: )?"
    rf"|((?:{_MONTHS}) {{1,2}}\d{{1,2}} \d\d:\d\d:\d\d) ([^\s\[\]]+) named\[(\d+)\]: )"
    r"client (?:@0x[0-9A-Fa-f]+ )?([0-9A-Fa-f:.]+(?:%[^#\s]+)?)#(\d+)(?: \([^)]*\))?: "
    r"(?:view ([^:]+): )?query: (\S+) (\S+) (\S+) ([-+][\w()]*)(?: \(([^)]*)\))?"
    r"(?: \[ECS ([^\]]*)\])?$"
)
_BIND_CLASSES = frozenset({"IN", "CH", "HS", "CHAOS", "HESIOD", "ANY", "NONE"})
_BIND_MONTHS = {name.lower(): number for number, name in enumerate(_MONTHS.split("|"), 1)}
_RPZ_RCODES = {"NXDOMAIN": "NXDOMAIN", "NODATA": "NOERROR", "Local-Data": "NOERROR"}


_bind_cache: dict[str, datetime] = {}


def _bind_time(text: str, fraction: str | None) -> datetime:
    """UTC time of BIND's ``28-Nov-2026 10:15:22`` and its fraction of a second."""
    stamp = _bind_cache.get(text)
    if stamp is None:
        try:
            day, month, rest = text.split("-", 2)
            year, clock = rest.split(" ")
            hour, minute, second = clock.split(":")
            stamp = datetime(
                int(year),
                _BIND_MONTHS[month.lower()],
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=UTC,
            )
        except (KeyError, ValueError) as exc:
            raise RecordError(f"invalid BIND time {text!r}: {exc}") from None
        if len(_bind_cache) >= _CACHE_SIZE:
            _bind_cache.clear()
        _bind_cache[text] = stamp
    if fraction:
        return stamp.replace(microsecond=int(fraction.ljust(6, "0")))
    return stamp


def _has_bind_prefix(text: str) -> bool:
    """True when ``text`` opens with BIND's category or severity (``queries: info: ``)."""
    match = _BIND_PREFIX.match(text)
    return match is not None and match.end() > 0


def _bind_header_flags(flags: str) -> list[str]:
    out = ["RD"] if flags.startswith("+") else []
    if "C" in flags:
        out.append("CD")
    if "D" in flags:
        out.append("DO")
    return out


def _split_what(what: str) -> tuple[str, str | None, str | None]:
    """``name/class/type`` or ``name/type/class`` (BIND writes both) as (name, type, class)."""
    parts = what.rsplit("/", 2)
    if len(parts) != 3:
        return what, None, None
    name, first, second = parts
    if first.upper() in _BIND_CLASSES or first.upper().startswith("CLASS"):
        return name, second, first
    return name, first, second


class BindQueryParser(DnsServerLogParser):
    """BIND 9 query logging (``queries``), failed queries (``query-errors``), denials and RPZ.

    Lines may start with BIND's own time (``print-time`` local or ISO 8601) and its category
    and severity, with a syslog header (``named[pid]:``), or with nothing (the time is then
    ``ctx.received``). ``client @0x...`` (BIND 9.11 and later) and ``view NAME:`` are optional.
    """

    id: ClassVar[str] = "dns_bind"
    dataset: ClassVar[str] = "dns.bind"

    def sniff(self, head: bytes) -> int:
        """Return 85 when named's query lines make up the head, else 0."""
        return _sniff_lines(head, _BIND_SNIFF_HIT, _BIND_SNIFF_OURS)

    def read_line(self, text: str, raw: bytes, ctx: ParseContext, offset: int) -> Event | None:
        """Parse one BIND line; None for named's other messages."""
        fast = _BIND_FAST.match(text)
        if fast is not None:
            return self._read_fast(fast, text, ctx, offset)
        host: SyslogHead | None = None
        match = _BIND_TIME.match(text)
        if match is not None:
            when = _bind_time(match.group(1), match.group(2))
            body = text[match.end() :]
        elif (match := _BIND_ISO.match(text)) is not None:
            try:
                when = parse_iso_time(match.group(1))
            except ValueError as exc:
                raise RecordError(f"invalid BIND time {match.group(1)!r}: {exc}") from None
            body = text[match.end() :]
        elif text.startswith("client ") or _has_bind_prefix(text):
            when = ctx.received  # print-time no: nothing better than when it arrived
            body = text
        else:
            head = split_syslog(text, raw, ctx, offset, "BIND log")
            if not isinstance(head, SyslogHead):
                return head
            if not head.tag.startswith("named"):
                return parse_syslog_message(raw, ctx, offset)
            host, when, body = head, head.when, head.message
        prefix = _BIND_PREFIX.match(body)
        category = prefix.group("category") if prefix else None
        if prefix is not None:
            body = body[prefix.end() :]
        event = self._read_body(body, text, ctx, offset, when, category)
        if event is not None and host is not None:
            _add_head(event, host)
        return event

    def _read_fast(self, match: re.Match[str], text: str, ctx: ParseContext, offset: int) -> Event:
        """A query line (BIND's own time or syslog) in one match."""
        (stamp, fraction, bsd, host, pid, ip, port, view, name, qclass, qtype, flags, server,
         ecs) = match.groups()  # fmt: skip
        when = _bind_time(stamp, fraction) if stamp is not None else _bsd_time(bsd, ctx.received)
        number = int(port)
        event: Event = {
            ev.ID: ctx.event_id(offset),
            ev.TIMESTAMP: when,
            ev.DATASET: ctx.dataset or self.dataset,
            ev.KIND: "event",
            ev.CATEGORY: ["network"],
            ev.TYPE: ["protocol"],
            ev.ORIGINAL: text,
            "network.protocol": "dns",
            "network.transport": "tcp" if "T" in flags else "udp",
            "client.ip": ip,
            "client.port": number,
            "source.ip": ip,
            "source.port": number,
            "related.ip": [ip, server] if server and server != ip else [ip],
            "dns.type": "query",
            "dns.question.name": name[:-1] if len(name) > 1 and name[-1] == "." else name,
            "dns.question.class": qclass,
            "dns.question.type": qtype,
            "dns.flags_raw": flags,
            "dns.header_flags": _bind_header_flags(flags),
        }
        if server:
            event["destination.ip"] = server
        if view:
            event["dns.bind.view"] = view
        if ecs:
            event["dns.bind.ecs"] = ecs
        if host is not None:
            event["host.name"] = host
            event["process.name"] = "named"
            event["process.pid"] = int(pid)
        return event

    def _read_body(
        self,
        body: str,
        text: str,
        ctx: ParseContext,
        offset: int,
        when: datetime,
        category: str | None,
    ) -> Event | None:
        if not body.startswith("client "):
            if category == "queries":
                raise RecordError(f"BIND queries line without a client: {body[:80]!r}")
            return None
        match = _BIND_QUERY.match(body)
        if match is not None:
            event = self._client_event(match, ctx, offset, text, when)
            flags = match.group("flags")
            event["dns.type"] = "query"
            event["dns.question.name"] = strip_dot(match.group("name"))
            event["dns.question.class"] = match.group("cls")
            event["dns.question.type"] = match.group("type")
            event["dns.flags_raw"] = flags
            event["dns.header_flags"] = _bind_header_flags(flags)
            event["network.transport"] = "tcp" if "T" in flags else "udp"
            server = match.group("server")
            if server:
                event["destination.ip"] = server
                _add_related(event, server)
            if match.group("ecs"):
                event["dns.bind.ecs"] = match.group("ecs")
            return event
        for pattern, reader in (
            (_BIND_FAILED, self._failed),
            (_BIND_DENIED, self._denied),
            (_BIND_RPZ, self._rpz),
        ):
            match = pattern.match(body)
            if match is not None:
                event = self._client_event(match, ctx, offset, text, when)
                event["dns.type"] = "answer"
                name, qtype, qclass = _split_what(match.group("what"))
                event["dns.question.name"] = strip_dot(name)
                if qtype:
                    event["dns.question.type"] = qtype
                if qclass:
                    event["dns.question.class"] = qclass
                reader(match, event)
                return event
        if category == "queries" or ": query: " in body or ": query failed " in body:
            raise RecordError(f"BIND query line not understood: {body[:120]!r}")
        return None  # transfers, notifies, updates and the rest of named's client messages

    def _client_event(
        self, match: re.Match[str], ctx: ParseContext, offset: int, text: str, when: datetime
    ) -> Event:
        event = _envelope(ctx, offset, text, when, self.dataset)
        _set_client(event, match.group("ip"), int(match.group("port")))
        if match.group("view"):
            event["dns.bind.view"] = match.group("view")
        return event

    @staticmethod
    def _failed(match: re.Match[str], event: Event) -> None:
        reason = match.group("reason")
        code = reason.upper()
        if code in _RCODE_SET:
            event["dns.response_code"] = code
        else:
            # BIND answers SERVFAIL when resolution fails for another reason (timed out, ...)
            event["dns.response_code"] = "SERVFAIL"
            event["dns.bind.error"] = reason
        event["event.outcome"] = "failure"

    @staticmethod
    def _denied(match: re.Match[str], event: Event) -> None:
        event["dns.response_code"] = "REFUSED"
        event["event.action"] = "denied"
        event["event.outcome"] = "failure"
        if match.group("scope"):
            event["dns.bind.acl"] = match.group("scope")

    @staticmethod
    def _rpz(match: re.Match[str], event: Event) -> None:
        policy = match.group("policy")
        event["dns.bind.rpz.trigger"] = match.group("trigger")
        event["dns.bind.rpz.policy"] = policy
        event["dns.bind.rpz.rule"] = strip_dot(match.group("rule"))
        if policy in _RPZ_RCODES:
            event["dns.response_code"] = _RPZ_RCODES[policy]
        if policy.upper() != "PASSTHRU":
            event["event.action"] = "blocked"


_RCODE_SET = frozenset(RCODE_NAMES.values())
_BIND_SNIFF_HIT = re.compile(
    rb"client (?:@0x[0-9A-Fa-f]+ )?[0-9A-Fa-f:.%\w]+#\d+(?: \([^)]*\))?: (?:view [^:]+: )?"
    rb"(?:query: \S+ \S+ \S+ [-+]|query failed \()"
)
_BIND_SNIFF_OURS = re.compile(
    rb"^\d{1,2}-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d|^client |named(?:-\w+)?(?:\[\d+\])?: "
)


# -- dnsmasq / Pi-hole --------------------------------------------------------------------------

_DM_EXTRA = re.compile(
    r"(?P<serial>\d+|\*) (?:(?P<client>[0-9A-Fa-f:.]*[0-9A-Fa-f](?:%[^/\s]+)?)/(?P<port>\d+) )?"
)
_DM_HEAD = re.compile(
    rf"((?:{_MONTHS}) {{1,2}}\d{{1,2}} \d\d:\d\d:\d\d) (?:([^\s\[\]]+) )?(dnsmasq|pihole-FTL)"
    r"\[(\d+)\]: "
)  # the common syslog header (with or without a host), read without the general path
_DM_QUERY = re.compile(r"query\[(?P<type>[^\]]*)\] (?P<name>\S+) from (?P<client>\S+) *$")
_DM_UPSTREAM = re.compile(
    r"(?P<action>forwarded|dnssec-query|dnssec-retry)(?:\[(?P<type>[^\]]*)\])? (?P<name>\S+) "
    r"to (?P<server>\S+) *$"
)
_DM_ANSWER = re.compile(r"(?P<action>[A-Za-z/][\w./ -]*?) (?P<name>\S+) is (?P<value>.*\S) *$")
_DM_EXTRA_NOTE = re.compile(r"\s+\((?:EDE: (?P<ede>[^)]*)|DNSSEC signed)\)$")
_DM_STARTS = ("query[", "forwarded ", "reply ", "cached ", "cached-stale ", "config ", "dnssec-")
_DM_RCODES = {"NXDOMAIN": "NXDOMAIN", "SERVFAIL": "SERVFAIL", "REFUSED": "REFUSED"}
_DM_RCODES["not implemented"] = "NOTIMP"
_DM_BLOCKED_WORDS = ("blocked", "blacklist", "denied", "denylist", "blocklist")
_DM_BLOCKED_ACTIONS = frozenset({"special domain", "apple icloud private relay domain"})
_DM_BLOCKED_EDE = frozenset({"blocked", "censored", "filtered", "prohibited"})
_DM_TAGS = ("dnsmasq", "pihole-FTL", "pihole")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}$")


@dataclass(slots=True)
class _DnsmasqState:
    # name (lowercased) -> (client, question type) of the last query for it, oldest first
    names: OrderedDict[str, tuple[str, str | None]] = field(default_factory=OrderedDict)
    # extra mode: serial -> (client, question type)
    serials: OrderedDict[str, tuple[str, str | None]] = field(default_factory=OrderedDict)
    # the client of the CNAME chain the reply lines are walking, if any
    chain: str | None = None


def _remember(
    table: OrderedDict[str, tuple[str, str | None]], key: str, value: tuple[str, str]
) -> None:
    """Put ``key`` last in a bounded table (the oldest goes when it is full)."""
    if key in table:
        table.move_to_end(key)
    elif len(table) >= _MAX_NAMES:
        table.popitem(last=False)
    table[key] = value


def _split_port(address: str) -> tuple[str, int | None]:
    """``1.1.1.1#5335`` as (address, port); dnsmasq adds ``#port`` when it is not 53."""
    host, sep, port = address.partition("#")
    return host, (int(port) if sep and port.isdigit() else None)


def _is_address(text: str) -> bool:
    # cheap tests first: this runs on every answer line
    if text[-1:].isdigit() and _IPV4.match(text) is not None:
        return True
    return text.count(":") >= 2


class DnsmasqParser(DnsServerLogParser):
    """dnsmasq ``log-queries`` lines (also ``log-queries=extra``) and Pi-hole's ``pihole.log``.

    Query lines are ``dns.type`` query with the client; answer lines (``reply``, ``cached``,
    ``config``, hosts files, Pi-hole's blocking lines) are ``dns.type`` answer with
    ``dns.answers.data`` or ``dns.response_code``. A default-format answer names no client:
    it takes the last client that asked for the name in this input (and a CNAME chain's reply
    lines the client of the chain); in extra mode the line's own client or its serial decides.
    ``forwarded`` lines are the server's own query upstream: ``destination.ip`` is the
    upstream server and they carry no client, so a lookup is not counted twice for its client.
    """

    id: ClassVar[str] = "dns_dnsmasq"
    dataset: ClassVar[str] = "dns.dnsmasq"

    def new_state(self) -> object:
        """Recent clients by name and by serial."""
        return _DnsmasqState()

    def sniff(self, head: bytes) -> int:
        """Return 85 when dnsmasq's query lines make up the head, else 0."""
        return _sniff_lines(head, _DM_SNIFF_HIT, _DM_SNIFF_OURS)

    def read_line(self, text: str, raw: bytes, ctx: ParseContext, offset: int) -> Event | None:
        """Parse one dnsmasq line; None for its DHCP, start-up and other messages."""
        fast = _DM_HEAD.match(text)
        if fast is not None:
            bsd, host, tag, pid = fast.groups()
            when = _bsd_time(bsd, ctx.received)
            message = text[fast.end() :]
        else:
            head = split_syslog(text, raw, ctx, offset, "dnsmasq log")
            if not isinstance(head, SyslogHead):
                return head
            if not head.tag.startswith(_DM_TAGS):
                return parse_syslog_message(raw, ctx, offset)
            if head.tag not in ("dnsmasq", "pihole-FTL"):
                return None  # dnsmasq-dhcp, dnsmasq-tftp, dnsmasq-script
            when, host, tag, pid, message = head.when, head.host, head.tag, head.pid, head.message
        state = cast(_DnsmasqState, self.state(ctx))
        serial: str | None = None
        line_client: str | None = None
        line_port: int | None = None
        extra = _DM_EXTRA.match(message)
        if extra is not None:
            serial = extra.group("serial")
            line_client = extra.group("client")
            if line_client is not None:
                line_port = int(extra.group("port"))
            message = message[extra.end() :]
        event = self._read_message(message, when, text, ctx, offset)
        if event is None:
            state.chain = None
            return None
        if host:
            event["host.name"] = host
        event["process.name"] = tag
        if pid and pid.isdigit():
            event["process.pid"] = int(pid)
        if serial is not None and serial != "*":
            event["dns.dnsmasq.serial"] = int(serial)
        self._attribute(event, state, serial, line_client, line_port)
        return event

    def _read_message(
        self, message: str, when: datetime, text: str, ctx: ParseContext, offset: int
    ) -> Event | None:
        if message.startswith("query["):
            match = _DM_QUERY.match(message)
            if match is None:
                raise RecordError(f"dnsmasq query line not understood: {message[:120]!r}")
            event = _envelope(ctx, offset, text, when, self.dataset)
            event["dns.type"] = "query"
            event["dns.dnsmasq.action"] = "query"
            event["dns.question.name"] = strip_dot(match.group("name"))
            event["dns.question.type"] = match.group("type")
            _set_client(event, match.group("client"))
            return event
        match = _DM_UPSTREAM.match(message)
        if match is not None:
            event = _envelope(ctx, offset, text, when, self.dataset)
            event["dns.type"] = "query"
            event["dns.dnsmasq.action"] = match.group("action")
            event["dns.question.name"] = strip_dot(match.group("name"))
            if match.group("type"):
                event["dns.question.type"] = match.group("type")
            server, port = _split_port(match.group("server"))
            event["destination.ip"] = server
            event["related.ip"] = [server]
            if port is not None:
                event["destination.port"] = port
            return event
        match = _DM_ANSWER.match(message)
        if match is not None and ":" not in match.group("action"):
            return self._answer(match, when, text, ctx, offset)
        if message.startswith(_DM_STARTS):
            raise RecordError(f"dnsmasq query or answer line not understood: {message[:120]!r}")
        return None

    def _answer(
        self, match: re.Match[str], when: datetime, text: str, ctx: ParseContext, offset: int
    ) -> Event:
        action = match.group("action")
        name = match.group("name")
        value = match.group("value")
        event = _envelope(ctx, offset, text, when, self.dataset)
        event["dns.type"] = "answer"
        ede = None
        note = _DM_EXTRA_NOTE.search(value) if value[-1] == ")" else None
        if note is not None:
            ede = note.group("ede")
            value = value[: note.start()]
            if ede:
                event["dns.dnsmasq.ede"] = ede
        if action.startswith("/"):
            event["dns.dnsmasq.action"] = "hosts"
            event["dns.dnsmasq.file"] = action
        else:
            event["dns.dnsmasq.action"] = action
        event["dns.dnsmasq.answer"] = value
        code = _DM_RCODES.get(value)
        if code is not None:
            event["dns.response_code"] = code
        elif value.startswith("NODATA"):
            event["dns.response_code"] = "NOERROR"
        elif value.isdigit():
            event["dns.response_code"] = RCODE_NAMES.get(int(value), value)
        elif value.startswith("<") and value.endswith(">"):
            event["dns.response_code"] = "NOERROR"  # the records follow on the next lines
        else:
            event["dns.response_code"] = "NOERROR"
            event["dns.answers.data"] = [value]
            if not _is_address(value) and _is_address(name):
                # a reverse answer: dnsmasq writes the address where the name would be
                try:
                    name = ipaddress.ip_address(name).reverse_pointer
                except ValueError:
                    pass
                else:
                    event["dns.question.type"] = "PTR"
        if name != "error":  # dnsmasq's stand-in when the reply had no readable question
            event["dns.question.name"] = strip_dot(name)
        lowered = action.lower()
        if (
            lowered in _DM_BLOCKED_ACTIONS
            or any(word in lowered for word in _DM_BLOCKED_WORDS)
            or (ede is not None and ede in _DM_BLOCKED_EDE)
        ):
            event["event.action"] = "blocked"
        return event

    @staticmethod
    def _attribute(
        event: Event,
        state: _DnsmasqState,
        serial: str | None,
        line_client: str | None,
        line_port: int | None,
    ) -> None:
        """Put the asking client on the event, and remember it for the answers to come."""
        kind = event["dns.type"]
        name = event.get("dns.question.name")
        key = name.lower() if isinstance(name, str) else None
        action = event.get("dns.dnsmasq.action")
        if action == "query":
            asker = (str(event["client.ip"]), str(event["dns.question.type"]))
            if line_port is not None and line_client == asker[0]:
                event["client.port"] = event["source.port"] = line_port
            if key is not None:
                _remember(state.names, key, asker)
            if serial is not None and serial != "*":
                _remember(state.serials, serial, asker)
            state.chain = None
            return
        if kind == "query":  # forwarded: the server asks upstream, the client is not the asker
            if key is not None and "dns.question.type" not in event:
                known = state.names.get(key)
                if known is not None:
                    event["dns.question.type"] = known[1]
            state.chain = None
            return
        answer_client: str | None = line_client
        qtype: str | None = None
        if answer_client is None and serial is not None and serial in state.serials:
            answer_client, qtype = state.serials[serial]
        if key is not None:
            known = state.names.get(key)
            if known is not None:
                answer_client = answer_client or known[0]
                qtype = qtype or known[1]
        if answer_client is None:
            answer_client = state.chain
        if answer_client is not None:
            port = line_port if line_client == answer_client else None
            _set_client(event, answer_client, port)
        if qtype and "dns.question.type" not in event:
            event["dns.question.type"] = qtype
        if event.get("dns.dnsmasq.answer") == "<CNAME>":
            state.chain = answer_client


_DM_SNIFF_HIT = re.compile(
    rb"(?:dnsmasq|pihole-FTL)\[\d+\]: (?:(?:\d+|\*) (?:\S+/\d+ )?)?"
    rb"(?:query\[\S*\] \S+ from |forwarded \S+ to |(?:reply|cached|config) \S+ is "
    rb"|gravity blocked )"
)
_DM_SNIFF_OURS = re.compile(rb"(?:dnsmasq|pihole-FTL)(?:-\w+)?\[\d+\]: ")


# -- Unbound ------------------------------------------------------------------------------------

_UB_EPOCH = re.compile(r"\[(?P<epoch>\d+)\] (?P<tag>[\w-]+)\[(?P<pid>\d+):(?P<tid>\w+)\] ")
_UB_TIMED = re.compile(
    rf"(?:(?P<bsd>(?:{_MONTHS}) {{1,2}}\d{{1,2}} \d\d:\d\d:\d\d)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)) "
    r"(?P<tag>[\w-]+)\[(?P<pid>\d+):(?P<tid>\w+)\] "
)  # log-time-ascii (BSD time) or log-time-iso, before unbound's own [pid:thread]
_UB_LEVEL = re.compile(r"(?:\[(?P<pid>\d+):(?P<tid>\w+)\] )?(?P<level>[a-z]+): ?")
_UB_ADDRESS = r"[0-9A-Fa-f:.]*\d[0-9A-Fa-f:.]*(?:%\S+)?"
_UB_CLASS = r"(?P<cls>IN|CH|HS|NONE|ANY|CLASS\d+)"
_UB_QUERY = re.compile(rf"(?P<client>{_UB_ADDRESS}) (?P<name>\S+) (?P<type>\S+) {_UB_CLASS}\s*$")
_UB_REPLY = re.compile(
    rf"(?P<client>{_UB_ADDRESS}) (?P<name>\S+) (?P<type>\S+) {_UB_CLASS} (?P<rcode>[A-Z0-9]+) "
    r"(?P<secs>\d+\.\d+) (?P<cached>[01]) (?P<size>\d+)(?: .*)?$"
)
_UB_FORMERR = re.compile(rf"(?P<client>{_UB_ADDRESS}) - - - (?P<rcode>\S+) - - -\s*$")
_UB_LOCAL = re.compile(
    rf"(?P<zone>\S+) (?P<action>[a-z_]+) (?P<client>{_UB_ADDRESS})@(?P<port>\d+) "
    rf"(?P<name>\S+) (?P<type>\S+) {_UB_CLASS}\s*$"
)
# The default log file's query and reply lines in one match (the general path reads the rest).
_UB_FAST = re.compile(
    r"\[(\d+)\] unbound\[(\d+):\w+\] (info|query|reply): ([0-9A-Fa-f:.]+) (\S+) (\S+) "
    r"(IN|CH|HS|NONE|ANY|CLASS\d+)(?: ([A-Z0-9]+) (\d+)\.(\d+) ([01]) (\d+)(?: .*)?)?$"
)
_UB_LOOKS = re.compile(rf"{_UB_ADDRESS} \S*\. ")
_UB_BLOCKING = frozenset(
    {"deny", "refuse", "always_refuse", "always_nxdomain", "always_null", "always_nodata",
     "inform_deny"}
)  # fmt: skip


class UnboundParser(DnsServerLogParser):
    """Unbound ``log-queries`` and ``log-replies`` lines (and ``log-local-actions``).

    Prefixes: ``[epoch] unbound[pid:thread]`` (the default log file),
    ``Mmm dd hh:mm:ss unbound[pid:thread]`` (``log-time-ascii``), an ISO 8601 time, or syslog
    (``host unbound: [pid:thread]``). The level is ``info:``, or ``query:``/``reply:`` with
    ``log-tag-queryreply``. A reply gives ``dns.response_code``, ``event.duration`` (ns),
    ``destination.bytes`` (the reply's size) and ``dns.unbound.cached``.
    """

    id: ClassVar[str] = "dns_unbound"
    dataset: ClassVar[str] = "dns.unbound"

    def sniff(self, head: bytes) -> int:
        """Return 85 when unbound's query or reply lines make up the head, else 0."""
        return _sniff_lines(head, _UB_SNIFF_HIT, _UB_SNIFF_OURS)

    def __init__(self) -> None:
        super().__init__()
        self._last_epoch: tuple[str, datetime] | None = None

    def read_line(self, text: str, raw: bytes, ctx: ParseContext, offset: int) -> Event | None:
        """Parse one unbound line; None for its start-up, statistics and other messages."""
        fast = _UB_FAST.match(text)
        if fast is not None:
            event = self._read_fast(fast, text, ctx, offset)
            if event is not None:
                return event
        host: SyslogHead | None = None
        pid: str | None = None
        match = _UB_EPOCH.match(text)
        if match is not None:
            when = self._epoch(match.group("epoch"))
            tag, pid, body = match.group("tag"), match.group("pid"), text[match.end() :]
        elif (match := _UB_TIMED.match(text)) is not None:
            bsd = match.group("bsd")
            if bsd is not None:
                when = _bsd_time(bsd, ctx.received)
            else:
                try:
                    when = parse_iso_time(match.group("iso"))
                except ValueError as exc:
                    raise RecordError(f"invalid unbound time: {exc}") from None
            tag, pid, body = match.group("tag"), match.group("pid"), text[match.end() :]
        else:
            head = split_syslog(text, raw, ctx, offset, "unbound log")
            if not isinstance(head, SyslogHead):
                return head
            if not head.tag.startswith("unbound"):
                return parse_syslog_message(raw, ctx, offset)
            host, when, tag, body = head, head.when, head.tag, head.message
        if tag != "unbound":
            return None  # unbound-anchor, unbound-control and friends
        level = _UB_LEVEL.match(body)
        if level is None:
            return None
        pid = level.group("pid") or pid
        message = body[level.end() :]
        kind = level.group("level")
        if kind not in ("info", "query", "reply"):
            return None  # notice, warning, error, debug
        event = self._read_message(message, kind, text, ctx, offset, when)
        if event is None:
            return None
        if host is not None:
            _add_head(event, host)
        else:
            event["process.name"] = "unbound"
        if pid is not None:
            event["process.pid"] = int(pid)
        return event

    def _epoch(self, text: str) -> datetime:
        last = self._last_epoch
        if last is not None and last[0] == text:
            return last[1]
        try:
            when = datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise RecordError(f"invalid unbound time {text!r}: {exc}") from None
        self._last_epoch = (text, when)
        return when

    def _read_fast(
        self, match: re.Match[str], text: str, ctx: ParseContext, offset: int
    ) -> Event | None:
        """The common line in one match; None sends it to the general path."""
        (epoch, pid, level, client, name, qtype, qclass, rcode, seconds, fraction, cached,
         size) = match.groups()  # fmt: skip
        if (rcode is None) == (level == "reply"):
            return None  # a reply tag without reply fields, or a query tag with them
        event: Event = {
            ev.ID: ctx.event_id(offset),
            ev.TIMESTAMP: self._epoch(epoch),
            ev.DATASET: ctx.dataset or self.dataset,
            ev.KIND: "event",
            ev.CATEGORY: ["network"],
            ev.TYPE: ["protocol"],
            ev.ORIGINAL: text,
            "network.protocol": "dns",
            "client.ip": client,
            "source.ip": client,
            "related.ip": [client],
            "dns.type": "query" if rcode is None else "answer",
            "dns.question.name": name[:-1] if len(name) > 1 and name[-1] == "." else name,
            "dns.question.type": qtype,
            "dns.question.class": qclass,
            "process.name": "unbound",
            "process.pid": int(pid),
        }
        if rcode is not None:
            event["dns.response_code"] = rcode
            event["event.duration"] = int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])
            event["destination.bytes"] = int(size)
            event["dns.unbound.cached"] = cached == "1"
        return event

    def _read_message(
        self, message: str, kind: str, text: str, ctx: ParseContext, offset: int, when: datetime
    ) -> Event | None:
        if kind != "reply":
            match = _UB_QUERY.match(message)
            if match is not None:
                event = self._event(match, text, ctx, offset, when)
                event["dns.type"] = "query"
                return event
        if kind != "query":
            match = _UB_REPLY.match(message)
            if match is not None:
                event = self._event(match, text, ctx, offset, when)
                event["dns.type"] = "answer"
                event["dns.response_code"] = match.group("rcode")
                seconds, _, micros = match.group("secs").partition(".")
                event["event.duration"] = int(seconds) * 1_000_000_000 + int(
                    micros.ljust(9, "0")[:9]
                )
                event["destination.bytes"] = int(match.group("size"))
                event["dns.unbound.cached"] = match.group("cached") == "1"
                return event
            match = _UB_FORMERR.match(message)
            if match is not None:
                event = _envelope(ctx, offset, text, when, self.dataset)
                _set_client(event, match.group("client"))
                event["dns.type"] = "answer"
                event["dns.response_code"] = match.group("rcode")
                return event
        if kind == "info":
            match = _UB_LOCAL.match(message)
            if match is not None:
                event = self._event(match, text, ctx, offset, when)
                action = match.group("action")
                event["source.port"] = event["client.port"] = int(match.group("port"))
                event["dns.type"] = "answer"
                event["dns.unbound.local_zone"] = strip_dot(match.group("zone"))
                event["dns.unbound.action"] = action
                if action in _UB_BLOCKING:
                    event["event.action"] = "blocked"
                    if action == "always_nxdomain":
                        event["dns.response_code"] = "NXDOMAIN"
                    elif action in ("refuse", "always_refuse"):
                        event["dns.response_code"] = "REFUSED"
                return event
            if not _UB_LOOKS.match(message):
                return None  # statistics, start-up, histogram lines
        raise RecordError(f"unbound {kind} line not understood: {message[:120]!r}")

    def _event(
        self, match: re.Match[str], text: str, ctx: ParseContext, offset: int, when: datetime
    ) -> Event:
        event = _envelope(ctx, offset, text, when, self.dataset)
        _set_client(event, match.group("client"))
        event["dns.question.name"] = strip_dot(match.group("name"))
        event["dns.question.type"] = match.group("type")
        event["dns.question.class"] = match.group("cls")
        return event


_UB_SNIFF_HIT = re.compile(
    rb"unbound(?:\[\d+:\w+\]|(?:\[\d+\])?: \[\d+:\w+\]) (?:info|query|reply): "
    rb"[0-9A-Fa-f:.]*\d[0-9A-Fa-f:.]* \S+ \S+ (?:IN|CH|HS|ANY|CLASS\d+)\b"
)
_UB_SNIFF_OURS = re.compile(rb"unbound(?:-\w+)?(?:\[[\d:\w]+\])?: |unbound\[\d+:\w+\] ")
