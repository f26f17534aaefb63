"""HTML attachments: credential forms, file smuggling and the links they hold.

An HTML (or SVG) attachment opens in the browser from the user's own disk, out of reach of the
mail gateway's URL checks, which makes it a favourite carrier for fake login pages and for
"HTML smuggling" (a script that builds the real payload in the browser and saves it). Its
links are read with the same HTML reader as message bodies (``links.read_html``), plus every
URL in its text, since scripts and meta refreshes hold URLs too. The form and smuggling tests
are cheap substring checks backed by patterns written to stay linear on hostile markup.
"""

from __future__ import annotations

import re

from tocsin.mail.attachtypes import MIB, Walk
from tocsin.mail.links import read_html, urls_in_text

HTML_CREDENTIAL_FORM = "attachment.html_credential_form"
HTML_SMUGGLING = "attachment.html_smuggling"

MAX_TEXT_BYTES = 1 * MIB
"""How much of a text or HTML attachment is read for links and forms."""

# run on lower-cased text: each pattern then starts with a literal, which the engine finds fast;
# the lazy tag body stops at the next "<" or ">", so a run of unclosed tags stays linear
_PASSWORD_INPUT = re.compile(r"<input\b[^<>]*?\btype\s*=\s*[\"']?password\b")
_SMUGGLING = {
    "blob": re.compile(r"new\s+blob\s*\("),
    "decode": re.compile(r"atob\s*\(|uint8array|charcodeat"),
    "download": re.compile(r"download\s*="),
}
_WEB = ("http://", "https://", "//")


def scan_html(walk: Walk, path: str, data: bytes) -> None:
    """Credential forms, file smuggling and every URL of an HTML (or SVG) attachment."""
    text = decode_text(data)
    facts = read_html(text)
    where = f"html:{path}"
    for link in facts.links:
        walk.url(link.url, where)
    for url in urls_in_text(text):  # scripts and meta refreshes hold URLs too
        walk.url(url, where)
    lower = text.lower()
    evidence = []
    if facts.password_form or _PASSWORD_INPUT.search(lower):
        evidence.append("a password field")
    actions = [link.url for link in facts.links if link.source == "form"]
    remote = [url for url in actions if url.lower().startswith(_WEB)]
    if remote:
        evidence.append("a form posting to " + ", ".join(remote[:3]))
    if evidence:
        walk.reason(HTML_CREDENTIAL_FORM, path, " and ".join(evidence))
    smuggling = []
    if "mssaveoropenblob" in lower or "mssaveblob" in lower:
        smuggling.append("msSaveOrOpenBlob")
    if _SMUGGLING["blob"].search(lower) and _SMUGGLING["decode"].search(lower):
        smuggling.append("builds a Blob from encoded data")
    download = "download" in lower and _SMUGGLING["download"].search(lower)
    if download and "createobjecturl" in lower:
        smuggling.append("saves a generated file (createObjectURL and download)")
    if download and "data:application/" in lower:
        smuggling.append("download link to a data: URL")
    if smuggling:
        walk.reason(HTML_SMUGGLING, path, ", ".join(smuggling))


def decode_text(data: bytes) -> str:
    """The first ``MAX_TEXT_BYTES`` of a text file as text, by its byte-order mark, else UTF-8."""
    head = data[:MAX_TEXT_BYTES]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return head.decode("utf-16", "replace")
    return head.decode("utf-8-sig" if head[:3] == b"\xef\xbb\xbf" else "utf-8", "replace")
