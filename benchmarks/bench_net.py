"""Network analytics over a large lake: every detector over N flows (default 5 million).

Writes a synthetic day of Zeek-like ``conn`` flows (and TLS client hellos with JA3s) straight to
Parquet in the lake's layout (the ingest path has its own benchmarks): 2,000 internal hosts
talking to 30,000 external servers at random times (Zipf popularity, 2 % failed connections,
sizes and durations from log-normal laws), with planted threats: 20 beacons (every 1 to 10
minutes, +-10 % jitter), 5 vertical and 5 horizontal scans, 3 long connections, 2 exfiltration
bursts against a week of baseline, 10 connections to addresses of a 1,000-address indicator
feed and 5 rare JA3s. The hard background case is planted too: 500 same-size services calling
20 to 40 times a day at random times (what the small-sample correction is for).

Then, in this process, it times ``hunt_net`` (all six detectors, no alerts written; the
fingerprint history built from the week before), then the same window with the rare-fingerprint
detector alone (its history now from the file), and prints throughput, recall, false positives
and peak RSS. The lake is
built in a child process, so the peak RSS is the hunt's.

    python benchmarks/bench_net.py                       # 5,000,000 flows
    python benchmarks/bench_net.py --flows 1000000 --keep /tmp/netlake
    python benchmarks/bench_net.py --set beacon.prior_intervals=0   # a threshold overridden
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tocsin.core.settings import Settings
from tocsin.lake.layout import file_name, partition_dir
from tocsin.network.fingerprints import history_path
from tocsin.network.hunt import hunt_net

END = datetime(2026, 11, 20, tzinfo=UTC)
START = END - timedelta(hours=24)
WEEK = START - timedelta(days=7)
CHUNK = 500_000
INSIDE, OUTSIDE, FEED = 2000, 30_000, 1000
BACKGROUND_MAX = OUTSIDE - FEED - 21  # the feed and the exfiltration targets are planted only
US = 1_000_000
STATES = np.array(["SF", "S1", "RSTO", "S0", "REJ"], dtype=object)
SF, S0, REJ = 0, 3, 4


def internal_hosts(count: int) -> np.ndarray:
    """Internal addresses in 10.0.0.0/8."""
    return np.array([f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}" for i in range(count)])


def external_hosts(count: int, rng: np.random.Generator) -> np.ndarray:
    """Public-looking addresses, distinct, none in private or documentation ranges."""
    found: set[str] = set()
    while len(found) < count:
        a, b, c, d = (int(v) for v in rng.integers((11, 0, 0, 1), (223, 256, 256, 255)))
        if a in (100, 127, 169, 172, 192, 198, 203):
            continue
        found.add(f"{a}.{b}.{c}.{d}")
    return np.array(sorted(found))


def _strings(pool: np.ndarray, index: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(index, pa.int32()), pa.array(pool.tolist(), pa.string())
    ).cast(pa.string())


def _ids(prefix: str, start: int, n: int) -> pa.Array:
    numbers = pc.cast(pa.array(np.arange(start, start + n)), pa.string())
    return pc.binary_join_element_wise(pa.array([prefix] * n), numbers, "-")


def _write(lake: Path, dataset: str, table: pa.Table) -> None:
    """One sorted Parquet file per day of the table, named as the lake writer names them."""
    table = table.sort_by("@timestamp")
    stamps = table.column("@timestamp").cast(pa.int64()).to_numpy()
    days = stamps // (86_400 * US)
    for day in np.unique(days):
        part = table.filter(pa.array(days == day))
        first, last = int(stamps[days == day][0]), int(stamps[days == day][-1])
        folder = partition_dir(lake, dataset, datetime.fromtimestamp(first / US, UTC).date())
        folder.mkdir(parents=True, exist_ok=True)
        name = file_name(first, last, part.num_rows, uuid.uuid4().hex[:12])
        pq.write_table(part, folder / name, row_group_size=128 * 1024, compression="lz4")


class Flows:
    """Flow columns collected piece by piece (source and destination as indexes into pools)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.pieces: list[dict[str, np.ndarray]] = []

    def add(
        self,
        ts: Iterable[float] | np.ndarray,
        src: int | np.ndarray,
        dst: int | np.ndarray,
        dport: int | np.ndarray,
        sent: int | np.ndarray,
        received: int | np.ndarray,
        duration_ns: int | np.ndarray,
        state: int | np.ndarray = SF,
    ) -> None:
        """Flows at the times ``ts`` (microseconds); scalars apply to all."""
        times = np.asarray(ts, dtype=np.int64)
        n = len(times)

        def full(value: int | np.ndarray, dtype: type) -> np.ndarray:
            return np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()

        self.pieces.append(
            {
                "ts": times,
                "src": full(src, np.int32),
                "dst": full(dst, np.int32),
                "dport": full(dport, np.int64),
                "sport": self.rng.integers(32768, 61000, n),
                "sent": full(sent, np.int64),
                "received": full(received, np.int64),
                "duration": full(duration_ns, np.int64),
                "state": full(state, np.int32),
            }
        )

    def count(self) -> int:
        """Flows collected."""
        return sum(len(p["ts"]) for p in self.pieces)

    def table(self, pools: dict[str, np.ndarray], start_id: int) -> pa.Table:
        """The collected flows as a lake table (event ids from ``start_id``)."""
        cols = {k: np.concatenate([p[k] for p in self.pieces]) for k in self.pieces[0]}
        n = len(cols["ts"])
        return pa.table(
            {
                "@timestamp": pa.array(cols["ts"], pa.timestamp("us", tz="UTC")),
                "event.id": _ids("bnet", start_id, n),
                "event.dataset": pa.array(["zeek.conn"] * n),
                "source.ip": _strings(pools["src"], cols["src"]),
                "source.port": pa.array(cols["sport"], pa.int64()),
                "destination.ip": _strings(pools["dst"], cols["dst"]),
                "destination.port": pa.array(cols["dport"], pa.int64()),
                "network.transport": pa.array(["tcp"] * n),
                "source.bytes": pa.array(cols["sent"], pa.int64()),
                "destination.bytes": pa.array(cols["received"], pa.int64()),
                "event.duration": pa.array(cols["duration"], pa.int64()),
                "conn_state": _strings(STATES, cols["state"]),
            }
        )


def plant(flows: Flows, inside: np.ndarray, outside: np.ndarray) -> dict[str, list[list[str]]]:
    """The planted threats (and the same-size services); returns the ground truth."""
    rng = flows.rng
    start, day = int(START.timestamp() * US), 86_400 * US
    truth: dict[str, list[list[str]]] = {
        k: [] for k in ("beacon", "vertical", "horizontal", "long", "exfil", "indicator", "service")
    }
    hosts = rng.permutation(INSIDE)  # distinct internal hosts for each planted role
    role = iter(hosts.tolist())
    for i in range(20):
        every = 60 * (1 + i % 10)
        count = 86_400 // every
        t = start + rng.uniform(0, every) * US + np.arange(count) * every * US
        t += rng.uniform(-0.1, 0.1, count) * every * US
        src, dst = next(role), int(rng.integers(0, BACKGROUND_MAX))
        flows.add(t, src, dst, 443, 300 + rng.integers(-5, 5, count), 900, 300_000_000)
        truth["beacon"].append([str(inside[src]), str(outside[dst])])
    for _ in range(500):  # same-size services at random times: not beacons
        count = int(rng.integers(20, 41))
        src, dst = int(rng.integers(0, INSIDE)), int(rng.integers(0, BACKGROUND_MAX))
        flows.add(np.sort(start + rng.uniform(0, day, count)), src, dst, 443, 400, 900, 10**8)
        truth["service"].append([str(inside[src]), str(outside[dst])])
    for _ in range(5):
        src, dst = next(role), next(role)
        t = start + int(rng.uniform(0, 20)) * 3600 * US + np.arange(1000) * 200_000
        flows.add(t, src, OUTSIDE + dst, np.arange(1, 1001), 0, 0, 0, S0)
        truth["vertical"].append([str(inside[src]), str(inside[dst])])
        src = next(role)
        t = start + int(rng.uniform(0, 20)) * 3600 * US + np.arange(500) * 500_000
        targets = OUTSIDE + rng.choice(INSIDE, 500, replace=False)
        flows.add(t, src, targets, 445, 0, 0, 0, REJ)
        truth["horizontal"].append([str(inside[src])])
    for i in range(3):
        src, dst = next(role), int(rng.integers(0, BACKGROUND_MAX))
        flows.add([start + i * 3600 * US], src, dst, 22, 10**6, 10**7, (3 + i) * 3600 * 10**9)
        truth["long"].append([str(inside[src]), str(outside[dst])])
    week = int(WEEK.timestamp() * US)
    for i in range(2):
        src, dst = next(role), BACKGROUND_MAX + 1 + i
        t = start + (12 + i) * 3600 * US + np.arange(10) * 300 * US
        flows.add(t, src, dst, 443, 80_000_000, 10_000, 200 * 10**9)
        truth["exfil"].append([str(inside[src]), str(outside[dst])])
        # a week of habit for the exfiltrating host: 2 MB an hour to a popular server
        flows.add(week + np.arange(7 * 24) * 3600 * US, src, 0, 443, 2_000_000, 10_000, 10**9)
    for i in range(10):
        src, dst = next(role), OUTSIDE - FEED + i
        flows.add([start + i * 600 * US], src, dst, 443, 500, 500, 10**9)
        truth["indicator"].append([str(inside[src]), str(outside[dst])])
    return truth


def background(flows: Flows, n: int) -> None:
    """``n`` benign flows of the day: random hosts, popular servers, ordinary sizes."""
    rng = flows.rng
    start, day = int(START.timestamp() * US), 86_400 * US
    # popular servers are popular: a Zipf-like pick of the destination
    dst = np.minimum((rng.pareto(1.2, n) * 300).astype(np.int64), BACKGROUND_MAX - 1)
    failed = rng.random(n) < 0.02
    state = np.where(failed, rng.choice([S0, REJ], n), rng.choice([SF, SF, SF, 1, 2], n))
    flows.add(
        start + rng.integers(0, day, n),
        rng.integers(0, INSIDE, n),
        dst,
        rng.choice(np.array([443, 443, 443, 80, 53, 8080, 22]), n),
        rng.lognormal(7, 1.5, n).astype(np.int64),
        np.where(failed, 0, rng.lognormal(9, 2, n).astype(np.int64)),
        # connections of seconds to minutes; none over ten minutes (the long ones are planted)
        np.minimum(rng.lognormal(20, 2, n), 600e9).astype(np.int64),
        state,
    )


def tls_events(lake: Path, rng: np.random.Generator, inside: np.ndarray, n: int) -> list[str]:
    """JA3s of the week before and of the window from a pool of 40, and 5 rare ones planted."""
    pool = np.array([f"{i:032x}" for i in range(0xA0, 0xA0 + 40)])
    rare = [f"{i:032x}" for i in range(0xF0, 0xF5)]
    servers = np.array(["151.101.1.1", "142.250.1.1", "13.107.42.14"])
    week, start = int(WEEK.timestamp() * US), int(START.timestamp() * US)
    seen = 0
    for first, span, count in ((week, 7 * 86_400 * US, n), (start, 86_400 * US, n)):
        src = rng.integers(0, INSIDE, count)
        value = np.minimum(rng.zipf(1.6, count) - 1, len(pool) - 1)
        table = pa.table(
            {
                "@timestamp": pa.array(
                    first + rng.integers(0, span, count), pa.timestamp("us", tz="UTC")
                ),
                "event.id": _ids("btls", seen, count),
                "event.dataset": pa.array(["zeek.ssl"] * count),
                "source.ip": _strings(inside, src),
                "destination.ip": _strings(servers, rng.integers(0, 3, count)),
                "tls.client.ja3": _strings(pool, value),
            }
        )
        _write(lake, "zeek.ssl", table)
        seen += count
    planted = pa.table(
        {
            "@timestamp": pa.array(
                [start + (6 + i) * 3600 * US + k * US for i in range(5) for k in range(3)],
                pa.timestamp("us", tz="UTC"),
            ),
            "event.id": _ids("btls", seen, 15),
            "event.dataset": pa.array(["zeek.ssl"] * 15),
            "source.ip": pa.array([str(inside[i]) for i in range(5) for _ in range(3)]),
            "destination.ip": pa.array(["198.18.0.1"] * 15),
            "tls.client.ja3": pa.array([v for v in rare for _ in range(3)]),
        }
    )
    _write(lake, "zeek.ssl", planted)
    return rare


def build_lake(lake: Path, total: int, seed: int = 8) -> dict[str, Any]:
    """Write the synthetic lake; returns the ground truth and the feed."""
    rng = np.random.default_rng(seed)
    inside = internal_hosts(INSIDE)
    outside = external_hosts(OUTSIDE, rng)
    pools = {"src": inside, "dst": np.concatenate([outside, inside])}
    planted = Flows(rng)
    truth = plant(planted, inside, outside)
    in_window = sum(int((p["ts"] >= START.timestamp() * US).sum()) for p in planted.pieces)
    written = planted.count()
    _write(lake, "zeek.conn", planted.table(pools, 0))
    remaining = max(total - in_window, 0)
    while remaining > 0:
        n = min(CHUNK, remaining)
        chunk = Flows(rng)
        background(chunk, n)
        _write(lake, "zeek.conn", chunk.table(pools, written))
        written += n
        remaining -= n
    rare = tls_events(lake, rng, inside, max(total // 20, 1000))
    return {
        "truth": truth,
        "rare": rare,
        "feed": outside[OUTSIDE - FEED :].tolist(),
        "flows": total,
    }


def _build(home: str, flows: int) -> None:
    """The child process: build the lake and record what was planted."""
    built = build_lake(Path(home) / "lake", flows)
    built["requested"] = flows
    (Path(home) / "bench.json").write_text(json.dumps(built))


def cpu_model() -> str:
    """The CPU's model name (Linux), or the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    """Build the lake, run the hunt, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=5_000_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the home here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", help="duckdb_memory_limit (default: the setting's)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a net_thresholds entry"
    )
    args = parser.parse_args()
    home = args.keep or Path(tempfile.mkdtemp(prefix="tocsin-bench-net-"))
    home.mkdir(parents=True, exist_ok=True)
    marker = home / "bench.json"
    clock = time.perf_counter()
    if not (marker.is_file() and json.loads(marker.read_text()).get("requested") == args.flows):
        shutil.rmtree(home / "lake", ignore_errors=True)
        child = multiprocessing.get_context("spawn").Process(
            target=_build, args=(str(home), args.flows)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"building the lake failed (exit code {child.exitcode})")
        print(f"lake of {args.flows:,} flows written in {time.perf_counter() - clock:.1f} s")
    else:
        print(f"reusing the lake in {home}")
    built = json.loads(marker.read_text())
    feed = home / "feed.txt"
    feed.write_text("\n".join(built["feed"]) + "\n")
    history_file = history_path(Settings(home=home))
    history_file.unlink(missing_ok=True)  # the first hunt builds it from the week before
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    settings = Settings(
        home=home,
        duckdb_threads=args.threads,
        **({"duckdb_memory_limit": args.memory_limit} if args.memory_limit else {}),
        net_thresholds=overrides,
        intel_feeds=[{"name": "bench-feed", "source": str(feed), "format": "plain", "kind": "ip"}],
    )
    clock = time.perf_counter()
    report = hunt_net(settings, since=START, until=END, alerts=False)
    seconds = time.perf_counter() - clock
    # the same window again: the fingerprint history now comes from the file
    again = hunt_net(settings, since=START, until=END, detectors=["rare_fingerprint"], alerts=False)

    truth: dict[str, list[list[str]]] = built["truth"]
    planted_keys = {
        "net.beacon": {tuple(k) for k in truth["beacon"]},
        "net.scan": {tuple(k) for k in truth["vertical"]}
        | {(k[0], None) for k in truth["horizontal"]},
        "net.long_connection": {tuple(k) for k in truth["long"]},
        "net.exfiltration": {tuple(k) for k in truth["exfil"]},
        "net.indicator": {tuple(k) for k in truth["indicator"]},
    }
    found: dict[str, set[tuple[str | None, ...]]] = {}
    for f in report.findings:
        key: tuple[str | None, ...] = (f.src, f.dst)
        if f.detector == "net.rare_fingerprint":
            key = (str(f.fields.get("net.ja3")),)
        found.setdefault(f.detector, set()).add(key)
    planted_keys["net.rare_fingerprint"] = {(v,) for v in built["rare"]}

    def recall(detector: str, keys: Iterable[tuple[str | None, ...]]) -> float:
        wanted = set(keys)
        return round(len(wanted & found.get(detector, set())) / len(wanted), 3)

    services = {tuple(k) for k in truth["service"]}
    result = {
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "flows": report.flows,
        "fingerprint_events": report.fingerprints,
        "threads": args.threads,
        "thresholds": overrides,
        "hunt_seconds": round(seconds, 2),
        "flows_per_second": round(report.flows / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "steps": report.timings,
        "memory_limit": settings.duckdb_memory_limit,
        "rare_fingerprint_s": {
            "history_built_from_the_lake": report.timings.get("rare_fingerprint"),
            "history_from_the_file": again.timings.get("rare_fingerprint"),
        },
        "history_fingerprints": report.history_fingerprints,
        "findings": report.by_detector(),
        "recall": {
            "beacon": recall("net.beacon", planted_keys["net.beacon"]),
            "vertical_scan": recall("net.scan", {tuple(k) for k in truth["vertical"]}),
            "horizontal_scan": recall("net.scan", {(k[0], None) for k in truth["horizontal"]}),
            "long_connection": recall("net.long_connection", planted_keys["net.long_connection"]),
            "exfiltration": recall("net.exfiltration", planted_keys["net.exfiltration"]),
            "indicator": recall("net.indicator", planted_keys["net.indicator"]),
            "rare_fingerprint": recall(
                "net.rare_fingerprint", planted_keys["net.rare_fingerprint"]
            ),
            "rare_fingerprint_second_run": round(
                len({str(f.fields.get("net.ja3")) for f in again.findings} & set(built["rare"]))
                / len(built["rare"]),
                3,
            ),
        },
        "false_positives": {
            detector: len(keys - planted_keys.get(detector, set()))
            for detector, keys in sorted(found.items())
        },
        "same_size_services_called_beacons": len(found.get("net.beacon", set()) & services),
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "net.json").write_text(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
