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
from dataclasses import dataclass, field
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
    protected: tuple[str, ...] = ()
    indicators: IndicatorSet | None = None
    lookalikes: LookalikeDetector | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def t(self, name: str) -> float:
        """One threshold."""
        return float(self.thresholds[name])

    def rows(self, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and fetch every row."""
        return self.con.execute(sql, dict(params or {})).fetchall()

    def event_ids(self, client: str | None, domain: str | None) -> tuple[tuple[str, ...], Any, Any]:
        """The first events of a client's lookups under a domain, and their time span."""
        limit = int(self.t("events.per_finding"))
        where = ["n.domain = $domain" if domain is not None else "true"]
        params: dict[str, object] = {"limit": limit}
        if domain is not None:
            params["domain"] = domain
        if client is not None:
            where.append("l.client = $client")
            params["client"] = client
        rows = self.rows(
            "SELECT list(l.id ORDER BY l.ts)[1:$limit], min(l.ts), max(l.ts) "
            "FROM lookups l JOIN names n USING (name) WHERE " + " AND ".join(where),
            params,
        )
        if not rows or rows[0][0] is None:
            return (), None, None
        ids, first, last = rows[0]
        return tuple(i for i in ids if i), first, last


# -- DGA ------------------------------------------------------------------------------------


def detect_dga(ctx: HuntContext) -> list[Finding]:
    """Hosts that asked for many random-looking registered domains, most of them NXDOMAIN."""
    from tocsin.dns import dga

    rows = ctx.con.execute(
        "SELECT p.client, n.domain, max(n.dga) AS score, "
        "bool_or(p.nx) AND NOT bool_or(p.ok) AS nx, sum(p.lookups) AS lookups "
        "FROM pairs p JOIN names n USING (name) "
        "WHERE n.domain IS NOT NULL AND NOT n.allowed AND p.client IS NOT NULL "
        "GROUP BY p.client, n.domain"
    ).fetchnumpy()
    if len(rows["client"]) == 0:
        return []
    clients, index = np.unique(np.asarray(rows["client"], dtype=object), return_inverse=True)
    scores = np.asarray(rows["score"], dtype=np.float64)
    nx = np.asarray(rows["nx"], dtype=bool)
    lookups = np.asarray(rows["lookups"], dtype=np.int64)
    thresholds = {k: v for k, v in ctx.thresholds.items() if k.startswith("dga.")}
    host = dga.score_hosts(
        index, scores, nx, lookups, n_clients=len(clients), thresholds=thresholds or None
    )
    domains = np.asarray(rows["domain"], dtype=object)
    findings: list[Finding] = []
    for i in np.flatnonzero(host.flagged):
        mine = index == i
        order = np.lexsort((-scores[mine], ~nx[mine]))  # NXDOMAIN first, then by score
        samples = [str(d) for d in domains[mine][order][:10]]
        client = str(clients[i])
        ids, first, last = _sample_events(ctx, client, samples)
        score = float(host.score[i])
        findings.append(
            Finding(
                detector="dns.dga",
                severity=dga.severity_for(score),
                title=(
                    f"DGA-like lookups from {client}: {int(host.random_domains[i])} random-looking "
                    f"domains, {int(host.nx_domains[i])} NXDOMAIN"
                ),
                client=client,
                domain=None,
                score=score,
                reasons=tuple(dga.host_reasons(host, int(i), samples)),
                event_ids=ids,
                first_seen=first,
                last_seen=last,
                names=tuple(samples),
                fields={"dns.nx_domains": int(host.nx_domains[i])},
            )
        )
    return findings


def _sample_events(
    ctx: HuntContext, client: str, domains: Sequence[str]
) -> tuple[tuple[str, ...], Any, Any]:
    limit = int(ctx.t("events.per_finding"))
    rows = ctx.rows(
        "SELECT list(l.id ORDER BY l.ts)[1:$limit], min(l.ts), max(l.ts) "
        "FROM lookups l JOIN names n USING (name) "
        "WHERE l.client = $client AND list_contains($domains, n.domain)",
        {"limit": limit, "client": client, "domains": list(domains)},
    )
    if not rows or rows[0][0] is None:
        return (), None, None
    ids, first, last = rows[0]
    return tuple(i for i in ids if i), first, last


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
    reasons: list[Reason] = []
    score = 0.0
    if stats.names >= t["tunnel.min_names"]:
        weight = 0.45 if stats.names >= t["tunnel.many_names"] else 0.3
        score += weight
        reasons.append(
            Reason(
                "dns.tunnel.unique_names",
                f"{stats.names} distinct names under {stats.domain} from {stats.client} "
                f"({stats.lookups} lookups)",
                weight,
            )
        )
    if stats.mean_sub >= t["tunnel.sub_length"]:
        score += 0.2
        reasons.append(
            Reason(
                "dns.tunnel.length",
                f"subdomains average {stats.mean_sub:.0f} characters (longest name "
                f"{stats.max_name})",
                0.2,
            )
        )
    if stats.entropy >= t["tunnel.entropy"]:
        score += 0.2
        reasons.append(
            Reason(
                "dns.tunnel.entropy",
                f"subdomains average {stats.entropy:.2f} bits of entropy per character "
                "(encoded data, not words)",
                0.2,
            )
        )
    if stats.txt_share >= t["tunnel.txt_share"]:
        score += 0.15
        reasons.append(
            Reason(
                "dns.tunnel.record_types",
                f"{stats.txt_share:.0%} of the questions are TXT or NULL records",
                0.15,
            )
        )
    if stats.bytes >= t["tunnel.bytes"]:
        score += 0.15
        reasons.append(
            Reason(
                "dns.tunnel.volume",
                f"{stats.bytes:,} bytes exchanged about {stats.domain} in the window",
                0.15,
            )
        )
    return min(score, 1.0), reasons


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
    findings: list[Finding] = []
    for stats in candidates:
        stats = TunnelStats(
            **{**_fields(stats), "entropy": entropy.get((stats.client, stats.domain), 0.0)}
        )
        score, reasons = tunnel_score(stats, ctx.thresholds)
        if score < ctx.t("tunnel.score"):
            continue
        ids, first, last = ctx.event_ids(stats.client, stats.domain)
        samples = _sample_names(ctx, stats.client, stats.domain)
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


def _fields(stats: TunnelStats) -> dict[str, Any]:
    return {name: getattr(stats, name) for name in TunnelStats.__slots__}


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


def _sample_names(ctx: HuntContext, client: str, domain: str) -> tuple[str, ...]:
    rows = ctx.rows(
        "SELECT p.name FROM pairs p JOIN names n USING (name) "
        "WHERE n.domain = $domain AND p.client = $client ORDER BY p.first LIMIT 10",
        {"domain": domain, "client": client},
    )
    return tuple(str(r[0]) for r in rows)


# -- lookalikes and indicators ------------------------------------------------------------------


def detect_lookalikes(ctx: HuntContext) -> list[Finding]:
    """Names that imitate the organisation's protected domains."""
    detector = ctx.lookalikes
    if detector is None or not detector.protected:
        return []
    names = [str(r[0]) for r in ctx.rows("SELECT name FROM names WHERE NOT allowed")]
    check_many = getattr(detector, "check_many", None)
    results = check_many(names) if check_many else [detector.check(n) for n in names]
    hits: dict[str, list[tuple[str, Any]]] = {}
    for name, match in zip(names, results, strict=True):
        if match is not None:
            hits.setdefault(match.protected, []).append((name, match))
    findings: list[Finding] = []
    for protected, matches in hits.items():
        for name, match in matches:
            for client, count in ctx.rows(
                "SELECT client, sum(lookups) FROM pairs WHERE name = $name GROUP BY client",
                {"name": name},
            ):
                client_text = str(client) if client is not None else None
                ids, first, last = _name_events(ctx, client_text, name)
                findings.append(
                    Finding(
                        detector="dns.lookalike",
                        severity="high",
                        title=f"{client_text or 'A host'} looked up {name}, a lookalike of "
                        f"{protected}",
                        client=client_text,
                        domain=match.domain if hasattr(match, "domain") else name,
                        score=1.0,
                        reasons=(
                            Reason(f"dns.lookalike.{match.technique}", match.detail, 1.0),
                            Reason(
                                "dns.lookalike.lookups",
                                f"{int(count)} lookups of {name} by {client_text}",
                                0.0,
                            ),
                        ),
                        event_ids=ids,
                        first_seen=first,
                        last_seen=last,
                        names=(name,),
                        fields={"dns.protected_domain": protected},
                    )
                )
    return findings


def _name_events(
    ctx: HuntContext, client: str | None, name: str
) -> tuple[tuple[str, ...], Any, Any]:
    limit = int(ctx.t("events.per_finding"))
    rows = ctx.rows(
        "SELECT list(id ORDER BY ts)[1:$limit], min(ts), max(ts) FROM lookups "
        "WHERE name = $name AND client IS NOT DISTINCT FROM $client",
        {"limit": limit, "name": name, "client": client},
    )
    if not rows or rows[0][0] is None:
        return (), None, None
    ids, first, last = rows[0]
    return tuple(i for i in ids if i), first, last


def detect_indicators(ctx: HuntContext) -> list[Finding]:
    """Names on an indicator feed or on the block list."""
    indicators = ctx.indicators
    if not indicators:
        return []
    findings: list[Finding] = []
    for (name,) in ctx.rows("SELECT name FROM names"):
        hits = indicators.match_domain(str(name), now=ctx.until)
        if not hits:
            continue
        reasons = tuple(
            Reason(
                "dns.indicator." + (hit.source or "feed"),
                f"{name} matches {hit.value} from {hit.source or 'a feed'}"
                + (f" ({', '.join(hit.tags)})" if hit.tags else "")
                + (f": {hit.description}" if hit.description else ""),
                1.0,
            )
            for hit in hits[:5]
        )
        for client, count in ctx.rows(
            "SELECT client, sum(lookups) FROM pairs WHERE name = $name GROUP BY client",
            {"name": name},
        ):
            client_text = str(client) if client is not None else None
            ids, first, last = _name_events(ctx, client_text, str(name))
            findings.append(
                Finding(
                    detector="dns.indicator",
                    severity="high",
                    title=f"{client_text or 'A host'} looked up {name}, a known-bad domain "
                    f"({hits[0].source or 'indicator'})",
                    client=client_text,
                    domain=str(name),
                    score=1.0,
                    reasons=reasons,
                    event_ids=ids,
                    first_seen=first,
                    last_seen=last,
                    names=(str(name),),
                    fields={"dns.indicator": hits[0].value, "lookups": int(count)},
                )
            )
    return findings
