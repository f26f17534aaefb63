"""The shared base of the DNS server log parsers: lines to events, syslog headers, helpers.

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

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, ClassVar

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

_MAX_STREAMS = 64
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
