"""Syslog listeners on UDP, TCP (octet-counted and newline framing) and TLS.

Every message accepted is appended to the spool before the listener reads on, so an
acknowledged message (TCP: read and not refused) survives a crash. When the spool is full the
TCP listeners pause reading, which pushes back on senders through TCP flow control; UDP has no
way to push back, so datagrams that arrive while the spool is full are counted as dropped.
Binary garbage is spooled like any message and quarantined by the parser: it never stops a
listener.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from tocsin.ingest.spool import SYSLOG_BATCH, Spool, SpoolRecord, now, pack_messages

logger = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024
MAX_OCTET_COUNT = 1024 * 1024
_RESUME_CHECK_SECONDS = 0.05
_CLOSE_WAIT_SECONDS = 2.0


@dataclass(slots=True)
class ListenerStats:
    """Counters of one listener."""

    messages: int = 0
    bytes: int = 0
    connections: int = 0
    dropped: int = 0
    paused: int = 0


class SyslogFramer:
    """Split a TCP byte stream into syslog messages (RFC 6587).

    A frame starting with digits and a space is octet-counted (``<len> <msg>``); otherwise the
    message ends at a newline (or NUL). A line longer than ``MAX_MESSAGE`` is cut there (the
    rest of it follows as the next message, so nothing is dropped).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete messages they finish."""
        buffer = self._buffer
        buffer += data
        messages: list[bytes] = []
        start = 0
        size = len(buffer)
        while start < size:
            first = buffer[start]
            if 0x30 <= first <= 0x39:
                space = buffer.find(b" ", start, min(size, start + 8))
                if space > start and buffer[start:space].isdigit():
                    length = int(buffer[start:space])
                    if 0 < length <= MAX_OCTET_COUNT:
                        end = space + 1 + length
                        if end > size:
                            break
                        messages.append(bytes(buffer[space + 1 : end]))
                        start = end
                        continue
                elif space < 0 and size - start < 8 and buffer[start:size].isdigit():
                    break  # an octet count still arriving
            newline = buffer.find(b"\n", start)
            # a NUL ends a message too (some senders frame with it); look only before the newline
            nul = buffer.find(b"\x00", start, newline if newline >= 0 else size)
            end = nul if nul >= 0 else newline
            if (end < 0 and size - start > MAX_MESSAGE) or end - start > MAX_MESSAGE:
                messages.append(bytes(buffer[start : start + MAX_MESSAGE]))
                start += MAX_MESSAGE
                continue
            if end < 0:
                break
            line = bytes(buffer[start:end]).rstrip(b"\r\x00")
            if line.strip():
                messages.append(line)
            start = end + 1
        del buffer[:start]
        return messages

    def rest(self) -> bytes:
        """What is left unframed (sent as a last message when the peer closes)."""
        data = bytes(self._buffer).strip(b"\r\n\x00 ")
        self._buffer.clear()
        return data


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, listener: SyslogListener) -> None:
        self.listener = listener
        self.framer = SyslogFramer()
        self.transport: asyncio.Transport | None = None
        self.peer = "tcp://unknown"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - asyncio guarantees it
        self.transport = transport
        peer = transport.get_extra_info("peername")
        scheme = "tls" if transport.get_extra_info("sslcontext") else "tcp"
        self.peer = f"{scheme}://{peer[0]}:{peer[1]}" if peer else f"{scheme}://unknown"
        self.listener.stats.connections += 1
        self.listener.connections.add(self)

    def data_received(self, data: bytes) -> None:
        messages = self.framer.feed(data)
        if messages:
            self.listener.accept(messages, self.peer)
        if self.transport is not None and self.listener.spool.is_full():
            self.transport.pause_reading()
            self.listener.stats.paused += 1
            asyncio.get_running_loop().call_later(_RESUME_CHECK_SECONDS, self._maybe_resume)

    def _maybe_resume(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.listener.spool.is_full():
            asyncio.get_running_loop().call_later(_RESUME_CHECK_SECONDS, self._maybe_resume)
        else:
            self.transport.resume_reading()

    def eof_received(self) -> bool | None:
        rest = self.framer.rest()
        if rest:
            self.listener.accept([rest], self.peer)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        rest = self.framer.rest()
        if rest:
            self.listener.accept([rest], self.peer)
        self.transport = None
        self.listener.connections.discard(self)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: SyslogListener) -> None:
        self.listener = listener
        self._pending: list[tuple[bytes, str]] = []
        self._scheduled = False

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._pending.append((data, f"udp://{addr[0]}:{addr[1]}"))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        if self.listener.spool.is_full():
            self.listener.stats.dropped += len(pending)
            logger.warning("spool full: UDP datagrams dropped", extra={"count": len(pending)})
            return
        by_peer: dict[str, list[bytes]] = {}
        for data, peer in pending:
            message = data.rstrip(b"\r\n\x00")
            if message:
                by_peer.setdefault(peer, []).append(message)
        for peer, messages in by_peer.items():
            self.listener.accept(messages, peer)


@dataclass
class SyslogListener:
    """The syslog listeners of one server, all writing to one spool."""

    spool: Spool
    host: str = "127.0.0.1"
    stats: ListenerStats = field(default_factory=ListenerStats)
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    connections: set[_TcpProtocol] = field(default_factory=set)

    def accept(self, messages: list[bytes], peer: str) -> None:
        """Spool messages from one peer (they are acknowledged once this returns)."""
        self.spool.append([SpoolRecord(SYSLOG_BATCH, peer, pack_messages(messages), now())])
        self.stats.messages += len(messages)
        self.stats.bytes += sum(len(m) for m in messages)

    async def start_tcp(self, port: int, *, tls: ssl.SSLContext | None = None) -> int:
        """Listen on TCP (or TLS when a context is given); returns the bound port."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _TcpProtocol(self), self.host, port, ssl=tls, reuse_address=True
        )
        self.servers.append(server)
        bound = int(server.sockets[0].getsockname()[1])
        self.ports["tls" if tls else "tcp"] = bound
        return bound

    async def start_udp(self, port: int) -> int:
        """Listen on UDP; returns the bound port."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self.host, port)
        )
        self.transports.append(transport)
        bound = int(transport.get_extra_info("sockname")[1])
        self.ports["udp"] = bound
        return bound

    async def stop(self) -> None:
        """Close every listener and the connections still open (what they sent is spooled)."""
        for server in self.servers:
            server.close()
            await server.wait_closed()
        for transport in self.transports:
            transport.close()
        self.servers.clear()
        self.transports.clear()
        # Server.close() leaves accepted connections open (before Python 3.13); close them so
        # nothing is read after the consumer's last drain. TLS waits for the peer's
        # close_notify, so wait a little, then abort the stragglers.
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        deadline = asyncio.get_running_loop().time() + _CLOSE_WAIT_SECONDS
        while self.connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        await asyncio.sleep(0)  # let connection_lost run


def tls_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A server TLS context; with ``client_ca`` clients must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context
