"""Read files into normalised events the way the ingest does, without a home.

``tocsin scan`` and ``tocsin rules test`` read EVTX, JSON and NDJSON, ``evtx_dump`` JSON,
Winlogbeat, Zeek, Suricata EVE and every other ingest format with the same parsers, the same
format detection, the same gzip handling and the same deterministic ``event.id`` as
``tocsin ingest``; nothing is written anywhere. A record that cannot be parsed is reported
(file, line or offset, reason) and the rest is read; a file that cannot be read at all is
reported and the other files go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.core.event import Event
from tocsin.core.plugins import Registry
from tocsin.ingest.base import ParseContext
from tocsin.ingest.files import OpenedInput, expand_paths, identify
from tocsin.ingest.normalise import normalise
from tocsin.ingest.registry import ParserSet

logger = logging.getLogger(__name__)

MAX_ISSUES = 10_000


@dataclass(frozen=True, slots=True)
class ReadIssue:
    """A record that could not be read: what and where."""

    path: Path
    offset: int | None
    line: int | None
    reason: str


@dataclass(slots=True)
class ReadBatch:
    """Normalised events of one file (a file gives one or more batches, in order)."""

    path: Path
    events: list[Event]


@dataclass(slots=True)
class EventReader:
    """Parse files and folders into batches of events, reporting what it cannot read."""

    format: str = "auto"
    dataset: str | None = None
    registry: Registry | None = None
    issues: list[ReadIssue] = field(default_factory=list)
    issue_count: int = 0
    events_read: int = 0
    files_read: int = 0
    files_failed: list[tuple[Path, str]] = field(default_factory=list)
    parsers: ParserSet = field(init=False)

    def __post_init__(self) -> None:
        self.parsers = ParserSet(self.registry)
        if self.format != "auto":
            self.parsers.get(self.format)  # an unknown format fails before any file

    def read(
        self, paths: Sequence[Path], *, progress: Callable[[int], None] | None = None
    ) -> Iterator[ReadBatch]:
        """Batches of every file under ``paths``, file by file, in order."""
        for path in paths:
            try:
                files = list(expand_paths([path]))
            except NotFoundError as exc:
                self.files_failed.append((path, str(exc)))
                continue
            for file in files:
                yield from self._read_file(file, progress)

    def _read_file(self, path: Path, progress: Callable[[int], None] | None) -> Iterator[ReadBatch]:
        try:
            identity = identify(path)
        except OSError as exc:
            self.files_failed.append((path, f"cannot open: {exc}"))
            return
        reported = 0
        try:
            with OpenedInput(path) as opened:
                try:
                    parser = (
                        self.parsers.detect(opened.head, source=str(path))
                        if self.format == "auto"
                        else self.parsers.get(self.format)
                    )
                except InvalidInputError as exc:
                    self.files_failed.append((path, _reason(exc, path)))
                    return
                ctx = ParseContext(
                    source=str(path),
                    identity=identity.key,
                    dataset=self.dataset,
                    received=datetime.now(UTC),
                )
                try:
                    for batch in parser.parse_stream(opened.stream, ctx):
                        for issue in batch.issues:
                            self._issue(path, issue.offset, issue.line, issue.reason)
                        if progress is not None:
                            position = opened.position
                            progress(position - reported)
                            reported = position
                        if not batch.events:
                            continue
                        events = normalise(batch.events, ctx)
                        self.events_read += len(events)
                        yield ReadBatch(path, events)
                except (OSError, ValueError, RuntimeError) as exc:
                    # a container that breaks mid-way keeps what it gave
                    self.files_failed.append((path, f"{type(exc).__name__}: {exc}"))
                if opened.error:
                    self.files_failed.append((path, opened.error))
        except OSError as exc:
            self.files_failed.append((path, f"cannot read: {exc}"))
            return
        finally:
            if progress is not None and identity.size > reported:
                progress(identity.size - reported)
        self.files_read += 1

    def _issue(self, path: Path, offset: object, line: object, reason: str) -> None:
        self.issue_count += 1
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(
                ReadIssue(
                    path,
                    offset if isinstance(offset, int) else None,
                    line if isinstance(line, int) else None,
                    reason,
                )
            )


def _reason(exc: Exception, path: Path) -> str:
    """The message of an error without the path it starts with (the path is shown apart)."""
    text = str(exc)
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
