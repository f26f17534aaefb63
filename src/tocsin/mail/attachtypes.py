"""The shared pieces of the attachment checks: limits, result types and the per-message walk.

The checks are split by format (``archives``, ``office``, ``pdfscan``, ``htmlscan``) while
``attachments`` holds the public entry point, the true-type sniffing and the name checks. They
all read and write one ``Walk``, and archives and Office files hand the files they hold back to
``attachments`` for inspection; that hand-back goes through callables the walk is built with, so
this module depends on none of the others and the format modules never import ``attachments``
(no import cycle). ``attachments`` re-exports the public names defined here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tocsin.core.event import Reason

MIB = 1024 * 1024
RATIO_FLOOR = 1 * MIB
"""Below this size a high compression ratio is harmless (a blank bitmap), so it is not a bomb."""
MAX_REASONS_PER_CHECK = 10
MAX_URLS = 1000


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


InspectFile = Callable[["Walk", str, str, bytes, str, int], None]
"""Inspect one file: (walk, name, path, content, declared type, depth)."""
UnreadFile = Callable[["Walk", str, str, str, int, str, int], None]
"""Record a file left unread: (walk, name, path, declared type, depth, label, size)."""


class Walk:
    """What one message's inspection found so far, and what is left of its budgets.

    ``inspect`` and ``unread`` are ``attachments``' own functions, given here so that the format
    modules can hand back the files they find without importing ``attachments``.
    """

    __slots__ = (
        "_inspect",
        "_unread",
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

    def __init__(
        self,
        limits: Limits,
        deadline: float | None,
        *,
        inspect: InspectFile,
        unread: UnreadFile,
    ) -> None:
        self._inspect = inspect
        self._unread = unread
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

    def inspect(self, name: str, path: str, data: bytes, depth: int) -> None:
        """Inspect a file found inside another one (an archive member, an embedded file)."""
        self._inspect(self, name, path, data, "", depth)

    def unread(self, name: str, path: str, depth: int, label: str, size: int) -> None:
        """Record a file found inside another one that was not read; its name is still judged."""
        self._unread(self, name, path, "", depth, label, size)

    def reason(self, check: str, path: str, evidence: str) -> None:
        """Add a reason about ``path``; past ``MAX_REASONS_PER_CHECK`` of a check, only count it."""
        count = self.per_check.get(check, 0) + 1
        self.per_check[check] = count
        if count <= MAX_REASONS_PER_CHECK:
            self.reasons.append(Reason(check, f"{path}: {evidence}", 0.0))

    def url(self, url: str, where: str) -> None:
        """Add a URL found at ``where`` once, up to ``MAX_URLS`` in all."""
        url = url.strip()
        key = (url, where)
        if url and key not in self.seen and len(self.urls) < MAX_URLS:
            self.seen.add(key)
            self.urls.append(FoundUrl(url, where))

    def expired(self, path: str) -> bool:
        """Whether the time budget is spent (noted once, naming the file it stopped at)."""
        if self.deadline is None:
            return False
        if not self.timed_out and time.monotonic() > self.deadline:
            self.timed_out = True
            self.issues.append(f"time budget spent: stopped looking deeper at {path}")
        return self.timed_out

    def report(self) -> AttachmentReport:
        """What was found, with a count of the reasons left out."""
        for check, count in self.per_check.items():
            if count > MAX_REASONS_PER_CHECK:
                self.issues.append(f"{count - MAX_REASONS_PER_CHECK} more {check} findings")
        return AttachmentReport(self.reasons, self.urls, self.files, self.issues)
