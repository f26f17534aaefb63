"""Every link in a message: from the text, from the HTML (with what the reader sees), from forms.

HTML is read with the stdlib's ``html.parser`` (it never runs anything and never fails on bad
markup). A link keeps the text shown for it, so a check can compare what the reader sees
(``https://bank.example``) with where the link goes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

MAX_LINKS = 1000

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


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[Link] = []
        self._href: str | None = None
        self._shown: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "").strip() for k, v in attrs}
        if tag == "a" and values.get("href"):
            self._close_anchor()
            self._href = values["href"]
            self._shown = []
        elif tag == "form" and values.get("action"):
            self.links.append(Link(values["action"], "form"))
        elif tag == "img" and values.get("src", "").lower().startswith(("http://", "https://")):
            self.links.append(Link(values["src"], "image"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close_anchor()

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._shown.append(data)

    def _close_anchor(self) -> None:
        if self._href is not None:
            shown = " ".join("".join(self._shown).split()) or None
            self.links.append(Link(self._href, "href", shown))
        self._href = None
        self._shown = []

    def close(self) -> None:
        super().close()
        self._close_anchor()


def extract_links(text: str, html: str) -> list[Link]:
    """The links of a message's bodies, without repeats (first occurrence kept)."""
    links: list[Link] = [Link(u, "text") for u in urls_in_text(text)]
    if html:
        parser = _LinkParser()
        parser.feed(html)
        parser.close()
        links.extend(
            link
            for link in parser.links
            if link.url.lower().startswith(("http://", "https://", "www.", "//"))
        )
    seen: set[tuple[str, str, str | None]] = set()
    unique = []
    for link in links:
        key = (link.url, link.source, link.shown)
        if key not in seen:
            seen.add(key)
            unique.append(link)
    return unique[:MAX_LINKS]
