"""``tocsin quarantine``: list and retry records that could not be parsed."""

from __future__ import annotations

from typing import Annotated

import typer

from tocsin.cli.common import handle_errors, settings
from tocsin.cli.output import OutputFormat, print_rows, stderr

app = typer.Typer(help="Records that could not be parsed.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_records(
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most records shown.")] = 100,
    output: Annotated[OutputFormat | None, typer.Option("--output", "-o")] = None,
) -> None:
    """List quarantined records: where, which parser, why, and the start of the raw record."""
    from tocsin.ingest.quarantine import Quarantine

    quarantine = Quarantine(settings().quarantine_dir)
    rows: list[dict[str, object]] = []
    total = 0
    for record in quarantine.records():
        total += 1
        if len(rows) < limit:
            rows.append(record.to_row())
    print_rows(rows, output, ["time", "where", "parser", "reason", "raw"])
    stderr.print(f"{total:,} records in quarantine")


@app.command("retry")
@handle_errors
def retry(
    format: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="Parse with this format instead of the one that failed."
        ),
    ] = None,
) -> None:
    """Parse quarantined records again; recovered ones go to the lake."""
    from tocsin.ingest.service import retry_quarantine

    report = retry_quarantine(settings(), format=format)
    stderr.print(
        f"{report.retried:,} retried: {report.recovered:,} recovered, "
        f"{report.still_failing:,} still failing"
    )
