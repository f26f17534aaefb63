"""What every command shares: settings from the global options, and error handling."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer

from tocsin.cli.output import stderr
from tocsin.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    TocsinError,
)
from tocsin.core.home import init_home
from tocsin.core.settings import Settings, load_settings

P = ParamSpec("P")
R = TypeVar("R")

_state: dict[str, Any] = {}

# Error base -> exit code. Usage errors (2) come from Typer itself.
EXIT_CODES: dict[type[TocsinError], int] = {
    InvalidInputError: 1,
    NotFoundError: 1,
    ConflictError: 1,
    AuthenticationError: 1,
    PermissionDeniedError: 1,
    TocsinError: 1,
}


def configure(home: Path | None, verbose: bool) -> None:
    """Remember the global options and set up readable logging on stderr."""
    _state.clear()
    _state["home"] = home
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def settings() -> Settings:
    """The settings of this invocation (built once)."""
    if "settings" not in _state:
        _state["settings"] = load_settings(home=_state.get("home"))
    result: Settings = _state["settings"]
    return result


def ensure_home() -> Settings:
    """The settings, with the home created when it does not exist yet."""
    current = settings()
    if not current.home.exists():
        init_home(current)
        stderr.print(f"created tocsin home {str(current.home)!r}")
    else:
        init_home(current)
    return current


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn TocsinError into a message on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except TocsinError as exc:
            code = next((c for base, c in EXIT_CODES.items() if isinstance(exc, base)), 1)
            stderr.print(f"[red]error:[/red] {_plain(str(exc))}", highlight=False)
            raise typer.Exit(code) from exc

    return wrapper


def _plain(text: str) -> str:
    from rich.markup import escape

    return escape(text)
