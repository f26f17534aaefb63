"""Reading ``Authentication-Results`` (RFC 8601), tolerant of what real servers write.

A header is ``authserv-id [version]; method=result [reason=...] [ptype.prop=value ...]; ...``.
Microsoft 365 leaves the authserv-id out and starts with ``spf=pass``, which strict parsers
reject; here a first element with ``=`` in it is a result, not an id. Comments in parentheses
are kept as the result's comment; quoted strings may hold ``;``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AuthResult:
    """One method's result in one header (``dkim=pass header.d=example.com``)."""

    method: str
    result: str
    authserv_id: str | None
    reason: str | None = None
    comment: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside quotes and parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if char == "\\":
            escaped = True
            current.append(char)
            continue
        if char == '"' and depth == 0:
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")" and depth:
            depth -= 1
        if char == separator and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _strip_comments(text: str) -> tuple[str, str | None]:
    """The text without parenthesised comments, and the comments joined."""
    out: list[str] = []
    comments: list[str] = []
    depth = 0
    quoted = False
    for char in text:
        if char == '"' and depth == 0:
            quoted = not quoted
        if not quoted and char == "(":
            depth += 1
            if depth == 1:
                comments.append("")
                continue
        if not quoted and char == ")" and depth:
            depth -= 1
            if depth == 0:
                continue
        if depth:
            comments[-1] += char
        else:
            out.append(char)
    joined = "; ".join(c.strip() for c in comments if c.strip())
    return "".join(out), joined or None


def parse_authentication_results(value: str) -> list[AuthResult]:
    """The results of one header value (an empty list for ``none`` or nothing readable)."""
    elements = [e.strip() for e in _split(" ".join(value.split()), ";")]
    elements = [e for e in elements if e]
    if not elements:
        return []
    authserv_id: str | None = None
    head, _ = _strip_comments(elements[0])
    first_word = head.strip().split(" ")[0] if head.strip() else ""
    if "=" not in first_word:
        authserv_id = first_word.lower() or None
        elements = elements[1:]
    results: list[AuthResult] = []
    for element in elements:
        text, comment = _strip_comments(element)
        words = [w for w in _split(text.strip(), " ") if w]
        if not words or "=" not in words[0]:
            continue  # "none", or something no reader understands
        method, _, result = words[0].partition("=")
        method = method.strip().lower().split("/")[0]
        result = result.strip().strip('"').lower()
        if not method or not result:
            continue
        reason = None
        properties: dict[str, str] = {}
        for word in words[1:]:
            key, sep, prop = word.partition("=")
            if not sep:
                continue
            key = key.strip().lower()
            prop = prop.strip().strip('"')
            if key == "reason":
                reason = prop
            else:
                properties[key] = prop
        results.append(AuthResult(method, result, authserv_id, reason, comment, properties))
    return results


def verdicts(
    headers: Sequence[str], trusted_ids: Iterable[str] | None = None
) -> dict[str, AuthResult]:
    """The result per method from the topmost header that has it.

    The topmost ``Authentication-Results`` was added last, by the server nearest to us; a
    sender can forge any header below it. With ``trusted_ids``, only headers from those
    authserv-ids (or without one, as Microsoft 365 writes them) count.
    """
    trusted = {t.lower() for t in trusted_ids} if trusted_ids is not None else None
    found: dict[str, AuthResult] = {}
    for value in headers:
        for result in parse_authentication_results(value):
            if trusted is not None and result.authserv_id not in trusted | {None}:
                continue
            found.setdefault(result.method, result)
    return found
