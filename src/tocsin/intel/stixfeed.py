"""The STIX 2.1 feed reader: indicators and observables of a bundle as indicators.

TAXII servers, MISP and most commercial feeds export STIX 2.1: a ``bundle`` of objects, or a
list of objects, or one object. Read here:

* ``indicator`` objects whose ``pattern_type`` is ``stix`` and whose pattern is one comparison
  or several joined with OR (``[domain-name:value = 'x' OR url:value = 'y']``, or observations
  ``[...] OR [...]``) on a value tocsin matches: ``domain-name:value``, ``url:value``,
  ``ipv4-addr:value`` and ``ipv6-addr:value`` (``=``, ``IN``, ``ISSUBSET`` a network),
  ``email-addr:value``, ``email-message:from_ref.value``, ``file:hashes.MD5|'SHA-1'|'SHA-256'``.
  ``valid_from`` is when it was added, ``valid_until`` its expiry, ``indicator_types`` and
  ``labels`` its tags, ``name``/``description`` and ``confidence`` inform the analyst, and the
  STIX id is its reference. Revoked indicators are left out.
* AND and FOLLOWEDBY patterns (and qualified ones: REPEATS, WITHIN, START/STOP) describe a
  combination of observations, not one indicator: each is an issue naming the object's id, as
  is a comparison on something tocsin does not match (``file:name``, LIKE, MATCHES).
* plain observables (SCOs) with a ``value``: ``domain-name``, ``url``, ``ipv4-addr``,
  ``ipv6-addr``, ``email-addr``. Other objects (reports, malware, relationships) are context
  and skipped without an issue.

The common single comparison is read by one regular expression; anything else is parsed by
OASIS's ``stix2-patterns`` (BSD-3-Clause), which validates the grammar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tocsin.intel.indicators import _parse_time, _Reader, _split_tags

_SCO_KINDS = {
    "domain-name": "domain",
    "url": "url",
    "ipv4-addr": "ip",
    "ipv6-addr": "ip",
    "email-addr": "email",
}
_HASH_KINDS = {
    "md5": "md5",
    "sha-1": "sha1",
    "sha1": "sha1",
    "sha-256": "sha256",
    "sha256": "sha256",
}
# one comparison, the way nearly every feed writes its patterns
_SIMPLE = re.compile(
    r"^\s*\[\s*([a-z0-9-]+):([a-z0-9_]+(?:\.(?:[a-z0-9_]+|'[^'\\\]\[]+'))*)\s*=\s*"
    r"'((?:[^'\\]|\\.)*)'\s*\]\s*$",
    re.IGNORECASE,
)
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")
_ESCAPE = re.compile(r"\\(.)")
MAX_DESCRIPTION = 500


@dataclass(frozen=True, slots=True)
class Comparison:
    """One comparison of a pattern: ``object_type:path op literal`` (literal as written)."""

    object_type: str
    path: tuple[str, ...]
    operator: str
    literal: str


class PatternError(ValueError):
    """A pattern that gives no single indicator, and why."""


def read_stix(reader: _Reader, text: str) -> None:
    """Read a STIX 2.1 document's indicators and observables into ``reader``."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        reader.issue(exc.lineno, f"invalid JSON ({exc.msg})")
        return
    if isinstance(document, dict) and document.get("type") == "bundle":
        objects = document.get("objects") or []
    elif isinstance(document, list):
        objects = document
    else:
        objects = [document]
    if not isinstance(objects, list):
        reader.issue(None, "the bundle's 'objects' is not a list")
        return
    for item, obj in enumerate(objects, 1):
        if not isinstance(obj, dict):
            reader.issue(None, "not a STIX object", item)
            continue
        kind = obj.get("type")
        if kind == "indicator":
            _read_indicator(reader, obj, item)
        elif kind in _SCO_KINDS:
            value = obj.get("value")
            if not isinstance(value, str):
                reader.issue(None, f"{_id(obj, item)}: a {kind} object without a value", item)
                continue
            reader.value(value, None, kind=_SCO_KINDS[kind], item=item, reference=_id(obj, item))


def _id(obj: Mapping[str, Any], item: int) -> str:
    found = obj.get("id")
    return found if isinstance(found, str) and found else f"object {item}"


def _read_indicator(reader: _Reader, obj: Mapping[str, Any], item: int) -> None:
    ident = _id(obj, item)
    if obj.get("revoked") is True:
        return  # its producer withdrew it
    pattern_type = obj.get("pattern_type", "stix")
    if pattern_type != "stix":
        reader.issue(None, f"{ident}: pattern_type {pattern_type!r} is not read (only stix)", item)
        return
    pattern = obj.get("pattern")
    if not isinstance(pattern, str) or not pattern.strip():
        reader.issue(None, f"{ident}: no pattern", item)
        return
    try:
        comparisons = parse_pattern(pattern)
    except PatternError as exc:
        reader.issue(None, f"{ident}: {exc}", item)
        return
    tags = _split_tags(obj.get("indicator_types")) + _split_tags(obj.get("labels"))
    added = _parse_time(obj.get("valid_from"))
    expires = _parse_time(obj.get("valid_until"))
    confidence = obj.get("confidence")
    if not isinstance(confidence, int) or isinstance(confidence, bool):
        confidence = None
    description = _describe(obj)
    for comparison in comparisons:
        try:
            pairs = comparison_values(comparison)
        except PatternError as exc:
            reader.issue(None, f"{ident}: {exc}", item)
            continue
        for kind, value in pairs:
            reader.value(
                value,
                None,
                kind=kind,
                tags=tags,
                added=added,
                expires=expires,
                item=item,
                description=description,
                confidence=confidence,
                reference=ident,
            )


def _describe(obj: Mapping[str, Any]) -> str:
    parts = [str(obj[k]).strip() for k in ("name", "description") if isinstance(obj.get(k), str)]
    text = ": ".join(p for p in parts if p)
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."


def _unquote(literal: str) -> str:
    return _ESCAPE.sub(r"\1", literal)


def parse_pattern(pattern: str) -> list[Comparison]:
    """The comparisons of an OR-only pattern; raises PatternError for any other pattern."""
    simple = _SIMPLE.match(pattern)
    if simple:
        path = tuple(p.strip("'") for p in _path_steps(simple.group(2)))
        return [
            Comparison(simple.group(1).lower(), path, "=", "'" + simple.group(3) + "'"),
        ]
    return _parse_compound(pattern)


def _path_steps(path: str) -> list[str]:
    # split on dots outside quotes: hashes.'SHA-256'
    return re.findall(r"'[^']*'|[^.]+", path)


def _parse_compound(pattern: str) -> list[Comparison]:
    try:
        from stix2patterns.exceptions import ParseException  # type: ignore[import-untyped]
        from stix2patterns.v21.pattern import Pattern  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - a dependency of tocsin
        raise PatternError("reading this pattern needs the 'stix2-patterns' package") from exc
    try:
        parsed = Pattern(pattern)
    except ParseException as exc:
        raise PatternError(f"invalid pattern {pattern[:120]!r} ({exc})") from exc
    data = parsed.inspect()
    operators = set(data.observation_ops) - {"OR"}
    if operators:
        raise PatternError(f"a {'/'.join(sorted(operators))} pattern is not a single indicator")
    if data.qualifiers:
        qualifier = sorted(data.qualifiers)[0].split()[0]
        raise PatternError(f"a {qualifier} pattern is not a single indicator")
    if _has_and(parsed):
        raise PatternError("an AND pattern is not a single indicator")
    found: list[Comparison] = []
    for object_type, items in data.comparisons.items():
        for path, operator, literal in items:
            if not all(isinstance(step, str) for step in path):
                raise PatternError(f"{object_type}: list steps ([*]) are not read")
            found.append(Comparison(object_type, tuple(path), operator, literal))
    return found


def _has_and(parsed: Any) -> bool:
    """Whether comparisons inside an observation are joined with AND (inspect() hides it)."""
    from stix2patterns.v21.grammars.STIXPatternListener import (  # type: ignore[import-untyped]
        STIXPatternListener,
    )

    found: list[bool] = []

    class _AndFinder(STIXPatternListener):  # type: ignore[misc]  # an untyped base class
        def enterComparisonExpressionAnd(self, ctx: Any) -> None:  # noqa: N802 - ANTLR's name
            if ctx.getChildCount() > 1:
                found.append(True)

    parsed.walk(_AndFinder())
    return bool(found)


def comparison_values(comparison: Comparison) -> list[tuple[str, str]]:
    """(kind, value) pairs a comparison names; raises PatternError when it names none."""
    object_type, path, operator = comparison.object_type, comparison.path, comparison.operator
    where = f"{object_type}:{'.'.join(path)}"
    if object_type == "file" and len(path) == 2 and path[0] == "hashes":
        kind = _HASH_KINDS.get(path[1].lower())
        if kind is None:
            raise PatternError(f"{where}: hash {path[1]!r} is not read (MD5, SHA-1, SHA-256)")
    elif object_type == "email-message" and path == ("from_ref", "value"):
        kind = "email"
    elif object_type in _SCO_KINDS and path == ("value",):
        kind = _SCO_KINDS[object_type]
    else:
        raise PatternError(f"{where} is not something tocsin matches")
    literals = [_unquote(s) for s in _STRING.findall(comparison.literal)]
    if operator == "=" and len(literals) == 1:
        return [(kind, literals[0])]
    if operator == "IN" and literals:
        return [(kind, value) for value in literals]
    if operator == "ISSUBSET" and kind == "ip" and len(literals) == 1:
        return [(kind, literals[0])]
    raise PatternError(f"{where} {operator} {comparison.literal[:80]}: only = and IN are read")
