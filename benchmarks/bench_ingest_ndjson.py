"""NDJSON file ingest into the lake, detection off: events/s and peak RSS.

    python benchmarks/bench_ingest_ndjson.py [--events 2000000] [--keep]

Writes a synthetic NDJSON file (benchmarks/datagen.py), ingests it into a fresh home with
`IngestService` exactly as `tocsin ingest --no-detect` does, and runs DuckDB's own
`read_json` -> Parquet on the same file as the peer bar.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from datagen import write_ndjson  # noqa: E402


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--input", type=Path, help="Use this NDJSON file instead.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary home.")
    parser.add_argument("--no-peer", action="store_true", help="Skip the DuckDB peer run.")
    args = parser.parse_args()

    from tocsin.core.settings import load_settings
    from tocsin.ingest.service import IngestService

    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
    source = args.input
    if source is None:
        source = work / "events.ndjson"
        started = time.perf_counter()
        write_ndjson(source, args.events)
        print(
            f"generated {args.events:,} events ({source.stat().st_size / 1e6:,.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    size = source.stat().st_size
    settings = load_settings(home=work / "home")
    service = IngestService(settings, detection=False)
    started = time.perf_counter()
    report = service.ingest([source], force=True)
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"tocsin ingest: {report.total:,} events in {elapsed:.2f} s = "
        f"{report.total / elapsed:,.0f} events/s ({size / elapsed / 1e6:,.0f} MB/s), "
        f"peak RSS {rss:,.0f} MiB, quarantined {report.quarantined}"
    )
    if not args.no_peer:
        import duckdb

        con = duckdb.connect()
        started = time.perf_counter()
        con.execute(
            "COPY (SELECT * FROM read_json(?, format = 'newline_delimited')) TO ? "
            "(FORMAT parquet, COMPRESSION zstd)",
            [str(source), str(work / "peer.parquet")],
        )
        peer = time.perf_counter() - started
        rows = con.execute(
            "SELECT count(*) FROM read_parquet(?)", [str(work / "peer.parquet")]
        ).fetchone()
        count = rows[0] if rows else 0
        print(
            f"duckdb read_json -> parquet: {count:,} events in {peer:.2f} s = "
            f"{count / peer:,.0f} events/s"
        )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
