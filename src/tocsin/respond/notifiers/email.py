"""E-mail through an SMTP server (stdlib ``smtplib``): plain-text messages to the subscribers.

Config keys: ``host`` and ``from_address`` (required); ``port`` (default 25, 587 with
``starttls``, 465 with ``tls``); ``security`` ``none`` | ``starttls`` | ``tls`` (default
``starttls``); ``username`` and ``password`` for AUTH; ``to_addresses``, used when a notification
has no recipients of its own (a channel-wide subscription); ``timeout`` in seconds (default 10);
``verify_tls`` (default true) and ``ca_file`` (a PEM bundle for a private CA).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any, ClassVar

from tocsin.core.errors import ExternalServiceError, InvalidInputError
from tocsin.respond.base import Message, short_error
from tocsin.respond.notifiers import _config as cfg

logger = logging.getLogger(__name__)

SECURITY = ("none", "starttls", "tls")
_DEFAULT_PORT = {"none": 25, "starttls": 587, "tls": 465}


def build_email(config: Mapping[str, Any], message: Message, recipients: list[str]) -> EmailMessage:
    """The plain-text message as it goes on the wire."""
    sender = str(config["from_address"])
    domain = parseaddr(sender)[1].rpartition("@")[2] or "tocsin.invalid"
    mail = EmailMessage()
    mail["Subject"] = " ".join(message.subject.split())[:300]
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(localtime=False)
    # make_msgid without a domain would look up the host name (slow, or wrong, in containers)
    mail["Message-ID"] = make_msgid(domain=domain)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    mail["X-Tocsin-Event"] = message.event
    mail.set_content(message.text + "\n")
    return mail


def _context(config: Mapping[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.get("ca_file") or None)
    if not config.get("verify_tls", True):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class EmailNotifier:
    """Send notifications as e-mail through SMTP."""

    kind: str = "email"
    secret_keys: tuple[str, ...] = ("password",)
    _KEYS: ClassVar[tuple[str, ...]] = (
        "host",
        "port",
        "security",
        "username",
        "password",
        "from_address",
        "to_addresses",
        "timeout",
        "verify_tls",
        "ca_file",
    )

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check the SMTP settings; fill in the port from ``security`` when not given."""
        kind = self.kind
        cfg.check_keys(kind, config, self._KEYS)
        host = cfg.text(kind, config, "host", required=True)
        if host is not None and any(c.isspace() or c in "/@" for c in host):
            raise InvalidInputError(f"email channel: 'host' {host!r} is not a host name")
        security = cfg.choice(kind, config, "security", options=SECURITY, default="starttls")
        port = cfg.integer(kind, config, "port", default=_DEFAULT_PORT[security], low=1, high=65535)
        username = cfg.text(kind, config, "username")
        password = cfg.text(kind, config, "password", secret=True)
        if password and not username:
            raise InvalidInputError("email channel: a 'password' needs a 'username'")
        if username and not password:
            raise InvalidInputError(f"email channel: user {username!r} needs a 'password'")
        from_address = cfg.address(
            kind, "from_address", cfg.text(kind, config, "from_address", required=True)
        )
        return {
            "host": host,
            "port": port,
            "security": security,
            "username": username,
            "password": password,
            "from_address": from_address,
            "to_addresses": cfg.addresses(kind, config, "to_addresses"),
            "timeout": cfg.number(kind, config, "timeout", default=10, low=0, high=300),
            "verify_tls": cfg.boolean(kind, config, "verify_tls", default=True),
            "ca_file": cfg.text(kind, config, "ca_file"),
        }

    def send(self, config: Mapping[str, Any], message: Message) -> None:
        """Send one e-mail to the message's recipients, else to the channel's ``to_addresses``.

        Raises:
            InvalidInputError: nobody to send to.
            ExternalServiceError: the server refused the connection, TLS, the login or the mail.
        """
        recipients = list(message.recipients) or list(config.get("to_addresses") or [])
        if not recipients:
            raise InvalidInputError(
                "email channel: no recipients: the subscribers have no e-mail address and "
                "the channel has no 'to_addresses'"
            )
        host, port = str(config["host"]), int(config["port"])
        security = str(config.get("security", "starttls"))
        timeout = float(config.get("timeout", 10))
        where = f"SMTP server {host}:{port}"
        mail = build_email(config, message, recipients)
        sender = parseaddr(str(config["from_address"]))[1]
        try:
            client: smtplib.SMTP
            if security == "tls":
                client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=_context(config))
            else:
                client = smtplib.SMTP(host, port, timeout=timeout)
            with client:
                if security == "starttls":
                    client.starttls(context=_context(config))
                if config.get("username"):
                    client.login(str(config["username"]), str(config.get("password") or ""))
                refused = client.send_message(
                    mail, from_addr=sender, to_addrs=[parseaddr(r)[1] for r in recipients]
                )
        except smtplib.SMTPAuthenticationError as exc:
            raise ExternalServiceError(
                f"{where} refused the login of {config.get('username')!r} (code {exc.smtp_code})"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ExternalServiceError(
                f"{where} does not support {security.upper()} or AUTH: check 'security'"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise ExternalServiceError(
                f"{where} refused all {len(exc.recipients)} recipients"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise ExternalServiceError(f"{where} answered {exc.smtp_code}") from exc
        except ssl.SSLError as exc:
            raise ExternalServiceError(
                f"{where}: TLS failed: {short_error(exc.reason or str(exc), limit=120)}"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            detail = short_error(str(exc), limit=160)
            raise ExternalServiceError(
                f"{where}: {type(exc).__name__}" + (f": {detail}" if detail else "")
            ) from exc
        if refused:
            logger.warning(
                "smtp server refused some recipients",
                extra={"refused": len(refused), "accepted": len(recipients) - len(refused)},
            )
