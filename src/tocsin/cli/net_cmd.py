"""``tocsin net``: hunt every flow in the lake (beacons, scans, exfiltration...), rank beacons."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

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

app = typer.Typer(
    help="Network detection: beacons, long connections, scans, exfiltration, rare fingerprints.",
    no_args_is_help=True,
)

SinceOpt = Annotated[
    str | None, typer.Option(help="Start: -24h, 7d, or an ISO date (default: a day ago).")
]
UntilOpt = Annotated[str | None, typer.Option(help="End: -5m, now, or an ISO date.")]


def _window(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    now = datetime.now().astimezone()
    end = parse_time_bound(until, now=now) if until else now
    start = parse_time_bound(since, now=now) if since else end - timedelta(days=1)
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
            help="beacon, long_connection, scan, exfiltration, rare_fingerprint or indicator "
            "(repeat; default: net_detectors).",
        ),
    ] = None,
    alerts: Annotated[
        bool, typer.Option("--alerts/--no-alerts", help="Raise alerts in the workspace.")
    ] = True,
    output: OutputOpt = None,
) -> None:
    """Run the network detectors over a window of the lake; findings become alerts."""
    from tocsin.network.hunt import hunt_net

    settings = ensure_home()
    start, end = _window(since, until)
    with progress_bar("Network hunt") as progress:
        task = progress.add_task("net", total=None)
        report = hunt_net(
            settings,
            since=start,
            until=end,
            detectors=detector,
            alerts=alerts,
            progress=lambda text: progress.update(task, description=text),
        )
    rows = [f.row() for f in report.findings]
    if resolve_format(output) is OutputFormat.TABLE:
        if rows:
            table = Table(title="Network findings")
            for column in ("detector", "severity", "source", "destination", "score", "why"):
                table.add_column(column, overflow="fold")
            for finding in report.findings:
                why = "\n".join(escape(r.detail) for r in finding.reasons[:4])
                table.add_row(
                    escape(finding.detector),
                    escape(finding.severity),
                    escape(finding.src or ""),
                    escape(finding.dst or ""),
                    f"{finding.score:g}",
                    why,
                )
            stdout.print(table)
    else:
        print_rows(rows, output)
    stderr.print(escape(report.summary()))


@app.command("beacons")
@handle_errors
def beacons(
    since: SinceOpt = None,
    until: UntilOpt = None,
    min_score: Annotated[float, typer.Option(help="Show pairs scoring at least this.")] = 0.0,
    limit: Annotated[int, typer.Option(help="How many pairs.")] = 50,
    output: OutputOpt = None,
) -> None:
    """Every pair with enough connections, ranked by beacon score with its subscores."""
    from tocsin.lake.reader import LakeReader
    from tocsin.network.detectors import NetContext, beacon_scores, merge_thresholds
    from tocsin.network.source import flow_files, load_flows

    settings = ensure_home()
    start, end = _window(since, until)
    reader = LakeReader(settings.lake_dir, threads=settings.duckdb_threads)
    with reader.connect() as con:
        load_flows(
            con, reader, since=start, until=end, files=flow_files(reader, since=start, until=end)
        )
        ctx = NetContext(
            con, start, end, merge_thresholds(settings.net_thresholds), [], allowed=lambda _a: False
        )
        scores = [s for s in beacon_scores(ctx) if s.score >= min_score][:limit]
    print_rows([s.row() for s in scores], output, title="Beacon scores")


@app.command("top")
@handle_errors
def top(
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option(help="How many rows per table.")] = 10,
    output: OutputOpt = None,
) -> None:
    """Top talkers, destinations, ports, and sources of failed connections."""
    from tocsin.lake.reader import LakeReader
    from tocsin.network.source import flow_files, load_flows

    settings = ensure_home()
    start, end = _window(since, until)
    reader = LakeReader(settings.lake_dir, threads=settings.duckdb_threads)
    queries = {
        "talkers": "SELECT src AS source, count(*) AS flows, sum(sbytes) AS bytes_out, "
        "sum(dbytes) AS bytes_in FROM flows GROUP BY src ORDER BY bytes_out DESC LIMIT $n",
        "destinations": "SELECT dst AS destination, count(*) AS flows, "
        "count(DISTINCT src) AS sources, sum(sbytes + dbytes) AS bytes FROM flows "
        "GROUP BY dst ORDER BY bytes DESC LIMIT $n",
        "ports": "SELECT proto, dport AS port, count(*) AS flows, count(DISTINCT src) AS sources "
        "FROM flows GROUP BY proto, dport ORDER BY flows DESC LIMIT $n",
        "failed": "SELECT src AS source, count(*) AS failed, count(DISTINCT dst) AS hosts, "
        "count(DISTINCT dport) AS ports FROM flows WHERE probe GROUP BY src "
        "ORDER BY failed DESC LIMIT $n",
    }
    with reader.connect() as con:
        total = load_flows(
            con, reader, since=start, until=end, files=flow_files(reader, since=start, until=end)
        )
        tables = {
            name: [
                dict(zip([d[0] for d in con.description or []], row, strict=False))
                for row in con.execute(query, {"n": limit}).fetchall()
            ]
            for name, query in queries.items()
        }
    if resolve_format(output) is OutputFormat.TABLE:
        for name, rows in tables.items():
            print_rows(rows, output, title=f"Top {name}")
    else:
        print_rows(
            [{"table": name, **row} for name, rows in tables.items() for row in rows], output
        )
    stderr.print(f"{total} flows between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M}")
