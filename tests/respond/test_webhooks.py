"""Webhook, Slack and Teams notifiers against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

import pytest

from tests.respond.servers import free_port
from tocsin import __version__
from tocsin.core.errors import ExternalServiceError, InvalidInputError
from tocsin.respond.base import Message
from tocsin.respond.notifiers.slack import SlackNotifier
from tocsin.respond.notifiers.teams import TeamsNotifier
from tocsin.respond.notifiers.webhook import WebhookNotifier, sign

MESSAGE = Message(
    event="alert.created",
    subject="New high alert: <script> & co",
    text="New high alert: <script> & co\n\nSeverity: high\nLink: /alerts/12",
    payload={"event": "alert.created", "alert_id": 12, "title": "Mimikatz on WS-17"},
    recipients=("ana@example.org",),
    severity="high",
    link="/alerts/12",
)
SECRET_PATH = "/hook/T0KEN-abcdef"


def test_webhook_posts_signed_json(sink):
    notifier = WebhookNotifier()
    config = notifier.validate(
        {"url": sink.url(SECRET_PATH), "secret": "hmac-key", "headers": {"X-Team": "soc"}}
    )
    notifier.send(config, MESSAGE)

    [req] = sink.requests
    assert req.path == SECRET_PATH
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"] == f"tocsin/{__version__}"
    assert req.headers["x-team"] == "soc"
    expected = "sha256=" + hmac.new(b"hmac-key", req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-tocsin-signature"] == expected
    body = json.loads(req.body)
    assert set(body) == {"event", "subject", "text", "payload", "sent_at"}
    assert body["event"] == "alert.created"
    assert body["subject"] == MESSAGE.subject
    assert body["text"] == MESSAGE.text
    assert body["payload"] == MESSAGE.payload
    assert datetime.fromisoformat(body["sent_at"]).tzinfo is not None


def test_webhook_without_secret_is_not_signed(sink):
    notifier = WebhookNotifier()
    notifier.send(notifier.validate({"url": sink.url()}), MESSAGE)
    assert "x-tocsin-signature" not in sink.requests[0].headers


def test_signature_helper_matches_hmac_sha256():
    body = b'{"a":1}'
    assert sign("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_slack_body(sink):
    notifier = SlackNotifier()
    notifier.send(notifier.validate({"url": sink.url(SECRET_PATH)}), MESSAGE)

    body = json.loads(sink.requests[0].body)
    assert body == {
        "text": "New high alert: &lt;script&gt; &amp; co",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "New high alert: <script> & co"},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Severity*\nhigh"},
                    {"type": "mrkdwn", "text": "*Event*\nalert.created"},
                    {"type": "mrkdwn", "text": "*Title*\nMimikatz on WS-17"},
                ],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "Open in tocsin: /alerts/12"}],
            },
        ],
    }


def test_slack_header_is_cut_to_its_limit(sink):
    notifier = SlackNotifier()
    long = Message("alert.created", "x" * 200, "t")
    notifier.send(notifier.validate({"url": sink.url()}), long)
    header = json.loads(sink.requests[0].body)["blocks"][0]["text"]["text"]
    assert header == "x" * 147 + "..."


def test_teams_adaptive_card(sink):
    notifier = TeamsNotifier()
    notifier.send(notifier.validate({"url": sink.url(SECRET_PATH)}), MESSAGE)

    body = json.loads(sink.requests[0].body)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    assert card["body"] == [
        {
            "type": "TextBlock",
            "text": "New high alert: <script> & co",
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Attention",
        },
        {
            "type": "FactSet",
            "facts": [
                {"title": "Severity", "value": "high"},
                {"title": "Event", "value": "alert.created"},
                {"title": "Title", "value": "Mimikatz on WS-17"},
                {"title": "Link", "value": "/alerts/12"},
            ],
        },
    ]


@pytest.mark.parametrize("notifier", [WebhookNotifier(), SlackNotifier(), TeamsNotifier()])
@pytest.mark.parametrize("status", [500, 404, 302])
def test_non_2xx_is_an_external_error_without_the_url(sink, notifier, status):
    sink.statuses.append(status)
    config = notifier.validate({"url": sink.url(SECRET_PATH)})
    with pytest.raises(ExternalServiceError) as err:
        notifier.send(config, MESSAGE)
    assert str(err.value) == f"{notifier.kind} endpoint answered HTTP {status}"
    assert len(sink.requests) == 1  # a redirect is not followed


@pytest.mark.parametrize("notifier", [WebhookNotifier(), SlackNotifier(), TeamsNotifier()])
def test_refused_connection_hides_the_url(notifier):
    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    with pytest.raises(
        ExternalServiceError, match=f"^{notifier.kind} request failed: ConnectError"
    ) as err:
        notifier.send(notifier.validate({"url": url}), MESSAGE)
    assert "T0KEN" not in str(err.value)
    assert url not in str(err.value)


@pytest.mark.parametrize(
    ("notifier", "config", "message"),
    [
        (SlackNotifier(), {}, "slack channel: 'url' is required"),
        (SlackNotifier(), {"url": "ftp://x/T0KEN"}, "slack channel: 'url' must be an http://"),
        (TeamsNotifier(), {"url": "https:///T0KEN"}, "teams channel: 'url' must be an http://"),
        (WebhookNotifier(), {"url": "http://h:99999/T0KEN"}, "webhook channel: 'url' must be"),
        (WebhookNotifier(), {"url": "http://h/x", "headers": {"X a": "1"}}, "header name 'X a'"),
        (WebhookNotifier(), {"url": "http://h/x", "headers": ["a"]}, "'headers' must be an object"),
        (WebhookNotifier(), {"url": "http://h/x", "verify_tls": "maybe"}, "'verify_tls' must be"),
        (SlackNotifier(), {"url": "http://h/x", "channel": "#soc"}, "unknown config key(s)"),
    ],
)
def test_validate_refuses_bad_configs_without_quoting_the_url(notifier, config, message):
    with pytest.raises(InvalidInputError) as err:
        notifier.validate(config)
    assert message in str(err.value)
    assert "T0KEN" not in str(err.value)


def test_webhook_validate_defaults():
    assert WebhookNotifier().validate({"url": " https://example.org/h "}) == {
        "url": "https://example.org/h",
        "secret": None,
        "headers": {},
        "timeout": 10.0,
        "verify_tls": True,
    }
