"""Syslog over TCP into a running `tocsin serve`: sustained rate, and count in == count stored.

    python benchmarks/bench_syslog_tcp.py [--seconds 60] [--rate 50000] [--connections 2]

Starts `tocsin serve` on 127.0.0.1 with a fresh home, sends RFC 5424 messages (each with a
unique sequence number) over newline-framed TCP at ``--rate`` messages/s (0 = as fast as the
server takes them) for ``--seconds``, stops the server gracefully (it drains its spool into the
lake), then counts the events in the lake and the distinct sequence numbers. Only loopback
traffic; the loops are bounded in count and time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from datagen import syslog_line  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not open port {port}")


def sender(
    port: int, first: int, step: int, rate: float, seconds: float, counts: list[int], slot: int
) -> None:
    """Send messages first, first+step, ... at ``rate``/s (0: flat out) for ``seconds``."""
    rng = random.Random(first)  # noqa: S311 - benchmark data
    # Message bodies made once; only the sequence number changes, so the sender stays cheap.
    bodies = [syslog_line(i, rng).rsplit(b" seq=", 1)[0] + b" seq=" for i in range(1000)]
    batch = 500
    sent = 0
    seq = first
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= seconds:
                break
            if rate and sent > rate * elapsed:
                time.sleep(0.001)
                continue
            lines = [b"%s%d" % (bodies[(seq + k) % 1000], seq + k * step) for k in range(batch)]
            seq += batch * step
            sock.sendall(b"\n".join(lines) + b"\n")
            sent += batch
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # wait for the server to close after reading everything
    counts[slot] = sent


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=50_000.0, help="0 = as fast as possible")
    parser.add_argument("--connections", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tocsin-syslog-bench-"))
    tcp, http = free_port(), free_port()
    env = dict(
        os.environ,
        TOCSIN_HOME=str(work / "home"),
        TOCSIN_SYSLOG_TCP_PORT=str(tcp),
        TOCSIN_SYSLOG_UDP_PORT="",
        TOCSIN_PORT=str(http),
    )
    env.pop("TOCSIN_SYSLOG_UDP_PORT")
    server = subprocess.Popen(
        [sys.executable, "-c", "from tocsin.cli import main; main()", "serve", "--port", str(http)],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_port(tcp)
        except SystemExit:
            server.kill()
            print(server.communicate()[1].decode(errors="replace")[-3000:], file=sys.stderr)
            raise
        counts = multiprocessing.Array("q", args.connections)
        per_connection = args.rate / args.connections if args.rate else 0.0
        threads = [
            multiprocessing.Process(
                target=sender,
                args=(tcp, i, args.connections, per_connection, args.seconds, counts, i),
            )
            for i in range(args.connections)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.seconds + 120)
            if thread.is_alive():
                thread.kill()
        elapsed = time.monotonic() - started
        sent = sum(counts)
        print(
            f"sent {sent:,} messages in {elapsed:.1f} s = {sent / elapsed:,.0f} msg/s "
            f"over {args.connections} connections (target {args.rate:,.0f}/s)"
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, err = server.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
    import duckdb

    lake = work / "home" / "lake"
    files = [str(p) for p in lake.rglob("*.parquet")]
    row = duckdb.sql(
        "SELECT count(*), count(DISTINCT regexp_extract(message, 'seq=(\\d+)', 1)) "
        "FROM read_parquet(?, union_by_name = true)",
        params=[files],
    ).fetchall()[0]
    stored, distinct = row
    lost = sent - distinct
    print(
        f"stored {stored:,} events, {distinct:,} distinct sequence numbers; "
        f"lost {lost:,}, duplicated {stored - distinct:,}"
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"server peak RSS {peak:,.0f} MiB")
    if lost or stored != distinct:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
        raise SystemExit(1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
