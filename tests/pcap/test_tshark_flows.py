"""Flows from the shared real captures agree with tshark: same conversations, packets and bytes.

tshark groups TCP and UDP packets by its stream index; we compare per endpoint pair, summing
tshark's streams of one pair, since a pair that reuses its ports is split by both tools alike.
IP fragments (ip_frag_source, ipv6_fragments) are compared in the fragment tests: tshark gives
the reassembled datagram to the last fragment only, where our flow counts every fragment.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tocsin.pcap.engine import PacketEngine

TSHARK_MISSING = "tshark is absent (Debian package tshark)"
Pair = frozenset[tuple[str, int]]


def tshark_conversations(path: Path, proto: str) -> dict[Pair, tuple[int, int]]:
    """Per endpoint pair: frames and frame bytes, as tshark dissects them."""
    fields = [f"{proto}.stream", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst"]
    fields += [f"{proto}.srcport", f"{proto}.dstport", "frame.len"]
    command = ["tshark", "-r", str(path), "-Y", proto, "-T", "fields", "-E", "separator=|"]
    for name in fields:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found: dict[Pair, tuple[int, int]] = {}
    for line in out.splitlines():
        stream, s4, s6, d4, d6, sport, dport, length = line.split("|")
        if not stream or not sport:
            continue  # an ICMP error quoting a TCP/UDP header: not a packet of that flow
        pair = frozenset(
            [((s4 or s6).split(",")[0], int(sport)), ((d4 or d6).split(",")[0], int(dport))]
        )
        frames, size = found.get(pair, (0, 0))
        found[pair] = (frames + 1, size + int(length))
    return found


def our_conversations(path: Path) -> dict[str, dict[Pair, tuple[int, int]]]:
    """Per transport and endpoint pair: packets and bytes of our flows."""
    found: dict[str, dict[Pair, tuple[int, int]]] = {"tcp": {}, "udp": {}}
    for result in PacketEngine(path).run():
        if result.flows is None:
            continue
        for row in result.flows.to_pylist():
            proto = row["network.transport"]
            if proto not in found:
                continue
            pair = frozenset(
                [
                    (row["source.ip"], row["source.port"]),
                    (row["destination.ip"], row["destination.port"]),
                ]
            )
            frames, size = found[proto].get(pair, (0, 0))
            found[proto][pair] = (frames + row["network.packets"], size + row["network.bytes"])
    return found


CAPTURES = [
    "dns.pcap",
    "dns_axfr.pcapng",
    "dns_lab.pcapng",
    "dns_tcp.pcapng",
    "dhcp_nolease_initialization.pcapng",
    "http_dvwa_sqlinjection.pcapng",
    "http_google.pcapng",
    "http_ip4and6.pcapng",
    "http_post.pcapng",
    "mail_sender_attachment.pcapng",
    "synscan.pcapng",
    "tcp_ports.pcapng",
    "tcp_retransmissions.pcapng",
    "arppoison.pcapng",
]


@pytest.mark.parametrize("name", CAPTURES)
def test_flows_match_tshark(shared_data: Path, name: str) -> None:
    if shutil.which("tshark") is None:
        pytest.skip(TSHARK_MISSING)
    path = shared_data / "pcap" / name
    ours = our_conversations(path)
    for proto in ("tcp", "udp"):
        theirs = tshark_conversations(path, proto)
        assert ours[proto] == theirs, f"{name} {proto}"


def test_packet_counts_match_tshark(shared_data: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip(TSHARK_MISSING)
    for path in sorted((shared_data / "pcap").glob("*.pcap*")):
        engine = PacketEngine(path)
        for _ in engine.run():
            pass
        out = subprocess.run(
            ["tshark", "-r", str(path), "-T", "fields", "-e", "frame.len"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert engine.stats.packets == len(out), path.name
        assert engine.stats.bytes == sum(int(x) for x in out), path.name


def test_scan_capture_states(shared_data: Path) -> None:
    """The SYN scan: one flow per probed port, nearly all unanswered or refused."""
    rows = []
    for result in PacketEngine(shared_data / "pcap" / "synscan.pcapng").run():
        if result.flows is not None:
            rows.extend(result.flows.to_pylist())
    tcp = [r for r in rows if r["network.transport"] == "tcp"]
    ports = {r["destination.port"] for r in tcp}
    assert len(ports) > 900
    states = Counter(r["conn_state"] for r in tcp)
    failed = sum(states[s] for s in ("S0", "REJ", "RSTOS0", "RSTO", "RSTR", "SH", "OTH"))
    assert failed / len(tcp) > 0.95
    assert {r["source.ip"] for r in tcp} == {"172.16.0.8"}
