"""Reading notifier configs: typed values with messages that name the key (never a secret)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlsplit

from tocsin.core.errors import InvalidInputError

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def check_keys(kind: str, config: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse keys a notifier does not know (a typo would otherwise be ignored silently)."""
    if not isinstance(config, Mapping):
        raise InvalidInputError(f"{kind} channel: the config must be an object of key/values")
    known = set(allowed)
    unknown = sorted(str(k) for k in config if k not in known)
    if unknown:
        raise InvalidInputError(
            f"{kind} channel: unknown config key(s) {', '.join(map(repr, unknown))}: "
            f"use {', '.join(sorted(known))}"
        )


def text(
    kind: str, config: Mapping[str, Any], key: str, *, required: bool = False, secret: bool = False
) -> str | None:
    """A string value (stripped; empty counts as missing); secrets are never quoted."""
    value = config.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInputError(f"{kind} channel: {key!r} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{kind} channel: {key!r} must be a string")
    if "\n" in value or "\r" in value:
        shown = "" if secret else f" ({value!r})"
        raise InvalidInputError(f"{kind} channel: {key!r}{shown} must be one line")
    return value if secret else value.strip()


def number(
    kind: str, config: Mapping[str, Any], key: str, *, default: float, low: float, high: float
) -> float:
    """A number within ``(low, high]``."""
    value = config.get(key, default)
    if value is None:
        return default
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{kind} channel: {key!r} must be a number, not {value!r}"
        ) from None
    if isinstance(value, bool) or not low < result <= high:
        raise InvalidInputError(
            f"{kind} channel: {key!r} is {value!r}: use a number above {low:g} up to {high:g}"
        )
    return result


def integer(
    kind: str, config: Mapping[str, Any], key: str, *, default: int, low: int, high: int
) -> int:
    """An integer within ``[low, high]``."""
    value = config.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool):
        raise InvalidInputError(f"{kind} channel: {key!r} must be an integer, not {value!r}")
    try:
        result = int(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{kind} channel: {key!r} must be an integer, not {value!r}"
        ) from None
    if not low <= result <= high or (isinstance(value, float) and value != result):
        raise InvalidInputError(
            f"{kind} channel: {key!r} is {value!r}: use an integer from {low} to {high}"
        )
    return result


def boolean(kind: str, config: Mapping[str, Any], key: str, *, default: bool) -> bool:
    """A boolean (``true``/``false`` strings are accepted for the command line)."""
    value = config.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidInputError(f"{kind} channel: {key!r} must be true or false, not {value!r}")


def choice(
    kind: str, config: Mapping[str, Any], key: str, *, options: tuple[str, ...], default: str
) -> str:
    """One of ``options`` (case-insensitive)."""
    value = config.get(key, default)
    if value is None:
        return default
    name = str(value).strip().lower()
    if name not in options:
        raise InvalidInputError(
            f"{kind} channel: {key!r} is {value!r}: use one of {', '.join(options)}"
        )
    return name


def address(kind: str, key: str, value: object) -> str:
    """One e-mail address, optionally with a display name (``Tocsin <soc@example.org>``)."""
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        raise InvalidInputError(f"{kind} channel: {key!r} has an invalid address {value!r}")
    name, addr = parseaddr(value.strip())
    if not _ADDRESS.match(addr):
        raise InvalidInputError(
            f"{kind} channel: {key!r} has an invalid address {value!r}: use name@domain"
        )
    return formataddr((name, addr)) if name else addr


def addresses(kind: str, config: Mapping[str, Any], key: str) -> list[str]:
    """A list of e-mail addresses (a comma-separated string is accepted too)."""
    value = config.get(key)
    if value is None:
        return []
    items: list[object]
    if isinstance(value, str):
        items = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise InvalidInputError(f"{kind} channel: {key!r} must be a list of e-mail addresses")
    result: list[str] = []
    for item in items:
        checked = address(kind, key, item)
        if checked not in result:
            result.append(checked)
    return result


def url(kind: str, config: Mapping[str, Any], key: str = "url") -> str:
    """An http(s) URL; the message never quotes it (a webhook URL is its credential)."""
    raw = text(kind, config, key, required=True, secret=True)
    value = (raw or "").strip()
    try:
        parts = urlsplit(value)
        ok = parts.scheme in {"http", "https"} and bool(parts.hostname)
        ok = ok and (parts.port is None or parts.port > 0)  # .port raises on a bad port
    except ValueError:  # a malformed IPv6 literal or port
        ok = False
    if not ok or any(c.isspace() for c in value):
        raise InvalidInputError(
            f"{kind} channel: {key!r} must be an http:// or https:// URL with a host "
            "(the value is not shown: it may hold a secret)"
        )
    return value


def headers(kind: str, config: Mapping[str, Any], key: str = "headers") -> dict[str, str]:
    """Extra HTTP headers: names as RFC 9110 tokens, one-line string values (never quoted)."""
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{kind} channel: {key!r} must be an object of name: value")
    result: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise InvalidInputError(f"{kind} channel: header name {name!r} is invalid")
        if not isinstance(item, str) or "\n" in item or "\r" in item:
            raise InvalidInputError(
                f"{kind} channel: header {name!r} must have a one-line string value"
            )
        result[name] = item
    return result
