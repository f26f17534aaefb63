"""``tocsin dns``: hunt the lake's DNS lookups, see what the traffic looks like, score names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tocsin.cli.common import ensure_home, handle_errors
from tocsin.cli.output import (
    OutputFormat,
    OutputOpt,
    print_rows,
    progress_bar,
    resolve_format,
    stderr,
    stdout,
)
from tocsin.core.timeutil import parse_time_bound

if TYPE_CHECKING:
    from tocsin.dns.findings import Finding

app = typer.Typer(
    help="DNS security: DGA, tunnels, new and lookalike domains, indicators; top talkers.",
    no_args_is_help=True,
)

SinceOpt = Annotated[
    str | None, typer.Option(help="Start: -1h, 7d, or an ISO date (default: one hour ago).")
]
UntilOpt = Annotated[str | None, typer.Option(help="End: -5m, now, or an ISO date.")]


def _window(since: str | None, until: str | None, default: timedelta) -> tuple[datetime, datetime]:
    now = datetime.now().astimezone()
    end = parse_time_bound(until, now=now) if until else now
    start = parse_time_bound(since, now=now) if since else end - default
    return start, end


@app.command("hunt")
@handle_errors
def hunt(
    since: SinceOpt = None,
    until: UntilOpt = None,
    detector: Annotated[
        list[str] | None,
        typer.Option(
            "--detector",
            "-d",
            help="dga, tunnel, new_domain, lookalike or indicator (repeat; default: "
            "dns_detectors).",
        ),
    ] = None,
    alerts: Annotated[
        bool, typer.Option("--alerts/--no-alerts", help="Raise alerts in the workspace.")
    ] = True,
    output: OutputOpt = None,
) -> None:
    """Run the DNS detectors over a window of the lake; findings become alerts."""
    from tocsin.dns.hunt import hunt_dns

    settings = ensure_home()
    start, end = _window(since, until, timedelta(hours=1))
    with progress_bar("DNS hunt") as progress:
        task = progress.add_task("dns", total=None)
        report = hunt_dns(
            settings,
            since=start,
            until=end,
            detectors=detector,
            alerts=alerts,
            progress=lambda text: progress.update(task, description=text),
        )
    fmt = resolve_format(output)
    rows = [f.row() for f in report.findings]
    if fmt is OutputFormat.TABLE:
        if rows:
            _findings_table(report.findings)
    else:
        print_rows(rows, output)
    stderr.print(escape(report.summary()))


def _findings_table(findings: Sequence[Finding]) -> None:
    table = Table(title="DNS findings", show_lines=False)
    for column in ("detector", "severity", "client", "domain", "score", "why"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        row = finding.row()
        reasons = finding.reasons
        why = "\n".join(escape(r.detail) for r in reasons[:4])
        table.add_row(
            escape(str(row["detector"])),
            escape(str(row["severity"])),
            escape(str(row["client"] or "")),
            escape(str(row["domain"] or "")),
            f"{row['score']:.2f}",
            why,
        )
    stdout.print(table)


class TopBy(StrEnum):
    """Which figures ``dns top`` lists."""

    DOMAINS = "domains"
    CLIENTS = "clients"
    NXDOMAIN = "nxdomain"
    RARE = "rare"
    QTYPES = "qtypes"
    RCODES = "rcodes"
    TIMELINE = "timeline"


@app.command("top")
@handle_errors
def top(
    since: Annotated[
        str | None, typer.Option(help="Start: -24h, 7d, or an ISO date (default: one day ago).")
    ] = None,
    until: UntilOpt = None,
    by: Annotated[TopBy, typer.Option("--by", help="What to list.")] = TopBy.DOMAINS,
    limit: Annotated[int, typer.Option(help="How many rows.")] = 20,
    output: OutputOpt = None,
) -> None:
    """Top domains, clients, NXDOMAIN domains, rare domains, query types, codes, or timeline."""
    from tocsin.dns.views import dns_top

    settings = ensure_home()
    start, end = _window(since, until, timedelta(days=1))
    summary = dns_top(settings, since=start, until=end, limit=limit)
    rows = {
        TopBy.DOMAINS: summary.top_domains,
        TopBy.CLIENTS: summary.top_clients,
        TopBy.NXDOMAIN: summary.top_nx_domains,
        TopBy.RARE: summary.rare_domains,
        TopBy.QTYPES: summary.qtypes,
        TopBy.RCODES: summary.rcodes,
        TopBy.TIMELINE: summary.timeline,
    }[by]
    for row in rows:
        if "nx_share" in row:
            row["nx_share"] = f"{row['nx_share']:.1%}"
    print_rows(rows, output, title=f"DNS {by.value}")
    stderr.print(
        f"{summary.lookups} lookups by {summary.clients} clients for {summary.names} names; "
        f"NXDOMAIN {summary.nx_share:.1%} ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M})"
    )


@app.command("score")
@handle_errors
def score(
    names: Annotated[list[str], typer.Argument(help="Domain names to score.")],
    output: OutputOpt = None,
) -> None:
    """How random each name's registered label looks to the DGA model, and why."""
    from tocsin.dns.dga import DgaModel, registrable_label

    model = DgaModel.load()
    labels = [registrable_label(n) or "" for n in names]
    scores = model.score_labels(labels)
    rows = []
    for name, label, value in zip(names, labels, scores.tolist(), strict=True):
        reasons = model.explain(label) if label else ()
        rows.append(
            {
                "name": name,
                "label": label,
                "score": round(float(value), 3),
                "why": "; ".join(r.detail for r in reasons),
            }
        )
    print_rows(rows, output)


@app.command("block")
@handle_errors
def block(
    alert_ids: Annotated[
        list[int], typer.Argument(help="DNS alert ids (tunnel, lookalike, indicator, new domain).")
    ],
    days: Annotated[float, typer.Option("--days", help="Expiry in days (0: never).")] = 30.0,
    output: OutputOpt = None,
) -> None:
    """Put the domains of DNS alerts on the block list, the alert as provenance."""
    from tocsin.dns.blocking import block_dns_alert
    from tocsin.workspace.permissions import Principal
    from tocsin.workspace.service import Workspace

    current = ensure_home()
    ttl = timedelta(days=days) if days > 0 else None
    workspace = Workspace.open(current)
    rows: list[dict[str, object]] = []
    try:
        for alert_id in alert_ids:
            for result in block_dns_alert(
                workspace,
                Principal.local(),
                alert_id,
                ttl=ttl,
                protected=current.organisation_domains,
            ):
                rows.append(
                    {
                        "alert": alert_id,
                        "outcome": result.outcome,
                        "value": result.entry.value,
                        "expires_at": result.entry.expires_at,
                    }
                )
    finally:
        workspace.close()
    print_rows(rows, output)
    stderr.print("export it for the resolver: tocsin blocklist export --format rpz")
