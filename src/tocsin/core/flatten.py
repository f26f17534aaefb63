"""Flatten nested JSON objects into dotted field names."""

from __future__ import annotations

from collections.abc import Mapping

import orjson


def flatten(obj: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """Flatten nested mappings to dotted names: ``{"a": {"b": 1}}`` becomes ``{"a.b": 1}``.

    Lists of scalars stay lists; a list holding objects or lists is kept as its compact JSON
    text, since a column holds one type. Empty objects disappear.
    """
    out: dict[str, object] = {}
    _flatten_into(out, obj, prefix)
    return out


def _flatten_into(out: dict[str, object], obj: Mapping[str, object], prefix: str) -> None:
    for key, value in obj.items():
        kind = type(value)
        if kind is dict:
            _flatten_into(out, value, f"{prefix}{key}.")  # type: ignore[arg-type]
        elif kind is list:
            out[prefix + key] = flatten_list(value)  # type: ignore[arg-type]
        elif isinstance(value, Mapping):
            _flatten_into(out, value, f"{prefix}{key}.")
        else:
            out[prefix + key] = value


def flatten_list(values: list[object]) -> object:
    """Return a list of scalars as is, else its compact JSON text."""
    for item in values:
        if isinstance(item, dict | list):
            return orjson.dumps(values).decode()
    return values
