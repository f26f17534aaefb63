"""EmailNotifier against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.respond.servers import free_port, smtp_server, tls_server_context
from tocsin.core.errors import ExternalServiceError, InvalidInputError
from tocsin.respond.base import Message
from tocsin.respond.notifiers.email import EmailNotifier

NOTIFIER = EmailNotifier()
MESSAGE = Message(
    event="alert.created",
    subject="New high alert: Mimikatz on WS-17",
    text="New high alert: Mimikatz on WS-17\n\nSeverity: high\nLink: /alerts/12",
    payload={"alert_id": 12},
    recipients=("ana@example.org", "Rex <rex@example.org>"),
    severity="high",
    link="/alerts/12",
)


def config(port, **extra):
    base = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "soc@example.org",
    }
    return NOTIFIER.validate({**base, **extra})


def test_mail_reaches_the_server_with_recipients_subject_and_body(smtp):
    NOTIFIER.send(config(smtp.port), MESSAGE)

    [got] = smtp.received
    assert got.mail_from == "soc@example.org"
    assert got.rcpt_tos == ["ana@example.org", "rex@example.org"]
    assert got.message["Subject"] == "New high alert: Mimikatz on WS-17"
    assert got.message["From"] == "soc@example.org"
    assert got.message["To"] == "ana@example.org, Rex <rex@example.org>"
    assert got.message["Auto-Submitted"] == "auto-generated"
    assert got.message["Message-ID"].endswith("@example.org>")
    assert got.message.get_content_type() == "text/plain"
    assert got.message.get_content().replace("\r\n", "\n") == MESSAGE.text + "\n"
    assert not got.authenticated and not got.tls


def test_channel_addresses_are_used_when_the_notification_has_none(smtp):
    cfg = config(smtp.port, to_addresses="soc@example.org, oncall@example.org")
    NOTIFIER.send(cfg, Message("alert.created", "s", "t"))

    assert smtp.received[0].rcpt_tos == ["soc@example.org", "oncall@example.org"]


def test_no_recipient_at_all_is_a_config_error(smtp):
    with pytest.raises(InvalidInputError, match="no recipients"):
        NOTIFIER.send(config(smtp.port), Message("alert.created", "s", "t"))
    assert smtp.received == []


def test_starttls_and_login(pki):
    with smtp_server(starttls=tls_server_context(pki), login=("soc", "s3cret!")) as server:
        cfg = config(
            server.port,
            security="starttls",
            username="soc",
            password="s3cret!",
            ca_file=str(pki["ca_cert"]),
        )
        NOTIFIER.send(cfg, MESSAGE)

    [got] = server.received
    assert got.tls and got.authenticated
    assert got.message["Subject"] == MESSAGE.subject


def test_wrong_password_is_an_external_error_without_the_password(pki):
    with smtp_server(starttls=tls_server_context(pki), login=("soc", "s3cret!")) as server:
        cfg = config(
            server.port,
            security="starttls",
            username="soc",
            password="wrong-pass",
            ca_file=str(pki["ca_cert"]),
        )
        with pytest.raises(
            ExternalServiceError, match=r"refused the login of 'soc' \(code 535\)"
        ) as err:
            NOTIFIER.send(cfg, MESSAGE)
    assert "wrong-pass" not in str(err.value)
    assert server.received == []


def test_untrusted_certificate_is_refused(pki):
    with smtp_server(starttls=tls_server_context(pki)) as server:
        cfg = config(server.port, security="starttls")  # no ca_file: the test CA is unknown
        with pytest.raises(ExternalServiceError, match="TLS failed: CERTIFICATE_VERIFY_FAILED"):
            NOTIFIER.send(cfg, MESSAGE)
    assert server.received == []


def test_implicit_tls(pki):
    with smtp_server(implicit_tls=tls_server_context(pki)) as server:
        NOTIFIER.send(config(server.port, security="tls", ca_file=str(pki["ca_cert"])), MESSAGE)
    assert server.received[0].tls


def test_starttls_against_a_server_without_it(smtp):
    with pytest.raises(ExternalServiceError, match="does not support STARTTLS"):
        NOTIFIER.send(config(smtp.port, security="starttls"), MESSAGE)


def test_refused_connection():
    port = free_port()
    with pytest.raises(
        ExternalServiceError, match=f"SMTP server 127.0.0.1:{port}: ConnectionRefusedError"
    ):
        NOTIFIER.send(config(port), MESSAGE)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"host": "mail.example.org", "from_address": "Tocsin <soc@example.org>"},
            {
                "host": "mail.example.org",
                "port": 587,
                "security": "starttls",
                "username": None,
                "password": None,
                "from_address": "Tocsin <soc@example.org>",
                "to_addresses": [],
                "timeout": 10.0,
                "verify_tls": True,
                "ca_file": None,
            },
        ),
        (
            {
                "host": " smtp.example.org ",
                "security": "TLS",
                "username": "soc",
                "password": "pw",
                "from_address": "soc@example.org",
                "to_addresses": ["a@example.org", "a@example.org", "b@example.org"],
                "timeout": "5",
                "verify_tls": "false",
            },
            {
                "host": "smtp.example.org",
                "port": 465,
                "security": "tls",
                "username": "soc",
                "password": "pw",
                "from_address": "soc@example.org",
                "to_addresses": ["a@example.org", "b@example.org"],
                "timeout": 5.0,
                "verify_tls": False,
                "ca_file": None,
            },
        ),
    ],
)
def test_validate_fills_defaults(given, expected):
    assert NOTIFIER.validate(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"from_address": "a@example.org"}, "email channel: 'host' is required"),
        ({"host": "h"}, "email channel: 'from_address' is required"),
        ({"host": "h", "from_address": "nobody"}, "'from_address' has an invalid address 'nobody'"),
        (
            {"host": "h", "from_address": "a@b", "security": "ssl"},
            "'security' is 'ssl': use one of",
        ),
        ({"host": "h", "from_address": "a@b", "port": 0}, "'port' is 0: use an integer from 1"),
        ({"host": "h", "from_address": "a@b", "password": "pw"}, "a 'password' needs a 'username'"),
        ({"host": "h", "from_address": "a@b", "username": "u"}, "user 'u' needs a 'password'"),
        ({"host": "h", "from_address": "a@b", "pasword": "x"}, "unknown config key(s) 'pasword'"),
        (
            {"host": "h", "from_address": "a@b", "to_addresses": ["x@y", "bad"]},
            "invalid address 'bad'",
        ),
        ({"host": "h", "from_address": "a@b\r\nBcc: x@y"}, "must be one line"),
        ({"host": "h", "from_address": "a@b", "timeout": 0}, "'timeout' is 0: use a number"),
    ],
)
def test_validate_refuses_bad_configs(given, message):
    with pytest.raises(InvalidInputError) as err:
        NOTIFIER.validate(given)
    assert message in str(err.value)
