"""``tocsin alerts``: list, show, ack, assign, close (acting as the local administrator)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from sqlalchemy import select

from tocsin.cli.common import ensure_home, handle_errors
from tocsin.cli.output import OutputFormat, OutputOpt, print_rows, resolve_format, stderr, stdout
from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.workspace.alerts import KEEP, AlertService, BulkResult, Keep
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace
from tocsin.workspace.tables import Team, User

app = typer.Typer(help="Alerts: list, show, ack, assign, close.", no_args_is_help=True)

IdsArg = Annotated[list[int], typer.Argument(help="One or more alert ids.")]
_LIST_COLUMNS = [
    "id",
    "severity",
    "status",
    "title",
    "rule_id",
    "count",
    "assignee",
    "team",
    "last_seen",
]


@contextmanager
def _workspace() -> Iterator[Workspace]:
    workspace = Workspace.open(ensure_home())
    try:
        yield workspace
    finally:
        workspace.close()


def _user_id(workspace: Workspace, username: str) -> int:
    with workspace.db.session() as session:
        found = session.scalar(select(User.id).where(User.username == username.strip().lower()))
    if found is None:
        raise NotFoundError(f"no user {username!r}: list them with `tocsin user list`")
    return found


def _team_id(workspace: Workspace, name: str) -> int:
    with workspace.db.session() as session:
        found = session.scalar(select(Team.id).where(Team.name == name.strip()))
    if found is None:
        raise NotFoundError(f"no team {name!r}")
    return found


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _report(result: BulkResult, verb: str) -> None:
    for alert_id in result.done:
        stderr.print(f"alert {alert_id} {verb}", highlight=False)
    for alert_id, message in result.errors.items():
        stderr.print(f"[red]alert {alert_id}:[/red] {escape(message)}", highlight=False)
    if result.errors:
        raise typer.Exit(1)


@app.command("list")
@handle_errors
def list_alerts(
    status: Annotated[
        list[str] | None,
        typer.Option(help="new, acknowledged, in_progress, closed (repeat or comma-separate)."),
    ] = None,
    severity: Annotated[
        list[str] | None, typer.Option(help="Only these severities (repeat or comma-separate).")
    ] = None,
    min_severity: Annotated[str | None, typer.Option(help="This severity or higher.")] = None,
    rule: Annotated[str | None, typer.Option(help="A rule id, or a prefix ending in *.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Assigned to this user name.")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Text in the title.")] = None,
    sort: Annotated[str | None, typer.Option(help="e.g. -severity,created_at")] = None,
    limit: Annotated[int, typer.Option(help="How many alerts at most.")] = 50,
    output: OutputOpt = None,
) -> None:
    """List alerts, newest first."""
    with _workspace() as workspace:
        page = workspace.alerts.list(
            Principal.local(),
            status=_split(status),
            severity=_split(severity),
            min_severity=min_severity,
            rule_id=rule,
            assignee_id=_user_id(workspace, assignee) if assignee else None,
            q=query,
            sort=sort,
            limit=limit,
        )
    rows: list[dict[str, object]] = [
        {
            "id": a.id,
            "severity": a.severity,
            "status": a.status + (f" ({a.classification})" if a.classification else ""),
            "title": a.title,
            "rule_id": a.rule_id,
            "count": a.count,
            "assignee": a.assignee_name,
            "team": a.team_name,
            "last_seen": a.last_seen,
        }
        for a in page.items
    ]
    print_rows(rows, output, _LIST_COLUMNS)
    if page.total > len(rows):
        stderr.print(f"{len(rows)} of {page.total} alerts shown; raise --limit for more")


@app.command("show")
@handle_errors
def show(
    alert_id: Annotated[int, typer.Argument(help="The alert id.")],
    output: OutputOpt = None,
) -> None:
    """Show an alert: its fields, reasons, event ids, comments and history."""
    actor = Principal.local()
    with _workspace() as workspace:
        alert = workspace.alerts.get(actor, alert_id)
        comments = workspace.alerts.comments(actor, alert_id)
        history = workspace.history.history(actor, "alert", alert_id)
    if resolve_format(output) is not OutputFormat.TABLE:
        body: dict[str, Any] = {
            **alert.to_dict(),
            "comments": [c.to_dict() for c in comments],
            "history": [h.to_dict() for h in history],
        }
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    stdout.print(f"[bold]Alert #{alert.id}: {escape(alert.title)}[/bold]", highlight=False)
    facts: dict[str, object] = {
        "status": alert.status + (f" ({alert.classification})" if alert.classification else ""),
        "severity": alert.severity,
        "rule": alert.rule_id,
        "count": alert.count,
        "first seen": f"{alert.first_seen:%Y-%m-%d %H:%M:%S}",
        "last seen": f"{alert.last_seen:%Y-%m-%d %H:%M:%S}",
        "assignee": alert.assignee_name,
        "team": alert.team_name,
        "case": alert.case_id,
        "tags": ", ".join(alert.tags),
        "closing comment": alert.close_comment,
        "version": alert.version,
    }
    for name, value in facts.items():
        if value not in (None, ""):
            stdout.print(f"  {name:<16} {escape(str(value))}", highlight=False)
    if alert.description:
        stdout.print(escape(alert.description), highlight=False)
    sections: list[tuple[str, list[str]]] = [
        (
            "Reasons",
            [f"{r.get('check')}: {r.get('detail')} ({r.get('weight')})" for r in alert.reasons],
        ),
        ("Observables", [f"{o.get('type')}: {o.get('value')}" for o in alert.observables]),
        ("Event ids", list(alert.event_ids)),
        ("Comments", [f"{c.created_at:%Y-%m-%d %H:%M} {c.author}: {c.body}" for c in comments]),
        (
            "History",
            [
                f"{h.at:%Y-%m-%d %H:%M:%S} {h.actor} {h.action}"
                + (f" {h.field}: {h.before!r} -> {h.after!r}" if h.field else "")
                for h in history
            ],
        ),
    ]
    for title, lines in sections:
        if lines:
            stdout.print(f"[bold]{title}[/bold]", highlight=False)
            for line in lines:
                stdout.print(f"  {escape(line)}", highlight=False)


@app.command("ack")
@handle_errors
def acknowledge(ids: IdsArg) -> None:
    """Acknowledge alerts."""
    with _workspace() as workspace:
        result = workspace.alerts.bulk(Principal.local(), ids, "ack")
    _report(result, "acknowledged")


@app.command("assign")
@handle_errors
def assign(
    ids: IdsArg,
    user: Annotated[str | None, typer.Option("--user", help="User name ('-' to unassign).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Team name ('-' to clear).")] = None,
) -> None:
    """Assign alerts to a user and/or a team."""
    if user is None and team is None:
        raise InvalidInputError("give --user NAME, --team NAME or both")
    with _workspace() as workspace:
        user_id: int | None | Keep = KEEP
        team_id: int | None | Keep = KEEP
        if user is not None:
            user_id = None if user == "-" else _user_id(workspace, user)
        if team is not None:
            team_id = None if team == "-" else _team_id(workspace, team)
        service: AlertService = workspace.alerts
        result = service.bulk(Principal.local(), ids, "assign", user_id=user_id, team_id=team_id)
    _report(result, "assigned")


@app.command("close")
@handle_errors
def close(
    ids: IdsArg,
    classification: Annotated[
        str,
        typer.Option(
            "--classification",
            "-c",
            help="true_positive, benign_positive, false_positive, undetermined or duplicate.",
        ),
    ],
    comment: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
) -> None:
    """Close alerts with a classification."""
    with _workspace() as workspace:
        result = workspace.alerts.bulk(
            Principal.local(), ids, "close", classification=classification, comment=comment
        )
    _report(result, "closed")
