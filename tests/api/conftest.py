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
from tocsin.workspace.permissions import Principal, Role
from tocsin.workspace.service import Workspace
from tocsin.workspace.tables import User
from tocsin.workspace.tokens import TokenService
from tocsin.workspace.users import hash_password


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
    workspace = Workspace.open(settings)
    spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
    consumer = SpoolConsumer(settings, spool, detection=False)
    tokens = workspace.tokens
    ingest_token, _ = tokens.create("forwarder", ["ingest"])
    read_token, _ = tokens.create("analyst", ["read"])
    services = Services(
        settings=settings, workspace=workspace, reader=LakeReader(settings.lake_dir), spool=spool
    )
    parts = Api(settings, spool, consumer, tokens, services, ingest_token, read_token)
    yield parts
    parts.spool.close()  # the test may have replaced it
    workspace.close()


TEST_PASSWORD = "correct horse battery staple"
_HASHES: dict[str, str] = {}


def test_password_hash() -> str:
    """The argon2 hash of TEST_PASSWORD, computed once per run (hashing is slow on purpose)."""
    if "h" not in _HASHES:
        _HASHES["h"] = hash_password(TEST_PASSWORD)
    return _HASHES["h"]


test_password_hash.__test__ = False  # type: ignore[attr-defined]

ROLE_USERS = {
    Role.ADMIN: "ada",
    Role.ANALYST: "ana",
    Role.RESPONDER: "rex",
    Role.READ_ONLY: "rita",
}


@dataclass
class WsApi:
    """A real workspace (SQLite or PostgreSQL) behind the real app, with a user per role.

    Each user has a bearer token with the ``write`` scope (``admin`` for the admin), so what a
    request may do is decided by the user's role, as in production. Users sign in with
    TEST_PASSWORD. Teams "Security" (ana, rex) and "IT operations" (rita) exist.
    """

    settings: Settings
    workspace: Workspace
    services: Services
    tokens: dict[Role, str]
    user_ids: dict[Role, int]
    team_ids: dict[str, int]

    def app(self):
        return create_app(self.services)

    def client(self, app=None) -> httpx.AsyncClient:
        """An HTTP client talking to the real app in process."""
        transport = httpx.ASGITransport(app=app or self.app())
        return httpx.AsyncClient(transport=transport, base_url="http://tocsin")

    def headers(self, role: Role) -> dict[str, str]:
        """Bearer headers of the user of ``role``."""
        return bearer(self.tokens[role])

    def username(self, role: Role) -> str:
        return ROLE_USERS[role]


@pytest.fixture
def ws_api(tmp_path, db_url):
    from datetime import UTC, datetime

    settings = Settings(home=tmp_path / "home", database_url=db_url, flush_seconds=0.05)
    workspace = Workspace.open(settings)
    system = Principal.system("test-setup")
    now = datetime.now(UTC)
    user_ids: dict[Role, int] = {}
    with workspace.db.session() as session:
        for role, name in ROLE_USERS.items():
            user = User(
                username=name,
                display_name=name.title(),
                email=f"{name}@example.org",
                role=role.value,
                password_hash=test_password_hash(),
                must_change_password=False,
                disabled=False,
                created_at=now,
            )
            session.add(user)
            session.flush()
            user_ids[role] = user.id
    team_ids = {}
    for team, members in (("Security", ("ana", "rex")), ("IT operations", ("rita",))):
        team_ids[team] = workspace.users.create_team(system, team).id
        for member in members:
            workspace.users.add_member(system, team, member)
    tokens = {}
    for role, name in ROLE_USERS.items():
        scope = "admin" if role is Role.ADMIN else "write"
        tokens[role], _ = workspace.users.create_token(system, f"{name}-token", [scope], user=name)
    services = Services(
        settings=settings, workspace=workspace, reader=LakeReader(settings.lake_dir)
    )
    yield WsApi(settings, workspace, services, tokens, user_ids, team_ids)
    workspace.close()
