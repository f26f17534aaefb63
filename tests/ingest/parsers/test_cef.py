"""CEF parser: header and extension escaping, ECS fields, times, datasets, syslog prefixes.

Samples are written for these tests after the examples of the ArcSight CEF specification.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from tocsin.ingest.base import ParseContext, RecordError
from tocsin.ingest.parsers.cef import (
    CefParser,
    dataset_name,
    parse_cef,
    parse_cef_time,
    split_extension,
    split_header,
)

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def make_ctx(dataset: str | None = None) -> ParseContext:
    return ParseContext("fw.log", "ident", dataset=dataset, received=RECEIVED)


def header(
    vendor: str, product: str, version: str, signature: str, name: str, severity: str
) -> dict[str, object]:
    return {
        "cefVersion": "0",
        "deviceVendor": vendor,
        "deviceProduct": product,
        "deviceVersion": version,
        "deviceEventClassId": signature,
        "name": name,
        "severity": severity,
        "observer.vendor": vendor,
        "observer.product": product,
        "observer.version": version,
        "event.code": signature,
    }


CASES = [
    pytest.param(
        "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|"
        "src=10.0.0.1 dst=2.1.2.2 spt=1232",
        {
            **header("Security", "threatmanager", "1.0", "100", "worm successfully stopped", "10"),
            "src": "10.0.0.1",
            "dst": "2.1.2.2",
            "spt": "1232",
            "source.ip": "10.0.0.1",
            "destination.ip": "2.1.2.2",
            "source.port": 1232,
            "message": "worm successfully stopped",
            "event.severity": 10,
            "@timestamp": RECEIVED,
            "event.dataset": "cef.security.threatmanager",
        },
        id="spec-example",
    ),
    pytest.param(
        r"CEF:0|security|threat\|manager|1.0|100|detected a \\ in packet|10|src=10.0.0.1",
        {
            **header("security", "threat|manager", "1.0", "100", "detected a \\ in packet", "10"),
            "src": "10.0.0.1",
            "source.ip": "10.0.0.1",
            "message": "detected a \\ in packet",
            "event.severity": 10,
            "@timestamp": RECEIVED,
            "event.dataset": "cef.security.threat_manager",
        },
        id="header-escapes",
    ),
    pytest.param(
        r"CEF:0|security|threatmanager|1.0|100|detected an equal sign|10|src=10.0.0.1 "
        r"act=blocked a \= dst=1.1.1.1 msg=line one\nline two\rend "
        r"filePath=C:\\Windows\\System32\\evil.dll cs1=a|b cs2=x\|y",
        {
            **header("security", "threatmanager", "1.0", "100", "detected an equal sign", "10"),
            "src": "10.0.0.1",
            "act": "blocked a =",
            "dst": "1.1.1.1",
            "msg": "line one\nline two\rend",
            "filePath": "C:\\Windows\\System32\\evil.dll",
            "cs1": "a|b",
            "cs2": "x|y",
            "source.ip": "10.0.0.1",
            "event.action": "blocked a =",
            "destination.ip": "1.1.1.1",
            "message": "line one\nline two\rend",
            "file.path": "C:\\Windows\\System32\\evil.dll",
            "event.severity": 10,
            "@timestamp": RECEIVED,
            "event.dataset": "cef.security.threatmanager",
        },
        id="extension-escapes",
    ),
    pytest.param(
        "CEF:0|Palo Alto Networks|PAN-OS|10.1.0|end|TRAFFIC|3|rt=Nov 14 2023 22:13:20 GMT "
        "cs1Label=Rule cs1=allow web out suser=corp\\\\alice dpt=443 proto=TCP app=SSL "
        "requestClientApplication=Mozilla/5.0 (X11; Linux) outcome=/Success spt=notaport",
        {
            **header("Palo Alto Networks", "PAN-OS", "10.1.0", "end", "TRAFFIC", "3"),
            "rt": "Nov 14 2023 22:13:20 GMT",
            "cs1Label": "Rule",
            "cs1": "allow web out",
            "suser": "corp\\alice",
            "dpt": "443",
            "proto": "TCP",
            "app": "SSL",
            "requestClientApplication": "Mozilla/5.0 (X11; Linux)",
            "outcome": "/Success",
            "spt": "notaport",
            "user.name": "corp\\alice",
            "destination.port": 443,
            "network.transport": "tcp",
            "network.protocol": "ssl",
            "user_agent.original": "Mozilla/5.0 (X11; Linux)",
            "event.outcome": "success",
            "message": "TRAFFIC",
            "event.severity": 3,
            "@timestamp": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
            "event.dataset": "cef.palo_alto_networks.pan_os",
        },
        id="spaces-in-values-and-date",
    ),
    pytest.param(
        "CEF:0|Trend Micro Inc.|Deep Security Agent|20.0|4000000|Eicar_test_file|High|"
        "duser=bob sourceAddress=192.0.2.5 end=1700000000123 fname=eicar.com fsize=68",
        {
            **header(
                "Trend Micro Inc.",
                "Deep Security Agent",
                "20.0",
                "4000000",
                "Eicar_test_file",
                "High",
            ),
            "duser": "bob",
            "sourceAddress": "192.0.2.5",
            "end": "1700000000123",
            "fname": "eicar.com",
            "fsize": "68",
            "user.name": "bob",
            "source.ip": "192.0.2.5",
            "file.name": "eicar.com",
            "file.size": 68,
            "message": "Eicar_test_file",
            "event.severity": 8,
            "@timestamp": datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
            "event.dataset": "cef.trend_micro_inc.deep_security_agent",
        },
        id="severity-word-long-key-epoch-ms",
    ),
    pytest.param(
        "CEF:0|Vendor|Product|1.0|sig|No extension|Unknown",
        {
            **header("Vendor", "Product", "1.0", "sig", "No extension", "Unknown"),
            "message": "No extension",
            "@timestamp": RECEIVED,
            "event.dataset": "cef.vendor.product",
        },
        id="no-trailing-pipe",
    ),
    pytest.param(
        "CEF:0|V|P|1|s|n|5|rt=not a time start=Feb 20 08:00:00.500 CET duser=x suser=y",
        {
            **header("V", "P", "1", "s", "n", "5"),
            "rt": "not a time",
            "start": "Feb 20 08:00:00.500 CET",
            "duser": "x",
            "suser": "y",
            "user.name": "y",
            "message": "n",
            "event.severity": 5,
            "@timestamp": datetime(2024, 2, 20, 7, 0, 0, 500000, tzinfo=UTC),
            "event.dataset": "cef.v.p",
        },
        id="time-fallback-yearless-zone-suser-wins",
    ),
]


@pytest.mark.parametrize(("line", "fields"), CASES)
def test_parse_line(line: str, fields: dict[str, object]) -> None:
    ctx = make_ctx()
    event = CefParser().parse_line(line.encode(), ctx, 3)
    expected = {
        "event.id": ctx.event_id(3),
        "event.kind": "event",
        "event.original": line,
        **fields,
    }
    assert event == expected


def test_syslog_prefix_adds_header_fields() -> None:
    line = b"<134>Feb 12 10:15:00 fw01 CEF:0|Acme|Gate|2|7|Login|4|src=192.0.2.1"
    event = CefParser().parse_line(line, make_ctx(), 0)
    assert event["host.name"] == "fw01"
    assert event["log.syslog.priority"] == 134
    assert event["@timestamp"] == datetime(2024, 2, 12, 10, 15, tzinfo=UTC)
    assert event["source.ip"] == "192.0.2.1"
    assert event["event.dataset"] == "cef.acme.gate"
    assert event["event.original"] == line.decode()


def test_unknown_prefix_is_skipped() -> None:
    line = b"forwarded by relay: CEF:1|Acme|Gate|2|7|Login|4|src=192.0.2.1"
    event = CefParser().parse_line(line, make_ctx(), 0)
    assert event["cefVersion"] == "1"
    assert "host.name" not in event
    assert event["event.original"] == line.decode()
    assert event["@timestamp"] == RECEIVED


def test_dataset_override() -> None:
    event = parse_cef("CEF:0|A|B|1|2|n|1|", make_ctx("mine"), 0)
    assert event["event.dataset"] == "mine"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("CEF:0|only|three", "CEF header has 3 of 7"),
        ("no header here", "no 'CEF:' header"),
        ("CEF:0|V|P|1|s|n", "CEF header has 6 of 7"),
        ("<134>Feb 12 10:15:00 fw01 CEF:0|only|three", "CEF header has 3 of 7"),
    ],
)
def test_bad_lines_raise(line: str, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        CefParser().parse_line(line.encode(), make_ctx(), 0)


def test_parse_stream_reports_issues() -> None:
    data = b"CEF:0|A|B|1|2|ok|1|src=1.2.3.4\nCEF:0|broken\n\nCEF:0|A|B|1|2|ok2|1|\n"
    batches = list(CefParser().parse_stream(io.BytesIO(data), make_ctx()))
    events = [event for batch in batches for event in batch.events]
    issues = [issue for batch in batches for issue in batch.issues]
    assert [event["name"] for event in events] == ["ok", "ok2"]
    assert len(issues) == 1
    assert issues[0].line == 2
    assert issues[0].offset == len(b"CEF:0|A|B|1|2|ok|1|src=1.2.3.4\n")
    assert issues[0].raw == b"CEF:0|broken"
    assert issues[0].parser == "cef"
    assert "CEF header has 2 of 7" in issues[0].reason


@pytest.mark.parametrize(
    ("text", "fields", "rest"),
    [
        ("CEF:0|a|b|c|d|e|f|x=1", ["CEF:0", "a", "b", "c", "d", "e", "f"], "x=1"),
        (r"CEF:0|a\|b|c\\|d|e|f|g|", ["CEF:0", "a|b", "c\\", "d", "e", "f", "g"], ""),
        ("CEF:0|a|b", ["CEF:0", "a", "b"], None),
        (r"CEF:0|a\|b", ["CEF:0", "a|b"], None),
        (r"CEF:0|a|b|c|d|e|f|x=a\=b", ["CEF:0", "a", "b", "c", "d", "e", "f"], r"x=a\=b"),
    ],
)
def test_split_header(text: str, fields: list[str], rest: str | None) -> None:
    assert split_header(text, 7) == (fields, rest)


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("a=1 b=2", [("a", "1"), ("b", "2")]),
        ("msg=hello world  b=2 ", [("msg", "hello world"), ("b", "2")]),
        (r"a=x\=y b=c\\d", [("a", "x=y"), ("b", "c\\d")]),
        (r"a=1\n2", [("a", "1\n2")]),
        ("url=http://x/?q=1 b=2", [("url", "http://x/?q=1"), ("b", "2")]),
        ("ad.field[0]=v", [("ad.field[0]", "v")]),
        ("", []),
    ],
)
def test_split_extension(text: str, pairs: list[tuple[str, str]]) -> None:
    assert split_extension(text) == pairs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1700000000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("Nov 14 2023 22:13:20", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("Nov 14 2023 22:13:20.250", datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
        ("Nov 14 2023 14:13:20 PST", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("Nov 14 2023 23:13:20 +0100", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("Jul 14 2023 00:13:20 Europe/Berlin", datetime(2023, 7, 13, 22, 13, 20, tzinfo=UTC)),
        ("Nov 14 2023 22:13:20 XYZ", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("Nov 14 2023 22:13:20 +9999", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("Nov 14 2023 22:13:20 America/", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("Nov 14 2023 22:13:20 ../../etc/passwd", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("Feb 29 10:00:00", datetime(2024, 2, 29, 10, tzinfo=UTC)),
        ("2023-11-14T22:13:20Z", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_cef_time(text: str, expected: datetime | None) -> None:
    assert parse_cef_time(text, RECEIVED) == expected


@pytest.mark.parametrize(
    ("vendor", "product", "name"),
    [
        ("Security", "threatmanager", "cef.security.threatmanager"),
        ("Check Point", "VPN-1 & FireWall-1", "cef.check_point.vpn_1_firewall_1"),
        ("Microsoft", "Windows/Security", "cef.microsoft.windows_security"),
        ("", "---", "cef.unknown.unknown"),
    ],
)
def test_dataset_name(vendor: str, product: str, name: str) -> None:
    assert dataset_name("cef", vendor, product) == name


@pytest.mark.parametrize(
    ("head", "score"),
    [
        (b"CEF:0|a|b|c|d|e|1|src=1.2.3.4\n", 80),
        (b"\n<134>Feb 12 10:15:00 fw01 CEF:0|a|b|c|d|e|1|\n", 80),
        (b"CEF:1.1|a|b|c|d|e|1|\n", 80),
        (b"Feb  5 10:15:00 host sshd[1]: x\n", 0),
        (b"LEEF:1.0|a|b|c|d|src=1\n", 0),
        (b"", 0),
    ],
)
def test_sniff(head: bytes, score: int) -> None:
    assert CefParser().sniff(head) == score
