"""Attachment storage: names reduced to labels, content addressing, the size limit."""

from __future__ import annotations

import hashlib
import io

import pytest

from tocsin.core.errors import InvalidInputError
from tocsin.workspace.attachments import (
    AttachmentStore,
    AttachmentTooLargeError,
    sanitize_content_type,
    sanitize_filename,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Windows\\System32\\drivers\\etc\\hosts", "hosts"),
        ("..", "attachment"),
        ("dir/", "attachment"),
        ("", "attachment"),
        ("a\x00b\r\nc\x7f\u202ed.txt", "abcd.txt"),
        ("  spaced name.txt  ", "spaced name.txt"),
        ("caf\u00e9 \u65e5\u672c.txt", "caf\u00e9 \u65e5\u672c.txt"),
        ("x" * 300 + ".docx", "x" * 250 + ".docx"),
        ("y" * 300, "y" * 255),
    ],
)
def test_sanitize_filename(raw, expected):
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("text/plain", "text/plain"),
        ("Text/HTML; charset=utf-8", "text/html"),
        (None, "application/octet-stream"),
        ("not a type", "application/octet-stream"),
        ("text/plain\r\nX-Evil: 1", "application/octet-stream"),
    ],
)
def test_sanitize_content_type(raw, expected):
    assert sanitize_content_type(raw) == expected


def test_store_is_content_addressed(tmp_path):
    store = AttachmentStore(tmp_path / "att", max_bytes=10)
    blob = store.put(b"0123456789")
    again = store.put(io.BytesIO(b"0123456789"))
    assert blob == again
    assert blob.sha256 == hashlib.sha256(b"0123456789").hexdigest()
    assert [p.name for p in (tmp_path / "att").iterdir()] == [blob.sha256]
    assert store.open_path(blob.sha256).read_bytes() == b"0123456789"
    with pytest.raises(InvalidInputError, match="not a SHA-256"):
        store.path("../../etc/passwd")


def test_store_refuses_past_the_limit_and_keeps_nothing(tmp_path):
    store = AttachmentStore(tmp_path / "att", max_bytes=10)
    with pytest.raises(AttachmentTooLargeError, match="limit of 10 bytes"):
        store.put(io.BytesIO(b"x" * 11))
    with pytest.raises(AttachmentTooLargeError):
        store.put(b"x" * 11)
    assert list((tmp_path / "att").iterdir()) == []
    assert store.put(b"").size == 0
