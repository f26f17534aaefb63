"""Syslog: RFC 5424, RFC 3164 and the files syslog daemons write.

Accepted forms (one message per line in files; one per datagram or frame on the network):

* RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]``. A ``-``
  (NILVALUE) leaves its field out. Each SD-PARAM becomes ``syslog.sd.<SD-ID>.<PARAM-NAME>``
  (a name repeated within one element gives a list of its values). A BOM opening MSG is
  dropped. Malformed structured data is kept as part of ``message`` rather than lost.
* RFC 3164: ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG``, also without ``<PRI>`` (the
  ``/var/log/syslog`` and ``auth.log`` form), without HOSTNAME (what ``/dev/log`` receives),
  with an optional year or fractional seconds, or with an ISO 8601 timestamp in place of the
  BSD one (rsyslog's high-precision format). A time without a zone is taken as UTC; a time
  without a year takes the year of ``ctx.received``, or the year before when that would put
  it more than one day after ``ctx.received``. ``<PRI>`` followed by no known timestamp is
  kept (RFC 3164 section 4.3.3: the whole rest is the message).

Anything else (no ``<PRI>`` and no timestamp) raises :class:`RecordError`.

A MSG that starts with ``CEF:`` or ``LEEF:`` is handed to :mod:`~tocsin.ingest.parsers.cef` or
:mod:`~tocsin.ingest.parsers.leef`; the event keeps the syslog header fields as well. A few
well-known sshd, sudo and pam_unix messages also get ECS categorisation
(:func:`classify_message`).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.ingest.base import LineParser, ParseContext, RecordError

DATASET = "syslog"

FACILITY_NAMES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
"""Facility keywords by code (RFC 5424 table 1, with the names syslog.conf uses)."""

SEVERITY_NAMES = (
    "emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug",
)  # fmt: skip
"""Severity names by code (RFC 5424 table 2)."""

MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
"""Month abbreviations as BSD syslog writes them."""

_ONE_DAY = timedelta(days=1)

_RFC5424 = re.compile(r"<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+)(?: |$)", re.DOTALL)

_MONTH_ALT = "|".join(MONTHS)
# PRI and timestamp of the RFC 3164 family: a BSD time (group 2) or an ISO 8601 one (group 3).
_RFC3164 = re.compile(
    r"(?:<(\d{1,3})>)?(?:"
    rf"((?:{_MONTH_ALT}) {{1,2}}\d{{1,2}} (?:\d{{4}} )?\d\d:\d\d:\d\d(?:\.\d{{1,6}})?)"
    r"|(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)"
    r")(?: +|$)"
)
# ``tag[pid]: `` after the host (or in its place: ``/dev/log`` messages have no host).
_TAG = re.compile(r"([^\s\[:]+)(?:\[([^\]]*)\])?:(?: +|$)")
_PRI = re.compile(r"<(\d{1,3})>")
# The common case in one match: [<PRI>]TIMESTAMP HOST TAG[PID]: MSG (anything else takes the
# general path, which gives the same result for these lines).
_COMMON = re.compile(
    r"(?:<(\d{1,3})>)?"
    rf"(?:((?:{_MONTH_ALT}) {{1,2}}\d{{1,2}} \d\d:\d\d:\d\d)"
    r"|(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)))"
    r" (\S+)(?<!:) (?:([^\s\[:]+)(?:\[(\d+)\])?:(?: +|$)|(?=CEF:|LEEF:))"
)

_SD_ELEMENT = re.compile(r'\[([^\s\]="]+)((?:\s+[^\s\]="]+="(?:[^"\\]|\\.)*")*)\s*\]', re.DOTALL)
_SD_PARAM = re.compile(r'([^\s\]="]+)="((?:[^"\\]|\\.)*)"', re.DOTALL)
_SD_UNESCAPE = re.compile(r'\\([\\"\]])')


def month_number(name: str) -> int:
    """Return the month number of a BSD abbreviation (``Jan`` is 1); raise ValueError if none."""
    try:
        return MONTHS[name[:1].upper() + name[1:3].lower()]
    except KeyError:
        raise ValueError(f"unknown month {name!r}") from None


def resolve_year(
    month: int,
    day: int,
    clock: tuple[int, int, int, int],
    received: datetime,
) -> datetime:
    """Return the UTC time of a year-less timestamp, in the year of ``received`` or the one before.

    ``clock`` is (hour, minute, second, microsecond). The year before is taken when the
    result would be more than one day after ``received``; February 29 goes back to the last
    leap year.

    Raises:
        ValueError: when the day does not exist in any recent year (``Feb 30``).
    """
    hour, minute, second, micro = clock
    year = received.year
    limit = received + _ONE_DAY
    for candidate in range(year, year - 5, -1):
        try:
            stamp = datetime(candidate, month, day, hour, minute, second, micro, tzinfo=UTC)
        except ValueError:
            if month == 2 and day == 29:
                continue
            raise
        if stamp <= limit:
            return stamp
    raise ValueError(f"no recent year has {month:02d}-{day:02d}")


def parse_iso_time(text: str) -> datetime:
    """Parse an ISO 8601 time (``Z``, offset or none = UTC) into UTC; raise ValueError if bad."""
    if text[-1:] == "z":
        text = text[:-1] + "Z"
    parsed = datetime.fromisoformat(text)
    zone = parsed.tzinfo
    if zone is None:
        return parsed.replace(tzinfo=UTC)
    if zone is UTC:
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"time {text!r} is out of range") from None


def _priority_fields(pri: int) -> dict[str, object]:
    facility, severity = divmod(pri, 8)
    return {
        "log.syslog.priority": pri,
        "log.syslog.facility.code": facility,
        "log.syslog.facility.name": FACILITY_NAMES[facility],
        "log.syslog.severity.code": severity,
        "log.syslog.severity.name": SEVERITY_NAMES[severity],
    }


_PRIORITIES = {str(pri): _priority_fields(pri) for pri in range(192)}


def add_priority(event: Event, pri_text: str) -> None:
    """Add ``log.syslog.priority``, facility and severity from a PRI value."""
    fields = _PRIORITIES.get(pri_text)
    if fields is None:
        pri = int(pri_text)
        if pri > 191:
            raise RecordError(f"syslog PRI {pri} is out of range 0..191")
        fields = _PRIORITIES[str(pri)]
    event.update(fields)


def _add_app(event: Event, app: str | None, procid: str | None) -> None:
    if app:
        event["log.syslog.appname"] = app
        event["process.name"] = app
    if procid:
        event["log.syslog.procid"] = procid
        if procid.isdigit():
            event["process.pid"] = int(procid)


def _parse_structured_data(text: str, event: Event) -> str | None:
    """Add the SD-PARAMs of ``text`` (which starts with ``[``); return the MSG after them.

    Returns None when the structured data is malformed.
    """
    position = 0
    length = len(text)
    while position < length and text[position] == "[":
        match = _SD_ELEMENT.match(text, position)
        if match is None:
            return None
        prefix = f"syslog.sd.{match.group(1)}."
        for name, raw in _SD_PARAM.findall(match.group(2)):
            value = _SD_UNESCAPE.sub(r"\1", raw) if "\\" in raw else raw
            key = prefix + name
            previous = event.get(key)
            if previous is None:
                event[key] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                event[key] = [previous, value]
        position = match.end()
    if position < length:
        if text[position] != " ":
            return None
        position += 1
    return text[position:]


def _parse_rfc5424(text: str, match: re.Match[str], event: Event) -> tuple[str, datetime | None]:
    pri, version, stamp, host, app, procid, msgid = match.groups()
    add_priority(event, pri)
    event["log.syslog.version"] = version
    when = None
    if stamp != "-":
        try:
            when = parse_iso_time(stamp)
        except ValueError:
            raise RecordError(f"invalid RFC 5424 timestamp {stamp!r}") from None
    if host != "-":
        event["log.syslog.hostname"] = host
        event["host.name"] = host
    _add_app(event, None if app == "-" else app, None if procid == "-" else procid)
    if msgid != "-":
        event["log.syslog.msgid"] = msgid
    rest = text[match.end() :]
    message: str | None
    if rest.startswith("-"):
        message = rest[2:] if rest[1:2] == " " else rest[1:]
    elif rest.startswith("["):
        message = _parse_structured_data(rest, event)
        if message is None:
            message = rest
    else:
        message = rest
    if message.startswith("\ufeff"):
        message = message[1:]
    return message, when


_bsd_times: dict[tuple[str, datetime], datetime] = {}


def _bsd_time(text: str, received: datetime) -> datetime:
    """Return the UTC time of a BSD timestamp (``Feb  5 [2024 ]10:15:00[.123]``), cached."""
    key = (text, received)
    stamp = _bsd_times.get(key)
    if stamp is not None:
        return stamp
    fields = text.split()
    month = MONTHS[fields[0]]
    day = int(fields[1])
    clock, _, frac = fields[-1].partition(".")
    hour, minute, second = clock.split(":")
    micro = int(frac.ljust(6, "0")) if frac else 0
    if len(fields) == 4:
        stamp = datetime(
            int(fields[2]), month, day, int(hour), int(minute), int(second), micro, tzinfo=UTC
        )
    else:
        stamp = resolve_year(month, day, (int(hour), int(minute), int(second), micro), received)
    if len(_bsd_times) >= 4096:
        _bsd_times.clear()
    _bsd_times[key] = stamp
    return stamp


def _split_host_tag(rest: str, event: Event, host_allowed: bool) -> str:
    """Take the host and ``tag[pid]:`` off the front of ``rest``; return the message."""
    if rest.startswith(("CEF:", "LEEF:")):
        return rest
    match = _TAG.match(rest)
    if match is None and host_allowed:
        space = rest.find(" ")
        host = rest if space < 0 else rest[:space]
        if host:
            event["log.syslog.hostname"] = host
            event["host.name"] = host
        if space < 0:
            return ""
        while space < len(rest) and rest[space] == " ":
            space += 1
        match = _TAG.match(rest, space)
        if match is None:
            return rest[space:]
    elif match is None:
        return rest
    _add_app(event, match.group(1), match.group(2))
    return rest[match.end() :]


def _parse_rfc3164(
    text: str, match: re.Match[str], ctx: ParseContext, event: Event
) -> tuple[str, datetime | None]:
    pri, bsd, iso = match.groups()
    if pri is not None:
        add_priority(event, pri)
    try:
        when = _bsd_time(bsd, ctx.received) if bsd is not None else parse_iso_time(iso)
    except ValueError as exc:
        raise RecordError(f"invalid syslog timestamp {bsd or iso!r}: {exc}") from None
    return _split_host_tag(text[match.end() :], event, True), when


def parse_syslog_message(data: bytes, ctx: ParseContext, position: int | str) -> Event:
    """Parse one syslog message (a line, a datagram or a TCP frame) into an event.

    Raises:
        RecordError: when the message is neither RFC 5424 nor RFC 3164.
    """
    text = data.decode("utf-8", errors="replace").rstrip("\r\n\x00")
    if not text:
        raise RecordError("empty syslog message")
    when: datetime | None
    event: Event
    match = _COMMON.match(text)
    if match is not None:
        # Inlined for speed: this is most of what syslog daemons write. The event is built
        # in one display so the dict is sized once.
        pri, bsd, iso, host, tag, pid = match.groups()
        try:
            if bsd is not None:
                when = _bsd_times.get((bsd, ctx.received)) or _bsd_time(bsd, ctx.received)
            else:
                when = parse_iso_time(iso)
        except ValueError as exc:
            raise RecordError(f"invalid syslog timestamp {bsd or iso!r}: {exc}") from None
        message = text[match.end() :]
        if tag is None:  # HOST directly followed by a CEF or LEEF payload
            event = {"log.syslog.hostname": host, "host.name": host}
            if pri is not None:
                add_priority(event, pri)
            return _hand_off(message, text, event, when, ctx, position)
        event = {
            ev.ID: ctx.event_id(position),
            ev.TIMESTAMP: when,
            ev.DATASET: ctx.dataset or DATASET,
            ev.KIND: "event",
            ev.ORIGINAL: text,
            "message": message,
            "log.syslog.hostname": host,
            "host.name": host,
            "log.syslog.appname": tag,
            "process.name": tag,
        }
        if pri is not None:
            add_priority(event, pri)
        if pid is not None:
            event["log.syslog.procid"] = pid
            event["process.pid"] = int(pid)
        if message.startswith(("CEF:", "LEEF:")):
            return _hand_off(message, text, event, when, ctx, position)
        if tag in _CLASSIFIED_APPS or "pam_unix(" in message:
            classify_message(tag, message, event)
        return event
    event = {ev.ID: ctx.event_id(position)}
    match = _RFC5424.match(text)
    if match is not None:
        message, when = _parse_rfc5424(text, match, event)
    else:
        match = _RFC3164.match(text)
        if match is not None:
            message, when = _parse_rfc3164(text, match, ctx, event)
        else:
            match = _PRI.match(text)
            if match is None:
                raise RecordError(
                    "not syslog: no <PRI> and no RFC 3164 or ISO 8601 timestamp at the start "
                    f"of {text[:40]!r}"
                )
            add_priority(event, match.group(1))
            message = _split_host_tag(text[match.end() :].lstrip(" "), event, False)
            when = None
    if message.startswith(("CEF:", "LEEF:")):
        return _hand_off(message, text, event, when, ctx, position)
    event[ev.TIMESTAMP] = when if when is not None else ctx.received
    event[ev.DATASET] = ctx.dataset or DATASET
    event[ev.KIND] = "event"
    event[ev.ORIGINAL] = text
    event["message"] = message
    app = event.get("log.syslog.appname")
    if app is not None:
        classify_message(str(app), message, event)
    return event


class _PayloadParser(Protocol):
    def __call__(
        self,
        text: str,
        ctx: ParseContext,
        position: int | str,
        *,
        fallback_time: datetime | None = None,
    ) -> Event: ...


@functools.cache
def _payload_parsers() -> tuple[_PayloadParser, _PayloadParser]:
    # Imported late: cef and leef import this module for its time helpers.
    from tocsin.ingest.parsers.cef import parse_cef
    from tocsin.ingest.parsers.leef import parse_leef

    return parse_cef, parse_leef


def _hand_off(
    payload: str,
    text: str,
    header: Event,
    when: datetime | None,
    ctx: ParseContext,
    position: int | str,
) -> Event:
    """Parse a CEF or LEEF payload and add the syslog header fields to its event.

    A payload that is not valid CEF or LEEF leaves a plain syslog event.
    """
    parse_cef, parse_leef = _payload_parsers()
    parse = parse_cef if payload.startswith("CEF:") else parse_leef
    try:
        event = parse(payload, ctx, position, fallback_time=when)
    except RecordError:
        header[ev.ID] = ctx.event_id(position)
        header[ev.TIMESTAMP] = when if when is not None else ctx.received
        header[ev.DATASET] = ctx.dataset or DATASET
        header[ev.KIND] = "event"
        header[ev.ORIGINAL] = text
        header["message"] = payload
        return header
    for key, value in header.items():
        event.setdefault(key, value)
    event[ev.ORIGINAL] = text
    return event


class SyslogParser(LineParser):
    """Syslog files and messages: RFC 5424, RFC 3164 and the daemon file formats."""

    id: ClassVar[str] = "syslog"

    def sniff(self, head: bytes) -> int:
        """Return 40 when the first non-blank line reads as syslog, else 0."""
        for raw in head.split(b"\n", 8)[:8]:
            line = raw.strip(b"\r\x00")
            if not line.strip():
                continue
            text = line.decode("utf-8", errors="replace")
            if _RFC5424.match(text) or _RFC3164.match(text):
                return 40
            return 0
        return 0

    def parse_line(self, line: bytes, ctx: ParseContext, offset: int) -> Event:
        """Parse one line of a syslog file."""
        return parse_syslog_message(line, ctx, offset)


# -- well-known messages -------------------------------------------------------------------

_SSH_LOGIN = re.compile(r"(Accepted|Failed) (\S+) for (invalid user )?(\S*) from (\S+) port (\d+)")
_SSH_INVALID = re.compile(r"Invalid user (\S*) from (\S+)(?: port (\d+))?")
_PAM_SESSION = re.compile(
    r"pam_unix\(([^:)]+):session\): session (opened|closed) for user ([^\s(]+)"
)
_PAM_AUTH_FAILURE = re.compile(r"pam_unix\(([^:)]+):auth\): authentication failure;(.*)")
_KEY_VALUE = re.compile(r"(\w+)=(\S*)")
_SUDO = re.compile(r"\s*(\S+) : (.*)", re.DOTALL)
_CLASSIFIED_APPS = frozenset({"sshd", "sudo"})
_SUDO_FAILURES = ("incorrect password attempt", "NOT in sudoers", "authentication failure")


def _set_source(event: Event, address: str, port: str | None) -> None:
    event["source.ip"] = address
    event["related.ip"] = [address]
    if port:
        event["source.port"] = int(port)


def _set_user(event: Event, name: str) -> None:
    event["user.name"] = name
    event["related.user"] = [name]


def _classify_sshd(message: str, event: Event) -> bool:
    match = _SSH_LOGIN.match(message)
    if match is not None:
        verdict, method, _invalid, user, address, port = match.groups()
        event[ev.CATEGORY] = ["authentication"]
        event[ev.TYPE] = ["start"]
        event["event.action"] = "ssh_login"
        event["event.outcome"] = "success" if verdict == "Accepted" else "failure"
        event["ssh.method"] = method
        _set_user(event, user)
        _set_source(event, address, port)
        return True
    match = _SSH_INVALID.match(message)
    if match is not None:
        user, address, port = match.groups()
        event[ev.CATEGORY] = ["authentication"]
        event[ev.TYPE] = ["start"]
        event["event.action"] = "ssh_login"
        event["event.outcome"] = "failure"
        _set_user(event, user)
        _set_source(event, address, port)
        return True
    return False


def _classify_pam(message: str, event: Event) -> bool:
    match = _PAM_SESSION.match(message)
    if match is not None:
        service, state, user = match.groups()
        event[ev.CATEGORY] = ["session"]
        event[ev.TYPE] = ["start" if state == "opened" else "end"]
        event["event.action"] = f"session_{state}"
        event["pam.service"] = service
        _set_user(event, user)
        return True
    match = _PAM_AUTH_FAILURE.match(message)
    if match is not None:
        service, rest = match.groups()
        pairs = dict(_KEY_VALUE.findall(rest))
        event[ev.CATEGORY] = ["authentication"]
        event[ev.TYPE] = ["start"]
        event["event.action"] = "authentication_failure"
        event["event.outcome"] = "failure"
        event["pam.service"] = service
        if pairs.get("user"):
            _set_user(event, pairs["user"])
        rhost = pairs.get("rhost")
        if rhost and (rhost[0].isdigit() or ":" in rhost):
            _set_source(event, rhost, None)
        return True
    return False


def _classify_sudo(message: str, event: Event) -> bool:
    match = _SUDO.match(message)
    if match is None or "COMMAND=" not in message:
        return False
    user, rest = match.groups()
    head, _, command = rest.partition("COMMAND=")
    details: dict[str, str] = {}
    problems: list[str] = []
    for part in head.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if sep and key.isupper():
            details[key] = value
        else:
            problems.append(part)
    event[ev.CATEGORY] = ["process"]
    event[ev.TYPE] = ["start"]
    event["event.action"] = "sudo_command"
    _set_user(event, user)
    event["sudo.command"] = command.strip()
    if "TTY" in details:
        event["sudo.tty"] = details["TTY"]
    if "PWD" in details:
        event["sudo.pwd"] = details["PWD"]
    if "USER" in details:
        event["user.effective.name"] = details["USER"]
    failed = any(marker in problem for problem in problems for marker in _SUDO_FAILURES)
    if problems:
        event["sudo.error"] = " ; ".join(problems)
    event["event.outcome"] = "failure" if failed else "success"
    return True


def classify_message(app: str, message: str, event: Event) -> bool:
    """Add ECS categorisation for well-known sshd, sudo and pam_unix messages.

    Recognised: sshd ``Accepted|Failed <method> for [invalid user ]USER from IP port N`` and
    ``Invalid user USER from IP`` (authentication start, outcome, ``user.name``,
    ``source.ip``, ``source.port``); ``pam_unix(SERVICE:session): session opened|closed for
    user USER`` (session start/end); ``pam_unix(SERVICE:auth): authentication failure``; and
    sudo's ``USER : TTY=... ; PWD=... ; USER=... ; COMMAND=...`` (process start, failed when
    the line reports wrong passwords or a user not in sudoers). Returns True when it matched.
    """
    if "pam_unix(" in message and _classify_pam(message, event):
        return True
    if app == "sshd":
        return _classify_sshd(message, event)
    if app == "sudo":
        return _classify_sudo(message, event)
    return False
