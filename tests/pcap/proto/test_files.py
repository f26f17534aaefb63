"""File descriptions: magic-byte sniffing, declared-type fallback, hashes and ECS fields."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import zipfile

import pytest

from tocsin.pcap.proto.files import file_info, sniff_mime_type


def zipped(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"<x/>")
    return buffer.getvalue()


def pe() -> bytes:
    head = bytearray(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x80))
    return bytes(head) + bytes(0x80 - len(head)) + b"PE\x00\x00" + bytes(64)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.4\n%...", "application/pdf"),
        (zipped("[Content_Types].xml", "word/document.xml"),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (zipped("[Content_Types].xml", "xl/workbook.xml"),
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (zipped("notes.txt"), "application/zip"),
        (pe(), "application/vnd.microsoft.portable-executable"),
        (b"MZ" + bytes(10), "application/x-dosexec"),
        (b"\x7fELF\x02\x01\x01" + bytes(9), "application/x-executable"),
        (gzip.compress(b"x"), "application/gzip"),
        (b"\x89PNG\r\n\x1a\n" + bytes(8), "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(8), "application/x-ole-storage"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\xef\xbb\xbf  \n<!DOCTYPE HTML><html>", "text/html"),
        (b"<?xml version='1.0'?><a/>", "application/xml"),
        ("plain text, café\n".encode(), "text/plain"),
        (b"\x00\x01\x02\x03binary", None),
        (b"", None),
    ],
)  # fmt: skip
def test_sniff(data, expected):
    assert sniff_mime_type(data) == expected


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        (b'{"a": 1}', "application/json; charset=utf-8", "application/json"),  # text, declared
        (b"a,b\n1,2\n", "text/csv", "text/csv"),
        (b"just text", "image/jpeg", "text/plain"),  # a claim the bytes contradict
        (b"%PDF-1.7", "image/jpeg", "application/pdf"),  # magic beats the claim
        (b"\x00\x9f\x92\x96", "application/x-custom", "application/x-custom"),
        (b"\x00\x9f\x92\x96", None, "application/octet-stream"),
        (b"\x00\x9f\x92\x96", "garbage", "application/octet-stream"),
    ],
)
def test_declared_type_fallback(data, declared, expected):
    info = file_info(data, name=None, declared_type=declared, source="http", direction="download",
                     truncated=False)  # fmt: skip
    assert info.mime_type == expected


def test_hashes_and_fields():
    data = b"%PDF-1.7 hello"
    info = file_info(data, name="Report.Final.PDF", declared_type=None, source="smtp",
                     direction="upload", truncated=True)  # fmt: skip
    assert info.truncated and info.source == "smtp" and info.direction == "upload"
    assert info.fields() == {
        "file.name": "Report.Final.PDF",
        "file.extension": "pdf",
        "file.size": len(data),
        "file.mime_type": "application/pdf",
        "file.hash.md5": hashlib.md5(data).hexdigest(),  # noqa: S324
        "file.hash.sha1": hashlib.sha1(data).hexdigest(),  # noqa: S324
        "file.hash.sha256": hashlib.sha256(data).hexdigest(),
    }


@pytest.mark.parametrize(
    ("name", "extension"),
    [("a.tar.gz", "gz"), (".bashrc", None), ("noext", None), ("dir.d/file", None),
     ("x.", None), ("evil.ex e", None), (None, None), ("C:\\t\\run.EXE", "exe")],
)  # fmt: skip
def test_extension(name, extension):
    info = file_info(b"x", name=name, declared_type=None, source="http", direction="download",
                     truncated=False)  # fmt: skip
    assert info.extension == extension
    assert info.fields().get("file.extension") == extension
