"""The packet part of the story: a capture from the server network's tap.

web01, whose DNS tunnel the DNS sensor finds, also checks in with a second command-and-control
server over HTTPS every minute or so (a little jitter, nearly the same size each time) for six
hours, seen only by the tap; the attacker's foothold
sweeps the server network's ports, and around them ordinary web and DNS traffic goes on. The
capture is written as a real pcap with :mod:`tocsin.pcap.synth`, so ``tocsin pcap import`` reads
it like any tap's file and the network analytics find the beacon and the scan in its flows.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from tocsin.demo.common import ATTACKER_IP, DC_IP, MGMT_IP, WEB_IP
from tocsin.pcap import synth
from tocsin.pcap.writer import write_pcap

BEACON_SOURCE = WEB_IP
BEACON_TARGET = "198.51.100.80"
SCAN_SOURCE = ATTACKER_IP
SCAN_TARGET = MGMT_IP
BEACON_PORT = 443
BEACON_INTERVAL_S = 60.0


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


def write_capture(folder: Path, end: datetime, *, seed: int = 7) -> Path:
    """Write the tap's capture of the last hours before ``end``; returns its path."""
    rng = random.Random(seed)  # noqa: S311 - demo traffic, not secrets
    folder.mkdir(parents=True, exist_ok=True)
    start = end - timedelta(hours=7)
    beacon = synth.beacon(
        BEACON_SOURCE,
        BEACON_TARGET,
        BEACON_PORT,
        start_ns=_ns(start + timedelta(minutes=10)),
        interval_s=BEACON_INTERVAL_S,
        count=360,
        jitter_s=3.0,
        payload_size=310,
        size_jitter=6,
        seed=seed,
    )
    scan = synth.syn_scan(
        SCAN_SOURCE,
        SCAN_TARGET,
        list(range(1, 1025)),
        start_ns=_ns(end - timedelta(hours=2)),
        rate_pps=200.0,
        open_ports=[22, 443, 445],
    )
    sweep = synth.host_sweep(
        SCAN_SOURCE,
        [f"10.10.30.{host}" for host in range(1, 120)],
        445,
        start_ns=_ns(end - timedelta(hours=1, minutes=50)),
        answering=[DC_IP, WEB_IP],
    )
    background: list[tuple[int, bytes]] = []
    when = start
    while when < end:
        client = f"10.10.20.{rng.randint(20, 80)}"
        size = rng.randint(1_000, 20_000)
        request = b"GET /portal/index.html HTTP/1.1\r\nHost: intranet.corp.example\r\n\r\n"
        background += synth.tcp_session(
            client,
            WEB_IP,
            rng.randint(40_000, 60_000),
            80,
            [(request, b"HTTP/1.1 200 OK\r\n\r\n" + b"p" * size)],
            start_ns=_ns(when),
        )
        query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x03www\x00\x00\x01\x00\x01"
        background += synth.udp_exchange(
            client, DC_IP, rng.randint(1_024, 65_000), 53, query, query, start_ns=_ns(when)
        )
        when += timedelta(seconds=rng.expovariate(1 / 45))
    path = folder / "tap-servers.pcap"
    write_pcap(path, synth.merge(beacon, scan, sweep, background), synth.LINKTYPE_ETHERNET)
    return path
