"""The REST list of 100,000 alerts, filtered and paged (budget: 100 ms a page).

    python benchmarks/bench_alert_list.py [--alerts 100000] [--repeat 30]

Seeds a temporary workspace (SQLite in a temporary home unless --database-url names another)
with ``--alerts`` alerts spread over 30 days (bulk INSERTs, not the raise path) with varied
status, severity, rule, team and assignee, creates an analyst user with a real API token, then
times ``GET /api/v1/alerts`` through the real app (httpx ASGITransport, the token checked on
every request) for several filters and pages. Each query runs --repeat times after a warm-up;
the median and p95 are reported, with the service call alone beside them. Results go to
benchmarks/out/bench_alert_list.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"
BUDGET_MS = 100.0
SEVERITIES = ["informational", "low", "medium", "high", "critical"]
STATUSES = ["new"] * 5 + ["acknowledged"] * 2 + ["in_progress"] + ["closed"] * 12
TITLES = [
    "Encoded PowerShell command line",
    "Certutil download",
    "DGA domain looked up",
    "DNS tunnel suspected",
    "Beaconing to rare host",
    "Phishing mail delivered",
    "Port scan from internal host",
    "Secret found in repository",
]


def seed(workspace: Any, count: int, *, seed_value: int = 7) -> dict[str, Any]:
    """Insert ``count`` alerts with Core bulk INSERTs; returns ids useful for filters."""
    from sqlalchemy import insert

    from tocsin.workspace.alert_raise import ALERTS
    from tocsin.workspace.tables import Team, User

    rng = random.Random(seed_value)
    end = datetime.now(UTC)
    start = end - timedelta(days=30)
    with workspace.db.session() as session:
        teams = [Team(name=n, created_at=end) for n in ("Security", "IT operations")]
        users = [
            User(username=f"user{i}", role="analyst", password_hash="-", created_at=end)  # noqa: S106
            for i in range(20)
        ]
        session.add_all([*teams, *users])
        session.flush()
        team_ids = [t.id for t in teams]
        user_ids = [u.id for u in users]
    step = (end - start) / count
    chunk: list[dict[str, Any]] = []
    for i in range(count):
        created = start + step * i
        severity = SEVERITIES[min(4, int(rng.expovariate(1.2)))]
        status = rng.choice(STATUSES)
        rule = f"sigma-{rng.randrange(200):04d}"
        title = rng.choice(TITLES)
        chunk.append(
            {
                "rule_id": rule,
                "title": f"{title} on ws-{rng.randrange(500)}",
                "description": "",
                "severity": severity,
                "severity_rank": SEVERITIES.index(severity),
                "status": status,
                "classification": "false_positive" if status == "closed" else None,
                "close_comment": None,
                "dedup_key": f"{rule}|host=ws-{i}",
                "source": "sigma",
                "team_id": rng.choice([None, *team_ids]),
                "assignee_id": rng.choice([None, None, *user_ids]) if status != "new" else None,
                "case_id": None,
                "tags": ["attack.t1059.001"],
                "observables": [{"type": "host", "value": f"ws-{i % 500}"}],
                "reasons": [{"check": rule, "detail": "CommandLine=*-enc*", "weight": 1.0}],
                "fields": {},
                "event_ids": [f"ev-{i}-{j}" for j in range(rng.randrange(1, 6))],
                "count": rng.randrange(1, 20),
                "first_seen": created,
                "last_seen": created + timedelta(minutes=rng.randrange(60)),
                "created_at": created,
                "updated_at": created,
                "acknowledged_at": created if status != "new" else None,
                "closed_at": created if status == "closed" else None,
                "version": 1,
            }
        )
        if len(chunk) == 10_000:
            with workspace.db.session() as session:
                session.connection().execute(insert(ALERTS), chunk)
            chunk = []
    if chunk:
        with workspace.db.session() as session:
            session.connection().execute(insert(ALERTS), chunk)
    with workspace.db.engine.begin() as connection:
        if workspace.db.engine.dialect.name == "sqlite":
            connection.exec_driver_sql("ANALYZE")
        else:
            connection.exec_driver_sql("ANALYZE alerts")
    return {"user": user_ids[3], "team": team_ids[0]}


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def time_calls(func: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls after one warm-up."""
    func()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def time_requests(client: Any, params: dict[str, Any], headers: dict[str, str], repeat: int):
    """Milliseconds of each of ``repeat`` requests after one warm-up, and the last body."""
    response = await client.get("/api/v1/alerts", params=params, headers=headers)
    response.raise_for_status()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = await client.get("/api/v1/alerts", params=params, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times, response.json()


def main() -> None:
    """Seed, then time each query through the API and through the service."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", default=None, help="Default: SQLite in a temp home.")
    parser.add_argument("--out", type=Path, default=None, help="Default: benchmarks/out/...")
    args = parser.parse_args()

    import httpx

    from tocsin.api.app import create_app
    from tocsin.api.deps import Services
    from tocsin.core.settings import Settings
    from tocsin.lake.reader import LakeReader
    from tocsin.workspace.permissions import Principal, Role
    from tocsin.workspace.service import Workspace

    home = Path(tempfile.mkdtemp(prefix="tocsin-alert-list-")) / "home"
    settings = Settings(home=home, database_url=args.database_url)
    workspace = Workspace.open(settings)
    started = time.perf_counter()
    known = seed(workspace, args.alerts)
    print(
        f"seeded {args.alerts:,} alerts in {time.perf_counter() - started:.1f} s "
        f"({workspace.db.engine.dialect.name})",
        file=sys.stderr,
    )
    system = Principal.system("bench")
    # a chosen password: a generated one must be changed before the user may do anything
    password = "bench analyst passphrase"  # noqa: S105 - a throwaway temporary workspace
    user, _ = workspace.users.create_user(system, "bench-analyst", Role.ANALYST, password=password)
    token, _ = workspace.users.create_token(system, "bench", ["write"], user=user.username)
    actor = workspace.users.principal_for_token(token)
    headers = {"Authorization": f"Bearer {token}"}
    queries: list[tuple[str, dict[str, Any]]] = [
        ("newest 50 (no filter)", {}),
        ("status=new", {"status": "new"}),
        (
            "status=new,acknowledged sort=-severity",
            {"status": "new,acknowledged", "sort": "-severity"},
        ),
        ("min_severity=high", {"min_severity": "high"}),
        ("severity=critical status=new", {"severity": "critical", "status": "new"}),
        ("rule_id=sigma-0007", {"rule_id": "sigma-0007"}),
        ("assignee_id=<user>", {"assignee_id": known["user"]}),
        ("team_id=<team> status=closed", {"team_id": known["team"], "status": "closed"}),
        ("since=-1d", {"since": "-1d"}),
        ("q=beacon (substring, 1 in 8)", {"q": "beacon"}),
        ("q=xyzzy (substring, no match)", {"q": "xyzzy"}),
        ("classification=false_positive", {"classification": "false_positive"}),
        ("page 101 (offset 5000)", {"offset": 5000}),
        ("sort=-last_seen", {"sort": "-last_seen"}),
    ]
    service_filters = {
        "status": lambda p: p.split(","),
        "severity": lambda p: p.split(","),
    }
    results: list[dict[str, Any]] = []

    async def run_api() -> None:
        app = create_app(
            Services(settings=settings, workspace=workspace, reader=LakeReader(settings.lake_dir))
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tocsin") as client:
            for label, params in queries:
                times, body = await time_requests(client, params, headers, args.repeat)
                kwargs = {k: service_filters.get(k, lambda p: p)(v) for k, v in params.items()}
                if "since" in kwargs:
                    from tocsin.core.timeutil import parse_time_bound

                    kwargs["since"] = parse_time_bound(kwargs["since"])
                direct = time_calls(
                    lambda kw=kwargs: workspace.alerts.list(actor, **kw), args.repeat
                )
                results.append(
                    {
                        "query": label,
                        "params": params,
                        "total": body["total"],
                        "items": len(body["items"]),
                        "api_median_ms": round(statistics.median(times), 2),
                        "api_p95_ms": round(percentile(times, 0.95), 2),
                        "service_median_ms": round(statistics.median(direct), 2),
                        "service_p95_ms": round(percentile(direct, 0.95), 2),
                    }
                )

    asyncio.run(run_api())
    workspace.close()
    print(
        f"GET /api/v1/alerts over {args.alerts:,} alerts, {args.repeat} runs each "
        f"(budget {BUDGET_MS:.0f} ms)"
    )
    print(f"{'query':<42} {'total':>7} {'api median':>10} {'api p95':>8} {'service':>8}  verdict")
    for row in results:
        verdict = "OK" if row["api_p95_ms"] <= BUDGET_MS else "OVER BUDGET"
        print(
            f"{row['query']:<42} {row['total']:>7,} {row['api_median_ms']:>8.1f}ms "
            f"{row['api_p95_ms']:>6.1f}ms {row['service_median_ms']:>6.1f}ms  {verdict}"
        )
    out = args.out or OUT / "bench_alert_list.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "alert_list",
                "alerts": args.alerts,
                "repeat": args.repeat,
                "engine": "sqlite" if not args.database_url else args.database_url.split(":")[0],
                "budget_ms": BUDGET_MS,
                "at": datetime.now(UTC).isoformat(),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
