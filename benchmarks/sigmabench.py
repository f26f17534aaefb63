"""Shared pieces of the Sigma detection benchmarks (bench_sigma_*.py).

Where the shared data lives, how events are read (exactly as ``tocsin scan`` reads them), how a
corpus is replicated into fresh events, how forked workers report back, and how figures are
summarised (best and median of several rounds: the benchmark machine is shared and noisy).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "out"
SHARED = REPO.parent / "shared" / "data"
"""``../shared/data`` next to the repository (SigmaHQ rules, EVTX samples)."""
SIGMA = SHARED / "sigma"
RULE_SETS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
WINDOWS_RULES = SIGMA / "rules" / "windows"
EVTX = SHARED / "evtx"


def require(*paths: Path) -> None:
    """Exit cleanly (status 0) with a clear message when shared data is missing."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        names = ", ".join(str(p) for p in missing)
        print(f"skipped: {names} not found (the shared data folder ../shared/data is absent)")
        raise SystemExit(0)


def all_rule_sets() -> list[Path]:
    """The three SigmaHQ rule folders."""
    return [SIGMA / name for name in RULE_SETS]


def peak_rss_mib() -> float:
    """Peak resident set size of this process, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_events(paths: Sequence[Path]) -> tuple[list[dict[str, Any]], float, int]:
    """Every event under ``paths`` read as the ingest reads them; (events, seconds, files)."""
    from tocsin.detect.reader import EventReader

    reader = EventReader()
    started = time.perf_counter()
    events: list[dict[str, Any]] = []
    for batch in reader.read(list(paths)):
        events.extend(batch.events)
    return events, time.perf_counter() - started, reader.files_read


def time_span(events: Sequence[dict[str, Any]]) -> timedelta:
    """How long the corpus lasts (first to last @timestamp) plus one second."""
    stamps: list[datetime] = [e["@timestamp"] for e in events if e.get("@timestamp") is not None]
    if not stamps:
        return timedelta(seconds=1)
    return max(stamps) - min(stamps) + timedelta(seconds=1)


def replicate(
    base: Sequence[dict[str, Any]], copy: int, shift: timedelta
) -> Iterator[dict[str, Any]]:
    """Copy ``copy`` of the corpus: fresh ``event.id``, ``@timestamp`` moved by copy x shift.

    The copies are shallow (the field values are shared with the base events), so a worker
    can make a million events without holding them all.
    """
    delta = shift * copy
    suffix = f"-r{copy}"
    for event in base:
        fresh = dict(event)
        fresh["event.id"] = f"{event['event.id']}{suffix}"
        stamp = event.get("@timestamp")
        if stamp is not None:
            fresh["@timestamp"] = stamp + delta
        yield fresh


def batches(
    base: Sequence[dict[str, Any]],
    copies: Sequence[int],
    shift: timedelta,
    size: int,
) -> Iterator[list[dict[str, Any]]]:
    """The replicated copies ``copies`` of ``base``, in batches of ``size`` events."""
    batch: list[dict[str, Any]] = []
    for copy in copies:
        for event in replicate(base, copy, shift):
            batch.append(event)
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def copies_for(total: int, base: int) -> int:
    """How many copies of a corpus of ``base`` events make at least ``total`` events."""
    return max(1, -(-total // max(1, base)))


def run_forked(
    workers: int, job: Callable[[int, int], dict[str, Any]]
) -> tuple[list[dict[str, Any]], float]:
    """Run ``job(worker, workers)`` in ``workers`` forked processes; (their results, wall s).

    The caller has loaded the rules and read the base events already: the children inherit
    them (copy-on-write, helped by ``gc.freeze``), nothing large is pickled. Each child sends
    back one small dict.
    """
    context = multiprocessing.get_context("fork")
    gc.collect()
    gc.freeze()
    readers = []
    processes = []
    started = time.perf_counter()
    for worker in range(workers):
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(job, worker, workers, writer))
        process.start()
        writer.close()
        readers.append(reader)
        processes.append(process)
    results = []
    for reader in readers:
        results.append(json.loads(reader.recv()))
    for process in processes:
        process.join()
    wall = time.perf_counter() - started
    gc.unfreeze()
    failed = [r for r in results if "error" in r]
    if failed:
        raise SystemExit(f"a worker failed:\n{failed[0]['error']}")
    return results, wall


def _child(job: Callable[[int, int], dict[str, Any]], worker: int, workers: int, pipe: Any) -> None:
    try:
        result = job(worker, workers)
    except BaseException:  # report it to the parent rather than hang it
        result = {"error": traceback.format_exc()}
    pipe.send(json.dumps(result))
    pipe.close()
    os._exit(0)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Best (highest), median and worst of a rate measured over several rounds."""
    return {
        "best": max(values),
        "median": statistics.median(values),
        "worst": min(values),
    }


def fastest(values: Sequence[float]) -> dict[str, float]:
    """Best (lowest), median and worst of a duration measured over several rounds."""
    return {
        "best": min(values),
        "median": statistics.median(values),
        "worst": max(values),
    }


def save(path: Path, figures: dict[str, Any]) -> None:
    """Write the figures as JSON (benchmarks/out/...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=str))
    print(f"wrote {path}", file=sys.stderr)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other jobs share the machine)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on Linux
        return "?"
