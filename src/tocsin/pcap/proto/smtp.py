"""SMTP sessions into mail transactions with ECS ``email.*`` fields and attached files.

Both reassembled directions of one connection come in. Commands are read from the client,
replies from the server, and the two are paired in order (PIPELINING keeps that order). A
transaction runs from MAIL FROM to the end of its message (DATA, dot-unstuffed, or BDAT
chunks); the message is read with the stdlib ``email`` package under ``compat32``, which leaves
headers as text and tolerates broken MIME. Once STARTTLS is accepted the rest is ciphertext,
so the session ends there with ``smtp.tls`` set. Nothing here raises on session content.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from tocsin.pcap.proto.files import FileInfo, file_info

logger = logging.getLogger(__name__)

MAX_LINE = 4096  # RFC 5321 allows 512 for a command; some clients send longer AUTH lines
MAX_TRANSACTIONS = 1000
MAX_RECIPIENTS = 1000
MAX_PARTS = 500
_VERBS = frozenset(
    {
        "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "VRFY", "EXPN", "HELP",
        "NOOP", "QUIT", "STARTTLS", "AUTH", "TURN", "ETRN", "ATRN", "XCLIENT", "XFORWARD",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SmtpTransaction:
    """One mail transaction: envelope, replies, and the message with its attachments."""

    helo: str | None
    mail_from: str | None
    rcpt_to: tuple[str, ...]
    reply_codes: tuple[int, ...]  # to MAIL, each RCPT, DATA and the end of the message
    last_reply: str | None
    tls: bool  # STARTTLS was seen in the session (refused, or this would not be readable)
    message_bytes: int  # size of the message as sent (after dot-unstuffing)
    subject: str | None = None
    from_addresses: tuple[str, ...] = ()
    to_addresses: tuple[str, ...] = ()
    cc_addresses: tuple[str, ...] = ()
    message_id: str | None = None
    date: datetime | None = None
    x_mailer: str | None = None
    files: tuple[FileInfo, ...] = ()
    truncated: bool = False  # the message was cut (stream cap, max_message, capture end)
    flags: tuple[str, ...] = ()

    def fields(self) -> dict[str, object]:
        """ECS ``email.*`` and native ``smtp.*`` fields of the transaction."""
        out: dict[str, object] = {
            "smtp.rcpt_to": list(self.rcpt_to),
            "smtp.tls": self.tls,
            "smtp.reply_codes": [str(code) for code in self.reply_codes],
            "email.from.address": list(self.from_addresses),
            "email.to.address": list(self.to_addresses),
        }
        if self.helo is not None:
            out["smtp.helo"] = self.helo
        if self.mail_from is not None:
            out["smtp.mail_from"] = self.mail_from
        if self.last_reply is not None:
            out["smtp.last_reply"] = self.last_reply
        if self.message_bytes:
            out["smtp.message_bytes"] = self.message_bytes
        if self.cc_addresses:
            out["email.cc.address"] = list(self.cc_addresses)
        if self.subject is not None:
            out["email.subject"] = self.subject
        if self.message_id is not None:
            out["email.message_id"] = self.message_id
        if self.date is not None:
            out["email.origination_timestamp"] = self.date
        if self.x_mailer is not None:
            out["email.x_mailer"] = self.x_mailer
        if self.truncated:
            out["smtp.truncated"] = True
        if self.flags:
            out["smtp.anomalies"] = list(self.flags)
        return out


@dataclass(frozen=True, slots=True)
class SmtpParse:
    """One SMTP session: its transactions and what held for the whole session."""

    transactions: tuple[SmtpTransaction, ...]
    helo: str | None
    tls: bool
    last_reply: str | None
    truncated: bool
    anomalies: tuple[str, ...] = ()

    def session_fields(self) -> dict[str, object]:
        """Native ``smtp.*`` fields of the session (for a session without a transaction)."""
        out: dict[str, object] = {"smtp.tls": self.tls}
        if self.helo is not None:
            out["smtp.helo"] = self.helo
        if self.last_reply is not None:
            out["smtp.last_reply"] = self.last_reply
        return out


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _replies(server: bytes, anomalies: list[str]) -> list[tuple[int, str]]:
    """Final reply lines in order: (code, line); continuation lines are folded into them."""
    out: list[tuple[int, str]] = []
    for raw in server.split(b"\n"):
        line = raw.rstrip(b"\r")
        if not line:
            continue
        code = line[:3]
        if len(line) < 3 or not code.isdigit():
            if len(anomalies) < 20:
                anomalies.append(f"server line is not a reply: {_text(line[:40])!r}")
            continue
        if line[3:4] == b"-":
            continue  # a multi-line reply goes on
        out.append((int(code), _text(line[:512])))
    # a last line cut mid-reply still counts; it is the final one the capture holds
    return out


def _address(argument: str) -> str:
    """The address of ``FROM:<a@b> SIZE=1`` or ``TO:<a@b>`` (empty for the null sender)."""
    _, _, rest = argument.partition(":")
    rest = rest.strip()
    if rest.startswith("<"):
        return rest[1:].partition(">")[0].strip()
    return rest.split(" ", 1)[0]


def _decoded(value: object) -> str:
    text = str(value)
    if "=?" not in text:
        return " ".join(text.split())
    try:
        return " ".join(str(make_header(decode_header(text))).split())
    except (ValueError, LookupError, UnicodeError):
        return " ".join(text.split())


def _addresses(msg: Message, name: str) -> tuple[str, ...]:
    values = [str(v) for v in msg.get_all(name, [])]
    if not values:
        return ()
    try:
        pairs = getaddresses(values)
    except (ValueError, IndexError, TypeError):
        return ()
    return tuple(address for _, address in pairs if address)[:MAX_RECIPIENTS]


@dataclass(frozen=True, slots=True)
class _Content:
    subject: str | None = None
    from_addresses: tuple[str, ...] = ()
    to_addresses: tuple[str, ...] = ()
    cc_addresses: tuple[str, ...] = ()
    message_id: str | None = None
    date: datetime | None = None
    x_mailer: str | None = None
    files: tuple[FileInfo, ...] = ()
    flags: tuple[str, ...] = ()


def _read_message(raw: bytes, *, truncated: bool) -> _Content:
    """Headers and attachments of one message (``raw`` already unstuffed and capped)."""
    flags: list[str] = []
    try:
        msg = message_from_bytes(raw, policy=policy.compat32)
    except Exception:  # the stdlib parser is lenient; anything it still throws is a defect
        logger.debug("message parse failed", exc_info=True)
        return _Content(flags=("message_unreadable",))
    subject = msg.get("subject")
    message_id = msg.get("message-id")
    mailer = msg.get("x-mailer") or msg.get("user-agent")
    date: datetime | None = None
    if msg.get("date"):
        try:
            date = parsedate_to_datetime(str(msg["date"]))
            date = date.astimezone(UTC) if date.tzinfo else date.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            flags.append("bad_date")
    files: list[FileInfo] = []
    for count, part in enumerate(msg.walk()):
        if count >= MAX_PARTS:
            flags.append("too_many_parts")
            break
        if part.is_multipart():
            continue
        attachment = _attachment(part, truncated=truncated, flags=flags)
        if attachment is not None:
            files.append(attachment)
    return _Content(
        subject=_decoded(subject) if subject is not None else None,
        from_addresses=_addresses(msg, "from"),
        to_addresses=_addresses(msg, "to"),
        cc_addresses=_addresses(msg, "cc"),
        message_id=" ".join(str(message_id).split()) if message_id else None,
        date=date,
        x_mailer=_decoded(mailer) if mailer else None,
        files=tuple(files),
        flags=tuple(flags + [type(d).__name__ for d in msg.defects][:20]),
    )


def _attachment(part: Message, *, truncated: bool, flags: list[str]) -> FileInfo | None:
    try:
        name = part.get_filename()
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
    except (ValueError, LookupError, TypeError, IndexError):
        flags.append("bad_part_headers")
        return None
    # the text and html bodies are the message itself, not files
    if name is None and disposition != "attachment" and content_type.startswith("text/"):
        return None
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, LookupError, TypeError):
        flags.append("bad_part_payload")
        return None
    if not isinstance(payload, bytes) or not payload:
        return None
    return file_info(
        payload,
        name=_decoded(name)[:255] if name else None,
        declared_type=content_type,
        source="smtp",
        direction="upload",
        truncated=truncated,
    )


class _Session:
    """Walks the client's commands, taking the server's replies in order."""

    def __init__(self, client: bytes, replies: list[tuple[int, str]], max_message: int) -> None:
        self.client = client
        self.replies = replies
        self.next_reply = 0
        self.max_message = max(max_message, 0)
        self.helo: str | None = None
        self.tls = False
        self.last_reply: str | None = None
        self.truncated = False
        self.anomalies: list[str] = []
        self.transactions: list[SmtpTransaction] = []
        self._reset()

    def _reset(self) -> None:
        self.mail_from: str | None = None
        self.rcpt_to: list[str] = []
        self.codes: list[int] = []
        self.in_transaction = False
        self.chunks: list[bytes] = []
        self.chunk_bytes = 0

    def reply(self) -> int | None:
        """The next server reply's code (None when the server stream has no more)."""
        if self.next_reply >= len(self.replies):
            return None
        code, line = self.replies[self.next_reply]
        self.next_reply += 1
        self.last_reply = line
        if self.in_transaction:
            self.codes.append(code)
        return code

    def finish(self, message: bytes | None, *, cut: bool) -> None:
        """Close the transaction in progress, with its message if one was sent."""
        if not self.in_transaction:
            return
        if len(self.transactions) >= MAX_TRANSACTIONS:
            self._reset()
            return
        content = _Content()
        size = 0
        truncated = cut
        if message is not None:
            size = len(message)
            if size > self.max_message:
                truncated = True
                message = message[: self.max_message]
            content = _read_message(message, truncated=truncated)
        self.truncated |= truncated
        self.transactions.append(
            SmtpTransaction(
                helo=self.helo,
                mail_from=self.mail_from,
                rcpt_to=tuple(self.rcpt_to),
                reply_codes=tuple(self.codes),
                last_reply=self.last_reply,
                tls=self.tls,
                message_bytes=size,
                subject=content.subject,
                from_addresses=content.from_addresses,
                to_addresses=content.to_addresses,
                cc_addresses=content.cc_addresses,
                message_id=content.message_id,
                date=content.date,
                x_mailer=content.x_mailer,
                files=content.files,
                truncated=truncated,
                flags=content.flags,
            )
        )
        self._reset()

    def run(self) -> None:
        data = self.client
        n = len(data)
        pos = 0
        # the greeting comes before any command; a capture that misses it misses the 220 too
        if self.replies and self.replies[0][0] in (220, 554) and _starts_session(data):
            self.reply()
        auth_pending = False
        while pos < n:
            eol = data.find(b"\n", pos, pos + MAX_LINE)
            if eol < 0:
                if n - pos >= MAX_LINE:
                    self.anomalies.append(f"command line longer than {MAX_LINE} at offset {pos}")
                self.truncated = True
                break
            line = data[pos:eol].rstrip(b"\r")
            pos = eol + 1
            if auth_pending:
                # a SASL continuation (base64): answered, never recorded
                auth_pending = self.reply() == 334
                continue
            verb_bytes, _, arg_bytes = line.partition(b" ")
            verb = verb_bytes.decode("latin-1").upper()
            if verb not in _VERBS:
                if line and len(self.anomalies) < 20:
                    self.anomalies.append(f"unknown command {verb[:20]!r}")
                continue
            arg = _text(arg_bytes).strip()
            if verb in ("HELO", "EHLO", "LHLO"):
                self.finish(None, cut=False)
                self.helo = arg[:255] or None
                self.reply()
            elif verb == "MAIL":
                self.finish(None, cut=False)
                self.in_transaction = True
                self.mail_from = _address(arg)[:320]
                self.reply()
            elif verb == "RCPT":
                if len(self.rcpt_to) < MAX_RECIPIENTS:
                    self.rcpt_to.append(_address(arg)[:320])
                self.reply()
            elif verb == "DATA":
                code = self.reply()
                if code is not None and code != 354:
                    continue  # refused: no message follows
                pos = self._data(pos)
            elif verb == "BDAT":
                pos = self._bdat(pos, arg)
            elif verb == "RSET":
                self.finish(None, cut=False)
                self.reply()
            elif verb == "STARTTLS":
                code = self.reply()
                if code is None or 200 <= code < 300:
                    self.finish(None, cut=False)
                    self.tls = True
                    return  # ciphertext from here on
            elif verb == "AUTH":
                auth_pending = self.reply() == 334
            elif verb == "QUIT":
                self.finish(None, cut=False)
                self.reply()
            else:
                self.reply()
        self.finish(None, cut=self.in_transaction and self.chunk_bytes > 0)

    def _data(self, pos: int) -> int:
        data = self.client
        # the message ends at a line holding one dot; it may be the very first line
        ends = [data.find(marker, pos - 1) for marker in (b"\n.\r\n", b"\n.\n")]
        found = [at for at in ends if at >= 0]
        if not found:
            self.in_transaction = True
            self.finish(_unstuff(data[pos:]), cut=True)
            return len(data)
        end = min(found)
        message = _unstuff(data[pos : end + 1]) if end >= pos else b""
        self.in_transaction = True
        after = end + (4 if data.startswith(b"\n.\r\n", end) else 3)
        self.reply()  # the answer to the end of the message
        self.finish(message, cut=False)
        return after

    def _bdat(self, pos: int, arg: str) -> int:
        parts = arg.split()
        if not parts or not parts[0].isdigit() or len(parts[0]) > 12:
            self.anomalies.append(f"bad BDAT size {arg[:20]!r}")
            self.reply()
            return pos
        size = int(parts[0])
        chunk = self.client[pos : pos + size]
        if self.chunk_bytes < self.max_message:
            self.chunks.append(chunk[: self.max_message - self.chunk_bytes])
        self.chunk_bytes += len(chunk)
        self.in_transaction = True
        self.reply()
        cut = pos + size > len(self.client)
        if cut or (len(parts) > 1 and parts[1].upper() == "LAST"):
            message = b"".join(self.chunks)
            if self.chunk_bytes > len(message):
                self.truncated = True
            self.finish(message, cut=cut or self.chunk_bytes > len(message))
        return min(pos + size, len(self.client))


def _starts_session(client: bytes) -> bool:
    head = client[:5].upper()
    return head.startswith((b"HELO ", b"EHLO ", b"LHLO ")) or head.rstrip(b"\r\n") in (
        b"HELO",
        b"EHLO",
    )


def _unstuff(message: bytes) -> bytes:
    # RFC 5321 4.5.2: the sender doubled every leading dot; drop one from each such line
    if message.startswith(b"."):
        message = message[1:]
    return message.replace(b"\n.", b"\n")


def parse_smtp(client: bytes, server: bytes, *, max_message: int) -> SmtpParse:
    """The transactions of one SMTP session, from both reassembled directions."""
    anomalies: list[str] = []
    session = _Session(client, _replies(server, anomalies), max_message)
    session.run()
    return SmtpParse(
        transactions=tuple(session.transactions),
        helo=session.helo,
        tls=session.tls,
        last_reply=session.last_reply,
        truncated=session.truncated,
        anomalies=tuple(anomalies + session.anomalies),
    )
