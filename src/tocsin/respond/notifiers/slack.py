"""Slack incoming webhooks: a short message with Block Kit blocks and a plain-text fallback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tocsin.respond.base import Message
from tocsin.respond.notifiers import _config as cfg
from tocsin.respond.notifiers._http import encode, post_json

_HEADER_MAX = 150  # Slack refuses longer header blocks


def escape(value: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: Message) -> dict[str, Any]:
    """The JSON Slack expects: ``text`` (notifications, fallback) and ``blocks``."""
    header = (
        message.subject
        if len(message.subject) <= _HEADER_MAX
        else (message.subject[: _HEADER_MAX - 3] + "...")
    )
    fields = [{"type": "mrkdwn", "text": f"*Event*\n{escape(message.event)}"}]
    if message.severity:
        fields.insert(0, {"type": "mrkdwn", "text": f"*Severity*\n{escape(message.severity)}"})
    title = message.payload.get("title")
    if isinstance(title, str) and title and title != message.subject:
        fields.append({"type": "mrkdwn", "text": f"*Title*\n{escape(title[:500])}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "fields": fields},
    ]
    if message.link:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Open in tocsin: {escape(message.link)}"}],
            }
        )
    return {"text": escape(message.subject), "blocks": blocks}


class SlackNotifier:
    """Post to a Slack incoming webhook (its URL is the secret)."""

    kind: str = "slack"
    secret_keys: tuple[str, ...] = ("url",)
    _KEYS: ClassVar[tuple[str, ...]] = ("url", "timeout")

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``url`` (required) and ``timeout``."""
        cfg.check_keys(self.kind, config, self._KEYS)
        return {
            "url": cfg.url(self.kind, config),
            "timeout": cfg.number(self.kind, config, "timeout", default=10, low=0, high=300),
        }

    def send(self, config: Mapping[str, Any], message: Message) -> None:
        """POST the message; raise ExternalServiceError unless Slack answers 2xx."""
        post_json(
            self.kind,
            str(config["url"]),
            encode(slack_body(message)),
            timeout=float(config.get("timeout", 10)),
        )
