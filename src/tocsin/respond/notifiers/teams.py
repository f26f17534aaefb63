"""Microsoft Teams: an Adaptive Card posted to a Teams (Power Automate) workflow webhook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tocsin.respond.base import Message
from tocsin.respond.notifiers import _config as cfg
from tocsin.respond.notifiers._http import encode, post_json

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
_COLOUR = {"critical": "Attention", "high": "Attention", "medium": "Warning"}


def teams_body(message: Message) -> dict[str, Any]:
    """A ``message`` with one Adaptive Card attachment (title, facts, link)."""
    facts = [{"title": "Event", "value": message.event}]
    if message.severity:
        facts.insert(0, {"title": "Severity", "value": message.severity})
    title = message.payload.get("title")
    if isinstance(title, str) and title and title != message.subject:
        facts.append({"title": "Title", "value": title[:500]})
    if message.link:
        facts.append({"title": "Link", "value": message.link})
    heading: dict[str, Any] = {
        "type": "TextBlock",
        "text": message.subject,
        "weight": "Bolder",
        "size": "Medium",
        "wrap": True,
    }
    colour = _COLOUR.get(message.severity or "")
    if colour:
        heading["color"] = colour
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [heading, {"type": "FactSet", "facts": facts}],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


class TeamsNotifier:
    """Post an Adaptive Card to a Teams workflow webhook (its URL is the secret)."""

    kind: str = "teams"
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
        """POST the card; raise ExternalServiceError unless the workflow answers 2xx."""
        post_json(
            self.kind,
            str(config["url"]),
            encode(teams_body(message)),
            timeout=float(config.get("timeout", 10)),
        )
