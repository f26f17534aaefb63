"""The scheduled scan of recent lake events for leaked secrets (``discovery.lake``).

Every ``discovery_lake_interval_minutes`` (off by default) it scans the events of the time
since its last run, with an hour of overlap for late arrivals, and stores what it finds as
``tocsin discovery scan lake --store`` does: events, alerts for high-confidence secrets,
triage rows. The last run's end is kept in ``<home>/state/discovery/lake.json``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import orjson

from tocsin.core.settings import Settings

OVERLAP = timedelta(hours=1)
FIRST_WINDOW = timedelta(hours=24)


def options_for(settings: Settings):  # type: ignore[no-untyped-def]
    """Scan options from the home's settings (rules, allow-list, key, confidence floor)."""
    from tocsin.discovery.allow import AllowList, read_allow_list
    from tocsin.discovery.findings import DEFAULT_HASH_KEY
    from tocsin.discovery.scan import ScanOptions
    from tocsin.discovery.store import false_positives

    allow_file = settings.discovery_allow_file or settings.home / "discovery-allow.yaml"
    allow = read_allow_list(allow_file) if allow_file.exists() else AllowList()
    allow = allow.merged(AllowList(fingerprints=false_positives(settings)))
    key = settings.discovery_hash_key
    return ScanOptions(
        rule_files=tuple(settings.discovery_rules),
        min_confidence=settings.discovery_min_confidence,
        allow=allow,
        hash_key=key.encode() if key else DEFAULT_HASH_KEY,
        max_rows=100_000,
    )


class DiscoveryLakeJob:
    """The ``discovery.lake`` job (``tocsin.jobs`` entry point)."""

    id: ClassVar[str] = "discovery.lake"

    def interval(self, settings: Settings) -> float | None:
        """Every ``discovery_lake_interval_minutes`` (0, the default, turns it off)."""
        minutes = settings.discovery_lake_interval_minutes
        return minutes * 60 if minutes > 0 else None

    def run(self, settings: Settings, *, now: datetime | None = None) -> str:
        """Scan the events since the last run and store the findings."""
        from tocsin.discovery.scan import scan_lake
        from tocsin.discovery.store import store_findings

        until = now or datetime.now(UTC)
        state = settings.state_dir / "discovery" / "lake.json"
        since = until - FIRST_WINDOW
        if state.exists():
            try:
                last = datetime.fromisoformat(orjson.loads(state.read_bytes())["until"])
                since = max(since, last - OVERLAP)
            except (ValueError, KeyError, orjson.JSONDecodeError):
                pass
        report = scan_lake(settings.lake_dir, options_for(settings), since=since, until=until)
        stored = store_findings(settings, report.findings)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_bytes(orjson.dumps({"until": until.isoformat()}))
        return (
            f"{report.parts:,} values scanned, {len(report.findings):,} findings, "
            f"{stored.alerts_new:,} new alerts"
        )
