"""``tocsin discovery``: find personal data and secrets, and stop new secrets before they ship."""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.progress import DownloadColumn, MofNCompleteColumn, TransferSpeedColumn
from rich.table import Table

from tocsin.cli.common import ensure_home, handle_errors, settings
from tocsin.cli.output import (
    OutputFormat,
    OutputOpt,
    print_rows,
    progress_bar,
    resolve_format,
    stderr,
    stdout,
)
from tocsin.core.errors import InvalidInputError
from tocsin.core.timeutil import parse_time_bound

if TYPE_CHECKING:
    from tocsin.core.settings import Settings
    from tocsin.discovery.findings import Finding
    from tocsin.discovery.scan import ScanOptions, ScanReport

app = typer.Typer(
    help="Data discovery: personal data and secrets in files, repositories, databases and "
    "logs; a gate for changes before they ship.",
    no_args_is_help=True,
)

LEVELS = {"low": 0, "medium": 1, "high": 2}
DB_URL = re.compile(r"^(?:sqlite|postgres(?:ql)?|mysql|mariadb|mssql|oracle)(?:\+\w+)?://")
COLUMNS = ["level", "kind", "location", "masked", "rule", "confidence"]


class FindingFormat(StrEnum):
    """Output formats of commands that print findings (the list formats and SARIF)."""

    TABLE = "table"
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    SARIF = "sarif"


FindingOutput = Annotated[
    FindingFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="table, json, ndjson, csv or sarif (default: table on a terminal, ndjson piped).",
    ),
]
RulesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules", "-r", help="Extra rule file, ours (YAML) or gitleaks' (TOML) (repeatable)."
    ),
]
AllowOpt = Annotated[
    Path | None, typer.Option("--allow", help="Allow-list file (paths, rules, values, prints).")
]
MinConfOpt = Annotated[
    float | None,
    typer.Option("--min-confidence", min=0.0, max=1.0, help="Drop findings below this (0-1)."),
]
SarifOpt = Annotated[
    Path | None, typer.Option("--sarif", help="Also write the findings as SARIF to this file.")
]
FailOnOpt = Annotated[
    str | None,
    typer.Option("--fail-on", help="Exit 1 when a finding of this level or higher is found."),
]


def _check_level(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    if value not in LEVELS:
        raise typer.BadParameter("use low, medium or high", param_hint=option)
    return LEVELS[value]


def _options(
    current: Settings,
    *,
    rules: list[Path] | None,
    allow: Path | None,
    baseline: Path | None = None,
    pii: bool = True,
    secrets: bool = True,
    min_confidence: float | None = None,
    max_rows: int = 1000,
    extra_allow: object = None,
) -> ScanOptions:
    from tocsin.discovery.allow import AllowList, read_allow_list, read_baseline
    from tocsin.discovery.findings import DEFAULT_HASH_KEY
    from tocsin.discovery.scan import ScanOptions

    categories = tuple(c for c, on in (("secret", secrets), ("pii", pii)) if on)
    if not categories:
        raise typer.BadParameter("--no-pii and --no-secrets leave nothing to look for")
    allow_list = AllowList()
    home_allow = current.discovery_allow_file or current.home / "discovery-allow.yaml"
    if home_allow.exists():
        allow_list = allow_list.merged(read_allow_list(home_allow))
    if allow is not None:
        if not allow.exists():
            raise InvalidInputError(f"{allow}: no such allow-list file")
        allow_list = allow_list.merged(read_allow_list(allow))
    if isinstance(extra_allow, AllowList):
        allow_list = allow_list.merged(extra_allow)
    key = current.discovery_hash_key
    return ScanOptions(
        rule_files=tuple(current.discovery_rules) + tuple(rules or ()),
        categories=categories,
        min_confidence=(
            current.discovery_min_confidence if min_confidence is None else min_confidence
        ),
        allow=allow_list,
        baseline=read_baseline(baseline) if baseline is not None else None,
        hash_key=key.encode() if key else DEFAULT_HASH_KEY,
        max_rows=max_rows,
    )


def _print_findings(findings: list[Finding], output: FindingFormat | None) -> None:
    from tocsin.discovery.sarif import to_sarif

    order = sorted(
        findings,
        key=lambda f: (-LEVELS[f.level], f.location.path, f.location.line, f.rule_id),
    )
    if output is FindingFormat.SARIF:
        sys.stdout.write(orjson.dumps(to_sarif(order), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return
    rows = [f.to_dict() for f in order]
    fmt = resolve_format(OutputFormat(output.value) if output is not None else None)
    if fmt is OutputFormat.TABLE:
        print_rows(rows, fmt, COLUMNS, title="Findings" if rows else None)
    else:
        print_rows(rows, fmt, COLUMNS if fmt is OutputFormat.CSV else None)


def _summary(report: ScanReport) -> None:
    levels = Counter(f.level for f in report.findings)
    mb = report.bytes / 1e6
    speed = f", {mb / report.seconds:.1f} MB/s" if report.seconds > 0.05 and mb > 1 else ""
    extra = []
    if report.allowed:
        extra.append(f"{report.allowed:,} allowed")
    if report.known:
        extra.append(f"{report.known:,} in the baseline")
    stderr.print(
        f"{len(report.findings):,} findings ({levels['high']:,} high, {levels['medium']:,} "
        f"medium, {levels['low']:,} low) in {report.parts:,} parts, {mb:,.1f} MB, "
        f"{report.seconds:.1f} s{speed}" + (f"; {', '.join(extra)}" if extra else "")
    )
    for problem in report.problems[:30]:
        stderr.print(f"[yellow]skipped[/yellow] {_esc(problem.where)}: {_esc(problem.reason)}")
    if len(report.problems) > 30:
        stderr.print(f"... and {len(report.problems) - 30:,} more skipped")


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _write_sarif(path: Path | None, findings: list[Finding]) -> None:
    if path is None:
        return
    from tocsin.discovery.sarif import to_sarif

    path.write_bytes(orjson.dumps(to_sarif(findings), option=orjson.OPT_INDENT_2) + b"\n")
    stderr.print(f"SARIF written to {_esc(str(path))}")


def _run_target(
    target: str,
    options: ScanOptions,
    *,
    history: bool,
    since: str | None,
    until: str | None,
    datasets: list[str] | None,
    workers: int = 1,
) -> ScanReport:
    from tocsin.discovery import scan as svc
    from tocsin.discovery.git import commit_count, is_repo

    scanner = svc.build_scanner(options)
    if DB_URL.match(target):
        with progress_bar("tables", DownloadColumn()) as bar:
            task = bar.add_task("db", total=None)
            return svc.scan_database(
                target, options, scanner=scanner, progress=lambda n: bar.advance(task, n)
            )
    if target == "lake" or target.startswith("lake:"):
        current = settings()
        chosen = list(datasets or [])
        if target.startswith("lake:"):
            chosen.extend(d for d in target[5:].split(",") if d)
        from datetime import datetime

        now = datetime.now().astimezone()
        with progress_bar("events", DownloadColumn()) as bar:
            task = bar.add_task("lake", total=None)
            return svc.scan_lake(
                current.lake_dir,
                options,
                datasets=chosen or None,
                since=parse_time_bound(since, now=now) if since else None,
                until=parse_time_bound(until, now=now) if until else None,
                scanner=scanner,
                progress=lambda n: bar.advance(task, n),
            )
    path = Path(target)
    if history and is_repo(path):
        total = commit_count(path, ["--all"])
        with progress_bar("commits", MofNCompleteColumn()) as bar:
            task = bar.add_task("git", total=total or None)
            return svc.scan_git_history(
                path, options, scanner=scanner, progress=lambda n: bar.advance(task, n)
            )
    total = svc.tree_size([path]) if path.exists() else 0
    with progress_bar("scanning", DownloadColumn(), TransferSpeedColumn()) as bar:
        task = bar.add_task("files", total=total or None)
        return svc.scan_files(
            [path],
            options,
            scanner=scanner,
            progress=lambda n: bar.advance(task, n),
            workers=workers if path.is_dir() else 1,
        )


@app.command("scan")
@handle_errors
def scan(
    targets: Annotated[
        list[str],
        typer.Argument(
            help="Files or folders; a database URL (sqlite:///app.db, postgresql://...); "
            "'lake' or 'lake:DATASET' for events in the lake."
        ),
    ],
    rules: RulesOpt = None,
    allow: AllowOpt = None,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Report only findings not in this baseline.")
    ] = None,
    history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="A target that is a git repository: scan the lines every commit added "
            "(instead of its files).",
        ),
    ] = False,
    pii: Annotated[bool, typer.Option("--pii/--no-pii", help="Look for personal data.")] = True,
    secrets: Annotated[bool, typer.Option("--secrets/--no-secrets", help="Look for secrets.")] = (
        True
    ),
    min_confidence: MinConfOpt = None,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=1, help="Rows per table / events per dataset.")
    ] = 1000,
    since: Annotated[str | None, typer.Option(help="Lake: start (-24h, 7d, ISO).")] = None,
    until: Annotated[str | None, typer.Option(help="Lake: end.")] = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", "-d", help="Lake: only these datasets.")
    ] = None,
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="Also write discovery.finding events, keep triage states and raise alerts.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Processes for folders (default: cores)."),
    ] = None,
    sarif: SarifOpt = None,
    fail_on: FailOnOpt = None,
    output: FindingOutput = None,
) -> None:
    """Scan for secrets and personal data, and print each finding, masked, with its reasons.

    Offline, writing nothing unless --store (which needs a home). Text inside PDF, DOCX,
    XLSX, ZIP and tar files is scanned too, within size and depth limits.
    """
    from tocsin.discovery.scan import ScanReport

    threshold = _check_level(fail_on, "--fail-on")
    current = ensure_home() if store else settings()
    extra = None
    if store:
        from tocsin.discovery.allow import AllowList
        from tocsin.discovery.store import false_positives

        extra = AllowList(fingerprints=false_positives(current))
    options = _options(
        current,
        rules=rules,
        allow=allow,
        baseline=baseline,
        pii=pii,
        secrets=secrets,
        min_confidence=min_confidence,
        max_rows=max_rows,
        extra_allow=extra,
    )
    report = ScanReport(", ".join(targets))
    for target in targets:
        report.merge(
            _run_target(
                target,
                options,
                history=history,
                since=since,
                until=until,
                datasets=dataset,
                workers=workers or os.cpu_count() or 1,
            )
        )
    _print_findings(report.findings, output)
    _summary(report)
    _write_sarif(sarif, report.findings)
    if store:
        from tocsin.discovery.store import store_findings

        stored = store_findings(current, report.findings)
        stderr.print(
            f"stored {stored.events:,} discovery.finding events; alerts: {stored.alerts_new:,} "
            f"new, {stored.alerts_updated:,} updated"
            + (f"; {stored.reopened:,} fixed findings seen again" if stored.reopened else "")
        )
    if report.problems and not report.parts:
        raise typer.Exit(1)
    if threshold is not None and any(LEVELS[f.level] >= threshold for f in report.findings):
        raise typer.Exit(1)


@app.command("diff")
@handle_errors
def diff(
    rev: Annotated[
        str | None,
        typer.Argument(
            help="Compare with this revision or range (main, origin/main...HEAD); default: "
            "the staged changes (for a pre-commit hook)."
        ),
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="A folder in the repository.")] = Path("."),
    rules: RulesOpt = None,
    allow: AllowOpt = None,
    pii: Annotated[
        bool, typer.Option("--pii/--no-pii", help="Also look for personal data.")
    ] = False,
    min_confidence: MinConfOpt = None,
    fail_on: Annotated[
        str,
        typer.Option("--fail-on", help="Lowest level of a new finding that fails (exit 1)."),
    ] = "medium",
    sarif: SarifOpt = None,
    output: FindingOutput = None,
) -> None:
    """Scan only the lines a change adds; exit 1 on new findings.

    Reads the repository's own allow-list and baseline from .tocsin/ at its root.
    """
    from tocsin.discovery.allow import repo_settings
    from tocsin.discovery.git import repo_root
    from tocsin.discovery.scan import scan_diff

    threshold = _check_level(fail_on, "--fail-on")
    root = repo_root(repo)
    repo_allow, repo_baseline = repo_settings(root)
    options = _options(
        settings(),
        rules=rules,
        allow=allow,
        pii=pii,
        min_confidence=min_confidence,
        extra_allow=repo_allow,
    )
    from dataclasses import replace

    options = replace(options, baseline=repo_baseline)
    report = scan_diff(root, options, rev=rev, staged=rev is None)
    _print_findings(report.findings, output)
    _summary(report)
    _write_sarif(sarif, report.findings)
    failing = [f for f in report.findings if LEVELS[f.level] >= (threshold or 0)]
    if failing:
        stderr.print(
            f"[red]{len(failing):,} new finding(s) at {fail_on} or above[/red]: remove them, "
            "or allow them in .tocsin/discovery-allow.yaml, or accept them into the baseline "
            "with `tocsin discovery baseline`."
        )
        raise typer.Exit(1)


@app.command("baseline")
@handle_errors
def baseline_cmd(
    path: Annotated[Path, typer.Argument(help="The repository or folder to take stock of.")] = Path(
        "."
    ),
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Baseline file (default PATH/.tocsin/discovery-baseline.json)."),
    ] = None,
    rules: RulesOpt = None,
    allow: AllowOpt = None,
    pii: Annotated[bool, typer.Option("--pii/--no-pii", help="Include personal data.")] = False,
) -> None:
    """Accept what is there now: later scans and diffs report only new findings."""
    from tocsin.discovery.allow import BASELINE_FILE, REPO_DIR, write_baseline
    from tocsin.discovery.scan import build_scanner, scan_files

    options = _options(settings(), rules=rules, allow=allow, pii=pii)
    report = scan_files([path], options, scanner=build_scanner(options))
    target = out or (path if path.is_dir() else path.parent) / REPO_DIR / BASELINE_FILE
    count = write_baseline(target, report.findings)
    stderr.print(f"{count:,} findings accepted into {_esc(str(target))}")


@app.command("rules")
@handle_errors
def rules_cmd(rules: RulesOpt = None, output: OutputOpt = None) -> None:
    """List the rules: built-in, from settings and from --rules."""
    from tocsin.discovery.rules import load_rules

    current = settings()
    loaded = load_rules(list(current.discovery_rules) + list(rules or ()))
    rows: list[dict[str, object]] = [
        {
            "id": r.id,
            "category": r.category,
            "kind": r.kind,
            "title": r.title,
            "keywords": ", ".join(r.keywords[:6]) + (" ..." if len(r.keywords) > 6 else ""),
            "validator": r.validator or "",
            "origin": r.origin,
        }
        for r in loaded.rules
    ]
    print_rows(rows, output, ["id", "category", "kind", "keywords", "validator", "origin"])


@app.command("findings")
@handle_errors
def findings_cmd(
    state: Annotated[
        str | None, typer.Option("--state", help="open, confirmed, false_positive or fixed.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="EMAIL, AWS_ACCESS_KEY_ID...")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 100,
    output: OutputOpt = None,
) -> None:
    """Stored findings with their triage state (newest first)."""
    from tocsin.discovery.store import list_findings
    from tocsin.workspace.permissions import Principal
    from tocsin.workspace.service import Workspace

    ws = Workspace.open(ensure_home())
    try:
        rows, total = list_findings(
            ws, Principal.system("cli"), state=state, kind=kind, limit=limit
        )
    finally:
        ws.close()
    print_rows(
        [r.to_dict() for r in rows],
        output,
        ["fingerprint", "state", "level", "kind", "location", "masked", "owner", "last_seen"],
    )
    stderr.print(f"{len(rows):,} of {total:,} findings")


@app.command("triage")
@handle_errors
def triage_cmd(
    fingerprint: Annotated[str, typer.Argument(help="The finding's fingerprint.")],
    state: Annotated[str, typer.Argument(help="open, confirmed, false_positive or fixed.")],
    note: Annotated[str, typer.Option("--note", help="Why (kept in the history).")] = "",
) -> None:
    """Set a finding's state; its alert is closed (false positive, fixed) or acknowledged."""
    from tocsin.discovery.store import set_state
    from tocsin.workspace.permissions import Principal
    from tocsin.workspace.service import Workspace

    ws = Workspace.open(ensure_home())
    try:
        row = set_state(ws, Principal.system("cli"), fingerprint, state, note=note)
    finally:
        ws.close()
    stderr.print(f"{row.fingerprint}: {row.state} ({_esc(row.location)})")


@app.command("inventory")
@handle_errors
def inventory_cmd(
    by: Annotated[
        str, typer.Option("--by", help="Group by owner, folder or source, each with its kinds.")
    ] = "folder",
    depth: Annotated[int, typer.Option("--depth", min=1, help="Folder levels kept.")] = 2,
    output: OutputOpt = None,
) -> None:
    """Where each type of data lives: counts of open and confirmed findings per place."""
    from tocsin.discovery.inventory import inventory
    from tocsin.workspace.permissions import Principal
    from tocsin.workspace.service import Workspace

    if by not in ("owner", "folder", "source"):
        raise typer.BadParameter("use owner, folder or source", param_hint="--by")
    ws = Workspace.open(ensure_home())
    try:
        table = inventory(ws, Principal.system("cli"), by=by, depth=depth)
    finally:
        ws.close()
    if resolve_format(output) is OutputFormat.TABLE:
        grid = Table(title=f"Sensitive data by {by}", header_style="bold")
        grid.add_column(by)
        for kind in table.kinds:
            grid.add_column(kind, justify="right")
        grid.add_column("total", justify="right")
        for place, counts in table.rows.items():
            grid.add_row(
                _esc(place),
                *[f"{counts.get(k, 0):,}" if counts.get(k) else "" for k in table.kinds],
                f"{sum(counts.values()):,}",
            )
        stdout.print(grid)
        return
    print_rows(table.flat(), output)
