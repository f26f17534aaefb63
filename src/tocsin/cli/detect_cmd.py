"""``tocsin scan`` (offline, no home) and ``tocsin hunt`` (the lake, alerts to the workspace)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import orjson
import typer
from rich.progress import DownloadColumn
from rich.table import Table

from tocsin.cli.output import OutputFormat, print_rows, progress_bar, resolve_format, stderr
from tocsin.core.settings import Settings
from tocsin.detect.scan import Record, ScanResult, scan

SEVERITIES = ("critical", "high", "medium", "low", "informational")
TABLE_COLUMNS = ["@timestamp", "severity", "rule_title", "event.dataset", "host", "file"]


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def write_records(records: Sequence[Record], output: OutputFormat | None) -> None:
    """Print scan records: NDJSON one object per line, JSON one array, table/csv flattened."""
    chosen = resolve_format(output)
    if chosen is OutputFormat.NDJSON:
        out = sys.stdout.buffer
        for record in records:
            out.write(orjson.dumps(record, default=_default, option=orjson.OPT_NON_STR_KEYS))
            out.write(b"\n")
        out.flush()
        return
    if chosen is OutputFormat.JSON:
        print_rows(list(records), chosen)
        return
    rows: list[dict[str, object]] = []
    for record in records:
        event = record["event"]
        row = dict(record)
        row["host"] = event.get("host.name") or event.get("Computer") or ""
        rows.append(row)
    columns = TABLE_COLUMNS if chosen is OutputFormat.TABLE else None
    print_rows(rows, chosen, columns)


def summary_table(result: ScanResult) -> Table:
    """The scan summary printed on stderr."""
    table = Table(title="scan summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("files read", f"{result.files_read:,}")
    if result.files_failed:
        table.add_row("files failed", f"{len(result.files_failed):,}")
    table.add_row("events read", f"{result.events_read:,}")
    if result.issues:
        table.add_row("records not readable", f"{len(result.issues):,}")
    source = "cache" if result.from_cache else "YAML"
    table.add_row("rules loaded", f"{result.rules_loaded:,} (from {source})")
    table.add_row("rules failed", f"{result.rules_failed:,}")
    if result.unrouted:
        table.add_row("rules without a dataset", f"{result.unrouted:,}")
    counts = result.by_severity
    for level in SEVERITIES:
        table.add_row(f"matches {level}", f"{counts.get(level, 0):,}")
    table.add_row("time loading rules", f"{result.load_seconds:.2f} s")
    table.add_row("time reading and matching", f"{result.match_seconds:.2f} s")
    return table


def run_scan(
    inputs: list[Path],
    rules: list[Path],
    *,
    format: str,
    dataset: str | None,
    output: OutputFormat | None,
    current: Settings | None,
    use_cache: bool,
    workers: int,
    fail_on: str | None,
) -> int:
    """Scan and print; returns the exit code."""
    missing = [str(p) for p in [*inputs, *rules] if not p.exists()]
    if missing:
        stderr.print(f"[red]not found:[/red] {', '.join(missing)}")
        return 1
    total = sum(_size(p) for p in inputs)
    cache_dir = (
        current.cache_dir / "rules" if current is not None and current.home.is_dir() else None
    )
    placeholders = current.sigma_placeholders if current is not None else None
    with progress_bar("scanning", DownloadColumn()) as progress:
        task = progress.add_task("scan", total=total or None)
        result = scan(
            inputs,
            rules,
            format=format,
            dataset=dataset,
            placeholders=placeholders,
            cache_dir=cache_dir,
            use_cache=use_cache,
            workers=workers,
            progress=lambda n: progress.advance(task, n),
        )
    write_records(result.records, output)
    for path, reason in result.files_failed[:20]:
        stderr.print(f"[yellow]cannot read[/yellow] {path}: {reason}")
    for issue in result.issues[:20]:
        where = f"line {issue.line}" if issue.line is not None else f"offset {issue.offset}"
        stderr.print(f"[yellow]skipped a record[/yellow] {issue.path} {where}: {issue.reason}")
    stderr.print(summary_table(result))
    if result.files_failed and not result.files_read:
        return 1
    if fail_on is not None:
        threshold = SEVERITIES.index(fail_on)
        if any(SEVERITIES.index(str(r["severity"])) <= threshold for r in result.records):
            return 1
    return 0


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def check_fail_on(value: str | None) -> str | None:
    """Validate ``--fail-on``."""
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in SEVERITIES:
        raise typer.BadParameter(f"one of {', '.join(SEVERITIES)}")
    return lowered
