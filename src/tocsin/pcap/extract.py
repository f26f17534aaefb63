"""Cut the packets of flows (or of a filter) out of stored captures into a new pcap.

A flow id (``<capture>-<seq>``) names its capture; a Community ID is looked up among the lake's
``pcap.flow`` events to find its captures and flows. The packet index gives each flow's frame
numbers; the stored capture is then read once, front to back, stopping after the last frame
wanted, and the chosen packets are written with their own times, lengths and link types
(pcap when they share one link type, pcapng otherwise).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.core.settings import Settings
from tocsin.lake.layout import list_files
from tocsin.pcap.bpf import Filter
from tocsin.pcap.capture import CaptureReader, PacketBatch
from tocsin.pcap.decode import decode
from tocsin.pcap.store import CaptureStore
from tocsin.pcap.writer import PcapNgWriter, PcapWriter


@dataclass(slots=True)
class ExtractResult:
    """What an extraction wrote."""

    packets: int = 0
    bytes: int = 0
    captures: list[str] = field(default_factory=list)
    flows: int = 0
    missing: list[str] = field(default_factory=list)  # captures no longer stored

    def to_dict(self) -> dict[str, object]:
        """The figures, JSON-ready."""
        return {
            "packets": self.packets,
            "bytes": self.bytes,
            "captures": self.captures,
            "flows": self.flows,
            "missing_captures": self.missing,
        }


class _Output:
    """Writes classic pcap (one link type) or pcapng (an interface per link type met)."""

    def __init__(self, stream: BinaryIO, *, ng: bool, linktype: int = 1) -> None:
        self.pcap = None if ng else PcapWriter(stream, linktype)
        self.ng = PcapNgWriter(stream) if ng else None
        self.ifaces: dict[int, int] = {}

    def write(self, batch: PacketBatch, rows: Iterable[int]) -> tuple[int, int]:
        count = size = 0
        for i in rows:
            data = batch.packet(i)
            ts, wire = int(batch.ts[i]), int(batch.wirelen[i])
            if self.pcap is not None:
                self.pcap.write(ts, data, wire)
            else:
                assert self.ng is not None  # noqa: S101 - one of the two is set
                link = int(batch.linktype[i])
                if link not in self.ifaces:
                    self.ifaces[link] = self.ng.add_interface(link)
                self.ng.write(self.ifaces[link], ts, data, wire)
            count += 1
            size += wire
        return count, size


def flows_of_community_ids(settings: Settings, community_ids: list[str]) -> list[str]:
    """The ids of the lake's pcap flows with these Community IDs."""
    files = [f.path for f in list_files(settings.lake_dir, datasets=["pcap.flow"])]
    if not files or not community_ids:
        return []
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    try:
        rows = con.sql(
            'SELECT DISTINCT "flow.id" FROM read_parquet($files, union_by_name = true) '
            'WHERE "network.community_id" IN (SELECT unnest($ids))',
            params={"files": [str(p) for p in files], "ids": community_ids},
        ).fetchall()
    finally:
        con.close()
    return sorted(str(r[0]) for r in rows if r[0])


def _split_flow_id(flow_id: str) -> tuple[str, int]:
    capture, _, seq = flow_id.rpartition("-")
    if not capture or not seq.isdigit():
        raise InvalidInputError(f"bad flow id {flow_id!r}: expected <capture>-<number>")
    return capture, int(seq)


def extract_flows(settings: Settings, flow_ids: list[str], out: BinaryIO) -> ExtractResult:
    """Write the packets of these flows (``<capture>-<seq>``) to ``out``."""
    store = CaptureStore(settings)
    wanted: dict[str, set[int]] = defaultdict(set)
    for flow_id in flow_ids:
        capture, seq = _split_flow_id(flow_id)
        wanted[capture].add(seq)
    result = ExtractResult(flows=len(flow_ids))
    plans: list[tuple[Path, np.ndarray]] = []
    for capture, seqs in sorted(wanted.items()):
        try:
            entry = store.get(capture)
        except NotFoundError:
            result.missing.append(capture)
            continue
        index = pq.read_table(store.index_path(capture), columns=["number", "flow"])
        chosen = index.filter(pc.is_in(index["flow"], value_set=_int_array(seqs)))
        numbers = np.sort(chosen["number"].to_numpy())
        if numbers.shape[0]:
            plans.append((store.capture_path(entry), numbers))
            result.captures.append(capture)
    if not plans and result.missing:
        raise NotFoundError(
            "the packets of these flows are no longer stored (retention removed capture "
            + ", ".join(result.missing)
            + ")"
        )
    writer: _Output | None = None
    for path, numbers in plans:
        last = int(numbers[-1])
        reader = CaptureReader(path)
        for batch in reader:
            if writer is None:
                link = int(batch.linktype[0]) if len(batch) else 1
                writer = _Output(
                    out, ng=len(plans) > 1 or reader.info.format == "pcapng", linktype=link
                )
            rows = np.flatnonzero(np.isin(batch.number, numbers))
            count, size = writer.write(batch, rows.tolist())
            result.packets += count
            result.bytes += size
            if len(batch) and int(batch.number[-1]) >= last:
                break
    if writer is None:
        PcapWriter(out, 1)  # an empty but valid capture
    return result


def extract_filter(
    paths: list[Path],
    expression: Filter,
    out: BinaryIO,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExtractResult:
    """Write the packets of ``paths`` that match a filter (and a time window) to ``out``."""
    result = ExtractResult()
    writer: _Output | None = None
    lo = int(since.timestamp() * 1e9) if since else None
    hi = int(until.timestamp() * 1e9) if until else None
    readers = [CaptureReader(path) for path in paths]
    classic = [r.info.linktypes[0] for r in readers if r.info.format == "pcap"]
    ng = len(classic) < len(readers) or len(set(classic)) > 1
    links = classic or [1]
    for path, reader in zip(paths, readers, strict=True):
        for batch in reader:
            if not len(batch):
                continue
            mask = expression.mask(decode(batch))
            if lo is not None:
                mask &= batch.ts >= lo
            if hi is not None:
                mask &= batch.ts <= hi
            if writer is None:
                writer = _Output(out, ng=ng, linktype=links[0])
            count, size = writer.write(batch, np.flatnonzero(mask).tolist())
            result.packets += count
            result.bytes += size
        result.captures.append(path.name)
    if writer is None:
        PcapWriter(out, links[0])
    return result


def _int_array(values: set[int]) -> object:
    import pyarrow as pa

    return pa.array(sorted(values), type=pa.int64())
