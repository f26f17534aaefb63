"""EVTX ingest into the lake, detection off: records/s, one process and one per core.

    python benchmarks/bench_ingest_evtx.py [PATH] [--rounds 3]

PATH defaults to ../shared/data/evtx (public attack samples; see its PROVENANCE.md). Each
round ingests every .evtx file under PATH into a fresh home (`IngestService`, exactly what
`tocsin ingest --no-detect` runs); the best round is reported. The `evtx` package's own
record rate over the same files is shown as the bar.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "evtx"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path, nargs="?", default=DEFAULT)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not args.path.exists():
        raise SystemExit(f"{args.path} not found: pass a folder of .evtx files")

    from evtx import PyEvtxParser

    from tocsin.core.settings import load_settings
    from tocsin.ingest.service import IngestService

    files = sorted(args.path.rglob("*.evtx"))
    size = sum(f.stat().st_size for f in files)
    started = time.perf_counter()
    bare = 0
    for path in files:
        try:
            for _ in PyEvtxParser(str(path)).records_json():
                bare += 1
        except (OSError, RuntimeError):
            continue
    bare_rate = bare / (time.perf_counter() - started)
    print(
        f"{len(files)} files, {size / 1e6:.1f} MB, {bare:,} records; "
        f"evtx package alone: {bare_rate:,.0f} records/s"
    )
    for workers in (1, 2):
        best = 0.0
        total = 0
        for _ in range(args.rounds):
            work = Path(tempfile.mkdtemp(prefix="tocsin-evtx-bench-"))
            service = IngestService(load_settings(home=work / "home"), detection=False)
            started = time.perf_counter()
            report = service.ingest(files, workers=workers)
            elapsed = time.perf_counter() - started
            total = report.total
            best = max(best, report.total / elapsed)
            service.db.close()
            shutil.rmtree(work, ignore_errors=True)
        print(
            f"tocsin ingest, {workers} process(es): {total:,} records, best {best:,.0f} records/s",
            file=sys.stdout,
        )


if __name__ == "__main__":
    main()
