"""journald parser: ``journalctl -o json`` entries, byte-array and multi-valued fields, ECS.

Samples are written for these tests after the journal export format documentation.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import orjson
import pytest

from tocsin.ingest.base import ParseContext, ParseIssue
from tocsin.ingest.parsers.journald import JournaldParser

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
CURSOR = "s=6f3c;i=1a2b;b=9e1f;m=3b9aca00;t=60f2a1b2c3d4e;x=77aa"


def ctx(dataset: str | None = None) -> ParseContext:
    return ParseContext("journal.json", "ident", dataset=dataset, received=RECEIVED)


def parse(
    data: bytes, context: ParseContext | None = None
) -> tuple[list[dict[str, object]], list[ParseIssue]]:
    batches = list(JournaldParser().parse_stream(io.BytesIO(data), context or ctx()))
    return ([e for b in batches for e in b.events], [i for b in batches for i in b.issues])


SSHD = {
    "__CURSOR": CURSOR,
    "__REALTIME_TIMESTAMP": "1707128100123456",
    "__MONOTONIC_TIMESTAMP": "1000000000",
    "_BOOT_ID": "9e1f",
    "PRIORITY": "6",
    "SYSLOG_FACILITY": "4",
    "SYSLOG_IDENTIFIER": "sshd",
    "_PID": "1234",
    "_UID": "0",
    "_GID": "0",
    "_COMM": "sshd",
    "_EXE": "/usr/sbin/sshd",
    "_CMDLINE": "sshd: alice [priv]",
    "_SYSTEMD_UNIT": "ssh.service",
    "_HOSTNAME": "bastion",
    "MESSAGE": "Accepted publickey for alice from 192.0.2.10 port 51515 ssh2: ED25519 SHA256:x",
}

CASES = [
    pytest.param(
        SSHD,
        CURSOR,
        {
            **{key: value for key, value in SSHD.items() if key != "MESSAGE"},
            "message": SSHD["MESSAGE"],
            "host.name": "bastion",
            "process.pid": 1234,
            "log.syslog.appname": "sshd",
            "process.name": "sshd",
            "process.executable": "/usr/sbin/sshd",
            "process.command_line": "sshd: alice [priv]",
            "log.syslog.severity.code": 6,
            "log.syslog.severity.name": "informational",
            "log.syslog.facility.code": 4,
            "log.syslog.facility.name": "auth",
            "user.id": "0",
            "event.category": ["authentication"],
            "event.type": ["start"],
            "event.action": "ssh_login",
            "event.outcome": "success",
            "ssh.method": "publickey",
            "user.name": "alice",
            "related.user": ["alice"],
            "source.ip": "192.0.2.10",
            "related.ip": ["192.0.2.10"],
            "source.port": 51515,
            "@timestamp": datetime(2024, 2, 5, 10, 15, 0, 123456, tzinfo=UTC),
        },
        id="sshd-entry",
    ),
    pytest.param(
        {
            "__REALTIME_TIMESTAMP": "1707128100000000",
            "MESSAGE": [104, 105, 0, 255],
            "SYSLOG_IDENTIFIER": "app",
            "SYSLOG_PID": "42",
            "TAGS": ["a", "b"],
            "BLOBS": [[111, 107], "text"],
            "HUGE": None,
        },
        0,
        {
            "__REALTIME_TIMESTAMP": "1707128100000000",
            "SYSLOG_IDENTIFIER": "app",
            "SYSLOG_PID": "42",
            "TAGS": ["a", "b"],
            "BLOBS": ["ok", "text"],
            "message": "hi\x00\ufffd",
            "process.pid": 42,
            "log.syslog.appname": "app",
            "process.name": "app",
            "@timestamp": datetime(2024, 2, 5, 10, 15, tzinfo=UTC),
        },
        id="binary-multi-valued-null",
    ),
    pytest.param(
        {
            "__CURSOR": "",
            "_SOURCE_REALTIME_TIMESTAMP": "1707128100000001",
            "__REALTIME_TIMESTAMP": "not-a-number",
            "PRIORITY": "9",
            "_PID": "x",
        },
        0,
        {
            "__CURSOR": "",
            "_SOURCE_REALTIME_TIMESTAMP": "1707128100000001",
            "__REALTIME_TIMESTAMP": "not-a-number",
            "PRIORITY": "9",
            "_PID": "x",
            "@timestamp": datetime(2024, 2, 5, 10, 15, 0, 1, tzinfo=UTC),
        },
        id="fallback-time-bad-values",
    ),
    pytest.param(
        {"__CURSOR": "s=1;i=2", "MESSAGE": "no time"},
        "s=1;i=2",
        {"__CURSOR": "s=1;i=2", "message": "no time", "@timestamp": RECEIVED},
        id="received-time",
    ),
    pytest.param(
        {"__CURSOR": "c1", "MESSAGE": ["first", [115, 101, 99, 111, 110, 100]]},
        "c1",
        {"__CURSOR": "c1", "message": "first\nsecond", "@timestamp": RECEIVED},
        id="multi-valued-message",
    ),
]


@pytest.mark.parametrize(("entry", "position", "fields"), CASES)
def test_convert(entry: dict[str, object], position: object, fields: dict[str, object]) -> None:
    line = orjson.dumps(entry)
    events, issues = parse(line + b"\n")
    assert issues == []
    expected = {
        "event.id": ctx().event_id(position),  # type: ignore[arg-type]
        "event.dataset": "linux.journald",
        "event.kind": "event",
        "event.original": line.decode(),
        **fields,
    }
    assert events == [expected]


def test_stream_offsets_and_issues() -> None:
    first = orjson.dumps({"__REALTIME_TIMESTAMP": "1707128100000000", "MESSAGE": "one"}) + b"\n"
    bad = b'{"__REALTIME_TIMESTAMP": "17071281\n'
    third = orjson.dumps({"__REALTIME_TIMESTAMP": "1707128100000000", "MESSAGE": "three"})
    events, issues = parse(first + bad + third + b"\n")
    assert [event["message"] for event in events] == ["one", "three"]
    assert events[1]["event.id"] == ctx().event_id(len(first + bad))
    assert [(issue.line, issue.offset, issue.parser) for issue in issues] == [
        (2, len(first), "journald")
    ]
    assert "invalid JSON" in issues[0].reason


def test_dataset_override() -> None:
    events, _ = parse(b'{"__CURSOR": "c", "MESSAGE": "x"}\n', ctx("mine"))
    assert events[0]["event.dataset"] == "mine"


@pytest.mark.parametrize(
    ("obj", "accepted"),
    [
        ({"__REALTIME_TIMESTAMP": "1"}, True),
        ({"__CURSOR": "c"}, True),
        ({"MESSAGE": "x", "_PID": "1"}, False),
    ],
)
def test_accepts(obj: dict[str, object], accepted: bool) -> None:
    assert JournaldParser().accepts(obj) is accepted


@pytest.mark.parametrize(
    ("head", "score"),
    [
        (orjson.dumps(SSHD) + b"\n", 70),
        (b'{"message": "plain json"}\n', 0),
        (b"Feb  5 10:15:00 host sshd[1]: x\n", 0),
        (b"", 0),
    ],
)
def test_sniff(head: bytes, score: int) -> None:
    assert JournaldParser().sniff(head) == score
