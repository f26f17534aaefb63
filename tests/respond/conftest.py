"""Real SMTP and HTTP servers on 127.0.0.1, test certificates, and the workspace fixtures."""

from __future__ import annotations

import pytest

from tests.respond.servers import http_sink, smtp_server
from tests.workspace.conftest import admin, analyst, db, reader, responder  # noqa: F401


@pytest.fixture
def smtp():
    with smtp_server() as server:
        yield server


@pytest.fixture
def sink():
    with http_sink() as server:
        yield server


@pytest.fixture
def pki(tmp_path):
    pytest.importorskip("cryptography", reason="the STARTTLS tests need 'cryptography'")
    from tests.ingest.pki import make_pki

    return make_pki(tmp_path)
