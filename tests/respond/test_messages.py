"""Rendering queued notifications into messages, and the notifier contract."""

from __future__ import annotations

import pytest

from tocsin.core.errors import InvalidInputError
from tocsin.respond.base import Message, Notifier, short_error
from tocsin.respond.delivery import BACKOFF, MAX_ATTEMPTS, build_message, console_link, retry_delay
from tocsin.respond.notifiers import EmailNotifier, SlackNotifier, TeamsNotifier, WebhookNotifier
from tocsin.workspace.channels import BUILTIN_KINDS

MINIMAL = {
    "email": (EmailNotifier(), {"host": "mail.example.org", "from_address": "soc@example.org"}),
    "webhook": (WebhookNotifier(), {"url": "https://example.org/hook"}),
    "slack": (SlackNotifier(), {"url": "https://hooks.slack.com/services/T/B/X"}),
    "teams": (TeamsNotifier(), {"url": "https://example.logic.azure.com/workflows/1"}),
}


@pytest.mark.parametrize(
    ("event", "payload", "link"),
    [
        ("alert.created", {"alert_id": 12}, "/alerts/12"),
        ("alert.created", {"id": 12, "user_id": 3}, "/alerts/12"),
        ("case.assigned", {"id": 4}, "/cases/4"),
        ("sla.breached", {"id": 4}, None),
        ("alert.assigned", {"alert_id": 12, "case_id": 3}, "/alerts/12"),
        ("case.created", {"case_id": 3, "alert_id": 12}, "/cases/3"),
        ("sla.breached", {"entity_type": "case", "entity_id": 4}, "/cases/4"),
        ("sla.at_risk", {"alert_id": 9}, "/alerts/9"),
        ("sla.at_risk", {"link": "/cases/5/tasks"}, "/cases/5/tasks"),
        ("alert.created", {"link": "https://evil.example/"}, None),
        ("alert.created", {"link": "//evil.example/"}, None),
        ("alert.created", {"alert_id": "12"}, None),
        ("alert.created", {"alert_id": True}, None),
        ("test", {}, None),
    ],
)
def test_console_link(event, payload, link):
    assert console_link(event, payload) == link


def test_build_message_is_short_and_complete():
    message = build_message(
        "alert.created",
        "New high alert: Mimikatz",
        {
            "event": "alert.created",
            "alert_id": 12,
            "severity": "high",
            "title": "Mimikatz on WS-17",
        },
        ["ana@example.org"],
    )
    assert message == Message(
        event="alert.created",
        subject="New high alert: Mimikatz",
        text=(
            "New high alert: Mimikatz\n\nSeverity: high\nTitle: Mimikatz on WS-17\n"
            "Event: alert.created\nLink: /alerts/12"
        ),
        payload={
            "event": "alert.created",
            "alert_id": 12,
            "severity": "high",
            "title": "Mimikatz on WS-17",
        },
        recipients=("ana@example.org",),
        severity="high",
        link="/alerts/12",
    )


def test_backoff_schedule():
    assert MAX_ATTEMPTS == 6
    assert [retry_delay(n).total_seconds() for n in range(1, 6)] == [30, 120, 600, 3600, 21600]
    assert BACKOFF[0].total_seconds() == 30


def test_short_error_drops_urls_and_newlines():
    text = "POST https://hooks.slack.com/services/T/B/SECRET failed\n  with\tstatus 500"
    assert short_error(text) == "POST <url> failed with status 500"
    assert short_error("x" * 400) == "x" * 297 + "..."


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_builtin_notifiers_follow_the_protocol(kind):
    notifier, config = MINIMAL[kind]
    assert isinstance(notifier, Notifier)
    assert notifier.kind == kind
    normalised = notifier.validate(config)
    assert notifier.validate(normalised) == normalised  # validating twice changes nothing


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_workspace_knows_the_same_required_and_secret_keys(kind):
    """workspace.channels cannot import respond: its copy of the rules must stay in step."""
    notifier, config = MINIMAL[kind]
    required, secrets = BUILTIN_KINDS[kind]
    assert set(secrets) == set(notifier.secret_keys)
    for key in config:
        with pytest.raises(InvalidInputError, match=f"'{key}' is required"):
            notifier.validate({k: v for k, v in config.items() if k != key})
    assert set(required) == set(config)
