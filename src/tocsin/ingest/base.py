"""Contracts of the ingest plugins: parsers and the records they exchange.

A **parser** turns the bytes of one input (a file, a spooled HTTP body, a syslog message) into
events. It never raises on a bad record: it reports a :class:`ParseIssue` and goes on, so one
malformed line never loses the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, ClassVar, Protocol, runtime_checkable

from tocsin.core.event import Event, id_prefix, make_event_id, utcnow


@dataclass(slots=True)
class ParseContext:
    """What a parser knows about the input it reads.

    Attributes:
        source: what a person reads in messages: a file path or ``tcp://peer``.
        identity: a stable identity of the input (file identity hash, spool segment); with a
            record's position it makes the deterministic ``event.id``.
        dataset: the dataset forced by the user (``--dataset``), or None to let the parser decide.
        received: when tocsin received the input (``event.ingested``).
        base_offset: where the stream starts in the input (a tail resuming mid-file), added
            to integer positions so ids stay those of the whole file.
    """

    source: str
    identity: str
    dataset: str | None = None
    received: datetime = field(default_factory=utcnow)
    base_offset: int = 0
    _prefix: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    def event_id(self, position: int | str) -> str:
        """Return the deterministic id of the record at ``position`` of this input."""
        if self.base_offset and isinstance(position, int):
            position += self.base_offset
        cached = self._prefix
        if cached is None or cached[0] != self.identity:
            cached = self._prefix = (self.identity, id_prefix(self.identity))
        return make_event_id(self.identity, position, prefix=cached[1])


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """A record that could not be parsed: where it was, why, and its raw bytes."""

    source: str
    offset: int
    line: int | None
    reason: str
    raw: bytes
    parser: str

    @property
    def where(self) -> str:
        """``file:line`` when the line is known, else ``file@offset``."""
        if self.line is not None:
            return f"{self.source}:{self.line}"
        return f"{self.source}@{self.offset}"


@dataclass(slots=True)
class ParseBatch:
    """A batch of parsed events, the issues met on the way, and how far the input was read."""

    events: list[Event]
    issues: list[ParseIssue]
    end_offset: int


class RecordError(ValueError):
    """Raised by a line parser for one bad record; the caller turns it into a ParseIssue."""


@runtime_checkable
class Parser(Protocol):
    """A parser plugin, registered in the ``tocsin.parsers`` entry-point group.

    Contract:
        * ``id`` is the stable snake_case name users pass to ``--format``.
        * ``sniff(head)`` looks at the first bytes of an input (at most 64 KiB, already
          decompressed) and returns 0 when the input is not this format, or a confidence from 1
          to 100; ``--format auto`` picks the highest.
        * ``parse_stream(stream, ctx)`` yields batches in input order. Every event carries the
          envelope fields it can know (``event.id`` from ``ctx.event_id(position)``,
          ``@timestamp``, ``event.dataset``, ``event.original``) and its native fields; the
          normaliser adds the rest. A record that cannot be read becomes a ``ParseIssue``;
          the parser never raises for one bad record. ``end_offset`` is the byte offset after
          the last complete record, so a tail can resume there.
    """

    id: ClassVar[str]

    def sniff(self, head: bytes) -> int:
        """Return 0 if ``head`` is not this format, else a confidence from 1 to 100."""
        ...

    def parse_stream(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseBatch]:
        """Yield batches of events and issues read from ``stream``."""
        ...


BATCH_SIZE = 8192


class LineParser:
    """Base for formats with one record per line: subclasses implement ``parse_line``.

    ``parse_line`` returns the event for one line (without the trailing newline) or raises
    :class:`RecordError` (or ``ValueError``) with a reason. Blank lines are skipped.
    """

    id: ClassVar[str] = "line"
    batch_size: ClassVar[int] = BATCH_SIZE

    def sniff(self, head: bytes) -> int:
        """Return 0: subclasses override."""
        return 0

    def parse_line(self, line: bytes, ctx: ParseContext, offset: int) -> Event:
        """Parse one line that started at byte ``offset``."""
        raise NotImplementedError

    def parse_stream(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseBatch]:
        """Split the stream into lines and parse each, batching the results."""
        events: list[Event] = []
        issues: list[ParseIssue] = []
        append = events.append
        parse_line = self.parse_line
        batch_size = self.batch_size
        errors = (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError)
        offset = 0
        lineno = 0
        for raw in stream:
            lineno += 1
            start = offset
            offset += len(raw)
            line = raw.rstrip(b"\r\n")
            if not line or line.isspace():
                continue
            try:
                append(parse_line(line, ctx, start))
            except errors as exc:
                reason = str(exc) or type(exc).__name__
                issues.append(ParseIssue(ctx.source, start, lineno, reason, bytes(line), self.id))
                continue
            if len(events) >= batch_size:
                yield ParseBatch(events, issues, offset)
                events, issues = [], []
                append = events.append
        if events or issues or offset:
            yield ParseBatch(events, issues, offset)


@runtime_checkable
class Stage(Protocol):
    """An enricher or detector, registered in ``tocsin.enrichers`` or ``tocsin.detectors``.

    Contract: the class is built with no arguments; ``process(events)`` receives a batch of
    normalised events and returns the batch to pass on (the same list, changed in place, is
    fine). A stage must not drop events unless that is its documented purpose, and must not
    raise for one bad event. A stage that needs the home may define ``bind(settings)``: the
    pipeline calls it once with the home's settings before the first batch.
    """

    id: ClassVar[str]

    def process(self, events: list[Event]) -> list[Event]:
        """Process one batch."""
        ...
