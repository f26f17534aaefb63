"""Every route is authenticated and authorised, generated from the app's route list.

A route added later is picked up here automatically: it must declare a permission through
``require(...)`` (or ``signed_in``) or be on the short list of open routes, and it is then
called without credentials and by every role.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from tocsin.api.console import is_console_path
from tocsin.workspace.permissions import ROLE_PERMISSIONS, Role

pytestmark = pytest.mark.anyio

OPEN_ROUTES = {("POST", "/api/v1/auth/login"), ("GET", "/healthz")}
_UNSET = object()


def declared_permission(route: APIRoute) -> object:
    """The permission a route's auth dependency declares (None: any signed-in caller)."""
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        if dep.call is not None and hasattr(dep.call, "permission"):
            return dep.call.permission
        pending.extend(dep.dependencies)
    return _UNSET


def flatten(routes) -> list[APIRoute]:
    """API routes, looking inside included routers (FastAPI wraps them since 0.16x)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif isinstance(getattr(route, "app", None), StaticFiles):
            continue  # the console's CSS and scripts: public files, no data
        elif hasattr(route, "original_router"):
            found.extend(flatten(route.original_router.routes))
        elif hasattr(route, "routes"):
            found.extend(flatten(route.routes))
        else:
            raise AssertionError(f"a route this test cannot inspect: {route!r}")
    return found


def api_routes(app) -> list[tuple[str, str, APIRoute]]:
    """The JSON API's routes (the console's pages are walked in tests/api/console)."""
    return [
        (method, route.path, route)
        for route in flatten(app.routes)
        for method in sorted(route.methods - {"HEAD"})
        if not is_console_path(route.path)
    ]


def concrete(path: str) -> str:
    """Fill path parameters with an id that does not exist."""
    return re.sub(r"\{[^}]+\}", "999999", path)


async def test_the_openapi_list_and_the_routes_agree_and_all_are_guarded(ws_api):
    app = ws_api.app()
    routes = api_routes(app)
    async with ws_api.client(app) as client:
        schema = await client.get("/openapi.json", headers=ws_api.headers(Role.READ_ONLY))
        assert schema.status_code == 200
        assert (await client.get("/openapi.json")).status_code == 401
    documented = {
        (method.upper(), path)
        for path, operations in schema.json()["paths"].items()
        for method in operations
    }
    registered = {(m, p) for m, p, _r in routes}
    assert documented <= registered
    # every documented route is in the test below; only /openapi.json itself is undocumented
    assert registered - documented == {("GET", "/openapi.json")}
    unguarded = [
        (m, p)
        for m, p, r in routes
        if (m, p) not in OPEN_ROUTES and declared_permission(r) is _UNSET
    ]
    assert unguarded == []
    assert len(routes) > 60  # the whole workspace API is here


async def test_every_route_refuses_a_request_without_credentials(ws_api):
    app = ws_api.app()
    async with ws_api.client(app) as client:
        for method, path, _route in api_routes(app):
            if (method, path) in OPEN_ROUTES:
                continue
            response = await client.request(method, concrete(path), json={})
            assert response.status_code == 401, (method, path, response.text)
            forged = await client.request(
                method, concrete(path), json={}, headers={"Authorization": "Bearer tcn_x_y"}
            )
            assert forged.status_code == 401, (method, path)


@pytest.mark.parametrize("role", list(Role))
async def test_every_route_refuses_a_role_without_its_permission(ws_api, role):
    app = ws_api.app()
    allowed = ROLE_PERMISSIONS[role]
    checked = 0
    async with ws_api.client(app) as client:
        for method, path, route in api_routes(app):
            permission = declared_permission(route)
            if (method, path) in OPEN_ROUTES or permission is None:
                continue
            response = await client.request(
                method, concrete(path), json={}, headers=ws_api.headers(role)
            )
            if permission in allowed:
                assert response.status_code not in (401, 403), (method, path, response.text)
            else:
                assert response.status_code == 403, (method, path, response.status_code)
                assert response.json()["error"] == "PermissionDeniedError"
                checked += 1
    if role is not Role.ADMIN:
        assert checked > 0


async def test_an_ingest_token_reaches_nothing_but_ingest(ws_api):
    token, _ = ws_api.workspace.tokens.create("forwarder", ["ingest"])
    app = ws_api.app()
    async with ws_api.client(app) as client:
        for method, path, route in api_routes(app):
            permission = declared_permission(route)
            if (method, path) in OPEN_ROUTES or permission is None:
                continue
            response = await client.request(
                method, concrete(path), json={}, headers={"Authorization": f"Bearer {token}"}
            )
            if path == "/api/v1/ingest":
                assert response.status_code not in (401, 403)
            else:
                assert response.status_code == 403, (method, path)
