"""The FastAPI application: routers, error mapping, health."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tocsin import __version__
from tocsin.api import (
    routes_alerts,
    routes_audit,
    routes_auth,
    routes_blocklist,
    routes_cases,
    routes_discovery,
    routes_dns,
    routes_ingest,
    routes_mail,
    routes_metrics,
    routes_notifications,
    routes_pcap,
    routes_search,
    routes_sla,
    routes_users,
)
from tocsin.api.console import console_error, is_console_path, mount_console
from tocsin.api.deps import Services, error_response, require, services
from tocsin.core.errors import TocsinError
from tocsin.lake.maintenance import lake_stats
from tocsin.workspace.permissions import Permission, Principal

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    svc: Services,
    *,
    lifespan: Lifespan | None = None,
    health_extra: Callable[[], dict[str, object]] | None = None,
) -> FastAPI:
    """Build the app around the given services."""
    docs = svc.settings.api_docs
    app = FastAPI(
        title="Tocsin",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs" if docs else None,
        redoc_url=None,
        openapi_url="/api/openapi.json" if docs else None,
    )
    app.state.services = svc

    @app.exception_handler(TocsinError)
    async def _tocsin_error(request: Request, exc: TocsinError) -> Response:
        response = error_response(exc)
        if is_console_path(request.url.path):
            return console_error(request, exc, response.status_code)
        return response

    @app.get("/openapi.json", tags=["health"], include_in_schema=False)
    async def openapi(
        _actor: Annotated[Principal, Depends(require(Permission.HEALTH_READ))],
    ) -> JSONResponse:
        """The OpenAPI description of this API (for signed-in clients and code generators)."""
        return JSONResponse(app.openapi())

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness for load balancers: says nothing but that the server answers."""
        return {"status": "ok"}

    @app.get("/api/v1/health", tags=["health"])
    async def health(
        _actor: Annotated[Principal, Depends(require(Permission.HEALTH_READ))],
        current: Annotated[Services, Depends(services)],
    ) -> dict[str, object]:
        """Ingest health: lake datasets, spool backlog, listeners."""
        body: dict[str, object] = {
            "status": "ok",
            "version": __version__,
            "datasets": [s.to_row() for s in lake_stats(current.settings.lake_dir)],
            "spool_pending_bytes": current.spool.pending_bytes() if current.spool else None,
        }
        if health_extra is not None:
            body.update(health_extra())
        return body

    for module in (
        routes_auth,
        routes_users,
        routes_audit,
        routes_alerts,
        routes_cases,
        routes_blocklist,
        routes_sla,
        routes_metrics,
        routes_notifications,
        routes_ingest,
        routes_search,
        routes_mail,
        routes_dns,
        routes_pcap,
        routes_discovery,
    ):
        app.include_router(module.router)
    mount_console(app)
    return app
