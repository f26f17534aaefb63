"""Printing lists the way every command does: table, json, ndjson or csv.

Default: a table on a terminal, NDJSON when piped. Machine output goes to stdout; progress and
messages go to stderr.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


class OutputFormat(StrEnum):
    """Output formats of listing commands."""

    TABLE = "table"
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"


OutputOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="table, json, ndjson or csv (default: table on a terminal, ndjson when piped).",
    ),
]
"""The ``--output`` option every listing command takes."""


def resolve_format(requested: OutputFormat | None) -> OutputFormat:
    """The requested format, or table on a terminal and NDJSON when piped."""
    if requested is not None:
        return requested
    return OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.NDJSON


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return orjson.dumps(value, default=_default).decode()
    return str(value)


def print_rows(
    rows: Sequence[dict[str, object]],
    fmt: OutputFormat | None,
    columns: Sequence[str] | None = None,
    *,
    title: str | None = None,
) -> None:
    """Print rows in the chosen format (``columns`` picks and orders table/csv columns)."""
    chosen = resolve_format(fmt)
    out = sys.stdout
    if chosen is OutputFormat.JSON:
        out.write(
            orjson.dumps(
                list(rows), default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
            ).decode()
        )
        out.write("\n")
        return
    if chosen is OutputFormat.NDJSON:
        for row in rows:
            out.write(orjson.dumps(row, default=_default, option=orjson.OPT_NON_STR_KEYS).decode())
            out.write("\n")
        return
    names = list(columns) if columns else _all_columns(rows)
    if chosen is OutputFormat.CSV:
        writer = csv.writer(out)
        writer.writerow(names)
        for row in rows:
            writer.writerow([_cell(row.get(name)) for name in names])
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for name in names:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*[_escape(_table_cell(row.get(name))) for name in names])
    stdout.print(table)


def _table_cell(value: object) -> str:
    """Like a CSV cell, but times shortened to the second for reading (still UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, str) and len(value) > 19 and value[10:11] == "T" and value[4] == "-":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return _cell(value)


def _escape(text: str) -> str:
    # Event data is attacker-controlled: never let it be read as Rich markup.
    from rich.markup import escape

    return escape(text)


def _all_columns(rows: Sequence[dict[str, object]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        for name in row:
            names.setdefault(name, None)
    return list(names)


def progress_bar(label: str, *columns: ProgressColumn) -> Progress:
    """A transient progress bar on stderr (off when stderr is not a terminal)."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        *columns,
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )
