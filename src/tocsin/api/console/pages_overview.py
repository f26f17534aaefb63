"""The overview: open alerts by severity, alerts over time, top rules, SLAs at risk, ingest health.

Alert and case figures are aggregate queries (``workspace.dashboard``), kept while the
workspace's data version stays the same, so the page stays fast with 100,000 alerts. Ingest
health reads the lake's file names (each carries its rows and time span, ``lake.layout``), never
the events, except for the last event time per host: that is read once per lake file (files
never change once written) and remembered.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import duckdb
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from tocsin.api.console.common import Viewer, page, render_page
from tocsin.api.deps import Services, services
from tocsin.ingest.quarantine import Quarantine, QuarantinedRecord
from tocsin.lake.layout import LakeFile, list_files
from tocsin.lake.maintenance import DatasetStats, lake_stats
from tocsin.lake.reader import LakeReader
from tocsin.web.charts import Series, bar_chart, time_chart
from tocsin.web.render import SEVERITIES, iso
from tocsin.workspace import dashboard
from tocsin.workspace.permissions import Permission

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
T = TypeVar("T")

HOST_FIELD = "host.name"
HOST_WINDOW = timedelta(hours=24)  # hosts are looked for in the files of the last day
HOSTS_SHOWN = 50
QUARANTINE_SHOWN = 5
RULES_SHOWN = 10
CHART_LABEL_CHARS = 33  # bar_chart cuts longer labels
SLA_SHOWN = 15
MEMO_SECONDS = 60.0  # a backstop: the data version already names what a figure depends on


@dataclass(frozen=True, slots=True)
class View:
    """One position of the range switch: a period cut into buckets."""

    range: str
    bucket: str
    label: str
    size: timedelta
    buckets: int
    time_format: str

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The period, ending with the bucket that holds ``now`` (buckets start on the UTC grid)."""
        step = int(self.size.total_seconds())
        stamp = int(now.timestamp())
        end = datetime.fromtimestamp(stamp - stamp % step + step, UTC)
        return end - self.size * self.buckets, end


VIEWS = (
    View("24h", "1h", "24 hours, hourly", timedelta(hours=1), 24, "%H:%M"),
    View("7d", "6h", "7 days, 6-hourly", timedelta(hours=6), 28, "%a %Hh"),
    View("7d", "1d", "7 days, daily", timedelta(days=1), 7, "%a %d"),
)


def pick_view(range_: str | None, bucket: str | None) -> View:
    """The view the query string names (the first of its range when the bucket is unknown)."""
    same_range = [v for v in VIEWS if v.range == range_] or [VIEWS[0]]
    return next((v for v in same_range if v.bucket == bucket), same_range[0])


class Memo:
    """Figures kept per key for a short while (one per app, shared by its requests)."""

    def __init__(self, seconds: float = MEMO_SECONDS, size: int = 64) -> None:
        self.seconds = seconds
        self.size = size
        self._lock = threading.Lock()
        self._items: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value kept for ``key``, or ``compute()`` kept from now on."""
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
        if found is not None and now - found[0] < self.seconds:
            value: T = found[1]
            return value
        value = compute()
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = (now, value)
        return value


def _state(svc: Services, name: str, make: Callable[[], T]) -> T:
    """An object kept with the server's services (built on first use)."""
    state = svc.__dict__
    found: T | None = state.get(name)
    if found is None:
        found = state[name] = make()
    return found


# -- alerts and cases -------------------------------------------------------------------------


def _alert_figures(svc: Services, viewer: Viewer, view: View, rules: str) -> dict[str, Any]:
    db = svc.workspace.db
    actor = viewer.principal
    since, until = view.window(datetime.now(UTC))
    version = dashboard.data_version(db, actor)  # checks ALERT_READ on every request
    memo = _state(svc, "_overview_memo", Memo)
    open_alerts = memo.get(("open", version), lambda: dashboard.open_alerts_by_severity(db, actor))
    timeline = memo.get(
        ("time", version, since, view.size, view.buckets),
        lambda: dashboard.alerts_over_time(
            db, actor, since=since, size=view.size, buckets=view.buckets
        ),
    )
    top = memo.get(
        ("rules", version, rules, since),
        lambda: dashboard.top_rules(
            db,
            actor,
            since=None if rules == "open" else since,
            open_only=rules == "open",
            limit=RULES_SHOWN,
        ),
    )
    cases = None
    if viewer.can(Permission.CASE_READ.value):
        cases = memo.get(("cases", version), lambda: dashboard.open_cases_by_severity(db, actor))
    if rules == "open":
        links = [_queue_link(rule=r.rule_id) for r in top]
    else:
        links = [_queue_link(rule=r.rule_id, status="all", since=iso(since)) for r in top]
    series = [
        Series(s, timeline.counts.get(s, [0] * view.buckets), css=f"sev-{s}") for s in SEVERITIES
    ]
    return {
        "open_alerts": open_alerts,
        "open_total": sum(open_alerts.values()),
        "open_cases": cases,
        "timeline": timeline,
        "since": since,
        "until": until,
        "bucket_word": _bucket_word(view),
        "time_chart": time_chart(
            timeline.starts,
            series,
            label=f"Alerts per {_bucket_word(view)} over {view.label.split(',')[0]}, by severity",
            time_format=view.time_format,
        ),
        "top_rules": top,
        "rule_links": links,
        "rules_chart": bar_chart(
            [(label, r.count) for label, r in zip(_rule_labels(top), top, strict=True)],
            label="Rules with the most alerts",
            links=links,
        ),
    }


def _rule_labels(rules: Sequence[dashboard.RuleCount]) -> list[str]:
    """Each rule's title, or its id where titles look alike once cut to the chart's width."""
    start = [(r.title or r.rule_id)[:CHART_LABEL_CHARS] for r in rules]
    return [
        r.title if r.title and start.count(cut) == 1 else r.rule_id
        for r, cut in zip(rules, start, strict=True)
    ]


def _bucket_word(view: View) -> str:
    return {"1h": "hour", "6h": "6 hours", "1d": "day"}.get(view.bucket, view.bucket)


def _queue_link(**params: str) -> str:
    return "/alerts?" + urlencode(params)


# -- ingest health ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetHealth:
    """One dataset: size, last event time, and recent events per second."""

    stats: DatasetStats
    rate_5m: float
    rate_1h: float


@dataclass(frozen=True, slots=True)
class HostSeen:
    """The last event time of one host in one dataset."""

    dataset: str
    host: str
    last: datetime


@dataclass(frozen=True, slots=True)
class QuarantineSummary:
    """How many records are quarantined, and the newest few."""

    count: int
    newest: list[QuarantinedRecord]


def events_in_window(files: Iterable[LakeFile], since: datetime) -> dict[str, float]:
    """Events per dataset with a ``@timestamp`` from ``since`` on, from file names alone.

    A file wholly inside the window counts whole; a file straddling its start counts the share
    of its time span inside it (events taken as spread evenly over the span: an estimate).
    """
    start = since.timestamp() * 1e6
    found: dict[str, float] = {}
    for lake_file in files:
        if lake_file.max_us < start:
            continue
        if lake_file.min_us >= start or lake_file.max_us == lake_file.min_us:
            share = 1.0
        else:
            share = (lake_file.max_us - start) / (lake_file.max_us - lake_file.min_us)
        found[lake_file.dataset] = found.get(lake_file.dataset, 0.0) + lake_file.rows * share
    return found


def dataset_health(lake_dir: Path, now: datetime) -> list[DatasetHealth]:
    """Every dataset with its events per second over the last 5 minutes and the last hour."""
    stats = lake_stats(lake_dir)
    recent = list_files(lake_dir, since=now - timedelta(hours=1))
    hour = events_in_window(recent, now - timedelta(hours=1))
    five = events_in_window(recent, now - timedelta(minutes=5))
    return [
        DatasetHealth(s, five.get(s.dataset, 0.0) / 300, hour.get(s.dataset, 0.0) / 3600)
        for s in stats  # by name, as lake_stats lists them
    ]


class HostTracker:
    """The newest event time per host of each lake file, read once per file and remembered.

    Lake files never change once written (compaction writes new ones and deletes the old), so
    a file's answer stays true; the files that left the listing are forgotten.
    """

    def __init__(self, reader: LakeReader, field_name: str = HOST_FIELD) -> None:
        self.reader = reader
        self.field = field_name
        self._lock = threading.Lock()
        self._seen: dict[Path, dict[str, datetime]] = {}

    def last_seen(self, files: Sequence[LakeFile]) -> list[HostSeen]:
        """The newest event time per (dataset, host) in ``files``, the stalest first."""
        with self._lock:
            known = {f.path for f in files} & self._seen.keys()
        fresh = [f for f in files if f.path not in known]
        if fresh:
            found = self._read(fresh)
            with self._lock:
                self._seen.update(found)
        with self._lock:
            wanted = {f.path for f in files}
            for stale in [p for p in self._seen if p not in wanted]:
                del self._seen[stale]
            merged: dict[tuple[str, str], datetime] = {}
            for lake_file in files:
                for host, last in self._seen.get(lake_file.path, {}).items():
                    key = (lake_file.dataset, host)
                    if key not in merged or last > merged[key]:
                        merged[key] = last
        rows = [HostSeen(d, h, t) for (d, h), t in merged.items()]
        rows.sort(key=lambda r: (r.last, r.dataset, r.host))
        return rows

    def _read(self, files: Sequence[LakeFile]) -> dict[Path, dict[str, datetime]]:
        result: dict[Path, dict[str, datetime]] = {f.path: {} for f in files}
        with_host = []
        for lake_file in files:
            try:
                if self.field in self.reader.file_schema(lake_file.path):
                    with_host.append(lake_file)
            except (FileNotFoundError, OSError):
                result.pop(lake_file.path, None)  # gone (compacted) meanwhile: ask again later
        if not with_host:
            return result
        by_name = {str(f.path): f.path for f in with_host}
        try:
            with self.reader.connect() as con:
                relation = con.read_parquet(
                    list(by_name), filename=True, union_by_name=True, hive_partitioning=False
                )
                relation.create_view("files")
                rows = con.execute(
                    'SELECT filename, "host.name", max("@timestamp") FROM files '
                    'WHERE "host.name" IS NOT NULL GROUP BY ALL'
                ).fetchall()
        except (duckdb.Error, OSError) as exc:
            # a file removed by compaction meanwhile, or unreadable: nothing is remembered,
            # so the next visit asks again; the rest of the page still shows
            logger.warning("host last-seen query failed", extra={"error": str(exc)})
            return {}
        for name, host, last in rows:
            path = by_name.get(str(name))
            if path is None or last is None:
                continue
            when = last.astimezone(UTC) if last.tzinfo else last.replace(tzinfo=UTC)
            result[path][str(host)] = when
        return result


class QuarantineReader:
    """The quarantine's count and newest records, read again only when its files change."""

    def __init__(self, folder: Path) -> None:
        self.quarantine = Quarantine(folder)
        self.folder = folder
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._summary = QuarantineSummary(0, [])

    def summary(self, shown: int = QUARANTINE_SHOWN) -> QuarantineSummary:
        """How many records are quarantined and the ``shown`` newest."""
        signature = self._files()
        with self._lock:
            if signature == self._signature:
                return self._summary
        count = 0
        newest: list[tuple[datetime, str, QuarantinedRecord]] = []
        for record in self.quarantine.records():
            count += 1
            item = (record.time, record.id, record)
            if len(newest) < shown:
                heapq.heappush(newest, item)
            elif item[:2] > newest[0][:2]:
                heapq.heapreplace(newest, item)
        ordered = [r for _t, _i, r in sorted(newest, key=lambda x: x[:2], reverse=True)]
        summary = QuarantineSummary(count, ordered)
        with self._lock:
            self._signature, self._summary = signature, summary
        return summary

    def _files(self) -> tuple[tuple[str, int, int], ...]:
        if not self.folder.is_dir():
            return ()
        found = []
        for path in sorted(self.folder.glob("q-*.ndjson")):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            found.append((path.name, stat.st_size, stat.st_mtime_ns))
        return tuple(found)


@dataclass
class IngestHealth:
    """What the ingest health panel shows."""

    datasets: list[DatasetHealth]
    hosts: list[HostSeen]
    host_total: int
    quarantine: QuarantineSummary
    spool_pending: int | None
    spool_limit: int
    spool_full: bool
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def spool_text(self) -> str:
        """The backlog as ``1.5 MiB of 1 GiB`` (empty without a spool)."""
        if self.spool_pending is None:
            return ""
        return f"{human_bytes(self.spool_pending)} of {human_bytes(self.spool_limit)}"


def human_bytes(size: float) -> str:
    """``512 B``, ``1.5 KiB``, ``3.2 MiB``, ``1.0 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def ingest_health(svc: Services) -> IngestHealth:
    """Datasets, hosts, quarantine and spool of the server's home."""
    now = datetime.now(UTC)
    lake_dir = svc.settings.lake_dir
    hosts = _state(svc, "_overview_hosts", lambda: HostTracker(svc.reader))
    seen = hosts.last_seen(list_files(lake_dir, since=now - HOST_WINDOW))
    quarantine = _state(
        svc, "_overview_quarantine", lambda: QuarantineReader(svc.settings.quarantine_dir)
    )
    spool = svc.spool
    return IngestHealth(
        datasets=dataset_health(lake_dir, now),
        hosts=seen[:HOSTS_SHOWN],
        host_total=len(seen),
        quarantine=quarantine.summary(),
        spool_pending=spool.pending_bytes() if spool is not None else None,
        spool_limit=spool.max_bytes if spool is not None else svc.settings.spool_max_bytes,
        spool_full=spool.is_full() if spool is not None else False,
        checked_at=now,
    )


# -- the page ---------------------------------------------------------------------------------


@router.get("/")
def overview(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.ALERT_READ))],
    svc: Svc,
) -> HTMLResponse:
    """The overview of alerts, cases, SLAs and ingest."""
    params = request.query_params
    view = pick_view(params.get("range"), params.get("bucket"))
    rules = "open" if params.get("rules") == "open" else "period"
    context = _alert_figures(svc, viewer, view, rules)
    sla = None
    if viewer.can(Permission.SLA_READ.value):
        sla = dashboard.sla_watch(svc.workspace.db, viewer.principal, limit=SLA_SHOWN)
    health = None
    if viewer.can(Permission.HEALTH_READ.value):
        health = ingest_health(svc)
    return render_page(
        request,
        viewer,
        "overview.html",
        title="Overview",
        nav="overview",
        view=view,
        views=VIEWS,
        rules_mode=rules,
        sla_watch=sla,
        health=health,
        **context,
    )
