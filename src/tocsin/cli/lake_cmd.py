"""``tocsin lake``: stats, compact, retention."""

from __future__ import annotations

from typing import Annotated

import typer

from tocsin.cli.common import handle_errors, settings
from tocsin.cli.output import OutputFormat, print_rows, stderr

app = typer.Typer(help="The event lake: stats, compaction, retention.", no_args_is_help=True)


@app.command("stats")
@handle_errors
def stats(output: Annotated[OutputFormat | None, typer.Option("--output", "-o")] = None) -> None:
    """Events, bytes, files, ingest days and time span per dataset."""
    from tocsin.lake.maintenance import lake_stats

    rows = [s.to_row() for s in lake_stats(settings().lake_dir)]
    print_rows(rows, output, ["dataset", "events", "bytes", "files", "days", "first", "last"])


@app.command("compact")
@handle_errors
def compact() -> None:
    """Merge small files (one compactor at a time)."""
    from tocsin.lake.maintenance import compact as run

    current = settings()
    report = run(current.lake_dir, current.state_dir, min_age=0)
    stderr.print(
        f"{report.partitions} partitions: {report.files_in} files merged into "
        f"{report.files_out}; {report.duplicates} duplicates dropped"
    )


@app.command("retention")
@handle_errors
def retention(
    days: Annotated[
        int | None,
        typer.Option(
            help="Keep this many days for every dataset (default: the retention_days setting)."
        ),
    ] = None,
) -> None:
    """Delete ingest days older than the retention."""
    from tocsin.lake.maintenance import apply_retention

    current = settings()
    policy = {"*": days} if days is not None else current.retention_days
    report = apply_retention(current.lake_dir, policy)
    for dataset, removed in report.removed.items():
        stderr.print(f"{dataset}: removed {', '.join(removed)}")
    if not report.removed:
        stderr.print("nothing to remove")
