"""Time helpers: parse the many timestamp forms logs use, and relative times analysts type."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tocsin.core.errors import InvalidInputError

_RELATIVE = re.compile(r"^\s*([+-]?)(\d+)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_timestamp(value: object) -> datetime | None:
    """Parse a timestamp from a log field; return None when it is not one.

    Accepts ``datetime``, ISO 8601 strings (``Z`` or offsets, space or ``T``), and epoch numbers
    in seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude). A naive time
    is taken as UTC.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text[0].isdigit() and text.replace(".", "", 1).isdigit():
            return _from_epoch(float(text))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _from_epoch(number: float) -> datetime | None:
    magnitude = abs(number)
    if magnitude >= 1e17:
        number /= 1e9
    elif magnitude >= 1e14:
        number /= 1e6
    elif magnitude >= 1e11:
        number /= 1e3
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_time_bound(text: str, *, now: datetime | None = None) -> datetime:
    """Parse a ``--since``/``--until`` value: relative (``-24h``, ``15m``, ``7d``), ``now``, or ISO.

    Raises:
        InvalidInputError: when the text is none of those forms.
    """
    now = now or datetime.now(UTC)
    if text.strip().lower() == "now":
        return now
    match = _RELATIVE.match(text)
    if match:
        sign, amount, unit = match.groups()
        delta = timedelta(**{_UNITS[unit.lower()]: int(amount)})
        return now + delta if sign == "+" else now - delta
    parsed = parse_timestamp(text)
    if parsed is None:
        raise InvalidInputError(
            f"cannot read {text!r} as a time: use -24h, 15m, 7d, now, or an ISO date"
        )
    return parsed
