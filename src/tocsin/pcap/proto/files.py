"""Files carried by a protocol (HTTP bodies, mail attachments): hashes and a sniffed type.

The HTTP and SMTP dissectors hand every body or attachment they can read to :func:`file_info`;
the importer turns the result into a ``pcap.file`` event. The type is sniffed from the leading
bytes because the declared ``Content-Type`` is what a sender claims, and a claim is exactly what
malware delivery gets wrong on purpose (an ``.exe`` served as ``image/jpeg``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

FileSource = Literal["http", "smtp"]
# upload: carried from the connection's client to its server (HTTP request body, mail sent
# over SMTP); download: from the server to the client (HTTP response body)
FileDirection = Literal["upload", "download"]

OCTET_STREAM = "application/octet-stream"
_OOXML = {
    b"word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    b"xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    b"ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
# (magic prefix, type), checked in order; longer and more specific prefixes first
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x7fELF", "application/x-executable"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"RIFF", "application/octet-stream"),  # refined below (webp, wav, avi)
)
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe")
# bytes that plain text may hold: printable ASCII, tab, CR, LF, FF, ESC; anything >= 0x80 is
# left to the UTF-8 check
_TEXT_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13, 27}) + b"\x7f"
_SNIFF_HEAD = 1024
_TEXTUAL_SUFFIXES = ("json", "xml", "javascript", "ecmascript", "yaml", "csv")
_TEXTUAL = frozenset({"application/x-www-form-urlencoded", "application/x-sh", "message/rfc822"})


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One file seen in traffic: what it is, how big, its hashes, and where it travelled."""

    name: str | None
    mime_type: str
    size: int
    md5: str
    sha1: str
    sha256: str
    truncated: bool
    source: FileSource
    direction: FileDirection

    @property
    def extension(self) -> str | None:
        """The name's extension, lower-case and without the dot (None when it has none)."""
        if not self.name:
            return None
        base = self.name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        stem, dot, ext = base.rpartition(".")
        if not dot or not stem or not ext or len(ext) > 16 or not ext.isalnum():
            return None
        return ext.lower()

    def fields(self) -> dict[str, object]:
        """ECS ``file.*`` fields of this file."""
        out: dict[str, object] = {
            "file.size": self.size,
            "file.mime_type": self.mime_type,
            "file.hash.md5": self.md5,
            "file.hash.sha1": self.sha1,
            "file.hash.sha256": self.sha256,
        }
        if self.name:
            out["file.name"] = self.name
        extension = self.extension
        if extension:
            out["file.extension"] = extension
        return out


def _sniff_zip(head: bytes) -> str:
    # an OOXML document is a zip whose first entries are [Content_Types].xml and a part under
    # word/, xl/ or ppt/; the local file headers carry those names in clear near the start
    if b"[Content_Types].xml" in head or b"_rels/" in head:
        for folder, mime in _OOXML.items():
            if folder in head:
                return mime
    if b"mimetypeapplication/vnd.oasis.opendocument." in head:
        return "application/vnd.oasis.opendocument"
    if b"META-INF/MANIFEST.MF" in head:
        return "application/java-archive"
    return "application/zip"


def _is_text(head: bytes) -> bool:
    if not head or len(head.translate(None, _TEXT_CONTROL)) != len(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the sniff window is still text
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def sniff_mime_type(data: bytes) -> str | None:
    """The type the leading bytes show (``text/plain`` for plain text), or None when unknown."""
    head = data[:_SNIFF_HEAD]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(head)
    if head.startswith(b"MZ"):
        # a PE file says where its "PE\0\0" header is at offset 0x3c; a bare MZ is DOS
        if len(head) >= 0x40:
            at = int.from_bytes(head[0x3C:0x40], "little")
            if data[at : at + 4] == b"PE\x00\x00":
                return "application/vnd.microsoft.portable-executable"
        return "application/x-dosexec"
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            if magic == b"RIFF":
                kind = head[8:12]
                if kind == b"WEBP":
                    return "image/webp"
                if kind == b"WAVE":
                    return "audio/wav"
                if kind == b"AVI ":
                    return "video/x-msvideo"
                return None
            return mime
    stripped = head.lstrip(b" \t\r\n\xef\xbb\xbf")[:16].lower()
    if stripped.startswith(_HTML_STARTS):
        return "text/html"
    if stripped.startswith(b"<?xml"):
        return "application/xml"
    if stripped.startswith(b"{\\rtf"):
        return "application/rtf"
    if _is_text(head):
        return "text/plain"
    return None


def _is_textual(mime: str | None) -> bool:
    return mime is not None and (
        mime.startswith("text/") or mime.endswith(_TEXTUAL_SUFFIXES) or mime in _TEXTUAL
    )


def media_type(declared: str | None) -> str | None:
    """A ``Content-Type`` value reduced to its lower-case media type (no parameters)."""
    if not declared:
        return None
    value = declared.split(";", 1)[0].strip().lower()
    if "/" not in value or len(value) > 127:
        return None
    return value


def file_info(
    data: bytes,
    *,
    name: str | None,
    declared_type: str | None,
    source: FileSource,
    direction: FileDirection,
    truncated: bool,
) -> FileInfo:
    """Hash ``data`` and sniff its type; the declared type is used when the bytes say nothing."""
    sniffed = sniff_mime_type(data)
    declared = media_type(declared_type)
    # text/plain is the weakest sniff: a declared text-like type (json, css, csv) says more
    if sniffed is None or (sniffed == "text/plain" and _is_textual(declared)):
        mime = declared or sniffed or OCTET_STREAM
    else:
        mime = sniffed
    return FileInfo(
        name=name or None,
        mime_type=mime,
        size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        truncated=truncated,
        source=source,
        direction=direction,
    )
