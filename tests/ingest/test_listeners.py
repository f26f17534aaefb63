import asyncio
import contextlib
import random
import re
import socket
import ssl
import time

import duckdb
import pytest

from tests.ingest.pki import make_pki
from tocsin.core.settings import Settings
from tocsin.ingest.consumer import SpoolConsumer
from tocsin.ingest.listeners import MAX_MESSAGE, SyslogFramer, SyslogListener, tls_context
from tocsin.ingest.spool import SYSLOG_BATCH, Spool, SpoolPosition, unpack_messages
from tocsin.lake.layout import list_files

RFC5424 = b"<34>1 2024-05-01T10:00:00Z web01 sshd 42 - - Failed password for root"
RFC3164 = b"<13>May  1 10:00:00 web01 app[7]: hello world"


def octet(message):
    return str(len(message)).encode() + b" " + message


def frame_all(chunks):
    framer = SyslogFramer()
    out = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    rest = framer.rest()
    return out, rest


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (octet(RFC5424) + octet(RFC3164), [RFC5424, RFC3164]),
        (RFC5424 + b"\n" + RFC3164 + b"\n", [RFC5424, RFC3164]),
        (RFC5424 + b"\r\n" + RFC3164 + b"\r\n", [RFC5424, RFC3164]),
        # mixed framing on one connection
        (octet(RFC5424) + RFC3164 + b"\n" + octet(b"<13>x\ny"), [RFC5424, RFC3164, b"<13>x\ny"]),
        # an octet-counted frame may hold newlines and NULs
        (octet(b"<13>a\nb\x00c") + b"<13>next\n", [b"<13>a\nb\x00c", b"<13>next"]),
        # NUL terminators (some senders frame with them)
        (RFC5424 + b"\x00" + RFC3164 + b"\x00", [RFC5424, RFC3164]),
        (RFC5424 + b"\x00\n" + RFC3164 + b"\n", [RFC5424, RFC3164]),
        # blank lines are skipped
        (b"\n\r\n\n" + RFC3164 + b"\n\n", [RFC3164]),
        # digits at a line start that are not an octet count
        (
            b"2024-01-01 10:00:00 web01 app: no pri\n12:00:01 host x\n1700000000 epoch\n",
            [b"2024-01-01 10:00:00 web01 app: no pri", b"12:00:01 host x", b"1700000000 epoch"],
        ),
        (b"123\n" + RFC3164 + b"\n", [b"123", RFC3164]),
        # a zero count is no octet count
        (b"0 zero\n", [b"0 zero"]),
    ],
)
def test_framing(stream, expected):
    whole, rest = frame_all([stream])
    assert whole == expected
    assert rest == b""


@pytest.mark.parametrize(
    "stream",
    [
        octet(RFC5424) + octet(RFC3164) + octet(b"<13>last"),
        RFC5424 + b"\n" + RFC3164 + b"\n<13>last\n",
        octet(RFC5424) + RFC3164 + b"\x00" + octet(b"<13>last"),
        b"2024-01-01 10:00:00 web01 app: a\n" + octet(RFC3164) + b"<13>last\n",
    ],
)
def test_a_stream_split_at_every_byte_frames_the_same(stream):
    expected, _ = frame_all([stream])
    assert len(expected) == 3
    for cut in range(1, len(stream)):
        assert frame_all([stream[:cut], stream[cut:]]) == (expected, b""), cut
    # and one byte at a time
    assert frame_all([stream[i : i + 1] for i in range(len(stream))]) == (expected, b"")


def test_unterminated_last_message_is_returned_by_rest():
    framer = SyslogFramer()
    assert framer.feed(RFC3164 + b"\n<13>partial") == [RFC3164]
    assert framer.rest() == b"<13>partial"
    assert framer.rest() == b""


def test_incomplete_octet_frame_waits_for_its_bytes():
    framer = SyslogFramer()
    frame = octet(RFC5424)
    assert framer.feed(frame[:-1]) == []
    assert framer.feed(frame[-1:]) == [RFC5424]


@pytest.mark.parametrize("terminated", [True, False])
def test_over_long_line_is_cut_at_max_message(terminated):
    line = b"<13>" + b"x" * (MAX_MESSAGE + 100)
    framer = SyslogFramer()
    messages = framer.feed(line + (b"\n" if terminated else b""))
    assert messages[0] == line[:MAX_MESSAGE]
    if terminated:
        assert messages[1:] == [line[MAX_MESSAGE:]]
    else:
        assert messages[1:] == []
        assert framer.feed(b"\n") == [line[MAX_MESSAGE:]]
    assert framer.feed(RFC3164 + b"\n") == [RFC3164]


def test_line_of_exactly_max_message_is_whole():
    line = b"<13>" + b"y" * (MAX_MESSAGE - 4)
    framer = SyslogFramer()
    assert framer.feed(line[:1000]) == []
    assert framer.feed(line[1000:]) == []
    assert framer.feed(b"\n") == [line]


# -- listeners on real sockets ------------------------------------------------------------------


def lake_messages(lake):
    """The ``message`` column of every event in the lake."""
    if not list_files(lake):
        return []
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT message FROM read_parquet(?, union_by_name=true)", [f"{lake}/**/*.parquet"]
        ).fetchall()
    return [row[0] for row in rows]


def spooled(spool):
    """The syslog messages waiting in the spool."""
    out = []
    for _, record in spool.read(spool.read_checkpoint())[0]:
        if record.kind == SYSLOG_BATCH:
            out.extend(unpack_messages(record.payload))
        else:
            out.append(record.payload)
    return out


def syslog_line(i, text="seq"):
    return f"<13>May  1 10:00:00 web01 app[7]: {text}={i}".encode()


async def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def send_tcp(port, payload, *, ssl_context=None, chunk=65536):
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ssl_context, server_hostname="127.0.0.1" if ssl_context else None
    )
    try:
        for start in range(0, len(payload), chunk):
            writer.write(payload[start : start + chunk])
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


def send_udp(port, datagrams):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, ("127.0.0.1", port))


@pytest.fixture
def ingest(tmp_path):
    """A spool, a listener on it and a consumer into the lake of a home in tmp_path."""
    settings = Settings(home=tmp_path / "home", flush_seconds=0.05, spool_max_bytes=1 << 30)
    spool = Spool(settings.spool_dir)
    consumer = SpoolConsumer(settings, spool, detection=False)
    listener = SyslogListener(spool)
    yield settings, spool, listener, consumer
    spool.close()


def garbage_payloads(seed, count):
    """Random bytes with NULs and invalid UTF-8 but no digits (so no PRI, time or octet count)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    alphabet = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)
    payloads = [b"\x00\xff\xfe\xc3\x28 not utf-8 \x80\x81", b"\xc0\xaf\xed\xa0\x80"]
    for _ in range(count):
        size = rng.randint(1, 300)
        payloads.append(bytes(rng.choice(alphabet) for _ in range(size)))
    return payloads


def framed_pieces(data):
    """The messages a newline/NUL framer makes of ``data`` (the oracle for garbage)."""
    pieces = [p.rstrip(b"\r\x00") for p in re.split(rb"[\n\x00]", data)]
    return [p for p in pieces if p.strip()]


@pytest.mark.network
def test_tcp_and_udp_messages_reach_the_lake_exactly_once(ingest):
    settings, _spool, listener, consumer = ingest
    count = 500

    async def scenario():
        tcp_port = await listener.start_tcp(0)
        udp_port = await listener.start_udp(0)
        try:
            octet_framed = b"".join(octet(syslog_line(i, "tcp")) for i in range(count // 2))
            newline_framed = b"".join(
                syslog_line(i, "tcp") + b"\n" for i in range(count // 2, count)
            )
            await send_tcp(tcp_port, octet_framed + newline_framed, chunk=999)
            for start in range(0, count, 50):  # paced, so the socket buffer never overflows
                send_udp(udp_port, [syslog_line(i, "udp") for i in range(start, start + 50)])
                await wait_until(lambda s=start: listener.stats.messages >= count + s + 50)
        finally:
            await listener.stop()

    asyncio.run(scenario())
    assert listener.stats.messages == 2 * count
    assert listener.stats.connections == 1
    consumer.drain()
    assert sum(f.rows for f in list_files(settings.lake_dir)) == 2 * count
    messages = lake_messages(settings.lake_dir)
    expected = [f"{proto}={i}" for proto in ("tcp", "udp") for i in range(count)]
    assert sorted(messages) == sorted(expected)
    assert consumer.quarantine.count() == 0
    assert consumer.spool.pending_bytes() == 0


@pytest.mark.network
def test_binary_garbage_is_quarantined_and_the_listener_goes_on(ingest):
    settings, _spool, listener, consumer = ingest
    garbage = garbage_payloads(seed=7, count=30)

    async def scenario():
        tcp_port = await listener.start_tcp(0)
        udp_port = await listener.start_udp(0)
        try:
            stream = b"\n".join(garbage) + b"\n"
            await send_tcp(tcp_port, stream + syslog_line(1, "after-tcp") + b"\n", chunk=97)
            send_udp(udp_port, garbage)
            await wait_until(lambda: listener.stats.messages >= len(framed_pieces(stream)) + 1)
            # the UDP listener still takes valid messages after the garbage
            send_udp(udp_port, [syslog_line(2, "after-udp")])
            # a TCP connection that is cut in the middle of a frame does not stop the listener
            _, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
            writer.write(b"\xff\xfe\x00" + b"250 \xc3abc")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            await send_tcp(tcp_port, octet(syslog_line(3, "after-cut")))
            await wait_until(
                lambda: syslog_line(2, "after-udp") in spooled(consumer.spool),
                what="the valid UDP message",
            )
        finally:
            await listener.stop()

    asyncio.run(scenario())
    consumer.drain()
    assert sorted(lake_messages(settings.lake_dir)) == [
        "after-cut=3",
        "after-tcp=1",
        "after-udp=2",
    ]
    quarantined = [r.raw for r in consumer.quarantine.records()]
    tcp_expected = framed_pieces(b"\n".join(garbage) + b"\n")
    udp_expected = [g.rstrip(b"\r\n\x00") for g in garbage if g.rstrip(b"\r\n\x00")]
    for piece in tcp_expected + udp_expected:
        assert piece in quarantined
    # the cut connection's bytes are quarantined too: nothing accepted is dropped
    assert b"\xff\xfe" in quarantined
    assert b"250 \xc3abc" in quarantined
    assert len(quarantined) == len(tcp_expected) + len(udp_expected) + 2
    assert all(r.parser == "syslog" for r in consumer.quarantine.records())


@pytest.mark.network
def test_tls_requires_a_client_certificate(ingest, tmp_path):
    settings, _spool, listener, consumer = ingest
    pki = make_pki(tmp_path)
    server_context = tls_context(pki["server_cert"], pki["server_key"], pki["ca_cert"])
    with_cert = ssl.create_default_context(cafile=str(pki["ca_cert"]))
    with_cert.load_cert_chain(pki["client_cert"], pki["client_key"])
    without_cert = ssl.create_default_context(cafile=str(pki["ca_cert"]))

    async def refused(port):
        """Send without a certificate; the server must not take the message."""
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=without_cert, server_hostname="127.0.0.1"
            )
        except (ssl.SSLError, ConnectionError):
            return  # refused in the handshake (TLS 1.2)
        try:
            writer.write(syslog_line(0, "no-cert") + b"\n")
            # TLS 1.3 refuses after the handshake: the server's alert or EOF ends the read
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                assert await asyncio.wait_for(reader.read(), 5.0) == b""
        finally:
            writer.close()
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await writer.wait_closed()

    async def scenario():
        port = await listener.start_tcp(0, tls=server_context)
        try:
            await refused(port)
            lines = b"".join(octet(syslog_line(i, "tls")) for i in range(20))
            await send_tcp(port, lines, ssl_context=with_cert)
            await wait_until(lambda: listener.stats.messages >= 20)
        finally:
            await listener.stop()

    asyncio.run(scenario())
    assert listener.ports == {"tls": listener.ports["tls"]}
    assert listener.stats.messages == 20
    assert listener.stats.connections == 1  # the client without a certificate never got in
    consumer.drain()
    assert sorted(lake_messages(settings.lake_dir)) == sorted(f"tls={i}" for i in range(20))
    assert consumer.quarantine.count() == 0
    sources = {r.source for _, r in consumer.spool.read(SpoolPosition(1, 0))[0]}
    assert len(sources) == 1
    assert all(s.startswith("tls://127.0.0.1:") for s in sources)


@pytest.mark.network
def test_stop_closes_open_connections_and_spools_what_they_sent(ingest):
    settings, _spool, listener, consumer = ingest

    async def scenario():
        port = await listener.start_tcp(0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(syslog_line(1, "open") + b"\n" + syslog_line(2, "unterminated"))
            await writer.drain()
            await wait_until(lambda: listener.stats.messages == 1)
            await listener.stop()
            assert listener.connections == set()
            # the server closed its side: the client reads EOF
            assert await asyncio.wait_for(reader.read(), 5.0) == b""
        finally:
            writer.close()
            await writer.wait_closed()

    asyncio.run(scenario())
    assert listener.stats.messages == 2
    consumer.drain()
    assert sorted(lake_messages(settings.lake_dir)) == ["open=1", "unterminated=2"]


@pytest.mark.network
def test_tcp_backpressure_pauses_and_loses_nothing(tmp_path):
    settings = Settings(home=tmp_path / "home", flush_seconds=0.05, spool_max_bytes=4096)
    spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
    consumer = SpoolConsumer(settings, spool, detection=False)
    listener = SyslogListener(spool)
    count = 5000
    padding = "p" * 150
    payload = b"".join(syslog_line(i, padding + " seq") + b"\n" for i in range(count))

    async def scenario():
        port = await listener.start_tcp(0)
        udp_port = await listener.start_udp(0)
        sender = asyncio.create_task(send_tcp(port, payload))
        try:
            await wait_until(lambda: listener.stats.paused > 0, what="a pause")
            await asyncio.sleep(0.2)  # paused: the listener reads no further
            assert listener.stats.messages < count
            stalled = listener.stats.messages
            await asyncio.sleep(0.1)
            assert listener.stats.messages == stalled
            # UDP cannot push back: while the spool is full its datagrams are counted as dropped
            send_udp(udp_port, [syslog_line(0, "udp")])
            await wait_until(lambda: listener.stats.dropped == 1, what="a dropped datagram")
            # the consumer catches up and the listener resumes, again and again
            deadline = time.monotonic() + 20
            while listener.stats.messages < count and time.monotonic() < deadline:
                await asyncio.to_thread(consumer.drain)
                await asyncio.sleep(0.06)
            await asyncio.wait_for(sender, 10)
        finally:
            if not sender.done():
                sender.cancel()
            await listener.stop()

    try:
        asyncio.run(scenario())
        consumer.drain()
    finally:
        spool.close()
    assert listener.stats.paused > 1
    assert listener.stats.messages == count
    messages = lake_messages(settings.lake_dir)
    assert len(messages) == count
    assert sorted(int(m.rsplit("=", 1)[1]) for m in messages) == list(range(count))
