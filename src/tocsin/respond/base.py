"""The notifier plugin kind: how a notification leaves tocsin (SMTP, a webhook, Slack, Teams).

Notifiers register in the ``tocsin.notifiers`` entry-point group under their ``kind``; the
delivery loop (``tocsin.respond.delivery``) loads them by the kind of a channel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered notification, the same for every notifier.

    ``payload`` is the JSON the workspace queued (ids, severity, title; never a secret);
    ``recipients`` are e-mail addresses of the subscribed users (empty for channel-wide
    subscriptions); ``link`` is a console path such as ``/alerts/12``.
    """

    event: str
    subject: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    recipients: tuple[str, ...] = ()
    severity: str | None = None
    link: str | None = None


@runtime_checkable
class Notifier(Protocol):
    """Sends messages to one kind of destination; registered in ``tocsin.notifiers``.

    Contract:
        * Built with no arguments; one instance serves every channel of its ``kind``, so it keeps
          no per-channel state (the channel's config is passed to each call).
        * ``validate(config)`` checks and normalises a channel config (defaults filled in, types
          coerced) and returns a new plain-JSON dict; a missing or malformed key raises
          ``tocsin.core.errors.InvalidInputError`` whose message names the key and what to do.
          It never contacts the destination.
        * ``secret_keys`` names the config keys that reads must mask (a password, an HMAC
          secret, and the URL of a webhook whose URL is its credential).
        * ``send(config, message)`` delivers one message with an already validated config and
          returns only when the destination accepted it. A failure the destination may recover
          from (refused connection, timeout, non-2xx status, SMTP error) raises
          ``tocsin.core.errors.ExternalServiceError``; a config that cannot work (no recipients)
          raises ``InvalidInputError`` and is not retried. Error messages never contain a secret
          value or a secret URL: they end up in the outbox and the logs.
        * ``send`` is blocking and is called outside any database transaction; it must honour
          the config's ``timeout``.
    """

    kind: str
    secret_keys: tuple[str, ...]

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return the normalised config, or raise InvalidInputError."""
        ...

    def send(self, config: Mapping[str, Any], message: Message) -> None:
        """Deliver ``message``; raise ExternalServiceError when the destination fails."""
        ...


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def short_error(text: str, *, limit: int = 300) -> str:
    """An error text fit for the outbox and logs: URLs (often secret) removed, one line, short."""
    cleaned = _URL.sub("<url>", " ".join(text.split()))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
