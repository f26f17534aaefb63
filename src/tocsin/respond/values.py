"""Block and allow list values: kinds, list names, normalisation, refanging and expiry parsing.

What lists store is decided here, once: a value is refanged (``evil[.]com``, ``hxxps://``),
its kind detected when not given, and normalised (domains as lower-case A-labels, URLs without
user, fragment or default port, networks as ``ipaddress`` writes them, hex digests in lower
case), so equal indicators meet as equal strings in the database, in lookups and in exports.
It is kept apart from the service (``tocsin.respond.blocklist``) because it needs no database:
the exporters, the command line and the API parse with it too. ``tocsin.respond.blocklist``
re-exports the public names, which remain importable from there.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from urllib.parse import quote, urlsplit, urlunsplit

import idna

from tocsin.core.errors import InvalidInputError

MAX_VALUE = 2048


class ListName(StrEnum):
    """Which list an entry is on."""

    BLOCK = "block"
    ALLOW = "allow"


class EntryKind(StrEnum):
    """What an entry's value is (the observable types a list can hold)."""

    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    IP = "ip"
    HASH = "hash"


def parse_list(value: ListName | str) -> ListName:
    """A list name from text (``block`` or ``allow``)."""
    try:
        return ListName(str(value).strip().lower())
    except ValueError:
        raise InvalidInputError(f"unknown list {value!r}: use block or allow") from None


def parse_kind(value: EntryKind | str) -> EntryKind:
    """An entry kind from text."""
    try:
        return EntryKind(str(value).strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in EntryKind)
        raise InvalidInputError(f"unknown kind {value!r}: use one of {known}") from None


# Normalisation ----------------------------------------------------------------------------

# Defanged indicators as reports share them: evil[.]com, hxxps://, user[@]evil.com.
_DEFANGED = re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\[@\]|\[at\]|\(at\)|\[:\]", re.I)
_DEFANGED_SCHEME = re.compile(r"^(?:hxxps?|fxps?)(?=://)", re.I)
_REFANG = {"@": "@", "at": "@", ":": ":"}
# Permissive on purpose: malicious names use underscores and odd hyphens that DNS still serves.
_LABEL = re.compile(r"[a-z0-9_][a-z0-9_-]{0,62}\Z")
_TLD = re.compile(r"[a-z][a-z0-9-]{0,62}\Z")
_HEX = re.compile(r"[0-9a-f]+\Z")
_HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256"}
_URL_PORTS = {"http": 80, "https": 443, "ftp": 21}
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~-._"  # reserved and unreserved: only the rest is escaped
_MIN_PREFIX = {4: 8, 6: 16}  # shorter networks would block a large part of the internet


def refang(text: str) -> str:
    """Undo common defanging (``evil[.]com``, ``hxxps://``, ``a[@]b.com``)."""
    if "[" in text or "(" in text or "{" in text:
        text = _DEFANGED.sub(lambda m: _REFANG.get(m.group()[1:-1].lower(), "."), text)
    if text[:1] in "hHfF":
        text = _DEFANGED_SCHEME.sub(
            lambda m: m.group().lower().replace("xx", "tt").replace("fxp", "ftp"),
            text,
        )
    return text


def normalize_domain(text: str) -> str:
    """A domain as lists keep it: lower-case IDNA A-labels, no trailing dot."""
    name = text.strip().rstrip(".")
    if not name:
        raise InvalidInputError(f"{text!r} is not a domain name: it is empty")
    if name.startswith("*."):
        raise InvalidInputError(
            f"{text!r}: a domain entry already covers its subdomains; give {name[2:]!r}"
        )
    if name.isascii():
        name = name.lower()
    else:
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            try:  # IDNA 2003 still maps names IDNA 2008 refuses (emoji), which attackers register
                name = name.encode("idna").decode("ascii").lower()
            except UnicodeError as exc:
                raise InvalidInputError(f"{text!r} is not a domain name: {exc}") from None
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInputError(f"{text!r} is not a domain name")
    if len(labels) < 2 or not _TLD.match(labels[-1]):
        raise InvalidInputError(
            f"{text!r} is not a full domain name: give one such as example.com "
            "(whole top-level domains cannot be listed)"
        )
    return name


def normalize_email(text: str) -> str:
    """An address as lists keep it: lower-case, its domain as ``normalize_domain`` gives it."""
    address = text.strip()
    if address[:7].lower() == "mailto:":
        address = address[7:]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidInputError(f"{text!r} is not an email address: give local@domain")
    if len(local) > 64 or any(not c.isprintable() or c in ' <>,;"()[]\\' for c in local):
        raise InvalidInputError(f"{text!r} is not an email address: its local part is invalid")
    try:
        host = normalize_domain(domain)
    except InvalidInputError:
        raise InvalidInputError(f"{text!r} is not an email address: bad domain") from None
    return f"{local.lower()}@{host}"


def normalize_ip(text: str) -> str:
    """An address or network as ``ipaddress`` writes it (a /32 or /128 as the bare address)."""
    raw = text.strip()
    if raw.startswith("["):  # [2001:db8::1] and [2001:db8::]/48, as URLs and some lists write them
        address, _, rest = raw[1:].partition("]")
        raw = address + rest
    if "/" not in raw:
        try:
            return str(ipaddress.ip_address(raw))
        except ValueError:
            raise InvalidInputError(f"{text!r} is not an IP address or network") from None
    try:
        network = ipaddress.ip_network(raw, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(raw, strict=False)
        except ValueError:
            raise InvalidInputError(f"{text!r} is not an IP address or network") from None
        raise InvalidInputError(
            f"{text!r} has host bits set: did you mean {str(loose)!r}?"
        ) from None
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    if network.prefixlen < _MIN_PREFIX[network.version]:
        raise InvalidInputError(
            f"{text!r} is too broad: list networks of /{_MIN_PREFIX[network.version]} or longer"
        )
    return str(network)


def normalize_hash(text: str) -> str:
    """An MD5, SHA-1 or SHA-256 digest in lower-case hex (an ``sha256:`` prefix is dropped)."""
    digest = text.strip().lower()
    algorithm, colon, rest = digest.partition(":")
    if colon and algorithm in ("md5", "sha1", "sha-1", "sha256", "sha-256"):
        digest = rest.strip()
    if len(digest) not in _HASH_LENGTHS or not _HEX.match(digest):
        raise InvalidInputError(f"{text!r} is not an MD5, SHA-1 or SHA-256 hex digest")
    return digest


def normalize_url(text: str) -> str:
    """A URL as lists keep it: scheme and host lower-case, no default port, user or fragment.

    The path and query are kept (non-ASCII characters percent-encoded); a missing path is ``/``
    and a missing scheme is ``http``. A proxy never sees the user part or the fragment.
    """
    raw = text.strip()
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError(f"{text!r} is not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _URL_PORTS:
        raise InvalidInputError(f"{text!r}: only http, https and ftp URLs can be listed")
    host = parts.hostname or ""
    if not host:
        raise InvalidInputError(f"{text!r} is not a URL: it has no host")
    if _is_ip(host):
        host = normalize_ip(host)
        if ":" in host:
            host = f"[{host}]"
    else:
        try:
            host = normalize_domain(host)
        except InvalidInputError:
            raise InvalidInputError(f"{text!r} is not a URL: bad host {host!r}") from None
    netloc = host if port in (None, _URL_PORTS[scheme]) else f"{host}:{port}"
    path = quote(parts.path, safe=_URL_SAFE) or "/"
    url = urlunsplit((scheme, netloc, path, quote(parts.query, safe=_URL_SAFE), ""))
    if len(url) > MAX_VALUE:
        raise InvalidInputError(f"{text[:80]!r}... is longer than {MAX_VALUE} characters")
    return url


_NORMALIZERS = {
    EntryKind.DOMAIN: normalize_domain,
    EntryKind.URL: normalize_url,
    EntryKind.EMAIL: normalize_email,
    EntryKind.IP: normalize_ip,
    EntryKind.HASH: normalize_hash,
}


def _is_ip(text: str) -> bool:
    raw = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_network(raw, strict=False)
    except ValueError:
        return False
    return True


def detect_kind(text: str) -> EntryKind:
    """Guess a value's kind: url (a scheme or a path), ip, hash, email, else domain."""
    value = refang(text.strip())
    if "://" in value:
        return EntryKind.URL
    if value[:7].lower() == "mailto:":
        return EntryKind.EMAIL
    if _is_ip(value):
        return EntryKind.IP
    digest = value.lower().partition(":")[2] or value.lower()
    if len(digest) in _HASH_LENGTHS and _HEX.match(digest):
        return EntryKind.HASH
    if "@" in value:
        return EntryKind.EMAIL
    if "/" in value:
        return EntryKind.URL
    return EntryKind.DOMAIN


def normalize_value(text: str, kind: EntryKind | str | None = None) -> tuple[EntryKind, str]:
    """The kind (detected when None) and the normalised value; errors quote the value."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{text!r} is empty: give a value to list")
    if len(text) > MAX_VALUE:
        raise InvalidInputError(f"{text[:80]!r}... is longer than {MAX_VALUE} characters")
    chosen = detect_kind(text) if kind is None else parse_kind(kind)
    return chosen, _NORMALIZERS[chosen](refang(text.strip()))


# Expiry -------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*\+?(\d{1,6})\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """An expiry from ``30d``/``12h``/``2w``/``90m`` (from now), an ISO date or time, or never.

    A date alone means 00:00 UTC that day; a time without a zone is UTC; ``never``, ``none`` or
    nothing means no expiry.
    """
    value = (text or "").strip()
    if not value or value.lower() in ("never", "none"):
        return None
    moment = now or datetime.now(UTC)
    match = _DURATION.match(value)
    if match:
        amount, unit = match.groups()
        try:
            return moment + timedelta(**{_DURATION_UNITS[unit.lower()]: int(amount)})
        except OverflowError:
            raise InvalidInputError(f"the expiry {value!r} is too far away") from None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"cannot read {value!r} as an expiry: use 30d, 12h, 2w, 90m, a date such as "
            "2026-12-31, an ISO time, or never"
        ) from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(moment: datetime | None) -> str:
    """A time as lists and exports write it: UTC to the second (``...Z``); None is ``never``."""
    if moment is None:
        return "never"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
