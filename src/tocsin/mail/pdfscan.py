"""PDF attachments: a pdfid-like scan for JavaScript, launch actions and links.

A PDF is not parsed: its bytes are searched for the action names that matter (``/JavaScript``,
``/Launch``, ``/OpenAction``...), as pdfid does, because a parser is slow and hostile PDFs are
built to break parsers. Names hidden with ``#xx`` escapes are decoded and said to be hidden.
Compressed object streams (``/ObjStm``) are inflated within the archive limits and scanned one
level deep, since that is where generators put the actions; ``/URI`` targets become URLs.
Every search is bounded (names, object streams, URIs, string length), so a PDF that repeats a
name a million times costs no more than one that names it ten thousand times.
"""

from __future__ import annotations

import re
import zlib

from tocsin.mail.attachtypes import RATIO_FLOOR, Walk

PDF_JAVASCRIPT = "attachment.pdf_javascript"
PDF_LAUNCH = "attachment.pdf_launch"

_PDF_KEYWORDS = (
    "JavaScript", "JS", "Launch", "EmbeddedFiles", "EmbeddedFile", "OpenAction", "AA", "URI",
    "ObjStm", "RichMedia", "XFA", "SubmitForm", "GoToR", "GoToE",
)  # fmt: skip
_MAX_OBJECT_STREAMS = 200
_MAX_PDF_URIS = 500
_MAX_PDF_NAMES = 10_000
"""Enough to judge any PDF; past it a file only repeats names to cost us time."""


def _pdf_name_pattern(word: str) -> bytes:
    # any letter of a name may be written as #xx (pdfid's classic evasion: /J#61vaScript)
    parts = []
    for char in word:
        code = f"{ord(char):02x}"
        parts.append(f"(?:{char}|#{code[0]}[{code[1]}{code[1].upper()}])")
    return "".join(parts).encode()


_PDF_NAME = re.compile(
    rb"/("
    + b"|".join(_pdf_name_pattern(word) for word in _PDF_KEYWORDS)
    + rb")(?=[\s/<>\[\]()%{}]|\Z)"
)
_PDF_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
_NOT_HEX = re.compile(rb"[^0-9A-Fa-f]")
_PDF_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
# a literal string with balanced parentheses one level deep (URLs rarely hold more)
_PDF_LITERAL = re.compile(rb"\(((?:[^()\\]|\\.|\((?:[^()\\]|\\.)*\))*)\)", re.DOTALL)
_PDF_ESCAPE = re.compile(rb"\\([0-7]{1,3}|\r\n|.)", re.DOTALL)


def scan_pdf(walk: Walk, path: str, data: bytes) -> None:
    """A pdfid-like scan for action names, inside compressed object streams too; /URI targets."""
    counts: dict[str, int] = {}
    if len(data) > walk.limits.max_member_bytes:
        data = data[: walk.limits.max_member_bytes]
    hidden = _pdf_scan(walk, path, data, counts, nested=True)
    javascript = counts.get("JavaScript", 0) + counts.get("JS", 0)
    escaped = " (names hidden with #xx escapes)" if hidden else ""
    if javascript:
        found = ", ".join(f"/{n} x{counts[n]}" for n in ("JavaScript", "JS") if n in counts)
        walk.reason(PDF_JAVASCRIPT, path, f"{found}{escaped}")
    launch = [f"/{n}" for n in ("Launch", "EmbeddedFile", "EmbeddedFiles") if n in counts]
    if javascript:
        launch += [f"/{n} with JavaScript" for n in ("OpenAction", "AA") if n in counts]
    if launch:
        walk.reason(PDF_LAUNCH, path, ", ".join(launch) + escaped)


def _pdf_scan(walk: Walk, path: str, data: bytes, counts: dict[str, int], *, nested: bool) -> bool:
    """Count the action names in ``data`` and collect its /URI targets; True if any was escaped."""
    hidden = False
    uris = streams = 0
    stream_end = 0  # the last "endstream" found: later object streams reuse it, keeping it linear
    for seen, match in enumerate(_PDF_NAME.finditer(data)):
        if seen >= _MAX_PDF_NAMES:
            break
        raw = match.group(1)
        if b"#" in raw:
            hidden = True
            raw = _PDF_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
        name = raw.decode("latin-1")
        counts[name] = counts.get(name, 0) + 1
        if name == "URI" and uris < _MAX_PDF_URIS:
            uris += 1
            target = _pdf_string(data, match.end())
            if target:
                walk.url(target, f"pdf:{path}")
        elif name == "ObjStm" and nested and streams < _MAX_OBJECT_STREAMS and stream_end >= 0:
            streams += 1
            begin = data.find(b"stream", match.end(), match.end() + 4096)
            if begin < 0 or walk.expired(path):
                continue
            begin += 8 if data[begin + 6 : begin + 8] == b"\r\n" else 7
            if begin > stream_end:
                stream_end = data.find(b"endstream", begin)
            if stream_end < 0:  # none left anywhere after this point
                continue
            inner = _inflate(walk, memoryview(data)[begin:stream_end])
            if inner:
                hidden |= _pdf_scan(walk, path, inner, counts, nested=False)
    return hidden


def _inflate(walk: Walk, packed: memoryview) -> bytes | None:
    """A FlateDecode stream inflated within the limits (cut at the limit: it is only scanned)."""
    limits = walk.limits
    ratio_cap = max(len(packed) * limits.max_ratio, RATIO_FLOOR)
    cap = min(limits.max_member_bytes, walk.bytes_left, ratio_cap)
    if cap <= 0:  # zlib reads a max_length of 0 as "no limit"
        return None
    try:
        content = zlib.decompressobj().decompress(packed, cap)
    except zlib.error:
        return None
    walk.bytes_left -= len(content)
    return content


def _pdf_string(data: bytes, at: int) -> str | None:
    """The PDF string (literal or hex) that starts at ``at`` after optional whitespace."""
    while at < len(data) and data[at] in b" \t\r\n\f\x00":
        at += 1
    opener = data[at : at + 1]
    if opener == b"<":
        end = data.find(b">", at, at + 4096)
        digits = _NOT_HEX.sub(b"", data[at + 1 : end]) if end > 0 else b""
        raw = bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode()) if digits else b""
    elif opener == b"(":
        # bounded match: an unterminated string costs at most 4 KiB of scanning
        literal = _PDF_LITERAL.match(data, at, at + 4096)
        raw = _PDF_ESCAPE.sub(_pdf_unescape, literal.group(1)) if literal else b""
    else:
        return None
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", "replace").strip()
    return raw.decode("latin-1").strip()


def _pdf_unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code[:1].isdigit():  # up to three octal digits
        return bytes([int(code, 8) & 0xFF])
    if code in (b"\n", b"\r", b"\r\n"):  # a backslash before a line break continues the line
        return b""
    return _PDF_ESCAPES.get(code, code)
