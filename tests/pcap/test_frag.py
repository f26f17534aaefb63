"""Fragment reassembly: every cut puts back together; odd fragments are refused and counted."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tocsin.pcap import synth
from tocsin.pcap.capture import CaptureReader
from tocsin.pcap.frag import Reassembler

V4_SRC, V4_DST = "192.0.2.1", "198.51.100.7"
V6_SRC, V6_DST = "2001:db8::1", "2001:db8:1::2"


def v4_datagram(size: int, ident: int = 0x1234, options: bytes = b"") -> bytes:
    payload = random.Random(size).randbytes(size)
    datagram = synth.udp(V4_SRC, V4_DST, 5353, 9999, payload)
    return synth.ipv4(V4_SRC, V4_DST, synth.UDP, datagram, ident=ident, options=options)


def v6_packet(size: int) -> bytes:
    payload = random.Random(size).randbytes(size)
    return synth.ipv6(V6_SRC, V6_DST, synth.ICMP6, synth.icmpv6_echo(V6_SRC, V6_DST, 1, 2, payload))


def sum_ok(data: bytes) -> bool:
    """The ones' complement sum (checksum field included) is all ones."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


@pytest.mark.parametrize(("size", "mtu"), [(100, 68), (1473, 1500), (4000, 576), (65_000, 9000)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ipv4_fragments_reassemble_in_any_order(size: int, mtu: int, seed: int) -> None:
    whole = v4_datagram(size)
    pieces = synth.fragment_ipv4(whole, mtu)
    assert len(pieces) > 1
    assert all(len(p) <= mtu for p in pieces)
    random.Random(seed).shuffle(pieces)
    reasm = Reassembler()
    results = [reasm.add_ipv4(i, p) for i, p in enumerate(pieces)]
    assert results[:-1] == [None] * (len(pieces) - 1)
    assert results[-1] == whole
    assert reasm.pending == 0
    assert reasm.pending_bytes == 0
    assert not reasm.anomalies


def test_ipv4_header_of_the_first_fragment_is_fixed_up() -> None:
    # a record-route option (copy bit clear) travels in the first fragment only
    whole = v4_datagram(3000, options=b"\x07\x07\x04" + bytes(4))
    pieces = synth.fragment_ipv4(whole, 1000)
    assert (pieces[0][0] & 0x0F) == 7 and (pieces[1][0] & 0x0F) == 5
    reasm = Reassembler()
    done = [reasm.add_ipv4(0, p) for p in reversed(pieces)][-1]
    assert done == whole
    assert sum_ok(done[:28])  # the rebuilt header's checksum is right


def test_ident_kept_and_fragment_fields_cleared() -> None:
    reasm = Reassembler()
    payload = b"0123456789abcdef" * 4
    first = synth.ipv4(V4_SRC, V4_DST, 17, payload[:32], ident=77, mf=True)
    second = synth.ipv4(V4_SRC, V4_DST, 17, payload[32:], ident=77, frag_offset=32)
    assert reasm.add_ipv4(0, second) is None
    done = reasm.add_ipv4(1, memoryview(first))
    assert done is not None
    assert struct.unpack_from("!H", done, 4)[0] == 77
    assert struct.unpack_from("!H", done, 6)[0] == 0  # no MF, offset 0
    assert struct.unpack_from("!H", done, 2)[0] == 20 + 64
    assert done[20:] == payload


def test_not_a_fragment_comes_straight_back() -> None:
    reasm = Reassembler()
    packet = v4_datagram(50)
    assert reasm.add_ipv4(0, packet + b"trailer") == packet  # Ethernet padding cut off
    assert reasm.pending == 0


@pytest.mark.parametrize(("size", "mtu"), [(1500, 1280), (3000, 1280), (20_000, 1500)])
@pytest.mark.parametrize("seed", [0, 5])
def test_ipv6_fragments_reassemble_in_any_order(size: int, mtu: int, seed: int) -> None:
    whole = v6_packet(size)
    pieces = synth.fragment_ipv6(whole, mtu, ident=0xCAFE)
    assert len(pieces) > 1 and all(len(p) <= mtu for p in pieces)
    random.Random(seed).shuffle(pieces)
    reasm = Reassembler()
    results = [reasm.add_ipv6(i, p, 40) for i, p in enumerate(pieces)]
    assert results[-1] == whole
    assert results[:-1] == [None] * (len(pieces) - 1)
    assert reasm.pending == 0 and not reasm.anomalies


def test_ipv6_fragment_header_after_hop_by_hop_is_unchained() -> None:
    datagram = synth.udp(V6_SRC, V6_DST, 1000, 2000, b"x" * 3000)
    router_alert = (0, b"\x05\x02\0\0")
    pieces = []
    for at in range(0, len(datagram), 1400):
        more = at + 1400 < len(datagram)
        fragment = (44, struct.pack("!HI", at | int(more), 9))
        piece = datagram[at : at + 1400]
        chain = [router_alert, fragment]
        pieces.append(synth.ipv6(V6_SRC, V6_DST, synth.UDP, piece, ext_headers=chain))
    reasm = Reassembler()
    out = [reasm.add_ipv6(0, p, 48) for p in pieces][-1]
    assert out == synth.ipv6(V6_SRC, V6_DST, synth.UDP, datagram, ext_headers=[router_alert])
    assert out is not None and out[40] == synth.UDP  # the hop-by-hop header points to UDP now


def test_atomic_fragment_is_returned_at_once() -> None:
    datagram = synth.udp(V6_SRC, V6_DST, 1, 2, b"atomic")
    packet = synth.ipv6(V6_SRC, V6_DST, synth.UDP, datagram, ext_headers=[(44, bytes(6))])
    reasm = Reassembler()
    assert reasm.add_ipv6(0, packet, 40) == synth.ipv6(V6_SRC, V6_DST, synth.UDP, datagram)
    assert reasm.pending == 0


def test_ipv6_broken_chain_is_counted_not_raised() -> None:
    whole = v6_packet(2000)
    first, second = synth.fragment_ipv6(whole, 1280, ident=3)
    reasm = Reassembler()
    reasm.add_ipv6(0, second, 40)
    bad = bytearray(first)
    bad[6] = 60  # claims a destination-options header where the fragment header is
    assert reasm.add_ipv6(1, bytes(bad), 40) is None
    assert reasm.anomalies["frag_bad_length"] == 1
    for junk in (b"", b"\x60" + bytes(30), bytes(first[:44])):
        assert reasm.add_ipv6(2, junk, 40) is None
    assert reasm.add_ipv6(3, first, 4) is None  # a fragment header inside the fixed header
    assert reasm.anomalies["frag_bad_length"] == 5


def test_two_different_tails_and_data_past_the_end() -> None:
    reasm = Reassembler()
    reasm.add_ipv4(0, synth.ipv4(V4_SRC, V4_DST, 17, b"a" * 8, ident=1, frag_offset=16))
    reasm.add_ipv4(1, synth.ipv4(V4_SRC, V4_DST, 17, b"a" * 16, ident=1, frag_offset=16))
    assert reasm.anomalies["frag_overlap_conflict"] == 1  # another end for the same datagram
    reasm.add_ipv4(2, synth.ipv4(V4_SRC, V4_DST, 17, b"b" * 16, ident=1, mf=True, frag_offset=16))
    assert reasm.anomalies["frag_bad_length"] == 1  # non-final data past the known end
    done = reasm.add_ipv4(3, synth.ipv4(V4_SRC, V4_DST, 17, b"c" * 16, ident=1, mf=True))
    assert done is not None and done[20:] == b"c" * 16 + b"a" * 8


def test_odd_and_cut_fragments_are_refused_without_a_slot() -> None:
    reasm = Reassembler()
    odd = synth.ipv4(V4_SRC, V4_DST, 17, b"x" * 13, ident=2, mf=True)  # not a multiple of 8
    empty = synth.ipv4(V4_SRC, V4_DST, 17, b"", ident=2, mf=True, frag_offset=8)
    short_ihl = bytearray(synth.ipv4(V4_SRC, V4_DST, 17, b"x" * 8, ident=2, mf=True))
    short_ihl[0] = 0x44
    for packet in (odd, empty, bytes(short_ihl), b"\x45\x00", b"\x60" + bytes(40)):
        assert reasm.add_ipv4(0, packet) is None
    # the last fragment cut by the snap length would end the datagram 14 bytes early
    head = synth.ipv4(V4_SRC, V4_DST, 17, b"h" * 64, ident=3, mf=True)
    tail = synth.ipv4(V4_SRC, V4_DST, 17, b"t" * 64, ident=3, frag_offset=64)
    assert reasm.add_ipv4(1, head) is None
    assert reasm.add_ipv4(2, tail[:70]) is None
    assert reasm.anomalies == {"frag_bad_length": 5, "frag_cut": 1}
    assert reasm.pending == 1  # the head alone: nothing refused took a slot
    v6 = synth.fragment_ipv6(v6_packet(2000), 1280, ident=4)[1]
    assert reasm.add_ipv6(3, v6[:200], 40) is None
    assert reasm.anomalies["frag_cut"] == 2


def test_ping_of_death_is_oversize() -> None:
    reasm = Reassembler()
    start = synth.ipv4(V4_SRC, V4_DST, 1, synth.icmp_echo(1, 1, b"x" * 1472), ident=3, mf=True)
    last = synth.ipv4(V4_SRC, V4_DST, 1, b"x" * 100, ident=3, frag_offset=65_528)
    assert reasm.add_ipv4(0, start) is None
    assert reasm.pending == 1
    assert reasm.add_ipv4(1, last) is None
    assert reasm.anomalies["frag_oversize"] == 1
    assert reasm.pending == 0 and reasm.pending_bytes == 0  # the whole datagram given up
    # the bound counts the IP header too, as the 65,535 of the total length field does
    small = Reassembler(max_datagram_size=1000)
    assert small.add_ipv4(0, synth.ipv4(V4_SRC, V4_DST, 17, b"y" * 8, frag_offset=976)) is None
    assert small.anomalies["frag_oversize"] == 1


def test_flood_bound_counts_the_kept_headers() -> None:
    limit = 2 * 2**20
    reasm = Reassembler(max_datagrams=100_000, max_bytes=limit)
    piece = bytearray(synth.ipv4(V4_SRC, V4_DST, 17, b"f" * 1200, mf=True))
    for n in range(100_000):  # first fragments of datagrams that never complete
        struct.pack_into("!H", piece, 4, n & 0xFFFF)
        piece[12] = 10 + (n >> 16)  # new sources once the identifications wrap
        reasm.add_ipv4(n, piece)
        assert reasm.pending_bytes <= limit
    assert reasm.pending == limit // (1200 + 20)  # as many as the bytes allow, the newest
    assert reasm.anomalies["frag_table_full"] == 100_000 - reasm.pending


def test_flood_of_overlapping_slivers_stays_bounded() -> None:
    reasm = Reassembler(max_bytes=64 * 1024, max_fragments=64)
    rng = random.Random(3)
    for n in range(30_000):
        ident = n % 20  # few datagrams, so each gets many slivers
        offset = rng.randrange(0, 8000, 8)
        data = bytes([n & 0xFF]) * 16
        packet = synth.ipv4(V4_SRC, V4_DST, 17, data, ident=ident, mf=True, frag_offset=offset)
        reasm.add_ipv4(n, packet)
        assert reasm.pending_bytes <= 64 * 1024
    assert reasm.anomalies["frag_too_many"] > 0
    assert reasm.anomalies["frag_overlap_conflict"] > 0


def reassembled(path: Path) -> tuple[list[bytes], Reassembler]:
    """The datagrams our reassembler makes of a capture's Ethernet fragments."""
    reasm = Reassembler()
    done = []
    for batch in CaptureReader(path):
        for i in range(len(batch)):
            assert int(batch.linktype[i]) == synth.LINKTYPE_ETHERNET
            data = batch.packet(i)
            ethertype, ip = struct.unpack_from("!H", data, 12)[0], data[14:]
            got = None
            if ethertype == 0x0800 and struct.unpack_from("!H", ip, 6)[0] & 0x3FFF:
                got = reasm.add_ipv4(int(batch.ts[i]), ip)
            elif ethertype == 0x86DD and ip[6] == 44:
                got = reasm.add_ipv6(int(batch.ts[i]), ip, 40)
            if got is not None:
                done.append(got)
    return done, reasm


def tshark_lengths(path: Path, field: str) -> list[int] | None:
    """The reassembled lengths tshark reports, or None without tshark (Debian package tshark)."""
    if shutil.which("tshark") is None:
        return None
    out = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", field],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [int(line) for line in out.split()]


def test_real_ipv4_fragments_agree_with_tshark(shared_data: Path) -> None:
    path = shared_data / "pcap" / "ip_frag_source.pcapng"
    done, reasm = reassembled(path)
    assert not reasm.anomalies and reasm.pending == 0
    for datagram in done:
        assert datagram[9] == synth.ICMP
        assert sum_ok(datagram[:20])
        assert sum_ok(datagram[20:])  # the ICMP checksum covers every fragment's data
    sizes = [len(d) - 20 for d in done]
    assert sizes == [3508, 3508]
    assert tshark_lengths(path, "ip.reassembled.length") in (None, sizes)


def test_real_ipv6_fragments_agree_with_tshark(shared_data: Path) -> None:
    path = shared_data / "pcap" / "ipv6_fragments.pcapng"
    done, reasm = reassembled(path)
    assert not reasm.anomalies and reasm.pending == 0
    for packet in done:
        assert packet[6] == synth.ICMP6
        pseudo = packet[8:40] + struct.pack("!IxxxB", len(packet) - 40, synth.ICMP6)
        assert sum_ok(pseudo + packet[40:])  # the ICMPv6 checksum over the whole message
    sizes = [len(d) - 40 for d in done]
    assert sizes == [1508] * 10
    assert tshark_lengths(path, "ipv6.reassembled.length") in (None, sizes)
