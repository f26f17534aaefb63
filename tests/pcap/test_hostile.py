"""Hostile and damaged captures: every oddity counted with its place, nothing else lost."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pcap.conftest import read_flows
from tocsin.core.errors import InvalidInputError
from tocsin.pcap import synth
from tocsin.pcap.capture import CaptureReader
from tocsin.pcap.frag import Reassembler

T0 = 1_764_000_000 * 10**9


def frames(count: int = 20) -> list[tuple[int, bytes]]:
    out = []
    for i in range(count):
        payload = synth.udp("10.0.0.1", "10.0.0.2", 1000 + i, 53, b"q" * 20)
        out.append((T0 + i * 1000, synth.frame(synth.ipv4("10.0.0.1", "10.0.0.2", 17, payload), 1)))
    return out


def record(ts: int, data: bytes, caplen: int | None = None, wirelen: int | None = None) -> bytes:
    size = len(data) if caplen is None else caplen
    return struct.pack("<IIII", ts // 10**9, ts % 10**9, size, wirelen or len(data)) + data


def classic(records: list[bytes], snaplen: int = 65535) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, snaplen, 1) + b"".join(records)


def packets_of(path: Path) -> tuple[int, dict[str, int], list[str]]:
    reader = CaptureReader(path)
    count = sum(len(b) for b in reader)
    return count, dict(reader.anomalies.counts), [a.where for a in reader.anomalies.examples]


def test_truncated_last_record(tmp_path: Path) -> None:
    body = classic([record(t, d) for t, d in frames()])
    path = tmp_path / "cut.pcap"
    path.write_bytes(body[:-10])
    count, anomalies, where = packets_of(path)
    assert count == 19
    assert anomalies == {"truncated_record": 1}
    assert "cut.pcap byte" in where[0]


def test_lying_length_resyncs_and_keeps_the_rest(tmp_path: Path) -> None:
    good = [record(t, d) for t, d in frames()]
    bad = record(T0 + 500, b"\xee" * 60, caplen=0x7FFFFFFF)
    path = tmp_path / "lie.pcap"
    path.write_bytes(classic(good[:10] + [bad] + good[10:]))
    count, anomalies, _ = packets_of(path)
    assert count == 20
    assert anomalies.get("caplen_huge") == 1


def test_lying_length_at_a_chunk_edge(tmp_path: Path) -> None:
    good = [record(t, d) for t, d in frames(400)]
    bad = record(T0 + 500, b"\xee" * 60, caplen=10**9)
    path = tmp_path / "edge.pcap"
    path.write_bytes(classic(good[:200] + [bad] + good[200:]))
    reader = CaptureReader(path, chunk_bytes=4096)
    assert sum(len(b) for b in reader) == 400
    assert reader.anomalies.counts["caplen_huge"] == 1


def test_short_original_and_zero_length(tmp_path: Path) -> None:
    data = frames(3)
    path = tmp_path / "odd.pcap"
    path.write_bytes(
        classic([record(*data[0]), record(data[1][0], data[1][1], wirelen=10), record(T0, b"")])
    )
    flows, stats = read_flows(path)
    assert stats.packets == 3
    assert stats.anomalies.counts["wirelen_below_caplen"] == 1
    assert len(flows) == 2  # the empty record has no flow, and nothing breaks on it


def test_pcapng_bad_block_is_skipped(tmp_path: Path, write_capture: Callable[..., Path]) -> None:
    path = write_capture(frames(), ng=True)
    raw = bytearray(path.read_bytes())
    # the 5th enhanced packet block gets a length that is not a multiple of 4
    at = 0
    blocks = []
    while at < len(raw):
        kind, length = struct.unpack_from("<II", raw, at)
        blocks.append((at, kind))
        at += length
    target = [a for a, k in blocks if k == 6][4]
    struct.pack_into("<I", raw, target + 4, 0x31)
    path.write_bytes(bytes(raw))
    count, anomalies, _ = packets_of(path)
    assert count == 19
    assert anomalies.get("bad_block_length") == 1


def test_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"hello world, not a capture at all")
    with pytest.raises(InvalidInputError, match="not a pcap or pcapng capture"):
        CaptureReader(path)


def test_lying_headers_are_counted(tmp_path: Path) -> None:
    ok = synth.ipv4("10.0.0.1", "10.0.0.2", 6, synth.tcp("10.0.0.1", "10.0.0.2", 1, 2))
    too_long = bytearray(ok)
    struct.pack_into("!H", too_long, 2, 1400)  # claims more than is there
    short_ihl = bytearray(ok)
    short_ihl[0] = 0x43
    bad_offset = bytearray(ok)
    bad_offset[32] = 0xF0  # TCP data offset 60 bytes, past the segment
    records = [
        record(T0 + i, synth.frame(bytes(p), 1))
        for i, p in enumerate([ok, too_long, short_ihl, bad_offset])
    ]
    path = tmp_path / "headers.pcap"
    path.write_bytes(classic(records))
    _flows, stats = read_flows(path)
    counts = stats.anomalies.counts
    assert counts["ip_length_lies"] == 1
    assert counts["ip_header_too_short"] == 1
    assert counts["tcp_offset_bad"] == 1
    assert any("packet 2" in a.where for a in stats.anomalies.examples)


def test_fragment_overlaps_and_floods_stay_bounded() -> None:
    reasm = Reassembler(max_datagrams=64, max_bytes=256 * 1024)
    whole = synth.ipv4("10.0.0.1", "10.0.0.2", 17, b"A" * 16 + b"B" * 16, ident=1)
    first = synth.fragment_ipv4(whole, 36)[0]
    rewritten = synth.ipv4("10.0.0.1", "10.0.0.2", 17, b"C" * 16, ident=1, mf=True)
    assert reasm.add_ipv4(0, first) is None
    assert reasm.add_ipv4(1, first) is None  # the same bytes again
    assert reasm.add_ipv4(2, rewritten) is None  # the same place, other bytes
    assert reasm.anomalies["frag_overlap"] == 1
    assert reasm.anomalies["frag_overlap_conflict"] == 1
    tracemalloc.start()
    base = bytearray(synth.ipv4("10.9.0.1", "10.0.0.2", 17, b"x" * 800, mf=True))
    for ident in range(30_000):  # a flood of datagrams that never complete
        struct.pack_into("!H", base, 4, ident)
        reasm.add_ipv4(ident, base)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert reasm.pending <= 64
    assert reasm.pending_bytes <= 256 * 1024
    assert reasm.anomalies["frag_table_full"] > 0
    assert peak < 8 * 2**20


def test_conflicting_overlap_keeps_the_first_data() -> None:
    reasm = Reassembler()
    body = synth.udp("10.0.0.1", "10.0.0.2", 1, 2, b"A" * 24)
    whole = synth.ipv4("10.0.0.1", "10.0.0.2", 17, body, ident=5)
    first, second = synth.fragment_ipv4(whole, 36)[:2]  # payload bytes [0, 16) and [16, 32)
    evil = synth.ipv4("10.0.0.1", "10.0.0.2", 17, b"E" * 16, ident=5, mf=True, frag_offset=8)
    assert reasm.add_ipv4(0, first) is None
    assert reasm.add_ipv4(1, evil) is None  # [8, 16) conflicts, [16, 24) is new
    done = reasm.add_ipv4(2, second)
    assert done is not None
    payload = done[20:]
    assert payload[:16] == whole[20:36]  # the first copy of [8, 16) won
    assert payload[16:24] == b"E" * 8  # the evil bytes came first there
    assert reasm.anomalies["frag_overlap_conflict"] == 2


def test_fragment_timeout_and_too_many() -> None:
    reasm = Reassembler(timeout_ns=10, max_fragments=4)
    piece = synth.ipv4("10.0.0.1", "10.0.0.2", 17, b"x" * 8, ident=9, mf=True)
    reasm.add_ipv4(0, piece)
    reasm.add_ipv4(100, synth.ipv4("10.0.0.3", "10.0.0.2", 17, b"x" * 8, ident=1, mf=True))
    assert reasm.anomalies["frag_timeout"] == 1
    for i in range(6):
        reasm.add_ipv4(
            101 + i,
            synth.ipv4("10.0.0.4", "10.0.0.2", 17, b"x" * 8, ident=2, mf=True, frag_offset=8 * i),
        )
    assert reasm.anomalies["frag_too_many"] == 1


def test_record_over_the_snap_length_is_counted_and_kept(tmp_path: Path) -> None:
    big = synth.frame(synth.ipv4("10.0.0.1", "10.0.0.2", 17, b"b" * 300), 1)
    path = tmp_path / "snap.pcap"
    records = [record(t, d) for t, d in frames(10)]
    path.write_bytes(classic([*records[:5], record(T0 + 5, big), *records[5:]], snaplen=200))
    count, anomalies, where = packets_of(path)
    assert count == 11
    assert anomalies == {"caplen_over_snaplen": 1}
    assert where == [f"snap.pcap byte {24 + 5 * (16 + len(frames(1)[0][1]))}"]


def test_fragment_attacks_in_a_capture_reach_the_import_figures(tmp_path: Path) -> None:
    # an overlap that rewrites bytes 16-31 of a datagram, then first fragments of 5,000
    # datagrams that never complete, within 5 ms
    body = synth.udp("10.0.0.1", "10.0.0.2", 5000, 6000, b"A" * 56)
    first, second = synth.fragment_ipv4(synth.ipv4("10.0.0.1", "10.0.0.2", 17, body, ident=66), 52)
    evil = synth.ipv4("10.0.0.1", "10.0.0.2", 17, b"E" * 16, ident=66, mf=True, frag_offset=16)
    attack = [(T0 + i, synth.frame(p, 1)) for i, p in enumerate([first, evil, second])]
    for ident in range(5000):
        piece = synth.ipv4("10.9.0.1", "10.0.0.2", 17, b"x" * 64, ident=ident, mf=True)
        attack.append((T0 + 10_000 + ident * 1000, synth.frame(piece, 1)))
    path = tmp_path / "frag.pcap"
    path.write_bytes(classic([record(t, d) for t, d in [*frames(10), *attack]]))
    flows, stats = read_flows(path)
    assert stats.anomalies.counts["frag_overlap_conflict"] == 1
    assert stats.anomalies.counts["frag_table_full"] == 5000 - 4096  # the default table
    assert stats.reassembled == 1
    (overlapped,) = [f for f in flows if f["source.port"] == 5000]
    assert overlapped["destination.port"] == 6000 and overlapped["source.packets"] == 3


def test_fragments_cut_by_the_snap_length_are_refused(tmp_path: Path) -> None:
    datagram = synth.udp("10.0.0.1", "10.0.0.2", 1, 2, b"z" * 3000)
    pieces = synth.fragment_ipv4(synth.ipv4("10.0.0.1", "10.0.0.2", 17, datagram), 1500)
    assert [len(p) for p in pieces] == [1500, 1500, 68]
    snapped = [synth.frame(p, 1)[:200] for p in pieces]
    cut = [record(T0 + i, p, wirelen=14 + len(pieces[i])) for i, p in enumerate(snapped)]
    path = tmp_path / "cut.pcap"
    path.write_bytes(classic(cut, snaplen=200))
    _flows, stats = read_flows(path)
    assert stats.anomalies.counts["frag_cut"] == 2  # the last one was short enough to keep
    assert "ip_length_lies" not in stats.anomalies.counts  # the snap length explains it
    assert stats.reassembled == 0
