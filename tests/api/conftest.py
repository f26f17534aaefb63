"""An API over a real home in tmp_path: workspace database, spool, consumer and lake."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tocsin.api.app import create_app
from tocsin.api.deps import Services
from tocsin.core.settings import Settings
from tocsin.ingest.consumer import SpoolConsumer
from tocsin.ingest.spool import Spool
from tocsin.lake.layout import list_files
from tocsin.lake.reader import LakeReader
from tocsin.workspace.db import Database
from tocsin.workspace.tokens import TokenService


@dataclass
class Api:
    """The parts of one API under test, and a token per scope."""

    settings: Settings
    spool: Spool
    consumer: SpoolConsumer
    tokens: TokenService
    services: Services
    ingest_token: str
    read_token: str

    def client(self) -> httpx.AsyncClient:
        """An HTTP client talking to the real app in process."""
        app = create_app(self.services)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tocsin")

    def lake_rows(self, dataset: str | None = None) -> int:
        """Events in the lake (all datasets, or one)."""
        datasets = [dataset] if dataset else None
        return sum(f.rows for f in list_files(self.settings.lake_dir, datasets=datasets))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(tmp_path):
    settings = Settings(home=tmp_path / "home", flush_seconds=0.05)
    db = Database(settings.workspace_url)
    spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
    consumer = SpoolConsumer(settings, spool, detection=False)
    tokens = TokenService(db)
    ingest_token, _ = tokens.create("forwarder", ["ingest"])
    read_token, _ = tokens.create("analyst", ["read"])
    services = Services(
        settings=settings, tokens=tokens, reader=LakeReader(settings.lake_dir), spool=spool
    )
    parts = Api(settings, spool, consumer, tokens, services, ingest_token, read_token)
    yield parts
    parts.spool.close()  # the test may have replaced it
    db.close()
