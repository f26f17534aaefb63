"""Sigma matching throughput: rules/windows over 1 M replicated EVTX events (budget: 50,000/s).

    python benchmarks/bench_sigma_match.py [--events 1000000] [--batch 5000] [--rounds 3]

Reads every record of ``../shared/data/evtx`` as ``tocsin scan`` reads it (EVTX parser and
normalisation), loads all of ``../shared/data/sigma/rules/windows`` (through the compiled-rule
cache in a temporary folder; first and cached load are timed apart), then matches the records
replicated into at least ``--events`` events: every copy has a fresh ``event.id`` and an
``@timestamp`` moved on by the corpus's time span, so no two events are the same.

Each round forks one worker, then two, after loading: the workers inherit the rules and the base
records (``gc.freeze``, copy-on-write) and each makes its own share of the copies, in batches
of ``--batch`` events; only ``Engine.match`` is timed. Each worker builds its own route groups
on the way (as ``tocsin scan`` workers do), so that cost is inside the figure. The 2-process rate
is all events over the slower worker's matching time; the wall-clock rate of the whole forked
run (fork, replication, matching) is shown beside it. Results go to
benchmarks/out/bench_sigma_match.json.
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
    EVTX,
    OUT,
    WINDOWS_RULES,
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


def main() -> None:
    """Load, read, replicate and match; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rules", type=Path, default=WINDOWS_RULES)
    parser.add_argument("--evtx", type=Path, default=EVTX)
    parser.add_argument("--out", type=Path, default=OUT / "bench_sigma_match.json")
    args = parser.parse_args()
    require(args.rules, args.evtx)

    from tocsin.detect.cache import load_engine

    print(f"load average before: {load_average()}")
    work = Path(tempfile.mkdtemp(prefix="tocsin-sigma-match-"))
    try:
        started = time.perf_counter()
        first = load_engine([args.rules], cache_dir=work)
        first_seconds = time.perf_counter() - started
        del first
        started = time.perf_counter()
        loaded = load_engine([args.rules], cache_dir=work)
        cached_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    engine = loaded.engine
    failed = len({(i.path, i.rule_id) for i in engine.issues if i.severity == "error"})
    print(
        f"rules: {len(engine.compiled):,} loaded, {failed} failed; first load "
        f"{first_seconds:.2f} s, from the cache {cached_seconds:.2f} s"
    )

    base, read_seconds, files = read_events([args.evtx])
    datasets = collections.Counter(str(e.get("event.dataset")) for e in base)
    copies = copies_for(args.events, len(base))
    total = copies * len(base)
    shift = time_span(base)
    print(
        f"events: {len(base):,} records from {files} EVTX files read in {read_seconds:.2f} s "
        f"({len(base) / read_seconds:,.0f}/s), x {copies} copies = {total:,} events; "
        f"datasets {dict(datasets.most_common(6))}"
    )
    # the reference, in a child so the workers start from an empty plan as a fresh scan does:
    # every copy must give the matches of the base records
    reference, _ = run_forked(1, lambda worker, workers: {"matches": len(engine.match(base))})
    per_copy_matches = int(reference[0]["matches"])
    expected = per_copy_matches * copies

    def job(worker: int, workers: int) -> dict[str, Any]:
        mine = list(range(worker, copies, workers))
        matched = 0
        events = 0
        match_seconds = 0.0
        cpu_seconds = 0.0
        produce_seconds = 0.0
        first_copy_seconds = 0.0
        per_copy = len(base)
        produced = time.perf_counter()
        for batch in batches(base, mine, shift, args.batch):
            now = time.perf_counter()
            cpu = time.process_time()
            produce_seconds += now - produced
            matched += len(engine.match(batch))
            cpu_seconds += time.process_time() - cpu
            produced = time.perf_counter()
            match_seconds += produced - now
            events += len(batch)
            if not first_copy_seconds and events >= per_copy:
                first_copy_seconds = match_seconds
        return {
            "events": events,
            "matches": matched,
            "match_seconds": match_seconds,
            "cpu_seconds": cpu_seconds,
            "replicate_seconds": produce_seconds,
            "first_copy_seconds": first_copy_seconds,
            "groups": len(engine.plan.groups),
            "peak_rss_mib": peak_rss_mib(),
        }

    results: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for round_number in range(1, args.rounds + 1):
        for workers in (1, 2):
            parts, wall = run_forked(workers, job)
            events = sum(p["events"] for p in parts)
            matches = sum(p["matches"] for p in parts)
            slowest = max(p["match_seconds"] for p in parts)
            row = {
                "events": events,
                "matches": matches,
                "rate": events / slowest,
                "wall_rate": events / wall,
                "wall_seconds": wall,
                "match_seconds": [p["match_seconds"] for p in parts],
                "cpu_seconds": [p["cpu_seconds"] for p in parts],
                "cpu_rate": events / sum(p["cpu_seconds"] for p in parts),
                "replicate_seconds": [p["replicate_seconds"] for p in parts],
                "first_copy_rate": [len(base) / p["first_copy_seconds"] for p in parts],
                "peak_rss_mib": max(p["peak_rss_mib"] for p in parts),
            }
            if events != total or matches != expected:
                raise SystemExit(
                    f"inconsistent run: {events:,} events (expected {total:,}), "
                    f"{matches:,} matches (expected {expected:,})"
                )
            results[workers].append(row)
            print(
                f"round {round_number}, {workers} process(es): {row['rate']:>9,.0f} events/s "
                f"matching ({row['wall_rate']:,.0f}/s wall-clock incl. fork and replication, "
                f"{row['cpu_rate']:,.0f} per CPU-second), "
                f"{matches:,} matches, worker RSS {row['peak_rss_mib']:.0f} MiB",
                flush=True,
            )

    figures: dict[str, Any] = {
        "benchmark": "sigma_match",
        "rules": str(args.rules),
        "rules_loaded": len(engine.compiled),
        "rules_failed": failed,
        "first_load_seconds": round(first_seconds, 2),
        "cached_load_seconds": round(cached_seconds, 2),
        "evtx_files": files,
        "base_events": len(base),
        "read_events_per_second": round(len(base) / read_seconds),
        "copies": copies,
        "events": total,
        "matches_per_copy": per_copy_matches,
        "matches": expected,
        "batch": args.batch,
        "rounds": args.rounds,
        "budget_events_per_second": BUDGET,
        "load_average_after": load_average(),
        "at": datetime.now(UTC).isoformat(),
    }
    print()
    print(f"{'events matched':<34} {total:>12,}  ({copies} copies of {len(base):,} records)")
    print(f"{'matches':<34} {expected:>12,}  ({per_copy_matches:,} per copy)")
    for workers, rows in results.items():
        rate = spread([r["rate"] for r in rows])
        walls = spread([r["wall_rate"] for r in rows])
        first_copy = spread([min(r["first_copy_rate"]) for r in rows])
        cpu_rate = spread([r["cpu_rate"] for r in rows])
        figures[f"processes_{workers}"] = {
            "events_per_second": {k: round(v) for k, v in rate.items()},
            "wall_events_per_second": {k: round(v) for k, v in walls.items()},
            "first_copy_events_per_second": {k: round(v) for k, v in first_copy.items()},
            "events_per_cpu_second": {k: round(v) for k, v in cpu_rate.items()},
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rows)),
            "rows": rows,
        }
        verdict = "OK" if rate["median"] >= BUDGET else "BELOW BUDGET"
        label = f"{workers} process{'es' if workers > 1 else ''}, matching"
        print(
            f"{label:<34} {rate['best']:>12,.0f}  events/s best, {rate['median']:,.0f} median"
            + (f" (budget {BUDGET:,.0f} on 2 cores) {verdict}" if workers == 2 else "")
        )
        print(
            f"{'  wall-clock incl. replication':<34} {walls['best']:>12,.0f}  events/s best, "
            f"{walls['median']:,.0f} median"
        )
        print(
            f"{'  per CPU-second of one worker':<34} {cpu_rate['best']:>12,.0f}  events/s best, "
            f"{cpu_rate['median']:,.0f} median"
        )
        print(
            f"{'  first copy (builds route groups)':<34} {first_copy['best']:>12,.0f}  "
            f"events/s best, {first_copy['median']:,.0f} median"
        )
    save(args.out, figures)


if __name__ == "__main__":
    main()
