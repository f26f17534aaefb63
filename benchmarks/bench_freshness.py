"""Time from an accepted syslog message to the moment search finds it (budget: 5 s).

    python benchmarks/bench_freshness.py [--messages 20]

Runs the server in process with its default settings (flush every 2 s) on a temporary home,
sends one message at a time over TCP on 127.0.0.1, and polls the search library until the
message is found. Prints the median and the worst delay.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path


async def run(count: int) -> list[float]:
    """Send ``count`` messages one by one; return each one's delay until searchable."""
    from tocsin.api.server import Server
    from tocsin.core.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="tocsin-fresh-")) / "home"
    server = Server(Settings(home=home, syslog_udp_port=None, syslog_tcp_port=0))
    delays: list[float] = []
    await server.start_background()
    try:
        port = server.listener.ports["tcp"]
        for i in range(count):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            sent = time.monotonic()
            writer.write(f"<13>May  1 10:00:00 web01 app[7]: fresh-{i}-marker\n".encode())
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            while time.monotonic() - sent < 60:
                hits = await asyncio.to_thread(server.services.reader.count, f"fresh-{i}-marker")
                if hits:
                    delays.append(time.monotonic() - sent)
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.37)  # spread the sends over the flush cycle
    finally:
        await server.stop_background()
    return delays


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    delays = asyncio.run(run(args.messages))
    print(
        f"{len(delays)} of {args.messages} messages found; delay median "
        f"{statistics.median(delays):.2f} s, worst {max(delays):.2f} s (budget 5 s)"
    )


if __name__ == "__main__":
    main()
