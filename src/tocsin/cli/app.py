"""The ``tocsin`` commands: daily verbs at the top, everything else noun then verb."""

from __future__ import annotations

import importlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tocsin import __version__
from tocsin.cli.common import configure, ensure_home, handle_errors, settings
from tocsin.cli.output import OutputFormat, OutputOpt, print_rows, stderr
from tocsin.core.home import init_home
from tocsin.core.timeutil import parse_time_bound

# noun -> module holding its Typer app. Imported only when the noun is used (or for --help):
# the workspace and pySigma take a second to import, which `tocsin scan` should not pay.
LAZY_GROUPS: dict[str, str] = {
    "alerts": "tocsin.cli.alerts_cmd",
    "blocklist": "tocsin.cli.blocklist_cmd",
    "cases": "tocsin.cli.cases_cmd",
    "discovery": "tocsin.cli.discovery_cmd",
    "dns": "tocsin.cli.dns_cmd",
    "intel": "tocsin.cli.intel_cmd",
    "lake": "tocsin.cli.lake_cmd",
    "mail": "tocsin.cli.mail_cmd",
    "metrics": "tocsin.cli.metrics_cmd",
    "net": "tocsin.cli.net_cmd",
    "pcap": "tocsin.cli.pcap_cmd",
    "quarantine": "tocsin.cli.quarantine_cmd",
    "rules": "tocsin.cli.rules_cmd",
    "token": "tocsin.cli.token_cmd",
    "user": "tocsin.cli.user_cmd",
}


class LazyGroup(TyperGroup):
    """The top-level group: nouns load their module on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command name, the lazy nouns included."""
        return sorted({*super().list_commands(ctx), *LAZY_GROUPS})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A verb of this module, or a noun's group imported now."""
        module_name = LAZY_GROUPS.get(cmd_name)
        if module_name is None:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(module_name)
        command = typer.main.get_command(module.app)
        command.name = cmd_name
        return command


app = typer.Typer(
    name="tocsin",
    cls=LazyGroup,
    help="Tocsin: collect logs, detect threats, triage and respond together.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tocsin {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    home: Annotated[
        Path | None, typer.Option("--home", envvar="TOCSIN_HOME", help="The tocsin home folder.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Tocsin: collect logs, detect threats, triage and respond together."""
    configure(home, verbose)


@app.command()
@handle_errors
def init() -> None:
    """Create the home: lake, spool, quarantine, workspace database and tocsin.toml."""
    from tocsin.workspace.db import Database

    current = settings()
    created = init_home(current)
    Database(current.workspace_url).close()
    for path in created:
        stderr.print(f"created {path}")
    stderr.print(f"tocsin home ready at {str(current.home.resolve())!r}")


@app.command()
@handle_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="Input format, or auto to detect it.")
    ] = "auto",
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Dataset name to store under.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Import files already imported.")] = False,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-F", help="Tail the files: follow growth, resume after restart."),
    ] = False,
    detect: Annotated[bool, typer.Option(help="Run detection stages.")] = True,
    output: OutputOpt = None,
) -> None:
    """Ingest log files and folders (gzip'd too) into the lake."""
    from tocsin.cli.ingest_cmd import run_follow, run_ingest

    current = ensure_home()
    if follow:
        run_follow(current, paths, format=format, dataset=dataset)
        return
    run_ingest(
        current, paths, format=format, dataset=dataset, force=force, detect=detect, output=output
    )


@app.command()
@handle_errors
def search(
    query: Annotated[str, typer.Argument(help="The query, e.g. 'CommandLine:*certutil*'.")] = "",
    since: Annotated[str | None, typer.Option(help="Start: -24h, 7d, or an ISO date.")] = None,
    until: Annotated[str | None, typer.Option(help="End: -1h, now, or an ISO date.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Most events shown.")] = 100,
    count: Annotated[bool, typer.Option("--count", help="Print only the number of hits.")] = False,
    sql: Annotated[
        bool, typer.Option("--sql", help="QUERY is raw DuckDB SQL over the view 'events'.")
    ] = False,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", "-d", help="Only these datasets.")
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option("--fields", help="Comma-separated columns to show in table and csv output."),
    ] = None,
    oldest_first: Annotated[bool, typer.Option(help="Oldest events first.")] = False,
    output: OutputOpt = None,
) -> None:
    """Search the lake with the query language (newest first) or raw SQL."""
    from tocsin.lake.reader import LakeReader

    current = settings()
    reader = LakeReader(
        current.lake_dir, threads=current.duckdb_threads, memory_limit=current.duckdb_memory_limit
    )
    now = datetime.now().astimezone()
    start = parse_time_bound(since, now=now) if since else None
    end = parse_time_bound(until, now=now) if until else None
    if sql:
        table = reader.sql(query, limit=limit)
        print_rows(table.to_pylist(), output)
        return
    if count:
        total = reader.count(query, since=start, until=end, datasets=dataset)
        typer.echo(str(total))
        return
    result = reader.search(
        query, since=start, until=end, limit=limit, datasets=dataset, oldest_first=oldest_first
    )
    from tocsin.ingest.pipeline import prepare_export

    columns = [c.strip() for c in fields.split(",")] if fields else None
    if columns is None and output in (None, OutputFormat.TABLE, OutputFormat.CSV):
        columns = ["@timestamp", "event.dataset", "host.name", "event.original"]
    print_rows(prepare_export(result.events, current), output, columns)
    stderr.print(
        f"{len(result.events)} events in {result.elapsed * 1000:.0f} ms "
        f"({result.files_scanned} of {result.files_total} files read)"
    )


@app.command()
@handle_errors
def scan(
    inputs: Annotated[list[Path], typer.Argument(help="Files or folders to scan.")],
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules",
            "-r",
            help="Rule files or folders (repeatable); default: the enabled rules of the home.",
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="Input format, or auto to detect it.")
    ] = "auto",
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Dataset of the input (JSON).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Processes reading files at once.")
    ] = 2,
    cache: Annotated[bool, typer.Option(help="Use the compiled-rule cache.")] = True,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 when a match of this severity or worse is found."),
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Scan files offline with Sigma rules (EVTX, JSON, NDJSON, Zeek, EVE); writes nothing."""
    from tocsin.cli.detect_cmd import check_fail_on, run_scan

    current = settings()
    level = check_fail_on(fail_on)
    if rules:
        paths = list(rules)
    else:
        from tocsin.detect.rulesets import default_rule_paths

        paths = default_rule_paths(current)
    code = run_scan(
        inputs,
        paths,
        format=format,
        dataset=dataset,
        output=output,
        current=current,
        use_cache=cache,
        workers=workers,
        fail_on=level,
    )
    if code:
        raise typer.Exit(code)


@app.command()
@handle_errors
def hunt(
    rules: Annotated[
        list[Path] | None,
        typer.Option("--rules", "-r", help="Rule files or folders; default: the enabled rules."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="Start: -24h, 7d, or an ISO date.")] = None,
    until: Annotated[str | None, typer.Option(help="End: -1h, now, or an ISO date.")] = None,
    alerts: Annotated[
        bool, typer.Option("--alerts/--no-alerts", help="Raise alerts in the workspace.")
    ] = True,
    output: OutputOpt = None,
) -> None:
    """Hunt the lake with Sigma rules; matches become alerts."""
    from tocsin.cli.hunt_cmd import run_hunt_command

    current = ensure_home()
    now = datetime.now().astimezone()
    start = parse_time_bound(since, now=now) if since else None
    end = parse_time_bound(until, now=now) if until else None
    run_hunt_command(current, rules, since=start, until=end, alerts=alerts, output=output)


@app.command()
@handle_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port.")] = None,
    syslog: Annotated[bool, typer.Option(help="Run the syslog listeners.")] = True,
) -> None:
    """Run the API, the ingest listeners and the scheduler."""
    from tocsin.api.server import run_server

    current = ensure_home()
    run_server(current, host=host, port=port, syslog=syslog)


@app.command()
@handle_errors
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after loading.")
    ] = True,
    port: Annotated[int | None, typer.Option(help="HTTP port.")] = None,
) -> None:
    """Load a generated intrusion scenario into a demo home and serve it."""
    from tocsin.cli.demo_cmd import run_demo

    run_demo(serve_after=serve_after, port=port)


@app.command()
@handle_errors
def plugins(output: OutputOpt = None) -> None:
    """List the plugins that loaded, by group, and where each comes from."""
    from tocsin.core.plugins import default_registry

    rows: list[dict[str, object]] = [
        {
            "group": p.group,
            "id": p.id,
            "target": p.target,
            "distribution": p.distribution,
            "error": p.error or "",
        }
        for p in default_registry().describe()
    ]
    print_rows(rows, output, ["group", "id", "distribution", "target", "error"])
