"""The ``Server`` wiring in process: listeners, consumer, API and a graceful stop."""

import asyncio
import socket
import ssl

import httpx
import orjson
import pytest

from tests.api.conftest import bearer
from tests.ingest.pki import make_pki
from tocsin.api.server import Server
from tocsin.core.settings import Settings
from tocsin.lake.layout import list_files


def line(proto, i):
    return f"<13>May  1 10:00:00 web01 app[7]: {proto} seq={i}\n".encode()


@pytest.mark.network
def test_server_runs_every_listener_and_drains_on_stop(tmp_path):
    pki = make_pki(tmp_path)
    settings = Settings(
        home=tmp_path / "home",
        syslog_udp_port=0,
        syslog_tcp_port=0,
        syslog_tls_port=0,
        syslog_tls_cert=pki["server_cert"],
        syslog_tls_key=pki["server_key"],
        syslog_tls_client_ca=pki["ca_cert"],
        flush_seconds=60.0,  # only the stop's drain writes the lake
        compact_interval_seconds=0,
        retention_interval_seconds=0,
    )
    server = Server(settings)
    ingest_token, _ = server.workspace.tokens.create("forwarder", ["ingest"])
    read_token, _ = server.workspace.tokens.create("watcher", ["read"])
    client_tls = ssl.create_default_context(cafile=str(pki["ca_cert"]))
    client_tls.load_cert_chain(pki["client_cert"], pki["client_key"])

    async def send(port, payload, tls=None):
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname="127.0.0.1" if tls else None
        )
        writer.write(payload)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def scenario():
        await server.start_background()
        transport = httpx.ASGITransport(app=server.app)
        try:
            ports = server.listener.ports
            assert set(ports) == {"udp", "tcp", "tls"}
            await send(ports["tcp"], b"".join(line("tcp", i) for i in range(10)))
            await send(ports["tls"], b"".join(line("tls", i) for i in range(10)), client_tls)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for i in range(10):
                    sock.sendto(line("udp", i), ("127.0.0.1", ports["udp"]))
            async with httpx.AsyncClient(transport=transport, base_url="http://tocsin") as client:
                body = b"\n".join(orjson.dumps({"message": f"http seq={i}"}) for i in range(10))
                posted = await client.post(
                    "/api/v1/ingest", content=body, headers=bearer(ingest_token)
                )
                assert posted.status_code == 202
                for _ in range(500):
                    health = (await client.get("/api/v1/health", headers=bearer(read_token))).json()
                    if health["syslog_messages"] == 30:
                        break
                    await asyncio.sleep(0.01)
                assert health["syslog_messages"] == 30
                assert health["listeners"] == ports
                assert health["spool_pending_bytes"] > 0
                # compaction and retention are off here; the workspace jobs and the DNS and
                # network analytics run (intel feeds only when a URL feed is configured)
                assert set(health["jobs"]) == {
                    "workspace.sla",
                    "respond.notify",
                    "dns.hunt",
                    "net.hunt",
                }
        finally:
            await server.stop_background()

    asyncio.run(scenario())
    rows = {
        dataset: sum(f.rows for f in list_files(settings.lake_dir, datasets=[dataset]))
        for dataset in ("syslog", "json")
    }
    assert rows == {"syslog": 30, "json": 10}
    assert sum(f.rows for f in list_files(settings.lake_dir)) == 40
    assert server.consumer.committed == server.spool.end()
    assert server.consumer.quarantine.count() == 0
