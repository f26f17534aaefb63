"""The network detectors: beacons, long connections, scans, exfiltration, rare fingerprints.

Each detector is a query over the ``flows`` (and ``prints``) tables of :mod:`tocsin.network.source`
followed by a little numpy where a score needs the whole series. Every finding explains itself
with reasons, lists its evidence (flow event ids and Community IDs, so the console can fetch the
packets) and maps its score to a Sigma level through one table per detector.

Beacon scoring follows the idea of RITA (Active Countermeasures): a host that phones home keeps
a rhythm (regular intervals), a habit (similar sizes) and a presence (it shows up hour after
hour). The subscores, each in [0, 1]:

* ``ts_skew``: 1 - |Bowley skewness| of the intervals (regular intervals are symmetric), shrunk
  toward 0.5 for pairs with few intervals (below);
* ``ts_madm``: 1 - MADM/interval of the intervals (jitter small against the period);
* ``ds_skew``, ``ds_madm``: the same over the bytes sent per connection (MADM against 32 bytes);
* ``ds_small``: small payloads (1 - mode/64 KiB);
* ``hist``: the share of the hours between the first and the last connection that have one;
* ``coverage``: how much of the window the pair spans.

The score is the weighted mean (timing 0.40, sizes 0.30, hours 0.15, coverage 0.15).

**Small samples.** The quartiles of twenty intervals are noisy: about one pair in twenty with
twenty to forty connections at random times shows a symmetric spread by chance, and with steady
sizes that is enough to be called a beacon. So ``ts_skew`` is shrunk toward 0.5 (undecided) as
if ``beacon.prior_intervals`` more intervals had scored 0.5: (n x skew + p x 0.5) / (n + p).
Twenty intervals keep half their evidence, a thousand keep 98 %. Only the symmetry is shrunk:
shrinking the dispersion too (or the size statistics) cost more real hourly beacons for fewer
false ones removed (docs/network.md gives the figures, ``benchmarks/beacon_eval.py`` makes them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np

from tocsin.core.event import Reason
from tocsin.workspace.models import AlertDraft, Observable

DEFAULT_THRESHOLDS: dict[str, float] = {
    "beacon.min_connections": 20,
    "beacon.min_score": 0.80,
    "beacon.min_interval_s": 5.0,
    "beacon.min_timing": 0.7,
    "beacon.prior_intervals": 20,
    "beacon.internal": 0,
    "long.min_hours": 1.0,
    "scan.vertical_ports": 100,
    "scan.horizontal_hosts": 50,
    "exfil.min_mb": 100.0,
    "exfil.baseline_multiple": 10.0,
    "exfil.baseline_days": 7,
    "exfil.rare_hosts": 2,
    "rare.max_hosts": 1,
    "rare.history_days": 7,
    "evidence.max": 50,
}
"""Every threshold, overridable by ``net_thresholds`` (docs/network.md explains each)."""

SEVERITY_TABLES: dict[str, tuple[tuple[float, str], ...]] = {
    "net.beacon": ((0.95, "high"), (0.85, "medium"), (0.0, "low")),
    "net.long_connection": ((24.0, "medium"), (0.0, "low")),
    "net.scan": ((1000.0, "high"), (300.0, "medium"), (0.0, "low")),
    "net.exfiltration": ((1000.0, "high"), (0.0, "medium")),
    "net.rare_fingerprint": ((0.0, "low"),),
    "net.indicator": ((0.0, "high"),),
}
"""Score to Sigma level per detector, highest first (the score's unit depends on the detector:
beacon score, hours, distinct ports or hosts, megabytes)."""

TAGS: dict[str, tuple[str, ...]] = {
    "net.beacon": ("attack.command-and-control", "attack.t1071", "attack.t1573"),
    "net.long_connection": ("attack.command-and-control", "attack.t1071"),
    "net.scan": ("attack.discovery", "attack.t1046"),
    "net.exfiltration": ("attack.exfiltration", "attack.t1048", "attack.t1041"),
    "net.rare_fingerprint": ("attack.command-and-control",),
    "net.indicator": ("attack.command-and-control",),
}


def level(detector: str, score: float) -> str:
    """The Sigma level of a detector's score."""
    for minimum, name in SEVERITY_TABLES[detector]:
        if score >= minimum:
            return name
    return "informational"


@dataclass(frozen=True, slots=True)
class Finding:
    """One network finding: who, with whom, how bad, why, and the flows behind it."""

    detector: str
    severity: str
    title: str
    src: str | None
    dst: str | None
    score: float
    reasons: tuple[Reason, ...]
    key: str
    event_ids: tuple[str, ...] = ()
    community_ids: tuple[str, ...] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    observables: tuple[Observable, ...] = ()
    fields: Mapping[str, object] = field(default_factory=dict)

    def to_draft(self) -> AlertDraft:
        """The alert this finding raises."""
        observables = list(self.observables)
        for address in (self.src, self.dst):
            if address and all(o.value != address for o in observables):  # no repeats
                observables.append(Observable("ip", address))
        top = "; ".join(r.detail for r in self.reasons[:3])
        return AlertDraft(
            rule_id=self.detector,
            title=self.title[:200],
            severity=self.severity,
            event_ids=list(self.event_ids),
            observables=observables,
            tags=list(TAGS.get(self.detector, ())),
            reasons=list(self.reasons),
            dedup_key=f"{self.detector}:{self.key}",
            event_time=self.first_seen,
            description=f"Score {self.score:g}: {top}"[:2000],
            source="network",
            fields={
                "net.detector": self.detector,
                "net.score": round(self.score, 3),
                "source.ip": self.src,
                "destination.ip": self.dst,
                "network.community_id": list(self.community_ids),
                **self.fields,
            },
        )

    def row(self) -> dict[str, object]:
        """The finding as one row for the command line."""
        return {
            "detector": self.detector,
            "severity": self.severity,
            "source": self.src,
            "destination": self.dst,
            "score": round(self.score, 3),
            "title": self.title,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "reasons": "; ".join(f"{r.check}: {r.detail}" for r in self.reasons),
            "flows": len(self.event_ids),
        }


@dataclass(slots=True)
class NetContext:
    """What every detector needs: the connection, the window, thresholds, and the lists."""

    con: duckdb.DuckDBPyConnection
    since: datetime
    until: datetime
    thresholds: dict[str, float]
    internal: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    allowed: Callable[[str | None], bool]
    indicators: Any = None
    history: Callable[[int], int] | None = None
    """Loads the fingerprint history (temporary table ``print_history``, see
    :mod:`tocsin.network.fingerprints`) remembering ``days``; returns how many fingerprints it
    knows from before the window (0 while learning)."""
    baseline: Callable[[int], dict[str, float]] | None = None
    stats: dict[str, int] = field(default_factory=dict)

    def t(self, name: str) -> float:
        """A threshold."""
        return float(self.thresholds[name])

    def rows(self, query: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        """The rows of a query on the hunt's tables."""
        return self.con.execute(query, dict(params or {})).fetchall()

    def is_internal(self, address: str | None) -> bool:
        """True when the address is in ``net_internal_networks``."""
        if not address:
            return False
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed.version == n.version and parsed in n for n in self.internal)

    def evidence(
        self, where: str, params: Mapping[str, object]
    ) -> tuple[tuple[str, ...], tuple[str, ...], datetime | None, datetime | None]:
        """Flow ids and Community IDs (capped), first and last time, of the flows matching."""
        cap = int(self.t("evidence.max"))
        rows = self.rows(
            f"SELECT id, cid, ts FROM flows WHERE {where} ORDER BY ts LIMIT {cap}",  # noqa: S608 - our SQL
            params,
        )
        span = self.rows(
            f"SELECT min(ts), max(ts) FROM flows WHERE {where}",  # noqa: S608 - our SQL
            params,
        )
        ids = tuple(str(r[0]) for r in rows if r[0])
        cids = tuple(dict.fromkeys(str(r[1]) for r in rows if r[1]))
        first, last = span[0] if span else (None, None)
        return ids, cids, _utc(first), _utc(last)


def _utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return None


# --- beacons ----------------------------------------------------------------------------------


def _bowley(values: np.ndarray) -> float:
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    if q3 == q1:
        return 0.0
    return float((q3 + q1 - 2 * q2) / (q3 - q1))


def _madm(values: np.ndarray) -> float:
    return float(np.median(np.abs(values - np.median(values))))


def shrink(score: float, samples: int, prior: float) -> float:
    """A score measured on ``samples`` values, pulled toward 0.5 by ``prior`` pseudo-samples."""
    if prior <= 0:
        return score
    return (samples * score + prior * 0.5) / (samples + prior)


@dataclass(frozen=True, slots=True)
class BeaconScore:
    """A pair's beacon score and its parts."""

    src: str
    dst: str
    ports: tuple[int, ...]
    connections: int
    score: float
    parts: dict[str, float]
    interval: float
    size: float
    first: datetime
    last: datetime

    def row(self) -> dict[str, object]:
        """One row of ``tocsin net beacons``."""
        return {
            "source": self.src,
            "destination": self.dst,
            "ports": ",".join(str(p) for p in self.ports[:10])
            + (f",... ({len(self.ports)})" if len(self.ports) > 10 else ""),
            "connections": self.connections,
            "score": round(self.score, 3),
            **{k: round(v, 3) for k, v in self.parts.items()},
            "median_interval_s": round(self.interval, 1),
            "median_bytes": round(self.size),
        }


BEACON_WEIGHTS = {
    "ts_skew": 0.20,
    "ts_madm": 0.20,
    "ds_skew": 0.10,
    "ds_madm": 0.10,
    "ds_small": 0.10,
    "hist": 0.15,
    "coverage": 0.15,
}


def beacon_scores(ctx: NetContext) -> list[BeaconScore]:
    """Every pair with enough connections, scored (not filtered by the minimum score)."""
    minimum = int(ctx.t("beacon.min_connections"))
    # the pairs with enough connections first, then the series of those only: most pairs of a
    # busy network have a handful of flows, and building their lists cost more than the rest
    pairs = ctx.rows(
        "WITH busy AS (SELECT src, dst FROM flows WHERE proto IN ('tcp', 'udp') "
        "GROUP BY src, dst HAVING count(*) >= $minimum) "
        "SELECT f.src, f.dst, list(epoch(f.ts) ORDER BY f.ts), list(f.sbytes ORDER BY f.ts), "
        "list(DISTINCT f.dport) FROM flows f JOIN busy USING (src, dst) "
        "WHERE f.proto IN ('tcp', 'udp') GROUP BY f.src, f.dst",
        {"minimum": minimum},
    )
    window = max((ctx.until - ctx.since).total_seconds(), 1.0)
    internal_too = bool(ctx.t("beacon.internal"))
    prior = ctx.t("beacon.prior_intervals")
    scores = []
    for src, dst, times, sizes, ports in pairs:
        # as RITA does: internal hosts calling out (and, with beacon.internal, calling each
        # other); an outside host calling in is a client of ours, not malware phoning home
        if ctx.internal and not ctx.is_internal(src):
            continue
        if ctx.internal and ctx.is_internal(dst) and not internal_too:
            continue
        stamps = np.asarray(times, dtype=np.float64)
        intervals = np.diff(stamps)
        intervals = intervals[intervals > 0]
        if intervals.shape[0] < 3:
            continue
        size = np.asarray(sizes, dtype=np.float64)
        interval = float(np.median(intervals))
        parts = {
            "ts_skew": shrink(
                max(0.0, 1 - abs(_bowley(intervals))), int(intervals.shape[0]), prior
            ),
            "ts_madm": max(0.0, 1 - _madm(intervals) / max(interval, 1e-9)),
            "ds_skew": max(0.0, 1 - abs(_bowley(size))),
            "ds_madm": max(0.0, 1 - _madm(size) / 32.0),
            "ds_small": max(0.0, 1 - float(np.median(size)) / 65536.0),
        }
        span = float(stamps[-1] - stamps[0])
        hours = np.floor((stamps - stamps[0]) / 3600.0)
        total_hours = int(hours[-1]) + 1
        parts["hist"] = float(np.unique(hours).shape[0]) / total_hours
        parts["coverage"] = min(1.0, span / window) if window else 0.0
        score = sum(BEACON_WEIGHTS[k] * v for k, v in parts.items())
        scores.append(
            BeaconScore(
                str(src),
                str(dst),
                tuple(sorted(int(p) for p in ports if p is not None)),
                int(stamps.shape[0]),
                score,
                parts,
                interval,
                float(np.median(size)),
                datetime.fromtimestamp(stamps[0], UTC),
                datetime.fromtimestamp(stamps[-1], UTC),
            )
        )
    scores.sort(key=lambda s: s.score, reverse=True)
    return scores


def detect_beacons(ctx: NetContext) -> list[Finding]:
    """Pairs whose rhythm, sizes and presence look like a program phoning home."""
    findings = []
    floor = ctx.t("beacon.min_score")
    for beat in beacon_scores(ctx):
        if beat.score < floor or ctx.allowed(beat.dst) or ctx.allowed(beat.src):
            continue
        if beat.interval < ctx.t("beacon.min_interval_s"):
            continue  # a burst, not a rhythm
        if (beat.parts["ts_skew"] + beat.parts["ts_madm"]) / 2 < ctx.t("beacon.min_timing"):
            continue  # steady sizes and presence alone are a service, not a beacon
        ids, cids, first, last = ctx.evidence(
            "src = $src AND dst = $dst", {"src": beat.src, "dst": beat.dst}
        )
        p = beat.parts
        reasons = (
            Reason(
                "net.beacon.timing",
                f"{beat.connections} connections, median interval {beat.interval:.1f} s "
                f"(regularity {p['ts_madm']:.2f}, symmetry {p['ts_skew']:.2f})",
                round(
                    BEACON_WEIGHTS["ts_skew"] * p["ts_skew"]
                    + BEACON_WEIGHTS["ts_madm"] * p["ts_madm"],
                    3,
                ),
            ),
            Reason(
                "net.beacon.size",
                f"median {beat.size:.0f} bytes sent per connection (sameness "
                f"{p['ds_madm']:.2f}, symmetry {p['ds_skew']:.2f}, smallness {p['ds_small']:.2f})",
                round(sum(BEACON_WEIGHTS[k] * p[k] for k in ("ds_skew", "ds_madm", "ds_small")), 3),
            ),
            Reason(
                "net.beacon.hours",
                f"present in {p['hist']:.0%} of the hours between its first and last connection",
                round(BEACON_WEIGHTS["hist"] * p["hist"], 3),
            ),
            Reason(
                "net.beacon.coverage",
                f"spans {p['coverage']:.0%} of the window",
                round(BEACON_WEIGHTS["coverage"] * p["coverage"], 3),
            ),
        )
        ports = ",".join(str(x) for x in beat.ports[:5])
        findings.append(
            Finding(
                "net.beacon",
                level("net.beacon", beat.score),
                f"{beat.src} beacons to {beat.dst}:{ports} every {beat.interval:.0f} s",
                beat.src,
                beat.dst,
                round(beat.score, 3),
                reasons,
                key=f"{beat.src}:{beat.dst}",
                event_ids=ids,
                community_ids=cids,
                first_seen=first,
                last_seen=last,
                fields={"net.beacon": beat.row()},
            )
        )
    return findings


# --- long connections -------------------------------------------------------------------------


def detect_long_connections(ctx: NetContext) -> list[Finding]:
    """Pairs and ports whose connections together stayed open for hours."""
    hours = ctx.t("long.min_hours")
    rows = ctx.rows(
        "SELECT src, dst, dport, sum(duration) / 3600.0 AS h, max(duration) / 3600.0, count(*) "
        "FROM flows WHERE duration IS NOT NULL GROUP BY src, dst, dport "
        "HAVING sum(duration) / 3600.0 >= $hours ORDER BY h DESC",
        {"hours": hours},
    )
    findings = []
    for src, dst, port, total, longest, count in rows:
        if ctx.allowed(dst) or ctx.allowed(src):
            continue
        ids, cids, first, last = ctx.evidence(
            "src = $src AND dst = $dst AND dport IS NOT DISTINCT FROM $port",
            {"src": src, "dst": dst, "port": port},
        )
        findings.append(
            Finding(
                "net.long_connection",
                level("net.long_connection", float(total)),
                f"{src} held a connection to {dst}:{port} for {float(total):.1f} h",
                str(src),
                str(dst),
                round(float(total), 2),
                (
                    Reason(
                        "net.long_connection.duration",
                        f"{float(total):.1f} h over {count} connection(s), the longest "
                        f"{float(longest):.1f} h (threshold {hours:g} h)",
                        1.0,
                    ),
                ),
                key=f"{src}:{dst}:{port}",
                event_ids=ids,
                community_ids=cids,
                first_seen=first,
                last_seen=last,
            )
        )
    return findings


# --- scans ------------------------------------------------------------------------------------


def detect_scans(ctx: NetContext) -> list[Finding]:
    """Many ports of one host (vertical) or one port on many hosts (horizontal), unanswered."""
    findings = []
    vertical = ctx.rows(
        "SELECT src, dst, count(DISTINCT dport) AS ports, count(*), avg(probe::INT), "
        "list(DISTINCT dport ORDER BY dport)[1:12] FROM flows WHERE probe "
        "GROUP BY src, dst HAVING count(DISTINCT dport) >= $n ORDER BY ports DESC",
        {"n": ctx.t("scan.vertical_ports")},
    )
    for src, dst, ports, count, _share, sample in vertical:
        if ctx.allowed(src):
            continue
        total = ctx.rows(
            "SELECT count(*), count(DISTINCT dport) FROM flows WHERE src = $s AND dst = $d",
            {"s": src, "d": dst},
        )[0]
        ids, cids, first, last = ctx.evidence(
            "src = $s AND dst = $d AND probe", {"s": src, "d": dst}
        )
        findings.append(
            Finding(
                "net.scan",
                level("net.scan", float(ports)),
                f"{src} scanned {ports} ports of {dst}",
                str(src),
                str(dst),
                float(ports),
                (
                    Reason(
                        "net.scan.vertical",
                        f"{ports} distinct ports probed without an answer or refused "
                        f"({count} of {total[0]} connections to {total[1]} ports failed), "
                        f"e.g. {', '.join(str(p) for p in sample)}",
                        1.0,
                    ),
                ),
                key=f"vertical:{src}:{dst}",
                event_ids=ids,
                community_ids=cids,
                first_seen=first,
                last_seen=last,
            )
        )
    horizontal = ctx.rows(
        "SELECT src, dport, count(DISTINCT dst) AS hosts, count(*), "
        "list(DISTINCT dst ORDER BY dst)[1:8] FROM flows WHERE probe "
        "GROUP BY src, dport HAVING count(DISTINCT dst) >= $n ORDER BY hosts DESC",
        {"n": ctx.t("scan.horizontal_hosts")},
    )
    for src, port, hosts, count, sample in horizontal:
        if ctx.allowed(src):
            continue
        answered = ctx.rows(
            "SELECT count(DISTINCT dst) FROM flows WHERE src = $s AND dport = $p AND NOT probe",
            {"s": src, "p": port},
        )[0][0]
        ids, cids, first, last = ctx.evidence(
            "src = $s AND dport = $p AND probe", {"s": src, "p": port}
        )
        findings.append(
            Finding(
                "net.scan",
                level("net.scan", float(hosts)),
                f"{src} swept port {port} on {hosts} hosts",
                str(src),
                None,
                float(hosts),
                (
                    Reason(
                        "net.scan.horizontal",
                        f"{hosts} hosts probed on port {port} without an answer ({count} "
                        f"attempts; {answered} host(s) answered), e.g. {', '.join(sample)}",
                        1.0,
                    ),
                ),
                key=f"horizontal:{src}:{port}",
                event_ids=ids,
                community_ids=cids,
                first_seen=first,
                last_seen=last,
            )
        )
    return findings


# --- exfiltration -----------------------------------------------------------------------------


def detect_exfiltration(ctx: NetContext) -> list[Finding]:
    """Internal hosts sending far more than their own baseline to rarely-seen outside hosts."""
    rows = ctx.rows(
        "SELECT src, dst, sum(sbytes) / 1e6 AS mb, count(*) FROM flows GROUP BY src, dst "
        "HAVING sum(sbytes) / 1e6 >= $mb ORDER BY mb DESC",
        {"mb": ctx.t("exfil.min_mb")},
    )
    if not rows:
        return []
    days = int(ctx.t("exfil.baseline_days"))
    baseline = ctx.baseline(days) if ctx.baseline else {}
    talkers = dict(
        ctx.rows(
            "SELECT dst, count(DISTINCT src) FROM flows WHERE dst IN (SELECT unnest($d)) "
            "GROUP BY dst",
            {"d": sorted({str(r[1]) for r in rows})},
        )
    )
    window_days = max((ctx.until - ctx.since).total_seconds() / 86400.0, 1 / 24)
    findings = []
    for src, dst, mb, count in rows:
        src, dst = str(src), str(dst)
        if not ctx.is_internal(src) or ctx.is_internal(dst) or ctx.allowed(dst):
            continue
        if int(talkers.get(dst, 0)) > int(ctx.t("exfil.rare_hosts")):
            continue
        usual = baseline.get(src, 0.0) * window_days  # MB per day, scaled to the window
        multiple = float(mb) / usual if usual > 0 else float("inf")
        if multiple < ctx.t("exfil.baseline_multiple"):
            continue
        ids, cids, first, last = ctx.evidence("src = $s AND dst = $d", {"s": src, "d": dst})
        usual_text = (
            f"{usual:.1f} MB usual for this window ({multiple:.0f}x)"
            if usual > 0
            else "no outbound traffic in its baseline"
        )
        findings.append(
            Finding(
                "net.exfiltration",
                level("net.exfiltration", float(mb)),
                f"{src} sent {float(mb):.0f} MB to {dst}, far beyond its usual",
                src,
                dst,
                round(float(mb), 1),
                (
                    Reason(
                        "net.exfiltration.volume",
                        f"{float(mb):.1f} MB in {count} connection(s); {usual_text} over the "
                        f"previous {days} days",
                        0.6,
                    ),
                    Reason(
                        "net.exfiltration.rare_destination",
                        f"{dst} is outside and talked to by {talkers.get(dst, 0)} internal "
                        "host(s) only",
                        0.4,
                    ),
                ),
                key=f"{src}:{dst}",
                event_ids=ids,
                community_ids=cids,
                first_seen=first,
                last_seen=last,
            )
        )
    return findings


# --- rare fingerprints ------------------------------------------------------------------------


def detect_rare_fingerprints(ctx: NetContext) -> list[Finding]:
    """JA3, JA4 and user agents used by very few hosts and never seen before."""
    if not ctx.rows("SELECT 1 FROM prints LIMIT 1"):
        return []
    days = int(ctx.t("rare.history_days"))
    if not ctx.history or not ctx.history(days):
        ctx.stats["rare_fingerprint.learning"] = 1  # nothing to compare with yet: learn first
        return []
    rows = ctx.rows(
        "SELECT kind, value, count(DISTINCT src), count(*), min(src), min(dst) FROM prints p "
        "WHERE NOT EXISTS (SELECT 1 FROM print_history h WHERE h.kind = p.kind "
        "AND h.value = p.value AND h.first_seen < $since AND h.last_seen >= $forget) "
        "GROUP BY kind, value HAVING count(DISTINCT src) <= $n ORDER BY count(*) DESC",
        {
            "n": ctx.t("rare.max_hosts"),
            "since": ctx.since,
            "forget": ctx.since - timedelta(days=days),
        },
    )
    findings = []
    for kind, value, hosts, count, src, dst in rows:
        if ctx.allowed(str(dst)) or ctx.allowed(str(src)):
            continue
        if ctx.internal and not ctx.is_internal(str(src)):
            continue  # the fingerprints of our own clients, not of whoever calls our servers
        evidence = ctx.rows(
            "SELECT id, cid, ts FROM prints WHERE kind = $k AND value = $v ORDER BY ts LIMIT 50",
            {"k": kind, "v": value},
        )
        ids = tuple(str(r[0]) for r in evidence if r[0])
        cids = tuple(dict.fromkeys(str(r[1]) for r in evidence if r[1]))
        first = _utc(evidence[0][2]) if evidence else None
        label = {"ja3": "JA3", "ja4": "JA4", "user_agent": "user agent"}[str(kind)]
        observable = (Observable(str(kind), str(value)),) if kind in ("ja3", "ja4") else ()
        findings.append(
            Finding(
                "net.rare_fingerprint",
                level("net.rare_fingerprint", 0.0),
                f"A {label} never seen before, used only by {src}",
                str(src),
                str(dst) if dst else None,
                float(hosts),
                (
                    Reason(
                        f"net.rare_fingerprint.{kind}",
                        f"{label} {value!r} from {hosts} host(s) in {count} connection(s), "
                        f"absent from the previous {int(ctx.t('rare.history_days'))} days",
                        1.0,
                    ),
                ),
                key=f"{kind}:{value}",
                event_ids=ids,
                community_ids=cids,
                first_seen=first,
                observables=observable,
                fields={f"net.{kind}": value},
            )
        )
    return findings


# --- indicators -------------------------------------------------------------------------------


def detect_indicators(ctx: NetContext) -> list[Finding]:
    """Addresses (and JA3/JA4 fingerprints) on an indicator feed or on the block list."""
    indicators = ctx.indicators
    if not indicators:
        return []
    findings = []
    addresses = ctx.rows(
        "SELECT a, count(*) FROM (SELECT dst AS a FROM flows UNION ALL SELECT src FROM flows) "
        "GROUP BY a"
    )
    for address, _count in addresses:
        hits = indicators.match_ip(str(address), now=ctx.until)
        if not hits or ctx.allowed(str(address)):
            continue
        ids, cids, first, last = ctx.evidence("dst = $a OR src = $a", {"a": address})
        peers = ctx.rows(
            "SELECT DISTINCT CASE WHEN dst = $a THEN src ELSE dst END FROM flows "
            "WHERE dst = $a OR src = $a LIMIT 10",
            {"a": address},
        )
        who = ", ".join(str(p[0]) for p in peers)
        findings.append(
            Finding(
                "net.indicator",
                "high",
                f"Traffic with {address}, a known-bad address ({who})",
                str(peers[0][0]) if peers else None,
                str(address),
                1.0,
                tuple(
                    Reason(
                        "net.indicator." + (hit.source or "feed"),
                        f"{address} matches {hit.value} from {hit.source or 'a feed'}",
                        1.0,
                    )
                    for hit in hits[:5]
                ),
                key=str(address),
                event_ids=ids,
                community_ids=cids,
                first_seen=first,
                last_seen=last,
            )
        )
    prints = ctx.rows("SELECT DISTINCT kind, value FROM prints WHERE kind IN ('ja3', 'ja4')")
    for kind, value in prints:
        hits = indicators.match_fingerprint(str(value), now=ctx.until)
        if kind == "ja3":
            # a feed listing bare 32-digit JA3 digests has them read as md5 hashes
            hits += [
                h
                for h in indicators.match_hash(str(value), now=ctx.until)
                if h.kind == "md5" and h not in hits
            ]
        if not hits:
            continue
        sources = ctx.rows(
            "SELECT DISTINCT src FROM prints WHERE kind = $k AND value = $v LIMIT 10",
            {"k": kind, "v": value},
        )
        findings.append(
            Finding(
                "net.indicator",
                "high",
                f"A known-bad {str(kind).upper()} fingerprint from "
                + ", ".join(str(s[0]) for s in sources),
                str(sources[0][0]) if sources else None,
                None,
                1.0,
                tuple(
                    Reason(
                        "net.indicator." + (h.source or "feed"),
                        f"{kind} {value}"
                        + (f" (listed as {h.kind})" if h.kind != kind else "")
                        + f" from {h.source or 'a feed'}",
                        1.0,
                    )
                    for h in hits[:5]
                ),
                key=f"{kind}:{value}",
                observables=(Observable(str(kind), str(value)),),
            )
        )
    return findings


DETECTORS: dict[str, Callable[[NetContext], list[Finding]]] = {
    "beacon": detect_beacons,
    "long_connection": detect_long_connections,
    "scan": detect_scans,
    "exfiltration": detect_exfiltration,
    "rare_fingerprint": detect_rare_fingerprints,
    "indicator": detect_indicators,
}


def merge_thresholds(overrides: Mapping[str, float]) -> dict[str, float]:
    """The thresholds with the overrides; an unknown name is an error naming the known ones."""
    from tocsin.core.errors import InvalidInputError

    unknown = sorted(set(overrides) - set(DEFAULT_THRESHOLDS))
    if unknown:
        raise InvalidInputError(
            f"net_thresholds: unknown threshold(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(DEFAULT_THRESHOLDS))}"
        )
    return {**DEFAULT_THRESHOLDS, **overrides}


def as_sequence(values: Sequence[str] | None) -> list[str]:
    """A list of names (empty for None)."""
    return list(values or [])
