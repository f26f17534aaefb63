"""Did the sender's domain authenticate the message? SPF, DKIM, ARC and DMARC, read or verified.

By default the results are read from the headers: the topmost trusted
``Authentication-Results`` (``tocsin.mail.authresults.verdicts``) and, for ARC, the newest
``ARC-Seal``'s ``cv=`` with what its ``ARC-Authentication-Results`` reported. That costs no
DNS and is what the receiving server saw.

With ``verify=True`` each method is also checked here and the local result is preferred:
DKIM signatures and the ARC chain with dkimpy, SPF with pyspf, DMARC by looking up the
policy and checking alignment. All DNS goes through the caller's ``Resolver``
(``tocsin.intel.resolver``): dkimpy gets it as its ``dnsfunc`` and pyspf through a subclass
whose ``dns`` method asks it, so neither library opens a socket of its own. Offline (the
default resolver), a method that needs DNS becomes ``temperror`` ("offline: no resolver
configured") and the header result, when there is one, stays.

SPF needs the SMTP client's address and HELO name, which only the ``Received`` headers keep.
The rule (``find_client_hop``): read them from the top, newest first, and take the first
whose ``from`` clause names a client address outside private, shared (CGNAT), loopback and
link-local space. The hops above it are the organisation's own relays and filters; that one
is where the message came in from the internet, written by our own edge server, so it is the
first one a sender cannot forge. A local result the message does not give the facts for
(no public hop) leaves the header result in place.

Nothing here raises on what a message contains: a malformed signature or header, or any
exception from dkimpy or pyspf, becomes ``permerror`` with the exception's text as detail.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Literal

import dkim  # type: ignore[import-untyped]
import dns.exception
import dns.name
import dns.reversename
import spf  # type: ignore[import-untyped]
from publicsuffixlist import PublicSuffixList

from tocsin.core.event import Reason
from tocsin.intel.resolver import DnsFailure, DnsOffline, OfflineResolver, Resolver
from tocsin.mail.authresults import AuthResult, parse_authentication_results, verdicts
from tocsin.mail.message import MailMessage

# dkimpy logs every bad signature at ERROR with pieces of the header: a forged mail is a
# verdict here, not an error of ours, and its headers do not belong in our logs
logging.getLogger("dkimpy").setLevel(logging.CRITICAL)

__all__ = [
    "OFFLINE",
    "AuthReport",
    "MethodResult",
    "check_authentication",
    "find_client_hop",
    "is_aligned",
    "organisational_domain",
]

Source = Literal["header", "local", "none"]
OFFLINE = "offline: no resolver configured"
MAX_HEADERS = 50  # Authentication-Results and ARC headers read per message
MAX_SIGNATURES = 8  # DKIM signatures verified per message: each costs a lookup and a hash
MAX_RECEIVED = 30
MAX_SCANNED_CHARS = 2048  # of a header the patterns below read: bounds their backtracking
SPF_TIME_LIMIT = 5.0  # seconds for one SPF evaluation, all its lookups together
MIN_KEY_BITS = 1024

# SMTP clients in these networks are our own relays (RFC 1918, RFC 6598 shared space,
# loopback, link-local, unique-local): the documentation ranges count as public on purpose,
# so examples and tests read as mail from the internet
_INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "0.0.0.0/8",
        "::1/128",
        "::/128",
        "fc00::/7",
        "fe80::/10",
    )
)
_RECEIVED_FROM = re.compile(r"^\s*from\s+(.*?)(?:\s+by\s|;|$)", re.IGNORECASE | re.DOTALL)
_BRACKETED_IP = re.compile(r"\[(?:ipv6:)?([0-9a-f:.]+)\]", re.IGNORECASE)
_PARENTHESISED_IP = re.compile(r"\(\s*(?:ipv6:)?([0-9a-f:.]{3,})\s*\)", re.IGNORECASE)
_HELO = re.compile(r"\(\s*(?:helo|ehlo)[=\s]\s*([^\s)]+)", re.IGNORECASE)
_ENVELOPE_FROM = re.compile(r"envelope-from\s*=\s*\"?<?([^\";\s>]+)", re.IGNORECASE)
_POLICY = re.compile(r"\bp\s*=\s*([a-z]+)", re.IGNORECASE)
_ARC_INSTANCE_PREFIX = re.compile(r"^\s*i\s*=\s*\d+\s*;", re.IGNORECASE)
_DMARC_RECORD = re.compile(r"^\s*v\s*=\s*dmarc1\s*(?:;|$)", re.IGNORECASE)
_POLICIES = frozenset(("none", "quarantine", "reject"))
# how much a combined DKIM result says, strongest first
_DKIM_ORDER = ("pass", "fail", "permerror", "temperror", "neutral", "none")
_VERIFIED = frozenset(("pass", "fail", "softfail", "neutral", "permerror", "policy"))


@dataclass(frozen=True, slots=True)
class MethodResult:
    """One method's outcome: the result word, its domain, where it came from, and why."""

    result: str
    domain: str | None = None
    source: Source = "none"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AuthReport:
    """SPF, DKIM, DMARC and ARC for one message, alignment with From, and the reasons."""

    spf: MethodResult
    dkim: MethodResult
    dmarc: MethodResult
    arc: MethodResult
    from_domain: str | None
    org_domain: str | None
    dmarc_policy: str | None
    aligned_spf: bool | None
    aligned_dkim: bool | None
    reasons: list[Reason]
    header_verdicts: dict[str, AuthResult] = field(default_factory=dict)
    """Every method's result from the topmost trusted header (compauth too), parsed once."""


@cache
def _psl() -> PublicSuffixList:
    # the list shipped inside the package: reading it once costs ~60 ms, a lookup ~5 µs
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """The registrable domain (``mail.sub.example.co.uk`` -> ``example.co.uk``)."""
    name = domain.strip().rstrip(".").lower()
    if not name:
        return name
    try:
        found = _psl().privatesuffix(name)
    except Exception:  # noqa: BLE001 - a name the list cannot read is its own organisation
        return name
    return found or name


def is_aligned(identifier: str, from_domain: str, mode: str = "r") -> bool:
    """DMARC identifier alignment: the same domain (``s``) or organisation (``r``)."""
    left = identifier.strip().rstrip(".").lower()
    right = from_domain.strip().rstrip(".").lower()
    if not left or not right:
        return False
    if left == right:
        return True
    return mode != "s" and organisational_domain(left) == organisational_domain(right)


def find_client_hop(received: Sequence[str]) -> tuple[str, str | None] | None:
    """The (client IP, HELO) of the newest ``Received`` whose client is not internal."""
    for value in received[:MAX_RECEIVED]:
        match = _RECEIVED_FROM.match(value[:MAX_SCANNED_CHARS])
        if match is None:
            continue
        clause = match.group(1)
        address = _client_ip(clause)
        if address is None or any(address in net for net in _INTERNAL_NETWORKS):
            continue
        return str(address), _helo(clause)
    return None


def _client_ip(clause: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    candidates = [m.group(1) for m in _BRACKETED_IP.finditer(clause)]
    candidates += [m.group(1) for m in _PARENTHESISED_IP.finditer(clause)]
    candidates.append(clause.split(None, 1)[0] if clause.strip() else "")
    for text in candidates:
        try:
            address = ipaddress.ip_address(text.strip("[]."))
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            return address.ipv4_mapped
        return address
    return None


def _helo(clause: str) -> str | None:
    match = _HELO.search(clause)  # Exim "(helo=x)", qmail "(HELO x)"
    if match:
        return match.group(1).strip("[]").rstrip(".") or None
    first = clause.split(None, 1)[0] if clause.strip() else ""
    # Postfix, Sendmail, Exchange and Gmail write the HELO name first
    if not first or first.lower() == "unknown" or first.startswith("("):
        return None
    return first.strip("[]").rstrip(".") or None


def _tags(value: str) -> dict[str, str]:
    """``k=v; k=v`` tag lists (DKIM, ARC, DMARC), keys lower case, whitespace dropped."""
    found: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, tag_value = part.partition("=")
        if sep:
            found.setdefault(key.strip().lower(), "".join(tag_value.split()))
    return found


def _domain_of(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip().strip("<>").strip()
    domain = text.rsplit("@", 1)[-1].rstrip(".").lower()
    return domain or None


def _describe(result: AuthResult) -> str:
    words = [f"{result.method}={result.result}"]
    words += [f"{k}={v}" for k, v in result.properties.items()]
    if result.reason:
        words.append(f"reason={result.reason}")
    if result.comment:
        words.append(f"({result.comment})")
    text = " ".join(words)
    return f"{text} [by {result.authserv_id}]" if result.authserv_id else text


# --- what the headers say ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reported:
    spf: MethodResult
    dkim: MethodResult
    dmarc: MethodResult
    arc: MethodResult
    mail_from: str | None
    dkim_passes: tuple[str, ...]
    policy: str | None
    has_headers: bool
    verdicts: dict[str, AuthResult]


def _read_headers(msg: MailMessage, trusted: Iterable[str] | None) -> _Reported:
    values = msg.header_values("Authentication-Results")[:MAX_HEADERS]
    trusted_ids = list(trusted) if trusted is not None else None
    found = verdicts(values, trusted_ids) if values else {}

    spf_result = MethodResult("none")
    mail_from: str | None = None
    if "spf" in found:
        res = found["spf"]
        mail_from = res.properties.get("smtp.mailfrom") or res.properties.get("smtp.helo")
        spf_result = MethodResult(res.result, _domain_of(mail_from), "header", _describe(res))

    dkim_results: list[AuthResult] = []
    if "dkim" in found:
        # a header holds a dkim result per signature; parse again only when there may be more
        several = sum(v.lower().count("dkim=") for v in values) > 1
        dkim_results = _dkim_results(values, trusted_ids) if several else [found["dkim"]]
    passes = tuple(
        d
        for d in (
            _domain_of(r.properties.get("header.d") or r.properties.get("header.i"))
            for r in dkim_results
            if r.result == "pass"
        )
        if d
    )
    dkim_result = MethodResult("none")
    if dkim_results:
        best = min(dkim_results, key=lambda r: _rank(r.result))
        domain = _domain_of(best.properties.get("header.d") or best.properties.get("header.i"))
        detail = "; ".join(_describe(r) for r in dkim_results[:MAX_SIGNATURES])
        dkim_result = MethodResult(best.result, domain, "header", detail)

    dmarc_result = MethodResult("none")
    policy: str | None = None
    if "dmarc" in found:
        res = found["dmarc"]
        policy = _reported_policy(res)
        domain = _domain_of(res.properties.get("header.from"))
        dmarc_result = MethodResult(res.result, domain, "header", _describe(res))

    arc_result = _reported_arc(msg, found.get("arc"))
    has_headers = bool(values) or bool(msg.header_values("ARC-Authentication-Results"))
    return _Reported(
        spf_result,
        dkim_result,
        dmarc_result,
        arc_result,
        mail_from,
        passes,
        policy,
        has_headers,
        found,
    )


def _rank(result: str) -> int:
    return _DKIM_ORDER.index(result) if result in _DKIM_ORDER else len(_DKIM_ORDER)


def _dkim_results(values: Sequence[str], trusted: Sequence[str] | None) -> list[AuthResult]:
    """Every dkim result of the topmost trusted header that has one (a result per signature)."""
    allowed = {t.lower() for t in trusted} | {None} if trusted is not None else None
    for value in values:
        results = [
            r
            for r in parse_authentication_results(value)
            if r.method == "dkim" and (allowed is None or r.authserv_id in allowed)
        ]
        if results:
            return results
    return []


def _reported_policy(result: AuthResult) -> str | None:
    for key in ("policy.published-domain-policy", "policy.dmarc", "p"):
        value = result.properties.get(key, "").lower()
        if value in _POLICIES:
            return value
    # Gmail says it in a comment: "(p=REJECT sp=REJECT dis=NONE)"
    match = _POLICY.search((result.comment or "")[:MAX_SCANNED_CHARS])
    if match and match.group(1).lower() in _POLICIES:
        return match.group(1).lower()
    return None


def _reported_arc(msg: MailMessage, result: AuthResult | None) -> MethodResult:
    """``arc=`` from our server, else the newest ARC-Seal's cv= and what its sealer saw."""
    seals = [_tags(v) for v in msg.header_values("ARC-Seal")[:MAX_HEADERS]]
    newest: dict[str, str] = {}
    for tags in seals:
        instance = tags.get("i", "")
        # ARC allows instances 1 to 50; a longer number would only cost int() time
        if instance.isascii() and instance.isdigit() and len(instance) < 4:
            if int(instance) > int(newest.get("i", "0")):
                newest = tags
    seen = _sealer_saw(msg, newest.get("i"))
    if result is not None:
        detail = _describe(result) + (f"; sealer saw {seen}" if seen else "")
        return MethodResult(result.result, newest.get("d"), "header", detail)
    if not newest:
        return MethodResult("none")
    cv = newest.get("cv", "").lower() or "none"
    detail = f"ARC-Seal i={newest['i']} d={newest.get('d', '?')} reports cv={cv} (not verified)"
    result_word = cv if cv in ("pass", "fail", "none") else "permerror"
    return MethodResult(
        result_word, newest.get("d"), "header", detail + (f"; it saw {seen}" if seen else "")
    )


def _sealer_saw(msg: MailMessage, instance: str | None) -> str:
    if not instance:
        return ""
    for value in msg.header_values("ARC-Authentication-Results")[:MAX_HEADERS]:
        if _tags(value.split(";", 1)[0]).get("i") != instance:
            continue
        body = _ARC_INSTANCE_PREFIX.sub("", value, count=1)
        return ", ".join(f"{r.method}={r.result}" for r in parse_authentication_results(body))
    return ""


# --- local verification -----------------------------------------------------------------


class _KeyLookup:
    """dkimpy's ``dnsfunc`` over the Resolver, remembering how the lookups went."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.outcome = "unasked"
        self.detail = ""
        self.temporary = False

    def reset(self) -> None:
        self.outcome = "unasked"
        self.detail = ""

    def __call__(self, name: bytes | str, timeout: float = 5.0) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        text = text.rstrip(".")
        try:
            records = self.resolver.txt(text)
        except DnsOffline as exc:
            self._temporary(OFFLINE)
            raise dkim.DnsTimeoutError(OFFLINE) from exc
        except DnsFailure as exc:
            if exc.is_temporary:
                self._temporary(f"DNS {exc.kind} for key {text}")
                raise dkim.DnsTimeoutError(str(exc)) from exc
            self.outcome, self.detail = "missing", f"no key at {text} ({exc.kind})"
            return None
        chosen = next((r for r in records if "p=" in r), records[0] if records else "")
        if not chosen:
            self.outcome, self.detail = "missing", f"no key at {text}"
            return None
        key = chosen.encode("utf-8", "replace")
        try:
            # dkimpy turns an unreadable key into a bare False: read it here to say why
            dkim.evaluate_pk(name, key)
        except dkim.NaClNotFoundError:
            self.outcome, self.detail = "nacl", "ed25519 keys need the optional pynacl package"
            return key
        except Exception as exc:  # noqa: BLE001 - any failure to read the key is the key's
            self.outcome, self.detail = "badkey", f"unusable key at {text}: {exc}"
            return key
        self.outcome = "found"
        return key

    def _temporary(self, detail: str) -> None:
        self.outcome, self.detail, self.temporary = "temporary", detail, True


def _verify_dkim(
    raw: bytes, msg: MailMessage, resolver: Resolver
) -> tuple[MethodResult, list[str]]:
    """Each DKIM signature checked; the combined result and the domains that passed."""
    signatures = msg.header_values("DKIM-Signature")
    if not signatures:
        return MethodResult("none", None, "local", "no DKIM-Signature"), []
    tags = [_tags(value) for value in signatures[:MAX_SIGNATURES]]
    if isinstance(resolver, OfflineResolver):
        return MethodResult("temperror", tags[0].get("d"), "local", OFFLINE), []
    try:
        verifier = dkim.DKIM(raw, minkey=MIN_KEY_BITS)
    except Exception as exc:  # noqa: BLE001 - dkimpy could not even read the message
        return MethodResult("permerror", tags[0].get("d"), "local", _error_text(exc)), []
    lookup = _KeyLookup(resolver)
    outcomes: list[tuple[str, str | None, str]] = []
    for index, sig in enumerate(tags):
        result, why = _verify_signature(verifier, index, lookup)
        domain = sig.get("d", "").lower() or None
        selector = sig.get("s") or "?"
        outcomes.append((result, domain, f"d={domain or '?'} s={selector}: {result}{why}"))
    passes = [d for r, d, _ in outcomes if r == "pass" and d]
    best = min(outcomes, key=lambda o: _rank(o[0]))
    domain = passes[0] if passes else best[1]
    extra = f" (first {MAX_SIGNATURES} of {len(signatures)})" if len(signatures) > len(tags) else ""
    detail = "; ".join(o[2] for o in outcomes) + extra
    return MethodResult(best[0], domain, "local", detail), passes


def _verify_signature(verifier: dkim.DKIM, index: int, lookup: _KeyLookup) -> tuple[str, str]:
    """(result, explanation) for the signature at ``index``."""
    lookup.reset()
    try:
        valid = verifier.verify(index, dnsfunc=lookup)
    except dkim.NaClNotFoundError:
        return "neutral", " (ed25519 signatures need the optional pynacl package)"
    except dkim.ValidationError as exc:
        # raised before the key is fetched it is a malformed signature; after, a failed check
        # (the body hash): dkimpy uses one class for both
        result = "fail" if lookup.outcome == "found" else "permerror"
        return result, f" ({_error_text(exc)})"
    except Exception as exc:  # noqa: BLE001 - dkimpy's errors on hostile input are many
        return "permerror", f" ({_error_text(exc)})"
    if valid:
        return "pass", ""
    if lookup.outcome == "temporary":
        return "temperror", f" ({lookup.detail})"
    if lookup.outcome == "nacl":
        return "neutral", f" ({lookup.detail})"
    if lookup.outcome in ("missing", "badkey"):
        return "permerror", f" ({lookup.detail})"
    if lookup.outcome == "unasked":
        return "permerror", " (signature could not be read)"
    return "fail", " (signature did not verify)"


def _verify_arc(raw: bytes, msg: MailMessage, resolver: Resolver) -> MethodResult:
    """The ARC chain checked with dkimpy."""
    if not msg.header_values("ARC-Seal"):
        return MethodResult("none", None, "local", "no ARC-Seal")
    if isinstance(resolver, OfflineResolver):
        return MethodResult("temperror", None, "local", OFFLINE)
    lookup = _KeyLookup(resolver)
    try:
        cv, results, why = dkim.arc_verify(raw, dnsfunc=lookup, minkey=MIN_KEY_BITS)
    except Exception as exc:  # noqa: BLE001 - dkimpy's errors on hostile input are many
        return MethodResult("permerror", None, "local", _error_text(exc))
    domain = None
    if results and isinstance(results[0], dict):
        sealer = results[0].get("as-domain")
        domain = sealer.decode("ascii", "replace").lower() if isinstance(sealer, bytes) else None
    reason = why.decode("ascii", "replace") if isinstance(why, bytes) else str(why)
    if cv == dkim.CV_Pass:
        return MethodResult("pass", domain, "local", f"chain of {len(results)} verified")
    if lookup.temporary:
        return MethodResult("temperror", domain, "local", f"{reason} ({lookup.detail})")
    if cv == dkim.CV_None:
        return MethodResult("none", domain, "local", reason)
    return MethodResult("fail", domain, "local", reason)


class _SpfQuery(spf.query):  # type: ignore[misc]  # pyspf is untyped
    """pyspf's evaluation with every DNS question asked through the Resolver."""

    def __init__(self, resolver: Resolver, deadline: float, **kwargs: object) -> None:
        self._resolver = resolver
        self._deadline = deadline
        super().__init__(**kwargs)

    def dns(
        self,
        name: object,
        qtype: str,
        cnames: object = None,
        ignore_void: bool = False,
    ) -> list[object]:
        """Records as pyspf's own DNS layer returns them, with its void-lookup limit."""
        text = str(name or "").rstrip(".").lower()
        if not text or not all(0 < len(label) < 64 for label in text.split(".")):
            return []  # as pyspf: an impossible name has no records
        key = (text, qtype)
        result: list[object] | None = self.cache.get(key)
        if result is None:
            if time.monotonic() > self._deadline:
                raise spf.TempError(f"DNS: evaluation took longer than {SPF_TIME_LIMIT:g} s")
            result = self._ask(text, qtype)
            self.cache[key] = result
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result

    def _ask(self, name: str, qtype: str) -> list[object]:
        try:
            if qtype == "TXT":
                # pyspf joins each record's byte strings itself
                return [[record.encode("utf-8")] for record in self._resolver.txt(name)]
            if qtype == "A":
                return list(self._resolver.a(name))
            if qtype == "AAAA":
                return list(self._resolver.aaaa(name))
            if qtype == "MX":
                return list(self._resolver.mx(name))
            if qtype == "PTR":
                address = dns.reversename.to_address(dns.name.from_text(name))
                return list(self._resolver.ptr(address))
        except DnsOffline as exc:
            raise spf.TempError(OFFLINE) from exc
        except DnsFailure as exc:
            if exc.is_temporary:
                raise spf.TempError(f"DNS {exc.kind} for {name}") from exc
            return []
        except (dns.exception.DNSException, ValueError):
            return []  # a PTR name that is not an address
        return []  # type 99 (SPF) is obsolete: its absence is the normal case


def _verify_spf(
    msg: MailMessage, resolver: Resolver, reported_mail_from: str | None
) -> tuple[MethodResult | None, str | None]:
    """SPF for the client hop; None when the headers do not give its address."""
    hop = find_client_hop(msg.header_values("Received"))
    if hop is None:
        return None, None
    ip, helo = hop
    mail_from = _mail_from(msg, reported_mail_from)
    identity = mail_from or (f"postmaster@{helo}" if helo else "")
    domain = _domain_of(identity) if identity else None
    if not identity:
        return MethodResult("none", None, "local", f"{ip}: no mail-from and no HELO"), None
    if isinstance(resolver, OfflineResolver):
        return MethodResult("temperror", domain, "local", OFFLINE), mail_from
    shown = f"{ip} (helo {helo or '?'}) sending as {identity}"
    try:
        query = _SpfQuery(
            resolver,
            time.monotonic() + SPF_TIME_LIMIT,
            i=ip,
            s=mail_from or "",
            h=helo or "",
        )
        result, _code, explanation = query.check()
    except Exception as exc:  # noqa: BLE001 - pyspf's errors on hostile input are many
        return MethodResult("permerror", domain, "local", f"{shown}: {_error_text(exc)}"), (
            mail_from
        )
    why = f": {explanation}" if explanation else ""
    return MethodResult(str(result), domain, "local", shown + why), mail_from or identity


def _mail_from(msg: MailMessage, reported: str | None) -> str | None:
    """The envelope sender: Return-Path, else what the receiving server recorded."""
    if msg.return_path and "@" in msg.return_path:
        return msg.return_path
    paths = msg.header_values("Return-Path")
    if paths and paths[0].strip() in ("<>", ""):
        return None  # the null sender (bounces): SPF checks the HELO name instead
    for value in msg.header_values("Received-SPF")[:MAX_HEADERS]:
        match = _ENVELOPE_FROM.search(value[:MAX_SCANNED_CHARS])
        if match and "@" in match.group(1):
            return match.group(1)
    if reported and "@" in reported:
        return reported
    return None


def _lookup_dmarc(
    resolver: Resolver, from_domain: str, org_domain: str
) -> tuple[dict[str, str] | None, str, MethodResult | None]:
    """(record tags, the domain holding it, an error result) for the From domain."""
    names = [from_domain] if org_domain == from_domain else [from_domain, org_domain]
    for name in names:
        try:
            texts = resolver.txt(f"_dmarc.{name}")
        except DnsOffline:
            return None, name, MethodResult("temperror", from_domain, "local", OFFLINE)
        except DnsFailure as exc:
            if exc.is_temporary:
                detail = f"DNS {exc.kind} for _dmarc.{name}"
                return None, name, MethodResult("temperror", from_domain, "local", detail)
            continue
        records = [t for t in texts if _DMARC_RECORD.match(t)]
        if len(records) == 1:
            return _tags(records[0]), name, None
        if len(records) > 1:
            detail = f"{len(records)} DMARC records at _dmarc.{name}: none applies (RFC 7489)"
            return None, name, MethodResult("none", from_domain, "local", detail)
    detail = f"no DMARC record for {from_domain}" + (
        f" nor {org_domain}" if org_domain != from_domain else ""
    )
    return None, from_domain, MethodResult("none", from_domain, "local", detail)


def _evaluate_dmarc(
    resolver: Resolver,
    from_domain: str,
    org_domain: str,
    spf_domain: str | None,
    dkim_domains: Sequence[str],
) -> tuple[MethodResult, str | None, str, str]:
    """(result, policy, adkim, aspf) of DMARC for the From domain."""
    tags, holder, error = _lookup_dmarc(resolver, from_domain, org_domain)
    if tags is None:
        return error or MethodResult("none", from_domain, "local"), None, "r", "r"
    policy = tags.get("p", "").lower()
    if holder != from_domain and tags.get("sp", "").lower() in _POLICIES:
        policy = tags["sp"].lower()  # the organisation's policy for its subdomains
    if policy not in _POLICIES:
        policy = "none"
    adkim = "s" if tags.get("adkim", "r").lower() == "s" else "r"
    aspf = "s" if tags.get("aspf", "r").lower() == "s" else "r"
    spf_ok = bool(spf_domain) and is_aligned(spf_domain or "", from_domain, aspf)
    dkim_ok = [d for d in dkim_domains if is_aligned(d, from_domain, adkim)]
    result = "pass" if spf_ok or dkim_ok else "fail"
    spf_text = (
        f"spf {spf_domain} {'aligned' if spf_ok else 'not aligned'}"
        if spf_domain
        else ("no spf pass")
    )
    dkim_text = (
        f"dkim d={','.join(dkim_domains)} {'aligned' if dkim_ok else 'not aligned'}"
        if dkim_domains
        else "no dkim pass"
    )
    detail = (
        f"p={policy} (record at _dmarc.{holder}, adkim={adkim} aspf={aspf}); {spf_text}; "
        f"{dkim_text}"
    )
    return MethodResult(result, from_domain, "local", detail), policy, adkim, aspf


def _prefer(reported: MethodResult, local: MethodResult | None) -> MethodResult:
    """The local result, unless it could not be had and the headers say something."""
    if local is None:
        return reported
    if local.result == "temperror" and reported.source == "header":
        return replace(reported, detail=f"{reported.detail}; local check: {local.detail}")
    return local


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


# --- the report -------------------------------------------------------------------------


def check_authentication(
    raw: bytes,
    msg: MailMessage,
    *,
    resolver: Resolver,
    trusted_authserv_ids: Iterable[str] | None = None,
    verify: bool = False,
) -> AuthReport:
    """SPF, DKIM, DMARC and ARC of a message: as reported, or verified here with ``verify``."""
    from_domain = msg.from_domain
    org_domain = organisational_domain(from_domain) if from_domain else None
    reported = _read_headers(msg, trusted_authserv_ids)
    spf_result, dkim_result = reported.spf, reported.dkim
    dmarc_result, arc_result = reported.dmarc, reported.arc
    spf_domain = reported.spf.domain if reported.spf.result == "pass" else None
    dkim_passes: Sequence[str] = reported.dkim_passes
    policy = reported.policy
    aspf = adkim = "r"
    verified = False
    if verify:
        local_spf, mail_from = _verify_spf(msg, resolver, reported.mail_from)
        local_dkim, local_passes = _verify_dkim(raw, msg, resolver)
        local_arc = _verify_arc(raw, msg, resolver)
        spf_result = _prefer(reported.spf, local_spf)
        if local_spf is None and spf_result.source == "none":
            spf_result = replace(spf_result, detail="not checked: no Received hop from outside")
        dkim_result = _prefer(reported.dkim, local_dkim)
        arc_result = _prefer(reported.arc, local_arc)
        if spf_result.source == "local":
            spf_domain = _domain_of(mail_from) if spf_result.result == "pass" else None
        if dkim_result.source == "local":
            dkim_passes = local_passes
        local_dmarc: MethodResult | None = None
        if from_domain and org_domain:
            local_dmarc, local_policy, adkim, aspf = _evaluate_dmarc(
                resolver, from_domain, org_domain, spf_domain, dkim_passes
            )
            if local_dmarc.result != "temperror":
                policy = local_policy
        dmarc_result = _prefer(reported.dmarc, local_dmarc)
        if local_dmarc is None and dmarc_result.source == "none":
            dmarc_result = replace(dmarc_result, detail="not checked: no From domain")
        verified = any(
            r is not None and r.result in _VERIFIED
            for r in (local_spf, local_dkim, local_arc, local_dmarc)
        )

    aligned_spf = is_aligned(spf_domain, from_domain, aspf) if spf_domain and from_domain else None
    aligned_dkim = (
        any(is_aligned(d, from_domain, adkim) for d in dkim_passes)
        if dkim_passes and from_domain
        else None
    )
    reasons = _reasons(
        spf_result,
        dkim_result,
        dmarc_result,
        arc_result,
        policy,
        from_domain,
        aligned_spf,
        aligned_dkim,
        nothing=not reported.has_headers and not verified,
        offline=verify and isinstance(resolver, OfflineResolver),
    )
    return AuthReport(
        spf=spf_result,
        dkim=dkim_result,
        dmarc=dmarc_result,
        arc=arc_result,
        from_domain=from_domain,
        org_domain=org_domain,
        dmarc_policy=policy,
        aligned_spf=aligned_spf,
        aligned_dkim=aligned_dkim,
        reasons=reasons,
        header_verdicts=reported.verdicts,
    )


def _reasons(
    spf_result: MethodResult,
    dkim_result: MethodResult,
    dmarc_result: MethodResult,
    arc_result: MethodResult,
    policy: str | None,
    from_domain: str | None,
    aligned_spf: bool | None,
    aligned_dkim: bool | None,
    *,
    nothing: bool,
    offline: bool,
) -> list[Reason]:
    """The auth.* reasons; pass results give none."""
    reasons: list[Reason] = []

    def add(check: str, method: MethodResult, text: str) -> None:
        where = "verified here" if method.source == "local" else "reported"
        reasons.append(Reason(check, f"{text} ({where}): {method.detail}", 0.0))

    if spf_result.result == "fail":
        add("auth.spf_fail", spf_result, f"spf=fail for {spf_result.domain or '?'}")
    elif spf_result.result == "softfail":
        add("auth.spf_softfail", spf_result, f"spf=softfail for {spf_result.domain or '?'}")
    if dkim_result.result in ("fail", "permerror"):
        add("auth.dkim_fail", dkim_result, f"dkim={dkim_result.result}")
    if dmarc_result.result == "fail":
        add(
            "auth.dmarc_fail",
            dmarc_result,
            f"dmarc=fail p={policy or 'unknown'} for {dmarc_result.domain or from_domain or '?'}",
        )
    elif dmarc_result.result == "none" and dmarc_result.source != "none" and from_domain:
        add("auth.dmarc_none", dmarc_result, f"{from_domain} publishes no DMARC policy")
    if arc_result.result == "fail":
        add("auth.arc_fail", arc_result, "arc=fail")
    # a pass for some other domain: DMARC would catch it, so only said when DMARC did not
    if (
        dmarc_result.result not in ("pass", "fail")
        and from_domain
        and False in (aligned_spf, aligned_dkim)
        and True not in (aligned_spf, aligned_dkim)
    ):
        passed = [
            f"{name} d={m.domain}"
            for name, m, ok in (
                ("spf", spf_result, aligned_spf),
                ("dkim", dkim_result, aligned_dkim),
            )
            if ok is False
        ]
        reasons.append(
            Reason("auth.unaligned", f"{', '.join(passed)} pass but From is {from_domain}", 0.0)
        )
    if nothing:
        detail = "no Authentication-Results headers and nothing verified"
        reasons.append(Reason("auth.none", detail + (f" ({OFFLINE})" if offline else ""), 0.0))
    return reasons
