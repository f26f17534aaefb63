"""Beacon detection on small samples: random pairs called beacons, and jittered beacons found.

Generates one day of outbound pairs in memory and runs ``detect_beacons`` on them twice: with
the small-sample correction (``beacon.prior_intervals``, the default) and without it (0).

* random pairs: 1,000 pairs for each of 20, 25, 30, 40, 60 and 100 connections at uniformly
  random times, every one 400 bytes (the hard case: a same-size service whose few intervals may
  look regular by chance);
* beacons: 200 pairs for each period (15, 30, 60 min) and jitter (+-10, 30, 50 % of the
  period), sizes 400 +- 20 bytes, over the whole day.

    python benchmarks/beacon_eval.py [--seed 2] [--prior 10 --prior 20 ...]
"""

from __future__ import annotations

import argparse
import ipaddress
from collections import Counter
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from tocsin.network.detectors import NetContext, detect_beacons, merge_thresholds

END = datetime(2026, 11, 20, tzinfo=UTC)
START = END - timedelta(days=1)
COUNTS = (20, 25, 30, 40, 60, 100)
PERIODS = (900, 1800, 3600)
JITTERS = (0.1, 0.3, 0.5)


def build(seed: int) -> tuple[pa.Table, dict[str, tuple[object, ...]]]:
    """The flows, and what each destination stands for."""
    rng = np.random.default_rng(seed)
    stamps: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    sources: list[str] = []
    targets: list[str] = []
    label: dict[str, tuple[object, ...]] = {}

    def add(kind: tuple[object, ...], times: np.ndarray, sent: np.ndarray) -> None:
        i = len(label)
        src = f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        dst = f"203.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        label[dst] = kind
        stamps.append(np.sort(times) + START.timestamp())
        sizes.append(sent)
        sources.extend([src] * len(times))
        targets.extend([dst] * len(times))

    for count in COUNTS:
        for _ in range(1000):
            add(("random", count), rng.uniform(0, 86400, count), np.full(count, 400))
    for period in PERIODS:
        for jitter in JITTERS:
            for _ in range(200):
                n = 86400 // period
                times = rng.uniform(0, period) + np.arange(n) * period
                times += rng.uniform(-jitter, jitter, n) * period
                sent = 400 + rng.integers(-20, 20, n)
                add(("beacon", period, jitter), np.clip(times, 0, 86399), sent)
    micros = (np.concatenate(stamps) * 1e6).astype(np.int64)
    table = pa.table(
        {
            "ts": pa.array(micros).cast(pa.timestamp("us", tz="UTC")),
            "src": sources,
            "dst": targets,
            "sbytes": np.concatenate(sizes).astype(np.int64),
        }
    )
    return table, label


def flagged(
    con: duckdb.DuckDBPyConnection, label: dict[str, tuple[object, ...]], prior: float
) -> Counter[tuple[object, ...]]:
    """How many pairs of each kind ``detect_beacons`` reports with this prior."""
    ctx = NetContext(
        con,
        START,
        END,
        merge_thresholds({"beacon.prior_intervals": prior}),
        [ipaddress.ip_network("10.0.0.0/8")],
        allowed=lambda _address: False,
    )
    return Counter(label[str(f.dst)] for f in detect_beacons(ctx))


def main() -> None:
    """Print, per prior, the random pairs called beacons and the beacons found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--prior", type=float, action="append")
    args = parser.parse_args()
    table, label = build(args.seed)
    con = duckdb.connect()
    con.register("generated", table)
    con.execute(
        "CREATE TEMP TABLE flows AS SELECT ts, src, NULL::BIGINT AS sport, dst, "
        "443::BIGINT AS dport, 'tcp' AS proto, sbytes, 0::BIGINT AS dbytes, "
        "NULL::DOUBLE AS duration, NULL::VARCHAR AS state, false AS probe, "
        "NULL::VARCHAR AS cid, NULL::VARCHAR AS id, 'bench' AS dataset FROM generated"
    )
    default = merge_thresholds({})["beacon.prior_intervals"]
    for prior in args.prior or [0.0, default]:
        found = flagged(con, label, prior)
        randoms = " ".join(f"{n}:{found[('random', n)]}" for n in COUNTS)
        print(f"prior {prior:g}: random pairs called beacons (of 1000 per count) {randoms}")
        for period in PERIODS:
            cells = " ".join(
                f"+-{jitter:.0%}:{found[('beacon', period, jitter)]}" for jitter in JITTERS
            )
            print(f"  beacons every {period // 60} min found (of 200): {cells}")


if __name__ == "__main__":
    main()
