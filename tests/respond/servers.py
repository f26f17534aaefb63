"""Real servers on 127.0.0.1 for the notifier tests: SMTP (aiosmtpd) and HTTP (http.server)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    """A port nothing listens on right now (also the 'server is down' port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# SMTP ----------------------------------------------------------------------------------
@dataclass
class Received:
    """One mail as the SMTP server got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated: bool
    tls: bool


@dataclass
class SmtpServer:
    """A running aiosmtpd server and what it received."""

    port: int
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(content, policy=policy.default),
                bool(session.authenticated),
                session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 OK"


def tls_server_context(pki: dict[str, Path]) -> ssl.SSLContext:
    """The server side of TLS with the test PKI's certificate for 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    return context


@contextmanager
def smtp_server(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    login: tuple[str, str] | None = None,
) -> Iterator[SmtpServer]:
    """Run aiosmtpd on 127.0.0.1: plain, with STARTTLS, or with TLS from the first byte.

    With ``login`` the server requires AUTH (over TLS) and accepts only that user and password.
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    server = SmtpServer(free_port())
    kwargs: dict[str, object] = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if implicit_tls is not None:
        kwargs.update(ssl_context=implicit_tls)
    if login is not None:

        def authenticator(_server, _session, _envelope, _mechanism, auth_data):
            given = (auth_data.login.decode(), auth_data.password.decode())
            return AuthResult(success=given == login, handled=False)

        kwargs.update(authenticator=authenticator, auth_required=True)
    controller = Controller(server, hostname="127.0.0.1", port=server.port, **kwargs)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# HTTP ----------------------------------------------------------------------------------
@dataclass
class Request:
    """One request as the HTTP server got it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpSink:
    """A running HTTP server that records requests and answers with ``statuses`` in turn."""

    port: int
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # next answers; 200 when empty

    def url(self, path: str = "/hook") -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def http_sink() -> Iterator[HttpSink]:
    """Run a ThreadingHTTPServer on 127.0.0.1 in a thread."""
    sink_ref: list[HttpSink] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            sink = sink_ref[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            sink.requests.append(
                Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status = sink.statuses.pop(0) if sink.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):  # noqa: A002 - http.server's signature
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink_ref.append(HttpSink(httpd.server_address[1]))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield sink_ref[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
