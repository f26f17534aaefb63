"""Protocol events from packets: DNS transactions (UDP and TCP), read by the DNS sensor too."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tocsin.core.home import init_home
from tocsin.core.settings import Settings, load_settings
from tocsin.dns.views import dns_top
from tocsin.pcap import synth
from tocsin.pcap.importer import import_capture

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
T0 = int(NOW.timestamp()) * 10**9


def dns_wire(name: str, ident: int, *, answer: str | None = None, rcode: int = 0) -> bytes:
    """A DNS query, or its answer with one A record."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    flags = 0x0100 if answer is None and not rcode else 0x8180 | rcode
    count = 1 if answer else 0
    head = struct.pack("!HHHHHH", ident, flags, 1, count, 0, 0) + qname + b"\0\x01\0\x01"
    if answer:
        head += b"\xc0\x0c\0\x01\0\x01\0\0\x0e\x10\0\x04" + bytes(int(x) for x in answer.split("."))
    return head


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    settings = load_settings(home=tmp_path / "home")
    init_home(settings)
    return settings


def dataset(settings: Settings, name: str) -> list[dict[str, object]]:
    files = [str(p) for p in settings.lake_dir.glob(f"dataset={name}/*/*.parquet")]
    if not files:
        return []
    query = 'SELECT * FROM read_parquet($f, union_by_name=true) ORDER BY "@timestamp"'
    return duckdb.sql(query, params={"f": files}).to_arrow_table().to_pylist()


def test_dns_transactions_from_packets(home: Settings, write_capture: Callable[..., Path]) -> None:
    frames = synth.merge(
        synth.udp_exchange(
            "10.0.0.5",
            "10.0.0.53",
            5000,
            53,
            dns_wire("example.com", 1),
            dns_wire("example.com", 1, answer="93.184.216.34"),
            start_ns=T0,
        ),
        synth.udp_exchange(
            "10.0.0.6",
            "10.0.0.53",
            5001,
            53,
            dns_wire("gone.example", 2),
            dns_wire("gone.example", 2, rcode=3),
            start_ns=T0 + 10**9,
        ),
        synth.udp_exchange(
            "10.0.0.7",
            "10.0.0.53",
            5002,
            53,
            dns_wire("lost.example", 3),
            None,
            start_ns=T0 + 2 * 10**9,
        ),
        synth.udp_exchange(
            "10.0.0.8", "10.0.0.53", 5003, 53, b"\x00\x01garbage", None, start_ns=T0 + 3 * 10**9
        ),
    )
    result = import_capture(home, write_capture(frames), detection=False)
    assert result.events["pcap.dns"] == 3
    assert result.anomalies["counts"] == {"dns_malformed": 1}
    rows = {r["dns.question.name"]: r for r in dataset(home, "pcap.dns")}
    answered = rows["example.com"]
    assert (answered["source.ip"], answered["destination.ip"]) == ("10.0.0.5", "10.0.0.53")
    assert answered["dns.answers.data"] == ["93.184.216.34"]
    assert answered["dns.response_code"] == "NOERROR"
    assert answered["event.duration"] == 1_000_000
    assert answered["flow.id"].startswith(result.capture_id)
    assert rows["gone.example"]["dns.response_code"] == "NXDOMAIN"
    assert rows["lost.example"]["dns.type"] == "query"
    assert len({r["event.id"] for r in rows.values()}) == 3
    # the DNS sensor reads pcap.dns like any DNS source, each lookup once, by its client
    top = dns_top(home, since=NOW - timedelta(hours=1), until=NOW + timedelta(hours=1))
    assert top.lookups == 3
    assert top.clients == 3
    assert top.nx == 1


@pytest.mark.parametrize("name", ["dns_lab.pcapng", "dns_tcp.pcapng", "dns_axfr.pcapng"])
def test_shared_dns_captures_match_tshark(home: Settings, shared_data: Path, name: str) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is absent (Debian package tshark)")
    path = shared_data / "pcap" / name
    import_capture(home, path, detection=False)
    ours = sorted(str(r["dns.question.name"]) for r in dataset(home, "pcap.dns"))
    theirs = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            "dns.flags.response==0",
            "-T",
            "fields",
            "-e",
            "dns.qry.name",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert ours == sorted(theirs)
    codes = {
        str(r["dns.question.name"]): r.get("dns.response_code") for r in dataset(home, "pcap.dns")
    }
    if name == "dns_lab.pcapng":
        assert codes["test.chrissanders.org"] == "NXDOMAIN"
        assert codes["google.com"] == "NOERROR"


HTTP_CAPTURES = [
    "http_post.pcapng",
    "http_google.pcapng",
    "http_dvwa_sqlinjection.pcapng",
    "http_ip4and6.pcapng",
    "http_dvwa_directorytraversal.pcapng",
]


@pytest.mark.parametrize("name", HTTP_CAPTURES)
def test_http_transactions_match_tshark(home: Settings, shared_data: Path, name: str) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is absent (Debian package tshark)")
    path = shared_data / "pcap" / name
    result = import_capture(home, path, detection=False)
    rows = dataset(home, "pcap.http")
    theirs = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            "http.request",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "http.request.method",
            "-e",
            "http.request.full_uri",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert sorted(f"{r['http.request.method']}|{r['url.full']}" for r in rows) == sorted(theirs)
    codes = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            "http.response",
            "-T",
            "fields",
            "-e",
            "http.response.code",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(str(r["http.response.status_code"]) for r in rows) == sorted(codes)
    assert all(r["flow.id"].startswith(result.capture_id) for r in rows)
    files = dataset(home, "pcap.file")
    assert len(files) == result.events.get("pcap.file", 0) > 0
    assert all(len(str(f["file.hash.sha256"])) == 64 for f in files)


@pytest.mark.parametrize("name", ["http_post.pcapng", "http_google.pcapng"])
def test_http_files_hash_like_tshark_exports(
    home: Settings, shared_data: Path, tmp_path: Path, name: str
) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is absent (Debian package tshark)")
    import hashlib

    path = shared_data / "pcap" / name
    import_capture(home, path, detection=False)
    out = tmp_path / "objects"
    out.mkdir()
    subprocess.run(
        ["tshark", "-r", str(path), "--export-objects", f"http,{out}"],
        capture_output=True,
        check=True,
    )
    theirs = {hashlib.sha256(f.read_bytes()).hexdigest() for f in out.iterdir() if f.stat().st_size}
    ours = {str(f["file.hash.sha256"]) for f in dataset(home, "pcap.file")}
    assert ours == theirs
