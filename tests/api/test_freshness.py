"""An accepted event becomes searchable while the server runs, by the periodic flush alone."""

import asyncio
import time

import pytest

from tocsin.api.server import Server
from tocsin.core.settings import Settings


@pytest.mark.network
def test_an_accepted_syslog_message_is_searchable_without_a_stop(tmp_path):
    settings = Settings(
        home=tmp_path / "home",
        syslog_udp_port=None,
        syslog_tcp_port=0,
        flush_seconds=1.0,
        compact_interval_seconds=0,
        retention_interval_seconds=0,
    )
    server = Server(settings)
    found_after: list[float] = []

    async def scenario():
        await server.start_background()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", server.listener.ports["tcp"])
            sent = time.monotonic()
            writer.write(b"<13>May  1 10:00:00 web01 app[7]: freshness marker 4711\n")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            # bounded wait: the flush interval is 1 s; a missing flush would never deliver
            deadline = sent + 30
            while time.monotonic() < deadline:
                hits = await asyncio.to_thread(server.services.reader.search, "4711")
                if hits.events:
                    found_after.append(time.monotonic() - sent)
                    assert hits.events[0]["message"] == "freshness marker 4711"
                    return
                await asyncio.sleep(0.1)
        finally:
            await server.stop_background()

    asyncio.run(scenario())
    assert found_after, "the event never became searchable while the server ran"
