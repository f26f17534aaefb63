"""Block-list exports for firewalls: an nftables set, an ipset restore file, an EDL.

The block list's addresses and networks (expired and allowed ones already taken out by the
service, networks split around allowed holes) rendered three ways:

``nftables``
    a file ``nft -f`` loads: table ``inet tocsin`` with the interval sets ``blocklist_v4`` and
    ``blocklist_v6``, created when missing, then flushed and refilled in the same transaction
    (``nft -f`` applies a file atomically, so packets never meet an empty set). No chain is
    created: the ruleset decides what a listed address means, for instance
    ``ip saddr @blocklist_v4 drop`` in an input chain of table ``inet tocsin`` or, from another
    table, a copy of the set. Overlapping and adjacent networks are merged first, since an
    interval set refuses overlaps.
``ipset``
    an ``ipset restore`` file: sets ``tocsin-v4`` and ``tocsin-v6`` (``hash:net``) created when
    missing, filled through temporary sets that are then swapped in and destroyed, so iptables
    rules that match the sets (``-m set --match-set tocsin-v4 src -j DROP``) never see an empty
    set. Every set has the same fixed ``maxelem`` (``IPSET_MAXELEM``): ``create -exist`` refuses
    an existing set whose ``maxelem`` differs, so a size that followed the list would break the
    next reload (the cap costs no memory).
``edl``
    the plain External Dynamic List that Palo Alto (EDL), Fortinet (threat feed) and Check Point
    fetch over HTTP(S): one address or CIDR network per line, IPv4 first, no comments (some of
    them refuse comment lines).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from tocsin.respond.exporters import ExportData, register_exporter
from tocsin.respond.values import EntryKind, format_time

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPSET_MAXELEM = 1 << 24  # the same for every set and every export (see the module docstring)


def split_networks(values: Iterable[str]) -> tuple[list[Network], list[Network]]:
    """IPv4 and IPv6 networks, each version collapsed (overlaps and neighbours merged)."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for value in values:
        network = ipaddress.ip_network(value, strict=False)
        if isinstance(network, ipaddress.IPv4Network):
            v4.append(network)
        else:
            v6.append(network)
    return list(ipaddress.collapse_addresses(v4)), list(ipaddress.collapse_addresses(v6))


def _text(network: Network) -> str:
    return (
        str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)
    )


def _elements(networks: list[Network]) -> str:
    return ", ".join(_text(n) for n in networks)


@dataclass(frozen=True, slots=True)
class NftablesExporter:
    """The block list as two interval sets of table ``inet tocsin``."""

    name: str = "nftables"
    description: str = "nftables sets blocklist_v4/blocklist_v6 in table inet tocsin (nft -f)"
    media_type: str = "text/plain; charset=utf-8"
    table: str = "tocsin"

    def render(self, data: ExportData) -> str:
        """The nft script: create if missing, flush, refill."""
        v4, v6 = split_networks(data.of(EntryKind.IP))
        lines = [
            f"# tocsin {data.list.value} list (nftables)",
            f"# generated-at: {format_time(data.generated_at)}",
            f"# count: {len(v4)} IPv4, {len(v6)} IPv6 (after merging overlaps)",
            "# use: nft -f this-file; then match @blocklist_v4 / @blocklist_v6 in your rules",
            f"table inet {self.table} {{",
            "  set blocklist_v4 { type ipv4_addr; flags interval; }",
            "  set blocklist_v6 { type ipv6_addr; flags interval; }",
            "}",
            f"flush set inet {self.table} blocklist_v4",
            f"flush set inet {self.table} blocklist_v6",
        ]
        for name, networks in (("blocklist_v4", v4), ("blocklist_v6", v6)):
            if networks:
                lines.append(f"add element inet {self.table} {name} {{ {_elements(networks)} }}")
        return "".join(line + "\n" for line in lines)


@dataclass(frozen=True, slots=True)
class IpsetExporter:
    """The block list as an ``ipset restore`` file with a swap-based refresh."""

    name: str = "ipset"
    description: str = (
        "ipset restore file: hash:net sets tocsin-v4/tocsin-v6, swapped in atomically"
    )
    media_type: str = "text/plain; charset=utf-8"

    def render(self, data: ExportData) -> str:
        """Create the sets if missing, fill temporaries, swap them in, destroy the old ones."""
        v4, v6 = split_networks(data.of(EntryKind.IP))
        lines = [
            f"# tocsin {data.list.value} list (ipset)",
            f"# generated-at: {format_time(data.generated_at)}",
            f"# count: {len(v4)} IPv4, {len(v6)} IPv6",
            "# use: ipset restore < this-file",
        ]
        for name, family, networks in (("tocsin-v4", "inet", v4), ("tocsin-v6", "inet6", v6)):
            temporary = f"{name}-new"
            spec = f"hash:net family {family} maxelem {IPSET_MAXELEM}"
            lines += [
                f"create {name} {spec} -exist",
                f"create {temporary} {spec} -exist",
                f"flush {temporary}",
            ]
            lines += [f"add {temporary} {_text(n)} -exist" for n in networks]
            lines += [f"swap {temporary} {name}", f"destroy {temporary}"]
        return "".join(line + "\n" for line in lines)


@dataclass(frozen=True, slots=True)
class EdlExporter:
    """The block list as a plain External Dynamic List (addresses and CIDRs, no comments)."""

    name: str = "edl"
    description: str = "External Dynamic List: one IP or CIDR per line (Palo Alto, Fortinet, ...)"
    media_type: str = "text/plain; charset=utf-8"

    def render(self, data: ExportData) -> str:
        """IPv4 networks, then IPv6, one per line."""
        v4, v6 = split_networks(data.of(EntryKind.IP))
        return "".join(_text(n) + "\n" for n in [*v4, *v6])


for _exporter in (NftablesExporter(), IpsetExporter(), EdlExporter()):
    register_exporter(_exporter)
