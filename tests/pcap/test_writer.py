"""Capture writers: the bytes follow the pcap and pcapng formats, and tshark reads them back."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tocsin.pcap import synth
from tocsin.pcap.writer import PcapNgWriter, PcapWriter

T0 = 1_764_000_000 * 10**9 + 123_456_789  # nanoseconds that microseconds cannot hold


def frames(count: int = 5) -> list[tuple[int, bytes]]:
    out = []
    for i in range(count):
        datagram = synth.udp("10.1.0.1", "10.1.0.2", 4000 + i, 53, b"q" * (10 + i))
        packet = synth.ipv4("10.1.0.1", "10.1.0.2", synth.UDP, datagram)
        out.append((T0 + i * 1_000_001, synth.frame(packet, synth.LINKTYPE_ETHERNET)))
    return out


def tshark(path: Path, *fields: str) -> list[list[str]]:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is absent (Debian package tshark)")
    args = ["tshark", "-r", str(path), "-T", "fields"]
    for field in fields:
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanos", [True, False])
def test_classic_layout(big_endian: bool, nanos: bool) -> None:
    stream = io.BytesIO()
    writer = PcapWriter(stream, 113, nanos=nanos, snaplen=1500, big_endian=big_endian)
    writer.write(T0, b"abc")
    writer.write(T0 + 1, memoryview(b"defgh"), wirelen=900)
    writer.write(T0 + 2, b"ij", wirelen=0)  # an odd record is written as it is
    raw = stream.getvalue()
    order = ">" if big_endian else "<"
    magic, major, minor, _zone, _sigfigs, snaplen, link = struct.unpack_from(order + "IHHiIII", raw)
    assert magic == (0xA1B23C4D if nanos else 0xA1B2C3D4)
    assert (major, minor, snaplen, link) == (2, 4, 1500, 113)
    fraction = 123_456_789 if nanos else 123_456
    assert struct.unpack_from(order + "IIII", raw, 24) == (T0 // 10**9, fraction, 3, 3)
    assert raw[40:43] == b"abc"
    assert struct.unpack_from(order + "IIII", raw, 43)[2:] == (5, 900)
    assert raw[59:64] == b"defgh"
    assert struct.unpack_from(order + "IIII", raw, 64)[2:] == (2, 0)
    assert raw[80:] == b"ij"
    assert writer.count == 3
    assert writer.bytes_written == len(raw)  # what size rotation of live capture relies on


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanos", [True, False])
def test_tshark_reads_classic(tmp_path: Path, big_endian: bool, nanos: bool) -> None:
    path = tmp_path / "c.pcap"
    sent = frames()
    with path.open("wb") as handle:
        writer = PcapWriter(handle, synth.LINKTYPE_ETHERNET, nanos=nanos, big_endian=big_endian)
        for ts, data in sent:
            writer.write(ts, data)
        writer.write(T0 + 10**9, sent[0][1][:30], wirelen=len(sent[0][1]))
    rows = tshark(path, "frame.time_epoch", "frame.len", "frame.cap_len", "udp.srcport")
    assert len(rows) == 6
    for (ts, data), row in zip(sent, rows, strict=False):
        expected = ts if nanos else ts // 1000 * 1000
        assert row[0] == f"{expected // 10**9}.{expected % 10**9:09d}"
        assert row[1:3] == [str(len(data)), str(len(data))]
    assert rows[-1][1:3] == [str(len(sent[0][1])), "30"]
    assert [r[3] for r in rows[:5]] == [str(4000 + i) for i in range(5)]


def blocks(raw: bytes, order: str) -> list[tuple[int, bytes]]:
    """(type, body) of each block, checking both length fields and the 32-bit alignment."""
    out, at = [], 0
    while at < len(raw):
        kind, length = struct.unpack_from(order + "II", raw, at)
        assert length % 4 == 0 and length >= 12
        assert struct.unpack_from(order + "I", raw, at + length - 4)[0] == length
        out.append((kind, raw[at + 8 : at + length - 4]))
        at += length
    assert at == len(raw)
    return out


def options(body: bytes, order: str) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at + 4 <= len(body):
        code, size = struct.unpack_from(order + "HH", body, at)
        out.append((code, body[at + 4 : at + 4 + size]))
        at += 4 + size + (-size % 4)
        if code == 0:
            break
    assert at == len(body)
    return out


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_layout(big_endian: bool) -> None:
    order = ">" if big_endian else "<"
    stream = io.BytesIO()
    writer = PcapNgWriter(stream, big_endian=big_endian)
    eth = writer.add_interface(1, name="eth0")
    raw_if = writer.add_interface(101, tsresol_nanos=False, snaplen=96)
    writer.write(eth, T0, b"12345", comment="odd")
    writer.write(raw_if, T0, b"1234", wirelen=1000)
    writer.write_simple(b"xyz")
    assert (eth, raw_if, writer.count) == (0, 1, 3)
    found = blocks(stream.getvalue(), order)
    assert [k for k, _ in found] == [0x0A0D0D0A, 1, 1, 6, 6, 3]
    shb = found[0][1]
    assert struct.unpack_from(order + "IHHq", shb) == (0x1A2B3C4D, 1, 0, -1)
    assert shb[:4] == (b"\x1a\x2b\x3c\x4d" if big_endian else b"\x4d\x3c\x2b\x1a")
    assert struct.unpack_from(order + "HHI", found[1][1]) == (1, 0, 262144)
    assert options(found[1][1][8:], order) == [(2, b"eth0"), (9, b"\x09"), (0, b"")]
    assert struct.unpack_from(order + "HHI", found[2][1]) == (101, 0, 96)
    assert found[2][1][8:] == b""  # no if_tsresol: microseconds, the default
    iface, hi, lo, caplen, wirelen = struct.unpack_from(order + "IIIII", found[3][1])
    assert (iface, (hi << 32) | lo, caplen, wirelen) == (0, T0, 5, 5)
    assert found[3][1][20:28] == b"12345\0\0\0"
    assert options(found[3][1][28:], order) == [(1, b"odd"), (0, b"")]
    iface, hi, lo, caplen, wirelen = struct.unpack_from(order + "IIIII", found[4][1])
    assert (iface, (hi << 32) | lo, caplen, wirelen) == (1, T0 // 1000, 4, 1000)
    assert found[5][1] == struct.pack(order + "I", 3) + b"xyz\0"


@pytest.mark.parametrize("big_endian", [False, True])
def test_tshark_reads_pcapng(tmp_path: Path, big_endian: bool) -> None:
    path = tmp_path / "n.pcapng"
    sent = frames(3)
    v6 = synth.ipv6(
        "2001:db8::1", "2001:db8::2", 58, synth.icmpv6_echo("2001:db8::1", "2001:db8::2", 1, 1)
    )
    with path.open("wb") as handle:
        writer = PcapNgWriter(handle, big_endian=big_endian)
        eth = writer.add_interface(synth.LINKTYPE_ETHERNET, name="tap0")
        raw = writer.add_interface(229, tsresol_nanos=False)  # LINKTYPE_IPV6
        for ts, data in sent:
            writer.write(eth, ts, data, comment=f"n{ts - T0}")
        writer.write(raw, T0 + 5, v6)
        writer.write_simple(sent[0][1])
    rows = tshark(
        path, "frame.interface_name", "frame.time_epoch", "frame.len", "frame.comment", "ipv6.src"
    )
    assert len(rows) == 5
    for (ts, data), row in zip(sent, rows, strict=False):
        assert row[:4] == ["tap0", f"{ts // 10**9}.{ts % 10**9:09d}", str(len(data)), f"n{ts - T0}"]
    assert rows[3][1] == f"{T0 // 10**9}.{T0 % 10**9 // 1000 * 1000:09d}"  # microseconds kept
    assert rows[3][4] == "2001:db8::1"
    assert rows[4][2] == str(len(sent[0][1]))  # the simple packet block is read too


def test_bad_calls_say_what() -> None:
    writer = PcapNgWriter(io.BytesIO())
    with pytest.raises(ValueError, match="interface 0 was not added"):
        writer.write(0, T0, b"x")
    writer.add_interface(1)
    with pytest.raises(ValueError, match="interface -1 was not added"):
        writer.write(-1, T0, b"x")
    with pytest.raises(ValueError, match="before 1970"):
        writer.write(0, -1, b"x")
    with pytest.raises(ValueError, match="before 1970"):
        PcapWriter(io.BytesIO(), 1).write(-5, b"x")
