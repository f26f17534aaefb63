"""``tocsin demo``: a fresh demo home, a generated intrusion, searches, and the server."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.panel import Panel

from tocsin.cli.ingest_cmd import print_summary
from tocsin.cli.output import stderr
from tocsin.core.errors import ConflictError
from tocsin.core.home import init_home
from tocsin.core.settings import load_settings

if TYPE_CHECKING:
    from tocsin.core.settings import Settings
    from tocsin.workspace.service import Workspace

DEFAULT_HOME = Path("./tocsin-demo")
DEMO_DOMAIN = "corp.example"  # tocsin.demo.common.DOMAIN, without importing the scenario here
MARKER = ".tocsin-demo"


def run_demo(*, serve_after: bool, port: int | None) -> None:
    """Build the demo home, ingest the scenario, show what it finds, then serve."""
    from tocsin.demo.operations import seed_operations
    from tocsin.demo.scenario import SCENARIO_SUMMARY, expected_markers, write_scenario
    from tocsin.ingest.service import IngestService
    from tocsin.lake.reader import LakeReader
    from tocsin.workspace.service import Workspace

    home = Path(os.environ.get("TOCSIN_HOME") or DEFAULT_HOME)
    if home.exists():
        if not (home / MARKER).exists():
            raise ConflictError(
                f"{str(home)!r} exists and is not a demo home; set TOCSIN_HOME to another folder"
            )
        shutil.rmtree(home)
    settings = load_settings(home=home, api_docs=True, protected_domains=[DEMO_DOMAIN])
    init_home(settings)
    with (home / "tocsin.toml").open("a") as config:
        config.write(f'\n# the demo organisation\nprotected_domains = ["{DEMO_DOMAIN}"]\n')
    (home / MARKER).write_text("created by tocsin demo; deleted by the next demo run\n")
    stderr.print(Panel(escape(SCENARIO_SUMMARY), title="tocsin demo: the scenario"))

    inputs = home / "demo-input"
    files = write_scenario(inputs, end=datetime.now(UTC))
    workspace = Workspace.open(settings)
    started = datetime.now(UTC)
    report = IngestService(settings, db=workspace.db).ingest([inputs])
    print_summary(report, (datetime.now(UTC) - started).total_seconds(), None)
    stderr.print(f"{len(files)} log files generated in {escape(str(inputs))}")

    reader = LakeReader(settings.lake_dir)
    stderr.print("\n[bold]What the searches find[/bold]")
    for label, query in expected_markers().items():
        hits = reader.count(query)
        stderr.print(f"  {escape(label):<28} {hits:>6,} hits   tocsin search {escape(repr(query))}")

    _demo_mail(settings, workspace)
    _demo_dns(settings)
    _demo_packets(settings)
    _demo_discovery(settings)
    ops = seed_operations(workspace, reader)
    _print_queue(workspace, ops.alerts, ops.case_id)
    token, _info = workspace.tokens.create("demo", ["read", "ingest"], expires_days=1)
    workspace.close()
    env = f"TOCSIN_HOME={home}"
    stderr.print(
        f"\nTry: [bold]{env} tocsin alerts list[/bold]   [bold]{env} tocsin metrics[/bold]\n"
        f"     [bold]{env} tocsin search 'CommandLine:*certutil*'[/bold]\n"
        f"A read+ingest API token (shown once): [bold]{token}[/bold]"
    )
    url = f"http://{settings.host}:{port or settings.port}/"
    login = ""
    if ops.admin_password:
        login = (
            f"sign in as [bold]admin[/bold] with the one-time password "
            f"[bold]{ops.admin_password}[/bold] (you choose your own at first login)"
        )
    if not serve_after:
        if login:
            stderr.print(f"After [bold]{env} tocsin serve[/bold], open {url} and {login}\n")
        return
    from tocsin.api.server import run_server

    stderr.print(
        Panel(
            f"The console: [bold link={url}]{url}[/bold link]\n{login[:1].upper() + login[1:]}",
            title="tocsin demo: the team's console",
        )
    )
    banner = (
        f"  console: {url}  (Ctrl+C stops the server)\n"
        f"  curl -H 'Authorization: Bearer {token}' '{url}api/v1/search?q=certutil'\n"
    )
    run_server(settings, port=port, banner=banner)


def _demo_mail(settings: Settings, workspace: Workspace) -> None:
    """The phishing campaign of step 1 and an ordinary inbox, analysed and stored."""
    from tocsin.demo.common import DOMAIN
    from tocsin.demo.mail import write_mail
    from tocsin.demo.scenario import scenario_anchor
    from tocsin.mail.service import Options, analyze_messages
    from tocsin.mail.store import store_analyses

    folder = settings.home / "demo-mail"
    paths = write_mail(folder, scenario_anchor(datetime.now(UTC)))
    batch = analyze_messages(settings, [folder], Options(protected_domains=(DOMAIN,)), workers=1)
    report = store_analyses(
        settings, [(r.analysis, r.event_id) for r in batch.results], workspace=workspace
    )
    verdicts = [r.analysis.verdict.value for r in batch.results]
    stderr.print(
        f"{len(paths)} emails analysed ({verdicts.count('phishing')} phishing, "
        f"{verdicts.count('suspicious')} suspicious, {verdicts.count('clean')} clean; "
        f"{report.alerts_new} alert(s)): tocsin mail analyze {escape(str(folder))}"
    )


def _demo_dns(settings: Settings) -> None:
    """The DNS detectors over the scenario's day: the DGA host, the tunnel, the lookalike."""
    from tocsin.demo.common import WINDOW
    from tocsin.dns.hunt import hunt_dns

    now = datetime.now(UTC)
    # the whole day of the scenario; its history starts with it, so new domains only learn
    report = hunt_dns(settings, since=now - WINDOW - timedelta(hours=1), until=now)
    found = ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in sorted(report.by_detector().items()))
    stderr.print(
        f"DNS: {report.events:,} lookups by {report.clients} clients; findings: {found or 'none'}"
        f" ({report.alerts_new} alert(s)): tocsin dns hunt --since -25h"
    )


def _demo_packets(settings: Settings) -> None:
    """The server network's tap: a capture with a beacon and a scan, imported with its packets."""
    from tocsin.demo.packets import write_capture
    from tocsin.network.hunt import hunt_net
    from tocsin.pcap.importer import import_capture

    now = datetime.now(UTC)
    path = write_capture(settings.home / "demo-pcap", now)
    result = import_capture(settings, path)
    stderr.print(
        f"Packets: {result.packets:,} packets, {result.flows:,} flows stored with their packets: "
        f"tocsin pcap flows {escape(str(path))}"
    )
    report = hunt_net(
        settings,
        since=now - timedelta(hours=settings.net_hunt_lookback_hours),
        until=now + timedelta(minutes=1),
    )
    found = ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in sorted(report.by_detector().items()))
    stderr.print(
        f"Network: {report.flows:,} flows; findings: {found or 'none'} "
        f"({report.alerts_new} alert(s)): tocsin net hunt --since -24h"
    )


def _demo_discovery(settings: Settings) -> None:
    """The file share and the CRM: secrets and personal data found, stored and alerted."""
    from tocsin.demo.discovery import write_share
    from tocsin.discovery.scan import ScanOptions, build_scanner, scan_database, scan_files
    from tocsin.discovery.store import store_findings

    paths = write_share(settings.home / "demo-share")
    options = ScanOptions()
    scanner = build_scanner(options)
    files = scan_files([paths["share"]], options, scanner=scanner)
    crm = scan_database(f"sqlite:///{paths['crm']}", options, scanner=scanner)
    stored = store_findings(settings, files.findings + crm.findings)
    secrets = sum(f.category == "secret" for f in files.findings)
    stderr.print(
        f"Discovery: {len(files.findings) + len(crm.findings):,} findings ({secrets} secrets) in "
        f"the share and the CRM, {stored.alerts_new} alert(s): "
        f"tocsin discovery scan {escape(str(paths['share']))}"
    )


def _print_queue(workspace: Workspace, raised: int, case_id: int | None) -> None:
    """The alert queue and the case the demo team opened."""
    from rich.table import Table

    from tocsin.workspace.permissions import Principal

    actor = Principal.local()
    page = workspace.alerts.list(actor, sort="-severity,-created_at", limit=12)
    table = Table(title=f"The alert queue ({raised} alerts raised, newest most severe first)")
    for column in ("id", "severity", "status", "team", "title"):
        table.add_column(column)
    for alert in page.items:
        row = alert.to_dict()
        table.add_row(
            str(row["id"]),
            str(row["severity"]),
            str(row["status"]),
            escape(str(row.get("team_name") or "")),
            escape(str(row["title"])),
        )
    stderr.print(table)
    if case_id is not None:
        case = workspace.cases.get(actor, case_id)
        stderr.print(
            f"Case #{case.id} [bold]{escape(case.title)}[/bold]: {case.status}, "
            f"severity {case.severity}"
        )
