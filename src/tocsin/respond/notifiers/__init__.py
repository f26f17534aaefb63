"""tocsin's own notifiers; they register in ``tocsin.notifiers`` like any plugin."""

from __future__ import annotations

from tocsin.respond.notifiers.email import EmailNotifier
from tocsin.respond.notifiers.slack import SlackNotifier
from tocsin.respond.notifiers.teams import TeamsNotifier
from tocsin.respond.notifiers.webhook import WebhookNotifier

__all__ = ["EmailNotifier", "SlackNotifier", "TeamsNotifier", "WebhookNotifier"]
