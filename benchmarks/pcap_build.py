"""Build a large capture from the shared real ones, for the packet benchmarks.

Every Ethernet/IPv4/IPv6 packet of ``../shared/data/pcap`` is loaded once. One *round* lays the
captures side by side in time (each starting at the round's start, in its own order), then the
round is repeated until the file reaches the size asked for. Each round rewrites the addresses
(IPv4: the two middle octets, IPv6: bytes 8-9 of the address, XOR-ed with the round number, the
same for source and destination, so each conversation stays whole and each round's flows are new)
and moves time forward by the round's span plus one second. Checksums are not recomputed (no
tool in the benchmark verifies them). Records are written as classic pcap, nanosecond times.

Mixes (``--mix``):
  realistic  each capture weighted so the result has ~20 packets per flow, like office traffic
             (bulk TCP dominates; the SYN scan is included once per 10 rounds)
  scan       every capture once per round: the SYN scan dominates (~1.3 packets per flow), the
             worst case for flow output

    python benchmarks/pcap_build.py /tmp/bench.pcap --mb 500 --mix realistic
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import numpy as np

from tocsin.pcap.capture import CaptureReader

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pcap"

# per capture: how many times it appears in a realistic round (scan: 1 per 10 rounds)
REALISTIC = {
    "tcp_ports.pcapng": 4,
    "mail_sender_attachment.pcapng": 1,
    "http_post.pcapng": 6,
    "http_google.pcapng": 6,
    "http_dvwa_sqlinjection.pcapng": 4,
    "http_ip4and6.pcapng": 4,
    "dns_tcp.pcapng": 2,
    "dns_lab.pcapng": 1,
    "arppoison.pcapng": 1,
    "tcp_retransmissions.pcapng": 2,
    "ipv6_fragments.pcapng": 1,
    "icmp_traceroute.pcapng": 1,
}


def load(folder: Path) -> dict[str, list[tuple[int, bytes, int]]]:
    """Packets of each shared capture: (time from the capture's start, bytes, wire length)."""
    found: dict[str, list[tuple[int, bytes, int]]] = {}
    for path in sorted(folder.glob("*.pcap*")):
        packets: list[tuple[int, bytes, int]] = []
        for batch in CaptureReader(path):
            for i in range(len(batch)):
                if int(batch.linktype[i]) == 1:
                    packets.append((int(batch.ts[i]), batch.packet(i), int(batch.wirelen[i])))
        if packets:
            start = min(p[0] for p in packets)
            found[path.name] = [(t - start, d, w) for t, d, w in packets]
    return found


def _address_spots(data: bytes) -> list[int]:
    """Byte offsets to XOR with the round number: two per address, both addresses."""
    at, ethertype = 12, int.from_bytes(data[12:14], "big")
    while ethertype in (0x8100, 0x88A8) and len(data) >= at + 6:
        at += 4
        ethertype = int.from_bytes(data[at : at + 2], "big")
    ip = at + 2
    if ethertype == 0x0800 and len(data) >= ip + 20:
        return [ip + 13, ip + 14, ip + 17, ip + 18]
    if ethertype == 0x86DD and len(data) >= ip + 40:
        return [ip + 16, ip + 17, ip + 32, ip + 33]
    if ethertype == 0x0806 and len(data) >= ip + 28:  # ARP sender and target addresses
        return [ip + 15, ip + 16, ip + 25, ip + 26]
    return []


def round_template(
    captures: dict[str, list[tuple[int, bytes, int]]], weights: dict[str, int]
) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """One round as bytes, with where each record's time and address bytes are."""
    packets: list[tuple[int, bytes, int]] = []
    for name, count in weights.items():
        for copy in range(count):
            # copies inside a round differ in their last address octet so flows stay distinct
            for t, data, wire in captures.get(name, []):
                spots = _address_spots(data)
                changed = bytearray(data)
                for spot in spots[1::2]:
                    changed[spot] ^= copy
                packets.append((t + copy * 1000, bytes(changed), wire))
    packets.sort(key=lambda p: p[0])
    out = bytearray()
    ts_at: list[int] = []
    times: list[int] = []
    spots_at: list[int] = []
    for t, data, wire in packets:
        ts_at.append(len(out))
        times.append(t)
        spots_at.extend(len(out) + 16 + s for s in _address_spots(data)[0::2])
        out += struct.pack("<IIII", 0, 0, len(data), wire) + data
    span = max(times) + 1_000_000_000
    return (
        bytes(out),
        np.array(ts_at, dtype=np.int64),
        np.array(times, dtype=np.int64),
        np.array(spots_at, dtype=np.int64),
        span,
        len(packets),
    )


def build(path: Path, *, megabytes: int, mix: str, folder: Path = SHARED) -> dict[str, int]:
    """Write the capture; returns its packet and round counts."""
    captures = load(folder)
    if not captures:
        raise SystemExit(f"no captures under {folder}")
    full = dict.fromkeys(captures, 1)
    weights = full if mix == "scan" else {k: v for k, v in REALISTIC.items() if k in captures}
    template, ts_at, times, spots, span, count = round_template(captures, weights)
    scan_round = round_template(captures, {"synscan.pcapng": 1}) if mix == "realistic" else None
    target = megabytes * 2**20
    base_sec = 1_700_000_000
    written = rounds = packets = 0
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        while written < target:
            parts = [(template, ts_at, times, spots, count)]
            if scan_round is not None and rounds % 10 == 0:
                parts.append(scan_round[:4] + (scan_round[5],))
            for blob, at, rel, where, n in parts:
                buf = np.frombuffer(blob, dtype=np.uint8).copy()
                stamp = base_sec * 10**9 + rounds * span + rel
                secs = (stamp // 10**9).astype("<u4")
                nanos = (stamp % 10**9).astype("<u4")
                cells = np.stack([secs, nanos], axis=1).view(np.uint8).reshape(-1, 8)
                buf[at[:, None] + np.arange(8)] = cells
                key = np.array([(rounds >> 8) & 0xFF, rounds & 0xFF], dtype=np.uint8)
                buf[where] ^= key[0]
                buf[where + 1] ^= key[1]
                out.write(buf.tobytes())
                written += len(blob)
                packets += n
            rounds += 1
    return {"packets": packets, "rounds": rounds, "bytes": written + 24}


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--mb", type=int, default=500, help="size of the capture in MiB")
    parser.add_argument("--mix", choices=("realistic", "scan"), default="realistic")
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args(argv)
    figures = build(args.path, megabytes=args.mb, mix=args.mix, folder=args.shared)
    print(figures, file=sys.stderr)


if __name__ == "__main__":
    main()
