"""``tocsin blocklist``: add, remove, list and export block and allow list entries.

Acts as the local administrator on the home's workspace, like the other noun commands. Messages
go to stderr; ``list`` and ``export`` write only their output to stdout.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tocsin.cli.common import ensure_home, handle_errors
from tocsin.cli.output import OutputOpt, print_rows, stderr
from tocsin.core.errors import InvalidInputError
from tocsin.respond.blocklist import (
    BlockLists,
    EntryDraft,
    EntryKind,
    ListName,
    export_formats,
    get_exporter,
    parse_expiry,
)
from tocsin.workspace.db import Database
from tocsin.workspace.permissions import Principal

app = typer.Typer(
    help="Block and allow lists (domains, URLs, emails, IPs, hashes): add, remove, list, export.",
    no_args_is_help=True,
)

KindOpt = Annotated[
    EntryKind | None,
    typer.Option("--kind", "-k", help="The kind of every value (default: detected from each)."),
]
_LIST_COLUMNS = ["id", "list", "kind", "value", "state", "expires_at", "source", "reason"]
_HOSTS_PREFIXES = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1"})  # noqa: S104 - file text
MAX_FILE_BYTES = 64 * 1024 * 1024


@contextmanager
def _lists() -> Iterator[BlockLists]:
    db = Database(ensure_home().workspace_url)
    try:
        yield BlockLists(db)
    finally:
        db.close()


def _file_values(path: Path) -> list[str]:
    """Values from a file: one per line, '#' comments, hosts-file lines taken by their name."""
    try:
        if str(path) == "-":
            text = sys.stdin.read()
        else:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise InvalidInputError(f"{str(path)!r} is larger than 64 MiB: split it")
            text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    values = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # a comment after a value needs a space before it: URLs keep their fragments
        line = line.split(" #", 1)[0].split("\t#", 1)[0].strip()
        fields = line.split()
        if len(fields) == 2 and fields[0] in _HOSTS_PREFIXES:
            line = fields[1]
        values.append(line)
    return values


def _expiry(text: str | None) -> datetime | None:
    try:
        return parse_expiry(text)
    except InvalidInputError as exc:
        raise typer.BadParameter(exc.message, param_hint="--expires") from exc


@app.command("add")
@handle_errors
def add(
    values: Annotated[
        list[str] | None,
        typer.Argument(help="Domains, URLs, emails, IPs or CIDR networks, MD5/SHA-1/SHA-256."),
    ] = None,
    kind: KindOpt = None,
    list_name: Annotated[
        ListName, typer.Option("--list", "-l", help="The list: block or allow.")
    ] = ListName.BLOCK,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why, for the record.")] = "",
    source: Annotated[
        str, typer.Option("--source", help="Provenance: alert:12, case:7, a feed name.")
    ] = "manual",
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires", "-e", help="30d, 12h, 2w, a date (2026-12-31) or ISO time; default never."
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", "-f", help="Read values, one per line ('-' for stdin)."),
    ] = None,
) -> None:
    """Put values on the block (or allow) list; a value already there gets its expiry extended."""
    wanted = list(values or [])
    if from_file is not None:
        wanted.extend(_file_values(from_file))
    if not wanted:
        if from_file is not None:
            raise InvalidInputError(f"{str(from_file)!r} holds no values")
        raise typer.BadParameter("give one or more values, or --from-file FILE")
    expires_at = _expiry(expires)
    drafts = [
        EntryDraft(
            value,
            kind=kind,
            list=list_name,
            reason=reason,
            source=source,
            expires_at=expires_at,
        )
        for value in wanted
    ]
    with _lists() as lists:
        results = lists.add(Principal.local(), drafts)
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for result in results:
        counts[result.outcome] += 1
        entry = result.entry
        stderr.print(
            f"{result.outcome} #{entry.id} {entry.list} {entry.kind} {escape(entry.value)}: "
            f"{escape(result.detail)}",
            highlight=False,
        )
    if len(results) > 1:
        stderr.print(", ".join(f"{n} {what}" for what, n in counts.items()), highlight=False)


@app.command("remove")
@handle_errors
def remove(
    targets: Annotated[list[str], typer.Argument(help="Entry ids, or values to remove.")],
    kind: KindOpt = None,
    list_name: Annotated[
        ListName | None,
        typer.Option("--list", "-l", help="Only from this list (needed for a value on both)."),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why, for the audit log.")] = "",
) -> None:
    """Remove entries by id or value; they stay in the history (list --all shows them)."""
    # ids are short numbers; no value of any kind is only digits (a digest has 32 or more)
    ids = [int(t) for t in targets if t.strip().isdigit() and len(t.strip()) <= 18]
    values = [(kind, t) for t in targets if not (t.strip().isdigit() and len(t.strip()) <= 18)]
    with _lists() as lists:
        removed = lists.remove(
            Principal.local(), ids=ids, values=values, list_name=list_name, reason=reason
        )
    for entry in removed:
        stderr.print(
            f"removed #{entry.id} {entry.list} {entry.kind} {escape(entry.value)}",
            highlight=False,
        )


@app.command("list")
@handle_errors
def list_entries(
    kind: Annotated[EntryKind | None, typer.Option("--kind", "-k", help="Only this kind.")] = None,
    list_name: Annotated[
        ListName | None, typer.Option("--list", "-l", help="Only this list.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Only this source, or a prefix ending in *.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Text in the value or the reason.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", "-a", help="Also expired and removed entries.")
    ] = False,
    limit: Annotated[int, typer.Option(help="How many entries at most.", min=1)] = 100,
    output: OutputOpt = None,
) -> None:
    """List entries, newest first (live ones unless --all)."""
    with _lists() as lists:
        page = lists.list(
            Principal.local(),
            list_name=list_name,
            kind=kind,
            source=source,
            text=query,
            include_expired=show_all,
            include_removed=show_all,
            limit=limit,
        )
    rows: list[dict[str, object]] = [e.to_dict() for e in page.items]
    print_rows(rows, output, _LIST_COLUMNS)
    if page.total > len(rows):
        stderr.print(f"{len(rows)} of {page.total} entries shown; raise --limit for more")


def _format_help() -> str:
    return "The format: " + ", ".join(export_formats()) + "."


@app.command("export")
@handle_errors
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help=_format_help())],
    list_name: Annotated[
        ListName, typer.Option("--list", "-l", help="The list to export.")
    ] = ListName.BLOCK,
    output_file: Annotated[
        Path | None,
        typer.Option(
            "--output-file", "-O", help="Write here (replaced at once) instead of stdout."
        ),
    ] = None,
) -> None:
    """Export the live entries for a firewall, resolver or proxy (allow-listed values left out)."""
    try:
        get_exporter(fmt)
    except InvalidInputError as exc:
        raise typer.BadParameter(exc.message, param_hint="--format") from exc
    with _lists() as lists:
        text = lists.export(Principal.local(), fmt, list_name=list_name)
    if output_file is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    _write_atomically(output_file, text)
    count = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    stderr.print(f"wrote {count} entries to {escape(str(output_file))}", highlight=False)


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the target and rename: a reader never sees half a list."""
    temp: str | None = None
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(temp, path)
    except OSError as exc:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        raise InvalidInputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc
