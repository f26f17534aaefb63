"""Syslog parser: RFC 5424, RFC 3164, daemon file formats, well-known messages, CEF/LEEF hand-off.

Samples are written for these tests; the RFC 5424 ones are the examples of RFC 5424 section 6.5.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from tocsin.ingest.base import ParseContext, RecordError
from tocsin.ingest.parsers.syslog import SyslogParser, parse_syslog_message

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def make_ctx(dataset: str | None = None) -> ParseContext:
    return ParseContext("test.log", "ident", dataset=dataset, received=RECEIVED)


def pri(value: int) -> dict[str, object]:
    facility, severity = divmod(value, 8)
    names = (
        "emergency",
        "alert",
        "critical",
        "error",
        "warning",
        "notice",
        "informational",
        "debug",
    )
    facilities = {
        0: "kern",
        1: "user",
        3: "daemon",
        4: "auth",
        10: "authpriv",
        16: "local0",
        20: "local4",
    }
    return {
        "log.syslog.priority": value,
        "log.syslog.facility.code": facility,
        "log.syslog.facility.name": facilities[facility],
        "log.syslog.severity.code": severity,
        "log.syslog.severity.name": names[severity],
    }


def host(name: str) -> dict[str, object]:
    return {"log.syslog.hostname": name, "host.name": name}


def app(name: str, pid: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {"log.syslog.appname": name, "process.name": name}
    if pid is not None:
        out["log.syslog.procid"] = pid
        if pid.isdigit():
            out["process.pid"] = int(pid)
    return out


def ts(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    micro: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


CASES = [
    pytest.param(
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        b"\xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8",
        {
            **pri(34),
            **host("mymachine.example.com"),
            **app("su"),
            "log.syslog.version": "1",
            "log.syslog.msgid": "ID47",
            "@timestamp": ts(2003, 10, 11, 22, 14, 15, 3000),
            "message": "'su root' failed for lonvick on /dev/pts/8",
        },
        id="rfc5424-bom",
    ),
    pytest.param(
        b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
        b"%% It's time to make the do-nuts.",
        {
            **pri(165),
            **host("192.0.2.1"),
            **app("myproc", "8710"),
            "log.syslog.version": "1",
            "@timestamp": ts(2003, 8, 24, 12, 14, 15, 3),
            "message": "%% It's time to make the do-nuts.",
        },
        id="rfc5424-offset",
    ),
    pytest.param(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
        b"\xef\xbb\xbfAn application event log entry...",
        {
            **pri(165),
            **host("mymachine.example.com"),
            **app("evntslog"),
            "log.syslog.version": "1",
            "log.syslog.msgid": "ID47",
            "syslog.sd.exampleSDID@32473.iut": "3",
            "syslog.sd.exampleSDID@32473.eventSource": "Application",
            "syslog.sd.exampleSDID@32473.eventID": "1011",
            "@timestamp": ts(2003, 10, 11, 22, 14, 15, 3000),
            "message": "An application event log entry...",
        },
        id="rfc5424-sd",
    ),
    pytest.param(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        b'[examplePriority@32473 class="high"]',
        {
            **pri(165),
            **host("mymachine.example.com"),
            **app("evntslog"),
            "log.syslog.version": "1",
            "log.syslog.msgid": "ID47",
            "syslog.sd.exampleSDID@32473.iut": "3",
            "syslog.sd.exampleSDID@32473.eventSource": "Application",
            "syslog.sd.exampleSDID@32473.eventID": "1011",
            "syslog.sd.examplePriority@32473.class": "high",
            "@timestamp": ts(2003, 10, 11, 22, 14, 15, 3000),
            "message": "",
        },
        id="rfc5424-two-sd-no-msg",
    ),
    pytest.param(
        rb'<14>1 2024-02-05T10:15:00Z h a - - [t@1 q="say \"hi\"" b="back\\slash" '
        rb'c="close\]" d="keep\n" ip="10.0.0.1" ip="10.0.0.2"] body',
        {
            **pri(14),
            **host("h"),
            **app("a"),
            "log.syslog.version": "1",
            "syslog.sd.t@1.q": 'say "hi"',
            "syslog.sd.t@1.b": "back\\slash",
            "syslog.sd.t@1.c": "close]",
            "syslog.sd.t@1.d": "keep\\n",
            "syslog.sd.t@1.ip": ["10.0.0.1", "10.0.0.2"],
            "@timestamp": ts(2024, 2, 5, 10, 15),
            "message": "body",
        },
        id="rfc5424-sd-escapes-and-repeats",
    ),
    pytest.param(
        b'<14>1 2024-02-05T10:15:00Z h a - - [broken "sd" body',
        {
            **pri(14),
            **host("h"),
            **app("a"),
            "log.syslog.version": "1",
            "@timestamp": ts(2024, 2, 5, 10, 15),
            "message": '[broken "sd" body',
        },
        id="rfc5424-malformed-sd-kept-in-message",
    ),
    pytest.param(
        b"<14>1 - - - - - -",
        {**pri(14), "log.syslog.version": "1", "@timestamp": RECEIVED, "message": ""},
        id="rfc5424-all-nil",
    ),
    pytest.param(
        b"<13>1 2024-02-05T10:15:00.5+01:00 h app worker-7 MSG1 - text",
        {
            **pri(13),
            **host("h"),
            **app("app", "worker-7"),
            "log.syslog.version": "1",
            "log.syslog.msgid": "MSG1",
            "@timestamp": ts(2024, 2, 5, 9, 15, 0, 500000),
            "message": "text",
        },
        id="rfc5424-non-numeric-procid",
    ),
    pytest.param(
        b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
        {
            **pri(34),
            **host("mymachine"),
            **app("su"),
            "@timestamp": ts(2023, 10, 11, 22, 14, 15),
            "message": "'su root' failed for lonvick on /dev/pts/8",
        },
        id="rfc3164-previous-year",
    ),
    pytest.param(
        b"<13>Mar  2 11:59:59 host1 app: within a day ahead",
        {
            **pri(13),
            **host("host1"),
            **app("app"),
            "@timestamp": ts(2024, 3, 2, 11, 59, 59),
            "message": "within a day ahead",
        },
        id="rfc3164-year-of-received",
    ),
    pytest.param(
        b"<13>Mar  2 12:00:01 host1 app: more than a day ahead",
        {
            **pri(13),
            **host("host1"),
            **app("app"),
            "@timestamp": ts(2023, 3, 2, 12, 0, 1),
            "message": "more than a day ahead",
        },
        id="rfc3164-more-than-a-day-ahead",
    ),
    pytest.param(
        b"<13>Feb 29 08:00:00 host1 app: leap day",
        {
            **pri(13),
            **host("host1"),
            **app("app"),
            "@timestamp": ts(2024, 2, 29, 8),
            "message": "leap day",
        },
        id="rfc3164-leap-day",
    ),
    pytest.param(
        b"<13>Feb  5 2023 10:15:00.250 host1 app[77]: with year and fraction",
        {
            **pri(13),
            **host("host1"),
            **app("app", "77"),
            "@timestamp": ts(2023, 2, 5, 10, 15, 0, 250000),
            "message": "with year and fraction",
        },
        id="rfc3164-year-fraction",
    ),
    pytest.param(
        b"<30>2024-02-05T10:15:00.123456+01:00 myhost systemd[1]: Started Session 3 of user a.",
        {
            **pri(30),
            **host("myhost"),
            **app("systemd", "1"),
            "@timestamp": ts(2024, 2, 5, 9, 15, 0, 123456),
            "message": "Started Session 3 of user a.",
        },
        id="rsyslog-iso-after-pri",
    ),
    pytest.param(
        b"2024-02-05T10:15:00.123456+00:00 debian12 CRON[812]: (root) CMD (date)",
        {
            **host("debian12"),
            **app("CRON", "812"),
            "@timestamp": ts(2024, 2, 5, 10, 15, 0, 123456),
            "message": "(root) CMD (date)",
        },
        id="file-iso-no-pri",
    ),
    pytest.param(
        b"<13>Mar  1 10:00:00 sshd[12]: no host from /dev/log",
        {
            **pri(13),
            **app("sshd", "12"),
            "@timestamp": ts(2024, 3, 1, 10),
            "message": "no host from /dev/log",
        },
        id="dev-log-no-host",
    ),
    pytest.param(
        b"Mar  1 10:00:00 myhost last message repeated 3 times",
        {
            **host("myhost"),
            "@timestamp": ts(2024, 3, 1, 10),
            "message": "last message repeated 3 times",
        },
        id="no-tag",
    ),
    pytest.param(
        b"Feb  5 10:15:00 mail postfix/smtpd[2201]: connect from unknown[198.51.100.7]",
        {
            **host("mail"),
            **app("postfix/smtpd", "2201"),
            "@timestamp": ts(2024, 2, 5, 10, 15),
            "message": "connect from unknown[198.51.100.7]",
        },
        id="tag-with-slash",
    ),
    pytest.param(
        b"<13>myapp: no timestamp at all",
        {**pri(13), **app("myapp"), "@timestamp": RECEIVED, "message": "no timestamp at all"},
        id="pri-without-timestamp",
    ),
    pytest.param(
        b"Feb  5 10:15:00 bastion sshd[1234]: Accepted password for alice from 10.0.0.5 "
        b"port 50022 ssh2",
        {
            **host("bastion"),
            **app("sshd", "1234"),
            "@timestamp": ts(2024, 2, 5, 10, 15),
            "message": "Accepted password for alice from 10.0.0.5 port 50022 ssh2",
            "event.category": ["authentication"],
            "event.type": ["start"],
            "event.action": "ssh_login",
            "event.outcome": "success",
            "ssh.method": "password",
            "user.name": "alice",
            "related.user": ["alice"],
            "source.ip": "10.0.0.5",
            "related.ip": ["10.0.0.5"],
            "source.port": 50022,
        },
        id="sshd-accepted",
    ),
    pytest.param(
        b"<38>Feb  5 10:15:01 bastion sshd[1240]: Failed password for invalid user admin "
        b"from 2001:db8::7 port 41122 ssh2",
        {
            **pri(38),
            **host("bastion"),
            **app("sshd", "1240"),
            "@timestamp": ts(2024, 2, 5, 10, 15, 1),
            "message": "Failed password for invalid user admin from 2001:db8::7 port 41122 ssh2",
            "event.category": ["authentication"],
            "event.type": ["start"],
            "event.action": "ssh_login",
            "event.outcome": "failure",
            "ssh.method": "password",
            "user.name": "admin",
            "related.user": ["admin"],
            "source.ip": "2001:db8::7",
            "related.ip": ["2001:db8::7"],
            "source.port": 41122,
        },
        id="sshd-failed-invalid-user",
    ),
    pytest.param(
        b"Feb  5 10:15:02 bastion sshd[1241]: Invalid user oracle from 203.0.113.4 port 5000",
        {
            **host("bastion"),
            **app("sshd", "1241"),
            "@timestamp": ts(2024, 2, 5, 10, 15, 2),
            "message": "Invalid user oracle from 203.0.113.4 port 5000",
            "event.category": ["authentication"],
            "event.type": ["start"],
            "event.action": "ssh_login",
            "event.outcome": "failure",
            "user.name": "oracle",
            "related.user": ["oracle"],
            "source.ip": "203.0.113.4",
            "related.ip": ["203.0.113.4"],
            "source.port": 5000,
        },
        id="sshd-invalid-user",
    ),
    pytest.param(
        b"Feb  5 10:15:03 bastion sshd[1234]: pam_unix(sshd:session): session opened for "
        b"user alice(uid=1000) by (uid=0)",
        {
            **host("bastion"),
            **app("sshd", "1234"),
            "@timestamp": ts(2024, 2, 5, 10, 15, 3),
            "message": "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
            "event.category": ["session"],
            "event.type": ["start"],
            "event.action": "session_opened",
            "pam.service": "sshd",
            "user.name": "alice",
            "related.user": ["alice"],
        },
        id="pam-session-opened",
    ),
    pytest.param(
        b"Feb  5 10:15:04 bastion su[99]: pam_unix(su:auth): authentication failure; "
        b"logname=bob uid=1001 euid=0 tty=pts/1 ruser=bob rhost=  user=root",
        {
            **host("bastion"),
            **app("su", "99"),
            "@timestamp": ts(2024, 2, 5, 10, 15, 4),
            "message": "pam_unix(su:auth): authentication failure; logname=bob uid=1001 "
            "euid=0 tty=pts/1 ruser=bob rhost=  user=root",
            "event.category": ["authentication"],
            "event.type": ["start"],
            "event.action": "authentication_failure",
            "event.outcome": "failure",
            "pam.service": "su",
            "user.name": "root",
            "related.user": ["root"],
        },
        id="pam-auth-failure",
    ),
    pytest.param(
        b"Feb  5 10:16:00 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
        b"COMMAND=/usr/bin/cat /etc/shadow",
        {
            **host("bastion"),
            **app("sudo"),
            "@timestamp": ts(2024, 2, 5, 10, 16),
            "message": "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
            "COMMAND=/usr/bin/cat /etc/shadow",
            "event.category": ["process"],
            "event.type": ["start"],
            "event.action": "sudo_command",
            "event.outcome": "success",
            "user.name": "alice",
            "related.user": ["alice"],
            "user.effective.name": "root",
            "sudo.command": "/usr/bin/cat /etc/shadow",
            "sudo.tty": "pts/0",
            "sudo.pwd": "/home/alice",
        },
        id="sudo-command",
    ),
    pytest.param(
        b"Feb  5 10:16:30 bastion sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; "
        b"PWD=/tmp ; USER=root ; COMMAND=/bin/bash",
        {
            **host("bastion"),
            **app("sudo"),
            "@timestamp": ts(2024, 2, 5, 10, 16, 30),
            "message": "bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; "
            "USER=root ; COMMAND=/bin/bash",
            "event.category": ["process"],
            "event.type": ["start"],
            "event.action": "sudo_command",
            "event.outcome": "failure",
            "user.name": "bob",
            "related.user": ["bob"],
            "user.effective.name": "root",
            "sudo.command": "/bin/bash",
            "sudo.tty": "pts/1",
            "sudo.pwd": "/tmp",
            "sudo.error": "3 incorrect password attempts",
        },
        id="sudo-failure",
    ),
]


@pytest.mark.parametrize(("line", "fields"), CASES)
def test_parse_line(line: bytes, fields: dict[str, object]) -> None:
    ctx = make_ctx()
    event = SyslogParser().parse_line(line, ctx, 42)
    expected = {
        "event.id": ctx.event_id(42),
        "event.dataset": "syslog",
        "event.kind": "event",
        "event.original": line.decode("utf-8", errors="replace"),
        **fields,
    }
    assert event == expected


BAD = [
    pytest.param(b"just some words without a header", "not syslog", id="no-header"),
    pytest.param(b"\x00\x01\x02\xfe\xff garbage", "not syslog", id="binary"),
    pytest.param(b"<999>Oct 11 22:14:15 host app: x", "PRI 999 is out of range", id="pri-range"),
    pytest.param(b"<13>Feb 30 10:00:00 host app: x", "invalid syslog timestamp", id="feb-30"),
    pytest.param(
        b"<13>1 2024-13-45T99:00:00Z h a - - - x", "invalid RFC 5424 timestamp", id="bad-5424-time"
    ),
    pytest.param(b"2024-02-31T10:00:00Z host app: x", "invalid syslog timestamp", id="bad-iso-day"),
    pytest.param(b"\r\n", "empty syslog message", id="empty"),
]


@pytest.mark.parametrize(("line", "reason"), BAD)
def test_bad_lines_raise(line: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        parse_syslog_message(line, make_ctx(), 0)


def test_parse_stream_reports_issues_with_line_numbers() -> None:
    good1 = b"<13>Feb  5 10:15:00 host1 app: one\n"
    bad = b"garbage line\n"
    good2 = b"Feb  5 10:15:01 host1 app: two\n"
    data = good1 + bad + b"\n" + good2 + b"<13>Feb 31 10:00:00 h a: x"
    batches = list(SyslogParser().parse_stream(io.BytesIO(data), make_ctx()))
    events = [event for batch in batches for event in batch.events]
    issues = [issue for batch in batches for issue in batch.issues]
    assert [event["message"] for event in events] == ["one", "two"]
    assert events[1]["event.id"] == make_ctx().event_id(len(good1 + bad) + 1)
    assert [(issue.line, issue.offset, issue.raw, issue.parser) for issue in issues] == [
        (2, len(good1), b"garbage line", "syslog"),
        (5, len(good1 + bad + b"\n" + good2), b"<13>Feb 31 10:00:00 h a: x", "syslog"),
    ]
    assert issues[0].where == "test.log:2"
    assert "not syslog" in issues[0].reason
    assert batches[-1].end_offset == len(data)


def test_network_message_keeps_inner_newlines() -> None:
    data = b"<13>1 2024-02-05T10:15:00Z h app 1 - - line one\nline two\n"
    event = parse_syslog_message(data, make_ctx(), "tcp:5")
    assert event["message"] == "line one\nline two"
    assert event["event.original"] == "<13>1 2024-02-05T10:15:00Z h app 1 - - line one\nline two"
    assert event["event.id"] == make_ctx().event_id("tcp:5")


def test_udp_message_bsd_multiline() -> None:
    data = b"<13>Feb  5 10:15:00 h java[9]: Exception in thread\n\tat Foo.bar(Foo.java:1)\x00"
    event = parse_syslog_message(data, make_ctx(), 0)
    assert event["message"] == "Exception in thread\n\tat Foo.bar(Foo.java:1)"


def test_dataset_override() -> None:
    event = parse_syslog_message(b"<13>Feb  5 10:15:00 h app: x", make_ctx("custom"), 0)
    assert event["event.dataset"] == "custom"


def test_invalid_utf8_is_replaced() -> None:
    event = parse_syslog_message(b"<13>Feb  5 10:15:00 h app: caf\xe9", make_ctx(), 0)
    assert event["message"] == "caf\ufffd"


HANDOFF = [
    pytest.param(
        b"<134>Feb 12 10:15:00 fw01 CEF:0|Security|threatmanager|1.0|100|worm successfully "
        b"stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
        {
            **pri(134),
            **host("fw01"),
            "cefVersion": "0",
            "deviceVendor": "Security",
            "deviceProduct": "threatmanager",
            "deviceVersion": "1.0",
            "deviceEventClassId": "100",
            "name": "worm successfully stopped",
            "severity": "10",
            "src": "10.0.0.1",
            "dst": "2.1.2.2",
            "spt": "1232",
            "source.ip": "10.0.0.1",
            "destination.ip": "2.1.2.2",
            "source.port": 1232,
            "message": "worm successfully stopped",
            "observer.vendor": "Security",
            "observer.product": "threatmanager",
            "observer.version": "1.0",
            "event.code": "100",
            "event.severity": 10,
            "@timestamp": ts(2024, 2, 12, 10, 15),
            "event.dataset": "cef.security.threatmanager",
        },
        id="bsd-host-cef",
    ),
    pytest.param(
        b"<14>Feb 12 10:15:00 fw01 cef-agent[4]: CEF:0|Acme|Gate|2|7|Login|Low|"
        b"suser=bob rt=1700000000000",
        {
            **pri(14),
            **host("fw01"),
            **app("cef-agent", "4"),
            "cefVersion": "0",
            "deviceVendor": "Acme",
            "deviceProduct": "Gate",
            "deviceVersion": "2",
            "deviceEventClassId": "7",
            "name": "Login",
            "severity": "Low",
            "suser": "bob",
            "rt": "1700000000000",
            "user.name": "bob",
            "message": "Login",
            "observer.vendor": "Acme",
            "observer.product": "Gate",
            "observer.version": "2",
            "event.code": "7",
            "event.severity": 3,
            "@timestamp": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
            "event.dataset": "cef.acme.gate",
        },
        id="bsd-tag-cef-rt-wins",
    ),
    pytest.param(
        b"<13>1 2024-02-05T10:15:00Z qradar-src - - - - LEEF:1.0|Lancope|StealthWatch|1.0|41|"
        b"src=10.0.1.8\tdst=10.0.0.5\tsev=5",
        {
            **pri(13),
            **host("qradar-src"),
            "log.syslog.version": "1",
            "leefVersion": "1.0",
            "deviceVendor": "Lancope",
            "deviceProduct": "StealthWatch",
            "deviceVersion": "1.0",
            "eventId": "41",
            "src": "10.0.1.8",
            "dst": "10.0.0.5",
            "sev": "5",
            "source.ip": "10.0.1.8",
            "destination.ip": "10.0.0.5",
            "event.severity": 5,
            "observer.vendor": "Lancope",
            "observer.product": "StealthWatch",
            "observer.version": "1.0",
            "event.code": "41",
            "@timestamp": ts(2024, 2, 5, 10, 15),
            "event.dataset": "leef.lancope.stealthwatch",
        },
        id="rfc5424-leef",
    ),
]


@pytest.mark.parametrize(("line", "fields"), HANDOFF)
def test_cef_and_leef_hand_off(line: bytes, fields: dict[str, object]) -> None:
    ctx = make_ctx()
    event = parse_syslog_message(line, ctx, 7)
    expected = {
        "event.id": ctx.event_id(7),
        "event.kind": "event",
        "event.original": line.decode(),
        **fields,
    }
    assert event == expected


@pytest.mark.parametrize(
    "line",
    [
        b"<134>Feb 12 10:15:00 fw01 CEF:0|only|three",
        b"<134>Feb 12 10:15:00 fw01 app: LEEF:2.0|V|P|1|E|abc|x=1",
    ],
)
def test_broken_payload_stays_syslog(line: bytes) -> None:
    ctx = make_ctx()
    event = parse_syslog_message(line, ctx, 1)
    assert event["event.dataset"] == "syslog"
    assert event["host.name"] == "fw01"
    assert event["message"] == line.decode().split(" ", 4)[4].removeprefix("app: ")
    assert event["event.id"] == ctx.event_id(1)
    assert event["@timestamp"] == ts(2024, 2, 12, 10, 15)
    assert event["event.original"] == line.decode()
    assert event["event.kind"] == "event"


@pytest.mark.parametrize(
    ("head", "score"),
    [
        (b"<34>1 2003-10-11T22:14:15.003Z host su - ID47 - msg\n", 40),
        (b"Feb  5 10:15:00 host sshd[1]: x\nFeb  5 10:15:01 host sshd[1]: y\n", 40),
        (b"\n\n2024-02-05T10:15:00+00:00 host app: x\n", 40),
        (b"<134>Feb 12 10:15:00 fw01 CEF:0|a|b|c|d|e|1|\n", 40),
        (b'{"MESSAGE": "x"}\n', 0),
        (b"type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e\n", 0),
        (b"CEF:0|a|b|c|d|e|1|src=1.2.3.4\n", 0),
        (b"", 0),
    ],
)
def test_sniff(head: bytes, score: int) -> None:
    assert SyslogParser().sniff(head) == score
