"""DNS server log parsers: Windows DNS debug log, BIND, dnsmasq/Pi-hole and Unbound.

Every sample line here was written for these tests after each server's documented log format.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tocsin.core.event import Event
from tocsin.core.settings import Settings
from tocsin.dns.source import load_lookups
from tocsin.ingest.base import ParseContext, ParseIssue, RecordError
from tocsin.ingest.parsers.dnsserver import (
    BindQueryParser,
    DnsmasqParser,
    DnsServerLogParser,
    SkippedLine,
    UnboundParser,
    WindowsDnsDebugParser,
    decode_wire_name,
    header_flags,
    strip_dot,
)
from tocsin.ingest.parsers.syslog import SyslogParser
from tocsin.ingest.registry import ParserSet
from tocsin.ingest.service import IngestService
from tocsin.lake.reader import LakeReader

RECEIVED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ENVELOPE = ("event.id", "event.kind", "event.category", "event.type", "event.original")
DNS_PARSERS = (WindowsDnsDebugParser, BindQueryParser, DnsmasqParser, UnboundParser)


def ts(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def make_ctx(identity: str = "input-1", received: datetime = RECEIVED) -> ParseContext:
    return ParseContext("dns.log", identity, received=received)


def parse(
    parser: DnsServerLogParser, text: str, context: ParseContext | None = None
) -> tuple[list[Event], list[ParseIssue]]:
    events: list[Event] = []
    issues: list[ParseIssue] = []
    stream = io.BufferedReader(io.BytesIO(text.encode()))
    for batch in parser.parse_stream(stream, context or make_ctx()):
        events.extend(batch.events)
        issues.extend(batch.issues)
    return events, issues


def one(parser: DnsServerLogParser, line: str, context: ParseContext | None = None) -> Event:
    events, issues = parse(parser, line + "\n", context)
    assert issues == []
    assert len(events) == 1
    return events[0]


def fields(event: Event) -> dict[str, object]:
    """The event without the envelope fields every event has (checked separately)."""
    return {k: v for k, v in event.items() if k not in ENVELOPE}


def check_envelope(event: Event, line: str, dataset: str, offset: int = 0) -> None:
    assert event["event.kind"] == "event"
    assert event["event.category"] == ["network"]
    assert event["event.type"] == ["protocol"]
    assert event["event.original"] == line
    assert event["event.dataset"] == dataset
    assert event["network.protocol"] == "dns"
    stamp = event["@timestamp"]
    assert isinstance(stamp, datetime) and stamp.tzinfo is UTC
    assert event["event.id"] == make_ctx().event_id(offset)


# -- shared helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("www.example.com.", "www.example.com"), ("www.example.com", "www.example.com"), (".", ".")],
)
def test_strip_dot(name: str, expected: str) -> None:
    assert strip_dot(name) == expected


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("(3)www(7)example(3)com(0)", "www.example.com"),
        ("(3)WwW(7)ExAmPlE(3)com(0)", "WwW.ExAmPlE.com"),  # case as logged
        ("(0)", "."),
        ("(5)a(1)b(3)com(0)", "a(1)b.com"),  # label lengths are followed, not the marks
        ("(2)_x(4)_tcp(4)corp(0)", "_x._tcp.corp"),
        ("(4)www(3)com(0)", "www.com"),  # lengths that disagree: split at the marks
    ],
)
def test_decode_wire_name(wire: str, expected: str) -> None:
    assert decode_wire_name(wire) == expected


@pytest.mark.parametrize("wire", ["(3)www(7)exa", "(3)www(7)example(3)com", "(3)ww"])
def test_decode_wire_name_refuses_a_truncated_name(wire: str) -> None:
    with pytest.raises(RecordError, match="truncated"):
        decode_wire_name(wire)


def test_header_flags() -> None:
    assert header_flags(0x8180) == ["RD", "RA"]
    assert header_flags(0x8583) == ["AA", "RD", "RA"]
    assert header_flags(0x0000) == []


# -- Windows DNS debug log ---------------------------------------------------------------------

WIN_QUERY = (
    "11/28/2026 10:15:22 AM 0E58 PACKET  000000D1E2B3C4F0 UDP Rcv 10.0.0.5        1a2b   Q "
    "[0001   D   NOERROR] A      (3)www(7)example(3)com(0)"
)
WIN_CASES = [
    pytest.param(
        WIN_QUERY,
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22),
            "event.dataset": "dns.windows",
            "network.protocol": "dns",
            "network.transport": "udp",
            "source.ip": "10.0.0.5",
            "client.ip": "10.0.0.5",
            "related.ip": ["10.0.0.5"],
            "dns.id": "1a2b",
            "dns.type": "query",
            "dns.op_code": "QUERY",
            "dns.header_flags": ["RD"],
            "dns.question.name": "www.example.com",
            "dns.question.type": "A",
            "dns.windows.thread_id": "0E58",
            "dns.windows.packet_id": "000000D1E2B3C4F0",
            "dns.windows.direction": "Rcv",
            "dns.windows.flags": "0001",
            "dns.windows.flag_chars": "D",
        },
        id="query-from-client",
    ),
    pytest.param(
        "11/28/2026 10:15:22 PM 0E58 PACKET  000000D1E2B3C4F0 UDP Snd 10.0.0.5        1a2b R Q "
        "[8081   DR  NOERROR] A      (3)www(7)example(3)com(0)",
        {
            "@timestamp": ts(2026, 11, 28, 22, 15, 22),
            "event.dataset": "dns.windows",
            "network.protocol": "dns",
            "network.transport": "udp",
            "destination.ip": "10.0.0.5",
            "client.ip": "10.0.0.5",
            "related.ip": ["10.0.0.5"],
            "dns.id": "1a2b",
            "dns.type": "answer",
            "dns.op_code": "QUERY",
            "dns.header_flags": ["RD", "RA"],
            "dns.question.name": "www.example.com",
            "dns.question.type": "A",
            "dns.response_code": "NOERROR",
            "dns.windows.thread_id": "0E58",
            "dns.windows.packet_id": "000000D1E2B3C4F0",
            "dns.windows.direction": "Snd",
            "dns.windows.flags": "8081",
            "dns.windows.flag_chars": "DR",
        },
        id="response-to-client-pm",
    ),
    pytest.param(
        "28/11/2026 17:40:01 0A1C PACKET  000000D1E2B3C5A0 TCP Snd 2001:db8:10::25  00ff R Q "
        "[8385 A DR NXDOMAIN] AAAA   (6)nohost(4)corp(7)example(0)",
        {
            "@timestamp": ts(2026, 11, 28, 17, 40, 1),
            "event.dataset": "dns.windows",
            "network.protocol": "dns",
            "network.transport": "tcp",
            "destination.ip": "2001:db8:10::25",
            "client.ip": "2001:db8:10::25",
            "related.ip": ["2001:db8:10::25"],
            "dns.id": "00ff",
            "dns.type": "answer",
            "dns.op_code": "QUERY",
            "dns.header_flags": ["AA", "RD", "RA"],
            "dns.question.name": "nohost.corp.example",
            "dns.question.type": "AAAA",
            "dns.response_code": "NXDOMAIN",
            "dns.windows.thread_id": "0A1C",
            "dns.windows.packet_id": "000000D1E2B3C5A0",
            "dns.windows.direction": "Snd",
            "dns.windows.flags": "8385",
            "dns.windows.flag_chars": "ADR",
        },
        id="ipv6-tcp-nxdomain-24h-day-first",
    ),
    pytest.param(
        "2026-11-28 08:00:09 1F20 PACKET  00000234A1B2C3D0 UDP Rcv 192.0.2.53      9c41 R Q "
        "[8281   DR SERVFAIL] TXT    (5)aGVsb(6)tunnel(3)net(0)",
        {
            "@timestamp": ts(2026, 11, 28, 8, 0, 9),
            "event.dataset": "dns.windows",
            "network.protocol": "dns",
            "network.transport": "udp",
            "source.ip": "192.0.2.53",
            "client.ip": "192.0.2.53",
            "related.ip": ["192.0.2.53"],
            "dns.id": "9c41",
            "dns.type": "answer",
            "dns.op_code": "QUERY",
            "dns.header_flags": ["RD", "RA"],
            "dns.question.name": "aGVsb.tunnel.net",
            "dns.question.type": "TXT",
            "dns.response_code": "SERVFAIL",
            "dns.windows.thread_id": "1F20",
            "dns.windows.packet_id": "00000234A1B2C3D0",
            "dns.windows.direction": "Rcv",
            "dns.windows.flags": "8281",
            "dns.windows.flag_chars": "DR",
        },
        id="iso-date-forwarder-answer",
    ),
    pytest.param(
        "20261128 07:59:58 5A8 PACKET UDP Rcv 10.0.0.9    0002   U [0028       NOERROR] "
        "(4)corp(7)example(0)",
        {
            "@timestamp": ts(2026, 11, 28, 7, 59, 58),
            "event.dataset": "dns.windows",
            "network.protocol": "dns",
            "network.transport": "udp",
            "source.ip": "10.0.0.9",
            "client.ip": "10.0.0.9",
            "related.ip": ["10.0.0.9"],
            "dns.id": "0002",
            "dns.type": "query",
            "dns.op_code": "UPDATE",
            "dns.header_flags": [],
            "dns.question.name": "corp.example",
            "dns.windows.thread_id": "5A8",
            "dns.windows.direction": "Rcv",
            "dns.windows.flags": "0028",
        },
        id="old-server-update-no-packet-id-no-type",
    ),
]


@pytest.mark.parametrize(("line", "expected"), WIN_CASES)
def test_windows_packet_lines(line: str, expected: dict[str, object]) -> None:
    event = one(WindowsDnsDebugParser(), line)
    check_envelope(event, line, "dns.windows")
    assert fields(event) == expected


WIN_FILE = """\
DNS Server log file creation at 11/28/2026 10:15:00 AM
Log file wrap at 11/28/2026 10:15:00 AM

Message logging key (for packets - other items use a subset of these fields):
\tField #  Information         Values
\t-------  -----------         ------
\t   1     Date
\t   2     Time
\t   3     Thread ID
\t   4     Context
\t   5     Internal packet identifier
\t   6     UDP/TCP indicator
\t   7     Send/Receive indicator
\t   8     Remote IP
\t   9     Xid (hex)
\t  10     Query/Response      R = Response
\t                             blank = Query
\t  11     Opcode              Q = Standard Query
\t                             N = Notify
\t                             U = Update
\t                             ? = Unknown
\t  12     [ Flags (hex)
\t  13     Flags (char codes)  A = Authoritative Answer
\t                             T = Truncated Response
\t                             D = Recursion Desired
\t                             R = Recursion Available
\t  14     ResponseCode ]
\t  15     Question Type
\t  16     Question Name

11/28/2026 10:15:01 AM 0E58 EVENT   The DNS server has finished the background loading of zones.
{query}
UDP question info at 000000D1E2B3C4F0
  Socket = 508
  Remote addr 10.0.0.5, port 53211
  Message:
    XID       0x1a2b
Note: logging of internal packets is turned off
11/28/2026 10:15:22 AM 0E58 PACKET  000000D1E2B3C4F0 UDP Snd 10.0.0.5        1a2b R Q [8081   DR  NOERROR] A      (3)www(7)example(3)com(0)
"""  # noqa: E501


def test_windows_header_legend_details_and_events_are_skipped() -> None:
    events, issues = parse(WindowsDnsDebugParser(), WIN_FILE.format(query=WIN_QUERY))
    assert issues == []
    assert [e["dns.type"] for e in events] == ["query", "answer"]
    assert {e["dns.question.name"] for e in events} == {"www.example.com"}


def test_windows_lines_that_cannot_be_read_are_quarantined_with_their_line_number() -> None:
    text = (
        WIN_QUERY + "\n"
        "11/28/2026 10:15:22 AM 0E58 PACKET  000000D1E2B3C4F0 UDP Rcv 10.0.0.5\n"
        "11/28/2026 10:15:22 AM 0E58 PACKET  000000D1E2B3C4F0 UDP Rcv 10.0.0.5  1a2b   Q "
        "[0001   D   NOERROR] A      (3)www(7)exa\n"
        "13/31/2026 10:15:22 0E58 PACKET  000000D1E2B3C4F0 UDP Rcv 10.0.0.5  1a2b   Q "
        "[0001   D   NOERROR] A      (3)www(0)\n"
        "11/28/2026 10:15\n" + WIN_QUERY + "\n"
    )
    events, issues = parse(WindowsDnsDebugParser(), text)
    assert len(events) == 2
    assert [i.line for i in issues] == [2, 3, 4, 5]
    assert "not understood" in issues[0].reason
    assert "truncated question name" in issues[1].reason
    assert "invalid date '13/31/2026'" in issues[2].reason
    assert "truncated" in issues[3].reason
    assert issues[0].where == "dns.log:2"
    assert issues[0].parser == "dns_windows"
    assert issues[0].raw.startswith(b"11/28/2026")


def _win_line(date: str, clock: str) -> str:
    return (
        f"{date} {clock} 0E58 PACKET  000000D1E2B3C4F0 UDP Rcv 10.0.0.5  1a2b   Q "
        "[0001   D   NOERROR] A      (3)www(7)example(3)com(0)"
    )


@pytest.mark.parametrize(
    ("date", "clock", "expected"),
    [
        ("11/28/2026", "10:15:22 AM", ts(2026, 11, 28, 10, 15, 22)),
        ("11/28/2026", "12:05:00 AM", ts(2026, 11, 28, 0, 5, 0)),
        ("11/28/2026", "12:05:00 PM", ts(2026, 11, 28, 12, 5, 0)),
        ("3/4/2026", "9:05:00 PM", ts(2026, 3, 4, 21, 5, 0)),  # ambiguous: month first
        ("28/11/2026", "22:15:22", ts(2026, 11, 28, 22, 15, 22)),  # day > 12 decides
        ("28.11.2026", "22:15:22", ts(2026, 11, 28, 22, 15, 22)),
        ("03.11.2026", "22:15:22", ts(2026, 11, 3, 22, 15, 22)),  # dots: always day first
        ("2026-11-28", "22:15:22", ts(2026, 11, 28, 22, 15, 22)),
        ("2026/11/28", "22:15:22", ts(2026, 11, 28, 22, 15, 22)),
        ("20261128", "22:15:22", ts(2026, 11, 28, 22, 15, 22)),
    ],
)
def test_windows_date_forms(date: str, clock: str, expected: datetime) -> None:
    assert one(WindowsDnsDebugParser(), _win_line(date, clock))["@timestamp"] == expected


def test_windows_day_first_learned_from_the_input_and_forced_by_option() -> None:
    text = _win_line("28/11/2026", "22:15:22") + "\n" + _win_line("03/11/2026", "08:00:00") + "\n"
    events, _ = parse(WindowsDnsDebugParser(), text)
    assert events[1]["@timestamp"] == ts(2026, 11, 3, 8, 0, 0)  # the input showed day first
    # a new input starts without that knowledge: ambiguous dates read month first
    events, _ = parse(WindowsDnsDebugParser(), _win_line("03/11/2026", "08:00:00") + "\n")
    assert events[0]["@timestamp"] == ts(2026, 3, 11, 8, 0, 0)
    # the header's date teaches the order too
    header = "DNS Server log file creation at 28/11/2026 07:00:00\n"
    events, _ = parse(WindowsDnsDebugParser(), header + _win_line("03/11/2026", "08:00:00") + "\n")
    assert events[0]["@timestamp"] == ts(2026, 11, 3, 8, 0, 0)
    # forced by the constructor option or by a subclass
    forced = WindowsDnsDebugParser(date_order="dmy")
    assert one(forced, _win_line("03/11/2026", "08:00:00"))["@timestamp"] == ts(2026, 11, 3, 8)

    class DayFirst(WindowsDnsDebugParser):
        date_order = "dmy"

    assert one(DayFirst(), _win_line("03/11/2026", "08:00:00"))["@timestamp"] == ts(2026, 11, 3, 8)
    _, issues = parse(DayFirst(), _win_line("11/28/2026", "08:00:00") + "\n")
    assert "invalid date" in issues[0].reason


# -- BIND --------------------------------------------------------------------------------------

BIND_CASES = [
    pytest.param(
        "28-Nov-2026 10:15:22.123 queries: info: client @0x7f3a2c0fe6d8 10.0.0.5#53211 "
        "(www.example.com): query: www.example.com IN A +E(0)K (10.0.0.1)",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22, 123000),
            "event.dataset": "dns.bind",
            "network.protocol": "dns",
            "network.transport": "udp",
            "client.ip": "10.0.0.5",
            "client.port": 53211,
            "source.ip": "10.0.0.5",
            "source.port": 53211,
            "destination.ip": "10.0.0.1",
            "related.ip": ["10.0.0.5", "10.0.0.1"],
            "dns.type": "query",
            "dns.question.name": "www.example.com",
            "dns.question.class": "IN",
            "dns.question.type": "A",
            "dns.flags_raw": "+E(0)K",
            "dns.header_flags": ["RD"],
        },
        id="file-channel-with-category",
    ),
    pytest.param(
        "Nov 28 10:15:22 ns1 named[1234]: client @0x7f3a2c0fe6d8 2001:db8::5#40001 "
        "(Api.Example.COM): view internal: query: Api.Example.COM IN AAAA -TDC (2001:db8::53)",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22),
            "event.dataset": "dns.bind",
            "network.protocol": "dns",
            "network.transport": "tcp",
            "client.ip": "2001:db8::5",
            "client.port": 40001,
            "source.ip": "2001:db8::5",
            "source.port": 40001,
            "destination.ip": "2001:db8::53",
            "related.ip": ["2001:db8::5", "2001:db8::53"],
            "dns.type": "query",
            "dns.question.name": "Api.Example.COM",
            "dns.question.class": "IN",
            "dns.question.type": "AAAA",
            "dns.flags_raw": "-TDC",
            "dns.header_flags": ["CD", "DO"],
            "dns.bind.view": "internal",
            "host.name": "ns1",
            "process.name": "named",
            "process.pid": 1234,
        },
        id="syslog-view-ipv6-tcp",
    ),
    pytest.param(
        "Nov 28 10:15:22 ns1 named[99]: client 10.0.0.7#1053: query: mail.example.org. IN MX +",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22),
            "event.dataset": "dns.bind",
            "network.protocol": "dns",
            "network.transport": "udp",
            "client.ip": "10.0.0.7",
            "client.port": 1053,
            "source.ip": "10.0.0.7",
            "source.port": 1053,
            "related.ip": ["10.0.0.7"],
            "dns.type": "query",
            "dns.question.name": "mail.example.org",
            "dns.question.class": "IN",
            "dns.question.type": "MX",
            "dns.flags_raw": "+",
            "dns.header_flags": ["RD"],
            "host.name": "ns1",
            "process.name": "named",
            "process.pid": 99,
        },
        id="old-bind-no-object-no-server",
    ),
    pytest.param(
        "2026-11-28T10:15:22.500Z client @0x7f3a2c0fe6d8 10.0.0.5#53211 (x.example): "
        "query: x.example IN TXT +E(0) (10.0.0.1) [ECS 192.0.2.0/24/0]",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22, 500000),
            "event.dataset": "dns.bind",
            "network.protocol": "dns",
            "network.transport": "udp",
            "client.ip": "10.0.0.5",
            "client.port": 53211,
            "source.ip": "10.0.0.5",
            "source.port": 53211,
            "destination.ip": "10.0.0.1",
            "related.ip": ["10.0.0.5", "10.0.0.1"],
            "dns.type": "query",
            "dns.question.name": "x.example",
            "dns.question.class": "IN",
            "dns.question.type": "TXT",
            "dns.flags_raw": "+E(0)",
            "dns.header_flags": ["RD"],
            "dns.bind.ecs": "192.0.2.0/24/0",
        },
        id="iso-print-time-ecs",
    ),
    pytest.param(
        "28-Nov-2026 10:15:23.001 query-errors: info: client @0x7f3a2c0fe6d8 10.0.0.5#5353 "
        "(x.example): query failed (SERVFAIL) for x.example/IN/A at query.c:7376",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 23, 1000),
            "event.dataset": "dns.bind",
            "network.protocol": "dns",
            "client.ip": "10.0.0.5",
            "client.port": 5353,
            "source.ip": "10.0.0.5",
            "source.port": 5353,
            "related.ip": ["10.0.0.5"],
            "dns.type": "answer",
            "dns.question.name": "x.example",
            "dns.question.class": "IN",
            "dns.question.type": "A",
            "dns.response_code": "SERVFAIL",
            "event.outcome": "failure",
        },
        id="query-failed-servfail",
    ),
    pytest.param(
        "28-Nov-2026 10:15:23.001 query-errors: info: client @0x7f3a2c0fe6d8 10.0.0.5#5353 "
        "(slow.example): query failed (timed out) for slow.example/IN/AAAA at query.c:7376",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 23, 1000),
            "event.dataset": "dns.bind",
            "network.protocol": "dns",
            "client.ip": "10.0.0.5",
            "client.port": 5353,
            "source.ip": "10.0.0.5",
            "source.port": 5353,
            "related.ip": ["10.0.0.5"],
            "dns.type": "answer",
            "dns.question.name": "slow.example",
            "dns.question.class": "IN",
            "dns.question.type": "AAAA",
            "dns.response_code": "SERVFAIL",
            "dns.bind.error": "timed out",
            "event.outcome": "failure",
        },
        id="query-failed-timeout",
    ),
    pytest.param(
        "28-Nov-2026 10:15:24.000 security: info: client @0x7f3a2c0fe6d8 198.51.100.9#4444 "
        "(x.example): query (cache) 'x.example/A/IN' denied",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 24),
            "event.dataset": "dns.bind",
            "network.protocol": "dns",
            "client.ip": "198.51.100.9",
            "client.port": 4444,
            "source.ip": "198.51.100.9",
            "source.port": 4444,
            "related.ip": ["198.51.100.9"],
            "dns.type": "answer",
            "dns.question.name": "x.example",
            "dns.question.class": "IN",
            "dns.question.type": "A",
            "dns.response_code": "REFUSED",
            "dns.bind.acl": "cache",
            "event.action": "denied",
            "event.outcome": "failure",
        },
        id="denied",
    ),
    pytest.param(
        "28-Nov-2026 10:15:25.000 rpz: info: client @0x7f3a2c0fe6d8 10.0.0.5#53211 "
        "(ads.example): rpz QNAME NXDOMAIN rewrite ads.example/A/IN via ads.example.rpz.local",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 25),
            "event.dataset": "dns.bind",
            "network.protocol": "dns",
            "client.ip": "10.0.0.5",
            "client.port": 53211,
            "source.ip": "10.0.0.5",
            "source.port": 53211,
            "related.ip": ["10.0.0.5"],
            "dns.type": "answer",
            "dns.question.name": "ads.example",
            "dns.question.class": "IN",
            "dns.question.type": "A",
            "dns.response_code": "NXDOMAIN",
            "dns.bind.rpz.trigger": "QNAME",
            "dns.bind.rpz.policy": "NXDOMAIN",
            "dns.bind.rpz.rule": "ads.example.rpz.local",
            "event.action": "blocked",
        },
        id="rpz-block",
    ),
]


@pytest.mark.parametrize(("line", "expected"), BIND_CASES)
def test_bind_lines(line: str, expected: dict[str, object]) -> None:
    event = one(BindQueryParser(), line)
    check_envelope(event, line, "dns.bind")
    assert fields(event) == expected


def test_bind_line_without_time_takes_the_time_received() -> None:
    line = "client @0x7f3a2c0fe6d8 10.0.0.5#53211 (a.example): query: a.example IN A + (10.0.0.1)"
    assert one(BindQueryParser(), line)["@timestamp"] == RECEIVED
    line = "queries: info: " + line
    assert one(BindQueryParser(), line)["dns.question.name"] == "a.example"


def test_bind_syslog_year_comes_from_the_time_received() -> None:
    line = "Dec 31 23:59:58 ns1 named[1]: client 10.0.0.5#1: query: a.example IN A + (10.0.0.1)"
    new_year = make_ctx(received=ts(2027, 1, 1, 0, 0, 5))
    assert one(BindQueryParser(), line, new_year)["@timestamp"] == ts(2026, 12, 31, 23, 59, 58)
    line = "Nov 28 10:15:22 ns1 named[1]: client 10.0.0.5#1: query: a.example IN A + (10.0.0.1)"
    assert one(BindQueryParser(), line)["@timestamp"] == ts(2026, 11, 28, 10, 15, 22)


def test_bind_other_messages_are_skipped_and_other_programs_kept_as_syslog() -> None:
    text = (
        "28-Nov-2026 10:00:00.000 general: info: zone example.com/IN: loaded serial 2026112801\n"
        "28-Nov-2026 10:00:01.000 notify: info: client @0x7f3a2c0fe6d8 10.0.0.2#53: "
        "received notify for zone 'example.com'\n"
        "Nov 28 10:00:02 ns1 named[1234]: starting BIND 9.18.28-1~deb12u2-Debian\n"
        "Nov 28 10:00:03 ns1 named[1234]: client @0x7f3a2c0fe6d8 10.0.0.5#53211 "
        "(www.example.com): query: www.example.com IN A + (10.0.0.1)\n"
        "Nov 28 10:00:04 ns1 sshd[99]: Accepted publickey for ops from 10.0.0.9 port 50022 ssh2\n"
    )
    events, issues = parse(BindQueryParser(), text)
    assert issues == []
    assert [e["event.dataset"] for e in events] == ["dns.bind", "syslog"]
    assert events[1]["event.action"] == "ssh_login"  # read by the syslog parser, nothing lost


def test_bind_lines_that_cannot_be_read_are_quarantined_with_their_line_number() -> None:
    good = str(BIND_CASES[0].values[0])
    text = (
        f"{good}\n"
        "28-Nov-2026 10:15:22.123 queries: info: client @0x7f3a2c0fe6d8 10.0.0.5#53211 "
        "(www.example.com): query: www.example.com IN\n"
        "31-Feb-2026 10:15:22.123 queries: info: client @0x7f3a2c0fe6d8 10.0.0.5#53211 "
        "(www.example.com): query: www.example.com IN A + (10.0.0.1)\n"
        "28-Nov-2026 10:15:22.123 queries: info: something else entirely\n"
        "this line is not a log line at all\n"
        f"{good}\n"
    )
    events, issues = parse(BindQueryParser(), text)
    assert len(events) == 2
    assert [i.line for i in issues] == [2, 3, 4, 5]
    assert "BIND query line not understood" in issues[0].reason
    assert "invalid BIND time '31-Feb-2026 10:15:22'" in issues[1].reason
    assert "queries line without a client" in issues[2].reason
    assert "not a BIND log line" in issues[3].reason


# -- dnsmasq / Pi-hole -------------------------------------------------------------------------

DNSMASQ_LOG = """\
Nov 28 10:15:20 dnsmasq[1234]: started, version 2.89 cachesize 10000
Nov 28 10:15:20 dnsmasq[1234]: read /etc/hosts - 7 names
Nov 28 10:15:22 dnsmasq[1234]: query[A] www.example.com from 10.0.0.5
Nov 28 10:15:22 dnsmasq[1234]: forwarded www.example.com to 1.1.1.1
Nov 28 10:15:22 dnsmasq[1234]: reply www.example.com is <CNAME>
Nov 28 10:15:22 dnsmasq[1234]: reply edge.cdn.example is 93.184.216.34
Nov 28 10:15:22 dnsmasq[1234]: reply edge.cdn.example is 93.184.216.35
Nov 28 10:15:23 dnsmasq[1234]: query[AAAA] nx.example from fe80::1c2d:3e4f
Nov 28 10:15:23 dnsmasq[1234]: forwarded nx.example to 2606:4700:4700::1111#5335
Nov 28 10:15:23 dnsmasq[1234]: reply nx.example is NXDOMAIN
Nov 28 10:15:24 dnsmasq[1234]: query[A] ads.example from 10.0.0.6
Nov 28 10:15:24 dnsmasq[1234]: gravity blocked ads.example is 0.0.0.0
Nov 28 10:15:24 dnsmasq[1234]: query[A] track.example from 10.0.0.6
Nov 28 10:15:24 dnsmasq[1234]: regex blacklisted track.example is 0.0.0.0
Nov 28 10:15:24 dnsmasq[1234]: query[A] use-application-dns.net from 10.0.0.6
Nov 28 10:15:24 dnsmasq[1234]: special domain use-application-dns.net is NXDOMAIN
Nov 28 10:15:25 dnsmasq[1234]: query[AAAA] www.example.com from 10.0.0.7
Nov 28 10:15:25 dnsmasq[1234]: cached www.example.com is NODATA-IPv6
Nov 28 10:15:25 dnsmasq[1234]: query[PTR] 34.216.184.93.in-addr.arpa from 10.0.0.7
Nov 28 10:15:25 dnsmasq[1234]: /etc/hosts 93.184.216.34 is example.com
Nov 28 10:15:26 dnsmasq[1234]: query[A] localhost from 127.0.0.1
Nov 28 10:15:26 dnsmasq[1234]: config localhost is 127.0.0.1
Nov 28 10:15:26 dnsmasq[1234]: query[type=65] svc.example from 10.0.0.8
Nov 28 10:15:26 dnsmasq[1234]: reply svc.example is SERVFAIL (EDE: network error)
Nov 28 10:15:27 dnsmasq-dhcp[1234]: DHCPACK(eth0) 10.0.0.5 aa:bb:cc:dd:ee:ff laptop
Nov 28 10:15:27 dnsmasq[1234]: reading /etc/resolv.conf
"""


def test_dnsmasq_log_every_dns_line_is_one_event_with_its_client() -> None:
    events, issues = parse(DnsmasqParser(), DNSMASQ_LOG)
    assert issues == []
    who = [
        (
            e["dns.dnsmasq.action"],
            e["dns.type"],
            e.get("dns.question.name"),
            e.get("dns.question.type"),
            e.get("client.ip"),
        )
        for e in events
    ]
    assert who == [
        ("query", "query", "www.example.com", "A", "10.0.0.5"),
        ("forwarded", "query", "www.example.com", "A", None),
        ("reply", "answer", "www.example.com", "A", "10.0.0.5"),
        ("reply", "answer", "edge.cdn.example", None, "10.0.0.5"),  # the CNAME chain's client
        ("reply", "answer", "edge.cdn.example", None, "10.0.0.5"),
        ("query", "query", "nx.example", "AAAA", "fe80::1c2d:3e4f"),
        ("forwarded", "query", "nx.example", "AAAA", None),
        ("reply", "answer", "nx.example", "AAAA", "fe80::1c2d:3e4f"),
        ("query", "query", "ads.example", "A", "10.0.0.6"),
        ("gravity blocked", "answer", "ads.example", "A", "10.0.0.6"),
        ("query", "query", "track.example", "A", "10.0.0.6"),
        ("regex blacklisted", "answer", "track.example", "A", "10.0.0.6"),
        ("query", "query", "use-application-dns.net", "A", "10.0.0.6"),
        ("special domain", "answer", "use-application-dns.net", "A", "10.0.0.6"),
        ("query", "query", "www.example.com", "AAAA", "10.0.0.7"),
        ("cached", "answer", "www.example.com", "AAAA", "10.0.0.7"),
        ("query", "query", "34.216.184.93.in-addr.arpa", "PTR", "10.0.0.7"),
        ("hosts", "answer", "34.216.184.93.in-addr.arpa", "PTR", "10.0.0.7"),
        ("query", "query", "localhost", "A", "127.0.0.1"),
        ("config", "answer", "localhost", "A", "127.0.0.1"),
        ("query", "query", "svc.example", "type=65", "10.0.0.8"),
        ("reply", "answer", "svc.example", "type=65", "10.0.0.8"),
    ]
    what = [
        (e.get("dns.response_code"), e.get("dns.answers.data"), e.get("event.action"))
        for e in events
        if e["dns.type"] == "answer"
    ]
    assert what == [
        ("NOERROR", None, None),
        ("NOERROR", ["93.184.216.34"], None),
        ("NOERROR", ["93.184.216.35"], None),
        ("NXDOMAIN", None, None),
        ("NOERROR", ["0.0.0.0"], "blocked"),
        ("NOERROR", ["0.0.0.0"], "blocked"),
        ("NXDOMAIN", None, "blocked"),
        ("NOERROR", None, None),  # NODATA
        ("NOERROR", ["example.com"], None),
        ("NOERROR", ["127.0.0.1"], None),
        ("SERVFAIL", None, None),
    ]
    forwarded = events[6]
    assert forwarded["destination.ip"] == "2606:4700:4700::1111"
    assert forwarded["destination.port"] == 5335
    assert "source.ip" not in forwarded
    assert events[2]["dns.dnsmasq.answer"] == "<CNAME>"
    assert events[17]["dns.dnsmasq.file"] == "/etc/hosts"
    assert events[21]["dns.dnsmasq.ede"] == "network error"
    assert all(e["source.ip"] == e["client.ip"] for e in events if "client.ip" in e)
    assert events[0]["process.name"] == "dnsmasq" and events[0]["process.pid"] == 1234
    offset = DNSMASQ_LOG.index("Nov 28 10:15:22")
    check_envelope(events[0], DNSMASQ_LOG.splitlines()[2], "dns.dnsmasq", offset)


def test_dnsmasq_extra_mode_uses_the_line_client_and_the_serial() -> None:
    text = (
        "Nov 28 10:15:22 pihole dnsmasq[1234]: 42 10.0.0.7/53211 query[A] a.example from "
        "10.0.0.7\n"
        "Nov 28 10:15:22 pihole dnsmasq[1234]: 43 2001:db8::7/40000 query[A] a.example from "
        "2001:db8::7\n"
        # a reply without the client (F_NOEXTRA): the serial names the asker exactly, although
        # another client asked for the same name since
        "Nov 28 10:15:22 pihole dnsmasq[1234]: 42 reply a.example is 192.0.2.1\n"
        "Nov 28 10:15:22 pihole dnsmasq[1234]: 43 2001:db8::7/40000 reply a.example is "
        "192.0.2.1\n"
    )
    events, issues = parse(DnsmasqParser(), text)
    assert issues == []
    assert [(e["dns.dnsmasq.serial"], e["client.ip"], e.get("client.port")) for e in events] == [
        (42, "10.0.0.7", 53211),
        (43, "2001:db8::7", 40000),
        (42, "10.0.0.7", None),
        (43, "2001:db8::7", 40000),
    ]
    assert events[0]["host.name"] == "pihole"


def test_dnsmasq_clients_are_remembered_per_input() -> None:
    parser = DnsmasqParser()
    parse(parser, "Nov 28 10:15:22 dnsmasq[1]: query[A] a.example from 10.0.0.5\n")
    reply = "Nov 28 10:15:23 dnsmasq[1]: reply a.example is 192.0.2.1\n"
    other, _ = parse(parser, reply, make_ctx("input-2"))
    assert "client.ip" not in other[0]
    # the same input read again from its start forgets what it knew
    again, _ = parse(parser, reply)
    assert "client.ip" not in again[0]
    both, _ = parse(
        parser, "Nov 28 10:15:22 dnsmasq[1]: query[A] a.example from 10.0.0.5\n" + reply
    )
    assert both[1]["client.ip"] == "10.0.0.5"


def test_dnsmasq_lines_that_cannot_be_read_are_quarantined_with_their_line_number() -> None:
    text = (
        "Nov 28 10:15:22 dnsmasq[1]: query[A] a.example from 10.0.0.5\n"
        "Nov 28 10:15:22 dnsmasq[1]: query[A] www.example.com\n"
        "Nov 28 10:15:22 dnsmasq[1]: forwarded www.example.com\n"
        "Nov 28 10:15:22 dnsmasq[1]: reply www.example.com\n"
        "Nov 31 10:15:22 dnsmasq[1]: query[A] a.example from 10.0.0.5\n"
        "garbage without any header\n"
    )
    events, issues = parse(DnsmasqParser(), text)
    assert len(events) == 1
    assert [i.line for i in issues] == [2, 3, 4, 5, 6]
    assert "dnsmasq query line not understood" in issues[0].reason
    assert "not understood" in issues[1].reason and "not understood" in issues[2].reason
    assert "invalid syslog timestamp 'Nov 31 10:15:22'" in issues[3].reason
    assert "not a dnsmasq log line" in issues[4].reason


# -- Unbound -----------------------------------------------------------------------------------

EPOCH = 1795860922  # 2026-11-28 10:15:22 UTC
UNBOUND_CASES = [
    pytest.param(
        f"[{EPOCH}] unbound[1234:0] info: 10.0.0.5 www.example.com. A IN",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22),
            "event.dataset": "dns.unbound",
            "network.protocol": "dns",
            "client.ip": "10.0.0.5",
            "source.ip": "10.0.0.5",
            "related.ip": ["10.0.0.5"],
            "dns.type": "query",
            "dns.question.name": "www.example.com",
            "dns.question.type": "A",
            "dns.question.class": "IN",
            "process.name": "unbound",
            "process.pid": 1234,
        },
        id="query-epoch",
    ),
    pytest.param(
        f"[{EPOCH}] unbound[1234:1] reply: 10.0.0.5 www.example.com. A IN NOERROR 0.000123 0 56",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22),
            "event.dataset": "dns.unbound",
            "network.protocol": "dns",
            "client.ip": "10.0.0.5",
            "source.ip": "10.0.0.5",
            "related.ip": ["10.0.0.5"],
            "dns.type": "answer",
            "dns.question.name": "www.example.com",
            "dns.question.type": "A",
            "dns.question.class": "IN",
            "dns.response_code": "NOERROR",
            "event.duration": 123000,
            "destination.bytes": 56,
            "dns.unbound.cached": False,
            "process.name": "unbound",
            "process.pid": 1234,
        },
        id="reply-tagged",
    ),
    pytest.param(
        "Nov 28 10:15:22 unbound[77:0] info: 2001:db8::5 Nx.Example.org. AAAA IN NXDOMAIN "
        "1.250000 1 120",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22),
            "event.dataset": "dns.unbound",
            "network.protocol": "dns",
            "client.ip": "2001:db8::5",
            "source.ip": "2001:db8::5",
            "related.ip": ["2001:db8::5"],
            "dns.type": "answer",
            "dns.question.name": "Nx.Example.org",
            "dns.question.type": "AAAA",
            "dns.question.class": "IN",
            "dns.response_code": "NXDOMAIN",
            "event.duration": 1_250_000_000,
            "destination.bytes": 120,
            "dns.unbound.cached": True,
            "process.name": "unbound",
            "process.pid": 77,
        },
        id="reply-untagged-log-time-ascii-ipv6",
    ),
    pytest.param(
        "Nov 28 10:15:22 resolver1 unbound: [77:0] query: 10.0.0.5 . NS IN",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22),
            "event.dataset": "dns.unbound",
            "network.protocol": "dns",
            "client.ip": "10.0.0.5",
            "source.ip": "10.0.0.5",
            "related.ip": ["10.0.0.5"],
            "dns.type": "query",
            "dns.question.name": ".",
            "dns.question.type": "NS",
            "dns.question.class": "IN",
            "host.name": "resolver1",
            "process.name": "unbound",
            "process.pid": 77,
        },
        id="syslog-root-query",
    ),
    pytest.param(
        "2026-11-28T10:15:22.250+00:00 unbound[77:0] info: 10.0.0.5 x.example. TXT IN",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22, 250000),
            "event.dataset": "dns.unbound",
            "network.protocol": "dns",
            "client.ip": "10.0.0.5",
            "source.ip": "10.0.0.5",
            "related.ip": ["10.0.0.5"],
            "dns.type": "query",
            "dns.question.name": "x.example",
            "dns.question.type": "TXT",
            "dns.question.class": "IN",
            "process.name": "unbound",
            "process.pid": 77,
        },
        id="iso-time",
    ),
    pytest.param(
        f"[{EPOCH}] unbound[1234:0] info: ads.example. always_nxdomain 10.0.0.5@53211 "
        "tracker.ads.example. A IN",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22),
            "event.dataset": "dns.unbound",
            "network.protocol": "dns",
            "client.ip": "10.0.0.5",
            "client.port": 53211,
            "source.ip": "10.0.0.5",
            "source.port": 53211,
            "related.ip": ["10.0.0.5"],
            "dns.type": "answer",
            "dns.question.name": "tracker.ads.example",
            "dns.question.type": "A",
            "dns.question.class": "IN",
            "dns.response_code": "NXDOMAIN",
            "dns.unbound.local_zone": "ads.example",
            "dns.unbound.action": "always_nxdomain",
            "event.action": "blocked",
            "process.name": "unbound",
            "process.pid": 1234,
        },
        id="local-action-block",
    ),
    pytest.param(
        f"[{EPOCH}] unbound[1234:0] info: 10.0.0.5 - - - FORMERR - - - ",
        {
            "@timestamp": ts(2026, 11, 28, 10, 15, 22),
            "event.dataset": "dns.unbound",
            "network.protocol": "dns",
            "client.ip": "10.0.0.5",
            "source.ip": "10.0.0.5",
            "related.ip": ["10.0.0.5"],
            "dns.type": "answer",
            "dns.response_code": "FORMERR",
            "process.name": "unbound",
            "process.pid": 1234,
        },
        id="formerr",
    ),
]


@pytest.mark.parametrize(("line", "expected"), UNBOUND_CASES)
def test_unbound_lines(line: str, expected: dict[str, object]) -> None:
    event = one(UnboundParser(), line)
    check_envelope(event, line, "dns.unbound")
    assert fields(event) == expected


def test_unbound_other_lines_are_skipped() -> None:
    text = (
        f"[{EPOCH}] unbound[1234:0] notice: init module 0: validator\n"
        f"[{EPOCH}] unbound[1234:0] info: start of service (unbound 1.17.1).\n"
        f"[{EPOCH}] unbound[1234:0] info: server stats for thread 0: 12 queries, 3 answers from "
        "cache, 9 recursions, 0 prefetch, 0 rejected by ip ratelimiting\n"
        f"[{EPOCH}] unbound[1234:0] info: histogram of recursion processing times\n"
        f"[{EPOCH}] unbound[1234:0] info: [25%]=0.00341 median[50%]=0.0113 [75%]=0.0309\n"
        f"[{EPOCH}] unbound[1234:0] info: lower(secs) upper(secs) recursions\n"
        f"[{EPOCH}] unbound[1234:0] info:    0.000000    0.000001 3\n"
        f"[{EPOCH}] unbound[1234:0] info: 0.000000 0.000001 3\n"
        f"[{EPOCH}] unbound[1234:0] error: SERVFAIL <x.example. A IN>: all servers failed\n"
        f"[{EPOCH}] unbound-anchor[9:0] info: success: the anchor is ok\n"
        f"[{EPOCH}] unbound[1234:0] info: 10.0.0.5 www.example.com. A IN\n"
    )
    events, issues = parse(UnboundParser(), text)
    assert issues == []
    assert [e["dns.question.name"] for e in events] == ["www.example.com"]


def test_unbound_lines_that_cannot_be_read_are_quarantined_with_their_line_number() -> None:
    text = (
        f"[{EPOCH}] unbound[1234:0] reply: 10.0.0.5 www.example.com. A IN NOERROR\n"
        f"[{EPOCH}] unbound[1234:0] info: 10.0.0.5 www.example.com. A\n"
        f"[{EPOCH}] unbound[1234:0] query: 10.0.0.5\n"
        "Nov 31 10:15:22 unbound[77:0] info: 10.0.0.5 x.example. TXT IN\n"
        f"[{EPOCH}] unbound[1234:0] info: 10.0.0.5 www.example.com. A IN\n"
    )
    events, issues = parse(UnboundParser(), text)
    assert len(events) == 1
    assert [i.line for i in issues] == [1, 2, 3, 4]
    assert "unbound reply line not understood" in issues[0].reason
    assert "unbound info line not understood" in issues[1].reason
    assert "unbound query line not understood" in issues[2].reason
    assert "invalid syslog timestamp" in issues[3].reason


# -- the shared base ---------------------------------------------------------------------------


def test_parse_line_raises_for_a_skipped_line_and_returns_dns_lines() -> None:
    parser = UnboundParser()
    with pytest.raises(SkippedLine):
        parser.parse_line(f"[{EPOCH}] unbound[1:0] notice: init".encode(), make_ctx(), 0)
    event = parser.parse_line(
        f"[{EPOCH}] unbound[1:0] info: 10.0.0.5 a.b. A IN".encode(), make_ctx(), 7
    )
    assert event["event.id"] == make_ctx().event_id(7)


def test_forced_dataset_and_resumed_offset() -> None:
    context = ParseContext("dns.log", "input-1", dataset="dns.custom", received=RECEIVED)
    event = one(UnboundParser(), str(UNBOUND_CASES[0].values[0]), context)
    assert event["event.dataset"] == "dns.custom"
    resumed = ParseContext("dns.log", "input-1", received=RECEIVED, base_offset=1000)
    event = one(UnboundParser(), str(UNBOUND_CASES[0].values[0]), resumed)
    assert event["event.id"] == make_ctx().event_id(1000)


# -- sniffing ----------------------------------------------------------------------------------


def all_parsers() -> ParserSet:
    """Every registered parser, with the DNS server parsers even before their entry points load."""
    parsers = ParserSet()
    found = parsers.all()
    for cls in DNS_PARSERS:
        found.setdefault(cls.id, cls())
    return parsers


SYSLOG_OTHER = (
    "Nov 28 10:15:22 host sshd[1]: Accepted password for bob from 10.0.0.9 port 2222 ssh2\n"
    "Nov 28 10:15:23 host CRON[2]: (root) CMD (run-parts /etc/cron.hourly)\n"
)
SNIFF_CASES = [
    pytest.param(WIN_FILE.format(query=WIN_QUERY), "dns_windows", id="windows-with-header"),
    pytest.param(WIN_QUERY + "\n", "dns_windows", id="windows-packet-only"),
    pytest.param(
        "\n".join(_win_line("2026-11-28", "10:00:0" + str(i)) for i in range(5)) + "\n",
        "dns_windows",
        id="windows-iso-dates",  # the syslog parser also reads ISO times: 40
    ),
    pytest.param("\n".join(str(p.values[0]) for p in BIND_CASES) + "\n", "dns_bind", id="bind"),
    pytest.param(
        "Nov 28 10:00:02 ns1 named[1234]: starting BIND 9.18.28\n"
        + "Nov 28 10:15:22 ns1 named[1234]: client @0x7f3a2c0fe6d8 10.0.0.5#53211 (a.example): "
        "query: a.example IN A +E(0)K (10.0.0.1)\n" * 3,
        "dns_bind",
        id="bind-syslog",
    ),
    pytest.param(DNSMASQ_LOG, "dns_dnsmasq", id="dnsmasq"),
    pytest.param(
        "Nov 28 10:15:22 pihole dnsmasq[1234]: 42 10.0.0.7/53211 query[A] a.example from "
        "10.0.0.7\n",
        "dns_dnsmasq",
        id="pihole-extra",
    ),
    pytest.param("\n".join(str(p.values[0]) for p in UNBOUND_CASES) + "\n", "dns_unbound", id="ub"),
    pytest.param(
        "Nov 28 10:15:22 resolver1 unbound: [77:0] info: start of service (unbound 1.17.1).\n"
        "Nov 28 10:15:22 resolver1 unbound: [77:0] query: 10.0.0.5 www.example.com. A IN\n",
        "dns_unbound",
        id="unbound-syslog",
    ),
    pytest.param(SYSLOG_OTHER * 3, "syslog", id="plain-syslog"),
    pytest.param(
        SYSLOG_OTHER * 3 + "Nov 28 10:15:24 host dnsmasq[9]: query[A] a.example from 10.0.0.5\n",
        "syslog",
        id="syslog-with-one-dns-line",
    ),
    pytest.param(
        "Nov 28 10:00:02 ns1 named[1234]: starting BIND 9.18.28\n"
        "Nov 28 10:00:02 ns1 named[1234]: loading configuration from '/etc/bind/named.conf'\n",
        "syslog",
        id="named-without-queries",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SNIFF_CASES)
def test_sniff_picks_the_right_parser_among_all(text: str, expected: str) -> None:
    head = text.encode()
    assert all_parsers().detect(head).id == expected
    scores = {cls.id: cls().sniff(head) for cls in DNS_PARSERS}
    syslog = SyslogParser().sniff(head)
    if expected.startswith("dns_"):
        assert scores[expected] >= 80
        assert scores[expected] > syslog
        assert all(score == 0 for pid, score in scores.items() if pid != expected)
    else:
        assert set(scores.values()) == {0}


def test_sniff_is_zero_on_other_formats() -> None:
    heads = [b'{"ts": 1, "query": "a.example"}\n', b"#separator \\x09\n#path\tdns\n", b""]
    for cls in DNS_PARSERS:
        assert [cls().sniff(head) for head in heads] == [0, 0, 0]


# -- end to end --------------------------------------------------------------------------------

E2E_FILES = [
    pytest.param(
        "dns.log",
        WIN_FILE.format(query=WIN_QUERY) + "11/28/2026 10:15:22 AM 0E58 PACKET  0000 UDP Rcv\n",
        "dns.windows",
        {("www.example.com", "10.0.0.5")},
        id="windows",
    ),
    pytest.param(
        "query.log",
        "\n".join(str(p.values[0]) for p in BIND_CASES) + "\n"
        "28-Nov-2026 10:15:22.123 queries: info: client 10.0.0.5#1 (a): query: a IN\n",
        "dns.bind",
        {
            ("www.example.com", "10.0.0.5"),
            ("Api.Example.COM", "2001:db8::5"),
            ("mail.example.org", "10.0.0.7"),
            ("x.example", "10.0.0.5"),
            ("slow.example", "10.0.0.5"),
            ("x.example", "198.51.100.9"),
            ("ads.example", "10.0.0.5"),
        },
        id="bind",
    ),
    pytest.param(
        "pihole.log",
        DNSMASQ_LOG + "Nov 28 10:15:22 dnsmasq[1234]: query[A] www.example.com\n",
        "dns.dnsmasq",
        {
            ("www.example.com", "10.0.0.5"),
            ("www.example.com", None),
            ("edge.cdn.example", "10.0.0.5"),
            ("nx.example", "fe80::1c2d:3e4f"),
            ("nx.example", None),
            ("ads.example", "10.0.0.6"),
            ("track.example", "10.0.0.6"),
            ("use-application-dns.net", "10.0.0.6"),
            ("www.example.com", "10.0.0.7"),
            ("34.216.184.93.in-addr.arpa", "10.0.0.7"),
            ("localhost", "127.0.0.1"),
            ("svc.example", "10.0.0.8"),
        },
        id="dnsmasq",
    ),
    pytest.param(
        "unbound.log",
        "\n".join(str(p.values[0]) for p in UNBOUND_CASES) + "\n"
        f"[{EPOCH}] unbound[1234:0] reply: 10.0.0.5 truncated.example. A IN\n",
        "dns.unbound",
        {
            ("www.example.com", "10.0.0.5"),
            ("Nx.Example.org", "2001:db8::5"),
            (".", "10.0.0.5"),
            ("x.example", "10.0.0.5"),
            ("tracker.ads.example", "10.0.0.5"),
            (None, "10.0.0.5"),
        },
        id="unbound",
    ),
]


@pytest.mark.parametrize(("name", "text", "dataset", "expected"), E2E_FILES)
def test_ingest_end_to_end_into_the_lake(
    tmp_path: Path, name: str, text: str, dataset: str, expected: set[tuple[str | None, ...]]
) -> None:
    settings = Settings(home=tmp_path / "home")
    path = tmp_path / "input" / name
    path.parent.mkdir()
    path.write_text(text)
    service = IngestService(settings, parsers=all_parsers(), detection=False)
    report = service.ingest([path])
    assert [f.format for f in report.files] == ["dns_" + dataset.split(".")[1]]
    assert report.quarantined == 1  # the last line of each file cannot be read
    table = LakeReader(settings.lake_dir).sql(
        'SELECT "dns.question.name" AS name, "client.ip" AS client, "event.dataset" AS dataset '
        "FROM events"
    )
    rows = table.to_pylist()
    assert {row["dataset"] for row in rows} == {dataset}
    assert {(row["name"], row["client"]) for row in rows} == expected


def test_the_dns_sensor_reads_the_clients_of_server_logs(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    path = tmp_path / "input" / "pihole.log"
    path.parent.mkdir()
    path.write_text(DNSMASQ_LOG)
    IngestService(settings, parsers=all_parsers(), detection=False).ingest([path])
    reader = LakeReader(settings.lake_dir)
    with reader.connect() as con:
        count = load_lookups(con, reader, since=ts(2000, 1, 1), until=ts(2100, 1, 1))
        rows = con.execute(
            "SELECT client, name, is_query, rcode FROM lookups WHERE name = 'nx.example' "
            "ORDER BY is_query DESC, client NULLS LAST"
        ).fetchall()
    assert count == 22
    assert rows == [
        ("fe80::1c2d:3e4f", "nx.example", True, None),
        (None, "nx.example", True, None),  # forwarded upstream: no client
        ("fe80::1c2d:3e4f", "nx.example", False, "NXDOMAIN"),
    ]
