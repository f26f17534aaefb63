"""What attached files really are and do: true type, archives, Office, PDF, HTML, QR codes.

Every attachment is hostile input held in memory. Its true type comes from its first bytes (a
small magic table: the few types that matter, checked faster than a general library would),
then the file is opened the cheapest way that answers the question. This module is the entry
point (``inspect_attachments``) and the walk over files: it sniffs the true type, judges names
against it, hashes, reads links in text files and QR codes in images, and hands each format to
its own module: ``archives`` (zip, gzip, bzip2, xz, tar and the bomb limits), ``office``
(macros, external relationships, embedded files), ``pdfscan`` (a pdfid-like scan) and
``htmlscan`` (credential forms, smuggling). Files found inside others come back here through
the walk (``attachtypes.Walk``), so nesting is judged the same way at every depth. Nothing is
written to disk and nothing is run.

Archives, depth, bytes, images and time are budgeted per message (``Limits``, ``deadline``): a
limit that is hit is a reason (``attachment.archive_limit``, since a bomb is itself a sign),
damaged content is an issue, and neither stops the other checks. Reasons carry weight 0.0: the
scorer weighs them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from tocsin.mail.archives import (
    ARCHIVE_LIMIT,
    ENCRYPTED_ARCHIVE,
    ZipEntry,
    detect_zip_kind,
    read_zip_entries,
    walk_stream,
    walk_tar,
    walk_zip,
)
from tocsin.mail.attachtypes import (
    DEFAULT_LIMITS,
    MAX_REASONS_PER_CHECK,
    MAX_URLS,
    MIB,
    RATIO_FLOOR,
    AttachmentReport,
    FileInfo,
    FoundUrl,
    Limits,
    Walk,
)
from tocsin.mail.htmlscan import (
    HTML_CREDENTIAL_FORM,
    HTML_SMUGGLING,
    MAX_TEXT_BYTES,
    decode_text,
    scan_html,
)
from tocsin.mail.links import urls_in_text
from tocsin.mail.message import Attachment
from tocsin.mail.office import (
    MAX_OLEVBA_BYTES,
    MAX_RELS_BYTES,
    OFFICE_EXTERNAL,
    OFFICE_MACRO,
    read_ole_facts,
    report_macros,
    scan_office_zip,
)
from tocsin.mail.pdfscan import PDF_JAVASCRIPT, PDF_LAUNCH, scan_pdf
from tocsin.mail.qrcodes import scan_image

__all__ = [
    "ARCHIVE_LIMIT",
    "DEFAULT_LIMITS",
    "ENCRYPTED_ARCHIVE",
    "EXECUTABLE",
    "EXECUTABLE_EXTENSIONS",
    "EXECUTABLE_TYPES",
    "HTML_CREDENTIAL_FORM",
    "HTML_SMUGGLING",
    "MAX_OLEVBA_BYTES",
    "MAX_REASONS_PER_CHECK",
    "MAX_RELS_BYTES",
    "MAX_TEXT_BYTES",
    "MAX_URLS",
    "MIB",
    "OFFICE_EXTERNAL",
    "OFFICE_MACRO",
    "PDF_JAVASCRIPT",
    "PDF_LAUNCH",
    "QR_CODE",
    "RATIO_FLOOR",
    "TYPE_MISMATCH",
    "AttachmentReport",
    "FileInfo",
    "FoundUrl",
    "Limits",
    "inspect_attachments",
    "sniff",
]

# the other check names are defined by the module that emits them and re-exported above
TYPE_MISMATCH = "attachment.type_mismatch"
EXECUTABLE = "attachment.executable"
QR_CODE = "attachment.qr_code"


def inspect_attachments(
    attachments: Sequence[Attachment],
    *,
    deadline: float | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> AttachmentReport:
    """Inspect a message's attachments within the limits; never raises on their content."""
    walk = Walk(limits, deadline, inspect=_inspect, unread=_unread)
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


def _check_name(walk: Walk, name: str, path: str, declared: str, true_type: str) -> None:
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


def _inspect(
    walk: Walk,
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
    entries: list[ZipEntry] = []
    more = False
    problem = None
    vba: list[str] = []
    if true_type == "zip":
        entries, more, problem = read_zip_entries(data, walk.members_left + 1)
        true_type = detect_zip_kind(entries)
    elif true_type == "ole":
        true_type, vba = read_ole_facts(walk, path, data)
    md5, sha1, sha256 = hashes or _hashes(data)
    walk.files.append(
        FileInfo(name, path, declared, true_type, len(data), md5, sha1, sha256, depth)
    )
    _check_name(walk, name, path, declared, true_type)
    if true_type == "zip":
        walk_zip(walk, path, data, entries, more, problem, depth)
    elif true_type.startswith("ooxml") or true_type == "odf":
        if problem:
            walk.issues.append(f"{path}: {problem}")
        scan_office_zip(walk, path, data, entries, depth)
    elif true_type in ("ole", "msi") and vba:
        report_macros(walk, path, name, data, [f"VBA project in {', '.join(vba)}"])
    elif true_type == "pdf":
        scan_pdf(walk, path, data)
    elif true_type in ("html", "image/svg"):
        scan_html(walk, path, data)
    elif true_type in ("gzip", "bzip2", "xz"):
        walk_stream(walk, name, path, data, true_type, depth)
    elif true_type == "tar":
        walk_tar(walk, path, data, depth)
    elif true_type in _IMAGES:
        _qr(walk, path, data)
    if true_type in ("text", "script", "rtf") or (
        true_type == "unknown" and _extension(name) in _TEXT_EXTENSIONS
    ):
        _text(walk, name, path, data)


def _unread(
    walk: Walk, name: str, path: str, declared: str, depth: int, label: str, size: int
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


# --- text, images ----------------------------------------------------------------------------

_MAX_URL_FILE = 64 * 1024
_URL_FIELD = re.compile(r"^[ \t]*URL[ \t]*=[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


def _text(walk: Walk, name: str, path: str, data: bytes) -> None:
    """URLs in a plain-text attachment (and the target of a .url Internet shortcut)."""
    text = decode_text(data)
    where = f"text:{path}"
    for url in urls_in_text(text):
        walk.url(url, where)
    if _extension(name) == "url":
        for match in _URL_FIELD.finditer(text, 0, _MAX_URL_FILE):
            walk.url(match.group(1), where)


# bounded repeats: a QR code holds up to 4 KB of text, which must not cost quadratic time
_BARE_URL = re.compile(r"^[a-z0-9][a-z0-9.-]{0,252}\.[a-z]{2,63}(?:[/:?#]\S*)?$", re.IGNORECASE)


def _qr(walk: Walk, path: str, data: bytes) -> None:
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
