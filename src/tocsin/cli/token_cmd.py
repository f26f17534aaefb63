"""``tocsin token``: create, list, revoke API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from tocsin.cli.common import ensure_home, handle_errors
from tocsin.cli.output import OutputFormat, print_rows, stderr
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace
from tocsin.workspace.tokens import TokenInfo

app = typer.Typer(help="API tokens (ingest, read, write, admin scopes).", no_args_is_help=True)


def _workspace() -> Workspace:
    return Workspace.open(ensure_home())


@app.command("create")
@handle_errors
def create(
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope", "-s", help="ingest, read, write or admin; repeat or comma-separate."
        ),
    ],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "token",
    expires_days: Annotated[int | None, typer.Option(help="Days until it expires.")] = None,
    user: Annotated[
        str | None,
        typer.Option(help="Owner: the token does what both its scopes and the user's role allow."),
    ] = None,
) -> None:
    """Create a token and print it once (only its hash is stored).

    Without --user the token belongs to the built-in system principal (forwarders, scripts).
    """
    ws = _workspace()
    try:
        if user is None:
            token, info = ws.tokens.create(name, scope, expires_days=expires_days)
        else:
            token, info = ws.users.create_token(
                Principal.local(), name, scope, expires_days=expires_days, user=user
            )
    finally:
        ws.close()
    typer.echo(token)
    stderr.print(f"token {info.prefix} ({', '.join(info.scopes)}) created; it is shown only once")


def _tokens() -> list[TokenInfo]:
    ws = _workspace()
    try:
        return ws.users.list_tokens(Principal.local())
    finally:
        ws.close()


@app.command("list")
@handle_errors
def list_tokens(
    output: Annotated[OutputFormat | None, typer.Option("--output", "-o")] = None,
) -> None:
    """List tokens (never their secrets)."""
    rows: list[dict[str, object]] = [
        {
            "id": t.id,
            "prefix": t.prefix,
            "name": t.name,
            "scopes": ",".join(t.scopes),
            "owner": t.owner,
            "created": t.created_at,
            "expires": t.expires_at,
            "revoked": t.revoked_at,
            "last_used": t.last_used_at,
            "active": t.is_active,
        }
        for t in _tokens()
    ]
    print_rows(
        rows,
        output,
        [
            "id",
            "prefix",
            "name",
            "scopes",
            "owner",
            "created",
            "expires",
            "revoked",
            "last_used",
            "active",
        ],
    )


@app.command("revoke")
@handle_errors
def revoke(ident: Annotated[str, typer.Argument(help="Token id or prefix.")]) -> None:
    """Revoke a token."""
    ws = _workspace()
    try:
        info = ws.users.revoke_token(Principal.local(), ident)
    finally:
        ws.close()
    stderr.print(f"token {info.prefix} revoked")
