"""Unbound ``log-queries``, ``log-replies`` and ``log-local-actions`` lines (``dns.unbound``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import ClassVar

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, RecordError
from tocsin.ingest.parsers.dnsserver.base import (
    _MONTHS,
    DnsServerLogParser,
    SyslogHead,
    _add_head,
    _bsd_time,
    _envelope,
    _set_client,
    _sniff_lines,
    split_syslog,
    strip_dot,
)
from tocsin.ingest.parsers.syslog import parse_iso_time, parse_syslog_message

_UB_EPOCH = re.compile(r"\[(?P<epoch>\d+)\] (?P<tag>[\w-]+)\[(?P<pid>\d+):(?P<tid>\w+)\] ")
_UB_TIMED = re.compile(
    rf"(?:(?P<bsd>(?:{_MONTHS}) {{1,2}}\d{{1,2}} \d\d:\d\d:\d\d)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)) "
    r"(?P<tag>[\w-]+)\[(?P<pid>\d+):(?P<tid>\w+)\] "
)  # log-time-ascii (BSD time) or log-time-iso, before unbound's own [pid:thread]
_UB_LEVEL = re.compile(r"(?:\[(?P<pid>\d+):(?P<tid>\w+)\] )?(?P<level>[a-z]+): ?")
_UB_ADDRESS = r"[0-9A-Fa-f:.]*\d[0-9A-Fa-f:.]*(?:%\S+)?"
_UB_CLASS = r"(?P<cls>IN|CH|HS|NONE|ANY|CLASS\d+)"
_UB_QUERY = re.compile(rf"(?P<client>{_UB_ADDRESS}) (?P<name>\S+) (?P<type>\S+) {_UB_CLASS}\s*$")
_UB_REPLY = re.compile(
    rf"(?P<client>{_UB_ADDRESS}) (?P<name>\S+) (?P<type>\S+) {_UB_CLASS} (?P<rcode>[A-Z0-9]+) "
    r"(?P<secs>\d+\.\d+) (?P<cached>[01]) (?P<size>\d+)(?: .*)?$"
)
_UB_FORMERR = re.compile(rf"(?P<client>{_UB_ADDRESS}) - - - (?P<rcode>\S+) - - -\s*$")
_UB_LOCAL = re.compile(
    rf"(?P<zone>\S+) (?P<action>[a-z_]+) (?P<client>{_UB_ADDRESS})@(?P<port>\d+) "
    rf"(?P<name>\S+) (?P<type>\S+) {_UB_CLASS}\s*$"
)
# The default log file's query and reply lines in one match (the general path reads the rest).
_UB_FAST = re.compile(
    r"\[(\d+)\] unbound\[(\d+):\w+\] (info|query|reply): ([0-9A-Fa-f:.]+) (\S+) (\S+) "
    r"(IN|CH|HS|NONE|ANY|CLASS\d+)(?: ([A-Z0-9]+) (\d+)\.(\d+) ([01]) (\d+)(?: .*)?)?$"
)
_UB_LOOKS = re.compile(rf"{_UB_ADDRESS} \S*\. ")
_UB_BLOCKING = frozenset(
    {"deny", "refuse", "always_refuse", "always_nxdomain", "always_null", "always_nodata",
     "inform_deny"}
)  # fmt: skip


class UnboundParser(DnsServerLogParser):
    """Unbound ``log-queries`` and ``log-replies`` lines (and ``log-local-actions``).

    Prefixes: ``[epoch] unbound[pid:thread]`` (the default log file),
    ``Mmm dd hh:mm:ss unbound[pid:thread]`` (``log-time-ascii``), an ISO 8601 time, or syslog
    (``host unbound: [pid:thread]``). The level is ``info:``, or ``query:``/``reply:`` with
    ``log-tag-queryreply``. A reply gives ``dns.response_code``, ``event.duration`` (ns),
    ``destination.bytes`` (the reply's size) and ``dns.unbound.cached``.
    """

    id: ClassVar[str] = "dns_unbound"
    dataset: ClassVar[str] = "dns.unbound"

    def sniff(self, head: bytes) -> int:
        """Return 85 when unbound's query or reply lines make up the head, else 0."""
        return _sniff_lines(head, _UB_SNIFF_HIT, _UB_SNIFF_OURS)

    def __init__(self) -> None:
        super().__init__()
        self._last_epoch: tuple[str, datetime] | None = None

    def read_line(self, text: str, raw: bytes, ctx: ParseContext, offset: int) -> Event | None:
        """Parse one unbound line; None for its start-up, statistics and other messages."""
        fast = _UB_FAST.match(text)
        if fast is not None:
            event = self._read_fast(fast, text, ctx, offset)
            if event is not None:
                return event
        host: SyslogHead | None = None
        pid: str | None = None
        match = _UB_EPOCH.match(text)
        if match is not None:
            when = self._epoch(match.group("epoch"))
            tag, pid, body = match.group("tag"), match.group("pid"), text[match.end() :]
        elif (match := _UB_TIMED.match(text)) is not None:
            bsd = match.group("bsd")
            if bsd is not None:
                when = _bsd_time(bsd, ctx.received)
            else:
                try:
                    when = parse_iso_time(match.group("iso"))
                except ValueError as exc:
                    raise RecordError(f"invalid unbound time: {exc}") from None
            tag, pid, body = match.group("tag"), match.group("pid"), text[match.end() :]
        else:
            head = split_syslog(text, raw, ctx, offset, "unbound log")
            if not isinstance(head, SyslogHead):
                return head
            if not head.tag.startswith("unbound"):
                return parse_syslog_message(raw, ctx, offset)
            host, when, tag, body = head, head.when, head.tag, head.message
        if tag != "unbound":
            return None  # unbound-anchor, unbound-control and friends
        level = _UB_LEVEL.match(body)
        if level is None:
            return None
        pid = level.group("pid") or pid
        message = body[level.end() :]
        kind = level.group("level")
        if kind not in ("info", "query", "reply"):
            return None  # notice, warning, error, debug
        event = self._read_message(message, kind, text, ctx, offset, when)
        if event is None:
            return None
        if host is not None:
            _add_head(event, host)
        else:
            event["process.name"] = "unbound"
        if pid is not None:
            event["process.pid"] = int(pid)
        return event

    def _epoch(self, text: str) -> datetime:
        last = self._last_epoch
        if last is not None and last[0] == text:
            return last[1]
        try:
            when = datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise RecordError(f"invalid unbound time {text!r}: {exc}") from None
        self._last_epoch = (text, when)
        return when

    def _read_fast(
        self, match: re.Match[str], text: str, ctx: ParseContext, offset: int
    ) -> Event | None:
        """The common line in one match; None sends it to the general path."""
        (epoch, pid, level, client, name, qtype, qclass, rcode, seconds, fraction, cached,
         size) = match.groups()  # fmt: skip
        if (rcode is None) == (level == "reply"):
            return None  # a reply tag without reply fields, or a query tag with them
        event: Event = {
            ev.ID: ctx.event_id(offset),
            ev.TIMESTAMP: self._epoch(epoch),
            ev.DATASET: ctx.dataset or self.dataset,
            ev.KIND: "event",
            ev.CATEGORY: ["network"],
            ev.TYPE: ["protocol"],
            ev.ORIGINAL: text,
            "network.protocol": "dns",
            "client.ip": client,
            "source.ip": client,
            "related.ip": [client],
            "dns.type": "query" if rcode is None else "answer",
            "dns.question.name": name[:-1] if len(name) > 1 and name[-1] == "." else name,
            "dns.question.type": qtype,
            "dns.question.class": qclass,
            "process.name": "unbound",
            "process.pid": int(pid),
        }
        if rcode is not None:
            event["dns.response_code"] = rcode
            event["event.duration"] = int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])
            event["destination.bytes"] = int(size)
            event["dns.unbound.cached"] = cached == "1"
        return event

    def _read_message(
        self, message: str, kind: str, text: str, ctx: ParseContext, offset: int, when: datetime
    ) -> Event | None:
        if kind != "reply":
            match = _UB_QUERY.match(message)
            if match is not None:
                event = self._event(match, text, ctx, offset, when)
                event["dns.type"] = "query"
                return event
        if kind != "query":
            match = _UB_REPLY.match(message)
            if match is not None:
                event = self._event(match, text, ctx, offset, when)
                event["dns.type"] = "answer"
                event["dns.response_code"] = match.group("rcode")
                seconds, _, micros = match.group("secs").partition(".")
                event["event.duration"] = int(seconds) * 1_000_000_000 + int(
                    micros.ljust(9, "0")[:9]
                )
                event["destination.bytes"] = int(match.group("size"))
                event["dns.unbound.cached"] = match.group("cached") == "1"
                return event
            match = _UB_FORMERR.match(message)
            if match is not None:
                event = _envelope(ctx, offset, text, when, self.dataset)
                _set_client(event, match.group("client"))
                event["dns.type"] = "answer"
                event["dns.response_code"] = match.group("rcode")
                return event
        if kind == "info":
            match = _UB_LOCAL.match(message)
            if match is not None:
                event = self._event(match, text, ctx, offset, when)
                action = match.group("action")
                event["source.port"] = event["client.port"] = int(match.group("port"))
                event["dns.type"] = "answer"
                event["dns.unbound.local_zone"] = strip_dot(match.group("zone"))
                event["dns.unbound.action"] = action
                if action in _UB_BLOCKING:
                    event["event.action"] = "blocked"
                    if action == "always_nxdomain":
                        event["dns.response_code"] = "NXDOMAIN"
                    elif action in ("refuse", "always_refuse"):
                        event["dns.response_code"] = "REFUSED"
                return event
            if not _UB_LOOKS.match(message):
                return None  # statistics, start-up, histogram lines
        raise RecordError(f"unbound {kind} line not understood: {message[:120]!r}")

    def _event(
        self, match: re.Match[str], text: str, ctx: ParseContext, offset: int, when: datetime
    ) -> Event:
        event = _envelope(ctx, offset, text, when, self.dataset)
        _set_client(event, match.group("client"))
        event["dns.question.name"] = strip_dot(match.group("name"))
        event["dns.question.type"] = match.group("type")
        event["dns.question.class"] = match.group("cls")
        return event


_UB_SNIFF_HIT = re.compile(
    rb"unbound(?:\[\d+:\w+\]|(?:\[\d+\])?: \[\d+:\w+\]) (?:info|query|reply): "
    rb"[0-9A-Fa-f:.]*\d[0-9A-Fa-f:.]* \S+ \S+ (?:IN|CH|HS|ANY|CLASS\d+)\b"
)
_UB_SNIFF_OURS = re.compile(rb"unbound(?:-\w+)?(?:\[[\d:\w]+\])?: |unbound\[\d+:\w+\] ")
