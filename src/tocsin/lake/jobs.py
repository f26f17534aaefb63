"""The lake's scheduled jobs: compaction and retention."""

from __future__ import annotations

from typing import ClassVar

from tocsin.core.settings import Settings
from tocsin.lake.maintenance import CompactionBusyError, apply_retention, compact


class CompactJob:
    """Merge small lake files."""

    id: ClassVar[str] = "lake.compact"

    def interval(self, settings: Settings) -> float | None:
        """Every ``compact_interval_seconds``."""
        return settings.compact_interval_seconds

    def run(self, settings: Settings) -> str:
        """Compact once (skipped when another compactor runs)."""
        try:
            report = compact(settings.lake_dir, settings.state_dir)
        except CompactionBusyError:
            return "skipped: another compaction is running"
        return f"{report.files_in} files merged into {report.files_out}"


class RetentionJob:
    """Delete ingest days past their dataset's retention."""

    id: ClassVar[str] = "lake.retention"

    def interval(self, settings: Settings) -> float | None:
        """Every ``retention_interval_seconds`` when a retention is set."""
        return settings.retention_interval_seconds if settings.retention_days else None

    def run(self, settings: Settings) -> str:
        """Apply retention once."""
        report = apply_retention(settings.lake_dir, settings.retention_days)
        removed = sum(len(days) for days in report.removed.values())
        return f"{removed} ingest days removed"
