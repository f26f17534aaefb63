"""``tocsin mail``: analyse suspicious email offline, and keep the verdicts when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import MofNCompleteColumn
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

app = typer.Typer(
    help="Anti-phishing: analyse emails and explain the verdict.", no_args_is_help=True
)

VERDICT_ORDER = {"clean": 0, "suspicious": 1, "phishing": 2}


@app.command("analyze")
@handle_errors
def analyze(
    inputs: Annotated[
        list[Path], typer.Argument(help=".eml or .msg files, mbox files, or folders of them.")
    ],
    store: Annotated[
        bool,
        typer.Option(
            "--store", help="Also write mail.message events and raise mail.phishing alerts."
        ),
    ] = False,
    protected: Annotated[
        list[str] | None,
        typer.Option("--protected-domain", help="Our own domain (repeat); adds to settings."),
    ] = None,
    vip: Annotated[
        list[str] | None,
        typer.Option("--vip", help="'Name <address>' of a person impostors use (repeat)."),
    ] = None,
    intel: Annotated[
        list[Path] | None,
        typer.Option("--intel", help="Indicator list (URLs, domains, hashes) to match (repeat)."),
    ] = None,
    verify: Annotated[
        bool | None,
        typer.Option(
            "--verify/--no-verify",
            help="Verify SPF/DKIM/ARC/DMARC locally (needs TOCSIN_DNS_RESOLVER).",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", min=1, help="Processes (default: cores).")
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 when a message is suspicious or phishing."),
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Analyse messages and print each verdict with its score, reasons and observables.

    Offline and writing nothing unless --store (which needs a home).
    """
    from tocsin.mail.service import Options, analyze_messages
    from tocsin.mail.store import store_analyses

    if fail_on is not None and fail_on not in ("suspicious", "phishing"):
        raise typer.BadParameter("use suspicious or phishing", param_hint="--fail-on")
    current = ensure_home() if store else settings()
    options = Options(
        protected_domains=tuple(protected or ()),
        vips=tuple(vip or ()),
        intel=tuple(intel or ()),
        verify_auth=verify,
    )
    with progress_bar("analysing", MofNCompleteColumn()) as progress:
        task = progress.add_task("mail", total=None)
        batch = analyze_messages(
            current, inputs, options, workers=workers, progress=lambda n: progress.advance(task, n)
        )
    for problem in batch.policy_issues[:20]:
        stderr.print(f"[yellow]settings:[/yellow] {problem}")
    for issue in batch.issues[:50]:
        stderr.print(f"[yellow]cannot read[/yellow] {issue}")
    if len(batch.issues) > 50:
        stderr.print(f"... and {len(batch.issues) - 50} more unreadable messages")

    rows = [item.analysis.to_dict() for item in batch.results]
    if resolve_format(output) is OutputFormat.TABLE:
        _print_table(rows)
    else:
        print_rows(rows, output)
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in VERDICT_ORDER}
    stderr.print(
        f"{len(rows):,} analysed: {counts['phishing']:,} phishing, "
        f"{counts['suspicious']:,} suspicious, {counts['clean']:,} clean"
        + (f"; {len(batch.issues):,} could not be read" if batch.issues else "")
    )
    if store and batch.results:
        report = store_analyses(current, [(r.analysis, r.event_id) for r in batch.results])
        stderr.print(
            f"stored {len(report.stored):,} mail.message events; alerts: "
            f"{report.alerts_new:,} new, {report.alerts_updated:,} updated"
            + (f", {report.suppressed:,} suppressed" if report.suppressed else "")
        )
    if batch.issues and not batch.results:
        raise typer.Exit(1)
    if fail_on is not None:
        worst = max((VERDICT_ORDER[str(r["verdict"])] for r in rows), default=0)
        if worst >= VERDICT_ORDER[fail_on]:
            raise typer.Exit(1)


def _print_table(rows: list[dict[str, object]]) -> None:
    """Per message: one line with the verdict, then its reasons, as rspamd prints symbols."""
    marks = {"phishing": "[bold red]PHISHING[/]", "suspicious": "[yellow]SUSPICIOUS[/]"}
    for row in rows:
        verdict = marks.get(str(row["verdict"]), "[green]clean[/]")
        stdout.print(
            f"{verdict} {row['score']:g}  [bold]{_escape(str(row['file']))}[/bold]\n"
            f"  from {_escape(str(row['from'] or '?'))}: "
            f"{_escape(str(row['subject'] or '')[:100])}"
        )
        reasons = row["reasons"]
        assert isinstance(reasons, list)  # noqa: S101 - built by Analysis.to_dict
        weighted = [r for r in reasons if r["weight"]]
        if not weighted:
            continue
        table = Table(show_header=False, box=None, padding=(0, 1), pad_edge=False)
        table.add_column("weight", justify="right", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("detail", overflow="fold", ratio=1)
        for reason in weighted[:12]:
            table.add_row(
                f"{reason['weight']:+g}",
                _escape(str(reason["check"])),
                _escape(str(reason["detail"])),
            )
        stdout.print(table)


def _escape(text: str) -> str:
    return escape(text)


@app.command("block")
@handle_errors
def block(
    alert_ids: Annotated[list[int], typer.Argument(help="mail.phishing alert ids.")],
    days: Annotated[
        float | None,
        typer.Option("--days", help="Expiry in days (default: mail_block_days; 0: never)."),
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Block the senders, domains, links and files of phishing alerts (with provenance)."""
    from datetime import timedelta

    from tocsin.mail.blocking import block_alert
    from tocsin.mail.store import block_ttl
    from tocsin.workspace.permissions import Principal
    from tocsin.workspace.service import Workspace

    current = ensure_home()
    if days is None:
        ttl = block_ttl(current)
    else:
        ttl = timedelta(days=days) if days > 0 else None
    workspace = Workspace.open(current)
    rows: list[dict[str, object]] = []
    try:
        for alert_id in alert_ids:
            for result in block_alert(
                workspace,
                Principal.local(),
                alert_id,
                ttl=ttl,
                protected=current.organisation_domains,
            ):
                entry = result.entry
                rows.append(
                    {
                        "alert": alert_id,
                        "outcome": result.outcome,
                        "kind": entry.kind.value,
                        "value": entry.value,
                        "expires_at": entry.expires_at,
                    }
                )
    finally:
        workspace.close()
    print_rows(rows, output, ["alert", "outcome", "kind", "value", "expires_at"])
    stderr.print(f"{len(rows)} block-list entries for {len(alert_ids)} alert(s)")
