"""The RPZ export: the block list as a DNS Response Policy Zone for BIND, Unbound and PowerDNS.

A resolver that loads the zone answers NXDOMAIN for every blocked domain and its subdomains
(``name CNAME .`` and ``*.name CNAME .``), lets the allowed domains through (``rpz-passthru.``,
which also stops later policy zones from rewriting them: the allow list is meant to win), and
rewrites any answer that holds a blocked address or network (``rpz-ip`` triggers: the prefix
length, then the address's labels reversed, IPv6 words with ``zz`` for the ``::``). URLs,
email addresses and hashes have no place in DNS and are only counted in the header. The allow
list exported alone (``--list allow``) is a zone of ``rpz-passthru.`` rules only, to load before
other policy zones.

Owner names are relative and the apex is ``@``, so the same file serves whatever zone name the
resolver gives it (``zone "rpz.local" { type master; file "tocsin.rpz"; }`` in BIND,
``rpz: name: rpz.local zonefile: tocsin.rpz`` in Unbound, ``rpzFile("tocsin.rpz",
{policyName="rpz.local"})`` in the PowerDNS Recursor). The SOA serial is the export time in
seconds since the epoch, so it grows with every export and secondaries pick up the change.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from tocsin.respond.exporters import ExportData, register_exporter
from tocsin.respond.values import EntryKind, ListName, format_time

TTL = 300
SOA_TIMERS = "3600 600 86400 300"  # refresh, retry, expire, negative-answer TTL
# Room left for the zone name the resolver appends: a longer owner would not fit in 255 bytes.
ZONE_NAME_BUDGET = 40
_MAX_OWNER = 253 - ZONE_NAME_BUDGET


def rpz_ip_owner(value: str) -> str:
    """The ``rpz-ip`` trigger of an address or network (``10.0.0.1`` as ``32.1.0.0.10.rpz-ip``)."""
    network = ipaddress.ip_network(value, strict=False)
    if network.version == 4:
        labels = str(network.network_address).split(".")
    else:
        # the compressed form already puts '::' on the longest run of zero words (RFC 5952)
        left, double, right = network.network_address.compressed.partition("::")
        labels = [w for w in left.split(":") if w]
        if double:
            labels.append("zz")
            labels.extend(w for w in right.split(":") if w)
    return ".".join([str(network.prefixlen), *reversed(labels), "rpz-ip"])


def _is_reserved(domain: str) -> bool:
    # a name under rpz-ip, rpz-nsdname, ... would be read as another kind of trigger
    return domain.rpartition(".")[2].startswith("rpz-")


@dataclass(frozen=True, slots=True)
class RpzExporter:
    """Renders the block list as an RPZ zone file (relative owner names)."""

    name: str = "rpz"
    description: str = (
        "DNS Response Policy Zone for BIND, Unbound and PowerDNS: blocked domains and their "
        "subdomains answer NXDOMAIN, allowed ones pass, answers with blocked IPs are rewritten"
    )
    media_type: str = "text/dns; charset=utf-8"

    def render(self, data: ExportData) -> str:
        """The zone: header comments, $TTL, SOA, NS, then passthru, domain and rpz-ip rules."""
        serial = int(data.generated_at.timestamp()) % (1 << 32)
        blocked: list[str] = []
        allowed: list[str] = []
        skipped = 0
        domains = data.values.get(EntryKind.DOMAIN, ())
        passes = data.allowed.get(EntryKind.DOMAIN, ())
        ip_action = "."
        if data.list is ListName.ALLOW:
            # the allow list alone: a zone of exceptions, loaded before other policy zones
            domains, passes, ip_action = (), domains, "rpz-passthru."
        for target, values, action in ((allowed, passes, "rpz-passthru."), (blocked, domains, ".")):
            for domain in values:
                if _is_reserved(domain) or len(domain) + 2 > _MAX_OWNER:
                    skipped += 1
                    continue
                target.append(f"{domain} CNAME {action}")
                target.append(f"*.{domain} CNAME {action}")
        ips = [f"{rpz_ip_owner(v)} CNAME {ip_action}" for v in data.values.get(EntryKind.IP, ())]
        elsewhere = {
            what: len(data.values.get(kind, ()))
            for kind, what in (
                (EntryKind.URL, "URLs"),
                (EntryKind.EMAIL, "email addresses"),
                (EntryKind.HASH, "hashes"),
            )
        }
        lines = [
            f"; tocsin {data.list.value} list as a Response Policy Zone (rpz)",
            f"; generated-at: {format_time(data.generated_at)}",
            f"; blocked domains: {len(blocked) // 2}, allowed domains (passthru): "
            f"{len(allowed) // 2}, {'allowed' if ip_action != '.' else 'blocked'} addresses and "
            f"networks: {len(ips)}",
            "; not expressible in DNS: "
            + ", ".join(f"{count} {what}" for what, count in elsewhere.items()),
        ]
        if skipped:
            lines.append(f"; left out: {skipped} names too long or under a reserved rpz- label")
        lines += [
            "; owner names are relative: load this file under any zone name",
            f"$TTL {TTL}",
            f"@ IN SOA localhost. hostmaster.localhost. ( {serial} {SOA_TIMERS} )",
            "@ IN NS localhost.",
        ]
        if allowed:
            lines += ["; allowed: answered as they are", *allowed]
        if blocked:
            lines += ["; blocked domains and their subdomains: NXDOMAIN", *blocked]
        if ips:
            what = "a blocked address: NXDOMAIN" if ip_action == "." else "an allowed address: kept"
            lines += [f"; answers holding {what}", *ips]
        return "".join(line + "\n" for line in lines)


register_exporter(RpzExporter(), replace=True)
