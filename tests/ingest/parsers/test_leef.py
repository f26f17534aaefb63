"""LEEF parser: 1.0 and 2.0 headers, delimiters, devTime formats, syslog prefixes.

Samples are written for these tests after the examples of the IBM LEEF guide.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from tocsin.ingest.base import ParseContext, RecordError
from tocsin.ingest.parsers.leef import LeefParser, parse_java_time, parse_leef, split_attributes

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def make_ctx(dataset: str | None = None) -> ParseContext:
    return ParseContext("qradar.log", "ident", dataset=dataset, received=RECEIVED)


def header(
    version: str, vendor: str, product: str, device_version: str, event_id: str
) -> dict[str, object]:
    return {
        "leefVersion": version,
        "deviceVendor": vendor,
        "deviceProduct": product,
        "deviceVersion": device_version,
        "eventId": event_id,
        "observer.vendor": vendor,
        "observer.product": product,
        "observer.version": device_version,
        "event.code": event_id,
    }


CASES = [
    pytest.param(
        "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\t"
        "cat=anomaly\tsrcPort=81\tdstPort=21\tusrName=joe.black",
        {
            **header("1.0", "Microsoft", "MSExchange", "4.0 SP1", "15345"),
            "src": "192.0.2.0",
            "dst": "172.50.123.1",
            "sev": "5",
            "cat": "anomaly",
            "srcPort": "81",
            "dstPort": "21",
            "usrName": "joe.black",
            "source.ip": "192.0.2.0",
            "destination.ip": "172.50.123.1",
            "event.severity": 5,
            "source.port": 81,
            "destination.port": 21,
            "user.name": "joe.black",
            "@timestamp": RECEIVED,
            "event.dataset": "leef.microsoft.msexchange",
        },
        id="leef1-tab",
    ),
    pytest.param(
        "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^"
        "dstPort=21^proto=6^msg=a^b",
        {
            **header("2.0", "Lancope", "StealthWatch", "1.0", "41"),
            "src": "10.0.1.8",
            "dst": "10.0.0.5",
            "sev": "5",
            "srcPort": "81",
            "dstPort": "21",
            "proto": "6",
            "msg": "a^b",
            "source.ip": "10.0.1.8",
            "destination.ip": "10.0.0.5",
            "event.severity": 5,
            "source.port": 81,
            "destination.port": 21,
            "network.transport": "tcp",
            "message": "a^b",
            "@timestamp": RECEIVED,
            "event.dataset": "leef.lancope.stealthwatch",
        },
        id="leef2-caret-delimiter-in-value",
    ),
    pytest.param(
        "LEEF:2.0|Vendor|Product|1.0|login|x09|usrName=alice\tsrc=198.51.100.2\t"
        "devTime=1700000000000\tsrcBytes=100\tdstBytes=x",
        {
            **header("2.0", "Vendor", "Product", "1.0", "login"),
            "usrName": "alice",
            "src": "198.51.100.2",
            "devTime": "1700000000000",
            "srcBytes": "100",
            "dstBytes": "x",
            "user.name": "alice",
            "source.ip": "198.51.100.2",
            "source.bytes": 100,
            "@timestamp": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
            "event.dataset": "leef.vendor.product",
        },
        id="leef2-hex-delimiter-epoch-devtime",
    ),
    pytest.param(
        "LEEF:2.0|Vendor|Product|1.0|login|0x7C|usrName=bob|proto=UDP",
        {
            **header("2.0", "Vendor", "Product", "1.0", "login"),
            "usrName": "bob",
            "proto": "UDP",
            "user.name": "bob",
            "network.transport": "udp",
            "@timestamp": RECEIVED,
            "event.dataset": "leef.vendor.product",
        },
        id="leef2-pipe-as-0x-delimiter",
    ),
    pytest.param(
        "LEEF:2.0|Vendor|Product|1.0|login|usrName=carol\tsrc=192.0.2.9",
        {
            **header("2.0", "Vendor", "Product", "1.0", "login"),
            "usrName": "carol",
            "src": "192.0.2.9",
            "user.name": "carol",
            "source.ip": "192.0.2.9",
            "@timestamp": RECEIVED,
            "event.dataset": "leef.vendor.product",
        },
        id="leef2-without-delimiter-field",
    ),
    pytest.param(
        "LEEF:1.0|IBM|Guardium|11|SQL|devTime=2024-02-05 10:15:00.250 +0100\t"
        "devTimeFormat=yyyy-MM-dd HH:mm:ss.SSS Z\tsev=High",
        {
            **header("1.0", "IBM", "Guardium", "11", "SQL"),
            "devTime": "2024-02-05 10:15:00.250 +0100",
            "devTimeFormat": "yyyy-MM-dd HH:mm:ss.SSS Z",
            "sev": "High",
            "event.severity": 8,
            "@timestamp": datetime(2024, 2, 5, 9, 15, 0, 250000, tzinfo=UTC),
            "event.dataset": "leef.ibm.guardium",
        },
        id="devtimeformat",
    ),
    pytest.param(
        "LEEF:1.0|IBM|Guardium|11|SQL|devTime=Feb 05 2024 10:15:00.250 EST",
        {
            **header("1.0", "IBM", "Guardium", "11", "SQL"),
            "devTime": "Feb 05 2024 10:15:00.250 EST",
            "@timestamp": datetime(2024, 2, 5, 15, 15, 0, 250000, tzinfo=UTC),
            "event.dataset": "leef.ibm.guardium",
        },
        id="default-devtime-format",
    ),
    pytest.param(
        "LEEF:1.0|Acme|Box|1|e|src=10.0.0.1 dst=10.0.0.2 usrName=dave smith",
        {
            **header("1.0", "Acme", "Box", "1", "e"),
            "src": "10.0.0.1",
            "dst": "10.0.0.2",
            "usrName": "dave smith",
            "source.ip": "10.0.0.1",
            "destination.ip": "10.0.0.2",
            "user.name": "dave smith",
            "@timestamp": RECEIVED,
            "event.dataset": "leef.acme.box",
        },
        id="leef1-spaces-instead-of-tabs",
    ),
]


@pytest.mark.parametrize(("line", "fields"), CASES)
def test_parse_line(line: str, fields: dict[str, object]) -> None:
    ctx = make_ctx()
    event = LeefParser().parse_line(line.encode(), ctx, 11)
    expected = {
        "event.id": ctx.event_id(11),
        "event.kind": "event",
        "event.original": line,
        **fields,
    }
    assert event == expected


def test_syslog_prefix_adds_header_fields() -> None:
    line = b"<13>Feb  5 10:15:00 ids01 LEEF:1.0|Acme|IDS|3|alert|src=192.0.2.1\tsev=9"
    event = LeefParser().parse_line(line, make_ctx(), 0)
    assert event["host.name"] == "ids01"
    assert event["log.syslog.severity.name"] == "notice"
    assert event["@timestamp"] == datetime(2024, 2, 5, 10, 15, tzinfo=UTC)
    assert event["event.severity"] == 9
    assert event["event.dataset"] == "leef.acme.ids"
    assert event["event.original"] == line.decode()


def test_unknown_prefix_is_skipped() -> None:
    event = LeefParser().parse_line(b"relay> LEEF:1.0|A|B|1|e|src=1.2.3.4", make_ctx(), 0)
    assert event["source.ip"] == "1.2.3.4"
    assert "host.name" not in event


def test_dataset_override() -> None:
    assert parse_leef("LEEF:1.0|A|B|1|e|x=1", make_ctx("mine"), 0)["event.dataset"] == "mine"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("LEEF:1.0|Vendor|Product", "LEEF header has 3 of 5"),
        ("LEEF:2.0|V|P|1|E|abc|x=1", "LEEF delimiter 'abc'"),
        ("nothing to see", "no 'LEEF:' header"),
    ],
)
def test_bad_lines_raise(line: str, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        LeefParser().parse_line(line.encode(), make_ctx(), 0)


def test_parse_stream_reports_issues() -> None:
    first = b"LEEF:1.0|A|B|1|e|src=1.2.3.4\n"
    data = first + b"LEEF:1.0|A\n" + b"LEEF:2.0|A|B|1|e|^|src=5.6.7.8\n"
    batches = list(LeefParser().parse_stream(io.BytesIO(data), make_ctx()))
    events = [event for batch in batches for event in batch.events]
    issues = [issue for batch in batches for issue in batch.issues]
    assert [event["source.ip"] for event in events] == ["1.2.3.4", "5.6.7.8"]
    assert [(issue.line, issue.offset, issue.raw) for issue in issues] == [
        (2, len(first), b"LEEF:1.0|A")
    ]


@pytest.mark.parametrize(
    ("text", "delimiter", "pairs"),
    [
        ("a=1\tb=2", "\t", [("a", "1"), ("b", "2")]),
        ("a=1^^b=2", "^", [("a", "1^"), ("b", "2")]),
        ("a=x=y", "\t", [("a", "x=y")]),
        ("junk\ta=1", "\t", [("a", "1")]),
        ("", "\t", []),
    ],
)
def test_split_attributes(text: str, delimiter: str, pairs: list[tuple[str, str]]) -> None:
    assert split_attributes(text, delimiter) == pairs


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("Feb 05 2024 10:15:00", "MMM dd yyyy HH:mm:ss", datetime(2024, 2, 5, 10, 15)),
        ("02/05/2024 03:15:00 PM", "MM/dd/yyyy hh:mm:ss a", datetime(2024, 2, 5, 15, 15)),
        ("05.02.24 00:01", "dd.MM.yy HH:mm", datetime(2024, 2, 5, 0, 1)),
        ("2024-02-05T10:15:00Z", "yyyy-MM-dd'T'HH:mm:ssX", datetime(2024, 2, 5, 10, 15)),
        (
            "Mon, 05 Feb 2024 11:15:00 CET",
            "EEE, dd MMM yyyy HH:mm:ss zzz",
            datetime(2024, 2, 5, 10, 15),
        ),
        ("Feb 05 10:15:00", "MMM dd HH:mm:ss", datetime(2024, 2, 5, 10, 15)),
        ("2024-02-05", "yyyy-MM-dd HH:mm", None),
        ("2024-02-05", "yyyy-MM-dd G", None),
    ],
)
def test_parse_java_time(text: str, pattern: str, expected: datetime | None) -> None:
    want = expected.replace(tzinfo=UTC) if expected is not None else None
    assert parse_java_time(text, pattern, RECEIVED) == want


@pytest.mark.parametrize(
    ("head", "score"),
    [
        (b"LEEF:1.0|a|b|c|d|src=1\n", 80),
        (b"LEEF:2.0|a|b|c|d|^|src=1\n", 80),
        (b"<13>Feb  5 10:15:00 ids01 LEEF:1.0|a|b|c|d|src=1\n", 80),
        (b"CEF:0|a|b|c|d|e|1|\n", 0),
        (b"", 0),
    ],
)
def test_sniff(head: bytes, score: int) -> None:
    assert LeefParser().sniff(head) == score
