"""``tocsin rules``: list and validate Sigma rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tocsin.cli.common import handle_errors
from tocsin.cli.output import OutputFormat, print_rows, stderr
from tocsin.detect.loader import load_rules

app = typer.Typer(help="Sigma rules: list and validate.", no_args_is_help=True)

RULE_COLUMNS = (
    "id",
    "title",
    "level",
    "status",
    "kind",
    "product",
    "category",
    "service",
    "tags",
    "path",
)
ISSUE_COLUMNS = ("path", "rule_id", "severity", "message")

PathsArgument = Annotated[
    list[Path], typer.Argument(help="Rule files or folders (searched for *.yml and *.yaml).")
]
OutputOption = Annotated[OutputFormat | None, typer.Option("--output", "-o")]


@app.command("list")
@handle_errors
def list_rules(paths: PathsArgument, output: OutputOption = None) -> None:
    """List the rules that load from PATH... (problems are counted on stderr)."""
    ruleset = load_rules(paths)
    print_rows([r.to_row() for r in ruleset.rules], output, RULE_COLUMNS, title="Sigma rules")
    if ruleset.issues:
        stderr.print(
            f"{len(ruleset.errors)} errors, {len(ruleset.warnings)} warnings: "
            "see `tocsin rules validate`",
            highlight=False,
        )


@app.command("validate")
@handle_errors
def validate_rules(paths: PathsArgument, output: OutputOption = None) -> None:
    """Print every problem in PATH...; exit code 1 when any rule or file failed to load."""
    ruleset = load_rules(paths)
    print_rows([i.to_row() for i in ruleset.issues], output, ISSUE_COLUMNS, title="Rule issues")
    failed = len(ruleset.errors)
    stderr.print(
        f"{len(ruleset.rules)} loaded, {failed} failed, {len(ruleset.warnings)} warnings",
        highlight=False,
    )
    if failed:
        raise typer.Exit(1)
