"""DNS analytics over a large lake: every detector over N lookups (issue target: 10M in 60 s).

Writes a synthetic lake of Zeek-like DNS events straight to Parquet in the lake's layout (the
ingest path has its own benchmarks), with planted threats: DGA hosts, tunnels, lookalikes of
50 protected domains and names on a 10,000-domain indicator feed. Then it times ``hunt_dns``
(all five detectors, no alerts written) and ``dns_top`` on the same window, and checks that
every planted threat was found.

    python benchmarks/bench_dns.py                 # 10,000,000 events
    python benchmarks/bench_dns.py --events 1000000 --keep /tmp/dnslake
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tocsin.core.settings import Settings
from tocsin.dns.dgagen import generate
from tocsin.dns.hunt import hunt_dns
from tocsin.dns.views import dns_top
from tocsin.intel.lookalike import permutations
from tocsin.lake.layout import file_name, partition_dir

END = datetime(2026, 11, 20, tzinfo=UTC)
START = END - timedelta(hours=24)
WORDS = (
    "alpha north blue river stone cloud green light market open smart data city home media "
    "shop news travel health tech group global digital first bright star sun moon fast net "
    "link point line web soft care life food auto press info zone hub box port one best top "
    "star line wave peak lake wood field bay hill gate bridge tower park road view craft mind"
).split()
TLDS = ("com", "net", "org", "io", "co.uk", "de", "fr", "info", "biz", "app")
SUBS = ("www", "mail", "api", "cdn", "static", "img", "login", "app", "m", "assets")


def protected_domains() -> list[str]:
    """Fifty made-up organisation and partner domains (the lookalike set)."""
    out = []
    for i in range(50):
        a, b = WORDS[i % len(WORDS)], WORDS[(i * 7 + 3) % len(WORDS)]
        out.append(f"{a}{b}-corp.{('com', 'net', 'co.uk', 'de', 'org')[i % 5]}")
    return out


def benign_names(rng: np.random.Generator, domains: int, names: int) -> np.ndarray:
    """Distinct benign names: word-pair domains under common suffixes, with subdomains."""
    first = rng.integers(0, len(WORDS), domains)
    second = rng.integers(0, len(WORDS), domains)
    tld = rng.integers(0, len(TLDS), domains)
    regs = sorted(
        {f"{WORDS[a]}{WORDS[b]}{i % 97}.{TLDS[t]}" for i, (a, b, t) in
         enumerate(zip(first, second, tld, strict=True))}
    )  # fmt: skip
    picks = rng.integers(0, len(regs), names)
    subs = rng.integers(0, len(SUBS) + 40, names)
    out = []
    for pick, sub in zip(picks, subs, strict=True):
        prefix = SUBS[sub] if sub < len(SUBS) else f"s{sub}.edge"
        out.append(f"{prefix}.{regs[pick]}")
    return np.array(sorted(set(out)), dtype=object)


def build_lake(lake: Path, events: int, seed: int = 7) -> dict[str, object]:
    """Write the synthetic lake; returns what was planted."""
    rng = np.random.default_rng(seed)
    names = benign_names(rng, 60_000, 400_000)
    clients = np.array([f"10.{i // 250}.{i % 250}.{(i * 7) % 250 + 1}" for i in range(2000)])
    # Zipf-like popularity of names and activity of clients
    name_weights = 1 / np.arange(1, len(names) + 1) ** 0.9
    name_weights /= name_weights.sum()
    client_weights = rng.pareto(1.5, len(clients)) + 1
    client_weights /= client_weights.sum()

    planted: dict[str, object] = {"dga": [], "tunnel": [], "lookalike": [], "indicator": []}
    extra_rows: list[tuple[str, str, str, str]] = []  # client, name, qtype, rcode
    for k in range(5):
        host = f"10.99.0.{k + 1}"
        planted["dga"].append(host)  # type: ignore[union-attr]
        for name in generate(("cryptolocker", "ramnit", "simda", "gameover", "bamital")[k],
                             END.date(), 300):  # fmt: skip
            extra_rows.append((host, name, "A", "NXDOMAIN"))
    for k in range(3):
        host, domain = f"10.98.0.{k + 1}", f"telemetry-sync{k}.net"
        planted["tunnel"].append((host, domain))  # type: ignore[union-attr]
        for seq in range(5000):
            chunk = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz234567"), 48))
            extra_rows.append((host, f"{chunk}.{seq:05x}.t.{domain}", "TXT", "NOERROR"))
    protected = protected_domains()
    for k in range(10):
        fake = next(p.domain for p in permutations(protected[k]) if p.technique == "omission")
        planted["lookalike"].append(fake)  # type: ignore[union-attr]
        extra_rows.append((str(clients[k]), f"login.{fake}", "A", "NOERROR"))
    feed = [f"bad{i}-{WORDS[i % len(WORDS)]}.xyz" for i in range(10_000)]
    for k in range(10):
        planted["indicator"].append(feed[k * 997])  # type: ignore[union-attr]
        extra_rows.append((str(clients[100 + k]), f"c2.{feed[k * 997]}", "A", "NOERROR"))

    normal = events - len(extra_rows)
    files = 10
    per_file = -(-normal // files)
    rcodes = np.array(["NOERROR", "NXDOMAIN", "SERVFAIL"], dtype=object)
    qtypes = np.array(["A", "AAAA", "HTTPS", "CNAME", "TXT", "PTR"], dtype=object)
    span_us = int((END - START).total_seconds() * 1e6)
    start_us = int(START.timestamp() * 1e6)
    written = 0
    for index in range(files):
        rows = min(per_file, normal - written)
        if rows <= 0:
            break
        name_col = names[rng.choice(len(names), rows, p=name_weights)]
        client_col = clients[rng.choice(len(clients), rows, p=client_weights)]
        rcode_col = rcodes[rng.choice(3, rows, p=[0.965, 0.03, 0.005])]
        qtype_col = qtypes[rng.choice(6, rows, p=[0.55, 0.3, 0.08, 0.04, 0.02, 0.01])]
        if index == files - 1:
            hosts, extra_names, extra_qtypes, extra_rcodes = zip(*extra_rows, strict=True)
            name_col = np.concatenate([name_col, np.array(extra_names, dtype=object)])
            client_col = np.concatenate([client_col, np.array(hosts, dtype=object)])
            qtype_col = np.concatenate([qtype_col, np.array(extra_qtypes, dtype=object)])
            rcode_col = np.concatenate([rcode_col, np.array(extra_rcodes, dtype=object)])
        count = len(name_col)
        stamps = np.sort(start_us + rng.integers(0, span_us, count))
        answers = pa.array(
            [[] if r != "NOERROR" else ["93.184.216.34"] for r in rcode_col.tolist()],
            pa.list_(pa.string()),
        )
        table = pa.table(
            {
                "@timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
                "event.id": pa.array([f"b{index}-{i}" for i in range(count)], pa.string()),
                "event.dataset": pa.array(["zeek.dns"] * count, pa.string()),
                "source.ip": pa.array(client_col.tolist(), pa.string()),
                "destination.ip": pa.array(["10.0.0.53"] * count, pa.string()),
                "dns.question.name": pa.array(name_col.tolist(), pa.string()),
                "dns.question.type": pa.array(qtype_col.tolist(), pa.string()),
                "dns.response_code": pa.array(rcode_col.tolist(), pa.string()),
                "dns.answers.data": answers,
            }
        )
        folder = partition_dir(lake, "zeek.dns", END.date())
        folder.mkdir(parents=True, exist_ok=True)
        name = file_name(int(stamps[0]), int(stamps[-1]), count, uuid.uuid4().hex[:12])
        pq.write_table(table, folder / name, row_group_size=256 * 1024)
        written += rows
    return {"planted": planted, "feed": feed, "protected": protected}


def main() -> None:
    """Build the lake, run the hunt and the top view, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the home here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    home = args.keep or Path(tempfile.mkdtemp(prefix="tocsin-bench-dns-"))
    marker = home / "bench.json"
    started = time.perf_counter()
    if marker.is_file() and json.loads(marker.read_text()).get("events") == args.events:
        built = json.loads(marker.read_text())
        print(f"reusing the lake in {home}")
    else:
        shutil.rmtree(home / "lake", ignore_errors=True)
        built = build_lake(home / "lake", args.events)
        built["events"] = args.events
        marker.write_text(json.dumps(built))
        print(f"lake of {args.events:,} events written in {time.perf_counter() - started:.1f} s")
    feed_file = home / "feed.txt"
    feed_file.write_text("\n".join(built["feed"]) + "\n")
    settings = Settings(
        home=home,
        duckdb_threads=args.threads,
        protected_domains=built["protected"],
        intel_feeds=[{"name": "bench-feed", "source": str(feed_file), "format": "plain",
                      "kind": "domain"}],
        dns_learning_days=0,
    )  # fmt: skip
    shutil.rmtree(settings.state_dir / "dns", ignore_errors=True)
    clock = time.perf_counter()
    report = hunt_dns(settings, since=START, until=END, alerts=False)
    hunt_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    top = dns_top(settings, since=START, until=END)
    top_seconds = time.perf_counter() - clock

    planted = built["planted"]
    found = {(f.detector, f.client, f.domain) for f in report.findings}
    recall = {
        "dga": sum(("dns.dga", h, None) in found for h in planted["dga"]) / len(planted["dga"]),
        "tunnel": sum(("dns.tunnel", h, d) in found for h, d in planted["tunnel"])
        / len(planted["tunnel"]),
        "lookalike": sum(
            any(f.detector == "dns.lookalike" and fake in f.names[0] for f in report.findings)
            for fake in planted["lookalike"]
        )
        / len(planted["lookalike"]),
        "indicator": sum(
            any(f.detector == "dns.indicator" and (f.domain or "").endswith(bad)
                for f in report.findings)
            for bad in planted["indicator"]
        )
        / len(planted["indicator"]),
    }  # fmt: skip
    planted_clients = set(planted["dga"]) | {h for h, _d in planted["tunnel"]}
    extra = [
        f
        for f in report.findings
        if f.detector in ("dns.dga", "dns.tunnel") and f.client not in planted_clients
    ]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "events": report.events,
        "names": report.names,
        "clients": report.clients,
        "threads": args.threads,
        "hunt_seconds": round(hunt_seconds, 2),
        "events_per_second": round(report.events / hunt_seconds),
        "steps": report.timings,
        "top_seconds": round(top_seconds, 2),
        "findings": report.by_detector(),
        "recall": recall,
        "false_dga_or_tunnel_hosts": len(extra),
        "top_lookups": top.lookups,
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "dns.json").write_text(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
