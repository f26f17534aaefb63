"""The spool consumer: parse what listeners accepted, run the pipeline, commit.

Exactly once across crashes: every flush writes lake files tagged with the spool position they
cover, then commits that position. On start, files tagged beyond the committed checkpoint (a
crash hit between the two steps) seed the writer's duplicate window with their ``event.id``
values, and the spool is read again from the checkpoint: nothing is lost, nothing doubled.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from tocsin.core import event as ev
from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.core.event import Event
from tocsin.core.settings import Settings
from tocsin.ingest.base import ParseBatch, ParseContext, ParseIssue
from tocsin.ingest.parsers.syslog import parse_syslog_message
from tocsin.ingest.pipeline import Pipeline
from tocsin.ingest.quarantine import Quarantine
from tocsin.ingest.registry import ParserSet
from tocsin.ingest.spool import (
    SYSLOG,
    SYSLOG_BATCH,
    Spool,
    SpoolPosition,
    SpoolRecord,
    unpack_messages,
)
from tocsin.lake.layout import list_files
from tocsin.lake.writer import LakeWriter

logger = logging.getLogger(__name__)

READ_BYTES = 4 * 1024 * 1024
"""Spool bytes parsed per step: bounds the memory one step takes (~25,000 syslog lines)."""
FLUSH_EVENTS = 100_000
"""Events buffered before a flush even if ``flush_seconds`` has not passed."""

_TAG = re.compile(r"-sp(\d+)o(\d+)$")


def spool_tag(position: SpoolPosition) -> str:
    """The file-name tag of a flush that covers the spool up to ``position``."""
    return f"sp{position.segment}o{position.offset}"


class SpoolConsumer:
    """Read the spool in a thread, parse, run the pipeline, flush and commit."""

    def __init__(
        self,
        settings: Settings,
        spool: Spool,
        *,
        parsers: ParserSet | None = None,
        detection: bool = True,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.parsers = parsers or ParserSet()
        self.writer = LakeWriter(settings.lake_dir, flush_events=10**12)
        self.quarantine = Quarantine(settings.quarantine_dir)
        self.pipeline = Pipeline(
            self.writer,
            self.quarantine,
            registry=self.parsers.registry,
            detection=detection,
            settings=settings,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.position = spool.read_checkpoint()
        self.committed = self.position
        self.last_flush = time.monotonic()
        self.events_in = 0
        self._recover()

    def _recover(self) -> None:
        """Seed the duplicate window with ids already written beyond the checkpoint."""
        seeded = 0
        for lake_file in list_files(self.settings.lake_dir):
            match = _TAG.search(lake_file.path.stem.rsplit("_", 1)[-1])
            if match is None:
                continue
            tagged = SpoolPosition(int(match[1]), int(match[2]))
            if tagged <= self.committed:
                continue
            try:
                ids = pq.read_table(lake_file.path, columns=[ev.ID]).column(0).to_pylist()
            except (OSError, KeyError):
                continue
            for event_id in ids:
                self.writer.remember(event_id)
                seeded += 1
        if seeded:
            logger.warning("spool replay after a crash", extra={"ids_seeded": seeded})

    # -- the loop -----------------------------------------------------------------------------
    def start(self) -> None:
        """Run the consumer in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="spool-consumer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread after a last flush and commit."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.drain()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(wait=0.2)
            except Exception:  # the consumer must survive a bad batch; the spool keeps it
                logger.exception("spool consumer step failed")
                time.sleep(1.0)

    def drain(self) -> None:
        """Consume everything in the spool now and commit (used at stop and by tests)."""
        while self.step(wait=0.0):
            pass
        self.flush()

    def step(self, *, wait: float) -> bool:
        """Read and process one slice of the spool; returns True when records were read."""
        if wait and not self.spool.wait_for_data(self.position, wait):
            self._maybe_flush()
            return False
        records, after = self.spool.read(self.position, max_bytes=READ_BYTES)
        if records:
            self._process(records)
        for where, raw in self.spool.take_corrupt():
            issue = ParseIssue(
                f"spool segment {where.segment}",
                where.offset,
                None,
                "spool data damaged on disk (checksum failed)",
                raw,
                "spool",
            )
            self.pipeline.process(
                ParseBatch([], [issue], 0), ParseContext(source="spool", identity=f"spool:{where}")
            )
        self.position = after
        self._maybe_flush()
        return bool(records)

    def _maybe_flush(self) -> None:
        due = time.monotonic() - self.last_flush >= self.settings.flush_seconds
        if self.position != self.committed and (due or self.writer.buffered >= FLUSH_EVENTS):
            self.flush()

    def flush(self) -> None:
        """Write what is buffered, tagged with the spool position, then commit it."""
        position = self.position
        if position == self.committed and not self.writer.buffered:
            self.last_flush = time.monotonic()
            return
        self.writer.flush(name_tag=spool_tag(position))
        self.spool.commit(position)
        self.committed = position
        self.last_flush = time.monotonic()

    # -- parsing ------------------------------------------------------------------------------
    def _process(self, records: list[tuple[SpoolPosition, SpoolRecord]]) -> None:
        syslog_events: list[Event] = []
        syslog_issues: list[ParseIssue] = []
        received = datetime.now(UTC)
        for position, record in records:
            identity = f"spool:{position.segment}:{position.offset}"
            if record.kind == SYSLOG_BATCH:
                messages = unpack_messages(record.payload)
            elif record.kind == SYSLOG:
                messages = [record.payload]
            else:
                self._process_body(position, record, identity)
                self.events_in += 1
                continue
            # one context per record: its messages share the id prefix, each its own index
            ctx = ParseContext(source=record.source, identity=identity, received=received)
            for index, message in enumerate(messages):
                try:
                    syslog_events.append(parse_syslog_message(message, ctx, index))
                except (ValueError, UnicodeDecodeError) as exc:
                    syslog_issues.append(
                        ParseIssue(
                            record.source,
                            position.offset,
                            None,
                            str(exc),
                            message[:65536],
                            "syslog",
                        )
                    )
            self.events_in += len(messages)
        if syslog_events or syslog_issues:
            batch_ctx = ParseContext(source="syslog", identity="spool", received=received)
            self.pipeline.process(ParseBatch(syslog_events, syslog_issues, 0), batch_ctx)

    def _process_body(self, position: SpoolPosition, record: SpoolRecord, identity: str) -> None:
        ctx = ParseContext(
            source=record.source,
            identity=identity,
            dataset=record.dataset,
            received=datetime.fromtimestamp(record.received, UTC),
        )
        stream = io.BufferedReader(io.BytesIO(record.payload))
        try:
            parser = (
                self.parsers.get(record.format)
                if record.format and record.format != "auto"
                else self.parsers.detect(stream.peek(65536)[:65536], source=record.source)
            )
        except (InvalidInputError, NotFoundError) as exc:
            issue = ParseIssue(
                record.source,
                position.offset,
                None,
                str(exc),
                record.payload[:65536],
                record.format or "auto",
            )
            self.pipeline.process(ParseBatch([], [issue], 0), ctx)
            return
        for batch in parser.parse_stream(stream, ctx):
            self.pipeline.process(batch, ctx)


def lake_has_spool_tags(lake_dir: Path) -> bool:
    """True when some lake file was written by a spool consumer (for tests and stats)."""
    return any(_TAG.search(f.path.stem.rsplit("_", 1)[-1]) for f in list_files(lake_dir))
