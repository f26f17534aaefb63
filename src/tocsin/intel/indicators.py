"""Indicators of compromise (ip, domain, url, email, hashes, JA3/JA4) and how to match them.

An ``Indicator`` keeps its provenance (the feed it came from, when it was added, when it
expires, its tags) so that every hit can say where it comes from. Values are normalised once,
when they are made, and an ``IndicatorSet`` indexes them in dictionaries: a lookup costs a
few dict probes whatever the size of the feeds (a domain walks its labels, an address its
network prefixes), so a sensor can match every event against millions of indicators.

The feed readers (``parse_feed``, ``load_feed``) take the formats threat feeds come in
(one value a line, hosts files, adblock rules, CSV exports as URLhaus and ThreatFox publish
them, JSON, DNS Response Policy Zones, STIX 2.1 bundles) and turn every line they cannot read
into an issue instead of failing. The RPZ and STIX readers live in ``tocsin.intel.rpzfeed``
and ``tocsin.intel.stixfeed``; ``parse_feed`` is the one entry point for every format.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

import idna
import orjson

from tocsin.core.errors import InvalidInputError

IndicatorKind = Literal["ip", "domain", "url", "email", "md5", "sha1", "sha256", "ja3", "ja4"]
KINDS: frozenset[str] = frozenset(get_args(IndicatorKind))
HASH_KINDS = frozenset({"md5", "sha1", "sha256"})
_HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "ja3": 32}
_KIND_BY_HASH_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}
_HEX = frozenset("0123456789abcdef")
_MAX_DOMAIN = 255  # 253 and a trailing dot, before normalisation
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}

# JA4 (FoxIO): protocol, TLS version, SNI flag, cipher and extension counts, ALPN, then two
# truncated SHA-256 hashes, e.g. t13d1516h2_8daaf6152771_e5627efa2ab1
_JA4 = re.compile(r"^[tqd][0-9a-z]{2}[di][0-9]{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_EMAIL_LOCAL = re.compile(r"^[^\s@<>()\[\],;:\"]{1,64}$")


class IndicatorValueError(ValueError):
    """A value that cannot be an indicator of the kind asked for."""


# -- normalisation ---------------------------------------------------------------------


def ascii_domain(domain: str) -> str:
    """A domain in lower case with A-labels (``xn--``), without a trailing dot; not validated."""
    text = domain.strip().lower().rstrip(".")
    if text.isascii():
        return text
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    # IDNA 2008 refuses symbols (emoji domains exist and phishing uses them); Python's
    # IDNA 2003 codec still encodes them, so both sides of a match get the same A-labels
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise IndicatorValueError(f"{domain!r} is not a valid internationalised domain") from exc


def normalize_domain(domain: str, *, require_dot: bool = False) -> str:
    """Lower case, A-labels, no trailing dot nor leading ``*.``; raises IndicatorValueError."""
    text = domain.strip()
    if text.startswith("*."):
        text = text[2:]
    value = ascii_domain(text)
    if not value or len(value) > 253:
        raise IndicatorValueError(f"{domain!r} is not a domain name (empty or too long)")
    labels = value.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise IndicatorValueError(f"{domain!r} is not a domain name (bad label)")
    if require_dot and (len(labels) < 2 or labels[-1].isdigit()):
        raise IndicatorValueError(f"{domain!r} is not a domain name (no top-level domain)")
    return value


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address from ``1.2.3.4``, ``[::1]`` or an IPv4-mapped IPv6 address (as IPv4)."""
    address = ipaddress.ip_address(text.strip().strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalize_ip(text: str) -> str:
    """An address or a network in canonical form (``10.0.0.0/8``; a /32 becomes the address)."""
    value = text.strip()
    try:
        if "/" in value:
            network = ipaddress.ip_network(value, strict=False)
            if network.prefixlen == network.max_prefixlen:
                return str(network.network_address)
            return str(network)
        return str(parse_ip(value))
    except ValueError as exc:
        raise IndicatorValueError(f"{text!r} is not an IP address or network") from exc


def _url_parts(url: str) -> tuple[str, str, str, str, str]:
    """(scheme, host, netloc, path, query) of a URL, normalised; raises IndicatorValueError."""
    text = url.strip()
    if "://" not in text:
        # feeds often list "evil.example/path" without a scheme
        text = "http://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise IndicatorValueError(f"{url!r} is not a URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if not _SCHEME.match(scheme):
        raise IndicatorValueError(f"{url!r} is not a URL (bad scheme)")
    hostname = parts.hostname
    if not hostname:
        raise IndicatorValueError(f"{url!r} is not a URL (no host)")
    if ":" in hostname:
        try:
            host = f"[{ipaddress.IPv6Address(hostname).compressed}]"
        except ValueError as exc:
            raise IndicatorValueError(f"{url!r} has a bad IPv6 host") from exc
    else:
        host = ascii_domain(hostname)
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return scheme, host, netloc, parts.path or "/", parts.query


def normalize_url(url: str) -> str:
    """Scheme and host in lower case, IDNA host, default port, userinfo and fragment dropped."""
    scheme, _, netloc, path, query = _url_parts(url)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def normalize_email(address: str) -> str:
    """``local@domain`` in lower case with an IDNA domain (``mailto:`` and ``<>`` removed)."""
    text = address.strip().strip("<>").strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    local, at, domain = text.rpartition("@")
    if not at or not _EMAIL_LOCAL.match(local):
        raise IndicatorValueError(f"{address!r} is not an email address")
    return f"{local.lower()}@{normalize_domain(domain, require_dot=True)}"


def normalize_hash(value: str, kind: str) -> str:
    """A hex digest in lower case, checked against the length of its kind."""
    text = value.strip().lower()
    expected = _HASH_LENGTHS[kind]
    if len(text) != expected or not _HEX.issuperset(text):
        raise IndicatorValueError(f"{value!r} is not a {kind} ({expected} hex digits)")
    return text


def normalize_value(kind: str, value: str) -> str:
    """The canonical form of a value of a kind; raises IndicatorValueError when it is not one."""
    if kind == "domain":
        return normalize_domain(value)
    if kind == "url":
        return normalize_url(value)
    if kind == "ip":
        return normalize_ip(value)
    if kind == "email":
        return normalize_email(value)
    if kind in _HASH_LENGTHS:
        return normalize_hash(value, kind)
    if kind == "ja4":
        text = value.strip().lower()
        if not _JA4.match(text):
            raise IndicatorValueError(f"{value!r} is not a JA4 fingerprint")
        return text
    raise IndicatorValueError(f"unknown indicator kind {kind!r}: use one of {sorted(KINDS)}")


def detect_kind(value: str) -> IndicatorKind | None:
    """The kind a bare value most likely is (a 32-digit hex is md5, never ja3), or None."""
    text = value.strip()
    if not text or any(c.isspace() for c in text):
        return None
    lowered = text.lower()
    head = lowered.split("/", 1)[0]
    if "://" in lowered:
        return "url"
    if "@" in text and "/" not in text:
        return "email"
    if head[:1].isdigit() or ":" in head or head.startswith("["):
        try:
            normalize_ip(lowered)
        except IndicatorValueError:
            pass
        else:
            return "ip"
    if len(lowered) in _KIND_BY_HASH_LENGTH and _HEX.issuperset(lowered):
        return _KIND_BY_HASH_LENGTH[len(lowered)]  # type: ignore[return-value]  # a Literal
    if _JA4.match(lowered):
        return "ja4"
    host, colon, port = head.rpartition(":")
    if "/" in lowered or (colon and port.isdigit()):
        # a path or a port ("evil.example:8080") makes a bare host a URL
        return "url" if _is_domain(host if colon else head) else None
    return "domain" if _is_domain(lowered) else None


def _is_domain(text: str) -> bool:
    try:
        normalize_domain(text, require_dot=True)
    except IndicatorValueError:
        return False
    return True


# -- the indicator ---------------------------------------------------------------------


def _aware(moment: datetime | None) -> datetime | None:
    # a naive time from a feed is UTC by convention; mixing naive and aware would raise
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator with its provenance; the value is normalised on creation.

    ``description``, ``confidence`` (0-100, as STIX has it) and ``reference`` (the feed's own
    id of the record, such as a STIX id) only inform the analyst: two indicators that differ
    only in them are the same indicator.
    """

    kind: IndicatorKind
    value: str
    source: str = ""
    added: datetime | None = None
    expires: datetime | None = None
    tags: tuple[str, ...] = ()
    description: str = field(default="", compare=False)
    confidence: int | None = field(default=None, compare=False)
    reference: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise IndicatorValueError(f"unknown indicator kind {self.kind!r}")
        # frozen: the normalised value and aware times are set once, here
        object.__setattr__(self, "value", normalize_value(self.kind, self.value))
        object.__setattr__(self, "added", _aware(self.added))
        object.__setattr__(self, "expires", _aware(self.expires))
        object.__setattr__(self, "tags", tuple(self.tags))

    def is_active(self, now: datetime) -> bool:
        """Whether the indicator has not expired at ``now``."""
        return self.expires is None or self.expires > now


# -- the set ---------------------------------------------------------------------------

_Index = dict[tuple[str, str], list[Indicator]]


def _url_keys(url: str) -> tuple[str, str, str] | None:
    """(key, key without the query, host) of a URL; the scheme is left out on purpose.

    Phishing kits answer on http and https alike and feeds list either, so both are the same
    resource; a trailing slash does not make another page either.
    """
    try:
        _, host, netloc, path, query = _url_parts(url)
    except IndicatorValueError:
        return None
    base = netloc + path.rstrip("/")
    return (f"{base}?{query}" if query else base), base, host


class IndicatorSet:
    """Indicators indexed for constant-time matching; expired ones never match."""

    __slots__ = ("_clock", "_index", "_items", "_networks", "_seen")

    def __init__(
        self,
        indicators: Iterable[Indicator] = (),
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._items: list[Indicator] = []
        self._seen: set[Indicator] = set()
        self._index: _Index = {}
        # version -> prefix length -> network as int -> indicators
        self._networks: dict[int, dict[int, dict[int, list[Indicator]]]] = {4: {}, 6: {}}
        self.extend(indicators)

    def add(self, indicator: Indicator) -> bool:
        """Add one indicator; False when the very same one (source included) was there."""
        if indicator in self._seen:
            return False
        self._seen.add(indicator)
        self._items.append(indicator)
        kind, value = indicator.kind, indicator.value
        if kind == "ip" and "/" in value:
            network = ipaddress.ip_network(value)
            table = self._networks[network.version].setdefault(network.prefixlen, {})
            table.setdefault(int(network.network_address), []).append(indicator)
            return True
        if kind == "url":
            keys = _url_keys(value)
            key = ("url", keys[0] if keys else value)
        elif kind in HASH_KINDS:
            key = ("hash", value)
        else:
            key = (kind, value)
        self._index.setdefault(key, []).append(indicator)
        return True

    def extend(self, indicators: Iterable[Indicator]) -> int:
        """Add many; returns how many were new."""
        return sum(self.add(indicator) for indicator in indicators)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Indicator]:
        return iter(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def kinds(self) -> dict[str, int]:
        """How many indicators of each kind the set holds."""
        counts: dict[str, int] = {}
        for indicator in self._items:
            counts[indicator.kind] = counts.get(indicator.kind, 0) + 1
        return counts

    def _live(self, hits: list[Indicator], found: list[Indicator], now: datetime | None) -> None:
        for indicator in hits:
            if indicator.expires is not None:
                if now is None:
                    now = self._clock()
                if indicator.expires <= now:
                    continue
            if indicator not in found:
                found.append(indicator)

    def match_domain(self, domain: str, *, now: datetime | None = None) -> list[Indicator]:
        """Indicators listing the domain or one of its parents (evil.com covers a.evil.com)."""
        found: list[Indicator] = []
        if len(domain) > _MAX_DOMAIN:
            return found  # no such host in DNS, and the walk below would be quadratic
        try:
            name = ascii_domain(domain)
        except IndicatorValueError:
            return found
        if name.startswith("*."):
            name = name[2:]
        index = self._index
        start = 0
        while True:
            hits = index.get(("domain", name[start:]))
            if hits:
                self._live(hits, found, now)
            dot = name.find(".", start)
            if dot < 0:
                return found
            start = dot + 1

    def match_ip(self, ip: str, *, now: datetime | None = None) -> list[Indicator]:
        """Indicators listing the address or a network that holds it."""
        found: list[Indicator] = []
        try:
            address = parse_ip(ip)
        except ValueError:
            return found
        hits = self._index.get(("ip", str(address)))
        if hits:
            self._live(hits, found, now)
        networks = self._networks[address.version]
        if networks:
            number, width = int(address), address.max_prefixlen
            for prefixlen, table in networks.items():
                mask = ((1 << prefixlen) - 1) << (width - prefixlen)
                hits = table.get(number & mask)
                if hits:
                    self._live(hits, found, now)
        return found

    def match_url(self, url: str, *, now: datetime | None = None) -> list[Indicator]:
        """The URL as listed, then without its query, then its host (domain or address)."""
        found: list[Indicator] = []
        keys = _url_keys(url)
        if keys is None:
            return found
        full, base, host = keys
        index = self._index
        for key in (full, base) if full != base else (full,):
            hits = index.get(("url", key))
            if hits:
                self._live(hits, found, now)
        if host.startswith("[") or host[-1:].isdigit():
            # no top-level domain ends in a digit: this host is an address
            found.extend(h for h in self.match_ip(host, now=now) if h not in found)
            return found
        found.extend(h for h in self.match_domain(host, now=now) if h not in found)
        return found

    def match_hash(self, digest: str, *, now: datetime | None = None) -> list[Indicator]:
        """Indicators listing an md5, sha1 or sha256 digest."""
        found: list[Indicator] = []
        hits = self._index.get(("hash", digest.strip().lower()))
        if hits:
            self._live(hits, found, now)
        return found

    def match_fingerprint(self, value: str, *, now: datetime | None = None) -> list[Indicator]:
        """Indicators listing a JA3 (md5 form) or JA4 TLS client fingerprint."""
        found: list[Indicator] = []
        text = value.strip().lower()
        for kind in ("ja3", "ja4"):
            hits = self._index.get((kind, text))
            if hits:
                self._live(hits, found, now)
        return found

    def match_email(self, address: str, *, now: datetime | None = None) -> list[Indicator]:
        """Indicators listing the address, then its domain (or a parent of it)."""
        found: list[Indicator] = []
        try:
            normal = normalize_email(address)
        except IndicatorValueError:
            return found
        hits = self._index.get(("email", normal))
        if hits:
            self._live(hits, found, now)
        found.extend(
            h for h in self.match_domain(normal.rsplit("@", 1)[1], now=now) if h not in found
        )
        return found


# -- feeds -----------------------------------------------------------------------------

FeedFormat = Literal["plain", "hosts", "adblock", "csv", "json", "jsonl", "rpz", "stix"]
FORMATS: frozenset[str] = frozenset(get_args(FeedFormat))

_COMMENTS = ("#", ";", "//")
_INLINE_COMMENT = re.compile(r"\s+#")
_IP_PORT = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}:\d{1,5}$")
_ADBLOCK = re.compile(r"^\|\|([^\s/^$|*]+)\^?(?:\$.*)?$")
_LOCAL_NAMES = frozenset(
    "localhost localhost.localdomain local localdomain broadcasthost ip6-localhost "
    "ip6-loopback ip6-localnet ip6-mcastprefix ip6-allnodes ip6-allrouters ip6-allhosts "
    "0.0.0.0".split()
)
_NO_VALUE = frozenset({"", "none", "null", "n/a", "na", "-"})


def _names(kinds: dict[str | None, str]) -> dict[str, str | None]:
    return {name: kind for kind, names in kinds.items() for name in names.split()}


# column or field name -> the kind its values are (None: tell from the value)
_VALUE_FIELDS: dict[str, str | None] = _names(
    {
        None: "value indicator ioc ioc_value observable",
        "url": "url uri",
        "domain": "domain hostname host fqdn",
        "ip": "ip ip_address ipaddress dst_ip",
        "email": "email",
        "sha256": "sha256 sha256_hash",
        "sha1": "sha1 sha1_hash",
        "md5": "md5 md5_hash",
        "ja3": "ja3 ja3_hash ja3_md5",
        "ja4": "ja4",
    }
)
_VALUE_FIELDS["hash"] = None  # after the specific digests: a generic column comes last
_TYPE_FIELDS = ("type", "ioc_type", "kind", "indicator_type")
_TAG_FIELDS = ("tags", "tag", "threat", "threat_type", "malware_printable")
_ADDED_FIELDS = ("added", "dateadded", "date_added", "first_seen", "first_seen_utc", "created")
_EXPIRES_FIELDS = ("expires", "expiry", "expiration", "valid_until")
# type names of common feeds and MISP/STIX-like exports -> our kinds ("" = tell from value)
_TYPE_NAMES: dict[str, str] = {
    name: kind or ""
    for name, kind in _names(
        {
            "url": "url uri link",
            "domain": "domain hostname fqdn domain-name",
            "ip": "ip ipv4 ipv6 ip-dst ip-src ip:port ipv4-addr ipv6-addr cidr",
            "email": "email email-addr email-src",
            "md5": "md5 md5_hash",
            "sha1": "sha1 sha1_hash",
            "sha256": "sha256 sha256_hash",
            "ja3": "ja3 ja3_hash ja3-fingerprint-md5",
            "ja4": "ja4",
            None: "hash",
        }
    ).items()
}


@dataclass(frozen=True, slots=True)
class FeedIssue:
    """A line (or JSON item) of a feed that gave no indicator, and why."""

    source: str
    line: int | None
    reason: str
    item: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.source}:{self.line}: {self.reason}"
        if self.item is not None:
            return f"{self.source}: item {self.item}: {self.reason}"
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True, slots=True)
class FeedLoad:
    """What a feed gave: its indicators, the lines it could not read, the format it was read as.

    ``passthru`` counts the allow rules a feed holds (RPZ ``rpz-passthru.``): they are no
    indicators, so they are counted rather than loaded or reported as issues.
    """

    indicators: tuple[Indicator, ...]
    issues: tuple[FeedIssue, ...]
    format: str
    passthru: int = 0


class _Reader:
    """Collects indicators and issues for one feed, with the feed's defaults."""

    def __init__(
        self,
        name: str,
        kind: str | None,
        source: str,
        expires: datetime | None,
        tags: tuple[str, ...],
    ) -> None:
        self.name = name
        self.kind = kind
        self.source = source
        self.expires = expires
        self.tags = tags
        self.indicators: list[Indicator] = []
        self.issues: list[FeedIssue] = []
        self.passthru = 0

    def issue(self, line: int | None, reason: str, item: int | None = None) -> None:
        self.issues.append(FeedIssue(self.name, line, reason, item))

    def value(
        self,
        raw: str,
        line: int | None,
        *,
        kind: str | None = None,
        tags: tuple[str, ...] = (),
        added: datetime | None = None,
        expires: datetime | None = None,
        item: int | None = None,
        description: str = "",
        confidence: int | None = None,
        reference: str = "",
    ) -> Indicator | None:
        text = _refang(raw.strip())
        chosen = self.kind or kind
        if chosen in (None, "ip") and _IP_PORT.match(text):
            text = text.rsplit(":", 1)[0]  # ThreatFox lists botnet C2s as ip:port
        if chosen is None:
            chosen = detect_kind(text)
            if chosen is None:
                self.issue(
                    line, f"cannot tell what kind of indicator {raw.strip()[:80]!r} is", item
                )
                return None
        try:
            indicator = Indicator(
                chosen,  # type: ignore[arg-type]  # checked by Indicator itself
                text,
                self.source,
                added,
                expires or self.expires,
                self.tags + tuple(dict.fromkeys(t for t in tags if t not in self.tags)),
                description,
                confidence,
                reference,
            )
        except IndicatorValueError as exc:
            self.issue(line, str(exc), item)
            return None
        self.indicators.append(indicator)
        return indicator

    def result(self, format: str) -> FeedLoad:
        return FeedLoad(tuple(self.indicators), tuple(self.issues), format, self.passthru)


def _refang(text: str) -> str:
    """``hxxp://evil[.]com`` as ``http://evil.com``: reports defang indicators on purpose."""
    if "[" in text or "(" in text or "{" in text:
        for old, new in (("[.]", "."), ("(.)", "."), ("{.}", "."), ("[dot]", "."), ("[:]", ":")):
            text = text.replace(old, new)
        text = text.replace("[@]", "@").replace("[at]", "@")
    if text[:4].lower() == "hxxp":
        text = "http" + text[4:]
    return text


def _parse_time(value: object) -> datetime | None:
    """A feed's date (ISO 8601, ``... UTC``, epoch seconds); None when absent or unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or value.strip().lower() in _NO_VALUE:
        return None
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4]
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _split_tags(value: object) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip().lower() not in _NO_VALUE)
    if isinstance(value, str):
        parts = value.replace(";", ",").split(",")
        return tuple(p.strip() for p in parts if p.strip().lower() not in _NO_VALUE)
    return ()


def _field_name(name: str) -> str:
    return name.strip().strip("\"'").strip().lower().replace(" ", "_").replace("-", "_")


def _is_comment(line: str) -> bool:
    return line.startswith(_COMMENTS)


def _first_data_line(lines: list[str]) -> str | None:
    for line in lines:
        stripped = line.strip()
        if stripped and not _is_comment(stripped):
            return stripped
    return None


@dataclass(frozen=True, slots=True)
class _CsvLayout:
    columns: tuple[str, ...]
    delimiter: str
    data_start: int  # index in lines of the first data line


def _csv_row(line: str, delimiter: str) -> list[str]:
    # skipinitialspace: ThreatFox separates its quoted fields with ", "
    return next(csv.reader((line,), delimiter=delimiter, skipinitialspace=True), [])


def _header(text: str) -> tuple[tuple[str, ...], str] | None:
    delimiter = "," if "," in text else "\t" if "\t" in text else ","
    columns = tuple(_field_name(c) for c in _csv_row(text, delimiter))
    if any(c in _VALUE_FIELDS for c in columns):
        return columns, delimiter
    return None


def _csv_layout(lines: list[str]) -> _CsvLayout | None:
    """The header row (plain, or the last ``#`` comment before the data as URLhaus writes it)."""
    last_comment: str | None = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            last_comment = stripped.lstrip("#").strip()
            continue
        found = _header(stripped)
        if found:
            return _CsvLayout(found[0], found[1], index + 1)
        if last_comment:
            found = _header(last_comment)
            # a one-word comment ("# domains") heads many plain lists: not a CSV header
            if found and len(found[0]) > 1 and found[1] in stripped:
                return _CsvLayout(found[0], found[1], index)
        return None
    return None


def detect_format(text: str) -> FeedFormat:
    """The format of a feed, told from its first lines."""
    head = text.lstrip()[:1]
    sample = text[:65536]
    if head in ("{", "[") and (_STIX_BUNDLE.search(sample) or _STIX_21.search(sample)):
        return "stix"
    if head not in ("{", "[") and _is_rpz(sample):
        return "rpz"
    if head == "[" and not text.lstrip()[:9].lower().startswith("[adblock"):
        return "json"
    if head == "{":
        return "jsonl"
    lines = text[:65536].split("\n")
    if _csv_layout(lines) is not None:
        return "csv"
    first_raw = next((line.strip() for line in lines if line.strip()), "")
    if first_raw.startswith("!") or first_raw.lower().startswith("[adblock"):
        return "adblock"
    first = _first_data_line(lines)
    if first is None:
        return "plain"
    if first.startswith(("||", "@@", "|http")):
        return "adblock"
    tokens = first.split("#", 1)[0].split()
    if len(tokens) >= 2:
        try:
            ipaddress.ip_address(tokens[0])
        except ValueError:
            pass
        else:
            return "hosts"
    return "plain"


_STIX_BUNDLE = re.compile(r'"type"\s*:\s*"bundle"')
_STIX_21 = re.compile(r'"spec_version"\s*:\s*"2\.1"')
_RPZ_ORIGIN = re.compile(r"^\$ORIGIN\s", re.MULTILINE | re.IGNORECASE)
_RPZ_SOA = re.compile(r"\sSOA\s", re.IGNORECASE)
_RPZ_TTL = re.compile(r"^\$TTL\s", re.MULTILINE | re.IGNORECASE)
_RPZ_POLICY = re.compile(
    r"\sCNAME\s+(?:\*?\.|rpz-passthru\.|rpz-drop\.)\s*(?:;.*)?$", re.MULTILINE | re.IGNORECASE
)


def _is_rpz(sample: str) -> bool:
    """A zone file: an ``$ORIGIN``, or a SOA record beside ``$TTL`` or policy records."""
    if _RPZ_ORIGIN.search(sample):
        return True
    if not _RPZ_SOA.search(sample):
        return False
    return bool(_RPZ_TTL.search(sample) or _RPZ_POLICY.search(sample))


def _read_plain(reader: _Reader, lines: list[str]) -> None:
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or _is_comment(stripped):
            continue
        value = _INLINE_COMMENT.split(stripped, 1)[0]
        if any(c.isspace() for c in value):
            reader.issue(number, f"more than one value on the line: {value[:80]!r}")
            continue
        reader.value(value, number)


def _read_hosts(reader: _Reader, lines: list[str]) -> None:
    for number, line in enumerate(lines, 1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        try:
            ipaddress.ip_address(tokens[0])
        except ValueError:
            reader.issue(number, f"not a hosts line (no address first): {line.strip()[:80]!r}")
            continue
        names = [t for t in tokens[1:] if t.lower() not in _LOCAL_NAMES]
        if len(tokens) == 1:
            reader.issue(number, "a hosts line without a name")
        for name in names:
            reader.value(name, number, kind="domain")


def _read_adblock(reader: _Reader, lines: list[str]) -> None:
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("!", "#", "[")):
            continue
        match = _ADBLOCK.match(stripped)
        if match is None:
            reader.issue(number, f"unsupported adblock rule {stripped[:80]!r} (only ||domain^)")
            continue
        reader.value(match.group(1), number, kind="domain")


def _read_csv(reader: _Reader, lines: list[str], layout: _CsvLayout) -> None:
    columns = layout.columns
    value_at = next(i for i, c in enumerate(columns) if c in _VALUE_FIELDS)
    column_kind = _VALUE_FIELDS[columns[value_at]]
    type_at = next((i for i, c in enumerate(columns) if c in _TYPE_FIELDS), None)
    tag_at = [i for i, c in enumerate(columns) if c in _TAG_FIELDS]
    added_at = next((i for i, c in enumerate(columns) if c in _ADDED_FIELDS), None)
    expires_at = next((i for i, c in enumerate(columns) if c in _EXPIRES_FIELDS), None)
    for index in range(layout.data_start, len(lines)):
        number = index + 1
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            row = _csv_row(stripped, layout.delimiter)
        except csv.Error as exc:
            reader.issue(number, f"bad CSV row ({exc})")
            continue
        if len(row) <= value_at or not row[value_at].strip():
            reader.issue(number, f"no value in the {columns[value_at]!r} column")
            continue
        kind = column_kind
        if type_at is not None and type_at < len(row):
            named = _TYPE_NAMES.get(row[type_at].strip().lower())
            if named is None:
                reader.issue(number, f"unsupported indicator type {row[type_at].strip()[:40]!r}")
                continue
            kind = named or kind
        tags = tuple(t for i in tag_at if i < len(row) for t in _split_tags(row[i]))
        reader.value(
            row[value_at],
            number,
            kind=kind,
            tags=tags,
            added=_parse_time(row[added_at])
            if added_at is not None and added_at < len(row)
            else None,
            expires=(
                _parse_time(row[expires_at])
                if expires_at is not None and expires_at < len(row)
                else None
            ),
        )


def _read_record(reader: _Reader, record: object, line: int | None, item: int | None) -> None:
    """One JSON item: a string, or an object with a value field (and maybe type, tags, dates)."""
    if isinstance(record, str):
        reader.value(record, line, item=item)
        return
    if not isinstance(record, dict):
        reader.issue(line, "neither a string nor an object with a value", item)
        return
    fields = {_field_name(str(k)): v for k, v in record.items()}
    name = next((f for f in _VALUE_FIELDS if isinstance(fields.get(f), str)), None)
    if name is None:
        reader.issue(line, f"no value field (one of {', '.join(list(_VALUE_FIELDS)[:6])})", item)
        return
    kind = _VALUE_FIELDS[name]
    type_name = next((fields[f] for f in _TYPE_FIELDS if isinstance(fields.get(f), str)), None)
    if isinstance(type_name, str):
        named = _TYPE_NAMES.get(type_name.strip().lower())
        if named is None:
            reader.issue(line, f"unsupported indicator type {type_name[:40]!r}", item)
            return
        kind = named or kind
    tags = tuple(t for f in _TAG_FIELDS for t in _split_tags(fields.get(f)))
    added = next((_parse_time(fields[f]) for f in _ADDED_FIELDS if f in fields), None)
    expires = next((_parse_time(fields[f]) for f in _EXPIRES_FIELDS if f in fields), None)
    reader.value(
        str(fields[name]), line, kind=kind, tags=tags, added=added, expires=expires, item=item
    )


def _read_json(reader: _Reader, text: str) -> None:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        reader.issue(exc.lineno, f"invalid JSON ({exc.msg})")
        return
    if isinstance(document, list):
        for item, record in enumerate(document, 1):
            _read_record(reader, record, None, item)
        return
    if isinstance(document, dict) and not any(
        _field_name(str(k)) in _VALUE_FIELDS for k in document
    ):
        # an object of records, as ThreatFox exports ({"id": [{...}]}) or {"data": [...]}
        item = 0
        for nested in document.values():
            for record in nested if isinstance(nested, list) else [nested]:
                item += 1
                _read_record(reader, record, None, item)
        return
    _read_record(reader, document, 1, None)


def _read_jsonl(reader: _Reader, lines: list[str]) -> None:
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or _is_comment(stripped):
            continue
        try:
            record = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            reader.issue(number, f"invalid JSON ({exc.msg})")
            continue
        _read_record(reader, record, number, None)


def parse_feed(
    text: str,
    *,
    kind: IndicatorKind | None = None,
    source: str = "",
    expires: datetime | timedelta | None = None,
    format: FeedFormat | None = None,
    name: str = "<feed>",
    tags: Iterable[str] = (),
) -> FeedLoad:
    """Read a feed's text; ``kind`` forces every value's kind, ``format`` the format."""
    if kind is not None and kind not in KINDS:
        raise InvalidInputError(f"unknown indicator kind {kind!r}: use one of {sorted(KINDS)}")
    if format is not None and format not in FORMATS:
        raise InvalidInputError(f"unknown feed format {format!r}: use one of {sorted(FORMATS)}")
    if isinstance(expires, timedelta):
        expires = datetime.now(UTC) + expires
    text = text.removeprefix("\ufeff")
    reader = _Reader(name, kind, source or name, _aware(expires), tuple(tags))
    chosen = format or detect_format(text)
    if chosen == "stix":
        from tocsin.intel.stixfeed import read_stix

        read_stix(reader, text)
        return reader.result(chosen)
    if chosen == "json":
        _read_json(reader, text)
        return reader.result(chosen)
    if chosen == "jsonl" and format is None:
        # one JSON object that spans lines is a document, not JSON lines
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
        else:
            _read_json(reader, text)
            return reader.result("json")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if chosen == "jsonl":
        _read_jsonl(reader, lines)
    elif chosen == "csv":
        layout = _csv_layout(lines)
        if layout is None:
            reader.issue(None, "no CSV header with a value column (url, domain, ip, hash, value)")
        else:
            _read_csv(reader, lines, layout)
    elif chosen == "hosts":
        _read_hosts(reader, lines)
    elif chosen == "adblock":
        _read_adblock(reader, lines)
    elif chosen == "rpz":
        from tocsin.intel.rpzfeed import read_rpz

        read_rpz(reader, lines)
    else:
        _read_plain(reader, lines)
    return reader.result(chosen)


def load_feed(
    path: str | Path,
    *,
    kind: IndicatorKind | None = None,
    source: str | None = None,
    expires: datetime | timedelta | None = None,
    format: FeedFormat | None = None,
    tags: Iterable[str] = (),
) -> FeedLoad:
    """Read a feed file (UTF-8; undecodable bytes replaced); raises OSError when unreadable."""
    file = Path(path)
    text = file.read_bytes().decode("utf-8", errors="replace")
    return parse_feed(
        text,
        kind=kind,
        source=source if source is not None else file.name,
        expires=expires,
        format=format,
        name=str(file),
        tags=tags,
    )
