"""Captures the tests write: every link type and file form, flow states, splits, fragments."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pcap.conftest import read_flows
from tocsin.pcap import synth
from tocsin.pcap.writer import PcapNgWriter

T0 = 1_764_000_000 * 10**9
HTTP = (b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 3000)


def session(link: int = synth.LINKTYPE_ETHERNET, **kwargs: object) -> list[tuple[int, bytes]]:
    return synth.tcp_session(
        "10.0.0.5",
        "192.0.2.80",
        50123,
        80,
        [HTTP],
        start_ns=T0,
        link=link,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("link", "vlans"),
    [
        (synth.LINKTYPE_ETHERNET, ()),
        (synth.LINKTYPE_ETHERNET, (42,)),
        (synth.LINKTYPE_ETHERNET, (100, 42)),
        (synth.LINKTYPE_LINUX_SLL, ()),
        (synth.LINKTYPE_LINUX_SLL2, ()),
        (synth.LINKTYPE_RAW, ()),
        (synth.LINKTYPE_NULL, ()),
    ],
)
def test_every_link_type_gives_one_whole_flow(
    write_capture: Callable[..., Path], link: int, vlans: tuple[int, ...]
) -> None:
    frames = session(link, vlans=vlans)
    flows, stats = read_flows(write_capture(frames, link))
    assert stats.packets == len(frames)
    assert len(flows) == 1
    flow = flows[0]
    assert (flow["source.ip"], flow["source.port"]) == ("10.0.0.5", 50123)
    assert (flow["destination.ip"], flow["destination.port"]) == ("192.0.2.80", 80)
    assert flow["network.packets"] == len(frames)
    assert flow["network.bytes"] == sum(len(f) for _, f in frames)
    assert flow["conn_state"] == "SF"
    assert flow["history"] == "ShAaDdFf"
    assert flow["orig_bytes"] == len(HTTP[0])
    assert flow["resp_bytes"] == len(HTTP[1])
    assert flow["network.vlan.id"] == (str(vlans[0]) if vlans else None)
    assert flow["network.community_id"].startswith("1:")
    assert flow["event.duration"] == frames[-1][0] - frames[0][0]


@pytest.mark.parametrize(
    ("ng", "nanos", "big_endian"),
    [(False, False, False), (False, True, True), (True, True, False), (True, False, True)],
)
def test_file_forms_agree(
    write_capture: Callable[..., Path], ng: bool, nanos: bool, big_endian: bool
) -> None:
    frames = session()
    reference, _ = read_flows(write_capture(frames))
    flows, _ = read_flows(write_capture(frames, ng=ng, nanos=nanos, big_endian=big_endian))
    assert [f["network.bytes"] for f in flows] == [f["network.bytes"] for f in reference]
    start = flows[0]["@timestamp"].timestamp()
    assert abs(start - T0 / 1e9) < 1e-5  # microsecond files lose only the nanoseconds


def test_gzip_capture(write_capture: Callable[..., Path], tmp_path: Path) -> None:
    plain = write_capture(session())
    packed = tmp_path / "cap.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_flows(packed)[0] == read_flows(plain)[0] or (
        [f["network.bytes"] for f in read_flows(packed)[0]]
        == [f["network.bytes"] for f in read_flows(plain)[0]]
    )


def test_pcapng_interfaces_with_their_own_link_types(tmp_path: Path) -> None:
    eth = session()
    cooked = synth.tcp_session(
        "10.9.9.9",
        "192.0.2.9",
        40000,
        443,
        [(b"a" * 10, b"b" * 20)],
        start_ns=T0 + 5 * 10**9,
        link=synth.LINKTYPE_LINUX_SLL2,
    )
    path = tmp_path / "two.pcapng"
    with path.open("wb") as handle:
        writer = PcapNgWriter(handle)
        first = writer.add_interface(synth.LINKTYPE_ETHERNET)
        second = writer.add_interface(synth.LINKTYPE_LINUX_SLL2, tsresol_nanos=False)
        for ts, data in synth.merge(eth, cooked):
            writer.write(second if data in {d for _, d in cooked} else first, ts, data)
    flows, stats = read_flows(path)
    assert stats.packets == len(eth) + len(cooked)
    assert {(f["destination.port"], f["network.packets"]) for f in flows} == {
        (80, len(eth)),
        (443, len(cooked)),
    }


def test_ipv6_and_icmp_echo(write_capture: Callable[..., Path]) -> None:
    v6 = synth.tcp_session("2001:db8::1", "2001:db8::2", 41000, 22, [(b"hi", b"ho")], start_ns=T0)
    echo = [
        (
            T0 + i * 10**9 + j,
            synth.frame(
                synth.ipv4(a, b, synth.ICMP, synth.icmp_echo(7, i, reply=j)),
                synth.LINKTYPE_ETHERNET,
            ),
        )
        for i in range(3)
        for j, (a, b) in enumerate([("10.0.0.1", "10.0.0.2"), ("10.0.0.2", "10.0.0.1")])
    ]
    flows, _ = read_flows(write_capture(synth.merge(v6, echo)))
    by_transport = {f["network.transport"]: f for f in flows}
    assert by_transport["tcp"]["network.type"] == "ipv6"
    assert by_transport["tcp"]["source.ip"] == "2001:db8::1"
    icmp = by_transport["icmp"]
    assert (icmp["source.packets"], icmp["destination.packets"]) == (3, 3)
    assert (icmp["icmp.type"], icmp["icmp.code"]) == (8, 0)
    assert icmp["source.port"] is None
    assert icmp["conn_state"] == "SF"


def test_connection_states(write_capture: Callable[..., Path]) -> None:
    scan = synth.syn_scan("10.0.0.66", "10.0.0.10", [22, 23, 80], start_ns=T0, open_ports=[22])
    lonely = [
        (
            T0 + 10**9,
            synth.frame(
                synth.ipv4(
                    "10.0.0.66",
                    "10.0.0.11",
                    synth.TCP,
                    synth.tcp("10.0.0.66", "10.0.0.11", 5555, 443),
                ),
                synth.LINKTYPE_ETHERNET,
            ),
        )
    ]
    aborted = synth.tcp_session(
        "10.0.0.7", "10.0.0.8", 41234, 8080, [(b"x", b"y")], start_ns=T0 + 2 * 10**9, close="rst"
    )
    open_ = synth.tcp_session(
        "10.0.0.7", "10.0.0.8", 41235, 8080, [(b"x", b"y")], start_ns=T0 + 3 * 10**9, close=None
    )
    dns = synth.udp_exchange(
        "10.0.0.7", "10.0.0.53", 3333, 53, b"q" * 30, b"a" * 60, start_ns=T0 + 4 * 10**9
    )
    unanswered = synth.udp_exchange(
        "10.0.0.7", "10.0.0.53", 3334, 53, b"q", None, start_ns=T0 + 5 * 10**9
    )
    flows, _ = read_flows(write_capture(synth.merge(scan, lonely, aborted, open_, dns, unanswered)))
    states = {
        (f["destination.ip"], f["destination.port"], f["source.port"]): f["conn_state"]
        for f in flows
    }
    assert states[("10.0.0.10", 22, 61000)] == "RSTO"  # SYN-ACK, then the scanner's reset
    assert states[("10.0.0.10", 23, 61000)] == "REJ"
    assert states[("10.0.0.11", 443, 5555)] == "S0"
    assert states[("10.0.0.8", 8080, 41234)] == "RSTO"
    assert states[("10.0.0.8", 8080, 41235)] == "S1"
    assert states[("10.0.0.53", 53, 3333)] == "SF"
    assert states[("10.0.0.53", 53, 3334)] == "S0"


def test_capture_started_after_the_syn(write_capture: Callable[..., Path]) -> None:
    frames = session()[1:]  # the SYN-ACK comes first: the receiver of it is the originator
    flows, _ = read_flows(write_capture(frames))
    assert flows[0]["source.ip"] == "10.0.0.5"
    assert flows[0]["conn_state"] == "OTH" or flows[0]["history"].startswith("h")


def test_port_reuse_and_silence_split_flows(write_capture: Callable[..., Path]) -> None:
    first = session()
    again = synth.tcp_session("10.0.0.5", "192.0.2.80", 50123, 80, [HTTP], start_ns=T0 + 10**9)
    udp = synth.udp_exchange("10.0.0.5", "10.0.0.53", 7000, 53, b"q", b"a", start_ns=T0)
    later = synth.udp_exchange(
        "10.0.0.5", "10.0.0.53", 7000, 53, b"q", b"a", start_ns=T0 + 120 * 10**9
    )
    flows, _ = read_flows(write_capture(synth.merge(first, again, udp, later)))
    tcp = [f for f in flows if f["network.transport"] == "tcp"]
    assert [f["network.packets"] for f in tcp] == [len(first), len(again)]
    assert len([f for f in flows if f["network.transport"] == "udp"]) == 2
    assert len({f["flow.id"] for f in flows}) == len(flows)


def test_batches_do_not_change_flows(write_capture: Callable[..., Path]) -> None:
    frames = synth.merge(
        *(
            synth.tcp_session(
                f"10.1.0.{i}",
                "192.0.2.80",
                40000 + i,
                443,
                [(b"a" * 900, b"b" * 4000)],
                start_ns=T0 + i * 3_000_000,
            )
            for i in range(1, 60)
        ),
        synth.syn_scan("10.0.0.66", "10.0.0.10", range(1, 300), start_ns=T0),
    )
    path = write_capture(frames)
    whole, _ = read_flows(path)
    small, _ = read_flows(path, chunk_bytes=4096)
    key = ("flow.id", "network.packets", "network.bytes", "conn_state", "history", "event.duration")
    assert [tuple(f[k] for k in key) for f in small] == [tuple(f[k] for k in key) for f in whole]
    assert len(whole) == 59 + 299


def test_fragments_are_reassembled(write_capture: Callable[..., Path]) -> None:
    big = synth.ipv4(
        "10.0.0.1",
        "10.0.0.2",
        synth.UDP,
        synth.udp("10.0.0.1", "10.0.0.2", 4000, 5000, b"z" * 4000),
        ident=99,
    )
    pieces = synth.fragment_ipv4(big, 1500)
    v6 = synth.ipv6(
        "2001:db8::1",
        "2001:db8::2",
        synth.UDP,
        synth.udp("2001:db8::1", "2001:db8::2", 4001, 5001, b"y" * 3000),
    )
    pieces6 = synth.fragment_ipv6(v6, 1280, ident=7)
    frames = [(T0 + i, synth.frame(p, 1)) for i, p in enumerate(reversed(pieces))]
    frames += [(T0 + 100 + i, synth.frame(p, 1)) for i, p in enumerate(pieces6)]
    flows, stats = read_flows(write_capture(frames))
    ports = {(f["source.port"], f["destination.port"]): f for f in flows}
    assert ports[(4000, 5000)]["source.packets"] == len(pieces)
    assert ports[(4000, 5000)]["orig_bytes"] == 4000
    assert ports[(4001, 5001)]["source.packets"] == len(pieces6)
    assert stats.reassembled == 2


def test_synthetic_frames_pass_tshark_checks(write_capture: Callable[..., Path]) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is absent (Debian package tshark)")
    frames = synth.merge(
        session(vlans=(5,)), synth.syn_scan("10.0.0.66", "10.0.0.10", [1, 2], start_ns=T0)
    )
    path = write_capture(frames)
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-Y",
            "_ws.malformed or _ws.expert.severity >= error",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == []
    ids = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "--enable-protocol",
            "communityid",
            "-T",
            "fields",
            "-e",
            "communityid",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    flows, _ = read_flows(path)
    assert {f["network.community_id"] for f in flows} == set(ids)
