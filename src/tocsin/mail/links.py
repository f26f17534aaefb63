"""Every link in a message: from the text, from the HTML (with what the reader sees), from forms.

HTML is read once with selectolax's Lexbor parser (a browser-grade HTML5 parser in C: it runs
nothing, never fails on bad markup, and reads a page four times faster than ``html.parser``).
A link keeps the text shown for it, so a check can compare what the reader sees
(``https://bank.example``) with where the link goes; the same pass gives the visible text,
the forms and the inline images the other checks read.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

MAX_LINKS = 1000
MAX_TEXT_CHARS = 1_000_000
MAX_IMAGES = 20
_WEB_PREFIXES = ("http://", "https://", "www.", "//")

_URL = re.compile(r"""\b(?:https?://|www\.)[^\s<>"'\])}]+""", re.IGNORECASE)
_TRAILING = ".,;:!?"


@dataclass(frozen=True, slots=True)
class Link:
    """One URL and where it came from: ``text``, ``href``, ``form`` or ``image``."""

    url: str
    source: str
    shown: str | None = None

    @property
    def host(self) -> str | None:
        """The host, lower case, without port or brackets (None when there is none)."""
        url = self.url if "://" in self.url else f"http://{self.url}"
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return None
        return host.lower().rstrip(".") if host else None

    @property
    def is_ip_literal(self) -> bool:
        """Whether the host is an IP address (a common way to hide who runs the site)."""
        host = self.host
        if not host:
            return False
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True


def urls_in_text(text: str) -> list[str]:
    """The URLs in plain text, in order, without trailing punctuation."""
    found = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if url:
            found.append(url)
    return found


@dataclass(frozen=True, slots=True)
class HtmlFacts:
    """What one HTML body shows and does."""

    links: list[Link]
    text: str
    """The visible text (scripts and styles left out), whitespace collapsed."""
    password_form: bool
    """A form with a password field: a credential prompt inside the mail itself."""
    data_images: list[str]
    """``data:image/...`` sources, for the QR code reader."""


def read_html(html: str) -> HtmlFacts:
    """Parse an HTML body once for links, visible text, forms and inline images."""
    tree = LexborHTMLParser(html)
    links: list[Link] = []
    data_images: list[str] = []
    for node in tree.css("a[href], area[href], form[action], img[src]"):
        attrs = node.attributes
        tag = node.tag
        if tag in ("a", "area"):
            href = (attrs.get("href") or "").strip()
            shown = " ".join(node.text(deep=True, separator=" ").split()) or None
            links.append(Link(href, "href", shown))
        elif tag == "form":
            links.append(Link((attrs.get("action") or "").strip(), "form"))
        else:
            src = (attrs.get("src") or "").strip()
            if src[:11].lower() == "data:image/":
                data_images.append(src)
            else:
                links.append(Link(src, "image"))
    password_form = bool(tree.css_first("form input[type=password i]"))
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    body = tree.body
    text = " ".join(body.text(separator=" ").split()) if body is not None else ""
    web = [link for link in links if link.url.lower().startswith(_WEB_PREFIXES)]
    return HtmlFacts(web, text[:MAX_TEXT_CHARS], password_form, data_images[:MAX_IMAGES])


def extract_links(text: str, html: str, facts: HtmlFacts | None = None) -> list[Link]:
    """The links of a message's bodies, without repeats (first occurrence kept)."""
    links: list[Link] = [Link(u, "text") for u in urls_in_text(text)]
    if html:
        links.extend((facts or read_html(html)).links)
    seen: set[tuple[str, str, str | None]] = set()
    unique = []
    for link in links:
        key = (link.url, link.source, link.shown)
        if key not in seen:
            seen.add(key)
            unique.append(link)
    return unique[:MAX_LINKS]
