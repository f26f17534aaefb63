"""BIND 9 query logs: queries, failed queries, denials and RPZ rewrites (``dns.bind``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import ClassVar

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, RecordError
from tocsin.ingest.parsers.dnsserver.base import (
    _CACHE_SIZE,
    _MONTHS,
    RCODE_NAMES,
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

_BIND_TIME = re.compile(
    r"(\d{1,2}-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d)(?:\.(\d{1,6}))? +"
)  # print-time local: 28-Nov-2026 10:15:22.123
_BIND_ISO = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?) +"
    r"(?=client |[a-z][a-z0-9-]*: )"
)  # print-time iso8601 / iso8601-utc, not followed by a syslog host
_BIND_PREFIX = re.compile(
    r"(?:(?P<category>[a-z][a-z0-9-]*): )?"
    r"(?:(?P<severity>critical|error|warning|notice|info|dynamic|debug(?: \d+)?): )?"
)
_BIND_CLIENT = (
    r"client (?:@0x[0-9A-Fa-f]+ )?(?P<ip>[0-9A-Fa-f:.]+(?:%[^#\s]+)?)#(?P<port>\d+)"
    r"(?: \([^)]*\))?: (?:view (?P<view>[^:]+): )?"
)
_BIND_QUERY = re.compile(
    _BIND_CLIENT + r"query: (?P<name>\S+) (?P<cls>\S+) (?P<type>\S+) (?P<flags>[-+][\w()]*)"
    r"(?: \((?P<server>[^)]*)\))?(?: \[ECS (?P<ecs>[^\]]*)\])?\s*$"
)
_BIND_FAILED = re.compile(
    _BIND_CLIENT + r"query failed \((?P<reason>[^)]*)\) for (?P<what>\S+)(?: at (?P<where>\S+))?"
)
_BIND_DENIED = re.compile(
    _BIND_CLIENT + r"query (?:\((?P<scope>[^)]*)\) )?'(?P<what>[^']*)' denied"
)
_BIND_RPZ = re.compile(
    _BIND_CLIENT + r"rpz (?P<trigger>\S+) (?P<policy>\S+) rewrite (?P<what>\S+) via (?P<rule>\S+)"
)
# A query line in one match, after BIND's own time or a syslog header (the general path reads
# the rest): time, fraction, syslog time, host, pid, then the query.
_BIND_FAST = re.compile(
    r"(?:(\d{1,2}-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d)(?:\.(\d{1,6}))? (?:queries: )?(?:info: )?"
    rf"|((?:{_MONTHS}) {{1,2}}\d{{1,2}} \d\d:\d\d:\d\d) ([^\s\[\]]+) named\[(\d+)\]: )"
    r"client (?:@0x[0-9A-Fa-f]+ )?([0-9A-Fa-f:.]+(?:%[^#\s]+)?)#(\d+)(?: \([^)]*\))?: "
    r"(?:view ([^:]+): )?query: (\S+) (\S+) (\S+) ([-+][\w()]*)(?: \(([^)]*)\))?"
    r"(?: \[ECS ([^\]]*)\])?$"
)
_BIND_CLASSES = frozenset({"IN", "CH", "HS", "CHAOS", "HESIOD", "ANY", "NONE"})
_BIND_MONTHS = {name.lower(): number for number, name in enumerate(_MONTHS.split("|"), 1)}
_RPZ_RCODES = {"NXDOMAIN": "NXDOMAIN", "NODATA": "NOERROR", "Local-Data": "NOERROR"}


def _add_related(event: Event, address: str) -> None:
    related = event.get("related.ip")
    if isinstance(related, list):
        if address not in related:
            related.append(address)
    else:
        event["related.ip"] = [address]


_bind_cache: dict[str, datetime] = {}


def _bind_time(text: str, fraction: str | None) -> datetime:
    """UTC time of BIND's ``28-Nov-2026 10:15:22`` and its fraction of a second."""
    stamp = _bind_cache.get(text)
    if stamp is None:
        try:
            day, month, rest = text.split("-", 2)
            year, clock = rest.split(" ")
            hour, minute, second = clock.split(":")
            stamp = datetime(
                int(year),
                _BIND_MONTHS[month.lower()],
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=UTC,
            )
        except (KeyError, ValueError) as exc:
            raise RecordError(f"invalid BIND time {text!r}: {exc}") from None
        if len(_bind_cache) >= _CACHE_SIZE:
            _bind_cache.clear()
        _bind_cache[text] = stamp
    if fraction:
        return stamp.replace(microsecond=int(fraction.ljust(6, "0")))
    return stamp


def _has_bind_prefix(text: str) -> bool:
    """True when ``text`` opens with BIND's category or severity (``queries: info: ``)."""
    match = _BIND_PREFIX.match(text)
    return match is not None and match.end() > 0


def _bind_header_flags(flags: str) -> list[str]:
    out = ["RD"] if flags.startswith("+") else []
    if "C" in flags:
        out.append("CD")
    if "D" in flags:
        out.append("DO")
    return out


def _split_what(what: str) -> tuple[str, str | None, str | None]:
    """``name/class/type`` or ``name/type/class`` (BIND writes both) as (name, type, class)."""
    parts = what.rsplit("/", 2)
    if len(parts) != 3:
        return what, None, None
    name, first, second = parts
    if first.upper() in _BIND_CLASSES or first.upper().startswith("CLASS"):
        return name, second, first
    return name, first, second


class BindQueryParser(DnsServerLogParser):
    """BIND 9 query logging (``queries``), failed queries (``query-errors``), denials and RPZ.

    Lines may start with BIND's own time (``print-time`` local or ISO 8601) and its category
    and severity, with a syslog header (``named[pid]:``), or with nothing (the time is then
    ``ctx.received``). ``client @0x...`` (BIND 9.11 and later) and ``view NAME:`` are optional.
    """

    id: ClassVar[str] = "dns_bind"
    dataset: ClassVar[str] = "dns.bind"

    def sniff(self, head: bytes) -> int:
        """Return 85 when named's query lines make up the head, else 0."""
        return _sniff_lines(head, _BIND_SNIFF_HIT, _BIND_SNIFF_OURS)

    def read_line(self, text: str, raw: bytes, ctx: ParseContext, offset: int) -> Event | None:
        """Parse one BIND line; None for named's other messages."""
        fast = _BIND_FAST.match(text)
        if fast is not None:
            return self._read_fast(fast, text, ctx, offset)
        host: SyslogHead | None = None
        match = _BIND_TIME.match(text)
        if match is not None:
            when = _bind_time(match.group(1), match.group(2))
            body = text[match.end() :]
        elif (match := _BIND_ISO.match(text)) is not None:
            try:
                when = parse_iso_time(match.group(1))
            except ValueError as exc:
                raise RecordError(f"invalid BIND time {match.group(1)!r}: {exc}") from None
            body = text[match.end() :]
        elif text.startswith("client ") or _has_bind_prefix(text):
            when = ctx.received  # print-time no: nothing better than when it arrived
            body = text
        else:
            head = split_syslog(text, raw, ctx, offset, "BIND log")
            if not isinstance(head, SyslogHead):
                return head
            if not head.tag.startswith("named"):
                return parse_syslog_message(raw, ctx, offset)
            host, when, body = head, head.when, head.message
        prefix = _BIND_PREFIX.match(body)
        category = prefix.group("category") if prefix else None
        if prefix is not None:
            body = body[prefix.end() :]
        event = self._read_body(body, text, ctx, offset, when, category)
        if event is not None and host is not None:
            _add_head(event, host)
        return event

    def _read_fast(self, match: re.Match[str], text: str, ctx: ParseContext, offset: int) -> Event:
        """A query line (BIND's own time or syslog) in one match."""
        (stamp, fraction, bsd, host, pid, ip, port, view, name, qclass, qtype, flags, server,
         ecs) = match.groups()  # fmt: skip
        when = _bind_time(stamp, fraction) if stamp is not None else _bsd_time(bsd, ctx.received)
        number = int(port)
        event: Event = {
            ev.ID: ctx.event_id(offset),
            ev.TIMESTAMP: when,
            ev.DATASET: ctx.dataset or self.dataset,
            ev.KIND: "event",
            ev.CATEGORY: ["network"],
            ev.TYPE: ["protocol"],
            ev.ORIGINAL: text,
            "network.protocol": "dns",
            "network.transport": "tcp" if "T" in flags else "udp",
            "client.ip": ip,
            "client.port": number,
            "source.ip": ip,
            "source.port": number,
            "related.ip": [ip, server] if server and server != ip else [ip],
            "dns.type": "query",
            "dns.question.name": name[:-1] if len(name) > 1 and name[-1] == "." else name,
            "dns.question.class": qclass,
            "dns.question.type": qtype,
            "dns.flags_raw": flags,
            "dns.header_flags": _bind_header_flags(flags),
        }
        if server:
            event["destination.ip"] = server
        if view:
            event["dns.bind.view"] = view
        if ecs:
            event["dns.bind.ecs"] = ecs
        if host is not None:
            event["host.name"] = host
            event["process.name"] = "named"
            event["process.pid"] = int(pid)
        return event

    def _read_body(
        self,
        body: str,
        text: str,
        ctx: ParseContext,
        offset: int,
        when: datetime,
        category: str | None,
    ) -> Event | None:
        if not body.startswith("client "):
            if category == "queries":
                raise RecordError(f"BIND queries line without a client: {body[:80]!r}")
            return None
        match = _BIND_QUERY.match(body)
        if match is not None:
            event = self._client_event(match, ctx, offset, text, when)
            flags = match.group("flags")
            event["dns.type"] = "query"
            event["dns.question.name"] = strip_dot(match.group("name"))
            event["dns.question.class"] = match.group("cls")
            event["dns.question.type"] = match.group("type")
            event["dns.flags_raw"] = flags
            event["dns.header_flags"] = _bind_header_flags(flags)
            event["network.transport"] = "tcp" if "T" in flags else "udp"
            server = match.group("server")
            if server:
                event["destination.ip"] = server
                _add_related(event, server)
            if match.group("ecs"):
                event["dns.bind.ecs"] = match.group("ecs")
            return event
        for pattern, reader in (
            (_BIND_FAILED, self._failed),
            (_BIND_DENIED, self._denied),
            (_BIND_RPZ, self._rpz),
        ):
            match = pattern.match(body)
            if match is not None:
                event = self._client_event(match, ctx, offset, text, when)
                event["dns.type"] = "answer"
                name, qtype, qclass = _split_what(match.group("what"))
                event["dns.question.name"] = strip_dot(name)
                if qtype:
                    event["dns.question.type"] = qtype
                if qclass:
                    event["dns.question.class"] = qclass
                reader(match, event)
                return event
        if category == "queries" or ": query: " in body or ": query failed " in body:
            raise RecordError(f"BIND query line not understood: {body[:120]!r}")
        return None  # transfers, notifies, updates and the rest of named's client messages

    def _client_event(
        self, match: re.Match[str], ctx: ParseContext, offset: int, text: str, when: datetime
    ) -> Event:
        event = _envelope(ctx, offset, text, when, self.dataset)
        _set_client(event, match.group("ip"), int(match.group("port")))
        if match.group("view"):
            event["dns.bind.view"] = match.group("view")
        return event

    @staticmethod
    def _failed(match: re.Match[str], event: Event) -> None:
        reason = match.group("reason")
        code = reason.upper()
        if code in _RCODE_SET:
            event["dns.response_code"] = code
        else:
            # BIND answers SERVFAIL when resolution fails for another reason (timed out, ...)
            event["dns.response_code"] = "SERVFAIL"
            event["dns.bind.error"] = reason
        event["event.outcome"] = "failure"

    @staticmethod
    def _denied(match: re.Match[str], event: Event) -> None:
        event["dns.response_code"] = "REFUSED"
        event["event.action"] = "denied"
        event["event.outcome"] = "failure"
        if match.group("scope"):
            event["dns.bind.acl"] = match.group("scope")

    @staticmethod
    def _rpz(match: re.Match[str], event: Event) -> None:
        policy = match.group("policy")
        event["dns.bind.rpz.trigger"] = match.group("trigger")
        event["dns.bind.rpz.policy"] = policy
        event["dns.bind.rpz.rule"] = strip_dot(match.group("rule"))
        if policy in _RPZ_RCODES:
            event["dns.response_code"] = _RPZ_RCODES[policy]
        if policy.upper() != "PASSTHRU":
            event["event.action"] = "blocked"


_RCODE_SET = frozenset(RCODE_NAMES.values())
_BIND_SNIFF_HIT = re.compile(
    rb"client (?:@0x[0-9A-Fa-f]+ )?[0-9A-Fa-f:.%\w]+#\d+(?: \([^)]*\))?: (?:view [^:]+: )?"
    rb"(?:query: \S+ \S+ \S+ [-+]|query failed \()"
)
_BIND_SNIFF_OURS = re.compile(
    rb"^\d{1,2}-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d|^client |named(?:-\w+)?(?:\[\d+\])?: "
)
