"""Packets to flows: tocsin against tshark and dpkt on the same large capture, and memory.

Builds a capture from the shared real ones (``pcap_build.py``: addresses and times rewritten per
round, so flows stay distinct and time moves forward), then times, on one core each:

* tocsin: ``PacketEngine`` over the file, every flow out as Arrow (Community IDs included);
* tocsin with metadata: the same plus DNS, DHCP, ARP, HTTP (with file hashes) and TLS events;
* tshark 4: ``tshark -q -z conv,tcp -z conv,udp`` (its conversation tables: the same job);
* dpkt: a plain Python loop that decodes Ethernet/IP/TCP/UDP with dpkt and folds a dict of
  5-tuples (what a Python user would write with the usual library).

``--memory`` also builds a 2 GiB capture and reports tocsin's peak resident memory on it (in a
child process, so nothing else is counted).

    python benchmarks/bench_pcap.py                      # 1 GiB realistic mix + 256 MiB scan mix
    python benchmarks/bench_pcap.py --mb 300 --no-peers  # quicker, tocsin only
    python benchmarks/bench_pcap.py --memory             # plus the 2 GiB memory run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pcap_build import build  # noqa: E402

from tocsin.pcap.engine import PacketEngine  # noqa: E402


def run_tocsin(path: Path) -> dict[str, float]:
    """Flows of the capture with tocsin's engine."""
    started = time.perf_counter()
    engine = PacketEngine(path)
    flows = 0
    for result in engine.run():
        if result.flows is not None:
            flows += result.flows.num_rows
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "packets": engine.stats.packets, "flows": flows}


def run_tocsin_meta(path: Path) -> dict[str, float]:
    """Flows plus protocol metadata (DNS, DHCP, ARP, HTTP with files, TLS), nothing written."""
    from tocsin.pcap.meta import MetadataExtractor

    started = time.perf_counter()
    engine = PacketEngine(path)
    extractor = MetadataExtractor(engine.cid, engine.stats.anomalies)
    flows = events = 0
    for result in engine.run():
        if result.flows is not None:
            flows += result.flows.num_rows
        events += len(extractor.batch(result))
    events += len(extractor.close())
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "packets": engine.stats.packets, "flows": flows, "events": events}


def run_tshark(path: Path) -> dict[str, float] | None:
    """tshark's TCP and UDP conversation tables."""
    if shutil.which("tshark") is None:
        return None
    started = time.perf_counter()
    out = subprocess.run(
        ["tshark", "-r", str(path), "-q", "-z", "conv,tcp", "-z", "conv,udp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seconds = time.perf_counter() - started
    flows = sum(1 for line in out.splitlines() if "<->" in line)
    return {"seconds": seconds, "flows": flows}


def run_dpkt(path: Path) -> dict[str, float] | None:
    """A dict of 5-tuples folded with dpkt's decoders."""
    try:
        import dpkt  # type: ignore[import-untyped]
    except ImportError:
        return None
    started = time.perf_counter()
    flows: dict[tuple[object, ...], list[int]] = {}
    packets = 0
    with path.open("rb") as handle:
        for _ts, raw in dpkt.pcap.Reader(handle):
            packets += 1
            try:
                eth = dpkt.ethernet.Ethernet(raw)
            except (dpkt.UnpackError, ValueError):
                continue
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
                continue
            l4 = ip.data
            sport = getattr(l4, "sport", 0)
            dport = getattr(l4, "dport", 0)
            a, b = (ip.src, sport), (ip.dst, dport)
            key = (ip.p, *sorted([a, b]))
            entry = flows.get(key)
            if entry is None:
                flows[key] = [1, len(raw)]
            else:
                entry[0] += 1
                entry[1] += len(raw)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "packets": packets, "flows": len(flows)}


def peak_memory(path: Path) -> float:
    """tocsin's peak resident memory (MiB) over a capture, measured in a child process."""
    code = (
        "import resource, sys; from pathlib import Path\n"
        "from tocsin.pcap.engine import PacketEngine\n"
        "for r in PacketEngine(Path(sys.argv[1])).run(): pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    # the child reports its own peak: RUSAGE_CHILDREN would include tshark's runs
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return int(out.split()[-1]) / 1024


def bench(path: Path, peers: bool) -> dict[str, object]:
    """Every tool on one file."""
    ours = run_tocsin(path)
    row: dict[str, object] = {
        "file_mb": round(path.stat().st_size / 2**20),
        "packets": ours["packets"],
        "tocsin": {
            "seconds": round(ours["seconds"], 2),
            "flows": ours["flows"],
            "packets_per_s": round(ours["packets"] / ours["seconds"]),
        },
    }
    meta = run_tocsin_meta(path)
    row["tocsin_metadata"] = {
        "seconds": round(meta["seconds"], 2),
        "protocol_events": meta["events"],
        "packets_per_s": round(meta["packets"] / meta["seconds"]),
    }
    if peers:
        for name, runner in (("tshark", run_tshark), ("dpkt", run_dpkt)):
            got = runner(path)
            if got is not None:
                row[name] = {
                    "seconds": round(got["seconds"], 2),
                    "flows": got["flows"],
                    "packets_per_s": round(ours["packets"] / got["seconds"]),
                }
    return row


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="realistic capture size, MiB")
    parser.add_argument("--scan-mb", type=int, default=256, help="scan capture size, MiB")
    parser.add_argument("--no-peers", action="store_true", help="tocsin only")
    parser.add_argument("--memory", action="store_true", help="add the 2 GiB memory run")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="tocsin-pcap-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
    }
    try:
        for mix, size in (("realistic", args.mb), ("scan", args.scan_mb)):
            path = folder / f"{mix}.pcap"
            build(path, megabytes=size, mix=mix)
            results[mix] = bench(path, not args.no_peers)
            path.unlink()
            print(json.dumps({mix: results[mix]}), file=sys.stderr)
        if args.memory:
            path = folder / "memory.pcap"
            build(path, megabytes=2048, mix="realistic")
            results["memory_2gib_peak_rss_mb"] = round(peak_memory(path))
            path.unlink()
    finally:
        if args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
