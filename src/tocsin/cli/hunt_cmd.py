"""``tocsin hunt``: the enabled (or given) rules over the lake, with a progress bar."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.progress import MofNCompleteColumn

from tocsin.cli.output import OutputFormat, print_rows, progress_bar, stderr
from tocsin.core.settings import Settings
from tocsin.detect.service import describe, hunt_home
from tocsin.lake.layout import list_files


def run_hunt_command(
    settings: Settings,
    rules: list[Path] | None,
    *,
    since: datetime | None,
    until: datetime | None,
    alerts: bool,
    output: OutputFormat | None,
) -> None:
    """Hunt, show progress on stderr, print the figures as one row."""
    total = sum(f.rows for f in list_files(settings.lake_dir, since=since, until=until))
    with progress_bar("hunting", MofNCompleteColumn()) as progress:
        task = progress.add_task("hunt", total=total or None)
        outcome = hunt_home(
            settings,
            rules,
            since=since,
            until=until,
            alerts=alerts,
            on_batch=lambda n: progress.advance(task, n),
        )
    print_rows([describe(outcome)], output)
    if not outcome.report.datasets:
        stderr.print("no dataset in the lake is read by these rules")
