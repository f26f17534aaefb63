"""Loading all SigmaHQ rules: first load and cached load (budgets: 15 s, 2 s, 1 GB).

    python benchmarks/bench_sigma_load.py [--rounds 3]

Loads ``../shared/data/sigma/rules``, ``rules-emerging-threats`` and ``rules-threat-hunting``
with ``tocsin.detect.cache.load_engine`` (pySigma parse and validation, filters, compilation,
the compiled-rule cache). Each round starts with an empty cache folder and runs two *fresh*
Python processes one after the other: the first load (YAML, pySigma, compile, write the cache)
and the cached load (a real second start: nothing in memory from the first). Each child reports
the time inside ``load_engine``, rules loaded and failed, and its peak RSS
(``resource.getrusage``); the parent also times the child's whole life (interpreter start,
imports, exit). Best and median over the rounds are printed; results go to
benchmarks/out/bench_sigma_load.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
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
    fastest,
    load_average,
    peak_rss_mib,
    require,
    save,
)

BUDGET_FIRST = 15.0
BUDGET_CACHED = 2.0
BUDGET_MIB = 1024.0


def child(cache_dir: Path) -> None:
    """Load the rules once in this process and print the figures as one JSON line."""
    started = time.perf_counter()
    from tocsin.detect.cache import load_engine

    imported = time.perf_counter()
    result = load_engine(all_rule_sets(), cache_dir=cache_dir)
    loaded = time.perf_counter()
    engine = result.engine
    failed = {(i.path, i.rule_id) for i in engine.issues if i.severity == "error"}
    warned = {(i.path, i.rule_id) for i in engine.issues if i.severity != "error"}
    figures = {
        "from_cache": result.from_cache,
        "import_seconds": imported - started,
        "load_seconds": loaded - imported,
        "detection_rules": len(engine.compiled),
        "correlation_rules": len(engine.correlations),
        "rules_loaded": len(engine.compiled) + len(engine.correlations),
        "rules_failed": len(failed),
        "rules_with_warnings": len(warned),
        "unrouted": len(engine.unrouted),
        "cache_bytes": result.cache_path.stat().st_size if result.cache_path else 0,
        "peak_rss_mib": peak_rss_mib(),
    }
    print(json.dumps(figures), flush=True)


def run_child(cache_dir: Path) -> dict[str, Any]:
    """One fresh process; its figures plus its wall-clock life."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", "--cache-dir", str(cache_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = wall
    return figures


def main() -> None:
    """Run the rounds, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT / "bench_sigma_load.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    require(*all_rule_sets())
    if args.child:
        child(args.cache_dir)
        return

    files = sum(1 for root in all_rule_sets() for _ in root.rglob("*.yml"))
    print(f"{files:,} rule files in {', '.join(p.name for p in all_rule_sets())}")
    print(f"load average before: {load_average()}")
    first: list[dict[str, Any]] = []
    cached: list[dict[str, Any]] = []
    for round_number in range(1, args.rounds + 1):
        work = Path(tempfile.mkdtemp(prefix="tocsin-sigma-load-"))
        try:
            a = run_child(work / "cache")
            b = run_child(work / "cache")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if a["from_cache"] or not b["from_cache"]:
            raise SystemExit(
                f"unexpected cache use: first {a['from_cache']}, second {b['from_cache']}"
            )
        first.append(a)
        cached.append(b)
        print(
            f"round {round_number}: first {a['load_seconds']:.2f} s "
            f"(process {a['process_seconds']:.2f} s, {a['peak_rss_mib']:.0f} MiB), "
            f"cached {b['load_seconds']:.2f} s "
            f"(process {b['process_seconds']:.2f} s, {b['peak_rss_mib']:.0f} MiB)",
            flush=True,
        )

    def summary(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
        return {k: round(v, 3) for k, v in fastest([r[key] for r in rows]).items()}

    last = first[-1]
    figures: dict[str, Any] = {
        "benchmark": "sigma_load",
        "rule_files": files,
        "rules_loaded": last["rules_loaded"],
        "detection_rules": last["detection_rules"],
        "correlation_rules": last["correlation_rules"],
        "rules_failed": last["rules_failed"],
        "rules_with_warnings": last["rules_with_warnings"],
        "unrouted": last["unrouted"],
        "cache_mib": round(last["cache_bytes"] / 2**20, 1),
        "rounds": args.rounds,
        "first_load_seconds": summary(first, "load_seconds"),
        "first_process_seconds": summary(first, "process_seconds"),
        "first_peak_rss_mib": summary(first, "peak_rss_mib"),
        "cached_load_seconds": summary(cached, "load_seconds"),
        "cached_process_seconds": summary(cached, "process_seconds"),
        "cached_peak_rss_mib": summary(cached, "peak_rss_mib"),
        "import_seconds": summary(cached, "import_seconds"),
        "budgets": {"first": BUDGET_FIRST, "cached": BUDGET_CACHED, "mib": BUDGET_MIB},
        "load_average_after": load_average(),
        "at": datetime.now(UTC).isoformat(),
    }
    peak = max(r["peak_rss_mib"] for r in first + cached)
    f_best, f_med = figures["first_load_seconds"]["best"], figures["first_load_seconds"]["median"]
    c_best, c_med = figures["cached_load_seconds"]["best"], figures["cached_load_seconds"]["median"]
    fp = figures["first_process_seconds"]
    cp = figures["cached_process_seconds"]
    print()
    print(f"{'rules loaded':<30} {last['rules_loaded']:>10,}  ({last['rules_failed']} failed)")
    print(f"{'rules with warnings':<30} {last['rules_with_warnings']:>10,}")
    print(f"{'rules mapped to no dataset':<30} {last['unrouted']:>10,}")
    print(f"{'cache file':<30} {figures['cache_mib']:>9.1f}M")
    print(
        f"{'first load':<30} {f_best:>9.2f}s  best, {f_med:.2f} s median "
        f"(whole process {fp['best']:.2f} / {fp['median']:.2f} s) "
        f"budget {BUDGET_FIRST:.0f} s {'OK' if f_med < BUDGET_FIRST else 'OVER BUDGET'}"
    )
    print(
        f"{'cached load':<30} {c_best:>9.2f}s  best, {c_med:.2f} s median "
        f"(whole process {cp['best']:.2f} / {cp['median']:.2f} s) "
        f"budget {BUDGET_CACHED:.0f} s {'OK' if c_med < BUDGET_CACHED else 'OVER BUDGET'}"
    )
    print(
        f"{'peak RSS':<30} {peak:>8.0f}Mi  "
        f"(first {figures['first_peak_rss_mib']['median']:.0f} MiB, "
        f"cached {figures['cached_peak_rss_mib']['median']:.0f} MiB) "
        f"budget {BUDGET_MIB:.0f} MiB {'OK' if peak < BUDGET_MIB else 'OVER BUDGET'}"
    )
    save(args.out, figures)


if __name__ == "__main__":
    main()
