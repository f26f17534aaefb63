"""``tocsin serve`` killed with SIGKILL mid-stream loses no accepted message and doubles none."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import httpx
import orjson
import pytest

from tests.api.conftest import bearer
from tocsin.core.settings import load_settings
from tocsin.lake.layout import list_files
from tocsin.workspace.db import Database
from tocsin.workspace.tokens import TokenService

pytestmark = [pytest.mark.integration, pytest.mark.network]

SYSLOG_MESSAGES = 20_000
CONNECTIONS = 4
HTTP_BATCHES = 5
HTTP_EVENTS = 200


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    """One ``tocsin serve`` subprocess on the given home and ports."""

    def __init__(self, home: Path, http_port: int, tcp_port: int, udp_port: int, run: int):
        env = {
            **os.environ,
            "TOCSIN_HOME": str(home),
            "TOCSIN_SYSLOG_TCP_PORT": str(tcp_port),
            "TOCSIN_SYSLOG_UDP_PORT": str(udp_port),
            "TOCSIN_FLUSH_SECONDS": "0.2",
        }
        self.url = f"http://127.0.0.1:{http_port}"
        self.log = home.parent / f"serve-{run}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from tocsin.cli import main; main()",
                    "serve",
                    "--port",
                    str(http_port),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, client: httpx.Client, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"tocsin serve exited early:\n{self.output()}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"tocsin serve did not answer:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def health(client, serve, read_token):
    response = client.get(f"{serve.url}/api/v1/health", headers=bearer(read_token), timeout=5.0)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def send_syslog(port, first, count):
    """Send messages on one connection and close it cleanly: when the server closes its side
    too, it has read (and spooled) everything sent before our end of stream."""
    payload = b"".join(
        f"<13>May  1 10:00:00 web01 app[7]: acked seq={i}\n".encode()
        for i in range(first, first + count)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass


class Firehose(threading.Thread):
    """Keeps sending (never acknowledged) messages until the server dies."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.sent = 0
        self.stop = threading.Event()

    def run(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                while not self.stop.is_set():
                    batch = b"".join(
                        f"<13>May  1 10:00:00 web01 app[7]: unacked seq={i}\n".encode()
                        for i in range(self.sent, self.sent + 100)
                    )
                    sock.sendall(batch)
                    self.sent += 100
                    time.sleep(0.001)
        except OSError:
            pass  # the server was killed


def lake_messages(lake):
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT message FROM read_parquet(?, union_by_name=true)", [f"{lake}/**/*.parquet"]
        ).fetchall()
    return [row[0] for row in rows]


def test_serve_killed_mid_stream_loses_and_doubles_nothing(tmp_path):
    home = tmp_path / "home"
    settings = load_settings(home=home)
    db = Database(settings.workspace_url)
    tokens = TokenService(db)
    ingest_token, _ = tokens.create("forwarder", ["ingest"])
    read_token, _ = tokens.create("watcher", ["read"])
    db.close()
    http_port, tcp_port, udp_port = free_port(), free_port(), free_port(socket.SOCK_DGRAM)

    serve = ServeProcess(home, http_port, tcp_port, udp_port, run=1)
    firehose = Firehose(tcp_port)
    try:
        with httpx.Client() as client:
            serve.wait_ready(client)
            per_connection = SYSLOG_MESSAGES // CONNECTIONS
            senders = [
                threading.Thread(
                    target=send_syslog, args=(tcp_port, c * per_connection, per_connection)
                )
                for c in range(CONNECTIONS)
            ]
            for sender in senders:
                sender.start()
            for batch in range(HTTP_BATCHES):
                body = b"".join(
                    orjson.dumps({"message": f"http seq={batch * HTTP_EVENTS + i}", "n": i}) + b"\n"
                    for i in range(HTTP_EVENTS)
                )
                response = client.post(
                    f"{serve.url}/api/v1/ingest", content=body, headers=bearer(ingest_token)
                )
                assert response.status_code == 202, response.text
            for sender in senders:
                sender.join(30)
                assert not sender.is_alive()
            wait_for(
                lambda: health(client, serve, read_token)["syslog_messages"] >= SYSLOG_MESSAGES,
                10,
                "the listener to count every acknowledged message",
            )
            assert health(client, serve, read_token)["syslog_messages"] == SYSLOG_MESSAGES
            # the replay below needs lake files written past the (rewound) checkpoint: on a
            # loaded machine the consumer may not have flushed yet, so wait for a first file
            wait_for(lambda: bool(list_files(home / "lake")), 30, "the consumer's first lake file")
            # crash while more is streaming in and the consumer is at work
            firehose.start()
            wait_for(lambda: firehose.sent >= 2000, 10, "the firehose")
            serve.kill()
            firehose.stop.set()
            firehose.join(10)
            assert serve.proc.returncode == -signal.SIGKILL
            # The kill rarely lands between a lake write and its checkpoint commit (the window
            # is short), so widen it to the whole run: rewind the checkpoint to the spool's
            # start, as if no flush had ever been committed.
            checkpoint = home / "spool" / "checkpoint"
            checkpoint.write_text("1:0")

            restarted = ServeProcess(home, http_port, tcp_port, udp_port, run=2)
            try:
                restarted.wait_ready(client)
                wait_for(
                    lambda: health(client, restarted, read_token)["spool_pending_bytes"] == 0,
                    30,
                    "the consumer to drain the spool",
                )
                assert health(client, restarted, read_token)["quarantined"] == 0
                restarted.proc.send_signal(signal.SIGTERM)
                # uvicorn shuts down gracefully, then re-raises the signal it caught
                assert restarted.proc.wait(30) in (0, -signal.SIGTERM), restarted.output()
                assert "Traceback" not in restarted.output(), restarted.output()
                assert "spool replay after a crash" in restarted.output()
            finally:
                restarted.kill()
    finally:
        firehose.stop.set()
        serve.kill()

    assert list_files(settings.lake_dir)
    counts = Counter(lake_messages(settings.lake_dir))
    acked = {f"acked seq={i}" for i in range(SYSLOG_MESSAGES)}
    acked |= {f"http seq={i}" for i in range(HTTP_BATCHES * HTTP_EVENTS)}
    missing = acked - set(counts)
    assert not missing, f"{len(missing)} accepted messages lost, e.g. {sorted(missing)[:5]}"
    doubled = {m: n for m, n in counts.items() if n > 1}
    assert not doubled, f"{len(doubled)} messages stored twice, e.g. {list(doubled)[:5]}"
    unacked = [m for m in counts if m.startswith("unacked seq=")]
    assert set(counts) - acked == set(unacked)
    # what the firehose got in before the kill is there too, as a gap-free prefix up to the
    # last message cut mid-frame at most
    seqs = sorted(int(re.sub(r"\D", "", m)) for m in unacked)
    assert seqs == list(range(len(seqs)))
