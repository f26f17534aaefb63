"""Benchmark the EVTX parser: records per second of ``EvtxParser.parse_stream`` over many files.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_evtx_parse.py [PATH] [--min-size BYTES] [--repeat N]

PATH is a folder searched for ``*.evtx`` (default ``../shared/data/evtx``) or one file. All
files are parsed in one timed pass (the shared samples are small, so one file says little);
the best of ``--repeat`` passes is reported, next to the ``evtx`` package alone (records
rendered as JSON, nothing else) and the package plus ``orjson.loads``, so the cost of the
flattening can be read off whatever the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson
from evtx import PyEvtxParser

from tocsin.ingest.base import ParseContext
from tocsin.ingest.parsers.evtx import EvtxParser

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "evtx"


def find_files(path: Path, min_size: int) -> list[Path]:
    """The ``.evtx`` files under ``path`` (or ``path`` itself) of at least ``min_size`` bytes."""
    files = [path] if path.is_file() else sorted(path.rglob("*.evtx"))
    return [file for file in files if file.stat().st_size >= min_size]


def time_parser(files: list[Path]) -> tuple[int, float, int]:
    """Parse every file with EvtxParser; return (events, seconds, issues)."""
    parser = EvtxParser()
    events = issues = 0
    start = time.perf_counter()
    for file in files:
        with file.open("rb") as stream:
            ctx = ParseContext(source=str(file), identity=file.name)
            for batch in parser.parse_stream(stream, ctx):
                events += len(batch.events)
                issues += len(batch.issues)
    return events, time.perf_counter() - start, issues


def time_package(files: list[Path], *, decode: bool) -> tuple[int, float]:
    """Iterate the evtx package alone (and decode each record when asked)."""
    records = 0
    start = time.perf_counter()
    for file in files:
        rendered = PyEvtxParser(str(file), number_of_threads=EvtxParser.threads).records_json()
        for record in cast("Iterator[dict[str, Any]]", rendered):
            if decode:
                orjson.loads(record["data"])
            records += 1
    return records, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print records/s."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=DEFAULT_PATH,
        help="folder of .evtx files or one file (default: ../shared/data/evtx)",
    )
    parser.add_argument("--min-size", type=int, default=0, help="skip files smaller than this")
    parser.add_argument("--repeat", type=int, default=5, help="passes; the best is reported")
    args = parser.parse_args(argv)
    files = find_files(args.path, args.min_size)
    if not files:
        print(f"no .evtx files under {args.path}", file=sys.stderr)
        return 1
    size = sum(file.stat().st_size for file in files)
    print(f"{len(files)} files, {size / 1e6:.1f} MB")
    best: dict[str, float] = {}
    counts: dict[str, int] = {}
    for _ in range(args.repeat):
        runs: list[tuple[str, tuple[int, float]]] = [
            ("evtx package alone", time_package(files, decode=False)),
            ("evtx package + orjson.loads", time_package(files, decode=True)),
            ("EvtxParser.parse_stream", time_parser(files)[:2]),
        ]
        for name, (records, seconds) in runs:
            counts[name] = records
            best[name] = min(best.get(name, float("inf")), seconds)
    for name, seconds in best.items():
        print(f"{name:30s} {counts[name]:>8d} records  {counts[name] / seconds:>10,.0f} records/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
