"""Read files into normalised events the way the ingest does, without a home.

``tocsin scan`` and ``tocsin rules test`` read EVTX, JSON and NDJSON, ``evtx_dump`` JSON,
Winlogbeat, Zeek, Suricata EVE and every other ingest format with the same parsers, the same
format detection, the same gzip handling and the same deterministic ``event.id`` as
``tocsin ingest``; nothing is written anywhere. A record that cannot be parsed is reported
(file, line or offset, reason) and the rest is read; a file that cannot be read at all is
reported and the other files go on.

Events come out as the lake stores them (unless ``lake_types=False``), value by value:
envelope and ECS fields take their fixed types (:mod:`tocsin.core.schema`), times are UTC,
lists of native values are lists of strings, nested values are compact JSON text and integers
beyond 64 bits are text. Two storage rules depend on the other events a lake file happens to
hold and are not applied: a native field that mixes types within a dataset is stored as text
(``LogonType`` ``3`` next to ``"%%2313"``), and of two field names differing only in case the
later one is renamed ``<name>~2``. The matcher compares numbers and their text alike, so
neither changes a match.

With ``workers > 1`` the files are read in a process pool (files are independent) and the
batches still come out in file order.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.core.event import Event
from tocsin.core.plugins import Registry
from tocsin.core.schema import ECS_FIELDS, FieldType, to_text
from tocsin.ingest.base import ParseContext, Parser
from tocsin.ingest.files import OpenedInput, expand_paths, identify
from tocsin.ingest.normalise import normalise
from tocsin.ingest.registry import ParserSet

logger = logging.getLogger(__name__)

MAX_ISSUES = 10_000
"""Issues kept in :attr:`EventReader.issues`; :attr:`EventReader.issue_count` counts them all."""

EVTX_MAGIC = b"ElfFile\x00"
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Progress = Callable[[int], None]
"""Called with the number of input bytes read since the last call."""


@dataclass(frozen=True, slots=True)
class ReadIssue:
    """A record that could not be read: what and where (line for text, offset for binary)."""

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
class _FileOutcome:
    """What reading one file in a worker gave: its batches and the reader's figures."""

    batches: list[ReadBatch] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    issue_count: int = 0
    events_read: int = 0
    files_read: int = 0
    files_failed: list[tuple[Path, str]] = field(default_factory=list)


class EventReader:
    """Parse files and folders into batches of events, reporting what it cannot read.

    Args:
        format: a parser id (``evtx``, ``json``, ``zeek``...) or ``auto`` to sniff each file.
        dataset: force ``event.dataset`` (as ``tocsin ingest --dataset``).
        registry: the plugin registry to take parsers from (default: the installed one).
        batch_size: the most events one :class:`ReadBatch` holds.
        workers: processes reading files at once; 1 reads in this process. Every event read
            by a worker is pickled back to this process, which on two cores costs about what
            the second core saves: it pays only with more cores. (``tocsin scan`` gains more
            by matching in its workers and sending back only the matches.)
        lake_types: give values the types the lake stores (:func:`store_form`). Without it
            events keep the parsers' types, which the matcher treats alike (``3`` and
            ``"3"``, ``[22]`` and ``["22"]``), and reading EVTX takes about a fifth less time.

    Raises:
        NotFoundError: ``format`` names no parser.

    The figures (``events_read``, ``files_read``, ``files_failed``, ``issues``) add up over
    every :meth:`read` of the reader. A file that breaks mid-way keeps the events read before
    the break and is counted both as read and as failed.
    """

    def __init__(
        self,
        *,
        format: str = "auto",
        dataset: str | None = None,
        registry: Registry | None = None,
        batch_size: int = 5000,
        workers: int = 1,
        lake_types: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size!r}")
        self.format = format
        self.dataset = dataset
        self.registry = registry
        self.batch_size = batch_size
        self.workers = max(1, workers)
        self.lake_types = lake_types
        self.parsers = ParserSet(registry)
        self.issues: list[ReadIssue] = []
        self.issue_count = 0
        self.events_read = 0
        self.files_read = 0
        self.files_failed: list[tuple[Path, str]] = []
        if format != "auto":
            self.parsers.get(format)  # an unknown format fails before any file

    def read(
        self, paths: Sequence[Path], *, progress: Progress | None = None
    ) -> Iterator[ReadBatch]:
        """Batches of every file named and every file under the folders named, in order.

        Folders are expanded as the ingest expands them (recursively, sorted, hidden entries
        skipped); a path that does not exist is recorded in :attr:`files_failed`.
        """
        files: list[Path] = []
        for path in paths:
            try:
                files.extend(expand_paths([path]))
            except NotFoundError as exc:
                self.files_failed.append((path, exc.message))
        if self.workers > 1 and len(files) > 1:
            yield from self._read_parallel(files, progress)
            return
        for file in files:
            yield from self._read_file(file, progress)

    # ------------------------------------------------------------------ one file

    def _read_file(self, path: Path, progress: Progress | None) -> Iterator[ReadBatch]:
        try:
            identity = identify(path)
        except OSError as exc:
            self.files_failed.append((path, f"cannot open: {exc}"))
            return
        reported = 0
        try:
            with OpenedInput(path) as opened:
                try:
                    parser = self._parser_for(opened.head, path)
                except InvalidInputError as exc:
                    self.files_failed.append((path, exc.message))
                    return
                ctx = ParseContext(
                    source=str(path),
                    identity=identity.key,
                    dataset=self.dataset,
                    received=datetime.now(UTC),
                )
                size = self.batch_size
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
                        if self.lake_types:
                            store_form(events)
                        self.events_read += len(events)
                        for start in range(0, len(events), size):
                            chunk = events if len(events) <= size else events[start : start + size]
                            yield ReadBatch(path, chunk)
                except Exception as exc:
                    # one broken file must not end the read: a container that breaks mid-way
                    # (or a faulty plugin parser) keeps what it gave
                    logger.warning("input failed mid-way", extra={"path": str(path)})
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

    def _parser_for(self, head: bytes, path: Path) -> Parser:
        """The parser of ``--format``, or the one whose sniff is surest of ``head``."""
        if self.format != "auto":
            return self.parsers.get(self.format)
        if head.startswith(EVTX_MAGIC):
            # an EVTX header is unambiguous; skip the other sniffers (the JSON ones decode the
            # whole binary head, a third of the time of reading a small EVTX file)
            evtx = self.parsers.all().get("evtx")
            if evtx is not None and evtx.sniff(head) >= 100:
                return evtx
        return self.parsers.detect(head, source=str(path))

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

    # ------------------------------------------------------------------ many processes

    def _read_parallel(self, files: list[Path], progress: Progress | None) -> Iterator[ReadBatch]:
        """Read files in worker processes, a file per task, and give their batches in order."""
        methods = multiprocessing.get_all_start_methods()
        # fork starts a worker in milliseconds with the parsers already imported; spawn (other
        # systems) re-imports them
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.parsers.all()  # imported once here, forked workers inherit the modules
        settings = (self.format, self.dataset, self.registry, self.batch_size, self.lake_types)
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(files)),
            mp_context=context,
            initializer=_start_worker,
            initargs=settings,
        )
        # a bounded window of files in flight keeps memory flat when the consumer is slower
        window = self.workers * 4
        pending: deque[tuple[Path, Future[_FileOutcome]]] = deque()
        queue = iter(files)
        try:
            for path in queue:
                pending.append((path, pool.submit(_read_in_worker, path)))
                if len(pending) >= window:
                    break
            while pending:
                path, future = pending.popleft()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(_read_in_worker, nxt)))
                outcome = future.result()
                self._absorb(outcome)
                if progress is not None:
                    progress(_size_of(path))
                yield from outcome.batches
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _absorb(self, outcome: _FileOutcome) -> None:
        room = MAX_ISSUES - len(self.issues)
        if room > 0:
            self.issues.extend(outcome.issues[:room])
        self.issue_count += outcome.issue_count
        self.events_read += outcome.events_read
        self.files_read += outcome.files_read
        self.files_failed.extend(outcome.files_failed)

    def _take_outcome(self, batches: list[ReadBatch]) -> _FileOutcome:
        """The figures gathered since the last call, reset for the next file."""
        outcome = _FileOutcome(
            batches,
            self.issues,
            self.issue_count,
            self.events_read,
            self.files_read,
            self.files_failed,
        )
        self.issues, self.issue_count, self.events_read = [], 0, 0
        self.files_read, self.files_failed = 0, []
        return outcome


_WORKER_READER: EventReader | None = None


def _start_worker(
    format: str,
    dataset: str | None,
    registry: Registry | None,
    batch_size: int,
    lake_types: bool,
) -> None:
    global _WORKER_READER
    _WORKER_READER = EventReader(
        format=format,
        dataset=dataset,
        registry=registry,
        batch_size=batch_size,
        lake_types=lake_types,
    )


def _read_in_worker(path: Path) -> _FileOutcome:
    reader = _WORKER_READER
    if reader is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("the reader worker was not started")
    batches = list(reader._read_file(path, None))
    return reader._take_outcome(batches)


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ---------------------------------------------------------------------- storage form

_SCALARS = frozenset({str, int, float, bool, type(None)})
_PYTHON_TYPES: dict[FieldType, type] = {
    FieldType.KEYWORD: str,
    FieldType.LONG: int,
    FieldType.DOUBLE: float,
    FieldType.BOOLEAN: bool,
    FieldType.TIMESTAMP: datetime,
    FieldType.KEYWORD_LIST: list,
}
_EXPECTED: dict[str, type] = {name: _PYTHON_TYPES[t] for name, t in ECS_FIELDS.items()}
"""The Python type of each envelope and ECS field's values."""


def store_form(events: list[Event]) -> list[Event]:
    """Give every value the form the lake stores it in, in place (see the module docstring).

    One pass per event picks the values that may need it: non-scalar values (times, lists,
    nested values), integers beyond 64 bits, and envelope or ECS fields holding a value of
    another type than theirs; only those are looked at further.
    """
    expected = _EXPECTED.get
    for event in events:
        odd = [
            name
            for name, value in event.items()
            if (cls := value.__class__) not in _SCALARS
            or expected(name, cls) is not cls
            or (cls is int and not INT64_MIN <= value <= INT64_MAX)  # type: ignore[operator]
        ]
        for name in odd:
            value = event[name]
            ftype = ECS_FIELDS.get(name)
            stored = _native_form(value) if ftype is None else _fixed_form(value, ftype)
            if stored is value:
                continue
            if stored is None:
                del event[name]
            else:
                event[name] = stored
    return events


def _native_form(value: object) -> object:
    """A native value that is not a plain scalar: lists, nested values, times, big integers."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, list | tuple):
        if all(item.__class__ is str or item is None for item in value):
            return value if isinstance(value, list) else list(value)
        return [to_text(item) for item in value]
    return to_text(value)


def _fixed_form(value: object, ftype: FieldType) -> object:
    """A value of an envelope or ECS field in the field's type (None: it has none)."""
    cls = value.__class__
    if value is None:
        return None
    if ftype is FieldType.KEYWORD:
        return value if cls is str else to_text(value)
    if ftype is FieldType.TIMESTAMP:
        if isinstance(value, datetime):
            return _utc(value)
    elif ftype is FieldType.LONG:
        if cls is int and INT64_MIN <= value <= INT64_MAX:  # type: ignore[operator]
            return value
    elif ftype is FieldType.KEYWORD_LIST:
        if cls is list and all(item.__class__ is str for item in value):  # type: ignore[attr-defined]
            return value
    elif ftype is FieldType.DOUBLE:
        if cls is float:
            return value
    elif ftype is FieldType.BOOLEAN and cls is bool:
        return value
    # the rare value of another type goes the lake's own way (imported here: the module
    # brings pyarrow, which the reading path does not otherwise need)
    from tocsin.lake.convert import coerce_value

    return coerce_value(value, ftype)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
