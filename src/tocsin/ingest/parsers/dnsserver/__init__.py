"""DNS servers' own logs: Windows DNS debug log, BIND query log, dnsmasq/Pi-hole, Unbound.

These logs are where a site's lookups are when there is no network sensor, so each line a
server writes about a query or an answer becomes one DNS event with the ECS DNS fields the DNS
sensor reads (``dns.question.name``, ``dns.question.type``, ``dns.response_code``,
``dns.answers.data``, ``client.ip``/``source.ip``) and the datasets ``dns.windows``,
``dns.bind``, ``dns.dnsmasq`` and ``dns.unbound``. See docs/dns-sources.md for the fields.

One module per format (``windows``, ``bind``, ``dnsmasq``, ``unbound``) on the shared base in
``base``, which also states the rules the four parsers share. The ``tocsin.parsers`` entry
points name the parsers through this package, which re-exports the public names.
"""

from __future__ import annotations

from tocsin.ingest.parsers.dnsserver.base import (
    RCODE_NAMES,
    DnsServerLogParser,
    SkippedLine,
    SyslogHead,
    split_syslog,
    strip_dot,
)
from tocsin.ingest.parsers.dnsserver.bind import BindQueryParser
from tocsin.ingest.parsers.dnsserver.dnsmasq import DnsmasqParser
from tocsin.ingest.parsers.dnsserver.unbound import UnboundParser
from tocsin.ingest.parsers.dnsserver.windows import (
    DateOrder,
    WindowsDnsDebugParser,
    decode_wire_name,
    header_flags,
)

__all__ = [
    "RCODE_NAMES",
    "BindQueryParser",
    "DateOrder",
    "DnsServerLogParser",
    "DnsmasqParser",
    "SkippedLine",
    "SyslogHead",
    "UnboundParser",
    "WindowsDnsDebugParser",
    "decode_wire_name",
    "header_flags",
    "split_syslog",
    "strip_dot",
]
