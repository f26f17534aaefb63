"""Opening inputs: gzip detection, tolerance of truncated files, and file identity."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tocsin.core.errors import NotFoundError

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What makes a file the same file: size, mtime and a hash of its head."""

    path: Path
    size: int
    mtime_ns: int
    head_hash: str

    @property
    def key(self) -> str:
        """A stable key for the import ledger and event ids."""
        return hashlib.blake2b(
            f"{self.size}:{self.mtime_ns}:{self.head_hash}".encode(), digest_size=16
        ).hexdigest()


def identify(path: Path) -> FileIdentity:
    """Return a file's identity (reads at most 64 KiB)."""
    stat = path.stat()
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    return FileIdentity(
        path, stat.st_size, stat.st_mtime_ns, hashlib.blake2b(head, digest_size=16).hexdigest()
    )


class _TolerantGzip(io.RawIOBase):
    """A gzip reader that ends cleanly at a truncation and remembers the error."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._gzip = gzip.GzipFile(fileobj=raw, mode="rb")
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.error is not None:
            return 0
        try:
            data = self._gzip.read1(len(buffer))
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            self.error = f"truncated or corrupt gzip data: {exc}"
            return 0
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._gzip.close()
        super().close()


class OpenedInput:
    """An input opened for parsing: a buffered binary stream, its head, and read errors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = path.open("rb")
        magic = self._raw.read(2)
        self._raw.seek(0)
        self.compressed = magic == GZIP_MAGIC
        self._gzip: _TolerantGzip | None = None
        if self.compressed:
            self._gzip = _TolerantGzip(self._raw)
            self.stream: io.BufferedReader = io.BufferedReader(self._gzip, buffer_size=1 << 20)
        else:
            self.stream = io.BufferedReader(self._raw, buffer_size=1 << 20)
        self.head = self.stream.peek(HEAD_BYTES)[:HEAD_BYTES]
        if self.compressed and len(self.head) < HEAD_BYTES:
            # peek returns at most one buffer fill; gather more for sniffing
            self.head = self.stream.peek(HEAD_BYTES)[:HEAD_BYTES]

    @property
    def error(self) -> str | None:
        """A read error met so far (a truncated gzip), or None."""
        return self._gzip.error if self._gzip is not None else None

    @property
    def position(self) -> int:
        """Bytes of the file on disk consumed so far (for progress)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    @property
    def size(self) -> int:
        """Size of the file on disk."""
        return os.fstat(self._raw.fileno()).st_size

    def close(self) -> None:
        """Close the input."""
        self.stream.close()
        self._raw.close()

    def __enter__(self) -> OpenedInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield the files named, and the files inside the folders named (recursively, sorted).

    Hidden files and folders inside a named folder are skipped.
    """
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if child.is_file():
                    yield child
        elif path.is_file():
            yield path
        else:
            raise NotFoundError(f"no such file or folder: {str(path)!r}")
