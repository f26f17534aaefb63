"""Ingest files and folders: find inputs, pick parsers, run the pipeline, keep a ledger.

A file imported before (same identity: size, mtime and head hash) is skipped unless ``force``.
A truncated gzip or EVTX yields what can be read plus an error for the file.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import Settings
from tocsin.ingest.base import ParseBatch, ParseContext, ParseIssue, Parser
from tocsin.ingest.files import FileIdentity, OpenedInput, expand_paths, identify
from tocsin.ingest.parsers.bulkjson import TableBatch, is_bulk_candidate, read_ndjson_tables
from tocsin.ingest.pipeline import Pipeline
from tocsin.ingest.quarantine import Quarantine
from tocsin.ingest.registry import ParserSet
from tocsin.lake.writer import LakeWriter
from tocsin.workspace.db import Database, ImportedFile

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]
"""Called with the number of input bytes consumed since the last call."""


@dataclass(slots=True)
class FileResult:
    """What happened to one input file."""

    path: Path
    format: str | None = None
    events: int = 0
    quarantined: int = 0
    skipped: bool = False
    error: str | None = None
    identity: str | None = None
    size: int = 0


@dataclass(slots=True)
class IngestReport:
    """The summary of an ingest run."""

    files: list[FileResult] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    duplicates: int = 0
    issues: list[ParseIssue] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Events accepted in all datasets."""
        return sum(self.accepted.values())

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be read (wholly or partly)."""
        return [f for f in self.files if f.error is not None]


PARALLEL_BYTES = 64 * 1024 * 1024
"""Inputs smaller than this are ingested in one process (starting workers costs ~1 s)."""


def _share_out(files: list[Path], groups: int) -> list[list[Path]]:
    """Split files into up to ``groups`` lists of similar total size, keeping each in order."""
    sizes = [(path.stat().st_size, path) for path in files]
    buckets: list[tuple[int, list[Path]]] = [(0, []) for _ in range(min(groups, len(files)))]
    for size, path in sorted(sizes, key=lambda item: -item[0]):
        buckets.sort(key=lambda bucket: bucket[0])
        total, members = buckets[0]
        members.append(path)
        buckets[0] = (total + size, members)
    return [members for _, members in buckets if members]


def _ingest_group(
    settings: Settings,
    files: list[Path],
    *,
    format: str,
    dataset: str | None,
    force: bool,
    detection: bool,
) -> IngestReport:
    """A worker process's share of a parallel ingest."""
    # the parent migrated the database; a worker only reads the ledger
    service = IngestService(
        settings, db=Database(settings.workspace_url, migrate=False), detection=detection
    )
    try:
        return service.ingest_files(files, format=format, dataset=dataset, force=force)
    finally:
        service.db.close()


class IngestService:
    """Ingest files into the lake of one home."""

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database | None = None,
        parsers: ParserSet | None = None,
        detection: bool = True,
    ) -> None:
        self.settings = settings
        self.db = db or Database(settings.workspace_url)
        self.parsers = parsers or ParserSet()
        self.detection = detection

    def ingest(
        self,
        paths: list[Path],
        *,
        format: str = "auto",
        dataset: str | None = None,
        force: bool = False,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> IngestReport:
        """Ingest every file under ``paths``; bad records are quarantined, not fatal.

        Many files are shared out among ``workers`` processes (default: one per core, when the
        input is large enough to pay for starting them); each writes its own lake files.
        """
        files = list(expand_paths(paths))
        if format != "auto":
            self.parsers.get(format)  # fail early on an unknown format
        total = sum(path.stat().st_size for path in files)
        count = workers if workers is not None else (os.cpu_count() or 1)
        if count > 1 and len(files) > 1 and (workers is not None or total >= PARALLEL_BYTES):
            report = self._ingest_parallel(files, count, format, dataset, force, progress)
        else:
            report = self.ingest_files(
                files, format=format, dataset=dataset, force=force, progress=progress
            )
        # The ledger is written only once the lake has the events, so a crash never marks a
        # file as imported while its events are still in memory.
        self._record_imports(
            [r for r in report.files if r.identity is not None and not r.skipped and r.format]
        )
        return report

    def ingest_files(
        self,
        files: list[Path],
        *,
        format: str = "auto",
        dataset: str | None = None,
        force: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest files in this process and flush the lake (the ledger is the caller's)."""
        writer = LakeWriter(self.settings.lake_dir, flush_events=self.settings.flush_events)
        quarantine = Quarantine(self.settings.quarantine_dir)
        pipeline = Pipeline(
            writer,
            quarantine,
            registry=self.parsers.registry,
            detection=self.detection,
            settings=self.settings,
        )
        report = IngestReport()
        identities = {path: identify(path) for path in files}
        known = set() if force else self._imported([i.key for i in identities.values()])
        try:
            for path in files:
                result = self._ingest_file(
                    path,
                    identities[path],
                    pipeline,
                    format=format,
                    dataset=dataset,
                    known=known,
                    progress=progress,
                )
                report.files.append(result)
            writer.flush()
        finally:
            writer.close()
        report.accepted = dict(pipeline.stats.accepted)
        report.quarantined = pipeline.stats.quarantined
        report.issues = pipeline.stats.issues
        report.duplicates = writer.stats.duplicates
        return report

    def _ingest_parallel(
        self,
        files: list[Path],
        workers: int,
        format: str,
        dataset: str | None,
        force: bool,
        progress: Progress | None,
    ) -> IngestReport:
        groups = _share_out(files, workers * 2)
        report = IngestReport()
        context = multiprocessing.get_context("spawn")
        job = functools.partial(
            _ingest_group,
            self.settings,
            format=format,
            dataset=dataset,
            force=force,
            detection=self.detection,
        )
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for group, part in zip(groups, pool.map(job, groups), strict=True):
                report.files.extend(part.files)
                for name, number in part.accepted.items():
                    report.accepted[name] = report.accepted.get(name, 0) + number
                report.quarantined += part.quarantined
                report.duplicates += part.duplicates
                report.issues.extend(part.issues[: max(0, 1000 - len(report.issues))])
                if progress:
                    progress(sum(path.stat().st_size for path in group))
        order = {path: index for index, path in enumerate(files)}
        report.files.sort(key=lambda result: order[result.path])
        return report

    def _ingest_file(
        self,
        path: Path,
        identity: FileIdentity,
        pipeline: Pipeline,
        *,
        format: str,
        dataset: str | None,
        known: set[str],
        progress: Progress | None,
    ) -> FileResult:
        result = FileResult(path)
        key = identity.key
        if key in known:
            result.skipped = True
            if progress:
                progress(identity.size)
            return result
        before_events = pipeline.stats.total
        before_issues = pipeline.stats.quarantined
        reported = 0
        with OpenedInput(path) as opened:
            try:
                parser = (
                    self.parsers.detect(opened.head, source=str(path))
                    if format == "auto"
                    else self.parsers.get(format)
                )
            except InvalidInputError as exc:
                result.error = str(exc)
                if progress:
                    progress(identity.size)
                return result
            result.format = parser.id
            ctx = ParseContext(
                source=str(path), identity=key, dataset=dataset, received=datetime.now(UTC)
            )
            try:
                for batch in self._batches(parser, opened, ctx, pipeline):
                    if isinstance(batch, TableBatch):
                        pipeline.process_table(batch, ctx)
                    else:
                        pipeline.process(batch, ctx)
                    if progress:
                        position = opened.position
                        progress(position - reported)
                        reported = position
            except (OSError, ValueError, RuntimeError) as exc:
                # A parser that dies mid-file (corrupt container) keeps what it yielded.
                result.error = f"{type(exc).__name__}: {exc}"
                logger.warning("input failed mid-way", extra={"path": str(path)})
            if opened.error and result.error is None:
                result.error = opened.error
        if progress:
            progress(identity.size - reported)
        result.events = pipeline.stats.total - before_events
        result.quarantined = pipeline.stats.quarantined - before_issues
        result.identity = identity.key
        result.size = identity.size
        return result

    @staticmethod
    def _batches(
        parser: Parser, opened: OpenedInput, ctx: ParseContext, pipeline: Pipeline
    ) -> Iterator[ParseBatch | TableBatch]:
        """The bulk NDJSON path when nothing needs single events, else the parser's batches."""
        bulk = pipeline.is_bulk_capable_for(ctx.dataset or "json")
        if parser.id == "json" and bulk and is_bulk_candidate(opened.head):
            return read_ndjson_tables(opened.stream, ctx)
        return parser.parse_stream(opened.stream, ctx)

    def _imported(self, keys: list[str]) -> set[str]:
        """The keys among ``keys`` that the ledger already has."""
        found: set[str] = set()
        with self.db.session() as session:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                query = select(ImportedFile.identity).where(ImportedFile.identity.in_(chunk))
                found.update(session.scalars(query))
        return found

    def _record_imports(self, results: list[FileResult]) -> None:
        """Write the ledger rows of imported files in one transaction."""
        if not results:
            return
        now = datetime.now(UTC)
        with self.db.session() as session:
            for result in results:
                assert result.identity is not None  # noqa: S101 - filtered by the caller
                row = session.get(ImportedFile, result.identity)
                if row is None:
                    row = ImportedFile(identity=result.identity, size=result.size)
                    session.add(row)
                row.path = str(result.path)
                row.size = result.size
                row.events = result.events
                row.quarantined = result.quarantined
                row.complete = result.error is None
                row.imported_at = now


@dataclass(slots=True)
class RetryReport:
    """What a quarantine retry did."""

    retried: int = 0
    recovered: int = 0
    still_failing: int = 0
    accepted: dict[str, int] = field(default_factory=dict)


def retry_quarantine(
    settings: Settings, *, format: str | None = None, parsers: ParserSet | None = None
) -> RetryReport:
    """Parse quarantined records again; those that now parse go to the lake and leave.

    Each record is parsed with ``format`` when given, else with the parser that failed on it.
    Its ``event.id`` is the one it would have had, so a retry never duplicates an event.
    """
    import io

    parsers = parsers or ParserSet()
    quarantine = Quarantine(settings.quarantine_dir)
    writer = LakeWriter(settings.lake_dir)
    pipeline = Pipeline(writer, quarantine, registry=parsers.registry, settings=settings)
    report = RetryReport()
    recovered: set[str] = set()
    for record in list(quarantine.records()):
        report.retried += 1
        parser = parsers.get(format or record.parser)
        ctx = ParseContext(
            source=record.source,
            identity=record.identity,
            dataset=record.dataset,
            received=datetime.now(UTC),
        )
        before = pipeline.stats.total
        issues = 0
        for batch in parser.parse_stream(io.BufferedReader(io.BytesIO(record.raw)), ctx):
            issues += len(batch.issues)
            for event in batch.events:
                # keep the position the record had in its original input
                event["event.id"] = ctx.event_id(record.offset)
            batch.issues = []  # a record that still fails stays where it is
            pipeline.process(batch, ctx)
        if issues == 0 and pipeline.stats.total > before:
            recovered.add(record.id)
        else:
            report.still_failing += 1
    writer.flush()
    quarantine.remove(recovered)
    report.recovered = len(recovered)
    report.accepted = dict(pipeline.stats.accepted)
    return report
