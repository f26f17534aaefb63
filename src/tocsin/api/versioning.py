"""What the alert and case routes share: paging parameters and optimistic-lock versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Query, Response

from tocsin.core.errors import InvalidInputError

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The version read (its ETag).")
]


def version_from(body_version: int | None, if_match: str | None) -> int | None:
    """The version from the body, else from If-Match (``"3"``, ``W/"3"`` or ``3``)."""
    if body_version is not None:
        return body_version
    if not if_match:
        return None
    text = if_match.strip().removeprefix("W/").strip().strip('"')
    if not text.isdigit():
        raise InvalidInputError(f"If-Match must hold a version number, not {if_match!r}")
    return int(text)


def tagged(response: Response, body: dict[str, Any]) -> dict[str, Any]:
    """Send the body's ``version`` as its ETag (what If-Match sends back)."""
    response.headers["ETag"] = f'"{body["version"]}"'
    return body
