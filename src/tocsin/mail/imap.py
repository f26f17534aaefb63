"""The report mailbox: users forward suspicious mail to it, tocsin fetches it over IMAPS.

A report is the user's own message; the suspect is what it carries: each ``message/rfc822``
part (forwarded as an attachment), each ``.eml`` attachment whatever its declared type, and
each ``.msg`` attachment rebuilt by ``tocsin.mail.msg``. The suspects are cut out of the report
byte for byte, so their DKIM signatures still verify. A report with none of these (the user
forwarded inline) is its own suspect: its headers are the reporter's, but its body holds the
suspect's text and links.

Nothing fetched is lost: ``fetch_new`` reads with ``BODY.PEEK[]``, which leaves a report
unread, and ``acknowledge`` marks it read (or moves it) only when the caller says it is done;
``poll_once`` acknowledges a report only after its handler returned. A crash in between leaves
the report unread for the next poll.

The password is never part of an error message, a log record or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import imaplib
import ipaddress
import logging
import quopri
import re
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from types import TracebackType

from tocsin.core.errors import ExternalServiceError
from tocsin.mail.intake import MAX_MESSAGE_BYTES
from tocsin.mail.msg import MsgError, read_msg

logger = logging.getLogger(__name__)

MAX_DEPTH = 12  # multiparts nested in a report
MAX_PARTS = 500  # MIME parts looked at in one report

_HEADERS = BytesHeaderParser(policy=compat32)
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_INTERNALDATE_FORMAT = re.compile(
    r" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"
)
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_OUTLOOK_TYPES = frozenset({"application/vnd.ms-outlook", "application/x-msg"})


class ImapError(ExternalServiceError):
    """The report mailbox could not be reached or used; the message never holds the password."""


@dataclass(frozen=True, slots=True)
class ReportedMessage:
    """One report from the mailbox and the suspect messages it carries."""

    uid: int
    reporter: str | None
    """The From address of the report: who gets the answer."""
    reported_at: datetime
    raw_report: bytes = field(repr=False)
    suspects: list[bytes] = field(repr=False)
    """The messages to analyse: the attached ones, else the report itself."""
    problem: str | None = None
    """Set when the report could not be taken (too large); then ``suspects`` is empty."""


@dataclass(frozen=True, slots=True)
class PollReport:
    """What one poll did: reports fetched, handled and acknowledged, and the failures."""

    fetched: int
    handled: int
    failed: list[tuple[int, str]]


class ImapMailbox:
    """The report mailbox over IMAP: fetch new reports, acknowledge the handled ones.

    One connection is opened on first use and kept until ``close`` (or the end of a ``with``
    block). Not safe to share between threads.
    """

    def __init__(
        self,
        host: str,
        port: int = 993,
        *,
        username: str,
        password: str,
        folder: str = "INBOX",
        tls: bool = True,
        verify: bool = True,
        ca_file: str | Path | None = None,
        processed_folder: str | None = None,
        timeout: float = 30.0,
        max_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        """Describe the mailbox; nothing connects until it is used.

        ``tls`` is IMAPS (TLS from the first byte), with the server's certificate checked
        against the system's CAs or ``ca_file``; ``verify=False`` skips that check (a lab
        server only). Plain IMAP (``tls=False``) is refused unless the host is loopback: it
        would send the password in clear. ``processed_folder``, when set, is where handled
        reports are moved to; else they are only marked read. A report over ``max_bytes`` is
        not downloaded.
        """
        if not tls and not _is_loopback(host):
            raise ImapError(
                f"plain IMAP to {host!r} would send the password in clear: use IMAPS (tls=True)"
            )
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.folder = folder
        self.tls = tls
        self.verify = verify
        self.ca_file = Path(ca_file) if ca_file is not None else None
        self.processed_folder = processed_folder
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._conn: imaplib.IMAP4 | None = None
        self.uidvalidity: int | None = None
        """The open folder's UIDVALIDITY once selected (None before, or if the server omits it)."""
        self._capabilities: frozenset[str] | None = None

    def __repr__(self) -> str:
        scheme = "imaps" if self.tls else "imap"
        return f"ImapMailbox({scheme}://{self.username}@{self.host}:{self.port}/{self.folder})"

    def __enter__(self) -> ImapMailbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def fetch_new(self, limit: int = 100) -> list[ReportedMessage]:
        """The oldest ``limit`` unread reports, left unread on the server."""
        conn = self._selected()
        data = self._call("search for new reports", conn.uid, "SEARCH", "UNSEEN")
        uids = sorted({int(n) for line in data if isinstance(line, bytes) for n in line.split()})
        uids = uids[:limit]
        if not uids:
            return []
        # sizes first, so a report past the size budget is never downloaded
        data = self._call(
            "read report sizes",
            conn.uid,
            "FETCH",
            ",".join(map(str, uids)),
            "(UID RFC822.SIZE INTERNALDATE)",
        )
        facts: dict[int, tuple[int, datetime | None]] = {}
        for item in data:
            head = item[0] if isinstance(item, tuple) else item
            if not isinstance(head, bytes):
                continue
            uid_seen, size_seen = _UID.search(head), _SIZE.search(head)
            if uid_seen and size_seen:
                date_seen = _INTERNALDATE.search(head)
                facts[int(uid_seen.group(1))] = (int(size_seen.group(1)), _internaldate(date_seen))
        reports = []
        for uid in uids:
            if uid not in facts:
                continue  # expunged by another client since the search
            size, when = facts[uid]
            if size > self.max_bytes:
                problem = f"report of {size:,} bytes is over the {self.max_bytes:,} limit"
                reports.append(ReportedMessage(uid, None, when or _now(), b"", [], problem))
                continue
            raw = self._body(conn, uid)
            if raw is not None:
                reports.append(read_report(uid, raw, when))
        logger.info("report mailbox read", extra={"mailbox": repr(self), "reports": len(reports)})
        return reports

    def acknowledge(self, uid: int) -> None:
        """Mark a report read, and move it to ``processed_folder`` when one is set."""
        conn = self._selected()
        self._call("mark the report read", conn.uid, "STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")
        if not self.processed_folder:
            return
        target = _mailbox_name(self.processed_folder)
        if "MOVE" in self._server_capabilities(conn):
            self._into_folder(conn, "MOVE", uid, target)
            return
        self._into_folder(conn, "COPY", uid, target)
        self._call(
            "flag the copied report", conn.uid, "STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)"
        )
        if "UIDPLUS" in self._server_capabilities(conn):
            # removes only this report, not what another client flagged \Deleted
            self._call("expunge the report", conn.uid, "EXPUNGE", str(uid))
        else:
            self._call("expunge the report", conn.expunge)

    def close(self) -> None:
        """Log out; the next call connects again."""
        conn, self._conn, self._capabilities = self._conn, None, None
        if conn is None:
            return
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass  # the connection is gone either way

    # -- connection --------------------------------------------------------------------------

    def _selected(self) -> imaplib.IMAP4:
        if self._conn is not None:
            return self._conn
        conn = self._connect()
        try:
            self._login(conn)
            typ, data = conn.select(_mailbox_name(self.folder))
            if typ != "OK":
                raise ImapError(
                    f"cannot open the folder {self.folder!r} on {self.host}: {self._text(data)}"
                )
        except BaseException:
            _drop(conn)
            raise
        self._conn = conn
        # UIDs are only unique with the folder's UIDVALIDITY (a server may renumber a folder)
        _name, values = conn.response("UIDVALIDITY")
        value = values[0] if values else None
        self.uidvalidity = int(value) if isinstance(value, bytes) and value.isdigit() else None
        return conn

    def _connect(self) -> imaplib.IMAP4:
        where = f"{self.host}:{self.port}"
        try:
            if self.tls:
                return imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=self._tls_context(), timeout=self.timeout
                )
            return imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        except ssl.SSLCertVerificationError as exc:
            raise ImapError(
                f"the TLS certificate of {where} is not trusted ({exc.verify_message}): "
                "set ca_file to the CA that signed it"
            ) from exc
        except ssl.SSLError as exc:
            raise ImapError(f"TLS with {where} failed: {exc.reason or exc}") from exc
        except ConnectionRefusedError as exc:
            raise ImapError(
                f"{where} refused the connection: is the IMAP server there, is the port right?"
            ) from exc
        except TimeoutError as exc:
            raise ImapError(f"{where} did not answer within {self.timeout:g} s") from exc
        except socket.gaierror as exc:
            raise ImapError(f"cannot resolve {self.host!r}: {exc.strerror or exc}") from exc
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"cannot connect to {where}: {self._text([str(exc)])}") from None

    def _tls_context(self) -> ssl.SSLContext:
        if not self.verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        try:
            return ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file is not None else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise ImapError(f"cannot read the CA file {str(self.ca_file)!r}: {exc}") from exc

    def _login(self, conn: imaplib.IMAP4) -> None:
        if not (self.username.isascii() and self._password.isascii()):
            raise ImapError("IMAP LOGIN takes ASCII only: the user name or password is not ASCII")
        try:
            # imaplib quotes the password but not the user name: an address may need it
            conn.login(_quote(self.username), self._password)
        except (imaplib.IMAP4.error, OSError) as exc:
            # from None: the server's own text is in the exception and could echo the password
            raise ImapError(
                f"login as {self.username!r} on {self.host} failed: "
                f"{self._text(list(exc.args))}; check the user name and password"
            ) from None

    def _server_capabilities(self, conn: imaplib.IMAP4) -> frozenset[str]:
        if self._capabilities is None:
            # asked again after login: servers announce MOVE and UIDPLUS only to a logged-in user
            data = self._call("read the capabilities", conn.capability)
            words = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
            self._capabilities = frozenset(words.upper().split())
        return self._capabilities

    def _body(self, conn: imaplib.IMAP4, uid: int) -> bytes | None:
        data = self._call("fetch a report", conn.uid, "FETCH", str(uid), "(UID BODY.PEEK[])")
        for item in data:
            # a FETCH with the body is (head, literal); a flag change another client caused
            # arrives as a plain line and is skipped
            if isinstance(item, tuple) and len(item) == 2 and b"BODY[]" in item[0].upper():
                found = _UID.search(item[0])
                if found is None or int(found.group(1)) == uid:
                    return bytes(item[1])
        return None

    def _into_folder(self, conn: imaplib.IMAP4, command: str, uid: int, target: str) -> None:
        action = f"{command.lower()} the report to {self.processed_folder!r}"
        typ, data = self._raw_call(action, conn.uid, command, str(uid), target)
        if typ == "NO" and b"TRYCREATE" in b" ".join(d for d in data if isinstance(d, bytes)):
            self._call(f"create the folder {self.processed_folder!r}", conn.create, target)
            typ, data = self._raw_call(action, conn.uid, command, str(uid), target)
        if typ != "OK":
            raise ImapError(f"cannot {action} on {self.host}: {self._text(data)}")

    def _call(
        self, action: str, method: Callable[..., tuple[str, list[object]]], *args: str
    ) -> list[object]:
        typ, data = self._raw_call(action, method, *args)
        if typ != "OK":
            raise ImapError(f"cannot {action} on {self.host}: {self._text(data)}")
        return data

    def _raw_call(
        self, action: str, method: Callable[..., tuple[str, list[object]]], *args: str
    ) -> tuple[str, list[object]]:
        try:
            return method(*args)
        except (imaplib.IMAP4.error, OSError) as exc:
            # a broken connection cannot be reused: the next call connects again
            conn, self._conn, self._capabilities = self._conn, None, None
            if conn is not None:
                _drop(conn)
            raise ImapError(
                f"cannot {action} on {self.host}: {self._text(list(exc.args))}"
            ) from None

    def _text(self, data: Sequence[object]) -> str:
        """Server words for an error message, with the password taken out."""
        parts = []
        for item in data:
            if isinstance(item, tuple):
                item = item[0]
            if isinstance(item, bytes):
                item = item.decode("utf-8", "replace")
            parts.append(str(item))
        text = " ".join(parts).strip() or "no reason given"
        if self._password:
            for form in {self._password, _quote(self._password)[1:-1]}:
                text = text.replace(form, "***")
        return text[:300]


def poll_once(
    mailbox: ImapMailbox, handle: Callable[[ReportedMessage], None], *, limit: int = 100
) -> PollReport:
    """Fetch the new reports, handle each, acknowledge those handled without an exception.

    A report whose handler raised, or that was too large to take, stays unread and is listed
    in ``failed``; the next poll offers it again. The connection is closed at the end.
    """
    handled = 0
    failed: list[tuple[int, str]] = []
    try:
        reports = mailbox.fetch_new(limit)
        for report in reports:
            if report.problem is not None:
                failed.append((report.uid, report.problem))
                continue
            try:
                handle(report)
            except Exception as exc:  # noqa: BLE001 - any failure of the caller's handler keeps the report for the next poll
                failed.append((report.uid, f"{type(exc).__name__}: {exc}"))
                logger.warning(
                    "report not handled",
                    extra={
                        "mailbox": repr(mailbox),
                        "uid": report.uid,
                        "error": type(exc).__name__,
                    },
                )
                continue
            try:
                mailbox.acknowledge(report.uid)
            except ImapError as exc:
                # handled but still unread: the next poll handles it again (same event ids)
                failed.append((report.uid, exc.message))
                break
            handled += 1
    finally:
        mailbox.close()
    return PollReport(fetched=len(reports), handled=handled, failed=failed)


def read_report(uid: int, raw: bytes, received: datetime | None = None) -> ReportedMessage:
    """A report as fetched: who sent it, when, and the suspect messages it carries."""
    head, _body = _split(raw)
    headers = _HEADERS.parsebytes(head)
    found = getaddresses([str(v) for v in headers.get_all("From", [])])
    reporter = next((address.lower() for _name, address in found if address), None)
    return ReportedMessage(
        uid=uid,
        reporter=reporter,
        reported_at=received or _header_date(headers) or _now(),
        raw_report=raw,
        suspects=extract_reported(raw),
    )


def extract_reported(raw: bytes) -> list[bytes]:
    """The messages a report carries, byte for byte; the report itself when it carries none.

    Taken: ``message/rfc822`` (and ``message/global``) parts, attachments named ``.eml`` of
    any declared type, and Outlook ``.msg`` attachments rebuilt as RFC 822. An attached
    message's own attachments are its business: the walk does not go inside it.
    """
    found: list[bytes] = []
    try:
        _collect(raw, found, depth=0, budget=[MAX_PARTS])
    except Exception as exc:  # noqa: BLE001 - a report is hostile input: analyse it whole instead
        logger.warning("report structure unreadable", extra={"error": type(exc).__name__})
        return [raw]
    return found or [raw]


def _collect(entity: bytes, found: list[bytes], *, depth: int, budget: list[int]) -> None:
    if budget[0] <= 0:
        return
    budget[0] -= 1
    head, body = _split(entity)
    headers = _HEADERS.parsebytes(head)
    ctype = headers.get_content_type()
    if headers.get_content_maintype() == "multipart":
        boundary = headers.get_boundary()
        if boundary and depth < MAX_DEPTH:
            for part in _split_multipart(body, boundary.encode("utf-8", "surrogateescape")):
                _collect(part, found, depth=depth + 1, budget=budget)
        return
    if depth == 0:
        return  # the report's own single body is no attachment
    name = _filename(headers)
    if ctype in _MESSAGE_TYPES or name.endswith(".eml"):
        found.append(_decoded(headers, body))
    elif ctype in _OUTLOOK_TYPES or name.endswith(".msg"):
        try:
            found.append(read_msg(_decoded(headers, body)))
        except MsgError as exc:
            # the report then stands for itself, with the unreadable .msg as an attachment
            logger.warning("unreadable .msg in a report", extra={"reason": exc.reason})


def _split(entity: bytes) -> tuple[bytes, bytes]:
    """Header block and body, at the first empty line (either line ending)."""
    if entity.startswith((b"\r\n", b"\n")):
        return b"", entity[2 if entity.startswith(b"\r\n") else 1 :]
    ends = [(i, sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := entity.find(sep)) >= 0]
    if not ends:
        return entity, b""
    at, sep = min(ends)
    half = len(sep) // 2
    return entity[: at + half], entity[at + len(sep) :]


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The parts between the delimiter lines of a multipart body (RFC 2046 5.1.1)."""
    delimiter = b"--" + boundary
    parts: list[bytes] = []
    line = _delimiter_at(body, delimiter, 0)
    while line is not None and len(parts) < MAX_PARTS:
        start, end, closing = line
        if closing:
            break
        line = _delimiter_at(body, delimiter, end)
        if line is None:
            parts.append(body[end:])  # no closing delimiter: the rest is the last part
            break
        stop = line[0]
        # the line break before a delimiter belongs to the delimiter
        if body[stop - 2 : stop] == b"\r\n":
            stop -= 2
        elif body[stop - 1 : stop] == b"\n":
            stop -= 1
        parts.append(body[end:stop])
    return parts


def _delimiter_at(body: bytes, delimiter: bytes, start: int) -> tuple[int, int, bool] | None:
    """The next delimiter line from ``start``: its start, the start of the next line, closing."""
    at = start
    while True:
        if at == 0 and body.startswith(delimiter):
            begin = 0
        else:
            found = body.find(b"\n" + delimiter, max(at - 1, 0))
            if found < 0:
                return None
            begin = found + 1
        tail_end = body.find(b"\n", begin)
        line_end = len(body) if tail_end < 0 else tail_end + 1
        rest = body[begin + len(delimiter) : line_end].rstrip(b"\r\n \t")
        if rest in (b"", b"--"):
            return begin, line_end, rest == b"--"
        at = begin + len(delimiter)  # a longer boundary that starts with ours: not a delimiter


def _decoded(headers: Message, body: bytes) -> bytes:
    encoding = str(headers.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        compact = b"".join(body.split())
        try:
            return base64.b64decode(compact + b"=" * (-len(compact) % 4))
        except binascii.Error:
            return body
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    return body


def _filename(headers: Message) -> str:
    try:
        name = headers.get_filename() or headers.get_param("name") or ""
    except Exception:  # noqa: BLE001 - a broken parameter is no attachment name, not a crash
        return ""
    if isinstance(name, tuple):  # an RFC 2231 value that get_param leaves undecoded
        name = name[2]
    return str(name).strip().lower()


def _header_date(headers: Message) -> datetime | None:
    value = headers.get("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _internaldate(match: re.Match[bytes] | None) -> datetime | None:
    """An IMAP INTERNALDATE ("28-Nov-2026 14:05:00 +0100") in UTC, parsed without the locale."""
    if match is None:
        return None
    found = _INTERNALDATE_FORMAT.fullmatch(match.group(1).decode("ascii", "replace"))
    if found is None:
        return None
    day, month, year, hour, minute, second, sign, off_h, off_m = found.groups()
    if month.lower() not in _MONTHS:
        return None
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        local = datetime(
            int(year),
            _MONTHS[month.lower()],
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None
    return local.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mailbox_name(name: str) -> str:
    """A folder name as an IMAP argument: modified UTF-7 (RFC 3501 5.1.3), quoted."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            packed = base64.b64encode("".join(pending).encode("utf-16-be")).rstrip(b"=")
            out.append("&" + packed.decode("ascii").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return _quote("".join(out))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _drop(conn: imaplib.IMAP4) -> None:
    """Close a connection without the LOGOUT exchange (it may already be broken)."""
    try:
        conn.shutdown()
    except OSError:
        pass
