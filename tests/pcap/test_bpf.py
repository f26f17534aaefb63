"""The filter language: errors name what is wrong; matches agree with tcpdump's real BPF."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tocsin.core.errors import InvalidInputError
from tocsin.pcap.bpf import compile_filter
from tocsin.pcap.capture import CaptureReader
from tocsin.pcap.decode import decode

TCPDUMP_MISSING = "tcpdump is absent (Debian package tcpdump)"


def our_count(path: Path, expression: str) -> int:
    compiled = compile_filter(expression)
    total = 0
    for batch in CaptureReader(path):
        total += int(np.count_nonzero(compiled.mask(decode(batch))))
    return total


def tcpdump_count(path: Path, expression: str) -> int:
    out = subprocess.run(
        ["tcpdump", "-n", "-r", str(path), expression],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return len(out.splitlines())


CASES = [
    ("synscan.pcapng", "tcp"),
    ("synscan.pcapng", "dst port 443"),
    ("synscan.pcapng", "tcp dst port 80 or udp port 53"),
    ("synscan.pcapng", "src host 172.16.0.8 and (port 22 or port 80)"),
    ("synscan.pcapng", "not tcp"),
    ("http_ip4and6.pcapng", "ip6"),
    ("http_ip4and6.pcapng", "ip and tcp"),
    ("dns_lab.pcapng", "udp and port 53"),
    ("dns_lab.pcapng", "net 192.168.0.0/16 and not udp"),
    ("arppoison.pcapng", "arp"),
    ("tcp_ports.pcapng", "portrange 1-1024 and host 67.228.110.120"),
]


@pytest.mark.parametrize(("name", "expression"), CASES)
def test_filter_matches_tcpdump(shared_data: Path, name: str, expression: str) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip(TCPDUMP_MISSING)
    path = shared_data / "pcap" / name
    assert our_count(path, expression) == tcpdump_count(path, expression)


def test_filter_flags(shared_data: Path) -> None:
    path = shared_data / "pcap" / "synscan.pcapng"
    syn = our_count(path, "tcp-syn")
    rst = our_count(path, "tcp-rst")
    assert syn > 1900
    assert rst > 0
    assert our_count(path, "tcp-syn or tcp-rst") <= syn + rst


@pytest.mark.parametrize(
    ("expression", "quoted"),
    [
        ("", "empty filter"),
        ("port", "a port expected"),
        ("port 70000", "'70000' is not a port"),
        ("host 10.0.0.300", "'10.0.0.300' is not an address"),
        ("tcp and (port 80", "')' expected"),
        ("tcp port 80 bogus", "unexpected 'bogus'"),
        ("frobnicate", "unknown primitive 'frobnicate'"),
        ("src tcp", "src 'tcp'"),
    ],
)
def test_bad_filters_say_what(expression: str, quoted: str) -> None:
    with pytest.raises(InvalidInputError, match=quoted.replace("(", r"\(").replace(")", r"\)")):
        compile_filter(expression)
