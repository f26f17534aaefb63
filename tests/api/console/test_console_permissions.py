"""Every console page is signed-in only and checks its permission, from the app's route list.

A page added later is picked up here: it must declare a permission through ``page(...)`` or
``form(...)`` (None: any signed-in user), or be one of the open login routes.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import ROLE_USERS
from tests.api.console.conftest import new_client, sign_in
from tests.api.test_route_permissions import _UNSET, concrete, declared_permission, flatten
from tocsin.api.console import is_console_path
from tocsin.workspace.permissions import ROLE_PERMISSIONS, Role

pytestmark = pytest.mark.anyio

OPEN_PAGES = {("GET", "/login"), ("POST", "/login")}


def console_routes(app):
    return [
        (method, route.path, route)
        for route in flatten(app.routes)
        for method in sorted(route.methods - {"HEAD"})
        if is_console_path(route.path) and route.path not in ("/healthz",)
    ]


async def test_every_page_declares_a_permission_and_sends_strangers_to_login(ws_api):
    app = ws_api.app()
    routes = console_routes(app)
    assert len(routes) >= 8
    undeclared = [
        (m, p)
        for m, p, r in routes
        if (m, p) not in OPEN_PAGES and declared_permission(r) is _UNSET
    ]
    assert undeclared == []
    async with new_client(ws_api) as client:
        for method, path, _route in routes:
            if (method, path) in OPEN_PAGES:
                continue
            response = await client.request(method, concrete(path), data={"csrf_token": "x"})
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next="), (method, path)


@pytest.mark.parametrize("role", list(Role))
async def test_every_page_refuses_a_role_without_its_permission(ws_api, role):
    app = ws_api.app()
    allowed = {p.value for p in ROLE_PERMISSIONS[role]}
    refused = 0
    async with new_client(ws_api) as client:
        browser = await sign_in(client, ROLE_USERS[role])
        for method, path, route in console_routes(app):
            permission = declared_permission(route)
            if (method, path) in OPEN_PAGES or permission is None or "logout" in path:
                continue
            if method == "GET":
                response = await browser.get(concrete(path))
            else:
                response = await browser.post(concrete(path), {})
            if permission.value in allowed:
                assert response.status_code != 403, (method, path, response.text[:300])
            else:
                assert response.status_code == 403, (method, path, response.status_code)
                assert "Not allowed" in response.text
                refused += 1
    needed = {declared_permission(r) for _m, _p, r in console_routes(app)}
    assert refused == 0 or role is not Role.ADMIN
    if {p.value for p in needed if p not in (None, _UNSET)} - allowed:
        assert refused > 0
