"""Run every benchmark of docs/benchmarks.md in turn (takes about 10 minutes).

    python benchmarks/run_all.py [--quick]

``--quick`` uses smaller inputs (for a smoke test of the scripts, not for figures).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    """Run each benchmark script; stop at the first that fails."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
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
    ]
    for run in runs:
        print(f"\n== {' '.join(run)}", flush=True)
        subprocess.run([sys.executable, str(HERE / run[0]), *run[1:]], check=True)


if __name__ == "__main__":
    main()
