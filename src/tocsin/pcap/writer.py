"""Write captures: classic pcap (one link type) and pcapng (an interface per link type).

Used by ``tocsin pcap extract``, live capture, the demo and the tests. Times are nanoseconds
since the epoch; classic pcap files are written with nanosecond resolution (magic ``a1b23c4d``)
unless asked otherwise, pcapng interfaces with ``if_tsresol`` 9. The writers write what they are
given, odd records included (a wire length below the captured one, say): checking is the
reader's job.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

DEFAULT_SNAPLEN = 262_144


def _check_ts(ts_ns: int) -> None:
    if ts_ns < 0:
        raise ValueError(f"packet time {ts_ns} ns is before 1970: pcap cannot hold it")


class PcapWriter:
    """A classic pcap stream: the file header at once, then one record per ``write``."""

    def __init__(
        self,
        stream: BinaryIO,
        linktype: int,
        *,
        nanos: bool = True,
        snaplen: int = DEFAULT_SNAPLEN,
        big_endian: bool = False,
    ) -> None:
        self.stream = stream
        self.nanos = nanos
        self._order = ">" if big_endian else "<"
        self._record = struct.Struct(self._order + "IIII")
        magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
        stream.write(struct.pack(self._order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        self.count = 0
        self.bytes_written = 24

    def write(self, ts_ns: int, data: bytes | memoryview, wirelen: int | None = None) -> None:
        """Append one packet (``wirelen``: its length on the wire when ``data`` was cut)."""
        _check_ts(ts_ns)
        seconds, rest = divmod(ts_ns, 1_000_000_000)
        fraction = rest if self.nanos else rest // 1000
        size = len(data)
        wire = size if wirelen is None else wirelen
        self.stream.write(self._record.pack(seconds, fraction, size, wire))
        self.stream.write(data)
        self.count += 1
        self.bytes_written += 16 + size


def write_pcap(
    path: Path, frames: Iterable[tuple[int, bytes]], linktype: int, *, nanos: bool = True
) -> int:
    """Write ``(ts_ns, frame)`` pairs to a new pcap file; returns how many."""
    with path.open("wb") as handle:
        writer = PcapWriter(handle, linktype, nanos=nanos)
        for ts, data in frames:
            writer.write(ts, data)
        return writer.count


def _option(code: int, value: bytes, order: str) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * pad


class PcapNgWriter:
    """A pcapng stream: one section, interfaces added as needed, enhanced packet blocks."""

    def __init__(self, stream: BinaryIO, *, big_endian: bool = False) -> None:
        self.stream = stream
        self._order = ">" if big_endian else "<"
        self.count = 0
        self.interfaces: list[int] = []
        body = struct.pack(self._order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
        self._block(0x0A0D0D0A, body)

    def _block(self, block_type: int, body: bytes) -> None:
        length = 12 + len(body)
        head = struct.pack(self._order + "II", block_type, length)
        self.stream.write(head + body + struct.pack(self._order + "I", length))

    def add_interface(
        self,
        linktype: int,
        *,
        tsresol_nanos: bool = True,
        name: str | None = None,
        snaplen: int = DEFAULT_SNAPLEN,
    ) -> int:
        """Describe an interface; returns its id for ``write``."""
        options = b""
        if name:
            options += _option(2, name.encode(), self._order)
        if tsresol_nanos:
            options += _option(9, bytes([9]), self._order)
        if options:
            options += _option(0, b"", self._order)
        body = struct.pack(self._order + "HHI", linktype, 0, snaplen) + options
        self._block(1, body)
        self.interfaces.append(1_000_000_000 if tsresol_nanos else 1_000_000)
        return len(self.interfaces) - 1

    def write(
        self,
        interface_id: int,
        ts_ns: int,
        data: bytes | memoryview,
        wirelen: int | None = None,
        comment: str | None = None,
    ) -> None:
        """Append one packet (an enhanced packet block) on an interface."""
        known = len(self.interfaces)
        if not 0 <= interface_id < known:
            raise ValueError(f"interface {interface_id} was not added (there are {known})")
        _check_ts(ts_ns)
        ticks = ts_ns if self.interfaces[interface_id] == 1_000_000_000 else ts_ns // 1000
        size = len(data)
        body = struct.pack(
            self._order + "IIIII",
            interface_id,
            ticks >> 32,
            ticks & 0xFFFFFFFF,
            size,
            size if wirelen is None else wirelen,
        )
        body += bytes(data) + b"\0" * ((-size) % 4)
        if comment:
            body += _option(1, comment.encode(), self._order) + _option(0, b"", self._order)
        self._block(6, body)
        self.count += 1

    def write_simple(self, data: bytes) -> None:
        """Append a simple packet block (no interface id, no time), as some writers do."""
        body = struct.pack(self._order + "I", len(data)) + data + b"\0" * ((-len(data)) % 4)
        self._block(3, body)
        self.count += 1
