"""Import into a home: flows in the lake, the capture kept with its index, packets cut out."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.pcap.conftest import read_flows
from tocsin.core.errors import NotFoundError
from tocsin.core.home import init_home
from tocsin.core.settings import Settings, load_settings
from tocsin.pcap import synth
from tocsin.pcap.bpf import compile_filter
from tocsin.pcap.capture import CaptureReader
from tocsin.pcap.extract import extract_filter, extract_flows, flows_of_community_ids
from tocsin.pcap.importer import import_capture
from tocsin.pcap.store import CaptureStore

T0 = 1_764_000_000 * 10**9


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    settings = load_settings(home=tmp_path / "home")
    init_home(settings)
    return settings


def mixed() -> list[tuple[int, bytes]]:
    return synth.merge(
        synth.tcp_session(
            "10.0.0.5", "192.0.2.80", 50123, 80, [(b"GET /", b"x" * 4000)], start_ns=T0
        ),
        synth.syn_scan("10.0.0.66", "10.0.0.10", range(20, 40), start_ns=T0, open_ports=[22]),
        synth.udp_exchange(
            "10.0.0.5", "10.0.0.53", 3333, 53, b"q" * 30, b"a" * 60, start_ns=T0 + 10**9
        ),
    )


def lake_flows(settings: Settings) -> list[dict[str, object]]:
    files = sorted(str(p) for p in settings.lake_dir.glob("dataset=pcap.flow/*/*.parquet"))
    con = duckdb.connect()
    table = con.sql(
        "SELECT * FROM read_parquet($f, union_by_name=true)", params={"f": files}
    ).to_arrow_table()
    return table.to_pylist()


def test_import_writes_flows_and_keeps_packets(
    home: Settings, write_capture: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_capture(mixed())
    result = import_capture(home, path)
    assert not result.skipped
    rows = lake_flows(home)
    assert len(rows) == result.flows == 22
    assert all(r["event.dataset"] == "pcap.flow" for r in rows)
    assert all(isinstance(r["event.ingested"], datetime) for r in rows)
    store = CaptureStore(home)
    entry = store.get(result.capture_id)
    assert entry.packets == result.packets and entry.flows == 22
    assert store.capture_path(entry).read_bytes() == path.read_bytes()
    # again: skipped; forced: the same event ids
    assert import_capture(home, path).skipped
    web = next(r for r in rows if r["destination.port"] == 80)
    out = tmp_path / "flow.pcap"
    with out.open("wb") as handle:
        got = extract_flows(home, [str(web["flow.id"])], handle)
    assert got.packets == web["network.packets"]
    extracted, _ = read_flows(out)
    assert len(extracted) == 1
    assert extracted[0]["network.bytes"] == web["network.bytes"]
    assert extracted[0]["network.community_id"] == web["network.community_id"]
    # by Community ID, through the lake
    ids = flows_of_community_ids(home, [str(web["network.community_id"])])
    assert ids == [web["flow.id"]]


def test_extract_by_filter(write_capture: Callable[..., Path], tmp_path: Path) -> None:
    path = write_capture(mixed())
    out = tmp_path / "scan.pcap"
    with out.open("wb") as handle:
        got = extract_filter([path], compile_filter("host 10.0.0.66 and tcp-syn"), handle)
    assert got.packets == 20 + 1  # the probes, and the one SYN-ACK
    assert sum(len(b) for b in CaptureReader(out)) == got.packets
    since = datetime.fromtimestamp(T0 / 1e9 + 0.5, UTC)
    with out.open("wb") as handle:
        late = extract_filter([path], compile_filter("udp"), handle, since=since)
    assert late.packets == 2


def test_retention_by_age_and_size(home: Settings, write_capture: Callable[..., Path]) -> None:
    first = import_capture(home, write_capture(mixed()))
    second = import_capture(
        home, write_capture(synth.syn_scan("10.0.0.1", "10.0.0.2", range(1, 50), start_ns=T0))
    )
    store = CaptureStore(home)
    assert [e.id for e in store.list()] == [first.capture_id, second.capture_id]
    later = datetime.now(UTC) + timedelta(days=home.pcap_store_max_days + 1)
    removed = store.enforce(now=later)
    assert {e.id for e in removed} == {first.capture_id, second.capture_id}
    assert not store.index_path(first.capture_id).exists()
    third = import_capture(home, write_capture(mixed()[:5]))
    assert not third.removed_by_retention
    tight = Settings(home=home.home, pcap_store_max_gb=store.usage().bytes / 2**30)
    fourth = import_capture(tight, write_capture(mixed()[5:12]))
    assert fourth.removed_by_retention == [third.capture_id]  # the newest stays, whatever size
    assert [e.id for e in store.list()] == [fourth.capture_id]
    with (
        pytest.raises(NotFoundError, match="no longer stored .retention removed capture"),
        open(os.devnull, "wb") as sink,
    ):
        extract_flows(tight, [f"{third.capture_id}-0"], sink)


def test_unknown_capture_says_so(home: Settings) -> None:
    with pytest.raises(NotFoundError, match="0123456789abcdef is not stored"):
        CaptureStore(home).get("0123456789abcdef")
