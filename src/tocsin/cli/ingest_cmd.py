"""``tocsin ingest``: progress while it runs, a summary when it ends."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from tocsin.cli.output import OutputFormat, print_rows, stderr
from tocsin.core.settings import Settings
from tocsin.ingest.files import expand_paths
from tocsin.ingest.service import IngestReport, IngestService

MAX_ISSUES_SHOWN = 20


def run_ingest(
    settings: Settings,
    paths: list[Path],
    *,
    format: str,
    dataset: str | None,
    force: bool,
    detect: bool,
    output: OutputFormat | None,
) -> None:
    """Ingest with a progress bar on stderr; print the summary; exit 1 if a file failed."""
    service = IngestService(settings, detection=detect)
    files = list(expand_paths(paths))  # walked once: the service takes the files as given
    total = sum(p.stat().st_size for p in files)
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    ) as progress:
        task = progress.add_task("ingest", total=total)
        report = service.ingest(
            files,
            format=format,
            dataset=dataset,
            force=force,
            progress=lambda n: progress.advance(task, n),
        )
    elapsed = time.perf_counter() - started
    print_summary(report, elapsed, output)
    if report.failed and report.total == 0:
        raise typer.Exit(1)


def print_summary(report: IngestReport, elapsed: float, output: OutputFormat | None) -> None:
    """Events per dataset (stdout, in the chosen format), then quarantine and file errors."""
    rows: list[dict[str, object]] = [
        {"dataset": name, "events": count} for name, count in sorted(report.accepted.items())
    ]
    if output is not None and output is not OutputFormat.TABLE:
        print_rows(rows, output)
    else:
        table = Table(title="accepted", header_style="bold")
        table.add_column("dataset")
        table.add_column("events", justify="right")
        for row in rows:
            table.add_row(escape(str(row["dataset"])), f"{row['events']:,}")
        stderr.print(table)
    rate = report.total / elapsed if elapsed > 0 else 0.0
    skipped = sum(1 for f in report.files if f.skipped)
    stderr.print(
        f"{report.total:,} events from {len(report.files) - skipped} files in {elapsed:.1f} s "
        f"({rate:,.0f} events/s); {report.quarantined:,} quarantined"
        + (f"; {report.duplicates:,} duplicates dropped" if report.duplicates else "")
        + (f"; {skipped} already imported (use --force)" if skipped else "")
    )
    for issue in report.issues[:MAX_ISSUES_SHOWN]:
        stderr.print(
            f"  quarantined {escape(issue.where)}: {escape(issue.reason)}", highlight=False
        )
    if report.quarantined > MAX_ISSUES_SHOWN:
        stderr.print(
            f"  ... and {report.quarantined - MAX_ISSUES_SHOWN:,} more: tocsin quarantine list"
        )
    for failed in report.failed:
        stderr.print(
            f"[red]error[/red] {escape(str(failed.path))}: {escape(failed.error or '')}",
            highlight=False,
        )


def run_follow(settings: Settings, paths: list[Path], *, format: str, dataset: str | None) -> None:
    """Tail files until interrupted, resuming from the saved offsets."""
    from tocsin.ingest.tail import Tailer

    tailer = Tailer(settings, paths, format=format, dataset=dataset)
    stderr.print(f"following {len(paths)} path(s); Ctrl-C to stop")
    try:
        tailer.run()
    except KeyboardInterrupt:
        pass
    finally:
        tailer.close()
    stderr.print(f"{tailer.total:,} events ingested")
