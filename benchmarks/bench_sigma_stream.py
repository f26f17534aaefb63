"""Sigma in the ingest pipeline: all SigmaHQ rules on a synthetic mix (budget: 50,000 events/s).

    python benchmarks/bench_sigma_stream.py [--events 500000] [--batch 5000] [--rounds 3]

Writes the demo scenario (``tocsin.demo.scenario.write_scenario``: Sysmon and Security NDJSON,
Linux auth/syslog/auditd, Suricata EVE, Zeek conn and dns) into a temporary folder, parses its
files with the ingest parsers and normalisation (as ``tocsin ingest`` and ``tocsin scan`` do),
and replicates the events into at least ``--events`` events with fresh ``event.id`` and moved
``@timestamp``. All three SigmaHQ rule sets (``rules``, ``rules-emerging-threats``,
``rules-threat-hunting``) are loaded through the compiled-rule cache (timed apart).

What is timed is the detection stage's work on each batch of ``--batch`` events: a
``tocsin.detect.runner.Detector`` over the engine, ``detector.run(batch)`` (matching and
correlation; alerts off, so no workspace). Each round forks one worker, then two, after
loading; each worker makes its own share of the copies. Results go to
benchmarks/out/bench_sigma_stream.json.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from sigmabench import (  # noqa: E402
    OUT,
    all_rule_sets,
    batches,
    copies_for,
    load_average,
    peak_rss_mib,
    read_events,
    require,
    run_forked,
    save,
    spread,
    time_span,
)

BUDGET = 50_000.0
SCENARIO_END = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def main() -> None:
    """Write the scenario, load all rules, replicate and run the stage; print and save."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT / "bench_sigma_stream.json")
    args = parser.parse_args()
    require(*all_rule_sets())

    from tocsin.demo.scenario import write_scenario
    from tocsin.detect.cache import load_engine
    from tocsin.detect.runner import Detector

    print(f"load average before: {load_average()}")
    work = Path(tempfile.mkdtemp(prefix="tocsin-sigma-stream-"))
    try:
        started = time.perf_counter()
        first = load_engine(all_rule_sets(), cache_dir=work / "cache")
        first_seconds = time.perf_counter() - started
        del first
        started = time.perf_counter()
        loaded = load_engine(all_rule_sets(), cache_dir=work / "cache")
        cached_seconds = time.perf_counter() - started
        files = write_scenario(work / "scenario", end=SCENARIO_END)
        base, read_seconds, _ = read_events(files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    engine = loaded.engine
    failed = len({(i.path, i.rule_id) for i in engine.issues if i.severity == "error"})
    print(
        f"rules: {len(engine.compiled) + len(engine.correlations):,} loaded "
        f"({len(engine.correlations)} correlations), {failed} failed; first load "
        f"{first_seconds:.2f} s, from the cache {cached_seconds:.2f} s"
    )
    datasets = collections.Counter(str(e.get("event.dataset")) for e in base)
    copies = copies_for(args.events, len(base))
    total = copies * len(base)
    shift = time_span(base)
    print(
        f"events: {len(base):,} from {len(files)} scenario files (parsed in "
        f"{read_seconds:.2f} s), x {copies} copies = {total:,} events"
    )
    print(
        "mix: "
        + ", ".join(f"{name} {count / len(base):.0%}" for name, count in datasets.most_common())
    )

    # the reference, in a child so the workers start from an empty plan: every copy of the
    # events must give the same matches
    reference, _ = run_forked(1, lambda w, n: {"matches": len(Detector(engine).run(base).matches)})
    per_copy_matches = int(reference[0]["matches"])

    def job(worker: int, workers: int) -> dict[str, Any]:
        detector = Detector(engine)
        mine = list(range(worker, copies, workers))
        events = matches = firings = 0
        seconds = cpu_seconds = 0.0
        latencies: list[float] = []
        for batch in batches(base, mine, shift, args.batch):
            started = time.perf_counter()
            cpu = time.process_time()
            detection = detector.run(batch)
            cpu_seconds += time.process_time() - cpu
            elapsed = time.perf_counter() - started
            seconds += elapsed
            latencies.append(elapsed)
            events += len(batch)
            matches += len(detection.matches)
            firings += len(detection.firings)
        firings += len(detector.finish().firings)
        latencies.sort()
        return {
            "events": events,
            "matches": matches,
            "firings": firings,
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "batch_median_ms": latencies[len(latencies) // 2] * 1000,
            "batch_max_ms": latencies[-1] * 1000,
            "peak_rss_mib": peak_rss_mib(),
        }

    results: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for round_number in range(1, args.rounds + 1):
        for workers in (1, 2):
            parts, wall = run_forked(workers, job)
            events = sum(p["events"] for p in parts)
            row = {
                "events": events,
                "matches": sum(p["matches"] for p in parts),
                "firings": sum(p["firings"] for p in parts),
                "rate": events / max(p["seconds"] for p in parts),
                "wall_rate": events / wall,
                "cpu_rate": events / sum(p["cpu_seconds"] for p in parts),
                "batch_median_ms": max(p["batch_median_ms"] for p in parts),
                "batch_max_ms": max(p["batch_max_ms"] for p in parts),
                "peak_rss_mib": max(p["peak_rss_mib"] for p in parts),
            }
            if events != total or row["matches"] != per_copy_matches * copies:
                raise SystemExit(
                    f"inconsistent run: {events:,} events (expected {total:,}), "
                    f"{row['matches']:,} matches (expected {per_copy_matches * copies:,})"
                )
            results[workers].append(row)
            print(
                f"round {round_number}, {workers} process(es): {row['rate']:>9,.0f} events/s "
                f"in the stage ({row['wall_rate']:,.0f}/s wall-clock, {row['cpu_rate']:,.0f} per "
                f"CPU-second), {row['matches']:,} "
                f"matches, batch median {row['batch_median_ms']:.0f} ms, "
                f"worker RSS {row['peak_rss_mib']:.0f} MiB",
                flush=True,
            )

    figures: dict[str, Any] = {
        "benchmark": "sigma_stream",
        "rules_loaded": len(engine.compiled) + len(engine.correlations),
        "rules_failed": failed,
        "first_load_seconds": round(first_seconds, 2),
        "cached_load_seconds": round(cached_seconds, 2),
        "base_events": len(base),
        "mix": dict(datasets.most_common()),
        "copies": copies,
        "events": total,
        "batch": args.batch,
        "rounds": args.rounds,
        "budget_events_per_second": BUDGET,
        "load_average_after": load_average(),
        "at": datetime.now(UTC).isoformat(),
    }
    print()
    matches = per_copy_matches * copies
    figures["matches_per_copy"] = per_copy_matches
    figures["matches"] = matches
    print(f"{'events through the stage':<30} {total:>12,}  ({copies} copies of {len(base):,})")
    print(f"{'matches':<30} {matches:>12,}  ({per_copy_matches:,} per copy)")
    for workers, rows in results.items():
        rate = spread([r["rate"] for r in rows])
        walls = spread([r["wall_rate"] for r in rows])
        cpu_rate = spread([r["cpu_rate"] for r in rows])
        figures[f"processes_{workers}"] = {
            "events_per_second": {k: round(v) for k, v in rate.items()},
            "wall_events_per_second": {k: round(v) for k, v in walls.items()},
            "events_per_cpu_second": {k: round(v) for k, v in cpu_rate.items()},
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rows)),
            "rows": rows,
        }
        verdict = "OK" if rate["median"] >= BUDGET else "BELOW BUDGET"
        label = f"{workers} process{'es' if workers > 1 else ''}"
        print(
            f"{label:<30} {rate['best']:>12,.0f}  events/s best, {rate['median']:,.0f} median "
            f"(wall-clock {walls['median']:,.0f}, per CPU-second {cpu_rate['median']:,.0f}) "
            f"budget {BUDGET:,.0f} {verdict}"
        )
    save(args.out, figures)


if __name__ == "__main__":
    main()
