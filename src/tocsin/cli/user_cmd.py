"""``tocsin user``: people, their roles and teams."""

from __future__ import annotations

from typing import Annotated

import typer

from tocsin.cli.common import ensure_home, handle_errors
from tocsin.cli.output import OutputFormat, print_rows, stderr
from tocsin.workspace.permissions import Principal, Role
from tocsin.workspace.service import Workspace
from tocsin.workspace.users import UserRead

app = typer.Typer(help="Users, roles and teams.", no_args_is_help=True)
team_app = typer.Typer(help="Teams and their members.", no_args_is_help=True)
app.add_typer(team_app, name="team")

USER_COLUMNS = ["id", "username", "display_name", "role", "teams", "email", "disabled"]
ROLES = ", ".join(r.value for r in Role)


def _workspace() -> Workspace:
    return Workspace.open(ensure_home())


def _row(user: UserRead) -> dict[str, object]:
    row = user.to_dict()
    row["teams"] = ",".join(user.teams)
    return row


@app.command("add")
@handle_errors
def add(
    username: Annotated[str, typer.Argument(help="Login name (lowercase).")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {ROLES}.")] = "analyst",
    team: Annotated[list[str] | None, typer.Option("--team", "-t", help="Team name.")] = None,
    email: Annotated[str | None, typer.Option(help="For notifications.")] = None,
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from stdin instead of generating one.")
    ] = False,
) -> None:
    """Add a user; prints a one-time password unless one is given on stdin."""
    password = typer.get_text_stream("stdin").readline().rstrip("\n") if password_stdin else None
    ws = _workspace()
    try:
        user, generated = ws.users.create_user(
            Principal.local(),
            username,
            role,
            password=password,
            display_name=name,
            email=email,
            teams=team or [],
        )
    finally:
        ws.close()
    stderr.print(f"user {user.username!r} ({user.role}) created")
    if generated:
        stderr.print("one-time password (to change at first login; shown only now):")
        typer.echo(generated)


@app.command("list")
@handle_errors
def list_users(
    output: Annotated[OutputFormat | None, typer.Option("--output", "-o")] = None,
) -> None:
    """List users."""
    ws = _workspace()
    try:
        rows = [_row(u) for u in ws.users.list_users(Principal.local())]
    finally:
        ws.close()
    print_rows(rows, output, USER_COLUMNS)


def _set_disabled(username: str, disabled: bool) -> None:
    ws = _workspace()
    try:
        user = ws.users.update_user(Principal.local(), username, disabled=disabled)
    finally:
        ws.close()
    stderr.print(f"user {user.username!r} {'disabled' if disabled else 'enabled'}")


@app.command("disable")
@handle_errors
def disable(username: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: its sessions end and its tokens stop working."""
    _set_disabled(username, True)


@app.command("enable")
@handle_errors
def enable(username: Annotated[str, typer.Argument()]) -> None:
    """Enable a disabled user again."""
    _set_disabled(username, False)


@app.command("role")
@handle_errors
def set_role(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help=f"One of: {ROLES}.")],
) -> None:
    """Change a user's role."""
    ws = _workspace()
    try:
        user = ws.users.update_user(Principal.local(), username, role=role)
    finally:
        ws.close()
    stderr.print(f"user {user.username!r} is now {user.role}")


@app.command("reset-password")
@handle_errors
def reset_password(username: Annotated[str, typer.Argument()]) -> None:
    """Give a user a new one-time password (printed once)."""
    ws = _workspace()
    try:
        user, password = ws.users.reset_password(Principal.local(), username)
    finally:
        ws.close()
    stderr.print(f"one-time password of {user.username!r} (to change at next login):")
    typer.echo(password)


@team_app.command("add")
@handle_errors
def team_add(
    name: Annotated[str, typer.Argument(help="Team name, e.g. 'IT operations'.")],
    description: Annotated[str, typer.Option(help="What the team does.")] = "",
) -> None:
    """Create a team."""
    ws = _workspace()
    try:
        team = ws.users.create_team(Principal.local(), name, description)
    finally:
        ws.close()
    stderr.print(f"team {team.name!r} created")


@team_app.command("list")
@handle_errors
def team_list(
    output: Annotated[OutputFormat | None, typer.Option("--output", "-o")] = None,
) -> None:
    """List teams and their members."""
    ws = _workspace()
    try:
        teams = ws.users.list_teams(Principal.local())
    finally:
        ws.close()
    rows: list[dict[str, object]] = [
        {"id": t.id, "name": t.name, "members": ",".join(t.members), "description": t.description}
        for t in teams
    ]
    print_rows(rows, output, ["id", "name", "members", "description"])


@team_app.command("member")
@handle_errors
def team_member(
    team: Annotated[str, typer.Argument()],
    username: Annotated[str, typer.Argument()],
    remove: Annotated[bool, typer.Option("--remove", help="Take the user out.")] = False,
) -> None:
    """Put a user in a team (or take it out with --remove)."""
    ws = _workspace()
    try:
        if remove:
            result = ws.users.remove_member(Principal.local(), team, username)
        else:
            result = ws.users.add_member(Principal.local(), team, username)
    finally:
        ws.close()
    stderr.print(f"team {result.name!r}: {', '.join(result.members) or 'no members'}")
