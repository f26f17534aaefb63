"""The demo's tap capture: a beacon to the C2 server and a port scan, among ordinary traffic."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tests.pcap.conftest import read_flows
from tocsin.demo.packets import (
    BEACON_PORT,
    BEACON_TARGET,
    SCAN_SOURCE,
    SCAN_TARGET,
    write_capture,
)


def test_capture_holds_the_beacon_and_the_scan(tmp_path: Path) -> None:
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    path = write_capture(tmp_path, end)
    flows, stats = read_flows(path)
    assert stats.anomalies.total == 0
    sweep = {f["destination.ip"] for f in flows if f["destination.port"] == 445}
    assert len(sweep) == 119
    beacon = [f for f in flows if f["destination.ip"] == BEACON_TARGET]
    assert len(beacon) == 360
    assert {f["destination.port"] for f in beacon} == {BEACON_PORT}
    starts = sorted(f["@timestamp"].timestamp() for f in beacon)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert 55 < sum(gaps) / len(gaps) < 65
    scan = [
        f
        for f in flows
        if (f["source.ip"], f["destination.ip"], f["source.port"])
        == (SCAN_SOURCE, SCAN_TARGET, 61000)
    ]
    states = Counter(f["conn_state"] for f in scan)
    assert len(scan) == 1024
    assert states["REJ"] == 1021 and states["RSTO"] == 3
    assert max(f["@timestamp"] for f in flows) <= end
    assert write_capture(tmp_path / "again", end).read_bytes() == path.read_bytes()
