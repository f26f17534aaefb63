"""Suricata EVE parser (tocsin.ingest.parsers.suricata): flattening, ECS per event_type.

The records are written for these tests after Suricata's EVE JSON output documentation
(alert, flow, dns v2 and v3, http, tls, fileinfo, anomaly).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import orjson
import pytest

from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, ParseIssue
from tocsin.ingest.parsers.cloudtrail import CloudTrailParser
from tocsin.ingest.parsers.jsonfmt import JsonParser
from tocsin.ingest.parsers.suricata import SuricataParser
from tocsin.ingest.parsers.zeek import ZeekJsonParser

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T0 = datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
COMMUNITY = "1:Ds0aaIBuVZyYJ0R4d5aMlBpXEbg="


def ctx(dataset: str | None = None) -> ParseContext:
    return ParseContext("eve.json", "identity", dataset=dataset, received=RECEIVED)


def parse(data: bytes, context: ParseContext | None = None) -> tuple[list[Event], list[ParseIssue]]:
    events: list[Event] = []
    issues: list[ParseIssue] = []
    stream = io.BufferedReader(io.BytesIO(data))
    for batch in SuricataParser().parse_stream(stream, context or ctx()):
        events.extend(batch.events)
        issues.extend(batch.issues)
    return events, issues


COMMON = {
    "timestamp": "2024-01-01T12:00:00.123456+0000",
    "flow_id": 1676750115612680,
    "in_iface": "eth0",
    "src_ip": "10.0.0.5",
    "src_port": 51515,
    "dest_ip": "203.0.113.7",
    "dest_port": 80,
    "proto": "TCP",
    "community_id": COMMUNITY,
    "host": "sensor-1",
}
ECS_COMMON = {
    "source.ip": "10.0.0.5",
    "source.port": 51515,
    "destination.ip": "203.0.113.7",
    "destination.port": 80,
    "related.ip": ["10.0.0.5", "203.0.113.7"],
    "network.transport": "tcp",
    "network.community_id": COMMUNITY,
    "observer.hostname": "sensor-1",
}
FLAT_COMMON = dict(COMMON)

ALERT = {
    **COMMON,
    "event_type": "alert",
    "pkt_src": "wire/pcap",
    "tx_id": 0,
    "alert": {
        "action": "allowed",
        "gid": 1,
        "signature_id": 2024897,
        "rev": 3,
        "signature": "ET USER_AGENTS Go HTTP Client User-Agent",
        "category": "Potentially Bad Traffic",
        "severity": 2,
        "metadata": {"created_at": ["2017_09_11"], "signature_severity": ["Informational"]},
    },
    "http": {
        "hostname": "evil.example.com",
        "url": "/payload.bin",
        "http_user_agent": "Go-http-client/1.1",
        "http_method": "GET",
        "protocol": "HTTP/1.1",
        "length": 0,
    },
    "app_proto": "http",
    "direction": "to_server",
    "flow": {
        "pkts_toserver": 3,
        "pkts_toclient": 1,
        "bytes_toserver": 280,
        "bytes_toclient": 74,
        "start": "2024-01-01T11:59:59.900000+0000",
    },
}
FLOW = {
    **COMMON,
    "event_type": "flow",
    "app_proto": "http",
    "flow": {
        "pkts_toserver": 6,
        "pkts_toclient": 5,
        "bytes_toserver": 560,
        "bytes_toclient": 3120,
        "start": "2024-01-01T11:59:59.900000+0000",
        "end": "2024-01-01T12:00:01.150000+0000",
        "age": 2,
        "state": "closed",
        "reason": "timeout",
        "alerted": True,
    },
    "tcp": {"tcp_flags": "1b", "syn": True, "fin": True, "state": "closed"},
}
DNS_ENDPOINTS = {
    **COMMON,
    "src_port": 53536,
    "dest_ip": "10.0.0.53",
    "dest_port": 53,
    "proto": "UDP",
}
ECS_DNS_ENDPOINTS = {
    **ECS_COMMON,
    "source.port": 53536,
    "destination.ip": "10.0.0.53",
    "destination.port": 53,
    "related.ip": ["10.0.0.5", "10.0.0.53"],
    "network.transport": "udp",
}
DNS_V2_QUERY = {
    **DNS_ENDPOINTS,
    "event_type": "dns",
    "dns": {
        "type": "query",
        "id": 16000,
        "rrname": "evil.example.com",
        "rrtype": "A",
        "tx_id": 0,
        "opcode": 0,
    },
}
DNS_V2_ANSWER = {
    **DNS_ENDPOINTS,
    "event_type": "dns",
    "dns": {
        "version": 2,
        "type": "answer",
        "id": 16000,
        "flags": "8180",
        "qr": True,
        "rd": True,
        "ra": True,
        "opcode": 0,
        "rrname": "evil.example.com",
        "rrtype": "A",
        "rcode": "NOERROR",
        "answers": [
            {
                "rrname": "evil.example.com",
                "rrtype": "CNAME",
                "ttl": 300,
                "rdata": "cdn.example.net",
            },
            {"rrname": "cdn.example.net", "rrtype": "A", "ttl": 60, "rdata": "203.0.113.7"},
        ],
        "grouped": {"CNAME": ["cdn.example.net"], "A": ["203.0.113.7"]},
    },
}
DNS_V3_RESPONSE = {
    **DNS_ENDPOINTS,
    "event_type": "dns",
    "dns": {
        "version": 3,
        "type": "response",
        "tx_id": 0,
        "id": 16000,
        "flags": "8183",
        "qr": True,
        "rd": True,
        "ra": True,
        "opcode": 0,
        "rcode": "NXDOMAIN",
        "queries": [{"rrname": "nx.example.com", "rrtype": "AAAA"}],
        "answers": [],
    },
}
HTTP = {
    **COMMON,
    "dest_port": 8080,
    "event_type": "http",
    "tx_id": 0,
    "http": {
        "hostname": "evil.example.com",
        "http_port": 8080,
        "url": "/gate.php?id=7",
        "http_user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        "http_content_type": "text/html",
        "http_refer": "http://evil.example.com/",
        "http_method": "POST",
        "protocol": "HTTP/1.1",
        "status": 200,
        "length": 1024,
    },
}
TLS = {
    **COMMON,
    "dest_port": 443,
    "event_type": "tls",
    "tls": {
        "subject": "CN=evil.example.com",
        "issuerdn": "C=US, O=Let's Encrypt, CN=R3",
        "serial": "04:A1:3B",
        "fingerprint": "ab:cd:ef",
        "sni": "evil.example.com",
        "version": "TLS 1.2",
        "notbefore": "2024-01-01T00:00:00",
        "notafter": "2024-04-01T00:00:00",
        "ja3": {"hash": "e7d705a3286e19ea42f587b344ee6865", "string": "771,49195-49199,0-11,29,0"},
        "ja3s": {"hash": "f4febc55ea12b31ae17cfb7e614afda8", "string": "771,49199,65281-0"},
        "ja4": "t13d1516h2_8daaf6152771_02713d6af862",
    },
}
FILEINFO = {
    **COMMON,
    "event_type": "fileinfo",
    "app_proto": "http",
    "http": {"hostname": "evil.example.com", "url": "/downloads/invoice.exe"},
    "fileinfo": {
        "filename": "/downloads/invoice.exe",
        "sid": [],
        "gaps": False,
        "state": "CLOSED",
        "md5": "7d8a3e3e1c5b1f6f4a3a4b8f0a0a3e4b",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "stored": False,
        "size": 73802,
        "tx_id": 0,
    },
}
ANOMALY = {
    "timestamp": "2024-01-01T13:00:00.123456+0100",
    "event_type": "anomaly",
    "src_ip": "10.0.0.5",
    "dest_ip": "203.0.113.7",
    "proto": "UDP",
    "anomaly": {"type": "decode", "event": "decoder.ipv4.trunc_pkt", "layer": "proto_detect"},
}

CASES = [
    pytest.param(
        ALERT,
        {
            **FLAT_COMMON,
            "event_type": "alert",
            "pkt_src": "wire/pcap",
            "tx_id": 0,
            "alert.action": "allowed",
            "alert.gid": 1,
            "alert.signature_id": 2024897,
            "alert.rev": 3,
            "alert.signature": "ET USER_AGENTS Go HTTP Client User-Agent",
            "alert.category": "Potentially Bad Traffic",
            "alert.severity": 2,
            "alert.metadata.created_at": ["2017_09_11"],
            "alert.metadata.signature_severity": ["Informational"],
            "http.hostname": "evil.example.com",
            "http.url": "/payload.bin",
            "http.http_user_agent": "Go-http-client/1.1",
            "http.http_method": "GET",
            "http.protocol": "HTTP/1.1",
            "http.length": 0,
            "app_proto": "http",
            "direction": "to_server",
            "flow.pkts_toserver": 3,
            "flow.pkts_toclient": 1,
            "flow.bytes_toserver": 280,
            "flow.bytes_toclient": 74,
            "flow.start": "2024-01-01T11:59:59.900000+0000",
            **ECS_COMMON,
            "network.protocol": "http",
            "event.kind": "alert",
            "event.category": ["network", "intrusion_detection"],
            "event.type": ["allowed"],
            "event.action": "allowed",
            "event.severity": 2,
            "rule.name": "ET USER_AGENTS Go HTTP Client User-Agent",
            "rule.id": "2024897",
            "rule.version": "3",
            "rule.category": "Potentially Bad Traffic",
            "source.bytes": 280,
            "destination.bytes": 74,
            "source.packets": 3,
            "destination.packets": 1,
            "network.bytes": 354,
            "network.packets": 4,
            "url.domain": "evil.example.com",
            "url.original": "/payload.bin",
            "url.full": "http://evil.example.com/payload.bin",
            "url.path": "/payload.bin",
            "http.request.method": "GET",
            "user_agent.original": "Go-http-client/1.1",
            "http.version": "1.1",
            "http.response.body.bytes": 0,
            "event.dataset": "suricata.alert",
        },
        id="alert-on-http",
    ),
    pytest.param(
        FLOW,
        {
            **FLAT_COMMON,
            "event_type": "flow",
            "app_proto": "http",
            "flow.pkts_toserver": 6,
            "flow.pkts_toclient": 5,
            "flow.bytes_toserver": 560,
            "flow.bytes_toclient": 3120,
            "flow.start": "2024-01-01T11:59:59.900000+0000",
            "flow.end": "2024-01-01T12:00:01.150000+0000",
            "flow.age": 2,
            "flow.state": "closed",
            "flow.reason": "timeout",
            "flow.alerted": True,
            "tcp.tcp_flags": "1b",
            "tcp.syn": True,
            "tcp.fin": True,
            "tcp.state": "closed",
            **ECS_COMMON,
            "network.protocol": "http",
            "source.bytes": 560,
            "destination.bytes": 3120,
            "source.packets": 6,
            "destination.packets": 5,
            "network.bytes": 3680,
            "network.packets": 11,
            "event.duration": 1_250_000_000,
            "event.kind": "event",
            "event.category": ["network"],
            "event.type": ["connection"],
            "event.dataset": "suricata.flow",
        },
        id="flow",
    ),
    pytest.param(
        DNS_V2_QUERY,
        {
            **DNS_ENDPOINTS,
            "event_type": "dns",
            "dns.type": "query",
            "dns.id": "16000",
            "dns.rrname": "evil.example.com",
            "dns.rrtype": "A",
            "dns.tx_id": 0,
            "dns.opcode": 0,
            **ECS_DNS_ENDPOINTS,
            "dns.question.name": "evil.example.com",
            "dns.question.type": "A",
            "event.kind": "event",
            "event.category": ["network"],
            "event.type": ["protocol"],
            "event.dataset": "suricata.dns",
        },
        id="dns-v2-query",
    ),
    pytest.param(
        DNS_V2_ANSWER,
        {
            **DNS_ENDPOINTS,
            "event_type": "dns",
            "dns.version": 2,
            "dns.type": "answer",
            "dns.id": "16000",
            "dns.flags": "8180",
            "dns.qr": True,
            "dns.rd": True,
            "dns.ra": True,
            "dns.opcode": 0,
            "dns.rrname": "evil.example.com",
            "dns.rrtype": "A",
            "dns.rcode": "NOERROR",
            "dns.answers": orjson.dumps(DNS_V2_ANSWER["dns"]["answers"]).decode(),  # type: ignore[index]
            "dns.grouped.CNAME": ["cdn.example.net"],
            "dns.grouped.A": ["203.0.113.7"],
            **ECS_DNS_ENDPOINTS,
            "dns.question.name": "evil.example.com",
            "dns.question.type": "A",
            "dns.response_code": "NOERROR",
            "dns.answers.data": ["cdn.example.net", "203.0.113.7"],
            "event.kind": "event",
            "event.category": ["network"],
            "event.type": ["protocol"],
            "event.dataset": "suricata.dns",
        },
        id="dns-v2-answer",
    ),
    pytest.param(
        DNS_V3_RESPONSE,
        {
            **DNS_ENDPOINTS,
            "event_type": "dns",
            "dns.version": 3,
            "dns.type": "answer",
            "dns.tx_id": 0,
            "dns.id": "16000",
            "dns.flags": "8183",
            "dns.qr": True,
            "dns.rd": True,
            "dns.ra": True,
            "dns.opcode": 0,
            "dns.rcode": "NXDOMAIN",
            "dns.queries": '[{"rrname":"nx.example.com","rrtype":"AAAA"}]',
            "dns.answers": [],
            **ECS_DNS_ENDPOINTS,
            "dns.question.name": "nx.example.com",
            "dns.question.type": "AAAA",
            "dns.response_code": "NXDOMAIN",
            "dns.answers.data": [],
            "event.kind": "event",
            "event.category": ["network"],
            "event.type": ["protocol"],
            "event.dataset": "suricata.dns",
        },
        id="dns-v3-nxdomain",
    ),
    pytest.param(
        HTTP,
        {
            **FLAT_COMMON,
            "dest_port": 8080,
            "event_type": "http",
            "tx_id": 0,
            **{f"http.{key}": value for key, value in HTTP["http"].items()},  # type: ignore[attr-defined]
            **ECS_COMMON,
            "destination.port": 8080,
            "url.domain": "evil.example.com",
            "url.original": "/gate.php?id=7",
            "url.full": "http://evil.example.com:8080/gate.php?id=7",
            "url.path": "/gate.php",
            "url.query": "id=7",
            "http.request.method": "POST",
            "user_agent.original": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            "http.request.referrer": "http://evil.example.com/",
            "http.version": "1.1",
            "http.response.status_code": 200,
            "http.response.body.bytes": 1024,
            "event.kind": "event",
            "event.category": ["network", "web"],
            "event.type": ["access"],
            "event.dataset": "suricata.http",
        },
        id="http",
    ),
    pytest.param(
        TLS,
        {
            **FLAT_COMMON,
            "dest_port": 443,
            "event_type": "tls",
            "tls.subject": "CN=evil.example.com",
            "tls.issuerdn": "C=US, O=Let's Encrypt, CN=R3",
            "tls.serial": "04:A1:3B",
            "tls.fingerprint": "ab:cd:ef",
            "tls.sni": "evil.example.com",
            "tls.version": "1.2",
            "tls.notbefore": "2024-01-01T00:00:00",
            "tls.notafter": "2024-04-01T00:00:00",
            "tls.ja3.hash": "e7d705a3286e19ea42f587b344ee6865",
            "tls.ja3.string": "771,49195-49199,0-11,29,0",
            "tls.ja3s.hash": "f4febc55ea12b31ae17cfb7e614afda8",
            "tls.ja3s.string": "771,49199,65281-0",
            "tls.ja4": "t13d1516h2_8daaf6152771_02713d6af862",
            **ECS_COMMON,
            "destination.port": 443,
            "tls.client.server_name": "evil.example.com",
            "tls.version_protocol": "tls",
            "tls.client.ja3": "e7d705a3286e19ea42f587b344ee6865",
            "tls.client.ja4": "t13d1516h2_8daaf6152771_02713d6af862",
            "tls.server.ja3s": "f4febc55ea12b31ae17cfb7e614afda8",
            "tls.server.subject": "CN=evil.example.com",
            "tls.server.issuer": "C=US, O=Let's Encrypt, CN=R3",
            "event.kind": "event",
            "event.category": ["network"],
            "event.type": ["protocol"],
            "event.dataset": "suricata.tls",
        },
        id="tls",
    ),
    pytest.param(
        FILEINFO,
        {
            **FLAT_COMMON,
            "event_type": "fileinfo",
            "app_proto": "http",
            "http.hostname": "evil.example.com",
            "http.url": "/downloads/invoice.exe",
            **{f"fileinfo.{key}": value for key, value in FILEINFO["fileinfo"].items()},  # type: ignore[attr-defined]
            **ECS_COMMON,
            "network.protocol": "http",
            "url.domain": "evil.example.com",
            "url.original": "/downloads/invoice.exe",
            "url.full": "http://evil.example.com/downloads/invoice.exe",
            "url.path": "/downloads/invoice.exe",
            "file.path": "/downloads/invoice.exe",
            "file.name": "invoice.exe",
            "file.size": 73802,
            "file.hash.md5": "7d8a3e3e1c5b1f6f4a3a4b8f0a0a3e4b",
            "file.hash.sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "related.hash": [
                "7d8a3e3e1c5b1f6f4a3a4b8f0a0a3e4b",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            ],
            "event.kind": "event",
            "event.category": ["file"],
            "event.type": ["info"],
            "event.dataset": "suricata.fileinfo",
        },
        id="fileinfo",
    ),
    pytest.param(
        ANOMALY,
        {
            "timestamp": "2024-01-01T13:00:00.123456+0100",
            "event_type": "anomaly",
            "src_ip": "10.0.0.5",
            "dest_ip": "203.0.113.7",
            "proto": "UDP",
            "anomaly.type": "decode",
            "anomaly.event": "decoder.ipv4.trunc_pkt",
            "anomaly.layer": "proto_detect",
            "source.ip": "10.0.0.5",
            "destination.ip": "203.0.113.7",
            "related.ip": ["10.0.0.5", "203.0.113.7"],
            "network.transport": "udp",
            "event.kind": "event",
            "event.category": ["network"],
            "event.type": ["info"],
            "event.dataset": "suricata.anomaly",
        },
        id="anomaly-offset-time",
    ),
]


@pytest.mark.parametrize(("record", "expected"), CASES)
def test_eve_record(record: dict[str, object], expected: dict[str, object]) -> None:
    raw = orjson.dumps(record)
    context = ctx()
    (event,), issues = parse(raw + b"\n", context)
    assert issues == []
    assert event == {
        **expected,
        "event.id": context.event_id(0),
        "@timestamp": T0,
        "event.original": raw.decode(),
    }


def test_dns_v1_answer_and_grouped_only() -> None:
    v1 = {
        **DNS_ENDPOINTS,
        "event_type": "dns",
        "dns": {"type": "answer", "id": 1, "rrname": "a.example", "rrtype": "A", "ttl": 60,
                "rdata": "192.0.2.1", "rcode": "NOERROR"},
    }  # fmt: skip
    grouped = {
        **DNS_ENDPOINTS,
        "event_type": "dns",
        "dns": {"version": 2, "type": "answer", "id": 2, "rrname": "b.example", "rrtype": "A",
                "rcode": "NOERROR", "grouped": {"A": ["192.0.2.2", "192.0.2.3"]}},
    }  # fmt: skip
    in_alert = {
        **ALERT,
        "app_proto": "dns",
        "dns": {"query": [{"type": "query", "id": 3, "rrname": "c.example", "rrtype": "TXT"}]},
    }
    data = b"\n".join(orjson.dumps(record) for record in (v1, grouped, in_alert))
    events, issues = parse(data)
    assert issues == []
    assert events[0]["dns.answers.data"] == ["192.0.2.1"]
    assert events[1]["dns.answers.data"] == ["192.0.2.2", "192.0.2.3"]
    assert events[2]["dns.question.name"] == "c.example"
    assert events[2]["dns.question.type"] == "TXT"
    assert events[2]["event.dataset"] == "suricata.alert"
    assert events[2]["dns.type"] == "query" and events[2]["dns.id"] == "3"


def test_blocked_alert_and_dataset_override() -> None:
    record = {**ALERT, "alert": {**ALERT["alert"], "action": "blocked"}}  # type: ignore[dict-item]
    (event,), _ = parse(orjson.dumps(record), ctx(dataset="ids"))
    assert event["event.type"] == ["denied"]
    assert event["event.dataset"] == "ids"


def test_bad_records_become_issues() -> None:
    lines = [
        orjson.dumps(FLOW),
        b'{"timestamp": "2024-01-01T12:00:00+0000", "event_type": "flow", "src_ip"',
        orjson.dumps({"timestamp": "2024-01-01T12:00:00+0000", "src_ip": "10.0.0.5"}),
        orjson.dumps({**FLOW, "timestamp": "not a time"}),
    ]
    events, issues = parse(b"\n".join(lines) + b"\n")
    assert [issue.line for issue in issues] == [2, 3]
    assert issues[0].reason.startswith("invalid JSON")
    assert "no event_type" in issues[1].reason
    assert len(events) == 2
    assert events[1]["@timestamp"] == RECEIVED


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (FLOW, 70),
        (ALERT, 70),
        ({"timestamp": "2024-01-01T12:00:00+0000", "message": "x"}, 0),
        ({"ts": 1.0, "uid": "C1", "id.orig_h": "10.0.0.5"}, 0),
        ({"eventVersion": "1.08", "eventSource": "s3.amazonaws.com", "eventName": "GetObject"}, 0),
    ],
)
def test_sniff(record: dict[str, object], expected: int) -> None:
    head = orjson.dumps(record) + b"\n"
    assert SuricataParser().sniff(head) == expected
    if expected:
        assert ZeekJsonParser().sniff(head) == 0
        assert CloudTrailParser().sniff(head) == 0
        assert JsonParser().sniff(head) < expected


def test_many_records_are_batched() -> None:
    data = b"\n".join(orjson.dumps({**FLOW, "flow_id": n}) for n in range(8200)) + b"\n"
    batches = list(SuricataParser().parse_stream(io.BufferedReader(io.BytesIO(data)), ctx()))
    assert [len(batch.events) for batch in batches] == [8192, 8]
    assert len({event["event.id"] for batch in batches for event in batch.events}) == 8200
