"""``tocsin pcap import``: a capture into the lake (flows), the store and the packet index.

The capture is copied into the store first and read from the copy, so the byte offsets in the
packet index are those of the stored file. Flows go to the lake through the writer's bulk path
(Arrow tables, envelope included). A capture already stored (same id: size and head hash) is
skipped unless ``force``; a forced re-import writes the same event ids, which compaction folds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tocsin.core.settings import Settings
from tocsin.ingest.base import ParseBatch, ParseContext
from tocsin.ingest.pipeline import Pipeline
from tocsin.ingest.quarantine import Quarantine
from tocsin.lake.writer import LakeWriter
from tocsin.pcap.engine import BatchResult, PacketEngine, capture_id
from tocsin.pcap.meta import MetadataExtractor
from tocsin.pcap.store import CaptureStore, StoredCapture

INDEX_SCHEMA = pa.schema([("number", pa.int64()), ("offset", pa.int64()), ("flow", pa.int64())])
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(slots=True)
class ImportResult:
    """What importing one capture did."""

    path: Path
    capture_id: str
    skipped: bool = False
    packets: int = 0
    flows: int = 0
    events: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0
    removed_by_retention: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The result, JSON-ready."""
        return {
            "path": str(self.path),
            "capture": self.capture_id,
            "skipped": self.skipped,
            "packets": self.packets,
            "flows": self.flows,
            "events": dict(self.events),
            "anomalies": self.anomalies,
            "seconds": round(self.seconds, 3),
            "removed_by_retention": self.removed_by_retention,
        }


def _with_ingested(table: pa.Table, received: datetime) -> pa.Table:
    return table.append_column(
        "event.ingested", pa.repeat(pa.scalar(received, type=TIMESTAMP), table.num_rows)
    )


def import_capture(
    settings: Settings,
    path: Path,
    *,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
    writer: LakeWriter | None = None,
    metadata: bool = True,
    detection: bool = True,
) -> ImportResult:
    """Import one capture; ``progress`` gets the byte offset reached after each batch.

    With ``metadata`` (the default), protocol events (``pcap.dns``, ``pcap.dhcp``, ``pcap.arp``,
    and the TCP protocols) go through the ingest pipeline too, so Sigma rules of their
    categories (DNS) see them; ``detection`` False leaves the rules out.
    """
    store = CaptureStore(settings)
    cid = capture_id(path)
    result = ImportResult(path, cid)
    if store.has(cid) and not force:
        result.skipped = True
        return result
    entry = store.keep(path, cid)
    stored = store.capture_path(entry)
    received = datetime.now(UTC)
    own_writer = writer is None
    lake = writer or LakeWriter(settings.lake_dir, flush_events=settings.flush_events)
    index_path = store.index_path(cid)
    tmp_index = index_path.with_name(index_path.name + ".part")
    engine = PacketEngine(stored, cid=cid)
    extractor = (
        MetadataExtractor(
            cid,
            engine.stats.anomalies,
            stream_max_bytes=settings.pcap_stream_max_bytes,
            name=path.name,
        )
        if metadata
        else None
    )
    pipeline = (
        Pipeline(lake, Quarantine(settings.quarantine_dir), detection=detection, settings=settings)
        if metadata
        else None
    )
    ctx = ParseContext(source=str(path), identity=f"pcap:{cid}", received=received)
    try:
        with pq.ParquetWriter(tmp_index, INDEX_SCHEMA, compression="zstd") as index:
            for step in engine.run():
                _index(index, step)
                if extractor is not None and pipeline is not None:
                    _protocol_events(pipeline, ctx, extractor.batch(step), result)
                if step.flows is not None and step.flows.num_rows:
                    table = _with_ingested(step.flows, received)
                    lake.write_table("pcap.flow", received.date(), table)
                    result.events["pcap.flow"] = (
                        result.events.get("pcap.flow", 0) + step.flows.num_rows
                    )
                if progress is not None and len(step.batch):
                    progress(int(step.batch.file_off[-1]))
        if extractor is not None and pipeline is not None:
            _protocol_events(pipeline, ctx, extractor.close(), result)
        tmp_index.replace(index_path)
        lake.flush()
    except BaseException:
        tmp_index.unlink(missing_ok=True)
        store.capture_path(entry).unlink(missing_ok=True)
        raise
    finally:
        if pipeline is not None:
            pipeline.close()
        if own_writer:
            lake.close()
    stats = engine.stats
    result.packets = stats.packets
    result.flows = stats.flows
    result.anomalies = stats.anomalies.to_dict()
    result.seconds = stats.seconds
    store.record(
        _finished(
            entry,
            stats.packets,
            stats.flows,
            stats.first_ts,
            stats.last_ts,
            dict(stats.anomalies.counts),
        )
    )
    result.removed_by_retention = [e.id for e in store.enforce()]
    return result


def _protocol_events(
    pipeline: Pipeline, ctx: ParseContext, events: list[dict[str, object]], result: ImportResult
) -> None:
    if not events:
        return
    pipeline.process(ParseBatch(events=events, issues=[], end_offset=0), ctx)
    for event in events:
        dataset = str(event.get("event.dataset"))
        result.events[dataset] = result.events.get(dataset, 0) + 1


def _index(index: pq.ParquetWriter, step: BatchResult) -> None:
    if step.index_number.shape[0] == 0:
        return
    order = step.index_number.argsort(kind="stable")
    index.write_table(
        pa.table(
            {
                "number": step.index_number[order],
                "offset": step.index_offset[order],
                "flow": step.index_flow[order],
            },
            schema=INDEX_SCHEMA,
        )
    )


def _finished(
    entry: StoredCapture,
    packets: int,
    flows: int,
    first_ns: int | None,
    last_ns: int | None,
    anomalies: dict[str, int],
) -> StoredCapture:
    def iso(ns: int | None) -> str | None:
        return None if ns is None else datetime.fromtimestamp(ns / 1e9, UTC).isoformat()

    entry.packets = packets
    entry.flows = flows
    entry.first = iso(first_ns)
    entry.last = iso(last_ns)
    entry.anomalies = anomalies
    return entry
