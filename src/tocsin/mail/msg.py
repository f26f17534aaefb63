"""Outlook .msg files (MS-OXMSG) read with olefile and rebuilt as RFC 822 messages.

extract-msg is GPL, so a .msg is read here with olefile (BSD) alone. A .msg is a Compound File:
the root storage holds the message's fixed-size properties in ``__properties_version1.0``, its
strings and binaries in ``__substg1.0_<id><type>`` streams, one storage per recipient and per
attachment, and an attached message as a storage inside its attachment. The rebuilt message keeps
the transport headers when Outlook saved them (received mail), else makes headers from the
properties (drafts, sent items); bodies and attachments become MIME parts and an attached message
a ``message/rfc822`` part, so the rest of the mail code reads a single format.

The output is deterministic (the MIME boundaries come from a hash of the file), so the same .msg
always gives the same bytes and the same event id. ``X-Tocsin-Msg-Note`` headers say that the
message was rebuilt (Outlook keeps the headers but not the original body bytes, so a DKIM body
hash cannot match) and name what could not be carried over. A .msg is hostile input: whatever
goes wrong raises ``MsgError``.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import io
import re
import struct
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formataddr
from urllib.parse import quote

import olefile  # type: ignore[import-untyped]

from tocsin.core.errors import InvalidInputError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_DEPTH = 8  # attached messages inside attached messages
MAX_PARTS = 500  # attachments over the whole file, attached messages included
MAX_RECIPIENTS = 1000
MAX_RTF_BYTES = 2 * 1024 * 1024  # a decompressed RTF body past this is cut (a byte loop)
REBUILT_NOTE = "rebuilt from an Outlook .msg: the bodies are re-encoded, so DKIM body hashes fail"

# property types (MS-OXCDATA 2.11.1)
_PT_LONG = 0x0003
_PT_STRING8 = 0x001E
_PT_UNICODE = 0x001F
_PT_SYSTIME = 0x0040
_PT_BINARY = 0x0102

# property ids (MS-OXPROPS)
_TRANSPORT_HEADERS = 0x007D
_SUBJECT = 0x0037
_CLIENT_SUBMIT_TIME = 0x0039
_SENT_REPRESENTING_NAME = 0x0042
_SENT_REPRESENTING_ADDRESS = 0x0065
_RECIPIENT_TYPE = 0x0C15
_SENDER_NAME = 0x0C1A
_SENDER_ADDRESS = 0x0C1F
_DISPLAY_CC = 0x0E03
_DISPLAY_TO = 0x0E04
_DELIVERY_TIME = 0x0E06
_BODY = 0x1000
_RTF_COMPRESSED = 0x1009
_HTML = 0x1013
_MESSAGE_ID = 0x1035
_DISPLAY_NAME = 0x3001
_EMAIL_ADDRESS = 0x3003
_ATTACH_DATA = 0x3701
_ATTACH_FILENAME = 0x3704
_ATTACH_METHOD = 0x3705
_ATTACH_LONG_FILENAME = 0x3707
_ATTACH_MIME_TAG = 0x370E
_SMTP_ADDRESS = 0x39FE
_INTERNET_CODEPAGE = 0x3FDE
_MESSAGE_CODEPAGE = 0x3FFD
_SENDER_SMTP_ADDRESS = 0x5D01

# the fixed part before the 16-byte property entries (MS-OXMSG 2.4.1)
_TOP_HEADER = 32
_EMBEDDED_HEADER = 24
_CHILD_HEADER = 8

_PROPERTIES = "__properties_version1.0"
_ATTACH_PREFIX = "__attach_version1.0_#"
_RECIP_PREFIX = "__recip_version1.0_#"
_EMBEDDED = "__substg1.0_3701000d"  # PR_ATTACH_DATA_OBJ: an attached message (or OLE object)

_ATTACH_BY_REFERENCE = frozenset({2, 3, 4, 7})  # link, file path, resolved path, web reference
_MIME_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII without the colon (RFC 5322 ftext)
_MIME_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_TOKEN_SAFE = re.compile(r"[ !#-\[\]-~]*")  # what may sit inside a quoted parameter as is

# code pages that Python does not know as "cp<number>"
_CODEPAGES = {
    1200: "utf-16-le",
    1201: "utf-16-be",
    20127: "ascii",
    20866: "koi8-r",
    21866: "koi8-u",
    50220: "iso2022-jp",
    50221: "iso2022-jp",
    50222: "iso2022-jp",
    51932: "euc-jp",
    51949: "euc-kr",
    52936: "hz",
    54936: "gb18030",
    65000: "utf-7",
    65001: "utf-8",
    10000: "mac-roman",
    **{28590 + n: f"iso-8859-{n}" for n in range(1, 16) if n != 12},
}

# MS-OXRTFCP 2.1.3.1.1: the dictionary a compressed RTF stream starts from
_RTF_PREBUF = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss "
    b"\\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier"
    b"{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)
_RTF_LZFU = 0x75465A4C  # "LZFu"
_RTF_STORED = 0x414C454D  # "MELA": uncompressed
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


class MsgError(InvalidInputError):
    """The bytes are not a readable Outlook .msg file; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_msg(data: bytes) -> bytes:
    """Rebuild an RFC 822 message from an Outlook .msg; raises only ``MsgError``."""
    if len(data) < 512 or data[:8] != OLE_MAGIC:
        raise MsgError("no Compound File signature (an Outlook .msg starts with D0 CF 11 E0)")
    # the boundaries must not occur in the content: a hash of the whole file cannot be planted in
    # it, and keeps the output the same for the same file
    seed = hashlib.sha256(data).hexdigest()[:24]
    try:
        # a file object: olefile would take short bytes for a file name
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            root = _Storage(ole, [], ole.root, _TOP_HEADER, None)
            if _PROPERTIES not in root.streams and not any(
                name.startswith("__substg1.0_") for name in root.streams
            ):
                raise MsgError("a Compound File without message properties (not an Outlook item)")
            return _Rebuilder(seed).message(root, depth=0)
    except MsgError:
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile file can make olefile raise anything
        raise MsgError(f"{type(exc).__name__}: {exc}") from exc


def decompress_rtf(data: bytes) -> bytes:
    """The RTF text of a PidTagRtfCompressed value (MS-OXRTFCP), cut at ``MAX_RTF_BYTES``."""
    if len(data) < 16:
        raise MsgError("compressed RTF shorter than its header")
    comp_size, raw_size, kind, _crc = struct.unpack_from("<IIII", data)
    if kind == _RTF_STORED:
        return data[16 : 16 + min(raw_size, MAX_RTF_BYTES)]
    if kind != _RTF_LZFU:
        raise MsgError(f"unknown RTF compression 0x{kind:08x}")
    end = min(len(data), 4 + comp_size)
    cap = min(raw_size, MAX_RTF_BYTES)
    window = bytearray(4096)
    window[: len(_RTF_PREBUF)] = _RTF_PREBUF
    write = len(_RTF_PREBUF)
    out = bytearray()
    pos = 16
    while pos < end and len(out) < cap:
        control = data[pos]
        pos += 1
        for bit in range(8):
            if pos >= end:
                break
            if not control & (1 << bit):
                byte = data[pos]
                pos += 1
                out.append(byte)
                window[write] = byte
                write = (write + 1) & 0xFFF
                continue
            if pos + 2 > end:
                raise MsgError("compressed RTF ends inside a reference")
            token = (data[pos] << 8) | data[pos + 1]
            pos += 2
            offset = token >> 4
            if offset == write:  # the end marker
                return bytes(out[:cap])
            for _ in range((token & 0xF) + 2):
                byte = window[offset]
                offset = (offset + 1) & 0xFFF
                out.append(byte)
                window[write] = byte
                write = (write + 1) & 0xFFF
    return bytes(out[:cap])


def codec_of(codepage: int | None, default: str = "cp1252") -> str:
    """The Python codec of a Windows code page number, or ``default`` when unknown."""
    if codepage is None:
        return default
    name = _CODEPAGES.get(codepage, f"cp{codepage}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return default


class _Storage:
    """One storage of the file (the message, a recipient, an attachment) and its properties."""

    __slots__ = ("_kids", "codec", "ole", "path", "props", "storages", "streams")

    def __init__(
        self, ole: olefile.OleFileIO, path: list[str], entry: object, header: int, codec: str | None
    ) -> None:
        self.ole = ole
        self.path = path
        kids = {kid.name.lower(): kid for kid in getattr(entry, "kids", [])}
        self._kids = kids
        self.streams = {n for n, k in kids.items() if k.entry_type == olefile.STGTY_STREAM}
        self.storages = {n for n, k in kids.items() if k.entry_type == olefile.STGTY_STORAGE}
        self.props: dict[int, bytes] = {}
        if _PROPERTIES in self.streams:
            table = self._read(_PROPERTIES)
            usable = len(table) - (len(table) - header) % 16
            for tag, _flags, value in struct.iter_unpack("<II8s", table[header:usable]):
                self.props[tag] = value
        own = self.long(_MESSAGE_CODEPAGE)
        self.codec = codec_of(own) if own is not None or codec is None else codec

    def child(self, name: str, header: int) -> _Storage:
        """A storage inside this one; it inherits this storage's code page."""
        entry = self._kids[name]
        return _Storage(self.ole, [*self.path, entry.name], entry, header, self.codec)

    def children(self, prefix: str) -> list[str]:
        """The names of the storages that start with ``prefix``, in file order."""
        return sorted(n for n in self.storages if n.startswith(prefix))

    def _read(self, name: str) -> bytes:
        data: bytes = self.ole.openstream([*self.path, self._kids[name].name]).read()
        return data

    def binary(self, prop: int) -> bytes | None:
        """A binary property, or None."""
        name = f"__substg1.0_{prop:04x}{_PT_BINARY:04x}"
        return self._read(name) if name in self.streams else None

    def string(self, prop: int) -> str | None:
        """A string property in either encoding (UTF-16LE, or 8-bit in the code page)."""
        name = f"__substg1.0_{prop:04x}{_PT_UNICODE:04x}"
        if name in self.streams:
            return self._read(name).decode("utf-16-le", "replace").rstrip("\x00")
        name = f"__substg1.0_{prop:04x}{_PT_STRING8:04x}"
        if name in self.streams:
            return self._read(name).decode(self.codec, "replace").rstrip("\x00")
        return None

    def long(self, prop: int) -> int | None:
        """A 32-bit integer property from the property table, or None."""
        value = self.props.get((prop << 16) | _PT_LONG)
        return None if value is None else int.from_bytes(value[:4], "little")

    def time(self, prop: int) -> datetime | None:
        """A FILETIME property as a UTC datetime, or None (also when out of range)."""
        value = self.props.get((prop << 16) | _PT_SYSTIME)
        if value is None:
            return None
        ticks = int.from_bytes(value, "little")
        try:
            return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10) if ticks else None
        except OverflowError:
            return None


_Entity = tuple[list[str], bytes]
"""One MIME entity: its header lines and its body."""


class _Rebuilder:
    """Turns message storages into RFC 822 bytes, with one boundary series per file."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.serial = 0
        self.parts_left = MAX_PARTS

    def message(self, st: _Storage, depth: int) -> bytes:
        """The RFC 822 bytes of the message in ``st``."""
        notes = [REBUILT_NOTE]
        headers = _transport_headers(st.string(_TRANSPORT_HEADERS) or "")
        if not headers:
            headers = _made_headers(st)
        bodies = self._bodies(st, notes)
        attached = self._attachments(st, depth, notes)
        if not bodies and not attached:
            bodies = [_text_entity("plain", "")]
        body = bodies[0] if len(bodies) == 1 else self._multipart("alternative", bodies)
        top = self._multipart("mixed", [body, *attached]) if attached else body
        lines = [*headers, *(f"X-Tocsin-Msg-Note: {note}" for note in notes)]
        lines += ["MIME-Version: 1.0", *top[0]]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace") + top[1]

    def _bodies(self, st: _Storage, notes: list[str]) -> list[_Entity]:
        found: list[_Entity] = []
        text = st.string(_BODY)
        if text is not None:
            found.append(_text_entity("plain", text))
        html = _html_body(st)
        if html is not None:
            found.append(_text_entity("html", html))
        if found:
            return found  # the RTF body is Outlook's copy of these: nothing more in it
        rtf = st.binary(_RTF_COMPRESSED)
        if rtf is None:
            return found
        try:
            data = decompress_rtf(rtf)
        except MsgError as exc:
            notes.append(f"the body is only in compressed RTF, which could not be read ({exc})")
            return found
        # kept as an attachment: the attachment checks read RTF for links and objects
        notes.append("the body is only in RTF: kept as the attachment body.rtf")
        found.append(_file_entity(data, "body.rtf", "application/rtf"))
        return found

    def _attachments(self, st: _Storage, depth: int, notes: list[str]) -> list[_Entity]:
        found: list[_Entity] = []
        for name in st.children(_ATTACH_PREFIX):
            if self.parts_left <= 0:
                notes.append(f"more than {MAX_PARTS} attachments: the rest left out")
                break
            self.parts_left -= 1
            att = st.child(name, _CHILD_HEADER)
            if _EMBEDDED in att.storages:
                inner = att.child(_EMBEDDED, _EMBEDDED_HEADER)
                if _PROPERTIES not in inner.streams:
                    notes.append(f"attachment {name[-8:]} is an embedded OLE object: left out")
                elif depth + 1 > MAX_DEPTH:
                    notes.append(f"message attached deeper than {MAX_DEPTH} levels: left out")
                else:
                    found.append(_message_entity(self.message(inner, depth + 1)))
                continue
            data = att.binary(_ATTACH_DATA)
            if data is None:
                method = att.long(_ATTACH_METHOD)
                why = "a link to a file" if method in _ATTACH_BY_REFERENCE else "without data"
                notes.append(f"attachment {name[-8:]} is {why}: left out")
                continue
            filename = (
                att.string(_ATTACH_LONG_FILENAME)
                or att.string(_ATTACH_FILENAME)
                or att.string(_DISPLAY_NAME)
            )
            found.append(_file_entity(data, filename, att.string(_ATTACH_MIME_TAG)))
        return found

    def _multipart(self, subtype: str, parts: list[_Entity]) -> _Entity:
        self.serial += 1
        boundary = f"=_tocsin_{self.seed}_{self.serial}".encode("ascii")
        chunks: list[bytes] = []
        for headers, body in parts:
            chunks += [b"--", boundary, b"\r\n", "\r\n".join(headers).encode("utf-8")]
            chunks += [b"\r\n\r\n", body, b"\r\n"]
        chunks += [b"--", boundary, b"--\r\n"]
        ctype = f'Content-Type: multipart/{subtype}; boundary="{boundary.decode()}"'
        return [ctype], b"".join(chunks)


def _transport_headers(text: str) -> list[str]:
    """The saved header block without its MIME headers (the body is rebuilt), folds kept."""
    kept: list[str] = []
    skipping = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if kept:
                break  # the end of the header block
            continue
        if line[0] in " \t":
            if kept and not skipping:
                kept[-1] += "\r\n" + _CONTROL.sub(" ", line)
            continue
        name, colon, _value = line.partition(":")
        # a line that is not a header would end the header block of the rebuilt message early
        skipping = not colon or not _HEADER_NAME.fullmatch(name) or name.lower() in _MIME_HEADERS
        if not skipping:
            kept.append(_CONTROL.sub(" ", line))
    return kept


def _made_headers(st: _Storage) -> list[str]:
    """Headers made from the properties, for items saved without their transport headers."""
    lines: list[str] = []

    def add(name: str, value: str | None) -> None:
        if value:
            lines.append(f"{name}: {value}")

    when = st.time(_CLIENT_SUBMIT_TIME) or st.time(_DELIVERY_TIME)
    add("Date", format_datetime(when) if when else None)
    name = _one_line(st.string(_SENDER_NAME) or st.string(_SENT_REPRESENTING_NAME) or "")
    address = _sender_address(st)
    add("From", _mailbox(name, address) if address else (_quoted(name) if name else None))
    to, cc = _recipients(st)
    add("To", ", ".join(to) or _display_list(st.string(_DISPLAY_TO)))
    add("Cc", ", ".join(cc) or _display_list(st.string(_DISPLAY_CC)))
    add("Subject", _one_line(st.string(_SUBJECT) or ""))
    add("Message-ID", _one_line(st.string(_MESSAGE_ID) or ""))
    return lines


def _sender_address(st: _Storage) -> str | None:
    # an Exchange sender address is an X.500 path, not an address: the SMTP form comes first
    for prop in (_SENDER_SMTP_ADDRESS, _SENDER_ADDRESS, _SENT_REPRESENTING_ADDRESS):
        value = _address(st.string(prop))
        if value:
            return value
    return None


def _recipients(st: _Storage) -> tuple[list[str], list[str]]:
    to: list[str] = []
    cc: list[str] = []
    for name in st.children(_RECIP_PREFIX)[:MAX_RECIPIENTS]:
        recip = st.child(name, _CHILD_HEADER)
        address = _address(recip.string(_SMTP_ADDRESS)) or _address(recip.string(_EMAIL_ADDRESS))
        if not address:
            continue
        kind = recip.long(_RECIPIENT_TYPE)
        target = {1: to, 2: cc}.get(kind if kind is not None else 1)
        if target is not None:  # blind copies are not in the message its recipients saw
            target.append(_mailbox(_one_line(recip.string(_DISPLAY_NAME) or ""), address))
    return to, cc


def _display_list(value: str | None) -> str | None:
    """Outlook's display list ("Ann Lee; bob@example.com") as an address list."""
    if not value:
        return None
    items = []
    for item in value.split(";"):
        item = _one_line(item)
        if item:
            address = _address(item)
            # a bare name has no address: written as a name with an empty one, which parsers skip
            items.append(address if address else f"{_quoted(item)} <>")
    return ", ".join(items) or None


def _address(value: str | None) -> str | None:
    value = _one_line(value or "").strip("<>' ")
    if "@" not in value or any(c in value for c in ' <>,;"()'):
        return None
    return value


def _mailbox(name: str, address: str) -> str:
    """``Name <address>``; an internationalised address is written as is (RFC 6532)."""
    if address.isascii():
        return formataddr((name, address))
    return f"{_quoted(name)} <{address}>" if name else address


def _one_line(value: str) -> str:
    """A property value fit for one header line: control characters cannot start a new header."""
    return _CONTROL.sub(" ", value).strip()


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _html_body(st: _Storage) -> str | None:
    data = st.binary(_HTML)
    if data is None:
        return st.string(_HTML)
    codepage = st.long(_INTERNET_CODEPAGE)
    if codepage is not None:
        return data.decode(codec_of(codepage), "replace").rstrip("\x00")
    try:
        return data.decode("utf-8").rstrip("\x00")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace").rstrip("\x00")


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _text_entity(subtype: str, text: str) -> _Entity:
    headers = [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
    ]
    return headers, _base64(text.encode("utf-8", "replace"))


def _file_entity(data: bytes, filename: str | None, mime: str | None) -> _Entity:
    ctype = mime.strip().lower() if mime and _MIME_TYPE.fullmatch(mime.strip()) else None
    name = _one_line(filename or "")
    params = f"; {_param('name', name)}" if name else ""
    disposition = f"attachment; {_param('filename', name)}" if name else "attachment"
    headers = [
        f"Content-Type: {ctype or 'application/octet-stream'}{params}",
        f"Content-Disposition: {disposition}",
        "Content-Transfer-Encoding: base64",
    ]
    return headers, _base64(data)


def _message_entity(raw: bytes) -> _Entity:
    headers = ["Content-Type: message/rfc822", "Content-Disposition: attachment"]
    if not raw.isascii():
        headers.append("Content-Transfer-Encoding: 8bit")
    return headers, raw


def _param(key: str, value: str) -> str:
    """A MIME parameter: quoted when plain ASCII, else RFC 2231 UTF-8."""
    if _TOKEN_SAFE.fullmatch(value):
        return f'{key}="{value}"'
    return f"{key}*=utf-8''{quote(value, safe='')}"
