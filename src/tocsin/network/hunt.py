"""``tocsin net hunt``: the network detectors over a window of the lake, alerts, allow-lists.

The window's flows (every sensor's) and fingerprints are read once into DuckDB; each detector
queries them. Allow-lists (``net_allow`` and the respond/ allow list's addresses and networks)
drop findings, and apply to past results too: an open ``net.*`` alert whose addresses are now
allowed is closed as a benign positive, with a comment naming the allow entry.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import Settings
from tocsin.lake.reader import LakeReader
from tocsin.network.detectors import DETECTORS, Finding, NetContext, merge_thresholds
from tocsin.network.fingerprints import (
    FingerprintHistory,
    known_count,
    load_history,
    save_history,
)
from tocsin.network.source import (
    OPEN_LOOKBACK_DAYS,
    fingerprint_files,
    flow_files,
    load_fingerprints,
    load_flows,
)
from tocsin.workspace.permissions import Principal

PRINCIPAL_NAME = "network"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Progress = Callable[[str], None]


def net_principal() -> Principal:
    """The system principal network alerts are raised (and closed) as."""
    return Principal.system(PRINCIPAL_NAME)


@dataclass(slots=True)
class NetHuntReport:
    """What a hunt read and found."""

    since: datetime
    until: datetime
    flows: int = 0
    fingerprints: int = 0
    findings: list[Finding] = field(default_factory=list)
    alerts_new: int = 0
    alerts_updated: int = 0
    alerts_closed: int = 0
    suppressed: int = 0
    history_fingerprints: int = 0
    learning: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def by_detector(self) -> dict[str, int]:
        """Findings per detector."""
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.detector] = counts.get(finding.detector, 0) + 1
        return counts

    def summary(self) -> str:
        """One line for logs and the scheduler."""
        found = ", ".join(f"{k} {v}" for k, v in sorted(self.by_detector().items())) or "nothing"
        line = (
            f"{self.flows} flows: {found}; {self.alerts_new} new alert(s), "
            f"{self.alerts_updated} updated, {self.alerts_closed} closed by the allow-list"
        )
        return line + (f" ({self.learning})" if self.learning else "")


@dataclass(frozen=True, slots=True)
class AllowList:
    """Addresses and networks the detectors never flag, each with where it came from."""

    networks: tuple[tuple[Network, str], ...]

    def match(self, address: str | None) -> str | None:
        """The allow entry covering the address, or None."""
        if not address:
            return None
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return None
        for network, source in self.networks:
            if network.version == parsed.version and parsed in network:
                return source
        return None


def _networks(values: Sequence[str], source: str) -> list[tuple[Network, str]]:
    out = []
    for value in values:
        try:
            out.append((ipaddress.ip_network(value.strip(), strict=False), f"{source}: {value}"))
        except ValueError:
            continue  # domains: the network detectors see addresses only
    return out


def internal_networks(settings: Settings) -> list[Network]:
    """``net_internal_networks`` parsed; a value that is not a network is an error naming it."""
    out = []
    for value in settings.net_internal_networks:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            # a typo here would silently make a subnet external and its hosts unwatched
            raise InvalidInputError(
                f"net_internal_networks: {value!r} is not an address or CIDR network"
            ) from exc
    return out


def read_allow_list(settings: Settings) -> tuple[AllowList, list[Any]]:
    """``net_allow`` plus the respond/ allow list; and the block list's addresses as indicators."""
    entries = _networks(settings.net_allow, "net_allow")
    blocked: list[Any] = []
    if settings.database_url is not None or (settings.home / "workspace.db").is_file():
        from tocsin.intel.indicators import Indicator
        from tocsin.respond.blocklist import BlockLists
        from tocsin.respond.values import EntryKind, ListName
        from tocsin.workspace.db import Database

        db = Database(settings.workspace_url)
        try:
            lists = BlockLists(db)
            actor = net_principal()
            allowed = lists.active_values(actor, EntryKind.IP, ListName.ALLOW)
            entries += _networks(sorted(allowed), "allow list")
            for value in sorted(lists.active_values(actor, EntryKind.IP, ListName.BLOCK)):
                blocked.append(Indicator("ip", value, source="block list"))
        finally:
            db.close()
    return AllowList(tuple(entries)), blocked


def _detectors(settings: Settings, chosen: Sequence[str] | None) -> list[str]:
    wanted = list(chosen) if chosen else list(settings.net_detectors)
    unknown = [d for d in wanted if d not in DETECTORS]
    if unknown:
        raise InvalidInputError(
            f"unknown network detector(s) {', '.join(unknown)}; use {', '.join(DETECTORS)}"
        )
    return wanted


def hunt_net(
    settings: Settings,
    *,
    since: datetime,
    until: datetime,
    detectors: Sequence[str] | None = None,
    alerts: bool = True,
    progress: Progress | None = None,
    reader: LakeReader | None = None,
) -> NetHuntReport:
    """Run the network detectors over ``[since, until)``; alerts unless ``alerts`` is False."""
    if until <= since:
        raise InvalidInputError("the window is empty: --until must be after --since")
    wanted = _detectors(settings, detectors)
    thresholds = merge_thresholds(settings.net_thresholds)
    report = NetHuntReport(since, until)
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
    allow, blocked = read_allow_list(settings)
    internal = internal_networks(settings)
    step("reading flows")
    with reader.connect() as con:
        # a connection still open in the window may have begun days before it
        opened = since - timedelta(days=OPEN_LOOKBACK_DAYS)
        report.flows = load_flows(
            con,
            reader,
            since=since,
            until=until,
            files=flow_files(reader, since=opened, until=until),
        )
        report.fingerprints = load_fingerprints(
            con,
            reader,
            since=since,
            until=until,
            files=fingerprint_files(reader, since=since, until=until),
        )
        lap("read")

        keep_hosts = int(thresholds["rare.max_hosts"]) + 1
        memory = int(thresholds["rare.history_days"])
        loaded: list[FingerprintHistory] = []

        def history(days: int) -> int:
            if not loaded:  # once per hunt: the detector asks, and the save below needs it
                loaded.append(
                    load_history(
                        con, settings, reader, since=since, days=days, keep_hosts=keep_hosts
                    )
                )
            return known_count(con, since=since, forget=since - timedelta(days=days))

        def baseline(days: int) -> dict[str, float]:
            start = since - timedelta(days=days)
            files = flow_files(reader, since=start, until=since)
            load_flows(con, reader, since=start, until=since, files=files, table="past_flows")
            rows = con.execute(
                "SELECT src, dst, sum(sbytes) / 1e6 FROM past_flows GROUP BY src, dst"
            ).fetchall()
            daily: dict[str, float] = {}
            for src, dst, mb in rows:
                if ctx.is_internal(str(src)) and not ctx.is_internal(str(dst)):
                    daily[str(src)] = daily.get(str(src), 0.0) + float(mb) / days
            return daily

        ctx = NetContext(
            con,
            since,
            until,
            thresholds,
            internal,
            allowed=lambda address: allow.match(address) is not None,
            history=history,
            baseline=baseline,
        )
        if "indicator" in wanted:
            from tocsin.intel.feeds import load_indicators
            from tocsin.intel.indicators import IndicatorSet

            found = IndicatorSet()
            found.extend(load_indicators(settings))
            found.extend(blocked)
            ctx.indicators = found if len(found) else None
        if report.flows or report.fingerprints:
            for name in wanted:
                step(name.replace("_", " "))
                report.findings.extend(DETECTORS[name](ctx))
                lap(name)
        if "rare_fingerprint" in wanted and report.fingerprints:
            history(memory)
            report.history_fingerprints = save_history(
                con, loaded[0], forget=since - timedelta(days=memory), keep_hosts=keep_hosts
            )
            lap("fingerprint history")
        if ctx.stats.get("rare_fingerprint.learning"):
            report.learning = (
                "rare fingerprints: learning, no fingerprint history before the window"
            )
    # the workspace is opened only when there is something to raise or an allow entry that may
    # close past alerts (a hunt over an empty lake touches nothing)
    if alerts and (report.findings or (allow.networks and report.flows)):
        _raise_and_close(settings, report, allow)
        lap("alerts")
    return report


def _raise_and_close(settings: Settings, report: NetHuntReport, allow: AllowList) -> None:
    from tocsin.workspace.models import AlertStatus, Classification
    from tocsin.workspace.service import Workspace

    ws = Workspace.open(settings)
    actor = net_principal()
    try:
        if report.findings:
            result = ws.raise_alerts([f.to_draft() for f in report.findings], actor=actor)
            report.alerts_new = len(result.created)
            report.alerts_updated = len(result.updated)
            report.suppressed = result.suppressed
        if not allow.networks:
            return
        open_states = [
            AlertStatus.NEW.value,
            AlertStatus.ACKNOWLEDGED.value,
            AlertStatus.IN_PROGRESS.value,
        ]
        for rule_id in ("net." + name for name in DETECTORS):
            offset = 0
            while True:
                page = ws.alerts.list(
                    actor, status=open_states, rule_id=rule_id, limit=200, offset=offset
                )
                closed = 0
                for alert in page.items:
                    fields = alert.fields or {}
                    why = allow.match(str(fields.get("destination.ip") or "")) or allow.match(
                        str(fields.get("source.ip") or "")
                    )
                    if why is None:
                        continue
                    ws.alerts.close(
                        actor,
                        alert.id,
                        Classification.BENIGN_POSITIVE,
                        comment=f"closed by the network hunt: now allow-listed ({why})",
                    )
                    report.alerts_closed += 1
                    closed += 1
                offset += len(page.items) - closed  # closed ones left the open list
                if not page.items or offset >= page.total:
                    break
    finally:
        ws.close()
