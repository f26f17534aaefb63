"""A generic webhook: POST the notification as JSON, optionally signed with HMAC-SHA256.

Body: ``{"event", "subject", "text", "payload", "sent_at"}``. With a ``secret``, the header
``X-Tocsin-Signature: sha256=<hex>`` carries HMAC-SHA256 of the exact body bytes, so the
receiver can check that the message came from tocsin and was not changed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from tocsin.respond.base import Message
from tocsin.respond.notifiers import _config as cfg
from tocsin.respond.notifiers._http import encode, post_json

SIGNATURE_HEADER = "X-Tocsin-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POST JSON to any HTTP endpoint."""

    kind: str = "webhook"
    secret_keys: tuple[str, ...] = ("url", "secret", "headers")
    _KEYS: ClassVar[tuple[str, ...]] = ("url", "secret", "headers", "timeout", "verify_tls")

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``url`` (required), ``secret``, ``headers``, ``timeout``, ``verify_tls``."""
        cfg.check_keys(self.kind, config, self._KEYS)
        return {
            "url": cfg.url(self.kind, config),
            "secret": cfg.text(self.kind, config, "secret", secret=True),
            "headers": cfg.headers(self.kind, config),
            "timeout": cfg.number(self.kind, config, "timeout", default=10, low=0, high=300),
            "verify_tls": cfg.boolean(self.kind, config, "verify_tls", default=True),
        }

    def send(self, config: Mapping[str, Any], message: Message) -> None:
        """POST the message; raise ExternalServiceError unless the endpoint answers 2xx."""
        body = encode(
            {
                "event": message.event,
                "subject": message.subject,
                "text": message.text,
                "payload": message.payload,
                "sent_at": datetime.now(UTC).isoformat(),
            }
        )
        extra = dict(config.get("headers") or {})
        secret = config.get("secret")
        if secret:
            extra[SIGNATURE_HEADER] = sign(str(secret), body)
        post_json(
            self.kind,
            str(config["url"]),
            body,
            timeout=float(config.get("timeout", 10)),
            verify=bool(config.get("verify_tls", True)),
            extra_headers=extra,
        )
