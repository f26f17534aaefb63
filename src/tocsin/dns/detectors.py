"""The DNS detectors: DGA hosts, tunnels, newly observed domains, lookalikes, indicators.

Each detector reads the window's tables in one DuckDB connection (see ``tocsin.dns.hunt``):

``lookups``
    one row per DNS event (``tocsin.dns.source``);
``names``
    one row per distinct name: ``domain``, ``sub``, ``label``, ``allowed``, ``dga``
    (``tocsin.dns.names``);
``pairs``
    one row per (client, name): ``lookups``, ``records``, ``nx`` (some answer said NXDOMAIN),
    ``ok`` (some answer said NOERROR), ``txt`` (TXT or NULL questions), ``bytes``, ``first``,
    ``last``.

and returns findings with their reasons. The thresholds live in ``DEFAULT_THRESHOLDS`` (the
DGA ones in ``tocsin.dns.dga``); the ``dns_thresholds`` setting overrides any of them, and
docs/dns.md explains each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import duckdb
import numpy as np

from tocsin.core.event import Reason
from tocsin.dns.findings import Finding, level
from tocsin.dns.names import char_entropy
from tocsin.intel.indicators import IndicatorSet
from tocsin.intel.lookalike import LookalikeDetector

DEFAULT_THRESHOLDS: dict[str, float] = {
    # tunnelling: one client, one registered domain, one window
    "tunnel.min_names": 20,  # distinct names asked under the domain (the gate)
    "tunnel.many_names": 200,  # ... and this many weigh more
    "tunnel.sub_length": 20,  # mean length of the subdomain part, characters
    "tunnel.entropy": 3.2,  # mean Shannon entropy of the subdomain part, bits per character
    "tunnel.txt_share": 0.3,  # share of TXT or NULL questions
    "tunnel.bytes": 50_000,  # bytes (counted or estimated) to and from the domain
    "tunnel.score": 0.6,  # score from which a tunnel is reported
    # newly observed domains
    "new.rare_hosts": 2,  # at most this many clients asked for it
    "new.max_alerts": 50,  # at most this many new-domain findings per run
    # events cited per finding
    "events.per_finding": 25,
}
"""Thresholds of the detectors (the DGA detector's are in ``tocsin.dns.dga``)."""

TUNNEL_LEVELS = ((0.85, "high"), (0.6, "medium"), (0.0, "low"))
"""Sigma level of a tunnel score: 0.85 and more high, 0.6 medium."""


@dataclass(slots=True)
class HuntContext:
    """What the detectors share in one run: the connection, the window, the settings."""

    con: duckdb.DuckDBPyConnection
    since: datetime
    until: datetime
    thresholds: dict[str, float]
    indicators: IndicatorSet | None = None
    lookalikes: LookalikeDetector | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def t(self, name: str) -> float:
        """One threshold."""
        return float(self.thresholds[name])

    def rows(self, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and fetch every row."""
        return self.con.execute(sql, dict(params or {})).fetchall()

    def events(
        self, keys: Sequence[tuple[int, str | None, str]], *, by: str
    ) -> dict[int, tuple[tuple[str, ...], Any, Any]]:
        """The first events and time span of each finding, in one query for all of them.

        ``keys`` are ``(finding, client, value)`` rows, several per finding when it covers
        several domains; ``by`` says whether a value is a registered ``domain`` or a ``name``.
        """
        if not keys:
            return {}
        self.con.execute("DROP TABLE IF EXISTS finding_keys")
        self.con.execute(
            "CREATE TEMP TABLE finding_keys (k INTEGER, client VARCHAR, value VARCHAR)"
        )
        self.con.executemany(
            "INSERT INTO finding_keys VALUES (?, ?, ?)",
            [(k, client or "", value) for k, client, value in keys],
        )
        sql = (
            "SELECT k.k, list(l.id ORDER BY l.ts)[1:$limit], min(l.ts), max(l.ts) "
            "FROM lookups l JOIN names n USING (name) JOIN finding_keys k "
            "ON coalesce(l.client, '') = k.client AND n.domain = k.value GROUP BY k.k"
            if by == "domain"
            else "SELECT k.k, list(l.id ORDER BY l.ts)[1:$limit], min(l.ts), max(l.ts) "
            "FROM lookups l JOIN finding_keys k "
            "ON coalesce(l.client, '') = k.client AND l.name = k.value GROUP BY k.k"
        )
        rows = self.rows(sql, {"limit": int(self.t("events.per_finding"))})
        return {int(k): (tuple(i for i in ids if i), first, last) for k, ids, first, last in rows}


# -- DGA ------------------------------------------------------------------------------------


def detect_dga(ctx: HuntContext) -> list[Finding]:
    """Hosts that asked for many random-looking registered domains, most of them NXDOMAIN."""
    from tocsin.dns import dga

    con = ctx.con
    con.execute("DROP TABLE IF EXISTS dga_pairs")
    # one row per client and registered domain; clients numbered in SQL (sorting millions of
    # Python strings would cost more than the whole query)
    con.execute(
        "CREATE TEMP TABLE dga_pairs AS SELECT "
        "(dense_rank() OVER (ORDER BY p.client) - 1)::INTEGER AS cid, p.client, n.domain, "
        "max(n.dga) AS score, bool_or(p.nx) AND NOT bool_or(p.ok) AS nx, "
        "sum(p.lookups)::BIGINT AS lookups "
        "FROM pairs p JOIN names n USING (name) "
        "WHERE n.domain IS NOT NULL AND NOT n.allowed AND p.client IS NOT NULL "
        "GROUP BY p.client, n.domain"
    )
    arrays = con.execute("SELECT cid, score, nx, lookups FROM dga_pairs").fetchnumpy()
    if len(arrays["cid"]) == 0:
        return []
    index = np.asarray(arrays["cid"], dtype=np.int64)
    scores = np.nan_to_num(np.asarray(arrays["score"], dtype=np.float64), nan=0.0)
    host = dga.score_hosts(
        index,
        scores,
        np.asarray(arrays["nx"], dtype=bool),
        np.asarray(arrays["lookups"], dtype=np.int64),
        n_clients=int(index.max()) + 1,
        thresholds={k: v for k, v in ctx.thresholds.items() if k.startswith("dga.")} or None,
    )
    flagged = [int(i) for i in np.flatnonzero(host.flagged)]
    if not flagged:
        return []
    samples: dict[int, list[str]] = {}
    clients: dict[int, str] = {}
    for cid, client, domain in ctx.rows(
        "SELECT cid, client, domain FROM ("
        "SELECT cid, client, domain, row_number() OVER "
        "(PARTITION BY cid ORDER BY nx DESC, score DESC NULLS LAST, domain) AS rank "
        "FROM dga_pairs WHERE list_contains($ids, cid)) WHERE rank <= 10 ORDER BY cid, rank",
        {"ids": flagged},
    ):
        clients[int(cid)] = str(client)
        samples.setdefault(int(cid), []).append(str(domain))
    events = ctx.events(
        [(cid, clients[cid], domain) for cid in flagged for domain in samples.get(cid, ())],
        by="domain",
    )
    findings: list[Finding] = []
    for cid in flagged:
        client, names = clients[cid], samples.get(cid, [])
        ids, first, last = events.get(cid, ((), None, None))
        score = float(host.score[cid])
        findings.append(
            Finding(
                detector="dns.dga",
                severity=dga.severity_for(score),
                title=(
                    f"DGA-like lookups from {client}: {int(host.random_domains[cid])} "
                    f"random-looking domains, {int(host.nx_domains[cid])} NXDOMAIN"
                ),
                client=client,
                domain=None,
                score=score,
                reasons=tuple(dga.host_reasons(host, cid, names)),
                event_ids=ids,
                first_seen=first,
                last_seen=last,
                names=tuple(names),
                fields={"dns.nx_domains": int(host.nx_domains[cid])},
            )
        )
    return findings


# -- tunnels --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TunnelStats:
    """One client's traffic to one registered domain in the window."""

    client: str
    domain: str
    names: int
    lookups: int
    mean_sub: float
    max_name: int
    txt_share: float
    nx_share: float
    bytes: int
    entropy: float = 0.0


def tunnel_score(stats: TunnelStats, t: Mapping[str, float]) -> tuple[float, list[Reason]]:
    """Score a client-domain pair for tunnelling; each part that counted is one reason."""
    many = stats.names >= t["tunnel.many_names"]
    parts = (
        (
            stats.names >= t["tunnel.min_names"],
            "unique_names",
            0.45 if many else 0.3,
            f"{stats.names} distinct names under {stats.domain} from {stats.client} "
            f"({stats.lookups} lookups)",
        ),
        (
            stats.mean_sub >= t["tunnel.sub_length"],
            "length",
            0.2,
            f"subdomains average {stats.mean_sub:.0f} characters (longest name {stats.max_name})",
        ),
        (
            stats.entropy >= t["tunnel.entropy"],
            "entropy",
            0.2,
            f"subdomains average {stats.entropy:.2f} bits of entropy per character "
            "(encoded data, not words)",
        ),
        (
            stats.txt_share >= t["tunnel.txt_share"],
            "record_types",
            0.15,
            f"{stats.txt_share:.0%} of the questions are TXT or NULL records",
        ),
        (
            stats.bytes >= t["tunnel.bytes"],
            "volume",
            0.15,
            f"{stats.bytes:,} bytes exchanged about {stats.domain} in the window",
        ),
    )
    reasons = [Reason(f"dns.tunnel.{check}", detail, w) for hit, check, w, detail in parts if hit]
    return min(sum(r.weight for r in reasons), 1.0), reasons


def detect_tunnels(ctx: HuntContext) -> list[Finding]:
    """Clients asking many long, random, distinct names under one domain: data in the names."""
    rows = ctx.rows(
        "SELECT p.client, n.domain, count(*) AS names, sum(p.lookups) AS lookups, "
        "avg(length(n.sub)) AS mean_sub, max(length(n.name)) AS max_name, "
        "sum(p.txt) / greatest(sum(p.records), 1) AS txt_share, "
        "count(*) FILTER (WHERE p.nx AND NOT p.ok) / count(*) AS nx_share, "
        "sum(p.bytes) AS bytes "
        "FROM pairs p JOIN names n USING (name) "
        "WHERE n.domain IS NOT NULL AND NOT n.allowed AND p.client IS NOT NULL "
        "GROUP BY p.client, n.domain HAVING count(*) >= $gate",
        {"gate": int(ctx.t("tunnel.min_names"))},
    )
    candidates = [
        TunnelStats(
            str(r[0]),
            str(r[1]),
            int(r[2]),
            int(r[3]),
            float(r[4] or 0),
            int(r[5] or 0),
            float(r[6] or 0),
            float(r[7] or 0),
            int(r[8] or 0),
        )
        for r in rows
    ]
    ctx.stats["tunnel.candidates"] = len(candidates)
    if not candidates:
        return []
    entropy = _sub_entropy(ctx, candidates)
    scored = []
    for stats in candidates:
        stats = replace(stats, entropy=entropy.get((stats.client, stats.domain), 0.0))
        score, reasons = tunnel_score(stats, ctx.thresholds)
        if score >= ctx.t("tunnel.score"):
            scored.append((stats, score, reasons))
    keys = [(k, stats.client, stats.domain) for k, (stats, _s, _r) in enumerate(scored)]
    events = ctx.events(keys, by="domain")
    names = _sample_names(ctx)
    findings: list[Finding] = []
    for k, (stats, score, reasons) in enumerate(scored):
        ids, first, last = events.get(k, ((), None, None))
        samples = names.get(k, ())
        findings.append(
            Finding(
                detector="dns.tunnel",
                severity=level(score, TUNNEL_LEVELS),
                title=f"DNS tunnel suspected: {stats.client} to {stats.domain} "
                f"({stats.names} distinct names)",
                client=stats.client,
                domain=stats.domain,
                score=score,
                reasons=tuple(reasons),
                event_ids=ids,
                first_seen=first,
                last_seen=last,
                names=samples,
                fields={
                    "dns.tunnel.names": stats.names,
                    "dns.tunnel.bytes": stats.bytes,
                    "dns.tunnel.entropy": round(stats.entropy, 2),
                },
            )
        )
    return findings


def _sub_entropy(
    ctx: HuntContext, candidates: Sequence[TunnelStats]
) -> dict[tuple[str, str], float]:
    """Mean character entropy of the subdomains each candidate pair asked for."""
    keys = [(c.client, c.domain) for c in candidates]
    ctx.con.execute("DROP TABLE IF EXISTS tunnel_keys")
    ctx.con.execute("CREATE TEMP TABLE tunnel_keys (client VARCHAR, domain VARCHAR)")
    ctx.con.executemany("INSERT INTO tunnel_keys VALUES (?, ?)", keys)
    rows = ctx.con.execute(
        "SELECT p.client, n.domain, n.sub FROM pairs p JOIN names n USING (name) "
        "JOIN tunnel_keys k ON k.client = p.client AND k.domain = n.domain"
    ).fetchnumpy()
    subs = [str(s) for s in rows["sub"]]
    values = char_entropy(subs)
    sums: dict[tuple[str, str], list[float]] = {}
    for client, domain, value in zip(rows["client"], rows["domain"], values, strict=True):
        entry = sums.setdefault((str(client), str(domain)), [0.0, 0.0])
        entry[0] += float(value)
        entry[1] += 1
    return {key: total / count for key, (total, count) in sums.items() if count}


def _sample_names(ctx: HuntContext) -> dict[int, tuple[str, ...]]:
    """The first ten names each finding of ``finding_keys`` asked for."""
    rows = ctx.rows(
        "SELECT k.k, list(p.name ORDER BY p.first, p.name)[1:10] FROM pairs p "
        "JOIN names n USING (name) JOIN finding_keys k "
        "ON coalesce(p.client, '') = k.client AND n.domain = k.value GROUP BY k.k"
    )
    return {int(k): tuple(str(n) for n in names) for k, names in rows}


# -- lookalikes and indicators ------------------------------------------------------------------


def _clients_of(ctx: HuntContext, names: Sequence[str]) -> list[tuple[str, str | None, int]]:
    """Who asked for each of these names, and how often: ``(name, client, lookups)``."""
    if not names:
        return []
    rows = ctx.rows(
        "SELECT name, client, sum(lookups)::BIGINT FROM pairs "
        "WHERE list_contains($names, name) GROUP BY name, client ORDER BY name, client",
        {"names": list(names)},
    )
    return [(str(n), None if c is None else str(c), int(count)) for n, c, count in rows]


def detect_lookalikes(ctx: HuntContext) -> list[Finding]:
    """Names that imitate the organisation's protected domains."""
    detector = ctx.lookalikes
    if detector is None or not detector.protected:
        return []
    names = [str(r[0]) for r in ctx.rows("SELECT name FROM names WHERE NOT allowed")]
    matches = {
        name: match
        for name, match in zip(names, detector.check_many(names), strict=True)
        if match is not None
    }
    asked = _clients_of(ctx, sorted(matches))
    events = ctx.events([(k, c, n) for k, (n, c, _) in enumerate(asked)], by="name")
    findings: list[Finding] = []
    for k, (name, client, count) in enumerate(asked):
        match = matches[name]
        ids, first, last = events.get(k, ((), None, None))
        findings.append(
            Finding(
                detector="dns.lookalike",
                severity="high",
                title=f"{client or 'A host'} looked up {name}, a lookalike of {match.protected}",
                client=client,
                domain=match.domain,
                score=1.0,
                reasons=(
                    Reason(f"dns.lookalike.{match.technique}", match.detail, 1.0),
                    Reason("dns.lookalike.lookups", f"{count} lookups of {name} by {client}", 0.0),
                ),
                event_ids=ids,
                first_seen=first,
                last_seen=last,
                names=(name,),
                fields={"dns.protected_domain": match.protected},
            )
        )
    return findings


def detect_indicators(ctx: HuntContext) -> list[Finding]:
    """Names on an indicator feed or on the block list."""
    indicators = ctx.indicators
    if not indicators:
        return []
    hits: dict[str, list[Any]] = {}
    for (name,) in ctx.rows("SELECT name FROM names"):
        found = indicators.match_domain(str(name), now=ctx.until)
        if found:
            hits[str(name)] = found
    asked = _clients_of(ctx, sorted(hits))
    events = ctx.events([(k, c, n) for k, (n, c, _) in enumerate(asked)], by="name")
    findings: list[Finding] = []
    for k, (name, client, count) in enumerate(asked):
        found = hits[name]
        reasons = tuple(
            Reason(
                "dns.indicator." + (hit.source or "feed"),
                f"{name} matches {hit.value} from {hit.source or 'a feed'}"
                + (f" ({', '.join(hit.tags)})" if hit.tags else "")
                + (f": {hit.description}" if hit.description else ""),
                1.0,
            )
            for hit in found[:5]
        )
        ids, first, last = events.get(k, ((), None, None))
        findings.append(
            Finding(
                detector="dns.indicator",
                severity="high",
                title=f"{client or 'A host'} looked up {name}, a known-bad domain "
                f"({found[0].source or 'indicator'})",
                client=client,
                domain=name,
                score=1.0,
                reasons=reasons,
                event_ids=ids,
                first_seen=first,
                last_seen=last,
                names=(name,),
                fields={"dns.indicator": found[0].value, "lookups": count},
            )
        )
    return findings
