"""The ``tocsin`` command line (the only package that imports Typer)."""

from __future__ import annotations

from tocsin.cli.app import app


def main() -> None:
    """Entry point of the ``tocsin`` script."""
    app()


__all__ = ["app", "main"]
