"""The one way a sensor asks DNS: offline by default, a real or an in-memory resolver on request.

Every sensor that needs DNS (SPF, DKIM and DMARC records, MX and PTR lookups) takes a
``Resolver`` from its caller and never opens a socket of its own, so an air-gapped install
stays silent unless ``TOCSIN_DNS_RESOLVER`` says otherwise (``resolver_from_setting``):

- ``OfflineResolver`` (the default) refuses every lookup with ``DnsOffline``;
- ``SystemResolver`` asks the system's servers, or the ones given, through dnspython, and
  caches answers for their TTL (bounded in time and size, failures briefly too, so a dead
  server does not cost its timeout on every message);
- ``StaticResolver`` answers from records in memory: the seam tests use, and a local zone
  file for networks without DNS (``file:/path/zone.txt``).

A lookup returns its records or raises ``DnsFailure`` with one of four kinds: ``nxdomain``
(the name does not exist, or cannot: an invalid name), ``nodata`` (the name exists without
records of the type), ``timeout`` and ``servfail`` (no usable answer: a temporary error).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.reversename

from tocsin.core.errors import ExternalServiceError, InvalidInputError

__all__ = [
    "DnsError",
    "DnsFailure",
    "DnsOffline",
    "FailureKind",
    "OfflineResolver",
    "RecordType",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
    "normalise_name",
    "parse_nameserver",
    "resolver_from_setting",
    "reverse_name",
]

FailureKind = Literal["nxdomain", "timeout", "servfail", "nodata"]
RecordType = Literal["TXT", "A", "AAAA", "MX", "PTR", "CNAME"]

CACHE_SIZE = 10_000  # answers kept per resolver
MAX_TTL = 3600.0  # a record is re-asked at least hourly, whatever its TTL says
NEGATIVE_TTL = 60.0  # nxdomain and nodata
FAILURE_TTL = 30.0  # timeout and servfail: short, but a dead server is not asked per message
MAX_CNAME = 8
_TYPES: frozenset[str] = frozenset(("TXT", "A", "AAAA", "MX", "PTR", "CNAME"))
_TEMPORARY: frozenset[str] = frozenset(("timeout", "servfail"))


class DnsError(ExternalServiceError):
    """A DNS lookup gave no records."""


class DnsOffline(DnsError):
    """No resolver is configured: tocsin does not ask DNS unless told to."""

    def __init__(self, name: str = "") -> None:
        super().__init__(
            "offline: no resolver configured (set TOCSIN_DNS_RESOLVER to system, server "
            "addresses or file:PATH)"
        )
        self.name = name


class DnsFailure(DnsError):
    """A lookup of ``name`` failed; ``kind`` says how (nxdomain, nodata, timeout, servfail)."""

    def __init__(self, name: str, kind: FailureKind, detail: str | None = None) -> None:
        message = f"DNS {kind} for {name!r}" + (f": {detail}" if detail else "")
        super().__init__(message)
        self.name = name
        self.kind: FailureKind = kind

    @property
    def is_temporary(self) -> bool:
        """True for timeout and servfail: asking again later may give an answer."""
        return self.kind in _TEMPORARY


@runtime_checkable
class Resolver(Protocol):
    """How a sensor asks DNS.

    Every method takes a domain name (any case, with or without the final dot, Unicode names
    in IDNA form or not) and returns the records' values; ``ptr`` takes an IP address. A
    method raises ``DnsOffline`` when no resolver is configured and ``DnsFailure`` when the
    lookup found nothing, never anything else for a bad name. CNAMEs are followed.
    """

    def txt(self, name: str) -> list[str]:
        """The TXT records, each record's strings joined (as SPF, DKIM and DMARC read them)."""
        ...

    def a(self, name: str) -> list[str]:
        """The IPv4 addresses."""
        ...

    def aaaa(self, name: str) -> list[str]:
        """The IPv6 addresses."""
        ...

    def mx(self, name: str) -> list[tuple[int, str]]:
        """The mail exchangers as (preference, host)."""
        ...

    def ptr(self, ip: str) -> list[str]:
        """The names of an IP address."""
        ...


def normalise_name(name: str) -> str:
    """A name in the form resolvers compare: lower case, ASCII (IDNA), no final dot."""
    text = name.strip().rstrip(".").lower()
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise DnsFailure(name, "nxdomain", "not a valid domain name") from exc
    labels = text.split(".")
    # a name that cannot exist is answered like one that does not: callers treat both alike
    if not text or len(text) > 253 or any(not 0 < len(label) < 64 for label in labels):
        raise DnsFailure(name, "nxdomain", "not a valid domain name")
    return text


def reverse_name(ip: str) -> str:
    """The ``in-addr.arpa`` or ``ip6.arpa`` name of an address."""
    try:
        address = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError as exc:
        raise DnsFailure(ip, "nxdomain", "not an IP address") from exc
    return dns.reversename.from_address(str(address)).to_text(omit_final_dot=True).lower()


class OfflineResolver:
    """The default: every lookup raises ``DnsOffline``, so nothing leaves the machine."""

    def txt(self, name: str) -> list[str]:
        """Raise ``DnsOffline``."""
        raise DnsOffline(name)

    def a(self, name: str) -> list[str]:
        """Raise ``DnsOffline``."""
        raise DnsOffline(name)

    def aaaa(self, name: str) -> list[str]:
        """Raise ``DnsOffline``."""
        raise DnsOffline(name)

    def mx(self, name: str) -> list[tuple[int, str]]:
        """Raise ``DnsOffline``."""
        raise DnsOffline(name)

    def ptr(self, ip: str) -> list[str]:
        """Raise ``DnsOffline``."""
        raise DnsOffline(ip)

    def __repr__(self) -> str:
        return "OfflineResolver()"


Values = tuple[object, ...]


class _AnswerCache:
    """Answers and failures by (name, type), each until its TTL, least recently used out first."""

    def __init__(self, size: int, max_ttl: float) -> None:
        self._size = size
        self._max_ttl = max_ttl
        self._entries: OrderedDict[tuple[str, str], tuple[float, Values | DnsFailure]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()  # one analyzer may be shared by worker threads

    def get(self, key: tuple[str, str]) -> Values | DnsFailure | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[str, str], value: Values | DnsFailure, ttl: float) -> None:
        ttl = min(max(ttl, 0.0), self._max_ttl)
        if ttl <= 0 or self._size <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class _RecordResolver:
    """The typed public methods over one ``_records(name, type)`` lookup."""

    def _records(self, name: str, rtype: RecordType) -> Values:
        raise NotImplementedError

    def txt(self, name: str) -> list[str]:
        """The TXT records, each record's strings joined."""
        return [str(v) for v in self._records(normalise_name(name), "TXT")]

    def a(self, name: str) -> list[str]:
        """The IPv4 addresses."""
        return [str(v) for v in self._records(normalise_name(name), "A")]

    def aaaa(self, name: str) -> list[str]:
        """The IPv6 addresses."""
        return [str(v) for v in self._records(normalise_name(name), "AAAA")]

    def mx(self, name: str) -> list[tuple[int, str]]:
        """The mail exchangers as (preference, host)."""
        found: list[tuple[int, str]] = []
        for value in self._records(normalise_name(name), "MX"):
            if isinstance(value, tuple) and len(value) == 2:
                found.append((int(value[0]), str(value[1])))
        return found

    def ptr(self, ip: str) -> list[str]:
        """The names of an IP address."""
        return [str(v) for v in self._records(reverse_name(ip), "PTR")]


class SystemResolver(_RecordResolver):
    """DNS through dnspython: the system's servers, or the ones given (``"10.0.0.53:5353"``)."""

    def __init__(
        self,
        nameservers: Sequence[str] | None = None,
        timeout: float = 2.0,
        *,
        cache_size: int = CACHE_SIZE,
        max_ttl: float = MAX_TTL,
    ) -> None:
        """Use ``nameservers`` (address or address:port) or else the system configuration."""
        try:
            self._resolver = dns.resolver.Resolver(configure=not nameservers)
        except dns.exception.DNSException as exc:
            raise ExternalServiceError(
                f"no system DNS configuration could be read ({exc}); give server addresses "
                "in TOCSIN_DNS_RESOLVER instead"
            ) from exc
        if nameservers:
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(*parse_nameserver(server)) for server in nameservers
            ]
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self._resolver.cache = None  # ours below is the only cache, so its bounds hold
        self.timeout = timeout
        self._cache = _AnswerCache(cache_size, max_ttl)

    @property
    def nameservers(self) -> list[str]:
        """The servers asked, as text."""
        return [str(ns) for ns in self._resolver.nameservers]

    def _records(self, name: str, rtype: RecordType) -> Values:
        key = (name, rtype)
        cached = self._cache.get(key)
        if isinstance(cached, DnsFailure):
            raise cached
        if cached is not None:
            return cached
        try:
            values, ttl = self._ask(name, rtype)
        except DnsFailure as failure:
            self._cache.put(key, failure, FAILURE_TTL if failure.is_temporary else NEGATIVE_TTL)
            raise
        self._cache.put(key, values, ttl)
        return values

    def _ask(self, name: str, rtype: RecordType) -> tuple[Values, float]:
        try:
            answer = self._resolver.resolve(
                name, rtype, search=False, raise_on_no_answer=False, lifetime=self.timeout
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.YXDOMAIN, dns.name.NameTooLong) as exc:
            raise DnsFailure(name, "nxdomain") from exc
        except dns.exception.Timeout as exc:
            raise DnsFailure(name, "timeout", f"no answer within {self.timeout:g} s") from exc
        except dns.resolver.NoAnswer as exc:
            raise DnsFailure(name, "nodata") from exc
        except dns.exception.DNSException as exc:  # NoNameservers, bad responses
            raise DnsFailure(name, "servfail", type(exc).__name__) from exc
        rrset = answer.rrset
        if rrset is None or len(rrset) == 0:
            raise DnsFailure(name, "nodata")
        return tuple(_rdata_value(rtype, rdata) for rdata in rrset), float(rrset.ttl)

    def __repr__(self) -> str:
        return f"SystemResolver({self.nameservers!r}, timeout={self.timeout!r})"


def _rdata_value(rtype: RecordType, rdata: object) -> object:
    """One record's value in the form the Resolver protocol returns."""
    if rtype == "TXT":
        strings: Sequence[bytes] = getattr(rdata, "strings", ())
        return b"".join(strings).decode("utf-8", "replace")
    if rtype in ("A", "AAAA"):
        return str(getattr(rdata, "address", ""))
    if rtype == "MX":
        exchange = getattr(rdata, "exchange", None)
        host = exchange.to_text(omit_final_dot=True) if exchange is not None else ""
        return (int(getattr(rdata, "preference", 0)), host.lower())
    target = getattr(rdata, "target", None)
    return target.to_text(omit_final_dot=True).lower() if target is not None else ""


def parse_nameserver(text: str) -> tuple[str, int]:
    """A server as (ip, port): ``10.0.0.53``, ``10.0.0.53:5353``, ``[2001:db8::53]:53``."""
    value = text.strip()
    port = 53
    host = value
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise InvalidInputError(f"not a DNS server address: {text!r}")
            port = _port(rest[1:], text)
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        port = _port(port_text, text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        raise InvalidInputError(
            f"not a DNS server address: {text!r} (give an IP address, optionally with :port)"
        ) from exc
    return str(address), port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidInputError(f"not a port in DNS server address {whole!r}")
    return int(text)


class StaticResolver(_RecordResolver):
    """Answers from records held in memory: ``{("example.com", "TXT"): ["v=spf1 -all"]}``.

    Types are TXT, A, AAAA, MX (``(10, "mx.example.com")`` or ``"10 mx.example.com"``),
    PTR (keyed by the address or its reverse name) and CNAME (followed). A name with
    records of other types, or with names below it, answers ``nodata``; any other name
    ``nxdomain``. The records are a dictionary already, so nothing more is cached.
    """

    def __init__(self, records: Mapping[tuple[str, str], Sequence[object]]) -> None:
        """Index the records by normalised name and type; invalid values raise."""
        table: dict[tuple[str, str], list[object]] = {}
        for (raw_name, raw_type), values in records.items():
            rtype = raw_type.strip().upper()
            if rtype not in _TYPES:
                raise InvalidInputError(f"unsupported record type {raw_type!r} for {raw_name!r}")
            name = _static_name(raw_name, rtype)
            if isinstance(values, str | bytes):
                values = [values]
            table.setdefault((name, rtype), []).extend(
                _static_value(rtype, v, raw_name) for v in values
            )
        self._table: dict[tuple[str, str], Values] = {k: tuple(v) for k, v in table.items()}
        names: set[str] = set()
        for name, _rtype in self._table:
            labels = name.split(".")
            # every name above a record exists too (an empty non-terminal answers nodata)
            names.update(".".join(labels[i:]) for i in range(len(labels)))
        self._names = frozenset(names)

    @classmethod
    def from_zone_text(cls, text: str, *, source: str | None = None) -> StaticResolver:
        """Read ``name [ttl] [IN] TYPE value`` lines; ``#`` and ``;`` lines are comments.

        A TXT value is either one or more quoted strings (joined, as DNS does) or the rest of
        the line as written (so ``v=DMARC1; p=reject`` needs no quotes).
        """
        records: dict[tuple[str, str], list[object]] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                continue
            if stripped.startswith("$"):
                raise InvalidInputError(
                    f"zone directives such as {stripped.split()[0]!r} are not supported: "
                    "write every name in full",
                    source=source,
                    line=number,
                )
            name, rtype, value = _zone_line(stripped, source, number)
            try:
                _static_value(rtype, value, name)
            except InvalidInputError as exc:
                raise InvalidInputError(exc.message, source=source, line=number) from exc
            records.setdefault((name, rtype), []).append(value)
        return cls(records)

    @classmethod
    def from_zone_file(cls, path: Path) -> StaticResolver:
        """Read a zone file (see ``from_zone_text``)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read the DNS zone file {str(path)!r}: {exc}") from exc
        return cls.from_zone_text(text, source=str(path))

    def _records(self, name: str, rtype: RecordType) -> Values:
        current = name
        for _ in range(MAX_CNAME + 1):
            found = self._table.get((current, rtype))
            if found:
                return found
            alias = self._table.get((current, "CNAME"))
            if not alias or rtype == "CNAME":
                break
            current = str(alias[0])
        else:
            raise DnsFailure(name, "servfail", "CNAME chain too long")
        if current in self._names:
            raise DnsFailure(name, "nodata")
        raise DnsFailure(name, "nxdomain")

    def __len__(self) -> int:
        return sum(len(v) for v in self._table.values())

    def __repr__(self) -> str:
        return f"StaticResolver({len(self)} records)"


def _static_name(raw: str, rtype: str) -> str:
    if rtype == "PTR" and _is_ip(raw):
        return reverse_name(raw)
    try:
        return normalise_name(raw)
    except DnsFailure as exc:
        raise InvalidInputError(f"not a valid domain name: {raw!r}") from exc


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


def _static_value(rtype: str, value: object, name: str) -> object:
    """One record value checked and put in the form the Resolver protocol returns."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if rtype == "TXT":
        return str(value)
    if rtype == "MX":
        if isinstance(value, str):
            parts = value.split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise InvalidInputError(f"MX for {name!r} must be 'preference host': {value!r}")
            return (int(parts[0]), parts[1].rstrip(".").lower())
        if isinstance(value, tuple) and len(value) == 2:
            return (int(value[0]), str(value[1]).rstrip(".").lower())
        raise InvalidInputError(f"MX for {name!r} must be (preference, host): {value!r}")
    text = str(value).strip()
    if rtype in ("A", "AAAA"):
        try:
            address = ipaddress.ip_address(text)
        except ValueError as exc:
            raise InvalidInputError(f"{rtype} for {name!r} is not an address: {text!r}") from exc
        if (address.version == 4) != (rtype == "A"):
            raise InvalidInputError(f"{rtype} for {name!r} has the wrong address family: {text!r}")
        return str(address)
    return text.rstrip(".").lower()  # PTR, CNAME: a name


def _zone_line(line: str, source: str | None, number: int) -> tuple[str, str, str]:
    """(name, TYPE, value) of one zone line; TTL and class fields are skipped."""
    name, *rest = line.split(None, 1)
    fields = rest[0].split(None, 1) if rest else []
    while fields and (fields[0].isdigit() or fields[0].upper() == "IN"):
        fields = fields[1].split(None, 1) if len(fields) > 1 else []
    rtype = fields[0].upper() if fields else ""
    value = fields[1] if len(fields) > 1 else ""
    if rtype not in _TYPES:
        raise InvalidInputError(
            f"expected 'name TYPE value' with TYPE one of {', '.join(sorted(_TYPES))}: {line!r}",
            source=source,
            line=number,
        )
    value = value.strip()
    if rtype == "TXT" and value.startswith('"'):
        value = _quoted_strings(value, source, number)
    if not value:
        raise InvalidInputError(f"no value in {line!r}", source=source, line=number)
    return name, rtype, value


def _quoted_strings(text: str, source: str | None, number: int) -> str:
    """Join ``"a" "b"`` into ``ab`` (with ``\\"`` and ``\\\\`` escapes); a comment may follow."""
    out: list[str] = []
    inside = False
    escaped = False
    for char in text:
        if inside:
            if escaped:
                out.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                inside = False
            else:
                out.append(char)
        elif char == '"':
            inside = True
        elif char in ";#":
            break
        elif not char.isspace():
            raise InvalidInputError(
                f"text outside quotes in a quoted TXT value: {text!r}", source=source, line=number
            )
    if inside:
        raise InvalidInputError(f"unclosed quote in {text!r}", source=source, line=number)
    return "".join(out)


def resolver_from_setting(value: str | None) -> Resolver:
    """The resolver ``TOCSIN_DNS_RESOLVER`` names: off, system, server addresses or file:PATH."""
    text = (value or "").strip()
    lowered = text.lower()
    if lowered in ("", "off", "none", "offline"):
        return OfflineResolver()
    if lowered == "system":
        return SystemResolver()
    if lowered.startswith("file:"):
        path = text[len("file:") :].strip()
        if not path:
            raise InvalidInputError("TOCSIN_DNS_RESOLVER=file: needs a path, as file:/etc/zone.txt")
        return StaticResolver.from_zone_file(Path(path).expanduser())
    servers = [part.strip() for part in text.split(",") if part.strip()]
    if not servers:
        raise InvalidInputError(f"TOCSIN_DNS_RESOLVER names no DNS server: {value!r}")
    return SystemResolver(servers)
