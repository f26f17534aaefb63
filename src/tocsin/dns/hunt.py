"""One DNS hunt: read a window of lookups, run the detectors, raise their alerts.

The same function serves ``tocsin dns hunt --since --until``, the API and the scheduled job of
``tocsin serve``. It reads the window's DNS events once into DuckDB (``tocsin.dns.source``),
computes what each distinct name needs once (``tocsin.dns.names``, the DGA model), aggregates
per client and name once (the ``pairs`` table), then lets each enabled detector query those
tables. Alerts go through ``Workspace.raise_alerts`` like every other detector's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import Settings
from tocsin.dns import seen
from tocsin.dns.detectors import (
    DEFAULT_THRESHOLDS,
    HuntContext,
    detect_dga,
    detect_indicators,
    detect_lookalikes,
    detect_tunnels,
)
from tocsin.dns.findings import Finding
from tocsin.dns.names import AllowList, name_table
from tocsin.dns.source import dns_files, load_lookups
from tocsin.lake.reader import LakeReader
from tocsin.workspace.permissions import Principal

DETECTORS = ("dga", "tunnel", "new_domain", "lookalike", "indicator")
PRINCIPAL_NAME = "dns"

Progress = Callable[[str], None]


@dataclass(slots=True)
class DnsHuntReport:
    """What one hunt read, found and raised, and how long each step took."""

    since: datetime
    until: datetime
    events: int = 0
    names: int = 0
    clients: int = 0
    findings: list[Finding] = field(default_factory=list)
    alerts_new: int = 0
    alerts_updated: int = 0
    suppressed: int = 0
    learning: str | None = None
    history_domains: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def by_detector(self) -> dict[str, int]:
        """How many findings each detector made."""
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.detector] = counts.get(finding.detector, 0) + 1
        return counts

    def summary(self) -> str:
        """One line for the scheduler and logs."""
        found = ", ".join(f"{k} {v}" for k, v in sorted(self.by_detector().items())) or "none"
        line = (
            f"{self.events} DNS events, {self.names} names, {self.clients} clients; "
            f"findings: {found}; {self.alerts_new} new alerts"
        )
        return line + (f" ({self.learning})" if self.learning else "")

    def row(self) -> dict[str, object]:
        """The figures as one row."""
        return {
            "since": self.since,
            "until": self.until,
            "events": self.events,
            "names": self.names,
            "clients": self.clients,
            "findings": len(self.findings),
            **{f"findings_{k.split('.', 1)[1]}": v for k, v in sorted(self.by_detector().items())},
            "alerts_new": self.alerts_new,
            "alerts_updated": self.alerts_updated,
            "learning": self.learning or "",
            "seconds": round(sum(self.timings.values()), 2),
        }


def dns_principal() -> Principal:
    """The system principal DNS alerts are raised as."""
    return Principal.system(PRINCIPAL_NAME)


def thresholds_for(settings: Settings) -> dict[str, float]:
    """The detectors' thresholds with the ``dns_thresholds`` overrides applied."""
    from tocsin.dns.dga import DEFAULT_THRESHOLDS as DGA_THRESHOLDS

    merged = {**DEFAULT_THRESHOLDS, **DGA_THRESHOLDS}
    unknown = sorted(set(settings.dns_thresholds) - set(merged))
    if unknown:
        raise InvalidInputError(
            f"dns_thresholds: unknown threshold(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(merged))}"
        )
    merged.update(settings.dns_thresholds)
    return merged


def _detectors(settings: Settings, chosen: Sequence[str] | None) -> list[str]:
    wanted = list(chosen) if chosen else list(settings.dns_detectors)
    unknown = [d for d in wanted if d not in DETECTORS]
    if unknown:
        raise InvalidInputError(
            f"unknown DNS detector(s) {', '.join(unknown)}; use {', '.join(DETECTORS)}"
        )
    return wanted


@dataclass(frozen=True, slots=True)
class ListsRead:
    """What the DNS detectors take from the respond/ lists: blocked domains and allowed ones."""

    blocked: list[Any]
    allowed: list[str]


def read_lists(settings: Settings) -> ListsRead:
    """The live domain entries of the block list (with provenance) and of the allow list."""
    if settings.database_url is None and not (settings.home / "workspace.db").is_file():
        return ListsRead([], [])
    from tocsin.intel.indicators import Indicator
    from tocsin.respond.blocklist import BlockLists
    from tocsin.respond.values import EntryKind, ListName
    from tocsin.workspace.db import Database

    db = Database(settings.workspace_url)
    actor = dns_principal()
    blocked: list[Any] = []
    try:
        lists = BlockLists(db)
        allowed = sorted(lists.active_values(actor, EntryKind.DOMAIN, ListName.ALLOW))
        offset = 0
        while True:
            page = lists.list(
                actor, list_name=ListName.BLOCK, kind=EntryKind.DOMAIN, limit=1000, offset=offset
            )
            for entry in page.items:
                if entry.value in allowed:
                    continue
                why = f"{entry.reason} (by {entry.created_by})" if entry.reason else ""
                blocked.append(
                    Indicator(
                        "domain",
                        entry.value,
                        source=f"block list: {entry.source}",
                        added=entry.created_at,
                        expires=entry.expires_at,
                        tags=(why,) if why else (),
                    )
                )
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
    finally:
        db.close()
    return ListsRead(blocked, allowed)


def _indicators(settings: Settings, lists: ListsRead) -> Any:
    """Feed indicators plus the block list's domains, as one set (None when both are empty)."""
    from tocsin.intel.feeds import load_indicators
    from tocsin.intel.indicators import IndicatorSet

    found = IndicatorSet()
    found.extend(load_indicators(settings))
    found.extend(lists.blocked)
    return found if len(found) else None


def hunt_dns(
    settings: Settings,
    *,
    since: datetime,
    until: datetime,
    detectors: Sequence[str] | None = None,
    alerts: bool = True,
    progress: Progress | None = None,
    reader: LakeReader | None = None,
) -> DnsHuntReport:
    """Run the DNS detectors over ``[since, until)``; raise alerts unless ``alerts`` is False."""
    if until <= since:
        raise InvalidInputError("the window is empty: --until must be after --since")
    wanted = _detectors(settings, detectors)
    thresholds = thresholds_for(settings)
    report = DnsHuntReport(since, until)
    step = progress or (lambda _text: None)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.timings[name] = round(now - clock, 3)
        clock = now

    reader = reader or LakeReader(
        settings.lake_dir,
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
    )
    step("reading DNS events")
    files = dns_files(reader, since=since, until=until)
    with reader.connect() as con:
        report.events = load_lookups(con, reader, since=since, until=until, files=files)
        lap("read")
        if report.events == 0:
            return report
        step("naming")
        lists = read_lists(settings)
        prepare(con, settings, lists.allowed)
        lap("names")
        rows = con.execute(
            "SELECT count(*), (SELECT count(DISTINCT client) FROM lookups) FROM names"
        ).fetchall()
        report.names, report.clients = int(rows[0][0]), int(rows[0][1])
        ctx = HuntContext(con, since, until, thresholds)
        if "lookalike" in wanted:
            from tocsin.intel.lookalike import LookalikeDetector

            ctx.lookalikes = LookalikeDetector(settings.organisation_domains)
        if "indicator" in wanted:
            ctx.indicators = _indicators(settings, lists)
        for name, run in (
            ("dga", detect_dga),
            ("tunnel", detect_tunnels),
            ("lookalike", detect_lookalikes),
            ("indicator", detect_indicators),
        ):
            if name in wanted:
                step(name)
                report.findings.extend(run(ctx))
                lap(name)
        step("newly observed domains")
        _new_domains(
            con,
            settings,
            report,
            thresholds,
            record_only="new_domain" not in wanted,
            reader=reader,
            allowed=lists.allowed,
        )
        lap("new_domain")
        report.stats.update(ctx.stats)
    if alerts and report.findings:
        step("raising alerts")
        _raise(settings, report)
        lap("alerts")
    return report


def prepare(con: Any, settings: Settings, allowed: Sequence[str] = ()) -> None:
    """Build the ``names`` and ``pairs`` tables from ``lookups``."""
    from tocsin.dns.dga import DgaModel

    names = [str(r[0]) for r in con.execute("SELECT DISTINCT name FROM lookups").fetchall()]
    allow = AllowList([*settings.dns_allow_domains, *allowed])
    table = name_table(names, allow, DgaModel.load().score_labels)
    con.register("names_arrow", table)
    con.execute("DROP TABLE IF EXISTS names")
    con.execute("CREATE TEMP TABLE names AS SELECT * FROM names_arrow")
    con.unregister("names_arrow")
    con.execute("DROP TABLE IF EXISTS pairs")
    con.execute(
        "CREATE TEMP TABLE pairs AS SELECT client, name, "
        "count(*) FILTER (WHERE is_query) AS lookups, count(*) AS records, "
        "bool_or(rcode = 'NXDOMAIN') AS nx, bool_or(coalesce(rcode = 'NOERROR', false)) AS ok, "
        "count(*) FILTER (WHERE qtype IN ('TXT', 'NULL')) AS txt, sum(bytes) AS bytes, "
        "min(ts) AS first, max(ts) AS last FROM lookups GROUP BY client, name"
    )


def _new_domains(
    con: Any,
    settings: Settings,
    report: DnsHuntReport,
    thresholds: dict[str, float],
    *,
    record_only: bool,
    reader: LakeReader,
    allowed: Sequence[str],
) -> None:
    """Compare the window with the domain history, report the new ones, save the history."""
    state = seen.open_history(settings)
    memory = seen.memory(settings)
    forget = report.since - memory
    keep = int(thresholds["new.rare_hosts"]) + 1
    seen.window_domains(con, keep)
    con.execute("CREATE OR REPLACE TEMP TABLE current_window AS SELECT * FROM window_domains")
    seen.load_history(con, state)
    started = state.started
    if started is None:
        started = _bootstrap(con, settings, report, keep, reader, allowed)
    learned = report.since - started
    needed = settings.dns_learning_days
    if learned.total_seconds() < needed * 86400:
        report.learning = (
            f"learning: {learned.total_seconds() / 86400:.1f} of {needed:g} days of DNS history"
        )
    elif not record_only:
        report.findings.extend(
            seen.new_domains(
                con,
                since=report.since,
                forget_before=forget,
                rare_hosts=int(thresholds["new.rare_hosts"]),
                limit=int(thresholds["new.max_alerts"]),
            )
        )
    report.history_domains = seen.save_history(
        con, state, started=started, forget_before=forget, keep_clients=keep
    )


def _bootstrap(
    con: Any,
    settings: Settings,
    report: DnsHuntReport,
    keep: int,
    reader: LakeReader,
    allowed: Sequence[str],
) -> datetime:
    """The first run: build the history from the lake's DNS events before the window."""
    start = report.since - seen.memory(settings)
    rows = load_lookups(con, reader, since=start, until=report.since, table="lookups_before")
    if rows == 0:
        return report.since
    # the same naming as the window, on the older lookups, through the same tables
    con.execute("ALTER TABLE lookups RENAME TO lookups_window")
    con.execute("ALTER TABLE names RENAME TO names_window")
    con.execute("ALTER TABLE pairs RENAME TO pairs_window")
    con.execute("ALTER TABLE lookups_before RENAME TO lookups")
    try:
        prepare(con, settings, allowed)
        seen.window_domains(con, keep)
        seen.seed_history(con)
        earliest = con.execute("SELECT min(ts) FROM lookups").fetchall()[0][0]
    finally:
        for table in ("lookups", "names", "pairs"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("ALTER TABLE lookups_window RENAME TO lookups")
        con.execute("ALTER TABLE names_window RENAME TO names")
        con.execute("ALTER TABLE pairs_window RENAME TO pairs")
        con.execute("DROP TABLE IF EXISTS window_domains")
        con.execute("CREATE TEMP TABLE window_domains AS SELECT * FROM current_window")
    return earliest if isinstance(earliest, datetime) else report.since


def _raise(settings: Settings, report: DnsHuntReport) -> None:
    from tocsin.workspace.service import Workspace

    ws = Workspace.open(settings)
    try:
        result = ws.raise_alerts([f.to_draft() for f in report.findings], actor=dns_principal())
    finally:
        ws.close()
    report.alerts_new = len(result.created)
    report.alerts_updated = len(result.updated)
    report.suppressed = result.suppressed
