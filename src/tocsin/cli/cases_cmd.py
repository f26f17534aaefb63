"""``tocsin cases``: list, show, create, comment, close (acting as the local administrator)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape

from tocsin.cli.common import ensure_home, handle_errors
from tocsin.cli.output import OutputFormat, OutputOpt, print_rows, resolve_format, stderr, stdout
from tocsin.workspace.cases import CaseService
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

app = typer.Typer(help="Cases: list, show, create, comment, close.", no_args_is_help=True)

_LIST_COLUMNS = ["id", "severity", "status", "title", "assignee_id", "alerts", "tasks", "created"]


@contextmanager
def _cases() -> Iterator[CaseService]:
    workspace = Workspace.open(ensure_home())
    try:
        yield workspace.cases
    finally:
        workspace.close()


@app.command("list")
@handle_errors
def list_cases(
    status: Annotated[
        str | None, typer.Option(help="new, in_progress, on_hold, closed, or open.")
    ] = None,
    severity: Annotated[str | None, typer.Option(help="Only this severity.")] = None,
    min_severity: Annotated[str | None, typer.Option(help="This severity or higher.")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Text to find.")] = None,
    limit: Annotated[int, typer.Option(help="How many cases at most.")] = 50,
    output: OutputOpt = None,
) -> None:
    """List cases, newest first."""
    with _cases() as cases:
        page = cases.list(
            Principal.local(),
            status=status,
            severity=severity,
            min_severity=min_severity,
            q=query,
            limit=limit,
        )
    rows: list[dict[str, object]] = [
        {
            "id": c.id,
            "severity": c.severity,
            "status": c.status,
            "title": c.title,
            "assignee_id": c.assignee_id,
            "alerts": c.counts["alerts"],
            "tasks": c.counts["tasks"],
            "created": c.created_at,
        }
        for c in page.items
    ]
    print_rows(rows, output, _LIST_COLUMNS)
    if page.total > len(rows):
        stderr.print(f"{len(rows)} of {page.total} cases shown; raise --limit for more")


@app.command("show")
@handle_errors
def show(
    case_id: Annotated[int, typer.Argument(help="The case id.")],
    output: OutputOpt = None,
) -> None:
    """Show a case: summary, tasks, observables, alerts and comments."""
    actor = Principal.local()
    with _cases() as cases:
        case = cases.get(actor, case_id)
        tasks = cases.list_tasks(actor, case_id).items
        observables = cases.list_observables(actor, case_id).items
        alerts = cases.list_alerts(actor, case_id)
        comments = cases.list_comments(actor, case_id).items
    if resolve_format(output) is not OutputFormat.TABLE:
        body: dict[str, Any] = {
            **case.to_dict(),
            "tasks": [t.to_dict() for t in tasks],
            "observables": [o.to_dict() for o in observables],
            "alerts": [a.to_dict() for a in alerts],
            "comments": [c.to_dict() for c in comments],
        }
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    stdout.print(f"[bold]Case #{case.id}: {escape(case.title)}[/bold]", highlight=False)
    facts = {
        "status": case.status
        + (f" ({case.classification})" if case.classification else "")
        + (f", merged into #{case.merged_into_id}" if case.merged_into_id else ""),
        "severity": case.severity,
        "tlp / pap": f"{case.tlp} / {case.pap}",
        "assignee": case.assignee_id,
        "team": case.team_id,
        "tags": ", ".join(case.tags),
        "techniques": ", ".join(case.techniques),
        "created": f"{case.created_at:%Y-%m-%d %H:%M} by {case.created_by}",
        "version": case.version,
    }
    for name, value in facts.items():
        if value not in (None, ""):
            stdout.print(f"  {name:<11} {escape(str(value))}", highlight=False)
    for label, text in (("description", case.description), ("summary", case.summary)):
        if text:
            stdout.print(f"\n[bold]{label}[/bold]\n{escape(text)}", highlight=False)
    if tasks:
        print_rows(
            [
                {
                    "id": t.id,
                    "status": t.status,
                    "title": t.title,
                    "assignee_id": t.assignee_id,
                    "due": t.due_at,
                }
                for t in tasks
            ],
            OutputFormat.TABLE,
            title="Tasks",
        )
    if observables:
        print_rows(
            [
                {"type": o.type, "value": o.value, "tlp": o.tlp, "pap": o.pap, "ioc": o.ioc}
                for o in observables
            ],
            OutputFormat.TABLE,
            title="Observables",
        )
    if alerts:
        print_rows(
            [
                {
                    "id": a.id,
                    "severity": a.severity,
                    "status": a.status,
                    "title": a.title,
                    "rule": a.rule_id,
                }
                for a in alerts
            ],
            OutputFormat.TABLE,
            title="Alerts",
        )
    for comment in comments:
        stdout.print(
            f"\n[bold]{escape(comment.author)}[/bold] at {comment.created_at:%Y-%m-%d %H:%M}\n"
            f"{escape(comment.body)}",
            highlight=False,
        )


@app.command("create")
@handle_errors
def create(
    title: Annotated[
        str | None, typer.Option(help="Title (else the template's or alert's).")
    ] = None,
    severity: Annotated[
        str | None, typer.Option(help="informational, low, medium, high or critical.")
    ] = None,
    template: Annotated[str | None, typer.Option(help="Template name or id.")] = None,
    alert: Annotated[
        list[int] | None, typer.Option("--alert", help="An alert to link; repeat for more.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the case is about.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag; repeat.")] = None,
) -> None:
    """Open a case by hand, from a template or from alerts; prints its id."""
    with _cases() as cases:
        case = cases.create(
            Principal.local(),
            title=title,
            severity=severity,
            template=template,
            alert_ids=alert or (),
            description=description,
            tags=tag or (),
        )
    typer.echo(case.id)
    stderr.print(
        f"case #{case.id} created ({case.severity}, {case.counts['alerts']} alerts, "
        f"{case.counts['tasks']} tasks)",
        highlight=False,
    )


@app.command("comment")
@handle_errors
def comment(
    case_id: Annotated[int, typer.Argument(help="The case id.")],
    text: Annotated[str, typer.Argument(help="The comment.")],
) -> None:
    """Add a comment to a case."""
    with _cases() as cases:
        added = cases.add_comment(Principal.local(), case_id, text)
    stderr.print(f"comment #{added.id} added to case #{case_id}", highlight=False)


@app.command("close")
@handle_errors
def close(
    case_id: Annotated[int, typer.Argument(help="The case id.")],
    classification: Annotated[
        str,
        typer.Option(
            help="true_positive, benign_positive, false_positive, undetermined or duplicate."
        ),
    ],
    summary: Annotated[str | None, typer.Option(help="What was found and done.")] = None,
) -> None:
    """Close a case with a classification."""
    with _cases() as cases:
        case = cases.close(
            Principal.local(), case_id, classification=classification, summary=summary
        )
    stderr.print(f"case #{case.id} closed as {case.classification}", highlight=False)
