"""One email, parsed once at the boundary: addresses, bodies, attachments, with limits.

The stdlib parser (``email.policy.default``) reads the MIME structure. Everything a message
says about itself is hostile input, so parsing never raises on content: a broken header, a
wrong charset or a truncated part becomes a ``defect`` of the message, and the parts past the
depth, count or size budget are left out and counted, never followed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

MAX_DEPTH = 12  # nested multiparts and attached messages
MAX_PARTS = 500
MAX_BODY_CHARS = 2_000_000  # text kept per body kind


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
    parsed = message_from_bytes(raw, policy=policy.default)
    return _read(parsed, len(raw), depth=0, budget=[MAX_PARTS])


def _read(msg: Message, size: int, *, depth: int, budget: list[int]) -> MailMessage:
    defects: list[str] = [type(d).__name__ for d in getattr(msg, "defects", [])]
    headers: list[tuple[str, str]] = []
    for name, value in msg.raw_items() if isinstance(msg, EmailMessage) else msg.items():
        headers.append((name, _header_text(msg, name, value, defects)))
    from_name, from_address = _first_address(msg, "from", defects)
    result = MailMessage(
        message_id=_clean(_safe_get(msg, "message-id", defects)),
        subject=_safe_get(msg, "subject", defects) or "",
        date=_date(_safe_get(msg, "date", defects)),
        from_name=from_name,
        from_address=from_address,
        reply_to=_addresses(msg, "reply-to", defects),
        return_path=_clean(_safe_get(msg, "return-path", defects), strip="<> "),
        to=_addresses(msg, "to", defects),
        cc=_addresses(msg, "cc", defects),
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


def _safe_get(msg: Message, name: str, defects: list[str]) -> str | None:
    try:
        value = msg.get(name)
    except Exception as exc:  # noqa: BLE001 - a header the parser cannot read is a defect
        defects.append(f"unreadable {name} header: {type(exc).__name__}")
        return None
    return None if value is None else str(value)


def _header_text(msg: Message, name: str, value: object, defects: list[str]) -> str:
    try:
        return str(msg.policy.header_fetch_parse(name, str(value)))
    except Exception:  # noqa: BLE001 - keep the raw text of a header that will not decode
        defects.append(f"undecodable {name} header")
        return str(value)


def _first_address(msg: Message, name: str, defects: list[str]) -> tuple[str, str | None]:
    try:
        header = msg.get(name)
        addresses = getattr(header, "addresses", None)
        if addresses:
            first: Address = addresses[0]
            return first.display_name or "", (first.addr_spec or None)
    except Exception:  # noqa: BLE001 - fall back to the lenient parser below
        defects.append(f"unparsable {name} header")
    raw = _safe_get(msg, name, defects)
    if not raw:
        return "", None
    found = getaddresses([raw])
    if not found:
        return "", None
    display, address = found[0]
    return display, address or None


def _addresses(msg: Message, name: str, defects: list[str]) -> list[str]:
    raw = _safe_get(msg, name, defects)
    if not raw:
        return []
    return [a.lower() for _n, a in getaddresses([raw]) if a]


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
