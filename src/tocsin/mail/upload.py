"""A message handed over as bytes (API upload, console form): what it is, as RFC 822 bytes."""

from __future__ import annotations

from tocsin.core.errors import InvalidInputError
from tocsin.mail.msg import OLE_MAGIC, MsgError, read_msg


def as_rfc822(name: str, data: bytes) -> bytes:
    """The message as RFC 822 bytes: an Outlook .msg is rebuilt, anything else is taken as is."""
    if not data:
        raise InvalidInputError(f"{name} is empty")
    if name.lower().endswith(".msg") or data[:8] == OLE_MAGIC:
        try:
            return read_msg(data)
        except MsgError as exc:
            raise InvalidInputError(f"{name}: not a readable Outlook message ({exc})") from None
    return data
