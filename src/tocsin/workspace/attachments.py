"""Case attachment files: content-addressed, size-limited, written atomically.

The bytes of an attachment live in ``settings.attachments_dir`` under their SHA-256, so the same
file attached twice is stored once and a name chosen by an uploader never becomes a path. A file
is written to a temporary name in the same folder, flushed, then renamed (``os.replace``), so a
reader never sees half a file; it is readable by the owner only. A stream is read in chunks and
reading stops one byte past the limit, so an oversized upload is never held whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tocsin.core.errors import InvalidInputError, NotFoundError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
MAX_FILENAME = 255
MAX_CONTENT_TYPE = 200
DEFAULT_FILENAME = "attachment"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


class Readable(Protocol):
    """A binary stream: anything with ``read(size) -> bytes`` (files, upload spools)."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; empty at the end."""
        ...


class AttachmentTooLargeError(InvalidInputError):
    """An attachment is over ``attachment_max_bytes``; ``limit`` says how large it may be."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the attachment is larger than the limit of {limit} bytes "
            "(setting attachment_max_bytes)"
        )
        self.limit = limit


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """Where stored bytes went: their SHA-256 and size."""

    sha256: str
    size: int


def sanitize_filename(name: str) -> str:
    """The name to show for an upload: its last path part, no control characters, 255 at most.

    ``"../../etc/passwd"`` becomes ``"passwd"``; a name with nothing left becomes
    ``"attachment"``. The result is only a label: the file is stored under its hash.
    """
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = "".join(
        ch for ch in base if unicodedata.category(ch) not in {"Cc", "Cf", "Zl", "Zp"}
    ).strip()
    if cleaned in {"", ".", ".."}:
        return DEFAULT_FILENAME
    if len(cleaned) > MAX_FILENAME:
        stem, dot, suffix = cleaned.rpartition(".")
        if dot and 0 < len(suffix) <= 16:
            cleaned = stem[: MAX_FILENAME - len(suffix) - 1] + "." + suffix
        else:
            cleaned = cleaned[:MAX_FILENAME]
    return cleaned


def sanitize_content_type(value: str | None) -> str:
    """A plain ``type/subtype`` (parameters dropped), else ``application/octet-stream``."""
    text = (value or "").split(";", 1)[0].strip().lower()
    if not text or len(text) > MAX_CONTENT_TYPE or not _CONTENT_TYPE.match(text):
        return DEFAULT_CONTENT_TYPE
    return text


class AttachmentStore:
    """Content-addressed files in one folder, each at most ``max_bytes``."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        """Where the bytes with this SHA-256 are (or would be) stored."""
        if not _SHA256.match(sha256):
            raise InvalidInputError(f"not a SHA-256 digest: {sha256!r}")
        return self.root / sha256

    def open_path(self, sha256: str) -> Path:
        """The stored file of a digest; NotFoundError when its bytes are missing."""
        path = self.path(sha256)
        if not path.is_file():
            raise NotFoundError(f"the bytes of attachment {sha256[:12]!r} are missing")
        return path

    def put(self, data: bytes | Readable) -> StoredBlob:
        """Store bytes or a stream; AttachmentTooLargeError past ``max_bytes`` (nothing kept)."""
        if isinstance(data, bytes | bytearray | memoryview) and len(data) > self.max_bytes:
            raise AttachmentTooLargeError(self.max_bytes)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in _iter_chunks(data, self.max_bytes + 1):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise AttachmentTooLargeError(self.max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            sha = digest.hexdigest()
            final = self.root / sha
            if final.exists():
                tmp.unlink()
            else:
                os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        logger.info("attachment stored", extra={"sha256": sha, "size": size})
        return StoredBlob(sha, size)


def _iter_chunks(data: bytes | Readable, budget: int) -> Iterator[bytes]:
    """Chunks of bytes or of a stream, never more than ``budget`` bytes read in all."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, min(len(view), budget), CHUNK_BYTES):
            yield bytes(view[start : min(start + CHUNK_BYTES, budget)])
        return
    while budget > 0:
        chunk = data.read(min(CHUNK_BYTES, budget))
        if not chunk:
            return
        budget -= len(chunk)
        yield bytes(chunk)
