"""The console over a real workspace: a signed-in browser-like client per role."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

import httpx
import pytest

from tests.api.conftest import ROLE_USERS, TEST_PASSWORD
from tocsin.workspace.permissions import Role

_CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')
_FORM_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Browser:
    """A cookie-keeping client signed in as one user, with the page's CSRF token."""

    client: httpx.AsyncClient
    csrf: str
    last_page: str = "/"

    async def get(self, url: str, **kwargs):
        response = await self.client.get(url, **kwargs)
        self.last_page = url
        return response

    async def post(self, url: str, data: dict | None = None, **kwargs):
        """Submit a form as the page would: with the CSRF token and the page as the Referer,
        not following the redirect."""
        body = {"csrf_token": self.csrf, **(data or {})}
        headers = {"Referer": f"http://tocsin{self.last_page}", **kwargs.pop("headers", {})}
        return await self.client.post(url, data=body, headers=headers, **kwargs)


async def login_token(client: httpx.AsyncClient) -> str:
    """The CSRF token of a fresh login form."""
    form = await client.get("/login")
    token = _FORM_CSRF.search(form.text)
    assert token, form.text
    return token[1]


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = TEST_PASSWORD
) -> Browser:
    """Sign in through the login form, as a person would."""
    token = await login_token(client)
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
    )
    assert response.status_code == 303, response.text
    page = await client.get("/alerts")
    csrf = _CSRF.search(page.text)
    return Browser(client, csrf[1] if csrf else "")


def page_csrf(html: str) -> str:
    found = _CSRF.search(html)
    return found[1] if found else ""


def new_client(ws_api) -> httpx.AsyncClient:
    """A browser-like client of the real app (cookies kept, redirects not followed)."""
    transport = httpx.ASGITransport(app=ws_api.app())
    return httpx.AsyncClient(transport=transport, base_url="http://tocsin")


@pytest.fixture
async def console(ws_api):
    """A factory: ``await console(Role.ANALYST)`` gives a signed-in browser for that role."""
    clients: list[httpx.AsyncClient] = []

    async def open_as(role: Role = Role.ADMIN) -> Browser:
        client = new_client(ws_api)
        clients.append(client)
        return await sign_in(client, ROLE_USERS[role])

    yield open_as
    for client in clients:
        await client.aclose()


@pytest.fixture
async def anonymous(ws_api):
    async with new_client(ws_api) as client:
        yield client


@pytest.fixture
def db_url(tmp_path, migrated_templates):
    """The console runs on SQLite only: the services under it are tested on both engines."""
    target = tmp_path / "workspace.db"
    shutil.copyfile(migrated_templates["sqlite"], target)
    return f"sqlite:///{target}"
