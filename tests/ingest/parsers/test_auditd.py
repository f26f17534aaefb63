"""auditd parser: raw and enriched records, hex-encoded values, user messages, ECS fields.

Samples are written for these tests after the record formats of the Linux audit documentation.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from tocsin.ingest.base import ParseContext, RecordError
from tocsin.ingest.parsers.auditd import AuditdParser

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SYSCALL_OPEN = (
    "type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=2 success=no exit=-13 "
    "a0=7fffd19c5592 a1=0 a2=7fffd19c4b50 a3=a items=1 ppid=2686 pid=3538 auid=1000 uid=1000 "
    "gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=1 "
    'comm="cat" exe="/bin/cat" subj=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 '
    'key="sshd_config"'
)
SYSCALL_ENRICHED = (
    "type=SYSCALL msg=audit(1700000000.500:789): arch=c000003e syscall=59 success=yes exit=0 "
    'a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=4000 pid=4242 auid=1000 uid=0 gid=0 comm="nc" '
    'exe="/usr/bin/nc.openbsd" key="exec"\x1dARCH=x86_64 SYSCALL=execve AUID="alice" '
    'UID="root" GID="root"'
)


def ctx() -> ParseContext:
    return ParseContext("audit.log", "ident", received=RECEIVED)


def at(seconds: int, micro: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro)


CASES = [
    pytest.param(
        SYSCALL_OPEN,
        {
            "type": "SYSCALL",
            "auditd.sequence": 24287,
            "arch": "c000003e",
            "syscall": "2",
            "success": "no",
            "exit": "-13",
            "a0": "7fffd19c5592",
            "a1": "0",
            "a2": "7fffd19c4b50",
            "a3": "a",
            "items": "1",
            "ppid": "2686",
            "pid": "3538",
            "auid": "1000",
            "uid": "1000",
            "gid": "1000",
            "euid": "1000",
            "suid": "1000",
            "fsuid": "1000",
            "egid": "1000",
            "sgid": "1000",
            "fsgid": "1000",
            "tty": "pts0",
            "ses": "1",
            "comm": "cat",
            "exe": "/bin/cat",
            "subj": "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023",
            "key": "sshd_config",
            "@timestamp": at(1364481363, 243000),
            "process.pid": 3538,
            "process.parent.pid": 2686,
            "process.executable": "/bin/cat",
            "process.name": "cat",
            "user.id": "1000",
            "event.category": ["process"],
            "event.type": ["info"],
            "event.outcome": "failure",
        },
        id="syscall-register-args-stay-hex",
    ),
    pytest.param(
        SYSCALL_ENRICHED,
        {
            "type": "SYSCALL",
            "auditd.sequence": 789,
            "success": "yes",
            "exit": "0",
            "a0": "55d0",
            "a1": "55d1",
            "a2": "55d2",
            "a3": "0",
            "items": "2",
            "ppid": "4000",
            "pid": "4242",
            "comm": "nc",
            "exe": "/usr/bin/nc.openbsd",
            "key": "exec",
            "arch_raw": "c000003e",
            "ARCH": "x86_64",
            "syscall_raw": "59",
            "SYSCALL": "execve",
            "auid_raw": "1000",
            "AUID": "alice",
            "uid_raw": "0",
            "UID": "root",
            "gid_raw": "0",
            "GID": "root",
            "@timestamp": at(1700000000, 500000),
            "process.pid": 4242,
            "process.parent.pid": 4000,
            "process.executable": "/usr/bin/nc.openbsd",
            "process.name": "nc",
            "user.id": "0",
            "user.name": "root",
            "related.user": ["root"],
            "event.category": ["process"],
            "event.type": ["start"],
            "event.outcome": "success",
        },
        id="enriched-names-win-raw-renamed",
    ),
    pytest.param(
        "type=SYSCALL msg=audit(1700000000.000:790): arch=c000003e syscall=59 success=yes pid=1",
        {
            "type": "SYSCALL",
            "auditd.sequence": 790,
            "arch": "c000003e",
            "syscall": "59",
            "success": "yes",
            "pid": "1",
            "@timestamp": at(1700000000, 0),
            "process.pid": 1,
            "event.category": ["process"],
            "event.type": ["start"],
            "event.outcome": "success",
        },
        id="raw-execve-by-number",
    ),
    pytest.param(
        'type=EXECVE msg=audit(1364481363.243:24288): argc=3 a0="ls" a1="-la" '
        "a2=2F746D702F6D7920646972",
        {
            "type": "EXECVE",
            "auditd.sequence": 24288,
            "argc": "3",
            "a0": "ls",
            "a1": "-la",
            "a2": "/tmp/my dir",
            "@timestamp": at(1364481363, 243000),
            "event.category": ["process"],
            "event.type": ["start"],
            "process.args": ["ls", "-la", "/tmp/my dir"],
            "process.command_line": "ls -la /tmp/my dir",
        },
        id="execve-hex-arg",
    ),
    pytest.param(
        'type=EXECVE msg=audit(1364481363.243:24289): argc=2 a0="echo" a1_len=2030 '
        'a1[0]="hello" a1[1]=20776F726C64',
        {
            "type": "EXECVE",
            "auditd.sequence": 24289,
            "argc": "2",
            "a0": "echo",
            "a1_len": "2030",
            "a1[0]": "hello",
            "a1[1]": " world",
            "@timestamp": at(1364481363, 243000),
            "event.category": ["process"],
            "event.type": ["start"],
            "process.args": ["echo", "hello world"],
            "process.command_line": "echo hello world",
        },
        id="execve-split-arg",
    ),
    pytest.param(
        "type=PROCTITLE msg=audit(1364481363.243:24287): "
        "proctitle=636174002F6574632F7373682F737368645F636F6E666967",
        {
            "type": "PROCTITLE",
            "auditd.sequence": 24287,
            "proctitle_hex": "636174002F6574632F7373682F737368645F636F6E666967",
            "proctitle": "cat /etc/ssh/sshd_config",
            "@timestamp": at(1364481363, 243000),
        },
        id="proctitle-nul-separated",
    ),
    pytest.param(
        'type=PROCTITLE msg=audit(1364481363.243:24290): proctitle="bash"',
        {
            "type": "PROCTITLE",
            "auditd.sequence": 24290,
            "proctitle": "bash",
            "@timestamp": at(1364481363, 243000),
        },
        id="proctitle-quoted",
    ),
    pytest.param(
        'node=web01 type=PATH msg=audit(1364481363.243:24287): item=0 name="/etc/ssh/sshd_config" '
        "inode=409248 dev=fd:00 mode=0100600 ouid=0 ogid=0 rdev=00:00 "
        "obj=system_u:object_r:etc_t:s0 nametype=NORMAL",
        {
            "node": "web01",
            "type": "PATH",
            "auditd.sequence": 24287,
            "item": "0",
            "name": "/etc/ssh/sshd_config",
            "inode": "409248",
            "dev": "fd:00",
            "mode": "0100600",
            "ouid": "0",
            "ogid": "0",
            "rdev": "00:00",
            "obj": "system_u:object_r:etc_t:s0",
            "nametype": "NORMAL",
            "@timestamp": at(1364481363, 243000),
            "host.name": "web01",
            "file.path": "/etc/ssh/sshd_config",
        },
        id="node-prefix-path",
    ),
    pytest.param(
        "type=PATH msg=audit(1364481363.243:24291): item=1 name=2F746D702FFF key=10",
        {
            "type": "PATH",
            "auditd.sequence": 24291,
            "item": "1",
            "name_hex": "2F746D702FFF",
            "name": "/tmp/\ufffd",
            "key": "10",
            "@timestamp": at(1364481363, 243000),
            "file.path": "/tmp/\ufffd",
        },
        id="non-utf8-hex-and-control-bytes-kept",
    ),
    pytest.param(
        "type=USER_LOGIN msg=audit(1700000000.123:456): pid=1234 uid=0 auid=4294967295 "
        "ses=4294967295 subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=login "
        'acct="root" exe="/usr/sbin/sshd" hostname=? addr=203.0.113.9 terminal=ssh '
        "res=failed'",
        {
            "type": "USER_LOGIN",
            "auditd.sequence": 456,
            "pid": "1234",
            "uid": "0",
            "auid": "4294967295",
            "ses": "4294967295",
            "subj": "system_u:system_r:sshd_t:s0-s0:c0.c1023",
            "op": "login",
            "acct": "root",
            "exe": "/usr/sbin/sshd",
            "hostname": "?",
            "addr": "203.0.113.9",
            "terminal": "ssh",
            "res": "failed",
            "@timestamp": at(1700000000, 123000),
            "process.pid": 1234,
            "process.executable": "/usr/sbin/sshd",
            "user.id": "0",
            "user.name": "root",
            "related.user": ["root"],
            "source.ip": "203.0.113.9",
            "related.ip": ["203.0.113.9"],
            "event.category": ["authentication"],
            "event.type": ["start"],
            "event.outcome": "failure",
        },
        id="user-login-failed",
    ),
    pytest.param(
        "type=USER_START msg=audit(1700000001.000:457): pid=1234 uid=0 auid=1000 ses=7 "
        "msg='op=PAM:session_open grantors=pam_unix acct=616C69636520736D697468 "
        'exe="/usr/sbin/sshd" hostname=198.51.100.1 addr=198.51.100.1 terminal=ssh '
        "res=success'",
        {
            "type": "USER_START",
            "auditd.sequence": 457,
            "pid": "1234",
            "uid": "0",
            "auid": "1000",
            "ses": "7",
            "op": "PAM:session_open",
            "grantors": "pam_unix",
            "acct": "alice smith",
            "exe": "/usr/sbin/sshd",
            "hostname": "198.51.100.1",
            "addr": "198.51.100.1",
            "terminal": "ssh",
            "res": "success",
            "@timestamp": at(1700000001, 0),
            "process.pid": 1234,
            "process.executable": "/usr/sbin/sshd",
            "user.id": "0",
            "user.name": "alice smith",
            "related.user": ["alice smith"],
            "source.ip": "198.51.100.1",
            "related.ip": ["198.51.100.1"],
            "event.category": ["authentication", "session"],
            "event.type": ["start"],
            "event.outcome": "success",
        },
        id="user-start-hex-acct",
    ),
    pytest.param(
        "type=USER_CMD msg=audit(1700000002.250:458): pid=5 uid=1000 auid=1000 ses=3 "
        "msg='cwd=\"/home/alice\" cmd=6C73202D6C61202F726F6F74 terminal=pts/0 res=success'",
        {
            "type": "USER_CMD",
            "auditd.sequence": 458,
            "pid": "5",
            "uid": "1000",
            "auid": "1000",
            "ses": "3",
            "cwd": "/home/alice",
            "cmd": "ls -la /root",
            "terminal": "pts/0",
            "res": "success",
            "@timestamp": at(1700000002, 250000),
            "process.pid": 5,
            "user.id": "1000",
            "event.category": ["process"],
            "event.type": ["start"],
            "event.outcome": "success",
            "process.command_line": "ls -la /root",
        },
        id="user-cmd-hex",
    ),
    pytest.param(
        "type=AVC msg=audit(1226270358.848:238): avc:  denied  { write } for  pid=13349 "
        'comm="certwatch" name="cache" dev=dm-0 ino=218171 '
        "scontext=system_u:system_r:certwatch_t:s0 tcontext=system_u:object_r:var_t:s0 "
        "tclass=dir",
        {
            "type": "AVC",
            "auditd.sequence": 238,
            "pid": "13349",
            "comm": "certwatch",
            "name": "cache",
            "dev": "dm-0",
            "ino": "218171",
            "scontext": "system_u:system_r:certwatch_t:s0",
            "tcontext": "system_u:object_r:var_t:s0",
            "tclass": "dir",
            "@timestamp": at(1226270358, 848000),
            "process.pid": 13349,
            "process.name": "certwatch",
            "seresult": "denied",
            "seperms": "write",
        },
        id="avc",
    ),
    pytest.param(
        "type=ADD_USER msg=audit(1700000003.000:459): pid=77 uid=0 auid=1000 ses=3 "
        'msg=\'op=add-user id=1001 exe="/usr/sbin/useradd" hostname=? addr=? terminal=pts/0 '
        'res=success\'\x1dUID="root" AUID="alice" ID="bob"',
        {
            "type": "ADD_USER",
            "auditd.sequence": 459,
            "pid": "77",
            "ses": "3",
            "op": "add-user",
            "exe": "/usr/sbin/useradd",
            "hostname": "?",
            "addr": "?",
            "terminal": "pts/0",
            "res": "success",
            "uid_raw": "0",
            "UID": "root",
            "auid_raw": "1000",
            "AUID": "alice",
            "id_raw": "1001",
            "ID": "bob",
            "@timestamp": at(1700000003, 0),
            "process.pid": 77,
            "process.executable": "/usr/sbin/useradd",
            "user.id": "0",
            "user.name": "root",
            "related.user": ["root"],
            "user.target.name": "bob",
            "event.category": ["iam"],
            "event.type": ["user", "creation"],
            "event.outcome": "success",
        },
        id="add-user-enriched",
    ),
    pytest.param(
        "type=DAEMON_START msg=audit(1700000004.000:1): op=start ver=3.0 format=enriched "
        "kernel=6.1.0 auid=4294967295 pid=600 uid=0 ses=4294967295 res=success",
        {
            "type": "DAEMON_START",
            "auditd.sequence": 1,
            "op": "start",
            "ver": "3.0",
            "format": "enriched",
            "kernel": "6.1.0",
            "auid": "4294967295",
            "pid": "600",
            "uid": "0",
            "ses": "4294967295",
            "res": "success",
            "@timestamp": at(1700000004, 0),
            "process.pid": 600,
            "user.id": "0",
        },
        id="uncategorised-type",
    ),
]


@pytest.mark.parametrize(("line", "fields"), CASES)
def test_parse_line(line: str, fields: dict[str, object]) -> None:
    context = ctx()
    event = AuditdParser().parse_line(line.encode(), context, 99)
    expected = {
        "event.id": context.event_id(99),
        "event.dataset": "linux.auditd",
        "event.kind": "event",
        "event.original": line,
        **fields,
    }
    assert event == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("type=SYSCALL msg=bogus arch=1", "not an audit record"),
        ("hello world", "not an audit record"),
        ("type=SYSCALL msg=audit(99999999999999999999.000:1): x=1", "out of range"),
    ],
)
def test_bad_lines_raise(line: str, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        AuditdParser().parse_line(line.encode(), ctx(), 0)


def test_parse_stream_joins_by_sequence_and_reports_issues() -> None:
    lines = [
        SYSCALL_OPEN.encode(),
        b"----",
        b'type=CWD msg=audit(1364481363.243:24287): cwd="/root"',
    ]
    data = b"\n".join(lines) + b"\n"
    batches = list(AuditdParser().parse_stream(io.BytesIO(data), ctx()))
    events = [event for batch in batches for event in batch.events]
    issues = [issue for batch in batches for issue in batch.issues]
    assert [event["auditd.sequence"] for event in events] == [24287, 24287]
    assert events[1]["event.id"] == ctx().event_id(len(lines[0]) + len(lines[1]) + 2)
    assert [(issue.line, issue.raw, issue.parser) for issue in issues] == [(2, b"----", "auditd")]


def test_dataset_override() -> None:
    context = ParseContext("a", "b", dataset="mine", received=RECEIVED)
    event = AuditdParser().parse_line(b'type=CWD msg=audit(1.0:1): cwd="/"', context, 0)
    assert event["event.dataset"] == "mine"


@pytest.mark.parametrize(
    ("head", "score"),
    [
        (SYSCALL_OPEN.encode() + b"\n", 80),
        (b'node=h1 type=CWD msg=audit(1364481363.243:24287): cwd="/"\n', 80),
        (b"type=DAEMON_START msg=audit(1700000004:1): op=start\n", 80),
        (b"Feb  5 10:15:00 host sshd[1]: x\n", 0),
        (b"type=foo\n", 0),
        (b"", 0),
    ],
)
def test_sniff(head: bytes, score: int) -> None:
    assert AuditdParser().sniff(head) == score
