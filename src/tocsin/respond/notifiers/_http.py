"""POSTing JSON to a webhook: one place for timeouts, TLS, redirects and error messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from tocsin import __version__
from tocsin.core.errors import ExternalServiceError
from tocsin.respond.base import short_error

USER_AGENT = f"tocsin/{__version__}"


def encode(body: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def post_json(
    kind: str,
    url: str,
    content: bytes,
    *,
    timeout: float,
    verify: bool = True,
    extra_headers: Mapping[str, str] | None = None,
) -> int:
    """POST ``content`` as JSON; return the status, or raise ExternalServiceError.

    Redirects are not followed (a webhook that redirects is misconfigured, and following one
    would resend the body elsewhere). Messages never include the URL: it is the credential.
    """
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    headers.update(extra_headers or {})
    try:
        with httpx.Client(timeout=timeout, verify=verify, follow_redirects=False) as client:
            response = client.post(url, content=content, headers=headers)
    except httpx.TimeoutException:
        raise ExternalServiceError(f"{kind} endpoint did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        detail = short_error(str(exc).replace(url, "<url>"), limit=160)
        raise ExternalServiceError(
            f"{kind} request failed: {type(exc).__name__}" + (f": {detail}" if detail else "")
        ) from None
    if not 200 <= response.status_code < 300:
        raise ExternalServiceError(f"{kind} endpoint answered HTTP {response.status_code}")
    return response.status_code
