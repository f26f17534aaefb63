"""Render console templates: one Jinja2 environment with autoescaping always on.

Event data is attacker-controlled, so every template escapes every value; nothing here marks
data as safe except the charts of :mod:`tocsin.web.charts`, which escape their own labels.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tocsin import __version__

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

SEVERITIES = ("critical", "high", "medium", "low", "informational")
# A shape beside the word, so severity never rests on colour alone.
SEVERITY_MARK = {
    "critical": "\u25c6\u25c6",  # two diamonds
    "high": "\u25c6",
    "medium": "\u25b2",
    "low": "\u25bc",
    "informational": "\u25cb",
}


def format_time(value: datetime | str | None) -> str:
    """A UTC time as ``2026-11-28 10:04:05Z`` (empty for None)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso(value: datetime | None) -> str:
    """An ISO 8601 UTC time for ``datetime`` attributes and scripts (empty for None)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_ago(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago: ``5 s``, ``3 min``, ``2 h``, ``4 d`` (``in 3 min`` for the future)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = (now or datetime.now(UTC)) - value
    text = format_duration(abs(delta))
    return f"in {text}" if delta < timedelta(0) else f"{text} ago"


def format_duration(delta: timedelta | float | None) -> str:
    """A duration in its largest sensible unit (``42 s``, ``7 min``, ``3 h 5 min``, ``2 d``)."""
    if delta is None:
        return ""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"
    return f"{seconds / 86400:.1f} d"


def format_number(value: float | int | None) -> str:
    """``12,345`` for integers, two decimals for other numbers."""
    if value is None:
        return ""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def to_json_text(value: Any) -> str:
    """Indented JSON for display (escaped by the template like any text)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode()


def query_string(params: Mapping[str, Any], **changes: Any) -> str:
    """``params`` with ``changes`` applied, as a query string (None removes a key)."""
    merged: dict[str, Any] = {k: v for k, v in params.items() if v not in (None, "", [])}
    for key, value in changes.items():
        if value in (None, "", []):
            merged.pop(key, None)
        else:
            merged[key] = value
    pairs: list[tuple[str, str]] = []
    for key, value in merged.items():
        if isinstance(value, list | tuple):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


@functools.cache
def environment() -> Environment:
    """The console's template environment (built once)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html", "svg"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=format_time,
        iso=iso,
        ago=format_ago,
        duration=format_duration,
        number=format_number,
        json=to_json_text,
    )
    env.globals.update(
        version=__version__,
        severities=SEVERITIES,
        severity_mark=SEVERITY_MARK,
        query_string=query_string,
    )
    return env


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render one template with its context."""
    return environment().get_template(template).render(**context)
