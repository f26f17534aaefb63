"""Linux audit logs (``/var/log/audit/audit.log``), one event per record line.

A line is ``[node=NAME ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): key=value ...``, with
optionally the enriched section (``log_format = ENRICHED``) after a GS byte (0x1D):
``UID="root" AUID="alice" SYSCALL=openat ...``. Records of one kernel event share the serial, so
``auditd.sequence`` (an int) joins them.

Fields keep their audit names: ``type``, ``node`` and every ``key=value``, all strings, quotes
removed. The ``msg='...'`` of user-space records is opened and its pairs stored beside the
others (a name already present keeps its first value). The enriched section's names are kept as
written (``UID``, ``SYSCALL``: the names Sigma rules use); because a dataset cannot hold two
names that differ only in case, the raw field it translates (``uid``, ``syscall``) is renamed
``<name>_raw`` in that record. AVC records also get ``seresult`` (granted/denied) and
``seperms``.

Hex-encoded values: auditd writes a string as hex, unquoted, when it holds spaces, quotes,
control or non-ASCII bytes. For the string fields that may be encoded (``proctitle``, ``cmd``,
``comm``, ``exe``, ``name``, ``path``, ``cwd``, ``acct``, ``key``, ``data`` and a few more,
plus EXECVE arguments ``a0``, ``a1``... but not the SYSCALL register values of the same
names), the field holds the decoded text (UTF-8, invalid bytes replaced). NULs in
``proctitle`` (the separators of its arguments) become spaces. The hex as written is kept in
``<name>_hex`` whenever decoding loses something: a ``proctitle`` of several arguments, or bytes
that are not UTF-8. A value that would decode to control characters (other than tab, CR,
LF and NUL) is not an encoded string and stays as written.

ECS: ``@timestamp`` from the audit time; ``host.name`` from ``node``; ``process.pid``,
``process.parent.pid``, ``process.executable``, ``process.name`` (``comm``), ``user.id``
(``uid``), ``user.name`` (``UID`` of the enriched section; ``acct`` for USER_* records),
``user.target.name`` (``acct`` or enriched ``ID`` of ADD_USER-style records), ``source.ip``
(``addr``), ``file.path`` (PATH ``name``). Categorisation by record type: SYSCALL and EXECVE
are process (start for execve, with ``process.command_line`` and ``process.args`` from the
EXECVE arguments), USER_LOGIN/USER_AUTH/USER_START authentication (outcome from ``res`` or
``success``), USER_END/USER_LOGOUT session end, USER_CMD process start, ADD_USER and
friends iam. The dataset is ``linux.auditd``.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from typing import ClassVar

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.ingest.base import LineParser, ParseContext, RecordError

DATASET = "linux.auditd"

_HEADER = re.compile(
    r"(?:node=(\S+) )?type=(\S+) msg=audit\((\d+)(?:\.(\d+))?:(\d+)\):[ ]?(.*)", re.DOTALL
)
_SNIFF = re.compile(rb"^(?:node=\S+ )?type=[A-Z_0-9]+ msg=audit\(\d+(?:\.\d+)?:\d+\):", re.M)
_PAIR = re.compile(r"""([A-Za-z0-9_\-\[\].]+)=(?:"([^"]*)"|'([^']*)'|(\S*))""")
_HEX = re.compile(r"(?:[0-9A-F][0-9A-F])+")
_CONTROL = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AVC = re.compile(r"avc:\s+(\w+)\s+\{\s*([^}]*?)\s*\}")
_EXECVE_ARG = re.compile(r"a(\d+)(?:\[(\d+)\])?")

ENCODED_FIELDS = frozenset(
    {
        "proctitle", "cmd", "comm", "exe", "name", "path", "cwd", "acct", "key", "data",
        "ocomm", "watch", "dir", "file", "vm", "grp", "new_group", "root_dir",
        "old-chardev", "new-chardev", "old-disk", "new-disk", "old-fs", "new-fs",
        "old-net", "new-net", "old-rng", "new-rng",
    }
)  # fmt: skip
"""Fields whose unquoted all-hex value is an encoded string."""

_UNSET = frozenset({"", "?", "(null)", "(none)", "unset", "4294967295", "-1"})

# record type -> (category, type)
CATEGORIES: dict[str, tuple[list[str], list[str]]] = {
    "USER_LOGIN": (["authentication"], ["start"]),
    "USER_AUTH": (["authentication"], ["start"]),
    "USER_START": (["authentication", "session"], ["start"]),
    "USER_END": (["session"], ["end"]),
    "USER_LOGOUT": (["session"], ["end"]),
    "USER_ERR": (["authentication"], ["info"]),
    "USER_CMD": (["process"], ["start"]),
    "ADD_USER": (["iam"], ["user", "creation"]),
    "DEL_USER": (["iam"], ["user", "deletion"]),
    "USER_MGMT": (["iam"], ["user", "change"]),
    "USER_CHAUTHTOK": (["iam"], ["user", "change"]),
    "ADD_GROUP": (["iam"], ["group", "creation"]),
    "DEL_GROUP": (["iam"], ["group", "deletion"]),
    "GRP_MGMT": (["iam"], ["group", "change"]),
    "EXECVE": (["process"], ["start"]),
    "SYSCALL": (["process"], ["info"]),
}
"""ECS categorisation by audit record type."""

_EXEC_SYSCALLS = frozenset({"execve", "execveat"})
_EXEC_NUMBERS = {"c000003e": ("59", "322"), "40000003": ("11", "358"), "c00000b7": ("221", "281")}


def _decode_hex(name: str, value: str, event: Event) -> str:
    """Decode an encoded string value; keep the hex in ``<name>_hex`` when decoding loses.

    A value whose bytes hold control characters other than tab, CR, LF and NUL is not an
    encoded string after all (say ``key=10``) and is returned as written.
    """
    raw = binascii.unhexlify(value)
    if _CONTROL.search(raw):
        return value
    text = raw.decode("utf-8", errors="replace")
    lossy = "\ufffd" in text and b"\xef\xbf\xbd" not in raw
    if name == "proctitle" and "\x00" in text:
        text = text.rstrip("\x00").replace("\x00", " ")
        lossy = True
    if lossy:
        event[f"{name}_hex"] = value
    return text


def _add_pairs(text: str, record_type: str, event: Event, inner: bool) -> None:
    execve = record_type == "EXECVE"
    for name, double, single, bare in _PAIR.findall(text):
        if bare:
            value = bare
            if (
                name in ENCODED_FIELDS or (execve and _EXECVE_ARG.fullmatch(name) is not None)
            ) and _HEX.fullmatch(bare):
                value = _decode_hex(name, bare, event)
        elif single:
            if name == "msg" and not inner:
                _add_pairs(single, record_type, event, True)
                continue
            value = single
        else:
            value = double
        if inner and name in event:
            continue
        event[name] = value


def _add_enriched(text: str, event: Event) -> None:
    for name, double, single, bare in _PAIR.findall(text):
        lowered = name.lower()
        if lowered != name and lowered in event:
            event[f"{lowered}_raw"] = event.pop(lowered)
        event[name] = double or single or bare


def _command_line(event: Event) -> list[str]:
    args: dict[int, list[tuple[int, str]]] = {}
    for key, value in event.items():
        match = _EXECVE_ARG.fullmatch(key)
        if match is not None and isinstance(value, str):
            index, part = match.groups()
            args.setdefault(int(index), []).append((int(part) if part else -1, value))
    count = event.get("argc")
    total = int(count) if isinstance(count, str) and count.isdigit() else len(args)
    out: list[str] = []
    for index in range(total):
        parts = args.get(index)
        if not parts:
            break
        whole = [value for part, value in parts if part < 0]
        out.append(whole[0] if whole else "".join(value for _, value in sorted(parts)))
    return out


def _add_ecs(record_type: str, event: Event) -> None:
    node = event.get("node")
    if isinstance(node, str):
        event["host.name"] = node
    pid = event.get("pid")
    if isinstance(pid, str) and pid.isdigit():
        event["process.pid"] = int(pid)
    ppid = event.get("ppid")
    if isinstance(ppid, str) and ppid.isdigit():
        event["process.parent.pid"] = int(ppid)
    exe = event.get("exe")
    if isinstance(exe, str) and exe not in _UNSET:
        event["process.executable"] = exe
    comm = event.get("comm")
    if isinstance(comm, str) and comm not in _UNSET:
        event["process.name"] = comm
    uid = event.get("uid_raw", event.get("uid"))
    if isinstance(uid, str) and uid not in _UNSET:
        event["user.id"] = uid
    user = event.get("UID")
    categorisation = CATEGORIES.get(record_type)
    if categorisation is not None and categorisation[0] == ["iam"]:
        target = event.get("acct", event.get("ID"))
        if isinstance(target, str) and target not in _UNSET:
            event["user.target.name"] = target
    elif record_type.startswith("USER_"):
        user = event.get("acct", user)
    if isinstance(user, str) and user not in _UNSET:
        event["user.name"] = user
        event["related.user"] = [user]
    addr = event.get("addr")
    if isinstance(addr, str) and addr not in _UNSET:
        event["source.ip"] = addr
        event["related.ip"] = [addr]
    if record_type == "PATH":
        name = event.get("name")
        if isinstance(name, str) and name not in _UNSET:
            event["file.path"] = name
    elif record_type == "AVC" or record_type == "USER_AVC":
        message = event.get(ev.ORIGINAL)
        match = _AVC.search(message) if isinstance(message, str) else None
        if match is not None:
            event["seresult"], event["seperms"] = match.groups()
    if categorisation is None:
        return
    category, kind = categorisation
    event[ev.CATEGORY] = list(category)
    event[ev.TYPE] = list(kind)
    if record_type == "SYSCALL":
        if _is_exec(event):
            event[ev.TYPE] = ["start"]
        success = event.get("success")
        if success in ("yes", "no"):
            event["event.outcome"] = "success" if success == "yes" else "failure"
    elif record_type == "EXECVE":
        args = _command_line(event)
        if args:
            event["process.args"] = args
            event["process.command_line"] = " ".join(args)
    else:
        result = event.get("res")
        if result in ("success", "1"):
            event["event.outcome"] = "success"
        elif result in ("failed", "0"):
            event["event.outcome"] = "failure"
        if record_type == "USER_CMD":
            cmd = event.get("cmd")
            if isinstance(cmd, str):
                event["process.command_line"] = cmd


def _is_exec(event: Event) -> bool:
    name = event.get("SYSCALL")
    if isinstance(name, str):
        return name in _EXEC_SYSCALLS
    number = event.get("syscall")
    arch = event.get("arch")
    return isinstance(arch, str) and number in _EXEC_NUMBERS.get(arch, ())


def parse_audit_record(text: str, ctx: ParseContext, position: int | str) -> Event:
    """Parse one audit record line into an event.

    Raises:
        RecordError: when the line lacks the ``type=... msg=audit(...):`` header.
    """
    match = _HEADER.match(text)
    if match is None:
        raise RecordError(
            f"not an audit record: expected 'type=TYPE msg=audit(SECONDS:SERIAL):' in {text[:60]!r}"
        )
    node, record_type, seconds, millis, serial, body = match.groups()
    micro = int(millis[:6].ljust(6, "0")) if millis else 0
    try:
        when = datetime.fromtimestamp(int(seconds), UTC).replace(microsecond=micro)
    except (OverflowError, OSError, ValueError):
        raise RecordError(f"audit time {seconds!r} is out of range") from None
    event: Event = {ev.ID: ctx.event_id(position)}
    if node is not None:
        event["node"] = node
    event["type"] = record_type
    event["auditd.sequence"] = int(serial)
    body, _, enriched = body.partition("\x1d")
    _add_pairs(body, record_type, event, False)
    if enriched:
        _add_enriched(enriched, event)
    event[ev.TIMESTAMP] = when
    event[ev.DATASET] = ctx.dataset or DATASET
    event[ev.KIND] = "event"
    event[ev.ORIGINAL] = text
    _add_ecs(record_type, event)
    return event


class AuditdParser(LineParser):
    """Linux audit log lines (raw or enriched), one event per record."""

    id: ClassVar[str] = "auditd"

    def sniff(self, head: bytes) -> int:
        """Return 80 when the head holds an audit record line, else 0."""
        return 80 if _SNIFF.search(head[:4096]) else 0

    def parse_line(self, line: bytes, ctx: ParseContext, offset: int) -> Event:
        """Parse one audit record line."""
        return parse_audit_record(line.decode("utf-8", errors="replace"), ctx, offset)
