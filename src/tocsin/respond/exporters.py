"""Block list exports: the ``Exporter`` protocol, its registry, the line formats, IP splitting.

Firewalls, resolvers and proxies read a list as text in their own format. The rules that decide
what a list holds (expiry, removal, allow beats block) are applied once, by the service
(``tocsin.respond.blocklist``), into an ``ExportData``; an exporter only renders it, so a new
format (RPZ, nftables, ipset, EDL in later issues) is one small object registered here and
never re-implements the rules. This module needs no database; of tocsin it imports only the
core errors and ``tocsin.respond.values``, so plugin formats may import it (or the service,
which re-exports the public names) without a cycle.
"""

from __future__ import annotations

import builtins
import importlib
import ipaddress
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from tocsin.core.errors import ConflictError, InvalidInputError
from tocsin.respond.values import EntryKind, ListName, format_time


@dataclass(frozen=True, slots=True)
class ExportData:
    """What an exporter renders: the effective values of one list at one moment.

    ``values`` holds, per kind and sorted, the live values of ``list``; for the block list,
    values also allowed are left out and blocked networks are split around allowed networks
    inside them. ``allowed`` holds the live allow list as it is, for formats that can state
    exceptions (RPZ ``rpz-passthru.``).
    """

    list: ListName
    generated_at: datetime
    values: Mapping[EntryKind, tuple[str, ...]]
    allowed: Mapping[EntryKind, tuple[str, ...]]

    def of(self, *kinds: EntryKind) -> builtins.list[str]:
        """The values of these kinds, kind by kind in the order given."""
        return [value for kind in kinds for value in self.values.get(kind, ())]


@runtime_checkable
class Exporter(Protocol):
    """Renders a list in one text format; registered in ``EXPORTERS`` under ``name``.

    Contract:
        * ``render(data)`` is a pure function of ``data``: no database, no clock (the time
          is ``data.generated_at``), no network. It returns the whole text, each line ending
          in ``\\n``; an empty list gives an empty text, or only the format's header.
        * It writes only what ``data.values`` holds: expiry, removal and allow-list rules are
          already applied. Values are normalised (domains as A-labels, ``/32`` networks as
          addresses), so a format need not check them again.
        * ``media_type`` is what the API answers with; ``description`` is one line of help.
    """

    @property
    def name(self) -> str:
        """The format name (``--format``, ``?format=``)."""
        ...

    @property
    def description(self) -> str:
        """One line of help."""
        ...

    @property
    def media_type(self) -> str:
        """The HTTP content type of the text."""
        ...

    def render(self, data: ExportData) -> str:
        """The list in this format."""
        ...


@dataclass(frozen=True, slots=True)
class LineExporter:
    """One value per line from some kinds, with a ``#`` comment header where the format has one."""

    name: str
    description: str
    kinds: tuple[EntryKind, ...]
    line: str = "{value}"
    comments: bool = False
    media_type: str = "text/plain; charset=utf-8"

    def render(self, data: ExportData) -> str:
        """The values, one per line, after the header when the format allows comments."""
        lines = [self.line.format(value=value) for value in data.of(*self.kinds)]
        if self.comments:
            header = [
                f"# tocsin {data.list.value} list ({self.name})",
                f"# generated-at: {format_time(data.generated_at)}",
                f"# count: {len(lines)}",
            ]
            lines = header + lines
        return "".join(line + "\n" for line in lines)


EXPORTERS: dict[str, Exporter] = {
    e.name: e
    for e in (
        LineExporter(
            "domains",
            "one domain per line (covering its subdomains), with a # header",
            (EntryKind.DOMAIN,),
            comments=True,
        ),
        LineExporter(
            "hosts",
            "hosts-file lines '0.0.0.0 domain' (exact names only), with a # header",
            (EntryKind.DOMAIN,),
            line="0.0.0.0 {value}",
            comments=True,
        ),
        LineExporter("urls", "one URL per line", (EntryKind.URL,)),
        LineExporter("emails", "one email address per line", (EntryKind.EMAIL,)),
        LineExporter("ips", "one address or CIDR network per line", (EntryKind.IP,)),
        LineExporter("hashes", "one MD5, SHA-1 or SHA-256 digest per line", (EntryKind.HASH,)),
        LineExporter("plain", "every value of every kind, one per line", tuple(EntryKind)),
    )
}
"""Export formats by name; ``register_exporter`` adds one."""

# Modules that register more formats when imported; ``get_exporter`` imports them on first
# use, so they may import this module without a cycle. The DNS and network issues add theirs
# here (RPZ, nftables, ipset, EDL).
EXPORTER_MODULES: tuple[str, ...] = ("tocsin.respond.rpz", "tocsin.respond.netfw")
_loaded: builtins.list[bool] = []


def register_exporter(exporter: Exporter, *, replace: bool = False) -> None:
    """Add an export format; a second one of the same name is refused unless ``replace``."""
    if exporter.name in EXPORTERS and not replace:
        raise ConflictError(f"an export format named {exporter.name!r} is already registered")
    EXPORTERS[exporter.name] = exporter


def export_formats() -> builtins.list[str]:
    """The names of every export format, sorted."""
    _load_exporter_modules()
    return sorted(EXPORTERS)


def get_exporter(name: str) -> Exporter:
    """The exporter of a format name."""
    _load_exporter_modules()
    found = EXPORTERS.get(name.strip().lower())
    if found is None:
        raise InvalidInputError(
            f"unknown export format {name!r}: use one of {', '.join(sorted(EXPORTERS))}"
        )
    return found


def _load_exporter_modules() -> None:
    if not _loaded:
        for module in EXPORTER_MODULES:
            importlib.import_module(module)
        _loaded.append(True)


def _ip_sort_key(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int, int]:
    return network.version, int(network.network_address), network.prefixlen


def effective_ips(blocked: Iterable[str], allowed: Iterable[str]) -> tuple[str, ...]:
    """Blocked networks without the values allowed: equal ones dropped, narrower ones cut out."""
    allow = sorted({ipaddress.ip_network(v) for v in allowed}, key=_ip_sort_key)
    starts = [(n.version, int(n.network_address)) for n in allow]
    result: builtins.list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for value in blocked:
        network = ipaddress.ip_network(value)
        first = (network.version, int(network.network_address))
        last = (network.version, int(network.broadcast_address))
        inside = [
            a
            for a in allow[bisect_left(starts, first) : bisect_right(starts, last)]
            if a.prefixlen >= network.prefixlen
        ]
        if any(a.prefixlen == network.prefixlen for a in inside):
            continue  # the same network is allowed: allow wins a tie
        pieces = [network]
        # mypy cannot see that a hole has its network's version: it lies in that network's range
        for hole in inside:
            pieces = [
                part
                for piece in pieces
                for part in (
                    piece.address_exclude(hole)  # type: ignore[arg-type]  # same version
                    if hole.subnet_of(piece)  # type: ignore[arg-type]  # same version
                    else (piece,)
                )
            ]
        result.extend(pieces)
    ordered = sorted(set(result), key=_ip_sort_key)
    return tuple(
        str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in ordered
    )


def sorted_values(kind: EntryKind, values: Iterable[str]) -> tuple[str, ...]:
    """Values of one kind in export order: networks by version, address, prefix; others as text."""
    if kind is EntryKind.IP:
        networks = sorted((ipaddress.ip_network(v) for v in values), key=_ip_sort_key)
        return tuple(
            str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in networks
        )
    return tuple(sorted(values))
