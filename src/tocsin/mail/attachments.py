"""What attached files really are and do: true type, archives, Office, PDF, HTML, QR codes.

Every attachment is hostile input held in memory. Its true type comes from its first bytes (a
small magic table: the few types that matter, checked faster than a general library would),
then the file is opened the cheapest way that answers the question: a zip's central directory
is read by hand so no more than the member budget is ever parsed, members are decompressed with
a bounded read after their declared sizes were checked, PDFs are scanned for action names
rather than parsed, Office relationships are matched with a pattern rather than an XML parser.
Nothing is written to disk and nothing is run.

Archives, depth, bytes, images and time are budgeted per message (``Limits``, ``deadline``): a
limit that is hit is a reason (``attachment.archive_limit``, since a bomb is itself a sign),
damaged content is an issue, and neither stops the other checks. Reasons carry weight 0.0: the
scorer weighs them.
"""

from __future__ import annotations

import bz2
import hashlib
import html
import importlib
import io
import lzma
import re
import struct
import tarfile
import time
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import olefile  # type: ignore[import-untyped]

from tocsin.core.event import Reason
from tocsin.mail.links import read_html, urls_in_text
from tocsin.mail.message import Attachment
from tocsin.mail.qrcodes import scan_image

TYPE_MISMATCH = "attachment.type_mismatch"
EXECUTABLE = "attachment.executable"
ENCRYPTED_ARCHIVE = "attachment.encrypted_archive"
ARCHIVE_LIMIT = "attachment.archive_limit"
OFFICE_MACRO = "attachment.office_macro"
OFFICE_EXTERNAL = "attachment.office_external"
PDF_JAVASCRIPT = "attachment.pdf_javascript"
PDF_LAUNCH = "attachment.pdf_launch"
HTML_CREDENTIAL_FORM = "attachment.html_credential_form"
HTML_SMUGGLING = "attachment.html_smuggling"
QR_CODE = "attachment.qr_code"

MIB = 1024 * 1024
RATIO_FLOOR = 1 * MIB
"""Below this size a high compression ratio is harmless (a blank bitmap), so it is not a bomb."""
MAX_REASONS_PER_CHECK = 10
MAX_URLS = 1000
MAX_TEXT_BYTES = 1 * MIB
"""How much of a text or HTML attachment is read for links and forms."""
MAX_RELS_BYTES = 2 * MIB
MAX_OLEVBA_BYTES = 8 * MIB


@dataclass(frozen=True, slots=True)
class Limits:
    """How deep and how much the attachment checks read, per message."""

    max_depth: int = 3
    max_members: int = 1000
    max_total_bytes: int = 64 * MIB
    max_member_bytes: int = 32 * MIB
    max_ratio: int = 100
    max_images: int = 10
    max_image_pixels: int = 16_000_000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class FoundUrl:
    """A URL found in an attachment and where: ``<kind>:<path>`` (``pdf:a.pdf``, ``qr:x.png``)."""

    url: str
    where: str


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One file looked at: an attachment or an archive member (hashes empty when unread)."""

    name: str
    path: str
    declared_type: str
    true_type: str
    size: int
    md5: str
    sha1: str
    sha256: str
    depth: int


@dataclass(frozen=True, slots=True)
class AttachmentReport:
    """The reasons, URLs, files and reading problems of a message's attachments."""

    reasons: list[Reason]
    urls: list[FoundUrl]
    files: list[FileInfo]
    issues: list[str]


def inspect_attachments(
    attachments: Sequence[Attachment],
    *,
    deadline: float | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> AttachmentReport:
    """Inspect a message's attachments within the limits; never raises on their content."""
    walk = _Walk(limits, deadline)
    for index, attachment in enumerate(attachments):
        name = attachment.filename or f"attachment-{index + 1}"
        hashes = (attachment.md5, attachment.sha1, attachment.sha256)
        _inspect(walk, name, name, attachment.payload, attachment.content_type, 0, hashes)
    return walk.report()


# --- true type -------------------------------------------------------------------------------

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"{\\rt", "rtf"),
    (b"\x7fELF", "elf"),
    (b"\xcf\xfa\xed\xfe", "macho"),
    (b"\xce\xfa\xed\xfe", "macho"),
    (b"\xfe\xed\xfa\xcf", "macho"),
    (b"\xfe\xed\xfa\xce", "macho"),
    (b"L\x00\x00\x00\x01\x14\x02\x00", "lnk"),
    (b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3", "onenote"),
    (b"MSCF\x00\x00\x00\x00", "cab"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x1f\x8b\x08", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"conectix", "vhd"),
    (b"vhdxfile", "vhd"),
)
_MAGIC_BY_BYTE: dict[int, list[tuple[bytes, str]]] = {}
for _magic, _label in _MAGIC:
    _MAGIC_BY_BYTE.setdefault(_magic[0], []).append((_magic, _label))
_TEXT_BYTES = bytes(range(0x20, 0x100)) + b"\t\n\r\f\b\x1b"
_HTML_HEAD = re.compile(
    r"<(?:!doctype\s+html|html|head|body|script|iframe|form|meta|title|a\s+href|div|table|input)\b"
)
_SCRIPT_WORDS = (
    "wscript.", "createobject", "activexobject", "shell.application", "powershell",
    "invoke-expression", "iex", "frombase64string", "@echo", "cmd", "<job", "<package",
    "<scriptlet",
)  # fmt: skip
"""Cheap substring tests first: the pattern below costs a hundred times more per character."""
_SCRIPT_HEAD = re.compile(
    r"wscript\.(?:shell|createobject)|createobject\s*\(|activexobject|shell\.application"
    r"|powershell(?:\.exe)?\s+-|invoke-expression|\biex\s*\(|frombase64string|@echo\s+off"
    r"|\bcmd(?:\.exe)?\s+/[ck]\b|<job\b|<package\b|<scriptlet\b"
)


def sniff(data: bytes) -> str:
    """The true type of a file from its first bytes: a short label (``pe``, ``pdf``, ``zip``...)."""
    if not data:
        return "empty"
    for magic, label in _MAGIC_BY_BYTE.get(data[0], ()):
        if data.startswith(magic):
            return label
    head = data[:4096]
    if head[:2] == b"MZ" and head.translate(None, _TEXT_BYTES):
        offset = int.from_bytes(data[0x3C:0x40], "little") if len(data) >= 0x40 else 0
        return "pe" if data[offset : offset + 4] == b"PE\x00\x00" else "msdos"
    if head[:4] == b"\xca\xfe\xba\xbe":
        # a fat Mach-O counts its architectures (a few); a Java class has its version there (45+)
        return "macho" if int.from_bytes(head[4:8], "big") < 20 else "java-class"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00" and head[14:15] in b"\x0c(8@l|":
        return "image/bmp"
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":
        return "bzip2"
    if data[0x8001:0x8006] in (b"CD001", b"BEA01"):
        return "iso"
    if data[257:262] == b"ustar":
        return "tar"
    if b"%PDF-" in data[:1024]:  # readers accept junk before the header
        return "pdf"
    if data[-512:-504] == b"conectix":  # a fixed VHD keeps its footer at the end
        return "vhd"
    label = _sniff_text(head)
    if label == "unknown" and data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557)) >= 0:
        return "zip"  # bytes before a zip (a self-extractor, or to dodge a filter) still unzip
    return label


def _sniff_text(head: bytes) -> str:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = head.decode("utf-16", "replace")
    else:
        if b"\x00" in head or len(head.translate(None, _TEXT_BYTES)) * 20 > len(head):
            return "unknown"
        text = head.decode("utf-8", "replace")
    lower = text.lower()
    if "<svg" in lower and "<html" not in lower:
        return "image/svg"
    if _HTML_HEAD.search(lower):
        return "html"
    if lower.lstrip("\ufeff \t\r\n").startswith("<?xml"):
        return "xml"
    if text.startswith("#!") or (
        any(word in lower[:1024] for word in _SCRIPT_WORDS) and _SCRIPT_HEAD.search(lower)
    ):
        return "script"
    return "text"


# --- names and types -------------------------------------------------------------------------

EXECUTABLE_EXTENSIONS = frozenset(
    "exe scr com pif cpl dll sys msi msp mst bat cmd js jse vbs vbe vb wsf wsh wsc ws hta sct"
    " ps1 psm1 psd1 ps1xml psc1 lnk jar iso img vhd vhdx one onepkg reg scf inf chm msc xll"
    " application appref-ms gadget appx appxbundle msix msixbundle library-ms"
    " settingcontent-ms search-ms sh command apk".split()
)
EXECUTABLE_TYPES = frozenset(
    "pe msdos elf macho java-class msi lnk onenote iso vhd jar script".split()
)
_TEXT_EXTENSIONS = frozenset("txt log md csv tsv ics vcf eml json ini cfg conf url".split())
_IMAGES = frozenset("image/png image/jpeg image/gif image/bmp image/webp image/tiff".split())
_TEXTY = frozenset({"text", "script", "html", "xml", "image/svg"})
_ZIPS = frozenset({"zip", "ooxml-word", "ooxml-excel", "ooxml-powerpoint", "ooxml", "odf", "jar"})
_CLAIMS: dict[str, frozenset[str]] = {
    "pdf": frozenset({"pdf"}),
    "rtf": frozenset({"rtf"}),
    "svg": frozenset({"image/svg", "xml", "text"}),
    "zip": _ZIPS,
    "7z": frozenset({"7z"}),
    "rar": frozenset({"rar"}),
    "gz": frozenset({"gzip"}),
    "tgz": frozenset({"gzip"}),
    "tar": frozenset({"tar"}),
    "bz2": frozenset({"bzip2"}),
    "xz": frozenset({"xz"}),
    "cab": frozenset({"cab"}),
    # Word opens RTF and old binary documents whatever the extension: those are not hiding
    **dict.fromkeys(("doc", "dot"), frozenset({"ole", "rtf", "ooxml-word", "xml"})),
    **dict.fromkeys(("docx", "docm", "dotx", "dotm"), frozenset({"ooxml-word", "ole"})),
    **dict.fromkeys(("xls", "xlt"), frozenset({"ole", "ooxml-excel", "xml", "text"})),
    **dict.fromkeys(("xlsx", "xlsm", "xlsb", "xltx", "xltm"), frozenset({"ooxml-excel", "ole"})),
    **dict.fromkeys(("ppt", "pps", "pot"), frozenset({"ole", "ooxml-powerpoint"})),
    **dict.fromkeys(
        ("pptx", "pptm", "ppsx", "ppsm", "potx"), frozenset({"ooxml-powerpoint", "ole"})
    ),
    **dict.fromkeys(("odt", "ods", "odp"), frozenset({"odf"})),
    **dict.fromkeys(tuple(_TEXT_EXTENSIONS), _TEXTY),
    **dict.fromkeys(
        ("jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "webp", "tif", "tiff"), _IMAGES
    ),
    **dict.fromkeys(("htm", "html", "xht", "xhtml", "xml"), _TEXTY),
}
"""What each harmless-looking extension may really hold without hiding anything."""
_HIDING = EXECUTABLE_TYPES | {
    "html",
    "image/svg",
    "zip",
    "7z",
    "rar",
    "cab",
    "gzip",
    "bzip2",
    "xz",
    "tar",
}
"""True types that a harmless-looking extension may be hiding from the reader or a filter."""
_DECLARED_EXTENSIONS = {
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/zip": "zip",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "text/plain": "txt",
    "text/calendar": "ics",
}
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _extension(name: str) -> str:
    # Windows drops trailing dots and spaces, so "invoice.exe. " runs as an .exe
    base = name.rsplit("/", 1)[-1].rstrip(". ")
    return base.rsplit(".", 1)[1].lower() if "." in base else ""


def _check_name(walk: _Walk, name: str, path: str, declared: str, true_type: str) -> None:
    ext = _extension(name)
    claim = f"named .{ext}"
    if not ext:  # an unnamed part: its Content-Type is the only claim
        ext = _DECLARED_EXTENSIONS.get(declared.lower(), "")
        claim = f"declared {declared}"
    if not _BIDI.isdisjoint(name):
        walk.reason(TYPE_MISMATCH, path, "name has a bidirectional override that disguises it")
    claims = _CLAIMS.get(ext)
    if claims is not None and true_type in _HIDING and true_type not in claims:
        walk.reason(TYPE_MISMATCH, path, f"{claim} but the content is {true_type}")
    evidence = []
    if ext in EXECUTABLE_EXTENSIONS:
        evidence.append(f".{ext} extension")
    if true_type in EXECUTABLE_TYPES and not (true_type == "script" and ext in _TEXT_EXTENSIONS):
        evidence.append(f"{true_type} content")
    if evidence:
        walk.reason(EXECUTABLE, path, " and ".join(evidence))


# --- the walk --------------------------------------------------------------------------------


class _Walk:
    """What one message's inspection found so far, and what is left of its budgets."""

    __slots__ = (
        "bytes_left",
        "deadline",
        "files",
        "images_left",
        "issues",
        "limits",
        "members_left",
        "per_check",
        "reasons",
        "seen",
        "timed_out",
        "urls",
    )

    def __init__(self, limits: Limits, deadline: float | None) -> None:
        self.limits = limits
        self.deadline = deadline
        self.timed_out = False
        self.bytes_left = limits.max_total_bytes
        self.members_left = limits.max_members
        self.images_left = limits.max_images
        self.reasons: list[Reason] = []
        self.urls: list[FoundUrl] = []
        self.files: list[FileInfo] = []
        self.issues: list[str] = []
        self.seen: set[tuple[str, str]] = set()
        self.per_check: dict[str, int] = {}

    def reason(self, check: str, path: str, evidence: str) -> None:
        count = self.per_check.get(check, 0) + 1
        self.per_check[check] = count
        if count <= MAX_REASONS_PER_CHECK:
            self.reasons.append(Reason(check, f"{path}: {evidence}", 0.0))

    def url(self, url: str, where: str) -> None:
        url = url.strip()
        key = (url, where)
        if url and key not in self.seen and len(self.urls) < MAX_URLS:
            self.seen.add(key)
            self.urls.append(FoundUrl(url, where))

    def expired(self, path: str) -> bool:
        if self.deadline is None:
            return False
        if not self.timed_out and time.monotonic() > self.deadline:
            self.timed_out = True
            self.issues.append(f"time budget spent: stopped looking deeper at {path}")
        return self.timed_out

    def report(self) -> AttachmentReport:
        for check, count in self.per_check.items():
            if count > MAX_REASONS_PER_CHECK:
                self.issues.append(f"{count - MAX_REASONS_PER_CHECK} more {check} findings")
        return AttachmentReport(self.reasons, self.urls, self.files, self.issues)


def _inspect(
    walk: _Walk,
    name: str,
    path: str,
    data: bytes,
    declared: str,
    depth: int,
    hashes: tuple[str, str, str] | None = None,
) -> None:
    """Record one file, run the checks its true type calls for, and go into it if it holds more."""
    if walk.expired(path):
        _unread(walk, name, path, declared, depth, "unread", len(data))
        return
    true_type = sniff(data)
    entries: list[_ZipEntry] = []
    more = False
    problem = None
    vba: list[str] = []
    if true_type == "zip":
        entries, more, problem = _zip_entries(data, walk.members_left + 1)
        true_type = _zip_kind(entries)
    elif true_type == "ole":
        true_type, vba = _ole_facts(walk, path, data)
    md5, sha1, sha256 = hashes or _hashes(data)
    walk.files.append(
        FileInfo(name, path, declared, true_type, len(data), md5, sha1, sha256, depth)
    )
    _check_name(walk, name, path, declared, true_type)
    if true_type == "zip":
        _walk_zip(walk, path, data, entries, more, problem, depth)
    elif true_type.startswith("ooxml") or true_type == "odf":
        if problem:
            walk.issues.append(f"{path}: {problem}")
        _office_zip(walk, path, data, entries, depth)
    elif true_type in ("ole", "msi") and vba:
        _macro_reason(walk, path, name, data, [f"VBA project in {', '.join(vba)}"])
    elif true_type == "pdf":
        _pdf(walk, path, data)
    elif true_type in ("html", "image/svg"):
        _html(walk, path, data)
    elif true_type in ("gzip", "bzip2", "xz"):
        _walk_stream(walk, name, path, data, true_type, depth)
    elif true_type == "tar":
        _walk_tar(walk, path, data, depth)
    elif true_type in _IMAGES:
        _qr(walk, path, data)
    if true_type in ("text", "script", "rtf") or (
        true_type == "unknown" and _extension(name) in _TEXT_EXTENSIONS
    ):
        _text(walk, name, path, data)


def _unread(
    walk: _Walk, name: str, path: str, declared: str, depth: int, label: str, size: int
) -> None:
    """A file that was not read (encrypted, over a limit, out of time): its name is still judged."""
    walk.files.append(FileInfo(name, path, declared, label, size, "", "", "", depth))
    _check_name(walk, name, path, declared, label)


def _hashes(data: bytes) -> tuple[str, str, str]:
    return (
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
        hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )


def _basename(name: str) -> str:
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or name


# --- zip -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ZipEntry:
    name: str
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    offset: int


_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_U32 = 0xFFFFFFFF


def _zip_entries(data: bytes, max_entries: int) -> tuple[list[_ZipEntry], bool, str | None]:
    """Up to ``max_entries`` members from the central directory, whether more are left, a problem.

    The directory is walked by hand so a zip that claims a million members costs no more than
    the budget; without one (a truncated download) the local headers are followed instead.
    """
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if pos < 0 or pos + _EOCD.size > len(data):
        entries, more = _local_entries(data, max_entries)
        return entries, more, "no central directory (truncated or damaged zip)"
    _sig, _d1, _d2, _n1, total, cd_size, cd_offset, _c = _EOCD.unpack_from(data, pos)
    end = pos
    if total == 0xFFFF or cd_size == _U32 or cd_offset == _U32:
        z64 = int.from_bytes(data[pos - 12 : pos - 4], "little") if pos >= 20 else -1
        if 0 <= z64 and data[pos - 20 : pos - 16] == b"PK\x06\x07":
            if data[z64 : z64 + 4] == b"PK\x06\x06" and z64 + _EOCD64.size <= len(data):
                fields = _EOCD64.unpack_from(data, z64)
                cd_size, cd_offset, end = fields[8], fields[9], z64
    start = end - cd_size  # where the directory really is, even with bytes before the zip
    if start < 0:
        entries, more = _local_entries(data, max_entries)
        return entries, more, "central directory larger than the file"
    shift = start - cd_offset
    entries = []
    at = start
    while at < end and len(entries) < max_entries:
        if at + _CENTRAL.size > len(data) or data[at : at + 4] != b"PK\x01\x02":
            if not entries:
                entries, more = _local_entries(data, max_entries)
                return entries, more, "damaged central directory"
            return entries, False, "damaged central directory"
        fields = _CENTRAL.unpack_from(data, at)
        flags, method, crc, csize, usize = fields[5], fields[6], fields[9], fields[10], fields[11]
        name_len, extra_len, comment_len, offset = fields[12], fields[13], fields[14], fields[18]
        raw_name = data[at + 46 : at + 46 + name_len]
        if _U32 in (csize, usize, offset):
            usize, csize, offset = _zip64_sizes(
                data[at + 46 + name_len : at + 46 + name_len + extra_len], usize, csize, offset
            )
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        entries.append(_ZipEntry(name, flags, method, crc, csize, usize, offset + shift))
        at += 46 + name_len + extra_len + comment_len
    return entries, at < end, None


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        if tag == 1:
            values = [
                int.from_bytes(extra[i : i + 8], "little")
                for i in range(at + 4, at + 4 + size - 7, 8)
            ]
            fields = [usize, csize, offset]
            for index, value in enumerate(fields):
                if value == _U32 and values:
                    fields[index] = values.pop(0)
            return fields[0], fields[1], fields[2]
        at += 4 + size
    return usize, csize, offset


def _local_entries(data: bytes, max_entries: int) -> tuple[list[_ZipEntry], bool]:
    """Members found by following local headers from the start (for zips without a directory)."""
    entries: list[_ZipEntry] = []
    at = data.find(b"PK\x03\x04")
    while 0 <= at and at + _LOCAL.size <= len(data):
        if len(entries) >= max_entries:
            return entries, True
        fields = _LOCAL.unpack_from(data, at)
        flags, method, crc, csize, usize, name_len, extra_len = (
            fields[3], fields[4], fields[7], fields[8], fields[9], fields[10], fields[11]
        )  # fmt: skip
        begin = at + _LOCAL.size + name_len + extra_len
        following = data.find(b"PK\x03\x04", begin)
        if flags & 0x08 or csize == 0:
            # sizes come after the data: the next header (or the end) bounds it, size unknown
            stop = following if following >= 0 else len(data)
            for trailer in (16, 24):  # a signed data descriptor (zip64 or not) ends the data
                if data[stop - trailer : stop - trailer + 4] == b"PK\x07\x08":
                    stop -= trailer
                    break
            csize, usize = stop - begin, -1
        raw_name = data[at + _LOCAL.size : at + _LOCAL.size + name_len]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        entries.append(_ZipEntry(name, flags, method, crc, csize, usize, at))
        at = following if following > at else -1
    return entries, False


def _zip_kind(entries: list[_ZipEntry]) -> str:
    """Which zip-based format this is, from its member names."""
    names = {entry.name.lower() for entry in entries}
    if "[content_types].xml" in names:
        tops = {name.split("/", 1)[0] for name in names}
        for top, label in (
            ("word", "ooxml-word"),
            ("xl", "ooxml-excel"),
            ("ppt", "ooxml-powerpoint"),
        ):
            if top in tops:
                return label
        return "ooxml"
    if "mimetype" in names and "meta-inf/manifest.xml" in names:
        return "odf"
    if "meta-inf/manifest.mf" in names and any(name.endswith(".class") for name in names):
        return "jar"
    return "zip"


def _walk_zip(
    walk: _Walk,
    path: str,
    data: bytes,
    entries: list[_ZipEntry],
    more: bool,
    problem: str | None,
    depth: int,
) -> None:
    limits = walk.limits
    if problem:
        walk.issues.append(f"{path}: {problem}")
    if _too_deep(walk, path, depth):
        return
    encrypted = []
    for entry in entries:
        if entry.name.endswith("/"):
            continue
        if walk.members_left <= 0:
            more = True
            break
        walk.members_left -= 1
        name, member_path = _basename(entry.name), f"{path}/{entry.name}"
        if entry.flags & 0x01 or entry.method == 99:  # traditional or AES encryption
            encrypted.append(entry.name)
            _unread(walk, name, member_path, "", depth + 1, "encrypted", entry.usize)
            continue
        content = None if walk.expired(member_path) else _zip_member(walk, data, entry, member_path)
        if content is None:
            _unread(walk, name, member_path, "", depth + 1, "unread", max(entry.usize, 0))
            continue
        _inspect(walk, name, member_path, content, "", depth + 1)
    if more:
        walk.reason(
            ARCHIVE_LIMIT,
            path,
            f"member count: more than {limits.max_members} members in the message, the rest unread",
        )
    if encrypted:
        shown = ", ".join(encrypted[:3]) + (", ..." if len(encrypted) > 3 else "")
        walk.reason(
            ENCRYPTED_ARCHIVE, path, f"password-protected zip: {len(encrypted)} encrypted ({shown})"
        )


def _too_deep(walk: _Walk, path: str, depth: int) -> bool:
    if depth < walk.limits.max_depth:
        return False
    limit = walk.limits.max_depth
    walk.reason(ARCHIVE_LIMIT, path, f"archive nested deeper than {limit}: not opened")
    return True


def _zip_member(walk: _Walk, data: bytes, entry: _ZipEntry, path: str) -> bytes | None:
    """A member's bytes, read within the limits (None when a limit or damage stops it)."""
    cap = _member_cap(walk, path, entry.csize, entry.usize)
    if cap is None:
        return None
    at = entry.offset
    if data[at : at + 4] != b"PK\x03\x04" or at + _LOCAL.size > len(data):
        walk.issues.append(f"{path}: local header missing (damaged zip)")
        return None
    name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
    begin = at + _LOCAL.size + name_len + extra_len
    packed = memoryview(data)[begin : begin + entry.csize]
    try:
        if entry.method == 0:
            content = bytes(packed[: cap + 1])
        elif entry.method == 8:
            content = zlib.decompressobj(-15).decompress(packed, cap + 1)
        elif entry.method == 12:
            content = bz2.BZ2Decompressor().decompress(packed, cap + 1)
        else:
            walk.issues.append(f"{path}: compression method {entry.method} not read")
            return None
    except (zlib.error, OSError, ValueError, EOFError) as exc:
        walk.issues.append(f"{path}: undecompressable member ({exc})")
        return None
    if not _within_cap(walk, path, content, cap, entry.csize):
        return None
    if entry.usize < 0:  # a streamed member found without its directory: nothing to compare
        pass
    elif len(content) > entry.usize:
        walk.reason(
            ARCHIVE_LIMIT,
            path,
            f"declared size: the member declares {entry.usize:,} bytes but holds more",
        )
    elif len(content) < entry.usize:
        walk.issues.append(f"{path}: {len(content):,} of {entry.usize:,} bytes (truncated)")
    elif zlib.crc32(content) != entry.crc:
        walk.issues.append(f"{path}: CRC mismatch (damaged or altered member)")
    return content


def _member_cap(walk: _Walk, path: str, packed: int, declared: int) -> int | None:
    """How many bytes may come out of a packed member, or None when its declared size is over."""
    limits = walk.limits
    if declared > limits.max_member_bytes:
        limit = f"member size: {declared:,} bytes declared, over {limits.max_member_bytes:,}"
    elif declared > walk.bytes_left:
        limit = f"total size: over {limits.max_total_bytes:,} bytes unpacked in the message"
    elif declared > RATIO_FLOOR and declared > max(packed, 1) * limits.max_ratio:
        ratio = declared // max(packed, 1)
        limit = f"compression ratio: {ratio:,}:1 declared, over {limits.max_ratio}:1 (zip bomb)"
    else:
        ratio_cap = max(packed * limits.max_ratio, RATIO_FLOOR)
        return min(limits.max_member_bytes, walk.bytes_left, ratio_cap)
    walk.reason(ARCHIVE_LIMIT, path, limit)
    return None


def _within_cap(walk: _Walk, path: str, content: bytes, cap: int, packed: int) -> bool:
    """Count what came out against the message; name the limit when it was more than allowed."""
    limits = walk.limits
    if len(content) <= cap:
        walk.bytes_left -= len(content)
        return True
    if cap == limits.max_member_bytes:
        limit = f"member size: over {limits.max_member_bytes:,} bytes unpacked"
    elif cap == walk.bytes_left:
        limit = f"total size: over {limits.max_total_bytes:,} bytes unpacked in the message"
    else:
        limit = (
            f"compression ratio: {packed:,} bytes unpack past {cap:,}, "
            f"over {limits.max_ratio}:1 (zip bomb)"
        )
    walk.reason(ARCHIVE_LIMIT, path, limit)
    return False


# --- gzip, bzip2, xz, tar --------------------------------------------------------------------


def _walk_stream(walk: _Walk, name: str, path: str, data: bytes, kind: str, depth: int) -> None:
    """A compressed stream holds one file: unpack it (bounded) and inspect that."""
    limits = walk.limits
    if _too_deep(walk, path, depth):
        return
    if walk.members_left <= 0:
        walk.reason(ARCHIVE_LIMIT, path, f"member count: more than {limits.max_members} members")
        return
    walk.members_left -= 1
    inner = _inner_name(name, data if kind == "gzip" else b"")
    cap = min(
        limits.max_member_bytes, walk.bytes_left, max(len(data) * limits.max_ratio, RATIO_FLOOR)
    )
    try:
        if kind == "gzip":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            content, finished = inflater.decompress(data, cap + 1), inflater.eof
        elif kind == "bzip2":
            bunzip = bz2.BZ2Decompressor()
            content, finished = bunzip.decompress(data, cap + 1), bunzip.eof
        else:
            unxz = lzma.LZMADecompressor()
            content, finished = unxz.decompress(data, cap + 1), unxz.eof
    except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError) as exc:
        walk.issues.append(f"{path}: undecompressable {kind} ({exc})")
        return
    if _within_cap(walk, path, content, cap, len(data)):
        if not finished:  # what came out is still worth a look
            walk.issues.append(f"{path}: truncated {kind}")
        _inspect(walk, inner, f"{path}/{inner}", content, "", depth + 1)


def _inner_name(name: str, gzip_head: bytes) -> str:
    """The name of the file inside: the gzip FNAME field, else the outer name without its suffix."""
    if len(gzip_head) > 10 and gzip_head[3] & 0x08:
        at = 10
        if gzip_head[3] & 0x04:  # FEXTRA comes first
            at += 2 + int.from_bytes(gzip_head[10:12], "little")
        end = gzip_head.find(b"\x00", at, at + 1024)
        if end > at:
            return _basename(gzip_head[at:end].decode("latin-1"))
    base = _basename(name)
    stem, _, ext = base.rpartition(".")
    if ext.lower() in ("tgz", "tbz2", "txz"):
        return f"{stem}.tar"
    return stem if stem and ext.lower() in ("gz", "bz2", "xz") else f"{base}.unpacked"


def _walk_tar(walk: _Walk, path: str, data: bytes, depth: int) -> None:
    limits = walk.limits
    if _too_deep(walk, path, depth):
        return
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if walk.members_left <= 0:
                    walk.reason(
                        ARCHIVE_LIMIT, path, f"member count: more than {limits.max_members} members"
                    )
                    return
                walk.members_left -= 1
                name, member_path = _basename(member.name), f"{path}/{member.name}"
                handle = None if walk.expired(member_path) else tar.extractfile(member)
                if handle is None:
                    _unread(walk, name, member_path, "", depth + 1, "unread", member.size)
                    continue
                # the tar is already in memory (and counted), so its members are slices of it
                _inspect(walk, name, member_path, handle.read(), "", depth + 1)
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError) as exc:
        walk.issues.append(f"{path}: damaged tar ({type(exc).__name__})")


# --- Office ----------------------------------------------------------------------------------

_REMOTE_RELATIONSHIPS = frozenset(
    {"attachedtemplate", "oleobject", "frame", "externallinkpath", "subdocument"}
)
"""Relationship types that make Office fetch and load content (remote template injection)."""
# tags stop at the next "<" so that a run of unclosed tags costs linear time, not quadratic
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b[^<>]*>", re.IGNORECASE)
_XML_ATTRIBUTE = re.compile(rb"""([\w:]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_VBA_ROOTS = ("macros", "_vba_project_cur")


def _office_zip(walk: _Walk, path: str, data: bytes, entries: list[_ZipEntry], depth: int) -> None:
    """Macros, external relationships and embedded files of an OOXML or ODF document."""
    evidence = []
    vba_entry = None
    for entry in entries:
        lower = entry.name.lower()
        if lower.endswith("vbaproject.bin"):
            evidence.append(f"{entry.name} (VBA project)")
            vba_entry = vba_entry or entry
        elif lower.startswith("xl/macrosheets/") and lower.endswith(".xml"):
            evidence.append(f"{entry.name} (Excel 4.0 macro sheet)")
        elif lower.startswith(("basic/", "scripts/")) and not lower.endswith(
            ("/", "script-lc.xml", "script-lb.xml", "manifest.xml")
        ):
            evidence.append(f"{entry.name} (document macro)")
        elif lower.endswith(".rels") and entry.usize <= MAX_RELS_BYTES:
            content = _zip_member(walk, data, entry, f"{path}/{entry.name}")
            if content:
                _relationships(walk, path, content)
        elif "/embeddings/" in lower and not lower.endswith("/") and walk.members_left > 0:
            walk.members_left -= 1
            member_path = f"{path}/{entry.name}"
            embedded = (
                None if walk.expired(member_path) else _zip_member(walk, data, entry, member_path)
            )
            if embedded is not None:
                _inspect(walk, _basename(entry.name), member_path, embedded, "", depth + 1)
    if evidence:
        vba = None
        if vba_entry is not None and vba_entry.usize <= MAX_OLEVBA_BYTES:
            vba = _zip_member(walk, data, vba_entry, f"{path}/{vba_entry.name}")
        _macro_reason(walk, path, "vbaProject.bin", vba, evidence[:5])


def _relationships(walk: _Walk, path: str, xml: bytes) -> None:
    where = f"office:{path}"
    for match in _RELATIONSHIP.finditer(xml):
        attributes = {
            key.split(b":")[-1].lower(): (double or single)
            for key, double, single in _XML_ATTRIBUTE.findall(match.group(0))
        }
        if attributes.get(b"targetmode", b"").lower() != b"external":
            continue
        kind = attributes.get(b"type", b"").rsplit(b"/", 1)[-1].decode("latin-1").lower()
        target = html.unescape(attributes.get(b"target", b"").decode("utf-8", "replace")).strip()
        # a Follina-style target wraps the URL ("mhtml:https://...!x-usc:...")
        for url in urls_in_text(target) or [target]:
            walk.url(url, where)
        if kind in _REMOTE_RELATIONSHIPS:
            walk.reason(OFFICE_EXTERNAL, path, f"external {kind} relationship to {target}")


def _ole_facts(walk: _Walk, path: str, data: bytes) -> tuple[str, list[str]]:
    """The kind of an OLE file (``ole`` or ``msi``) and the storages holding a VBA project."""
    if len(data) < 1536:  # below this olefile would take the bytes for a file name
        walk.issues.append(f"{path}: truncated OLE file")
        return "ole", []
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            clsid = str(ole.root.clsid if ole.root is not None else "").upper()
            streams = ole.listdir(streams=True, storages=False)
    except Exception as exc:  # noqa: BLE001 - olefile raises many types on damaged files
        walk.issues.append(f"{path}: unreadable OLE file ({type(exc).__name__})")
        return "ole", []
    # MSI, MSP and MST: Windows Installer package, patch and transform
    kind = "msi" if clsid.startswith(("000C1084-", "000C1086-", "000C1082-")) else "ole"
    vba = []
    for parts in streams:
        lowered = [part.lower() for part in parts]
        if lowered[-2:] == ["vba", "dir"]:
            vba.append("/".join(parts[:-2]) or "the root")
        elif lowered == ["encryptedpackage"]:
            walk.reason(ENCRYPTED_ARCHIVE, path, "password-protected Office document")
        elif len(lowered) > 1 and lowered[0] in _VBA_ROOTS:
            vba.append(parts[0])
    return kind, sorted(set(vba))


def _macro_reason(
    walk: _Walk, path: str, name: str, vba: bytes | None, evidence: list[str]
) -> None:
    detail = "macros: " + ", ".join(evidence)
    if vba is not None:
        summary = _olevba_summary(name, vba)
        if summary:
            detail += f"; {summary}"
    walk.reason(OFFICE_MACRO, path, detail)


def _olevba_summary(name: str, data: bytes) -> str | None:
    """olevba's auto-exec and suspicious keywords, when oletools is installed (it is optional).

    oletools needs pcodedmp, which is GPL, so it is never required: without it the macro is
    still reported, only without the keywords.
    """
    if len(data) > MAX_OLEVBA_BYTES:
        return None
    try:
        # oletools still calls pyparsing names that now warn; the warning is not ours to show
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            olevba = importlib.import_module("oletools.olevba")
            parser = olevba.VBA_Parser(name, data=data, disable_pcode=True)
            try:
                results = parser.analyze_macros() or []
            finally:
                parser.close()
    except ImportError:
        return None
    except Exception as exc:  # noqa: BLE001 - olevba fails on damaged projects
        return f"olevba could not read the project ({type(exc).__name__})"
    auto = sorted({str(kw) for kind, kw, _d in results if kind == "AutoExec"})
    suspicious = sorted({str(kw) for kind, kw, _d in results if kind == "Suspicious"})
    parts = []
    if auto:
        parts.append("runs on open: " + ", ".join(auto[:8]))
    if suspicious:
        parts.append("suspicious: " + ", ".join(suspicious[:8]))
    return "; ".join(parts) or None


# --- PDF -------------------------------------------------------------------------------------

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


def _pdf(walk: _Walk, path: str, data: bytes) -> None:
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


def _pdf_scan(walk: _Walk, path: str, data: bytes, counts: dict[str, int], *, nested: bool) -> bool:
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


def _inflate(walk: _Walk, packed: memoryview) -> bytes | None:
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


# --- HTML, text, images ----------------------------------------------------------------------

# run on lower-cased text: each pattern then starts with a literal, which the engine finds fast;
# the lazy tag body stops at the next "<" or ">", so a run of unclosed tags stays linear
_PASSWORD_INPUT = re.compile(r"<input\b[^<>]*?\btype\s*=\s*[\"']?password\b")
_SMUGGLING = {
    "blob": re.compile(r"new\s+blob\s*\("),
    "decode": re.compile(r"atob\s*\(|uint8array|charcodeat"),
    "download": re.compile(r"download\s*="),
}
_MAX_URL_FILE = 64 * 1024
_URL_FIELD = re.compile(r"^[ \t]*URL[ \t]*=[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_WEB = ("http://", "https://", "//")


def _decode(data: bytes) -> str:
    head = data[:MAX_TEXT_BYTES]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return head.decode("utf-16", "replace")
    return head.decode("utf-8-sig" if head[:3] == b"\xef\xbb\xbf" else "utf-8", "replace")


def _html(walk: _Walk, path: str, data: bytes) -> None:
    """Credential forms, file smuggling and every URL of an HTML (or SVG) attachment."""
    text = _decode(data)
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


def _text(walk: _Walk, name: str, path: str, data: bytes) -> None:
    """URLs in a plain-text attachment (and the target of a .url Internet shortcut)."""
    text = _decode(data)
    where = f"text:{path}"
    for url in urls_in_text(text):
        walk.url(url, where)
    if _extension(name) == "url":
        for match in _URL_FIELD.finditer(text, 0, _MAX_URL_FILE):
            walk.url(match.group(1), where)


# bounded repeats: a QR code holds up to 4 KB of text, which must not cost quadratic time
_BARE_URL = re.compile(r"^[a-z0-9][a-z0-9.-]{0,252}\.[a-z]{2,63}(?:[/:?#]\S*)?$", re.IGNORECASE)


def _qr(walk: _Walk, path: str, data: bytes) -> None:
    if walk.images_left <= 0:
        if walk.images_left == 0:
            walk.issues.append(f"more than {walk.limits.max_images} images: the rest not scanned")
            walk.images_left -= 1
        return
    walk.images_left -= 1
    scan = scan_image(data, max_pixels=walk.limits.max_image_pixels)
    if scan.issue:
        walk.issues.append(f"{path}: {scan.issue}")
    urls = []
    for text in scan.texts:
        # phones open a bare host name too, so "evil.example/pay" counts as a link
        urls += urls_in_text(text) or ([text.strip()] if _BARE_URL.match(text.strip()) else [])
    for url in urls:
        walk.url(url, f"qr:{path}")
    if urls:
        walk.reason(QR_CODE, path, "QR code linking to " + ", ".join(urls[:3]))
