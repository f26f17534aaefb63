"""Run every benchmark of docs/benchmarks.md in turn (takes about 20 minutes).

    python benchmarks/run_all.py [--quick] [--zircolite PATH [--zircolite-python PY]]

``--quick`` uses smaller inputs (for a smoke test of the scripts, not for figures).
``--zircolite`` passes a Zircolite checkout to bench_sigma_scan.py to time it side by side.
The Sigma benchmarks need ../shared/data (SigmaHQ rules, EVTX samples): without it they are
skipped with a message.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SHARED = HERE.resolve().parents[1] / "shared" / "data"


def main() -> None:
    """Run each benchmark script; stop at the first that fails."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--zircolite", default=None, help="A Zircolite checkout to compare with.")
    parser.add_argument("--zircolite-python", default=None)
    args = parser.parse_args()
    zircolite = ["--zircolite", args.zircolite] if args.zircolite else []
    if args.zircolite_python:
        zircolite += ["--zircolite-python", args.zircolite_python]
    runs = [
        ["bench_ingest_ndjson.py", "--events", "200000" if args.quick else "3500000"],
        ["bench_ingest_evtx.py", "--rounds", "1" if args.quick else "3"],
        ["bench_syslog_tcp.py", "--seconds", "5" if args.quick else "60", "--rate", "50000"],
        ["bench_freshness.py", "--messages", "5" if args.quick else "20"],
        [
            "bench_search.py",
            "--events",
            "300000" if args.quick else "10000000",
            "--lake",
            str(HERE / "out" / ("search-lake-quick" if args.quick else "search-lake")),
        ],
        ["bench_raise_alerts.py", "--alerts", "10000" if args.quick else "100000"],
        ["bench_alert_list.py", "--alerts", "10000" if args.quick else "100000"],
        ["bench_sigma_load.py", "--rounds", "1" if args.quick else "3"],
        [
            "bench_sigma_match.py",
            *(["--events", "100000", "--rounds", "1"] if args.quick else ["--rounds", "3"]),
        ],
        [
            "bench_sigma_stream.py",
            *(["--events", "100000", "--rounds", "1"] if args.quick else ["--rounds", "3"]),
        ],
        ["bench_sigma_scan.py", "--runs", "1" if args.quick else "3", *zircolite],
    ]
    for run in runs:
        if run[0].startswith("bench_sigma_") and not SHARED.is_dir():
            print(f"\n== {run[0]}: skipped, {SHARED} not found (SigmaHQ rules, EVTX samples)")
            continue
        print(f"\n== {' '.join(run)}", flush=True)
        subprocess.run([sys.executable, str(HERE / run[0]), *run[1:]], check=True)


if __name__ == "__main__":
    main()
