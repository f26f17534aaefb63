"""Zeek parsers (tocsin.ingest.parsers.zeek): TSV headers and types, ECS per log, Zeek JSON.

The small logs below are written for these tests after Zeek's log format documentation; the
real logs come from the shared data set (``shared_data`` fixture).
"""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, ParseIssue
from tocsin.ingest.parsers.jsonfmt import JsonParser
from tocsin.ingest.parsers.suricata import SuricataParser
from tocsin.ingest.parsers.zeek import (
    ZeekJsonParser,
    ZeekParser,
    log_path_from_source,
    tls_version,
    unescape,
)

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
ZEEK = "zeek/test_data"


def ctx(source: str = "input.log", dataset: str | None = None, base: int = 0) -> ParseContext:
    return ParseContext(source, "identity", dataset=dataset, received=RECEIVED, base_offset=base)


def parse(
    parser: ZeekParser | ZeekJsonParser, data: bytes, context: ParseContext | None = None
) -> tuple[list[Event], list[ParseIssue]]:
    events: list[Event] = []
    issues: list[ParseIssue] = []
    for batch in parser.parse_stream(io.BufferedReader(io.BytesIO(data)), context or ctx()):
        events.extend(batch.events)
        issues.extend(batch.issues)
    return events, issues


def header(path: str | None, fields: str, types: str) -> str:
    """A Zeek TSV header as Zeek writes it (fields and types given space-separated)."""
    lines = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
    ]
    if path is not None:
        lines.append(f"#path\t{path}")
    lines += [
        "#open\t2024-02-05-10-00-00",
        "#fields\t" + "\t".join(fields.split()),
        "#types\t" + "\t".join(types.split()),
    ]
    return "\n".join(lines) + "\n"


def tsv_log(path: str | None, fields: str, types: str, row: str) -> tuple[bytes, int, str]:
    """A one-row log: its bytes, the row's offset and the row."""
    head = header(path, fields, types)
    return (head + row + "\n#close\t2024-02-05-11-00-00\n").encode(), len(head.encode()), row


T0 = datetime(2024, 2, 5, 10, 15, 0, 123456, tzinfo=UTC)
TS = "1707128100.123456"

CONN_FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
    "resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes "
    "resp_pkts resp_ip_bytes tunnel_parents community_id"
)
CONN_TYPES = (
    "time string addr port addr port enum string interval count count string bool bool count "
    "string count count count count set[string] string"
)
CONN_ROW = "\t".join(
    [
        TS,
        "CXHB1X22027MRWU6D",
        "10.0.0.5",
        "51515",
        "93.184.216.34",
        "443",
        "tcp",
        "ssl,http",
        "1.500000",
        "1030",
        "20275",
        "SF",
        "T",
        "F",
        "0",
        "ShADadFf",
        "18",
        "1974",
        "14",
        "21011",
        "(empty)",
        "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
    ]
)
ENDPOINTS = {
    "id.orig_h": "10.0.0.5",
    "id.orig_p": 51515,
    "id.resp_h": "93.184.216.34",
    "id.resp_p": 443,
    "source.ip": "10.0.0.5",
    "source.port": 51515,
    "destination.ip": "93.184.216.34",
    "destination.port": 443,
    "related.ip": ["10.0.0.5", "93.184.216.34"],
}

DNS_FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass "
    "qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected"
)
DNS_TYPES = (
    "time string addr port addr port enum count interval string count string count string "
    "count string bool bool bool bool count vector[string] vector[interval] bool"
)
HTTP_FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri referrer "
    "version user_agent request_body_len response_body_len status_code status_msg tags "
    "resp_mime_types"
)
HTTP_TYPES = (
    "time string addr port addr port count string string string string string string count "
    "count count string set[enum] vector[string]"
)
SSL_FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name resumed "
    "established subject issuer ja3 ja3s ja4"
)
SSL_TYPES = (
    "time string addr port addr port string string string string bool bool string string "
    "string string string"
)
ID_TYPES = "time string addr port addr port"
ID_VALUES = [TS, "C1", "10.0.0.5", "51515", "93.184.216.34", "443"]

CASES = [
    pytest.param(
        tsv_log("conn", CONN_FIELDS, CONN_TYPES, CONN_ROW),
        {
            "ts": T0,
            "uid": "CXHB1X22027MRWU6D",
            **ENDPOINTS,
            "proto": "tcp",
            "network.transport": "tcp",
            "service": "ssl,http",
            "network.protocol": "ssl",
            "duration": 1.5,
            "event.duration": 1_500_000_000,
            "orig_bytes": 1030,
            "resp_bytes": 20275,
            "source.bytes": 1030,
            "destination.bytes": 20275,
            "network.bytes": 21305,
            "conn_state": "SF",
            "local_orig": True,
            "local_resp": False,
            "missed_bytes": 0,
            "history": "ShADadFf",
            "orig_pkts": 18,
            "orig_ip_bytes": 1974,
            "resp_pkts": 14,
            "resp_ip_bytes": 21011,
            "source.packets": 18,
            "destination.packets": 14,
            "network.packets": 32,
            "tunnel_parents": [],
            "community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            "event.category": ["network"],
            "event.type": ["connection"],
            "event.kind": "event",
            "event.dataset": "zeek.conn",
        },
        id="conn",
    ),
    pytest.param(
        tsv_log(
            "dns",
            DNS_FIELDS,
            DNS_TYPES,
            "\t".join(
                [
                    *ID_VALUES[:4],
                    "10.0.0.53",
                    "53",
                    "udp",
                    "42937",
                    "0.069982",
                    "evil.example.com",
                    "1",
                    "C_INTERNET",
                    "1",
                    "A",
                    "0",
                    "NOERROR",
                    "F",
                    "F",
                    "T",
                    "T",
                    "0",
                    "evil-cdn.example.net,203.0.113.7",
                    "60.000000,300.000000",
                    "F",
                ]
            ),
        ),
        {
            "ts": T0,
            "uid": "C1",
            "id.orig_h": "10.0.0.5",
            "id.orig_p": 51515,
            "id.resp_h": "10.0.0.53",
            "id.resp_p": 53,
            "source.ip": "10.0.0.5",
            "source.port": 51515,
            "destination.ip": "10.0.0.53",
            "destination.port": 53,
            "related.ip": ["10.0.0.5", "10.0.0.53"],
            "proto": "udp",
            "network.transport": "udp",
            "network.protocol": "dns",
            "trans_id": 42937,
            "dns.id": "42937",
            "rtt": 0.069982,
            "query": "evil.example.com",
            "dns.question.name": "evil.example.com",
            "qclass": 1,
            "qclass_name": "C_INTERNET",
            "dns.question.class": "C_INTERNET",
            "qtype": 1,
            "qtype_name": "A",
            "dns.question.type": "A",
            "rcode": 0,
            "rcode_name": "NOERROR",
            "dns.response_code": "NOERROR",
            "AA": False,
            "TC": False,
            "RD": True,
            "RA": True,
            "Z": 0,
            "answers": ["evil-cdn.example.net", "203.0.113.7"],
            "dns.answers.data": ["evil-cdn.example.net", "203.0.113.7"],
            "TTLs": ["60.000000", "300.000000"],
            "rejected": False,
            "event.category": ["network"],
            "event.type": ["protocol"],
            "event.kind": "event",
            "event.dataset": "zeek.dns",
        },
        id="dns",
    ),
    pytest.param(
        tsv_log(
            "http",
            HTTP_FIELDS,
            HTTP_TYPES,
            "\t".join(
                [
                    *ID_VALUES[:4],
                    "93.184.216.34",
                    "8080",
                    "1",
                    "GET",
                    "(empty)",
                    "/gate.php?id=7",
                    "-",
                    "1.1",
                    "Modzilla/0.0001 (Atari 7800)",
                    "0",
                    "166",
                    "400",
                    "Bad Request",
                    "(empty)",
                    "text/html",
                ]
            ),
        ),
        {
            "ts": T0,
            "uid": "C1",
            "id.orig_h": "10.0.0.5",
            "id.orig_p": 51515,
            "id.resp_h": "93.184.216.34",
            "id.resp_p": 8080,
            "source.ip": "10.0.0.5",
            "source.port": 51515,
            "destination.ip": "93.184.216.34",
            "destination.port": 8080,
            "related.ip": ["10.0.0.5", "93.184.216.34"],
            "network.protocol": "http",
            "trans_depth": 1,
            "method": "GET",
            "http.request.method": "GET",
            "host": "",
            "uri": "/gate.php?id=7",
            "url.original": "/gate.php?id=7",
            "url.full": "http://93.184.216.34:8080/gate.php?id=7",
            "url.path": "/gate.php",
            "url.query": "id=7",
            "version": "1.1",
            "http.version": "1.1",
            "user_agent": "Modzilla/0.0001 (Atari 7800)",
            "user_agent.original": "Modzilla/0.0001 (Atari 7800)",
            "request_body_len": 0,
            "response_body_len": 166,
            "http.request.body.bytes": 0,
            "http.response.body.bytes": 166,
            "status_code": 400,
            "http.response.status_code": 400,
            "status_msg": "Bad Request",
            "tags": [],
            "resp_mime_types": ["text/html"],
            "event.category": ["network", "web"],
            "event.type": ["access"],
            "event.kind": "event",
            "event.dataset": "zeek.http",
        },
        id="http-blank-host",
    ),
    pytest.param(
        tsv_log(
            "ssl",
            SSL_FIELDS,
            SSL_TYPES,
            "\t".join(
                [
                    *ID_VALUES,
                    "TLSv13",
                    "TLS_AES_256_GCM_SHA384",
                    "x25519",
                    "www.example.com",
                    "F",
                    "T",
                    "CN=www.example.com,O=Example\\\\, Inc.",
                    "CN=R3,O=Let's Encrypt,C=US",
                    "456523fc94726331a4d5a2e1d40b2cd7",
                    "907bf3ecef1c987c889946b737b43de8",
                    "t13d1516h2_8daaf6152771_b0da82dd1658",
                ]
            ),
        ),
        {
            "ts": T0,
            "uid": "C1",
            **ENDPOINTS,
            "network.protocol": "tls",
            "version": "TLSv13",
            "tls.version": "1.3",
            "tls.version_protocol": "tls",
            "cipher": "TLS_AES_256_GCM_SHA384",
            "tls.cipher": "TLS_AES_256_GCM_SHA384",
            "curve": "x25519",
            "tls.curve": "x25519",
            "server_name": "www.example.com",
            "tls.client.server_name": "www.example.com",
            "resumed": False,
            "tls.resumed": False,
            "established": True,
            "tls.established": True,
            "subject": "CN=www.example.com,O=Example\\, Inc.",
            "tls.server.subject": "CN=www.example.com,O=Example\\, Inc.",
            "issuer": "CN=R3,O=Let's Encrypt,C=US",
            "tls.server.issuer": "CN=R3,O=Let's Encrypt,C=US",
            "ja3": "456523fc94726331a4d5a2e1d40b2cd7",
            "tls.client.ja3": "456523fc94726331a4d5a2e1d40b2cd7",
            "ja3s": "907bf3ecef1c987c889946b737b43de8",
            "tls.server.ja3s": "907bf3ecef1c987c889946b737b43de8",
            "ja4": "t13d1516h2_8daaf6152771_b0da82dd1658",
            "tls.client.ja4": "t13d1516h2_8daaf6152771_b0da82dd1658",
            "event.category": ["network"],
            "event.type": ["protocol"],
            "event.kind": "event",
            "event.dataset": "zeek.ssl",
        },
        id="ssl-escaped-backslash",
    ),
    pytest.param(
        tsv_log(
            "files",
            "ts fuid tx_hosts rx_hosts conn_uids source analyzers mime_type filename "
            "duration is_orig seen_bytes total_bytes md5 sha1 sha256",
            "time string set[addr] set[addr] set[string] string set[string] string string "
            "interval bool count count string string string",
            "\t".join(
                [
                    TS,
                    "FfH7reG9kzJuarq6d",
                    "93.184.216.34",
                    "10.0.0.5",
                    "C1",
                    "HTTP",
                    "MD5,SHA1",
                    "application/x-dosexec",
                    "invoice\\x2cfinal.exe",
                    "0.000000",
                    "F",
                    "1784",
                    "-",
                    "d6c6642cd4be96f391726a1e5b8b9695",
                    "ef4a07dc91ccc67f0ba7d7c42b5a02344c39ad73",
                    "-",
                ]
            ),
        ),
        {
            "ts": T0,
            "fuid": "FfH7reG9kzJuarq6d",
            "tx_hosts": ["93.184.216.34"],
            "rx_hosts": ["10.0.0.5"],
            "conn_uids": ["C1"],
            "source": "HTTP",
            "analyzers": ["MD5", "SHA1"],
            "mime_type": "application/x-dosexec",
            "file.mime_type": "application/x-dosexec",
            "filename": "invoice,final.exe",
            "file.name": "invoice,final.exe",
            "duration": 0.0,
            "is_orig": False,
            "seen_bytes": 1784,
            "file.size": 1784,
            "md5": "d6c6642cd4be96f391726a1e5b8b9695",
            "file.hash.md5": "d6c6642cd4be96f391726a1e5b8b9695",
            "sha1": "ef4a07dc91ccc67f0ba7d7c42b5a02344c39ad73",
            "file.hash.sha1": "ef4a07dc91ccc67f0ba7d7c42b5a02344c39ad73",
            "related.hash": [
                "d6c6642cd4be96f391726a1e5b8b9695",
                "ef4a07dc91ccc67f0ba7d7c42b5a02344c39ad73",
            ],
            "event.category": ["file"],
            "event.type": ["info"],
            "event.kind": "event",
            "event.dataset": "zeek.files",
        },
        id="files-escaped-name",
    ),
    pytest.param(
        tsv_log(
            "notice",
            "ts uid id.orig_h id.orig_p id.resp_h id.resp_p note msg src dst p actions",
            "time string addr port addr port enum string addr addr port set[enum]",
            "\t".join(
                [
                    TS,
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "Scan::Port_Scan",
                    "10.0.0.66 scanned at least 15 unique ports",
                    "10.0.0.66",
                    "10.0.0.5",
                    "-",
                    "Notice::ACTION_LOG",
                ]
            ),
        ),
        {
            "ts": T0,
            "note": "Scan::Port_Scan",
            "rule.name": "Scan::Port_Scan",
            "msg": "10.0.0.66 scanned at least 15 unique ports",
            "message": "10.0.0.66 scanned at least 15 unique ports",
            "src": "10.0.0.66",
            "dst": "10.0.0.5",
            "source.ip": "10.0.0.66",
            "destination.ip": "10.0.0.5",
            "related.ip": ["10.0.0.66", "10.0.0.5"],
            "actions": ["Notice::ACTION_LOG"],
            "event.category": ["intrusion_detection"],
            "event.type": ["info"],
            "event.kind": "alert",
            "event.dataset": "zeek.notice",
        },
        id="notice-about-hosts",
    ),
    pytest.param(
        tsv_log(
            "x509",
            "ts id certificate.version certificate.serial certificate.subject "
            "certificate.issuer certificate.not_valid_before certificate.not_valid_after "
            "san.dns basic_constraints.ca",
            "time string count string string string time time vector[string] bool",
            "\t".join(
                [
                    TS,
                    "FfH7reG9kzJuarq6d",
                    "3",
                    "0309595F7B68",
                    "CN=*.example.com",
                    "CN=R3,O=Let's Encrypt,C=US",
                    "1607004052.000000",
                    "1614780052.000000",
                    "*.example.com,example.com",
                    "F",
                ]
            ),
        ),
        {
            "ts": T0,
            "id": "FfH7reG9kzJuarq6d",
            "certificate.version": 3,
            "certificate.serial": "0309595F7B68",
            "tls.server.x509.serial_number": "0309595F7B68",
            "certificate.subject": "CN=*.example.com",
            "tls.server.subject": "CN=*.example.com",
            "certificate.issuer": "CN=R3,O=Let's Encrypt,C=US",
            "tls.server.issuer": "CN=R3,O=Let's Encrypt,C=US",
            "certificate.not_valid_before": datetime(2020, 12, 3, 14, 0, 52, tzinfo=UTC),
            "certificate.not_valid_after": datetime(2021, 3, 3, 14, 0, 52, tzinfo=UTC),
            "san.dns": ["*.example.com", "example.com"],
            "basic_constraints.ca": False,
            "event.category": ["network"],
            "event.type": ["info"],
            "event.kind": "event",
            "event.dataset": "zeek.x509",
        },
        id="x509-time-columns",
    ),
    pytest.param(
        tsv_log(
            "weird",
            "ts uid id.orig_h id.orig_p id.resp_h id.resp_p name addl notice peer",
            "time string addr port addr port string string bool string",
            "\t".join([*ID_VALUES, "bad_HTTP_request", "-", "F", "zeek"]),
        ),
        {
            "ts": T0,
            "uid": "C1",
            **ENDPOINTS,
            "name": "bad_HTTP_request",
            "rule.name": "bad_HTTP_request",
            "notice": False,
            "peer": "zeek",
            "event.category": ["network"],
            "event.type": ["info"],
            "event.kind": "event",
            "event.dataset": "zeek.weird",
        },
        id="weird",
    ),
    pytest.param(
        tsv_log(
            "capture_loss",
            "ts ts_delta peer gaps acks percent_lost",
            "time interval string count count double",
            "\t".join([TS, "119.034545", "zeek", "0", "29", "0.0"]),
        ),
        {
            "ts": T0,
            "ts_delta": 119.034545,
            "peer": "zeek",
            "gaps": 0,
            "acks": 29,
            "percent_lost": 0.0,
            "event.kind": "event",
            "event.dataset": "zeek.capture_loss",
        },
        id="capture-loss-no-category",
    ),
    pytest.param(
        tsv_log(
            "dhcp",
            "ts uid id.orig_h id.orig_p id.resp_h id.resp_p mac lease_time",
            "time string addr port addr port string interval",
            "\t".join([*ID_VALUES, "f4:8e:38:8b:b6:03", "86400.000000"]),
        ),
        {
            "ts": T0,
            "uid": "C1",
            **ENDPOINTS,
            "mac": "f4:8e:38:8b:b6:03",
            "lease_time": 86400.0,
            "event.kind": "event",
            "event.dataset": "zeek.dhcp",
        },
        id="other-log-endpoints-only",
    ),
]


@pytest.mark.parametrize(("log", "expected"), CASES)
def test_tsv_log(log: tuple[bytes, int, str], expected: dict[str, object]) -> None:
    data, offset, row = log
    context = ctx()
    (event,), issues = parse(ZeekParser(), data, context)
    assert issues == []
    assert event == {
        **expected,
        "event.id": context.event_id(offset),
        "@timestamp": T0,
        "event.original": row,
    }


def test_types_unset_empty_and_binary_escapes() -> None:
    data, _, _ = tsv_log(
        "test",
        "ts a b c d e f g h",
        "time string count set[string] vector[count] string string bool double",
        "\t".join(
            [
                TS,
                "-",
                "(empty)",
                "(empty)",
                "1,2",
                "caf\\xc3\\xa9\\x09tab",
                "\\x00\\x01\\xff",
                "T",
                "-0.5",
            ]
        ),
    )
    (event,), issues = parse(ZeekParser(), data)
    assert issues == []
    assert "a" not in event and "b" not in event  # unset, and empty for a number
    assert event["c"] == []
    assert event["d"] == ["1", "2"]
    assert event["e"] == "café\ttab"
    assert event["f"] == "\\x00\\x01\\xff"  # binary: kept as Zeek wrote it
    assert event["g"] is True
    assert event["h"] == -0.5
    assert event["event.dataset"] == "zeek.test"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("a\\x2cb", "a,b"),
        ("back\\\\slash", "back\\slash"),
        ("K\\\\C3\\\\B8benhavn", "K\\C3\\B8benhavn"),
        ("\\xe2\\x82\\xac", "€"),
        ("\\x16\\x03\\x01", "\\x16\\x03\\x01"),
        ("\\xc3", "\\xc3"),
    ],
)
def test_unescape(value: str, expected: str) -> None:
    assert unescape(value) == expected


def test_header_again_mid_file_is_honoured() -> None:
    first = tsv_log("conn", CONN_FIELDS, CONN_TYPES, CONN_ROW)[0]
    second = tsv_log(
        "weird",
        "ts uid id.orig_h id.orig_p id.resp_h id.resp_p name addl notice peer",
        "time string addr port addr port string string bool string",
        "\t".join([*ID_VALUES, "bad_HTTP_request", "-", "F", "zeek"]),
    )[0]
    events, issues = parse(ZeekParser(), first + second + first)
    assert issues == []
    assert [event["event.dataset"] for event in events] == ["zeek.conn", "zeek.weird", "zeek.conn"]
    assert events[1]["rule.name"] == "bad_HTTP_request"
    assert events[2]["source.bytes"] == 1030
    assert len({event["event.id"] for event in events}) == 3


def test_dataset_from_file_name_and_override() -> None:
    data = tsv_log(None, CONN_FIELDS, CONN_TYPES, CONN_ROW)[0]
    (event,), _ = parse(ZeekParser(), data, ctx("/logs/conn.00:00:00-01:00:00.log.gz"))
    assert event["event.dataset"] == "zeek.conn"
    assert event["network.bytes"] == 21305  # the conn mapping, chosen by the file name
    (event,), _ = parse(ZeekParser(), data, ctx("stdin"))
    assert event["event.dataset"] == "zeek.unknown"
    assert "network.bytes" not in event
    assert event["source.ip"] == "10.0.0.5"
    (event,), _ = parse(ZeekParser(), data, ctx("stdin", dataset="zeek.conn"))
    assert event["event.dataset"] == "zeek.conn"
    assert event["event.category"] == ["network"]
    (event,), _ = parse(ZeekParser(), data, ctx("conn.log", dataset="sensor_a"))
    assert event["event.dataset"] == "sensor_a"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("conn.log", "conn"),
        ("/var/log/zeek/2024-04-19/dns.00:00:00-01:00:00.log.gz", "dns"),
        ("known_services.log", "known_services"),
        ("conn-summary.12:00:00-13:00:00.log.gz", "conn-summary"),
        ("http.json", "http"),
        ("tcp://10.0.0.1:5514", None),
        ("events", None),
    ],
)
def test_log_path_from_source(source: str, expected: str | None) -> None:
    assert log_path_from_source(source) == expected


def test_malformed_lines_become_issues_with_line_numbers() -> None:
    head = header("conn", "ts uid id.resp_p", "time string port")
    lines = [
        f"{TS}\tC1\t80",
        f"{TS}\tC2",  # one column short
        f"{TS}\tC3\t80\textra",
        f"{TS}\tC4\thttp",  # not a port
        "yesterday\tC5\t80",  # not a time
        f"{TS}\tC6\t443",
    ]
    data = (head + "\n".join(lines) + "\n").encode()
    events, issues = parse(ZeekParser(), data)
    assert [event["uid"] for event in events] == ["C1", "C6"]
    first_row = head.count("\n") + 1
    assert [issue.line for issue in issues] == [
        first_row + 1,
        first_row + 2,
        first_row + 3,
        first_row + 4,
    ]
    assert issues[0].reason == "expected 3 columns (#fields), found 2"
    assert issues[1].reason == "expected 3 columns (#fields), found 4"
    assert issues[2].reason == "field 'id.resp_p' (port): cannot read 'http'"
    assert issues[3].reason == "field 'ts' (time): cannot read 'yesterday'"
    assert issues[0].raw == lines[1].encode()
    assert issues[0].offset == data.index(lines[1].encode())
    assert issues[0].where == f"input.log:{first_row + 1}"
    assert all(issue.parser == "zeek" for issue in issues)


def test_data_before_any_header_and_short_types() -> None:
    data = (
        b"1707128100.123456\tC1\n"
        + ("#separator \\x09\n#fields\tts\tuid\n#types\ttime\n" + f"{TS}\tC2\n").encode()
    )
    events, issues = parse(ZeekParser(), data)
    assert [issue.line for issue in issues] == [1, 4]
    assert "no #fields header" in issues[0].reason
    assert "#types has 1 columns but #fields has 2" in issues[1].reason
    assert events[0]["ts"] == TS  # read as a string
    assert events[0]["@timestamp"] == RECEIVED


def test_custom_separators() -> None:
    data = (
        "#separator |\n#set_separator|;\n#empty_field|EMPTY\n#unset_field|NONE\n#path|conn\n"
        "#fields|ts|uid|service|tunnel_parents|history\n"
        "#types|time|string|string|set[string]|string\n"
        f"{TS}|C1|dns|a;b|NONE\n{TS}|C2|EMPTY|EMPTY|x\\x7cy\n"
    ).encode()
    events, issues = parse(ZeekParser(), data)
    assert issues == []
    assert events[0]["tunnel_parents"] == ["a", "b"] and "history" not in events[0]
    assert events[0]["network.protocol"] == "dns"
    assert events[1]["service"] == "" and events[1]["tunnel_parents"] == []
    assert events[1]["history"] == "x|y"


def test_batches_and_end_offsets() -> None:
    class SmallBatches(ZeekParser):
        batch_size = 2

    data = tsv_log("conn", CONN_FIELDS, CONN_TYPES, "\n".join([CONN_ROW] * 5))[0]
    batches = list(SmallBatches().parse_stream(io.BufferedReader(io.BytesIO(data)), ctx()))
    assert [len(batch.events) for batch in batches] == [2, 2, 1]
    assert batches[-1].end_offset == len(data)
    first_end = batches[0].end_offset
    assert data[:first_end].endswith((CONN_ROW + "\n").encode())


def test_a_resumed_tail_keeps_the_header() -> None:
    data, offset, row = tsv_log("conn", CONN_FIELDS, CONN_TYPES, CONN_ROW)
    parser = ZeekParser()
    head = data[:offset]
    parse(parser, head, ctx("conn.log"))
    more = (row + "\n").encode()
    (event,), issues = parse(parser, more, ctx("conn.log", base=offset))
    assert issues == []
    assert event["source.bytes"] == 1030
    assert event["event.id"] == ctx("conn.log").event_id(offset)
    # a parser that never saw the header cannot read the line
    _, issues = parse(ZeekParser(), more, ctx("conn.log", base=offset))
    assert len(issues) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TLSv12", ("tls", "1.2")),
        ("TLSv13", ("tls", "1.3")),
        ("TLSv10", ("tls", "1.0")),
        ("SSLv3", ("ssl", "3.0")),
        ("DTLSv12", ("dtls", "1.2")),
        ("TLS 1.2", ("tls", "1.2")),
        ("TLSv1", ("tls", "1.0")),
        ("UNDETERMINED", None),
        (None, None),
    ],
)
def test_tls_version(text: str | None, expected: tuple[str, str] | None) -> None:
    assert tls_version(text) == expected


# ----------------------------------------------------------------------------- sniffing

ZEEK_JSON_LINE = {
    "ts": 1517336042.279652,
    "uid": "CVvreZ2AGtqjnP3nnl",
    "id.orig_h": "192.168.88.2",
    "id.orig_p": 55638,
    "id.resp_h": "165.227.88.15",
    "id.resp_p": 53,
    "proto": "udp",
    "query": "example.com",
}
EVE_LINE = {
    "timestamp": "2024-01-01T12:00:00.123456+0000",
    "flow_id": 1,
    "event_type": "dns",
    "src_ip": "10.0.0.5",
    "ts": 1,
    "uid": "x",
}


@pytest.mark.parametrize(
    ("head", "tsv", "json", "eve"),
    [
        (tsv_log("conn", CONN_FIELDS, CONN_TYPES, CONN_ROW)[0], 90, 0, 0),
        (b"#fields\tts\tuid\n#types\ttime\tstring\n", 90, 0, 0),
        (orjson.dumps(ZEEK_JSON_LINE) + b"\n", 0, 65, 0),
        (orjson.dumps({**ZEEK_JSON_LINE, "uid": None, "_path": "dns"}) + b"\n", 0, 65, 0),
        (orjson.dumps(EVE_LINE) + b"\n", 0, 0, 70),
        (b'{"ts": 1, "message": "hello"}\n', 0, 0, 0),
        (b"#Software: Microsoft Internet Information Services\n#Fields: date time\n", 0, 0, 0),
        (b"Jan  1 00:00:00 host sshd[1]: hi\n", 0, 0, 0),
    ],
)
def test_sniff(head: bytes, tsv: int, json: int, eve: int) -> None:
    assert ZeekParser().sniff(head) == tsv
    assert ZeekJsonParser().sniff(head) == json
    assert SuricataParser().sniff(head) == eve
    if json:
        assert json > JsonParser().sniff(head) > 0


# ----------------------------------------------------------------------------- Zeek JSON


def test_zeek_json_record() -> None:
    record = {
        "ts": 1707128100.123456,
        "uid": "CB9DKu4WI1kRo88sj6",
        "id.orig_h": "10.0.0.5",
        "id.orig_p": 51515,
        "id.resp_h": "93.184.216.34",
        "id.resp_p": 80,
        "trans_depth": 1,
        "method": "GET",
        "host": "www.example.com:8080",
        "uri": "/index.html",
        "user_agent": "curl/8.0",
        "status_code": 200,
        "resp_mime_types": ["text/html"],
        "_path": "http",
    }
    raw = orjson.dumps(record)
    context = ctx("eve-like-name.json")
    (event,), issues = parse(ZeekJsonParser(), raw + b"\n", context)
    assert issues == []
    assert event == {
        **record,
        "ts": T0,
        **{key: value for key, value in ENDPOINTS.items() if "resp_p" not in key},
        "id.resp_p": 80,
        "destination.port": 80,
        "network.protocol": "http",
        "trans_depth": 1,
        "http.request.method": "GET",
        "url.domain": "www.example.com",
        "url.original": "/index.html",
        "url.full": "http://www.example.com:8080/index.html",
        "url.path": "/index.html",
        "user_agent.original": "curl/8.0",
        "http.response.status_code": 200,
        "event.category": ["network", "web"],
        "event.type": ["access"],
        "event.kind": "event",
        "event.id": context.event_id(0),
        "@timestamp": T0,
        "event.dataset": "zeek.http",
        "event.original": raw.decode(),
    }


def test_zeek_json_iso_times_nested_ids_and_file_name() -> None:
    record = {
        "ts": "2024-02-05T10:15:00.123456Z",
        "uid": "C1",
        "id": {"orig_h": "10.0.0.5", "orig_p": 1, "resp_h": "10.0.0.53", "resp_p": 53},
        "proto": "udp",
        "query": "example.com",
        "answers": ["93.184.216.34"],
        "TTLs": [300.0],
    }
    (event,), issues = parse(ZeekJsonParser(), orjson.dumps(record), ctx("dns.log"))
    assert issues == []
    assert event["@timestamp"] == T0 and event["ts"] == T0
    assert event["event.dataset"] == "zeek.dns"
    assert event["source.ip"] == "10.0.0.5" and event["destination.port"] == 53
    assert event["dns.answers.data"] == ["93.184.216.34"]
    assert event["dns.question.name"] == "example.com"


# ----------------------------------------------------------------------------- shared data


def data_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize(
    "name",
    ["conn", "dns", "http", "ssl", "files", "x509", "weird", "capture_loss", "dhcp", "stats"],
)
def test_shared_proxy_logs_read_whole(shared_data: Path, name: str) -> None:
    path = shared_data / ZEEK / "proxy" / f"{name}.log"
    data = path.read_bytes()
    events, issues = parse(ZeekParser(), data, ctx(str(path)))
    assert issues == []
    assert len(events) == len(data_rows(data.decode()))
    assert {event["event.dataset"] for event in events} == {f"zeek.{name}"}
    assert all(type(event["@timestamp"]) is datetime for event in events)
    assert len({event["event.id"] for event in events}) == len(events)


def test_shared_proxy_conn_values(shared_data: Path) -> None:
    path = shared_data / ZEEK / "proxy" / "conn.log"
    events, _ = parse(ZeekParser(), path.read_bytes(), ctx(str(path)))
    first = events[0]
    assert first["uid"] == "CXHB1X22027MRWU6D"
    assert first["@timestamp"] == datetime(2023, 1, 4, 14, 37, 36, 913119, tzinfo=UTC)
    assert first["source.ip"] == "10.136.0.18" and first["source.port"] == 55548
    assert first["destination.ip"] == "10.136.0.16" and first["destination.port"] == 3128
    assert first["network.transport"] == "tcp" and first["network.protocol"] == "http"
    assert first["source.bytes"] == 1030 and first["destination.bytes"] == 20275
    assert first["source.packets"] == 18 and first["destination.packets"] == 14
    assert first["event.duration"] == 84_044_000
    assert "tunnel_parents" not in first
    icmp = next(event for event in events if event["proto"] == "icmp")
    assert icmp["destination.ip"] == "ff02::2" and "event.duration" not in icmp


def test_shared_proxy_dns_and_ssl_values(shared_data: Path) -> None:
    folder = shared_data / ZEEK / "proxy"
    dns, _ = parse(ZeekParser(), (folder / "dns.log").read_bytes(), ctx("dns.log"))
    answered = [event for event in dns if event.get("dns.answers.data")]
    assert answered
    assert all(isinstance(event["dns.answers.data"], list) for event in answered)
    assert dns[0]["dns.question.name"] == "_homekit._tcp.local"
    assert dns[0]["dns.question.type"] == "PTR"
    ssl, _ = parse(ZeekParser(), (folder / "ssl.log").read_bytes(), ctx("ssl.log"))
    assert ssl[0]["tls.client.server_name"] == "www.google.com"
    assert ssl[0]["tls.version"] == "1.3"
    assert ssl[0]["tls.client.ja3"] == "456523fc94726331a4d5a2e1d40b2cd7"


def test_shared_json_logs(shared_data: Path) -> None:
    folder = shared_data / ZEEK / "json_with_all_fields"
    expected = {
        "conn.log": "zeek.conn",
        "dns.log": "zeek.dns",  # no _path: from the file name
        "http.log": "zeek.http",
        "ssl.log": "zeek.ssl",
        "open_conn.log": "zeek.conn",  # _path wins over the file name
    }
    for name, dataset in expected.items():
        data = (folder / name).read_bytes()
        assert ZeekJsonParser().sniff(data[:65536]) == 65
        assert ZeekParser().sniff(data[:65536]) == 0
        events, issues = parse(ZeekJsonParser(), data, ctx(str(folder / name)))
        assert issues == []
        assert len(events) == len(data.splitlines())
        assert {event["event.dataset"] for event in events} == {dataset}
    ssl, _ = parse(ZeekJsonParser(), (folder / "ssl.log").read_bytes(), ctx("ssl.log"))
    assert ssl[0]["tls.client.ja3"] == "10ee8d30a5d01c042afd7b2b205facc4"
    assert ssl[0]["tls.server.ja3s"] == "b898351eb5e266aefd3723d466935494"
    assert ssl[0]["tls.version"] == "1.2"
    conn, _ = parse(ZeekJsonParser(), (folder / "conn.log").read_bytes(), ctx("conn.log"))
    assert conn[0]["event.duration"] == 108_985_496_000
    assert conn[0]["@timestamp"] == datetime(2018, 1, 31, 18, 12, 6, 539915, tzinfo=UTC)


def read_gz(path: Path) -> bytes:
    with gzip.open(path, "rb") as handle:
        return handle.read()


def test_shared_hourly_gzip_logs(shared_data: Path) -> None:
    day = shared_data / ZEEK / "missing_host" / "2024-04-19"
    conn_files = sorted(day.glob("conn.*.log.gz"))
    assert len(conn_files) == 24
    total = 0
    for path in conn_files:
        data = read_gz(path)
        assert ZeekParser().sniff(data[:65536]) == 90
        events, issues = parse(ZeekParser(), data, ctx(str(path)))
        assert issues == []
        assert len(events) == len(data_rows(data.decode()))
        assert all(event["event.dataset"] == "zeek.conn" for event in events)
        total += len(events)
    assert total == sum(len(data_rows(read_gz(path).decode())) for path in conn_files)
    first, _ = parse(ZeekParser(), read_gz(conn_files[0]), ctx(str(conn_files[0])))
    assert first[0]["_node_name"] == "worker-eth0-1"
    assert first[0]["source.ip"] == "167.94.138.145"
    assert first[0]["destination.port"] == 6008
    assert first[0]["conn_state"] == "REJ"
    assert first[0]["event.duration"] == 64_000


def test_shared_blank_host_beacon(shared_data: Path) -> None:
    """The README's beacon: HTTP with a blank Host header and a unique user agent."""
    day = shared_data / ZEEK / "missing_host" / "2024-04-19"
    beacons = []
    for path in sorted(day.glob("http.*.log.gz")):
        events, issues = parse(ZeekParser(), read_gz(path), ctx(str(path)))
        assert issues == []
        beacons += [
            e for e in events if e.get("user_agent.original") == "Modzilla/0.0001 (Atari 7800)"
        ]
    assert len(beacons) > 100
    assert {event["source.ip"] for event in beacons} == {"73.54.23.243"}
    assert {event["host"] for event in beacons} == {""}
    assert {event["url.full"] for event in beacons} == {"http://64.225.56.201/"}
    assert "url.domain" not in beacons[0]
    stamps = [event["@timestamp"] for event in beacons]
    assert all(isinstance(stamp, datetime) for stamp in stamps)
    seconds = [stamp.timestamp() for stamp in stamps if isinstance(stamp, datetime)]
    gaps = [later - earlier for earlier, later in zip(seconds, seconds[1:], strict=False)]
    assert 200 <= sorted(gaps)[len(gaps) // 2] <= 350


def test_shared_summary_is_not_zeek_tsv(shared_data: Path) -> None:
    path = next((shared_data / ZEEK / "missing_host" / "2024-04-19").glob("conn-summary.*"))
    assert ZeekParser().sniff(read_gz(path)[:65536]) == 0
