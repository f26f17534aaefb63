"""Newly observed and rare domains: which registered domains this organisation already knows.

The history is one Parquet file in the home (``state/dns/domains.parquet``): per registered
domain, when a client first and last asked for it, a few of the clients (enough to say "rare")
and how many lookups. Each hunt merges its window into it in DuckDB, and a domain nobody asked
for in ``dns_new_domain_days`` is forgotten, so it counts as new again when it comes back (as
newly-observed-domain feeds do).

The first run has no history: it builds one from the lake's DNS events of the
``dns_new_domain_days`` before the window. New-domain findings wait until the history covers
``dns_learning_days``; before that, every domain would look new.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tocsin.core.event import Reason
from tocsin.core.settings import Settings
from tocsin.dns.findings import Finding


@dataclass(frozen=True, slots=True)
class HistoryState:
    """Where the history is and since when it covers the organisation's lookups."""

    path: Path
    started: datetime | None

    @property
    def meta_path(self) -> Path:
        """The small JSON file beside the Parquet file."""
        return self.path.with_suffix(".json")


def history_path(settings: Settings) -> Path:
    """The history file of this home."""
    return settings.state_dir / "dns" / "domains.parquet"


def open_history(settings: Settings) -> HistoryState:
    """The history of this home, or an empty state when there is none yet."""
    path = history_path(settings)
    started = None
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        try:
            started = datetime.fromisoformat(json.loads(meta.read_text())["started"])
        except (ValueError, KeyError, TypeError):
            started = None
    return HistoryState(path, started if path.is_file() else None)


def window_domains(con: duckdb.DuckDBPyConnection, keep_clients: int) -> None:
    """Per registered domain of the window: first and last time, a few clients, lookups."""
    con.execute("DROP TABLE IF EXISTS window_domains")
    con.execute(
        "CREATE TEMP TABLE window_domains AS SELECT n.domain, min(p.first) AS first_seen, "
        "max(p.last) AS last_seen, "
        "list_sort(list_distinct(list(p.client)))[1:$keep] AS clients, "
        "sum(p.lookups)::BIGINT AS lookups, bool_or(n.allowed) AS allowed, max(n.dga) AS dga, "
        "bool_or(p.ok) AS resolved "
        "FROM pairs p JOIN names n USING (name) WHERE n.domain IS NOT NULL "
        "GROUP BY n.domain",
        {"keep": int(keep_clients)},
    )


def load_history(con: duckdb.DuckDBPyConnection, state: HistoryState) -> None:
    """The stored history as the temporary table ``history`` (empty when there is none)."""
    con.execute("DROP TABLE IF EXISTS history")
    if state.path.is_file():
        con.execute(
            "CREATE TEMP TABLE history AS SELECT * FROM read_parquet($path)",
            {"path": str(state.path)},
        )
    else:
        con.execute(
            "CREATE TEMP TABLE history (domain VARCHAR, first_seen TIMESTAMPTZ, "
            "last_seen TIMESTAMPTZ, clients VARCHAR[], lookups BIGINT)"
        )


def seed_history(con: duckdb.DuckDBPyConnection) -> None:
    """Fill ``history`` from ``window_domains`` of an older window (the first run's bootstrap)."""
    con.execute(
        "INSERT INTO history SELECT domain, first_seen, last_seen, clients, lookups "
        "FROM window_domains"
    )


def new_domains(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime,
    forget_before: datetime,
    rare_hosts: int,
    limit: int,
) -> list[Finding]:
    """Domains of the window nobody asked for before it (within the memory), by few hosts.

    Only domains that resolved count: a name answered NXDOMAIN does not exist (typos, and
    DGA names, which the DGA detector weighs), so no host talked to it.
    """
    rows = con.execute(
        "SELECT w.domain, w.first_seen, w.last_seen, w.clients, w.lookups, w.dga "
        "FROM window_domains w LEFT JOIN history h ON h.domain = w.domain "
        "AND h.first_seen < $since AND h.last_seen >= $forget "
        "WHERE h.domain IS NULL AND w.resolved AND NOT w.allowed AND len(w.clients) <= $rare "
        "ORDER BY len(w.clients), w.dga DESC NULLS LAST, w.first_seen LIMIT $limit",
        {"since": since, "forget": forget_before, "rare": rare_hosts, "limit": limit},
    ).fetchall()
    findings: list[Finding] = []
    for domain, first, last, clients, lookups, dga_score in rows:
        who = ", ".join(clients or [])
        reasons = [
            Reason(
                "dns.new_domain.first_seen",
                f"{domain} was first asked for at {first:%Y-%m-%d %H:%M} UTC: no host asked for "
                "it before in the remembered history",
                0.5,
            ),
            Reason(
                "dns.new_domain.rare",
                f"only {len(clients or [])} host(s) asked for it ({who}), {int(lookups)} lookups",
                0.3,
            ),
        ]
        if dga_score is not None and dga_score >= 0.5:
            reasons.append(
                Reason(
                    "dns.new_domain.random", f"its name looks random (score {dga_score:.2f})", 0.2
                )
            )
        score = sum(r.weight for r in reasons)
        client = clients[0] if clients and len(clients) == 1 else None
        findings.append(
            Finding(
                detector="dns.new_domain",
                severity="medium" if score >= 1.0 else "low",
                title=f"Newly observed domain {domain} ({who or 'unknown host'})",
                client=client,
                domain=str(domain),
                score=score,
                reasons=tuple(reasons),
                first_seen=first,
                last_seen=last,
                fields={"dns.clients": list(clients or [])},
            )
        )
    return findings


def save_history(
    con: duckdb.DuckDBPyConnection,
    state: HistoryState,
    *,
    started: datetime,
    forget_before: datetime,
    keep_clients: int,
) -> int:
    """Merge the window into the history, forget what is too old, write it; returns its rows."""
    state.path.parent.mkdir(parents=True, exist_ok=True)
    merged: pa.Table = con.sql(
        "SELECT coalesce(h.domain, w.domain) AS domain, "
        "CASE WHEN h.domain IS NULL OR h.last_seen < $forget THEN w.first_seen "
        "WHEN w.domain IS NULL THEN h.first_seen "
        "ELSE least(h.first_seen, w.first_seen) END AS first_seen, "
        "greatest(h.last_seen, w.last_seen) AS last_seen, "
        "list_sort(list_distinct(list_concat(coalesce(h.clients, []), "
        "coalesce(w.clients, []))))[1:$keep] AS clients, "
        "coalesce(h.lookups, 0) + coalesce(w.lookups, 0) AS lookups "
        "FROM history h FULL OUTER JOIN window_domains w ON h.domain = w.domain "
        "WHERE greatest(h.last_seen, w.last_seen) >= $forget",
        params={"forget": forget_before, "keep": int(keep_clients)},
    ).to_arrow_table()
    tmp = state.path.with_name(f".{state.path.name}.{os.getpid()}.tmp")
    pq.write_table(merged, tmp)
    os.replace(tmp, state.path)
    state.meta_path.write_text(json.dumps({"started": started.isoformat()}))
    return int(merged.num_rows)


def memory(settings: Settings) -> timedelta:
    """How long a domain is remembered after its last lookup."""
    return timedelta(days=settings.dns_new_domain_days)
