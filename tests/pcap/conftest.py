"""Helpers for the packet tests: write captures the tests build, read their flows back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tocsin.pcap.engine import EngineStats, PacketEngine
from tocsin.pcap.writer import PcapNgWriter, PcapWriter

Flows = list[dict[str, Any]]


def read_flows(path: Path, **kwargs: Any) -> tuple[Flows, EngineStats]:
    """Every flow of a capture (sorted by start, then first packet) and the engine's figures."""
    engine = PacketEngine(path, **kwargs)
    rows: Flows = []
    for result in engine.run():
        if result.flows is not None:
            rows.extend(result.flows.to_pylist())
    rows.sort(key=lambda r: (r["@timestamp"], r["pcap.first_packet"]))
    return rows, engine.stats


@pytest.fixture
def write_capture(tmp_path: Path) -> Callable[..., Path]:
    """Write frames as classic pcap (or pcapng) under tmp_path; returns the file."""
    counter = iter(range(10_000))

    def write(
        frames: list[tuple[int, bytes]],
        link: int = 1,
        *,
        ng: bool = False,
        nanos: bool = True,
        big_endian: bool = False,
        name: str | None = None,
    ) -> Path:
        path = tmp_path / (name or f"cap{next(counter)}.{'pcapng' if ng else 'pcap'}")
        with path.open("wb") as handle:
            if ng:
                writer = PcapNgWriter(handle, big_endian=big_endian)
                iface = writer.add_interface(link, tsresol_nanos=nanos)
                for ts, data in frames:
                    writer.write(iface, ts, data)
            else:
                classic = PcapWriter(handle, link, nanos=nanos, big_endian=big_endian)
                for ts, data in frames:
                    classic.write(ts, data)
        return path

    return write
