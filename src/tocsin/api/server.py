"""``tocsin serve``: the API, the syslog listeners, the spool consumer and the scheduler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from tocsin.api.app import create_app
from tocsin.api.deps import Services
from tocsin.core.plugins import default_registry
from tocsin.core.scheduler import Scheduler
from tocsin.core.settings import Settings
from tocsin.ingest.consumer import SpoolConsumer
from tocsin.ingest.listeners import SyslogListener, tls_context
from tocsin.ingest.spool import Spool
from tocsin.lake.reader import LakeReader
from tocsin.workspace.service import Workspace

logger = logging.getLogger(__name__)


@dataclass
class Server:
    """Everything ``tocsin serve`` runs, wired together (tests start it in-process too)."""

    settings: Settings
    syslog: bool = True
    spool: Spool = field(init=False)
    consumer: SpoolConsumer = field(init=False)
    listener: SyslogListener = field(init=False)
    scheduler: Scheduler = field(init=False)
    services: Services = field(init=False)
    app: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.workspace = Workspace.open(settings)
        # the first start makes an admin with a one-time password (never a default one)
        self.first_admin_password = self.workspace.users.ensure_first_admin()
        self.spool = Spool(
            settings.spool_dir, max_bytes=settings.spool_max_bytes, fsync=settings.spool_fsync
        )
        self.consumer = SpoolConsumer(settings, self.spool)
        self.listener = SyslogListener(self.spool, host=settings.host)
        self.scheduler = Scheduler(settings)
        for job_cls in default_registry().load_all("tocsin.jobs").values():
            self.scheduler.add(job_cls())
        self.services = Services(
            settings=settings,
            workspace=self.workspace,
            reader=LakeReader(
                settings.lake_dir,
                threads=settings.duckdb_threads,
                memory_limit=settings.duckdb_memory_limit,
            ),
            spool=self.spool,
        )
        self.app = create_app(self.services, lifespan=self.lifespan, health_extra=self.health)

    def health(self) -> dict[str, object]:
        """Listener and consumer figures for the health route."""
        stats = self.listener.stats
        return {
            "listeners": dict(self.listener.ports),
            "syslog_messages": stats.messages,
            "syslog_dropped": stats.dropped,
            "consumer_committed": str(self.consumer.committed),
            "consumer_records": self.consumer.events_in,
            "quarantined": self.consumer.pipeline.stats.quarantined,
            "jobs": {
                job_id: {
                    "runs": s.runs,
                    "failures": s.failures,
                    "last": s.last_summary,
                    "error": s.last_error,
                }
                for job_id, s in self.scheduler.states.items()
            },
        }

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        """Start listeners, consumer and scheduler with the app; stop them after."""
        await self.start_background()
        try:
            yield
        finally:
            await self.stop_background()

    async def start_background(self) -> None:
        """Start the consumer, the scheduler and the listeners."""
        self.consumer.start()
        self.scheduler.start()
        settings = self.settings
        if not self.syslog:
            return
        if settings.syslog_udp_port is not None:
            await self.listener.start_udp(settings.syslog_udp_port)
        if settings.syslog_tcp_port is not None:
            await self.listener.start_tcp(settings.syslog_tcp_port)
        if settings.syslog_tls_port is not None:
            if settings.syslog_tls_cert is None or settings.syslog_tls_key is None:
                logger.error("TLS syslog needs syslog_tls_cert and syslog_tls_key; not started")
            else:
                context = tls_context(
                    settings.syslog_tls_cert, settings.syslog_tls_key, settings.syslog_tls_client_ca
                )
                await self.listener.start_tcp(settings.syslog_tls_port, tls=context)
        logger.info("listeners started", extra={"ports": self.listener.ports})

    async def stop_background(self) -> None:
        """Stop listeners, then drain the spool into the lake, then stop the scheduler."""
        await self.listener.stop()
        self.consumer.stop()
        self.scheduler.stop()
        self.spool.close()
        self.workspace.close()


def run_server(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    syslog: bool = True,
    banner: str | None = None,
) -> None:
    """Run ``tocsin serve`` in the foreground until interrupted."""
    import sys

    if host:
        settings = settings.model_copy(update={"host": host})
    if port:
        settings = settings.model_copy(update={"port": port})
    server = Server(settings, syslog=syslog)
    url = f"http://{settings.host}:{settings.port}"
    docs = f" (API docs: {url}/api/docs)" if settings.api_docs else ""
    sys.stderr.write(f"tocsin serving on {url}{docs}\n")
    if server.first_admin_password:
        sys.stderr.write(
            "first start: created user 'admin' with the one-time password "
            f"{server.first_admin_password}\n  (it must be changed at first login; this is the "
            "only time it is shown)\n"
        )
    if banner:
        sys.stderr.write(banner)
    uvicorn.run(
        server.app, host=settings.host, port=settings.port, log_level="warning", access_log=False
    )
