"""The sender and link checks: who the message claims to be, and where it sends the reader.

Each function returns reasons with weight 0; ``scoring.score`` weighs them. Everything that
can be prepared once (the lookalike tables of the protected and brand domains, the name
matcher, the indicator set) lives in ``Context``, built once per analyzer, so a message costs
dictionary lookups, not loops over lists.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from tocsin.core.event import Reason
from tocsin.intel.brands import BRANDS, Brand
from tocsin.intel.indicators import IndicatorSet
from tocsin.intel.lists import covered, is_freemail, is_shortener
from tocsin.intel.lookalike import LookalikeDetector, registrable
from tocsin.intel.names import Impersonated, NameMatch, NameMatcher
from tocsin.mail.links import Link
from tocsin.mail.message import MailMessage

_NONE = 0.0
MAX_DETAILS = 3  # pieces of evidence written per check; the rest are counted

# TLDs that, in abuse reports of the last years, carry far more phishing than their share of
# domains; a weak sign only (plenty of honest sites live there too)
SUSPICIOUS_TLDS = frozenset(
    "zip mov xyz top click gq tk ml cf ga work rest cam buzz icu cyou sbs bond cfd quest "
    "lol monster hair beauty skin autos boats makeup mom yachts gives loan men date win "
    "bid racing review download stream country kim party science trade accountant faith "
    "cricket webcam sa.com ru.com".split()
)
# where anyone can host a page for free, and phishing kits are hosted all the time
FREE_HOSTING = frozenset(
    "storage.googleapis.com firebasestorage.googleapis.com firebaseapp.com web.app "
    "appspot.com r2.dev workers.dev pages.dev netlify.app vercel.app github.io glitch.me "
    "herokuapp.com onrender.com repl.co replit.app blob.core.windows.net "
    "azurewebsites.net azureedge.net s3.amazonaws.com backblazeb2.com "
    "000webhostapp.com weebly.com wixsite.com webflow.io square.site godaddysites.com "
    "sites.google.com forms.gle docs.google.com ipfs.io dweb.link cloudflare-ipfs.com "
    "ngrok.io ngrok-free.app trycloudflare.com typeform.com jotform.com formstack.com "
    "sharepoint.com my.canva.site canva.site notion.site gitbook.io wordpress.com "
    "blogspot.com mybluehost.me".split()
)
# where people share documents: a stranger's "please review" link usually points here
FILE_SHARING = frozenset(
    "docs.google.com drive.google.com onedrive.live.com 1drv.ms sharepoint.com dropbox.com "
    "wetransfer.com we.tl box.com app.box.com icloud.com files.fm mega.nz".split()
)
# domains anyone gets for free that mail is sent from: cloud tenants' default names
SENDER_HOSTING = frozenset({"onmicrosoft.com"})
_ORG_WORDS = re.compile(
    r"\b(support|service|services|team|department|dept|admin|administrator|helpdesk|"
    r"help desk|billing|security|account|accounts|payroll|hr|human resources|ceo|cfo|"
    r"director|manager|bank|notification|notifications|customer care|it desk|webmaster|"
    r"mailbox|e-?mail|delivery|shipping|finance|invoice|office)\b",
    re.IGNORECASE,
)
# an internet domain: at least two labels of letters, digits and inner hyphens
_VALID_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$")
_ADDRESS_IN_NAME = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
_DOMAIN_IN_TEXT = re.compile(
    r"^(?:https?://)?(?:www\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)(?:[/:?#]\S*)?$"
)


@dataclass(slots=True)
class Context:
    """What the checks read besides the message, prepared once."""

    protected_domains: tuple[str, ...] = ()
    vips: tuple[Impersonated, ...] = ()
    brands: tuple[Brand, ...] = BRANDS
    indicators: IndicatorSet = field(default_factory=IndicatorSet)
    known_senders: frozenset[str] | None = None
    lookalikes: LookalikeDetector = field(init=False)
    brand_lookalikes: LookalikeDetector = field(init=False)
    names: NameMatcher = field(init=False)
    brand_domains: dict[str, Brand] = field(init=False)
    brand_words: dict[str, Brand] = field(init=False)

    def __post_init__(self) -> None:
        self.protected_domains = tuple(d.lower().rstrip(".") for d in self.protected_domains)
        self.lookalikes = LookalikeDetector(self.protected_domains)
        self.brand_domains = {}
        for brand in self.brands:
            for domain in brand.domains:
                self.brand_domains.setdefault(domain, brand)  # the first (main) owner names it
        # brand labels too short or too common to compare by edit distance stay exact-only
        self.brand_lookalikes = LookalikeDetector(
            d
            for b in self.brands
            if not b.common_word
            for d in b.domains[:1]
            if len(d.split(".")[0]) >= 5
        )
        # single-word brand names long enough to compare misspelt ("Microsft") in a name
        self.brand_words = {
            b.name.casefold(): b
            for b in self.brands
            if not b.common_word and " " not in b.name and len(b.name) >= 6
        }
        entries = list(self.vips)
        for brand in self.brands:
            domains = tuple(brand.domains)
            names = [] if brand.common_word else [brand.name]
            names += list(brand.aliases)
            entries += [Impersonated(n, "brand", (), domains) for n in names]
            if brand.common_word:
                entries.append(Impersonated(brand.name, "vip", (), domains))
        self.names = NameMatcher(entries)

    def owned_by_brand(self, domain: str | None) -> bool:
        """Whether a domain belongs to a seeded brand (then lookalike rules do not apply)."""
        if not domain:
            return False
        parts = domain.split(".")
        return any(".".join(parts[i:]) in self.brand_domains for i in range(len(parts) - 1))


def _reg(domain: str | None) -> str | None:
    if not domain:
        return None
    return registrable(domain) or domain


def _domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].lower().strip(" .>")


def sender_reasons(msg: MailMessage, ctx: Context) -> list[Reason]:
    """Impersonation and mismatch checks on From, Reply-To and Return-Path."""
    reasons: list[Reason] = []
    address = (msg.from_address or "").lower()
    domain = _domain_of(address)
    if not domain or not _VALID_DOMAIN.match(domain):
        reasons.append(
            Reason("sender.malformed_from", f"From has no usable address: {address!r}", _NONE)
        )
    from_reg = _reg(domain)
    name = msg.from_name.strip()

    if name:
        match = ctx.names.check(name, address) or _misspelt_brand(name, address, ctx)
        if match is not None:
            kind = "vip" if match.entry.kind == "vip" and match.entry.addresses else "brand"
            owner = ", ".join(match.entry.domains[:3] or match.entry.addresses[:3]) or "nobody"
            reasons.append(
                Reason(
                    f"sender.{kind}_impersonation",
                    f"display name {name!r} resembles {match.entry.name!r} "
                    f"({match.technique}, {match.score:.2f}) but the address {address!r} "
                    f"is not theirs ({owner})",
                    _NONE,
                )
            )
        inner = _ADDRESS_IN_NAME.search(name)
        if inner and _reg(inner.group(1).lower()) != from_reg:
            reasons.append(
                Reason(
                    "sender.display_name_address",
                    f"display name shows {inner.group(0)!r} but the mail comes from {address!r}",
                    _NONE,
                )
            )
        if domain and is_freemail(domain) and _ORG_WORDS.search(name):
            reasons.append(
                Reason(
                    "sender.freemail_claims_company",
                    f"{name!r} writes from the free-mail address {address!r}",
                    _NONE,
                )
            )

    if domain and (covered(domain, FREE_HOSTING) or covered(domain, SENDER_HOSTING)):
        reasons.append(
            Reason(
                "sender.free_hosting",
                f"the From domain {domain} is a free hosting or default tenant name, "
                "not an organisation's own domain",
                _NONE,
            )
        )
    if domain:
        found = _lookalike(domain, ctx)
        if found:
            reasons.append(Reason("sender.lookalike_domain", f"From {domain}: {found}", _NONE))
        hits = ctx.indicators.match_email(address)
        if hits:
            reasons.append(
                Reason(
                    "sender.intel_match",
                    f"{address} is listed in {hits[0].source}",
                    _NONE,
                )
            )

    for reply in msg.reply_to:
        reply_domain = _domain_of(reply)
        if not reply_domain or reply == address:
            continue
        if is_freemail(reply_domain):
            # answers diverted to a free-mail account (another one than the sender's, if the
            # sender writes from free mail too): the classic set-up of CEO fraud
            reasons.append(
                Reason(
                    "sender.reply_to_freemail",
                    f"answers go to the free-mail address {reply}, not to {address}",
                    _NONE,
                )
            )
            break
        if _reg(reply_domain) == from_reg:
            continue
        reasons.append(
            Reason(
                "sender.reply_to_mismatch",
                f"answers go to {reply} ({reply_domain}), not to {from_reg}",
                _NONE,
            )
        )
        break
    return_domain = _domain_of(msg.return_path)
    if return_domain and from_reg and _reg(return_domain) != from_reg:
        reasons.append(
            Reason(
                "sender.return_path_mismatch",
                f"bounces go to {return_domain}, the From domain is {from_reg}",
                _NONE,
            )
        )
    if ctx.known_senders is not None and address and address not in ctx.known_senders:
        reasons.append(Reason("sender.first_contact", f"no earlier message from {address}", _NONE))
    return reasons


_TOKEN = re.compile(r"[^\W\d_]{6,}")


def _misspelt_brand(name: str, address: str, ctx: Context) -> NameMatch | None:
    """A word of the display name one slip away from a brand's name ("Microsft", "Amazom")."""
    if not ctx.brand_words:
        return None
    for token in _TOKEN.findall(name.casefold())[:12]:
        found = process.extractOne(
            token, ctx.brand_words.keys(), scorer=JaroWinkler.similarity, score_cutoff=0.93
        )
        if found is None:
            continue
        brand = ctx.brand_words[found[0]]
        domain = _domain_of(address) or ""
        if any(domain == d or domain.endswith("." + d) for d in brand.domains):
            return None
        entry = Impersonated(brand.name, "brand", (), brand.domains)
        return NameMatch(entry, float(found[1]), "misspelt-word")
    return None


def _lookalike(domain: str, ctx: Context) -> str | None:
    match = ctx.lookalikes.check(domain)
    if match is not None:
        return f"looks like our domain {match.protected} ({match.technique})"
    if ctx.owned_by_brand(domain):
        return None
    match = ctx.brand_lookalikes.check(domain)
    # brand.net beside brand.com is as often an unrelated owner as an impostor
    if match is not None and match.technique != "tld-swap":
        brand = ctx.brand_domains.get(match.protected)
        owner = brand.name if brand else match.protected
        return f"looks like {owner}'s {match.protected} ({match.technique})"
    return None


def _host(url: str) -> str | None:
    candidate = url if "://" in url else f"http://{url.lstrip('/')}"
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def is_ip_host(host: str) -> bool:
    """An IP address, also in the decimal, octal or hex forms browsers still accept."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    if host.isdigit() and len(host) >= 8:
        return True
    return host.startswith("0x") and all(c in "0123456789abcdefx." for c in host)


def link_reasons(links: Iterable[Link], ctx: Context) -> list[Reason]:
    """Checks on every link: where it goes, what it shows, and what we know of it.

    A newsletter repeats the same few hosts hundreds of times, so what depends only on the
    host is worked out once per host and message.
    """
    found: dict[str, list[str]] = {}
    hosts: dict[str, list[tuple[str, str]]] = {}
    seen_urls: set[tuple[str, str]] = set()
    use_intel = len(ctx.indicators) > 0

    def add(check: str, detail: str) -> None:
        details = found.setdefault(check, [])
        if len(details) < MAX_DETAILS and detail not in details:
            details.append(detail)
        elif detail not in details:
            details.append("")  # counted, not shown

    for link in links:
        url = link.url
        if (url, link.source) in seen_urls and not link.shown:
            continue
        seen_urls.add((url, link.source))
        lowered = url[:11].lower()
        if lowered.startswith(("javascript:", "data:text", "vbscript:")):
            add("link.script_or_data", f"{link.source} link runs {url[:40]!r}")
            continue
        host = _host(url)
        if not host:
            continue
        if use_intel:
            hits = ctx.indicators.match_url(url if "://" in url else f"http://{url}")
            if hits:
                add("link.intel_match", f"{url} is listed in {hits[0].source}")
        by_host = hosts.get(host)
        if by_host is None:
            by_host = hosts[host] = _host_reasons(host, ctx)
        for check, detail in by_host:
            if check == "link.ip_literal" and link.source == "text":
                # addresses quoted in plain text (server lists, pasted logs) are not an
                # invitation to click; a clickable link or a form to a bare address is
                continue
            if check == "link.free_hosting" and _path(url).endswith(_PAGE_SUFFIXES):
                # a web page kept in someone's storage bucket: where phishing kits live
                add("link.hosted_page", f"{url[:120]} is a page stored on {detail}")
                continue
            add(check, detail if check != "link.free_hosting" else f"{url[:120]} is on {detail}")
        if link.source == "href" and link.shown:
            shown = _shown_domain(link.shown)
            reg = registrable(host) or host
            if shown and (registrable(shown) or shown) != reg and not _same_owner(shown, host, ctx):
                add("link.text_mismatch", f"shows {link.shown[:80]!r} but goes to {host}")
    reasons = []
    for check, details in found.items():
        written = [d for d in details if d]
        more = f" (+{len(details) - len(written)} more)" if len(details) > len(written) else ""
        reasons.append(Reason(check, "; ".join(written) + more, _NONE))
    return reasons


def _host_reasons(host: str, ctx: Context) -> list[tuple[str, str]]:
    """What a link's host alone says: the checks that do not depend on the rest of the URL."""
    found: list[tuple[str, str]] = []
    if is_ip_host(host):
        found.append(("link.ip_literal", f"link to the bare address {host}"))
        return found
    reg = registrable(host) or host
    if is_shortener(host):
        found.append(("link.shortener", f"{host} hides where its links go"))
    if covered(host, FREE_HOSTING):
        found.append(("link.free_hosting", f"free hosting ({reg})"))
    tld = _tld(host)
    if tld in SUSPICIOUS_TLDS:
        found.append(("link.suspicious_tld", f"{host} (.{tld})"))
    look = _lookalike(host, ctx)
    if look:
        found.append(("link.lookalike_domain", f"{host}: {look}"))
    return found


_PAGE_SUFFIXES = (".html", ".htm", ".shtml", ".php", ".xhtml", ".svg")


def _path(url: str) -> str:
    try:
        return urlsplit(url if "://" in url else f"http://{url}").path.lower()
    except ValueError:
        return ""


def shares_files(links: Iterable[Link]) -> str | None:
    """The first link to a document-sharing service, if any."""
    for link in links:
        host = link.host
        if host and covered(host, FILE_SHARING):
            return host
    return None


def _tld(host: str) -> str:
    parts = host.rsplit(".", 2)
    if len(parts) >= 2 and f"{parts[-2]}.{parts[-1]}" in SUSPICIOUS_TLDS:
        return f"{parts[-2]}.{parts[-1]}"
    return parts[-1]


def _shown_domain(shown: str) -> str | None:
    """The domain a link's visible text names, when the text is a URL or a bare domain."""
    text = shown.strip().lower()
    if " " in text or len(text) > 200:
        return None
    match = _DOMAIN_IN_TEXT.match(text)
    if not match:
        return None
    candidate = match.group(1)
    # "file.pdf" or "v1.2" are not domains: the last label must be a known suffix
    reg = registrable(candidate)
    return candidate if reg else None


def _same_owner(shown: str, host: str, ctx: Context) -> bool:
    """Two domains of one brand (a tracking domain of the same sender is not hiding)."""
    a, b = ctx.brand_domains, registrable(host) or host
    owner = a.get(registrable(shown) or shown)
    return owner is not None and b in owner.domains
