"""What the DNS traffic of a window looks like: top domains, clients, types, codes, timeline.

``tocsin dns top``, ``GET /api/v1/dns/top`` and the console's DNS page all read this one
summary. Domains are grouped by registered domain (``a.cdn.example.com`` counts for
``example.com``), as an analyst reads them; internal names keep their whole name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import Settings
from tocsin.dns.names import AllowList, name_table
from tocsin.dns.source import dns_files, load_lookups
from tocsin.lake.reader import LakeReader

BUCKETS = 60
_STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)


def bucket_seconds(since: datetime, until: datetime, buckets: int = BUCKETS) -> int:
    """A round bucket width that cuts the window into at most about ``buckets`` bars."""
    span = (until - since).total_seconds()
    for step in _STEPS:
        if span / step <= buckets:
            return step
    return _STEPS[-1]


@dataclass(slots=True)
class DnsTop:
    """The window's DNS traffic in figures."""

    since: datetime
    until: datetime
    events: int = 0
    lookups: int = 0
    clients: int = 0
    names: int = 0
    nx: int = 0
    top_domains: list[dict[str, Any]] = field(default_factory=list)
    top_clients: list[dict[str, Any]] = field(default_factory=list)
    top_nx_domains: list[dict[str, Any]] = field(default_factory=list)
    rare_domains: list[dict[str, Any]] = field(default_factory=list)
    qtypes: list[dict[str, Any]] = field(default_factory=list)
    rcodes: list[dict[str, Any]] = field(default_factory=list)
    bucket_seconds: int = 3600
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def nx_share(self) -> float:
        """Share of the lookups answered NXDOMAIN."""
        return self.nx / self.lookups if self.lookups else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "events": self.events,
            "lookups": self.lookups,
            "clients": self.clients,
            "names": self.names,
            "nx": self.nx,
            "nx_share": round(self.nx_share, 4),
            "top_domains": self.top_domains,
            "top_clients": self.top_clients,
            "top_nx_domains": self.top_nx_domains,
            "rare_domains": [
                {**row, "first_seen": row["first_seen"].isoformat()} for row in self.rare_domains
            ],
            "qtypes": self.qtypes,
            "rcodes": self.rcodes,
            "bucket_seconds": self.bucket_seconds,
            "timeline": [{**row, "start": row["start"].isoformat()} for row in self.timeline],
        }


def _dicts(rows: list[tuple[Any, ...]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        for key, value in item.items():
            if isinstance(value, float):
                item[key] = round(value, 4)
        out.append(item)
    return out


def dns_top(
    settings: Settings,
    *,
    since: datetime,
    until: datetime,
    limit: int = 20,
    reader: LakeReader | None = None,
) -> DnsTop:
    """Summarise the DNS lookups of ``[since, until)``."""
    if until <= since:
        raise InvalidInputError("the window is empty: --until must be after --since")
    if not 1 <= limit <= 1000:
        raise InvalidInputError("limit must be between 1 and 1000")
    reader = reader or LakeReader(
        settings.lake_dir,
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
    )
    top = DnsTop(since, until, bucket_seconds=bucket_seconds(since, until))
    files = dns_files(reader, since=since, until=until)
    with reader.connect() as con:
        top.events = load_lookups(con, reader, since=since, until=until, files=files)
        if top.events == 0:
            return top
        names = [str(r[0]) for r in con.execute("SELECT DISTINCT name FROM lookups").fetchall()]
        con.register("names_arrow", name_table(names, AllowList(settings.dns_allow_domains)))
        con.execute(
            "CREATE TEMP TABLE names AS SELECT name, coalesce(domain, name) AS domain, "
            "domain IS NULL AS internal, allowed FROM names_arrow"
        )
        con.unregister("names_arrow")
        con.execute(
            "CREATE TEMP TABLE l AS SELECT l.*, n.domain, n.internal, n.allowed "
            "FROM lookups l JOIN names n USING (name)"
        )
        totals = con.execute(
            "SELECT count(*) FILTER (WHERE is_query), count(DISTINCT client), "
            "count(DISTINCT name), count(*) FILTER (WHERE rcode = 'NXDOMAIN') FROM l"
        ).fetchall()[0]
        top.lookups, top.clients, top.names, top.nx = (int(v or 0) for v in totals)
        params = {"limit": limit}
        top.top_domains = _dicts(
            con.execute(
                "SELECT domain, count(*) FILTER (WHERE is_query) AS lookups, "
                "count(DISTINCT client) AS clients, count(DISTINCT name) AS names, "
                "count(*) FILTER (WHERE rcode = 'NXDOMAIN') / count(*) AS nx_share "
                "FROM l GROUP BY domain ORDER BY lookups DESC, domain LIMIT $limit",
                params,
            ).fetchall(),
            ("domain", "lookups", "clients", "names", "nx_share"),
        )
        top.top_clients = _dicts(
            con.execute(
                "SELECT client, count(*) FILTER (WHERE is_query) AS lookups, "
                "count(DISTINCT domain) AS domains, "
                "count(*) FILTER (WHERE rcode = 'NXDOMAIN') AS nx, "
                "count(*) FILTER (WHERE rcode = 'NXDOMAIN') / count(*) AS nx_share "
                "FROM l WHERE client IS NOT NULL GROUP BY client "
                "ORDER BY lookups DESC, client LIMIT $limit",
                params,
            ).fetchall(),
            ("client", "lookups", "domains", "nx", "nx_share"),
        )
        top.top_nx_domains = _dicts(
            con.execute(
                "SELECT domain, count(*) AS nx, count(DISTINCT client) AS clients "
                "FROM l WHERE rcode = 'NXDOMAIN' GROUP BY domain "
                "ORDER BY nx DESC, domain LIMIT $limit",
                params,
            ).fetchall(),
            ("domain", "nx", "clients"),
        )
        # rare: Internet domains that resolved for at most two clients, least common first
        top.rare_domains = _dicts(
            con.execute(
                "SELECT domain, count(DISTINCT client) AS clients, "
                "count(*) FILTER (WHERE is_query) AS lookups, min(ts) AS first_seen, "
                "list_sort(list_distinct(list(client)))[1:2] AS asked_by "
                "FROM l WHERE NOT internal AND NOT allowed GROUP BY domain "
                "HAVING count(DISTINCT client) <= 2 AND bool_or(rcode = 'NOERROR') "
                "ORDER BY clients, lookups, domain LIMIT $limit",
                params,
            ).fetchall(),
            ("domain", "clients", "lookups", "first_seen", "asked_by"),
        )
        top.qtypes = _dicts(
            con.execute(
                "SELECT coalesce(qtype, '?') AS qtype, count(*) AS lookups FROM l "
                "WHERE is_query GROUP BY 1 ORDER BY lookups DESC, qtype LIMIT $limit",
                params,
            ).fetchall(),
            ("qtype", "lookups"),
        )
        top.rcodes = _dicts(
            con.execute(
                "SELECT rcode, count(*) AS answers FROM l WHERE rcode IS NOT NULL "
                "GROUP BY 1 ORDER BY answers DESC, rcode LIMIT $limit",
                params,
            ).fetchall(),
            ("rcode", "answers"),
        )
        step = timedelta(seconds=top.bucket_seconds)
        top.timeline = _dicts(
            con.execute(
                "SELECT time_bucket($step, ts, $origin) AS start, "
                "count(*) FILTER (WHERE is_query) AS lookups, "
                "count(*) FILTER (WHERE rcode = 'NXDOMAIN') AS nx FROM l "
                "GROUP BY 1 ORDER BY 1",
                {"step": step, "origin": since},
            ).fetchall(),
            ("start", "lookups", "nx"),
        )
    return top
