"""dnsmasq ``log-queries`` and Pi-hole's ``pihole.log``: queries and answers (``dns.dnsmasq``)."""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, cast

from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, RecordError
from tocsin.ingest.parsers.dnsserver.base import (
    _MONTHS,
    RCODE_NAMES,
    DnsServerLogParser,
    SyslogHead,
    _bsd_time,
    _envelope,
    _set_client,
    _sniff_lines,
    split_syslog,
    strip_dot,
)
from tocsin.ingest.parsers.syslog import parse_syslog_message

_MAX_NAMES = 4096

_DM_EXTRA = re.compile(
    r"(?P<serial>\d+|\*) (?:(?P<client>[0-9A-Fa-f:.]*[0-9A-Fa-f](?:%[^/\s]+)?)/(?P<port>\d+) )?"
)
_DM_HEAD = re.compile(
    rf"((?:{_MONTHS}) {{1,2}}\d{{1,2}} \d\d:\d\d:\d\d) (?:([^\s\[\]]+) )?(dnsmasq|pihole-FTL)"
    r"\[(\d+)\]: "
)  # the common syslog header (with or without a host), read without the general path
_DM_QUERY = re.compile(r"query\[(?P<type>[^\]]*)\] (?P<name>\S+) from (?P<client>\S+) *$")
_DM_UPSTREAM = re.compile(
    r"(?P<action>forwarded|dnssec-query|dnssec-retry)(?:\[(?P<type>[^\]]*)\])? (?P<name>\S+) "
    r"to (?P<server>\S+) *$"
)
_DM_ANSWER = re.compile(r"(?P<action>[A-Za-z/][\w./ -]*?) (?P<name>\S+) is (?P<value>.*\S) *$")
_DM_EXTRA_NOTE = re.compile(r"\s+\((?:EDE: (?P<ede>[^)]*)|DNSSEC signed)\)$")
_DM_STARTS = ("query[", "forwarded ", "reply ", "cached ", "cached-stale ", "config ", "dnssec-")
_DM_RCODES = {"NXDOMAIN": "NXDOMAIN", "SERVFAIL": "SERVFAIL", "REFUSED": "REFUSED"}
_DM_RCODES["not implemented"] = "NOTIMP"
_DM_BLOCKED_WORDS = ("blocked", "blacklist", "denied", "denylist", "blocklist")
_DM_BLOCKED_ACTIONS = frozenset({"special domain", "apple icloud private relay domain"})
_DM_BLOCKED_EDE = frozenset({"blocked", "censored", "filtered", "prohibited"})
_DM_TAGS = ("dnsmasq", "pihole-FTL", "pihole")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}$")


@dataclass(slots=True)
class _DnsmasqState:
    # name (lowercased) -> (client, question type) of the last query for it, oldest first
    names: OrderedDict[str, tuple[str, str | None]] = field(default_factory=OrderedDict)
    # extra mode: serial -> (client, question type)
    serials: OrderedDict[str, tuple[str, str | None]] = field(default_factory=OrderedDict)
    # the client of the CNAME chain the reply lines are walking, if any
    chain: str | None = None


def _remember(
    table: OrderedDict[str, tuple[str, str | None]], key: str, value: tuple[str, str]
) -> None:
    """Put ``key`` last in a bounded table (the oldest goes when it is full)."""
    if key in table:
        table.move_to_end(key)
    elif len(table) >= _MAX_NAMES:
        table.popitem(last=False)
    table[key] = value


def _split_port(address: str) -> tuple[str, int | None]:
    """``1.1.1.1#5335`` as (address, port); dnsmasq adds ``#port`` when it is not 53."""
    host, sep, port = address.partition("#")
    return host, (int(port) if sep and port.isdigit() else None)


def _is_address(text: str) -> bool:
    # cheap tests first: this runs on every answer line
    if text[-1:].isdigit() and _IPV4.match(text) is not None:
        return True
    return text.count(":") >= 2


class DnsmasqParser(DnsServerLogParser):
    """dnsmasq ``log-queries`` lines (also ``log-queries=extra``) and Pi-hole's ``pihole.log``.

    Query lines are ``dns.type`` query with the client; answer lines (``reply``, ``cached``,
    ``config``, hosts files, Pi-hole's blocking lines) are ``dns.type`` answer with
    ``dns.answers.data`` or ``dns.response_code``. A default-format answer names no client:
    it takes the last client that asked for the name in this input (and a CNAME chain's reply
    lines the client of the chain); in extra mode the line's own client or its serial decides.
    ``forwarded`` lines are the server's own query upstream: ``destination.ip`` is the
    upstream server and they carry no client, so a lookup is not counted twice for its client.
    """

    id: ClassVar[str] = "dns_dnsmasq"
    dataset: ClassVar[str] = "dns.dnsmasq"

    def new_state(self) -> object:
        """Recent clients by name and by serial."""
        return _DnsmasqState()

    def sniff(self, head: bytes) -> int:
        """Return 85 when dnsmasq's query lines make up the head, else 0."""
        return _sniff_lines(head, _DM_SNIFF_HIT, _DM_SNIFF_OURS)

    def read_line(self, text: str, raw: bytes, ctx: ParseContext, offset: int) -> Event | None:
        """Parse one dnsmasq line; None for its DHCP, start-up and other messages."""
        fast = _DM_HEAD.match(text)
        if fast is not None:
            bsd, host, tag, pid = fast.groups()
            when = _bsd_time(bsd, ctx.received)
            message = text[fast.end() :]
        else:
            head = split_syslog(text, raw, ctx, offset, "dnsmasq log")
            if not isinstance(head, SyslogHead):
                return head
            if not head.tag.startswith(_DM_TAGS):
                return parse_syslog_message(raw, ctx, offset)
            if head.tag not in ("dnsmasq", "pihole-FTL"):
                return None  # dnsmasq-dhcp, dnsmasq-tftp, dnsmasq-script
            when, host, tag, pid, message = head.when, head.host, head.tag, head.pid, head.message
        state = cast(_DnsmasqState, self.state(ctx))
        serial: str | None = None
        line_client: str | None = None
        line_port: int | None = None
        extra = _DM_EXTRA.match(message)
        if extra is not None:
            serial = extra.group("serial")
            line_client = extra.group("client")
            if line_client is not None:
                line_port = int(extra.group("port"))
            message = message[extra.end() :]
        event = self._read_message(message, when, text, ctx, offset)
        if event is None:
            state.chain = None
            return None
        if host:
            event["host.name"] = host
        event["process.name"] = tag
        if pid and pid.isdigit():
            event["process.pid"] = int(pid)
        if serial is not None and serial != "*":
            event["dns.dnsmasq.serial"] = int(serial)
        self._attribute(event, state, serial, line_client, line_port)
        return event

    def _read_message(
        self, message: str, when: datetime, text: str, ctx: ParseContext, offset: int
    ) -> Event | None:
        if message.startswith("query["):
            match = _DM_QUERY.match(message)
            if match is None:
                raise RecordError(f"dnsmasq query line not understood: {message[:120]!r}")
            event = _envelope(ctx, offset, text, when, self.dataset)
            event["dns.type"] = "query"
            event["dns.dnsmasq.action"] = "query"
            event["dns.question.name"] = strip_dot(match.group("name"))
            event["dns.question.type"] = match.group("type")
            _set_client(event, match.group("client"))
            return event
        match = _DM_UPSTREAM.match(message)
        if match is not None:
            event = _envelope(ctx, offset, text, when, self.dataset)
            event["dns.type"] = "query"
            event["dns.dnsmasq.action"] = match.group("action")
            event["dns.question.name"] = strip_dot(match.group("name"))
            if match.group("type"):
                event["dns.question.type"] = match.group("type")
            server, port = _split_port(match.group("server"))
            event["destination.ip"] = server
            event["related.ip"] = [server]
            if port is not None:
                event["destination.port"] = port
            return event
        match = _DM_ANSWER.match(message)
        if match is not None and ":" not in match.group("action"):
            return self._answer(match, when, text, ctx, offset)
        if message.startswith(_DM_STARTS):
            raise RecordError(f"dnsmasq query or answer line not understood: {message[:120]!r}")
        return None

    def _answer(
        self, match: re.Match[str], when: datetime, text: str, ctx: ParseContext, offset: int
    ) -> Event:
        action = match.group("action")
        name = match.group("name")
        value = match.group("value")
        event = _envelope(ctx, offset, text, when, self.dataset)
        event["dns.type"] = "answer"
        ede = None
        note = _DM_EXTRA_NOTE.search(value) if value[-1] == ")" else None
        if note is not None:
            ede = note.group("ede")
            value = value[: note.start()]
            if ede:
                event["dns.dnsmasq.ede"] = ede
        if action.startswith("/"):
            event["dns.dnsmasq.action"] = "hosts"
            event["dns.dnsmasq.file"] = action
        else:
            event["dns.dnsmasq.action"] = action
        event["dns.dnsmasq.answer"] = value
        code = _DM_RCODES.get(value)
        if code is not None:
            event["dns.response_code"] = code
        elif value.startswith("NODATA"):
            event["dns.response_code"] = "NOERROR"
        elif value.isdigit():
            event["dns.response_code"] = RCODE_NAMES.get(int(value), value)
        elif value.startswith("<") and value.endswith(">"):
            event["dns.response_code"] = "NOERROR"  # the records follow on the next lines
        else:
            event["dns.response_code"] = "NOERROR"
            event["dns.answers.data"] = [value]
            if not _is_address(value) and _is_address(name):
                # a reverse answer: dnsmasq writes the address where the name would be
                try:
                    name = ipaddress.ip_address(name).reverse_pointer
                except ValueError:
                    pass
                else:
                    event["dns.question.type"] = "PTR"
        if name != "error":  # dnsmasq's stand-in when the reply had no readable question
            event["dns.question.name"] = strip_dot(name)
        lowered = action.lower()
        if (
            lowered in _DM_BLOCKED_ACTIONS
            or any(word in lowered for word in _DM_BLOCKED_WORDS)
            or (ede is not None and ede in _DM_BLOCKED_EDE)
        ):
            event["event.action"] = "blocked"
        return event

    @staticmethod
    def _attribute(
        event: Event,
        state: _DnsmasqState,
        serial: str | None,
        line_client: str | None,
        line_port: int | None,
    ) -> None:
        """Put the asking client on the event, and remember it for the answers to come."""
        kind = event["dns.type"]
        name = event.get("dns.question.name")
        key = name.lower() if isinstance(name, str) else None
        action = event.get("dns.dnsmasq.action")
        if action == "query":
            asker = (str(event["client.ip"]), str(event["dns.question.type"]))
            if line_port is not None and line_client == asker[0]:
                event["client.port"] = event["source.port"] = line_port
            if key is not None:
                _remember(state.names, key, asker)
            if serial is not None and serial != "*":
                _remember(state.serials, serial, asker)
            state.chain = None
            return
        if kind == "query":  # forwarded: the server asks upstream, the client is not the asker
            if key is not None and "dns.question.type" not in event:
                known = state.names.get(key)
                if known is not None:
                    event["dns.question.type"] = known[1]
            state.chain = None
            return
        answer_client: str | None = line_client
        qtype: str | None = None
        if answer_client is None and serial is not None and serial in state.serials:
            answer_client, qtype = state.serials[serial]
        if key is not None:
            known = state.names.get(key)
            if known is not None:
                answer_client = answer_client or known[0]
                qtype = qtype or known[1]
        if answer_client is None:
            answer_client = state.chain
        if answer_client is not None:
            port = line_port if line_client == answer_client else None
            _set_client(event, answer_client, port)
        if qtype and "dns.question.type" not in event:
            event["dns.question.type"] = qtype
        if event.get("dns.dnsmasq.answer") == "<CNAME>":
            state.chain = answer_client


_DM_SNIFF_HIT = re.compile(
    rb"(?:dnsmasq|pihole-FTL)\[\d+\]: (?:(?:\d+|\*) (?:\S+/\d+ )?)?"
    rb"(?:query\[\S*\] \S+ from |forwarded \S+ to |(?:reply|cached|config) \S+ is "
    rb"|gravity blocked )"
)
_DM_SNIFF_OURS = re.compile(rb"(?:dnsmasq|pihole-FTL)(?:-\w+)?\[\d+\]: ")
