"""One email, parsed once at the boundary: addresses, bodies, attachments, with limits.

The stdlib parser reads the MIME structure with the ``compat32`` policy, which leaves headers as
text: the ``default`` policy's header objects cost three quarters of the parse, so the few
headers the checks read are decoded here (RFC 2047 words only where a value has them).

Everything a message says about itself is hostile input, so parsing never raises on content:
a broken header, a wrong charset or a truncated part becomes a ``defect`` of the message, and
the parts past the depth, count or size budget are left out and counted, never followed.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

MAX_DEPTH = 12  # nested multiparts and attached messages
MAX_PARTS = 500
MAX_BODY_CHARS = 2_000_000  # text kept per body kind

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file: its name, declared type, size and hashes (never its bytes)."""

    filename: str | None
    content_type: str
    size: int
    md5: str
    sha1: str
    sha256: str
    payload: bytes = field(repr=False, compare=False)
    """The decoded bytes, for the checks that look inside; never stored or logged."""


@dataclass(slots=True)
class MailMessage:
    """An email as the checks read it."""

    message_id: str | None
    subject: str
    date: datetime | None
    from_name: str
    from_address: str | None
    reply_to: list[str]
    return_path: str | None
    to: list[str]
    cc: list[str]
    headers: list[tuple[str, str]]
    text: str
    html: str
    attachments: list[Attachment]
    attached_messages: list[MailMessage]
    defects: list[str]
    size: int

    def header_values(self, name: str) -> list[str]:
        """Every value of a header, in order (names compare without case)."""
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    @property
    def from_domain(self) -> str | None:
        """The domain of the From address, lower case."""
        if not self.from_address or "@" not in self.from_address:
            return None
        return self.from_address.rsplit("@", 1)[1].lower()

    def to_event(self) -> dict[str, object]:
        """The ``mail.message`` event fields (ECS ``email.*``) of this message."""
        event: dict[str, object] = {
            "event.dataset": "mail.message",
            "event.kind": "event",
            "event.category": ["email"],
            "email.message_id": self.message_id,
            "email.subject": self.subject,
            "email.from.address": [self.from_address] if self.from_address else [],
            "email.sender.address": self.return_path,
            "email.reply_to.address": self.reply_to,
            "email.to.address": self.to,
            "email.cc.address": self.cc,
            "email.origination_timestamp": self.date,
            "email.attachments": [
                {
                    "file.name": a.filename,
                    "file.mime_type": a.content_type,
                    "file.size": a.size,
                    "file.hash.sha256": a.sha256,
                }
                for a in self.attachments
            ],
        }
        if self.from_name:
            event["email.from.name"] = self.from_name
        return event


def parse_message(raw: bytes) -> MailMessage:
    """Parse one message; never raises on what the message contains."""
    parsed = message_from_bytes(raw, policy=policy.compat32)
    return _read(parsed, len(raw), depth=0, budget=[MAX_PARTS])


def _read(msg: Message, size: int, *, depth: int, budget: list[int]) -> MailMessage:
    defects: list[str] = [type(d).__name__ for d in getattr(msg, "defects", [])]
    raw: dict[str, list[str]] = {}
    decoded: dict[str, str] = {}
    headers: list[tuple[str, str]] = []
    for name, value in msg.raw_items():
        text = _unescape(value)
        key = name.lower()
        raw.setdefault(key, []).append(text)
        headers.append((name, _header_text(name, text, defects)))
        decoded.setdefault(key, headers[-1][1])

    def first(name: str) -> str | None:
        return decoded.get(name)

    from_name, from_address = _first_address(raw.get("from", []), defects)
    result = MailMessage(
        message_id=_clean(first("message-id")),
        subject=first("subject") or "",
        date=_date(first("date")),
        from_name=from_name,
        from_address=from_address,
        reply_to=_addresses(raw.get("reply-to", [])),
        return_path=_clean(first("return-path"), strip="<> "),
        to=_addresses(raw.get("to", [])),
        cc=_addresses(raw.get("cc", [])),
        headers=headers,
        text="",
        html="",
        attachments=[],
        attached_messages=[],
        defects=defects,
        size=size,
    )
    texts: list[str] = []
    htmls: list[str] = []
    for part in _walk(msg, depth, budget, defects):
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            inner_msg = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner_msg, Message):
                if depth + 1 > MAX_DEPTH:
                    defects.append("attached message nested too deep: left out")
                    continue
                result.attached_messages.append(
                    _read(inner_msg, len(bytes(inner_msg)), depth=depth + 1, budget=budget)
                )
            continue
        disposition = (part.get_content_disposition() or "").lower()
        filename = _safe_filename(part, defects)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            (texts if ctype == "text/plain" else htmls).append(_text_of(part, defects))
            continue
        payload = _payload(part, defects)
        result.attachments.append(
            Attachment(
                filename=filename,
                content_type=ctype,
                size=len(payload),
                md5=hashlib.md5(payload, usedforsecurity=False).hexdigest(),
                sha1=hashlib.sha1(payload, usedforsecurity=False).hexdigest(),
                sha256=hashlib.sha256(payload).hexdigest(),
                payload=payload,
            )
        )
    result.text = "\n".join(texts)[:MAX_BODY_CHARS]
    result.html = "\n".join(htmls)[:MAX_BODY_CHARS]
    return result


def _walk(msg: Message, depth: int, budget: list[int], defects: list[str]) -> Iterator[Message]:
    """The leaf parts and attached messages, depth-first, within the part and depth budget."""
    pending: list[tuple[Message, int]] = [(msg, depth)]
    while pending:
        part, level = pending.pop(0)
        if budget[0] <= 0:
            defects.append(f"more than {MAX_PARTS} MIME parts: the rest left out")
            return
        budget[0] -= 1
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            if level >= MAX_DEPTH:
                defects.append(f"multipart nested deeper than {MAX_DEPTH}: left out")
                continue
            children = part.get_payload()
            if isinstance(children, list):
                pending = [(c, level + 1) for c in children if isinstance(c, Message)] + pending
            continue
        yield part


def _unescape(value: object) -> str:
    """A raw header value; 8-bit bytes (kept as surrogates by the parser) read as UTF-8."""
    text = str(value)
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _header_text(name: str, text: str, defects: list[str]) -> str:
    """A header value unfolded, its RFC 2047 encoded words decoded."""
    if "\n" in text:
        text = " ".join(line.strip() for line in text.splitlines())
    if "=?" not in text:
        return text
    if text.isascii():
        try:
            return str(make_header(decode_header(text)))
        except Exception:  # noqa: BLE001, S110 - decoded word by word below
            pass
    # raw 8-bit text beside encoded words (which the stdlib will not mix), or a broken word
    return _ENCODED_WORD.sub(lambda m: _decode_word(m, name, defects), text)


def _decode_word(match: re.Match[str], name: str, defects: list[str]) -> str:
    charset, encoding, data = match.group(1), match.group(2).lower(), match.group(3)
    try:
        if encoding == "b":
            raw = base64.b64decode(data + "=" * (-len(data) % 4))
        else:
            raw = quopri.decodestring(data.replace("_", " ").encode("ascii"), header=True)
        return raw.decode(charset.split("*")[0], "replace")
    except (ValueError, LookupError, UnicodeError):
        defects.append(f"undecodable {name} header")
        return match.group(0)


def _first_address(values: list[str], defects: list[str]) -> tuple[str, str | None]:
    if not values:
        return "", None
    # the address is read from the raw value, so an encoded display name cannot hide a comma
    # or an angle bracket that would shift the address; the display name is decoded after
    found = getaddresses(values[:1])
    if not found:
        return "", None
    display, address = found[0]
    if "=?" in display:
        display = _header_text("from", display, defects)
    return display, address or None


def _addresses(values: list[str]) -> list[str]:
    return [a.lower() for _n, a in getaddresses(values) if a]


def _clean(value: str | None, strip: str = " ") -> str | None:
    if value is None:
        return None
    text = value.strip(strip).strip()
    return text or None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _safe_filename(part: Message, defects: list[str]) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a broken parameter is a defect, not a crash
        defects.append("unreadable attachment name")
        return None
    return str(name) if name else None


def _payload(part: Message, defects: list[str]) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a broken transfer encoding is a defect
        defects.append(f"undecodable {part.get_content_type()} part")
        return b""
    return data if isinstance(data, bytes) else b""


def _text_of(part: Message, defects: list[str]) -> str:
    """A text part decoded with its charset, or a lenient fallback when the charset lies."""
    data = _payload(part, defects)
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        defects.append(f"text part not in its declared charset {charset!r}")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
