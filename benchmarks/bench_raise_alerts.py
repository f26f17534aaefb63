"""``raise_alerts`` with dedup on SQLite (budget: 5,000 alerts/s).

    python benchmarks/bench_raise_alerts.py [--alerts 100000] [--batch 1000] [--repeats 0.3]

Raises ``--alerts`` drafts in batches of ``--batch`` on a temporary workspace (SQLite in a
temporary home unless --database-url names another). About ``--repeats`` of the drafts repeat
the dedup key of an alert raised in an earlier batch (the dedup path: count, last seen and
event ids grow); the rest are new findings. Each draft has two observables, a reason, a tag and
an event id, like a Sigma match. The drafts are built before the clock starts; only
``raise_alerts`` is timed. Results go to benchmarks/out/bench_raise_alerts.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"
BUDGET = 5_000.0
SEVERITIES = ["low", "medium", "high", "critical"]


def build_batches(total: int, batch: int, repeats: float, seed: int = 11) -> list[list[Any]]:
    """Drafts in batches; a repeat reuses a key of an earlier batch (recent ones first)."""
    from tocsin.core.event import Reason
    from tocsin.workspace.models import AlertDraft, Observable

    rng = random.Random(seed)
    batches: list[list[Any]] = []
    made = 0  # keys of earlier batches
    for number in range(0, total, batch):
        drafts = []
        fresh = made
        for i in range(min(batch, total - number)):
            if made and rng.random() < repeats:
                key = made - 1 - min(made - 1, int(rng.expovariate(1 / 2000)))
            else:
                key = fresh
                fresh += 1
            rule = f"sigma-{key % 120:04d}"
            drafts.append(
                AlertDraft(
                    rule_id=rule,
                    title=f"Suspicious process on ws-{key % 700}",
                    severity=SEVERITIES[key % 4],
                    event_ids=[f"ev-{number + i}"],
                    observables=[
                        Observable("host", f"ws-{key % 700}"),
                        Observable("process", f"proc-{key}.exe"),
                    ],
                    tags=["attack.execution", "attack.t1059.001"],
                    reasons=[Reason(rule, f"CommandLine=*-enc* (match {key})", 1.0)],
                )
            )
        made = fresh
        batches.append(drafts)
    return batches


def main() -> None:
    """Build the drafts, raise them, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeats", type=float, default=0.3, help="Share of repeated keys.")
    parser.add_argument("--database-url", default=None, help="Default: SQLite in a temp home.")
    parser.add_argument("--out", type=Path, default=OUT / "bench_raise_alerts.json")
    args = parser.parse_args()

    from sqlalchemy import func, select

    from tocsin.core.settings import Settings
    from tocsin.workspace.service import Workspace
    from tocsin.workspace.tables import Alert, HistoryRecord

    home = Path(tempfile.mkdtemp(prefix="tocsin-raise-")) / "home"
    workspace = Workspace.open(Settings(home=home, database_url=args.database_url))
    engine = workspace.db.engine.dialect.name
    batches = build_batches(args.alerts, args.batch, args.repeats)
    print(
        f"raising {args.alerts:,} drafts in batches of {args.batch:,} ({engine})", file=sys.stderr
    )
    latencies: list[float] = []
    created = updated = 0
    wall = time.perf_counter()
    cpu = time.process_time()
    for drafts in batches:
        started = time.perf_counter()
        result = workspace.raise_alerts(drafts)
        latencies.append((time.perf_counter() - started) * 1000)
        created += len(result.created)
        updated += len(result.updated)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    with workspace.db.session() as session:
        alerts = int(session.scalar(select(func.count()).select_from(Alert)) or 0)
        folded = int(session.scalar(select(func.sum(Alert.count))) or 0)
        history = int(session.scalar(select(func.count()).select_from(HistoryRecord)) or 0)
    workspace.close()
    rate = args.alerts / wall
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    figures: dict[str, Any] = {
        "benchmark": "raise_alerts",
        "engine": engine,
        "drafts": args.alerts,
        "batch": args.batch,
        "repeat_share": args.repeats,
        "alerts_created": created,
        "alerts_grown_per_batch_sum": updated,
        "alerts_in_table": alerts,
        "drafts_accounted": folded,
        "history_rows": history,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "alerts_per_second": round(rate),
        "batch_median_ms": round(statistics.median(latencies), 1),
        "batch_p95_ms": round(p95, 1),
        "budget_alerts_per_second": BUDGET,
        "at": datetime.now(UTC).isoformat(),
    }
    verdict = "OK" if rate >= BUDGET else "BELOW BUDGET"
    print(f"{'drafts raised':<28} {args.alerts:>12,}")
    print(f"{'new alerts':<28} {created:>12,}")
    print(f"{'drafts folded into others':<28} {args.alerts - created:>12,}")
    print(f"{'alerts in the table':<28} {alerts:>12,}  (their counts sum to {folded:,})")
    print(f"{'history rows':<28} {history:>12,}")
    print(f"{'time':<28} {wall:>11.2f}s  (CPU {cpu:.2f} s)")
    print(
        f"{'batch latency':<28} {statistics.median(latencies):>10.1f}ms  median, {p95:.1f} ms p95"
    )
    print(f"{'rate':<28} {rate:>12,.0f}  alerts/s (budget {BUDGET:,.0f}) {verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
