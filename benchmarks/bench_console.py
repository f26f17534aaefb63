"""The console's pages over 100,000 alerts and 10 million events (budget: 300 ms, 300 KB).

    python benchmarks/bench_console.py [--alerts 100000] [--events 10000000] [--repeat 15]

Seeds a temporary home: the workspace (SQLite) gets ``--alerts`` alerts over 30 days (the bulk
seeding of bench_alert_list.py), the lake gets ``--events`` synthetic Sysmon events (the lake of
bench_search.py, reused from benchmarks/out/search-lake when it is there). An analyst signs in
through the login form, then every page is fetched through the real app (httpx ASGITransport,
session cookie checked on every request) ``--repeat`` times after a warm-up. The time is the
server's: from request to the last byte of the body, in process. The histogram and the total
count of a search are separate requests the page makes after it has shown its first rows
(budget 2 s). Results go to benchmarks/out/bench_console.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

OUT = Path(__file__).parent / "out"
PAGE_BUDGET_MS = 300.0
LATE_BUDGET_MS = 2000.0
SIZE_BUDGET = 300 * 1024
PASSWORD = "bench pass phrase 1"  # noqa: S105 - a throwaway user in a temporary home

# label, path, budget (ms): the pages a team opens all day
PAGES: list[tuple[str, str, float]] = [
    ("alert queue (open, newest)", "/alerts", PAGE_BUDGET_MS),
    (
        "alert queue: critical, most severe first",
        "/alerts?severity=critical&sort=-severity",
        PAGE_BUDGET_MS,
    ),
    ("alert queue: all statuses, page 20", "/alerts?status=all&offset=950", PAGE_BUDGET_MS),
    ("alert queue: text filter", "/alerts?q=certutil&status=all", PAGE_BUDGET_MS),
    ("alert queue: live poll", "/alerts/rows?after={newest}", PAGE_BUDGET_MS),
    ("alert detail", "/alerts/{newest}", PAGE_BUDGET_MS),
    ("overview", "/", PAGE_BUDGET_MS),
    ("cases", "/cases", PAGE_BUDGET_MS),
    ("search: field equality, first page", "/search?q=host.name:WS-042&range=all", PAGE_BUDGET_MS),
    (
        "search: field equality, 1 day, first page",
        "/search?q=host.name:WS-042&since=2026-11-20T00:00:00Z&until=2026-11-21T00:00:00Z",
        PAGE_BUDGET_MS,
    ),
    ("search: no hit at all (reads every file)", "/search?q=host.name:WS-0042&range=all", 1000.0),
    (
        "search: 1 day, first page",
        "/search?q=Image:*powershell.exe&since=2026-11-20T00:00:00Z&until=2026-11-21T00:00:00Z",
        PAGE_BUDGET_MS,
    ),
    ("search: leading wildcard, first page", "/search?q=CommandLine:*urlcache*&range=all", 1000.0),
    ("search: histogram", "/search/histogram?q=CommandLine:*urlcache*&range=all", LATE_BUDGET_MS),
    ("search: total count", "/search/count?q=CommandLine:*urlcache*&range=all", LATE_BUDGET_MS),
    ("metrics (30 days)", "/metrics", PAGE_BUDGET_MS),
    ("rules", "/rules", PAGE_BUDGET_MS),
]


def seed_home(home: Path, alerts: int, events: int, lake_cache: Path) -> dict[str, Any]:
    """Build the home: workspace with alerts and a user, lake with events."""
    from bench_alert_list import seed
    from bench_search import build_lake

    from tocsin.core.home import init_home
    from tocsin.core.settings import Settings
    from tocsin.workspace.service import Workspace
    from tocsin.workspace.tables import User
    from tocsin.workspace.users import hash_password

    settings = Settings(home=home)
    init_home(settings)
    workspace = Workspace.open(settings)
    print(f"seeding {alerts:,} alerts", file=sys.stderr)
    info = seed(workspace, alerts)
    from datetime import UTC, datetime

    with workspace.db.session() as session:
        session.add(
            User(
                username="bench",
                role="analyst",
                password_hash=hash_password(PASSWORD),
                must_change_password=False,
                created_at=datetime.now(UTC),
            )
        )
    workspace.close()
    marker = lake_cache / f".complete-{events}"
    if not marker.exists():
        print(f"building a lake of {events:,} events in {lake_cache}", file=sys.stderr)
        shutil.rmtree(lake_cache, ignore_errors=True)
        build_lake(lake_cache, events, 30)
        marker.touch()
    shutil.rmtree(settings.lake_dir, ignore_errors=True)
    settings.lake_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.lake_dir.symlink_to(lake_cache.resolve(), target_is_directory=True)
    return {"settings": settings, **info}


async def measure(settings: Any, repeat: int) -> list[dict[str, Any]]:
    """Sign in and time each page."""
    import httpx

    from tocsin.api.app import create_app
    from tocsin.api.deps import Services
    from tocsin.lake.reader import LakeReader
    from tocsin.workspace.service import Workspace

    workspace = Workspace.open(settings)
    services = Services(
        settings=settings,
        workspace=workspace,
        reader=LakeReader(
            settings.lake_dir,
            threads=settings.duckdb_threads,
            memory_limit=settings.duckdb_memory_limit,
        ),
    )
    app = create_app(services)
    transport = httpx.ASGITransport(app=app)
    results = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        form = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]  # type: ignore[index]
        signed = await client.post(
            "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token}
        )
        assert signed.status_code == 303, signed.text
        queue = await client.get("/alerts")
        newest = re.search(r'data-alert-id="(\d+)"', queue.text)[1]  # type: ignore[index]
        for label, path, budget in PAGES:
            url = path.format(newest=newest)
            started = time.perf_counter()
            first = await client.get(url)
            first_ms = (time.perf_counter() - started) * 1000
            if first.status_code != 200:
                print(f"  {label}: HTTP {first.status_code}, skipped", file=sys.stderr)
                results.append({"page": label, "url": url, "status": first.status_code})
                continue
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = await client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            size = len(response.content)
            times.sort()
            row = {
                "page": label,
                "url": url,
                "first_ms": round(first_ms, 1),
                "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
                "budget_ms": budget,
                "bytes": size,
                "within": statistics.median(times) <= budget and size <= SIZE_BUDGET,
            }
            results.append(row)
            flag = "ok " if row["within"] else "OVER"
            print(
                f"  {flag} {label:<44} first {first_ms:>7.1f}  median {row['median_ms']:>7.1f} ms  "
                f"p95 {row['p95_ms']:>7.1f} ms  {size / 1024:>6.1f} KB  (budget {budget:.0f} ms)",
                file=sys.stderr,
            )
    workspace.close()
    return results


def main() -> None:
    """Seed, measure, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--lake", type=Path, default=OUT / "search-lake")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-console-") as tmp:
        info = seed_home(Path(tmp) / "home", args.alerts, args.events, args.lake)
        results = asyncio.run(measure(info["settings"], args.repeat))
    OUT.mkdir(exist_ok=True)
    body = {
        "alerts": args.alerts,
        "events": args.events,
        "repeat": args.repeat,
        "page_budget_ms": PAGE_BUDGET_MS,
        "size_budget_bytes": SIZE_BUDGET,
        "pages": results,
    }
    (OUT / "bench_console.json").write_text(json.dumps(body, indent=2))


if __name__ == "__main__":
    main()
