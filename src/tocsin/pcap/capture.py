"""Read pcap and pcapng captures as batches of packets, fast and within bounded memory.

The file is read in chunks. One tight loop walks the record (or block) lengths of a chunk, which
is the only step that cannot be done in bulk because each record's place depends on the one
before; every header field is then gathered with numpy over all the chunk's records at once. A
``PacketBatch`` holds the chunk's bytes and, per packet, where its data starts, its lengths, time,
link type, frame number and file offset (what the packet index stores).

Classic pcap (either byte order, micro- or nanosecond times), pcapng (sections of either byte
order, several interfaces with their own link types, time resolutions and offsets; enhanced,
simple and obsolete packet blocks) and gzip-compressed files of both are read.

Damage is counted, never fatal: a record running past the end of the file, a length that lies
(beyond any snap length: the reader then searches for the next plausible record and reports the
bytes it skipped), a captured length beyond the snap length or the block, a pcapng block whose
length is not a multiple of four.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from tocsin.core.errors import InvalidInputError
from tocsin.pcap.anomalies import Anomalies

CHUNK_BYTES = 32 * 1024 * 1024
MAX_CAPLEN = 262_144  # libpcap's largest snap length: a longer record's length field lies
MAX_BLOCK = 16 * 1024 * 1024  # a pcapng block larger than this is damage, not data
RESYNC_WINDOW = 4 * 1024 * 1024  # how far the reader looks for the next plausible record

PCAPNG_MAGIC = 0x0A0D0D0A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
EPB, SPB, OPB, IDB, SHB = 6, 3, 2, 1, PCAPNG_MAGIC

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class PacketBatch:
    """Packets of one chunk: the chunk's bytes and per-packet columns (all int64 arrays)."""

    buf: U8
    data_off: I64  # where the packet's bytes start in ``buf``
    caplen: I64
    wirelen: I64
    ts: I64  # nanoseconds since the epoch, UTC
    linktype: I64
    number: I64  # 1-based frame number in the file, as Wireshark counts
    file_off: I64  # where the record (or block) starts in the file

    def __len__(self) -> int:
        return int(self.data_off.shape[0])

    def packet(self, i: int) -> bytes:
        """The captured bytes of packet ``i`` of the batch."""
        start = int(self.data_off[i])
        return self.buf[start : start + int(self.caplen[i])].tobytes()


@dataclass(slots=True)
class Interface:
    """A pcapng interface (or the one implicit interface of a classic pcap)."""

    linktype: int
    snaplen: int
    tsresol_num: int = 1000  # ticks are multiplied by num and divided by den to give ns
    tsresol_den: int = 1
    tsoffset_ns: int = 0
    name: str = ""


@dataclass(slots=True)
class CaptureInfo:
    """What the file header said."""

    format: str  # "pcap" or "pcapng"
    byte_order: str  # "little" or "big"
    nanos: bool = False
    compressed: bool = False
    interfaces: list[Interface] = field(default_factory=list)

    @property
    def linktypes(self) -> list[int]:
        """The distinct link types, in interface order."""
        return list(dict.fromkeys(i.linktype for i in self.interfaces))


def _open(path: Path) -> tuple[BinaryIO, bool]:
    raw = path.open("rb")
    head = raw.read(2)
    raw.seek(0)
    if head == b"\x1f\x8b":
        raw.close()
        return gzip.open(path, "rb"), True  # type: ignore[return-value]  # GzipFile is binary
    return raw, False


class _Chunks:
    """Two reusable buffers read in turn with ``readinto``: no copy of the file's bytes besides
    the few carried from one chunk to the next (a record cut by the chunk's end).

    A batch's bytes stay valid while the next chunk is read; the one after reuses them, so a
    consumer that keeps packets longer copies them (``PacketBatch.packet`` does).
    """

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        spare = min(MAX_BLOCK, size) + 64
        self.bufs = [bytearray(size + spare), bytearray(size + spare)]
        self.turn = 0

    def fill(self, prev: bytearray | None, start: int, end: int) -> tuple[bytearray, int, bool]:
        """The next chunk: ``prev[start:end]`` carried over, then fresh bytes; (buf, n, eof)."""
        buf = self.bufs[self.turn]
        self.turn ^= 1
        keep = 0
        if prev is not None and end > start:
            keep = end - start
            if keep + self.size > len(buf):  # a carried block larger than the spare room
                buf.extend(bytes(keep + self.size - len(buf)))
            buf[:keep] = prev[start:end]
        view = memoryview(buf)
        got = 0
        while got < self.size:
            read = self.stream.readinto(view[keep + got : keep + self.size])  # type: ignore[attr-defined]
            if not read:
                break
            got += read
        view.release()
        return buf, keep + got, got == 0


def _gather_u32(buf: U8, offs: I64, big: bool) -> I64:
    """The unsigned 32-bit integers at ``offs`` (any alignment), as int64."""
    if offs.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    cells = buf[offs[:, None] + np.arange(4)]
    values = np.ascontiguousarray(cells).view(">u4" if big else "<u4").ravel()
    return values.astype(np.int64)


class CaptureReader:
    """Iterate a capture file as ``PacketBatch`` objects; ``info`` and ``anomalies`` fill in."""

    def __init__(
        self,
        path: Path,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        anomalies: Anomalies | None = None,
    ) -> None:
        self.path = Path(path)
        self.chunk_bytes = max(chunk_bytes, 4096)
        self.anomalies = anomalies if anomalies is not None else Anomalies()
        self.packets = 0
        self.bytes_read = 0
        stream, compressed = _open(self.path)
        try:
            head = stream.read(24)
        finally:
            stream.close()
        self.info = self._header(head, compressed)

    def _chunk_size(self) -> int:
        """The chunk size: no larger than the file (small captures need small buffers)."""
        if self.info.compressed:
            return self.chunk_bytes
        return max(min(self.chunk_bytes, self.path.stat().st_size + 64), 64 * 1024)

    def _header(self, head: bytes, compressed: bool) -> CaptureInfo:
        if len(head) < 4:
            raise InvalidInputError(f"{self.path}: too short to be a capture ({len(head)} bytes)")
        magic_le = struct.unpack("<I", head[:4])[0]
        if magic_le == PCAPNG_MAGIC:
            if len(head) < 12:
                raise InvalidInputError(f"{self.path}: pcapng section header cut short")
            bom = head[8:12]
            big = bom == b"\x1a\x2b\x3c\x4d"
            if not big and bom != b"\x4d\x3c\x2b\x1a":
                raise InvalidInputError(f"{self.path}: pcapng byte-order magic not recognised")
            return CaptureInfo("pcapng", "big" if big else "little", compressed=compressed)
        forms = {
            b"\xd4\xc3\xb2\xa1": ("little", False),
            b"\xa1\xb2\xc3\xd4": ("big", False),
            b"\x4d\x3c\xb2\xa1": ("little", True),
            b"\xa1\xb2\x3c\x4d": ("big", True),
        }
        form = forms.get(head[:4])
        if form is None:
            raise InvalidInputError(
                f"{self.path}: not a pcap or pcapng capture (magic {head[:4].hex()})"
            )
        if len(head) < 24:
            raise InvalidInputError(f"{self.path}: pcap file header cut short")
        order, nanos = form
        fmt = "<" if order == "little" else ">"
        snaplen, network = struct.unpack(fmt + "II", head[16:24])
        linktype = network & 0x0FFFFFFF  # the upper bits carry FCS flags
        iface = Interface(linktype, snaplen, 1 if nanos else 1000, 1)
        return CaptureInfo("pcap", order, nanos, compressed, [iface])

    def __iter__(self) -> Iterator[PacketBatch]:
        stream, _ = _open(self.path)
        try:
            if self.info.format == "pcap":
                yield from self._classic(stream)
            else:
                yield from self._pcapng(stream)
        finally:
            stream.close()

    # classic pcap ---------------------------------------------------------------------------
    def _classic(self, stream: BinaryIO) -> Iterator[PacketBatch]:
        info = self.info
        big = info.byte_order == "big"
        iface = info.interfaces[0]
        u32 = struct.Struct(">I" if big else "<I").unpack_from
        stream.read(24)
        base = 24  # file offset of buf[0]
        chunks = _Chunks(stream, self._chunk_size())
        prev: bytearray | None = None
        o = n = 0
        last_sec = -1
        limit = MAX_CAPLEN
        while True:
            buf, n, eof = chunks.fill(prev, o, n)
            offs: list[int] = []
            append = offs.append
            o = 0
            checked = 0
            while True:
                try:
                    # the hot loop: one unpack, one compare, one append per record
                    while True:
                        nxt = o + 16 + u32(buf, o + 8)[0]
                        if nxt > n:
                            break
                        append(o)
                        o = nxt
                except struct.error:
                    pass  # fewer than 16 bytes left: the header itself is cut
                # a length that lies: beyond any snap length (checked here, off the hot loop)
                bad = self._first_lying(buf, offs, checked, big)
                checked = len(offs)
                if bad is not None:
                    o = offs[bad]
                    del offs[bad:]
                    checked = bad
                if o + 16 <= n and u32(buf, o + 8)[0] > limit:
                    skip = self._resync_classic(buf, n, o, last_sec, eof)
                    if skip is None:  # need more data to decide
                        break
                    self.anomalies.add(
                        "caplen_huge",
                        f"{self.path.name} byte {base + o}",
                        f"record length {u32(buf, o + 8)[0]} beyond {limit}; skipped {skip} "
                        "bytes to the next plausible record",
                    )
                    o += skip
                    continue
                break
            if offs:
                last_sec = u32(buf, offs[-1])[0]
            if eof:
                if o < n:
                    self.anomalies.add(
                        "truncated_record",
                        f"{self.path.name} byte {base + o}",
                        f"the file ends inside a record ({n - o} bytes left)",
                    )
                if offs:
                    yield self._classic_batch(buf, offs, base, big, iface)
                return
            if offs:
                yield self._classic_batch(buf, offs, base, big, iface)
            base += o
            prev = buf

    def _first_lying(self, buf: bytearray, offs: list[int], start: int, big: bool) -> int | None:
        """Index of the first record from ``start`` whose length is beyond any snap length."""
        if len(offs) <= start:
            return None
        arr = np.frombuffer(buf, dtype=np.uint8)
        lengths = _gather_u32(arr, np.asarray(offs[start:], dtype=np.int64) + 8, big)
        over = lengths > MAX_CAPLEN
        return start + int(np.argmax(over)) if over.any() else None

    def _resync_classic(
        self, buf: bytearray, n: int, o: int, last_sec: int, eof: bool
    ) -> int | None:
        """Bytes to skip from ``o`` to the next plausible record header (None: read more)."""
        end = min(n, o + RESYNC_WINDOW)
        if end - o < 32 and not eof:
            return None
        arr = np.frombuffer(buf, dtype=np.uint8, count=end - o, offset=o)
        if arr.shape[0] < 16:
            return n - o
        big = self.info.byte_order == "big"
        starts = np.arange(1, arr.shape[0] - 15, dtype=np.int64)
        incl = _gather_u32(arr, starts + 8, big)
        orig = _gather_u32(arr, starts + 12, big)
        frac = _gather_u32(arr, starts + 4, big)
        secs = _gather_u32(arr, starts, big)
        frac_max = 1_000_000_000 if self.info.nanos else 1_000_000
        ok = (incl <= MAX_CAPLEN) & (incl <= orig) & (orig <= 16 * MAX_CAPLEN) & (frac < frac_max)
        if last_sec >= 0:
            ok &= np.abs(secs - last_sec) <= 7 * 86400
        for cand in starts[ok]:
            nxt = int(cand) + 16 + int(incl[cand - 1])
            if nxt == arr.shape[0] and (eof or end == n):
                return int(cand)
            if nxt + 16 <= arr.shape[0]:
                n_incl = int(_gather_u32(arr, np.array([nxt + 8]), big)[0])
                n_orig = int(_gather_u32(arr, np.array([nxt + 12]), big)[0])
                if n_incl <= MAX_CAPLEN and n_incl <= n_orig:
                    return int(cand)
        if end < n or eof:
            return end - o  # nothing plausible in the window: skip it all
        return None

    def _classic_batch(
        self, buf: bytearray, offs: list[int], base: int, big: bool, iface: Interface
    ) -> PacketBatch:
        arr = np.frombuffer(buf, dtype=np.uint8)
        rec = np.asarray(offs, dtype=np.int64)
        # the four header fields of every record in one gather
        cells = np.ascontiguousarray(arr[rec[:, None] + np.arange(16)])
        fields = cells.view(">u4" if big else "<u4").astype(np.int64)
        secs, frac, caplen, wirelen = (np.ascontiguousarray(fields[:, k]) for k in range(4))
        ts = secs * 1_000_000_000 + frac * iface.tsresol_num // iface.tsresol_den
        self._check_lengths(caplen, wirelen, iface.snaplen, rec, base)
        return self._batch(arr, rec + 16, caplen, wirelen, ts, iface.linktype, rec + base)

    def _check_lengths(self, caplen: I64, wirelen: I64, snaplen: int, rec: I64, base: int) -> None:
        short = wirelen < caplen
        if short.any():
            first = int(rec[np.argmax(short)]) + base
            self.anomalies.add(
                "wirelen_below_caplen",
                f"{self.path.name} byte {first}",
                "original length smaller than the captured length (taken as captured)",
                int(short.sum()),
            )
            np.maximum(wirelen, caplen, out=wirelen)
        if 0 < snaplen < MAX_CAPLEN:
            over = caplen > snaplen
            if over.any():
                first = int(rec[np.argmax(over)]) + base
                self.anomalies.add(
                    "caplen_over_snaplen",
                    f"{self.path.name} byte {first}",
                    f"records longer than the snap length {snaplen}",
                    int(over.sum()),
                )

    def _batch(
        self,
        arr: U8,
        data_off: I64,
        caplen: I64,
        wirelen: I64,
        ts: I64,
        linktype: int | I64,
        file_off: I64,
    ) -> PacketBatch:
        count = data_off.shape[0]
        numbers = np.arange(self.packets + 1, self.packets + 1 + count, dtype=np.int64)
        self.packets += count
        self.bytes_read += int(caplen.sum())
        links = np.full(count, linktype, dtype=np.int64) if isinstance(linktype, int) else linktype
        return PacketBatch(arr, data_off, caplen, wirelen, ts, links, numbers, file_off)

    # pcapng ---------------------------------------------------------------------------------
    def _pcapng(self, stream: BinaryIO) -> Iterator[PacketBatch]:
        base = 0
        chunks = _Chunks(stream, self._chunk_size())
        prev: bytearray | None = None
        o = n = 0
        big = self.info.byte_order == "big"
        while True:
            buf, n, eof = chunks.fill(prev, o, n)
            epb: list[int] = []
            others: list[tuple[int, int]] = []  # (offset, block type) of SPB / OPB
            u2 = struct.Struct(">II" if big else "<II").unpack_from
            o = 0
            while o + 12 <= n:
                btype, blen = u2(buf, o)
                if btype == EPB and 32 <= blen <= MAX_BLOCK and not blen & 3:
                    if o + blen > n:
                        break
                    epb.append(o)
                    o += blen
                    continue
                new_big = big
                if btype == SHB:
                    order = buf[o + 8 : o + 12]
                    if len(order) < 4:
                        break
                    new_big = order == b"\x1a\x2b\x3c\x4d"
                    btype, blen = struct.unpack_from(">II" if new_big else "<II", buf, o)
                if blen < 12 or blen & 3 or blen > MAX_BLOCK:
                    skip = self._resync_pcapng(buf, n, o, big, eof)
                    if skip is None:
                        break
                    self.anomalies.add(
                        "bad_block_length",
                        f"{self.path.name} byte {base + o}",
                        f"block type {btype:#x} with length {blen}; skipped {skip} bytes",
                    )
                    o += skip
                    continue
                if o + blen > n:
                    break
                if btype == SHB:
                    # the packets so far belong to the old section's interfaces and byte order
                    if epb or others:
                        yield from self._pcapng_batches(buf, epb, others, base, big)
                        epb, others = [], []
                    self.info.interfaces = []
                    big = new_big
                    u2 = struct.Struct(">II" if big else "<II").unpack_from
                elif btype == IDB:
                    self._interface(buf, o, blen, big)
                elif btype in (SPB, OPB):
                    others.append((o, btype))
                o += blen
            if eof:
                if o < n:
                    self.anomalies.add(
                        "truncated_record",
                        f"{self.path.name} byte {base + o}",
                        f"the file ends inside a block ({n - o} bytes left)",
                    )
                if epb or others:
                    yield from self._pcapng_batches(buf, epb, others, base, big)
                return
            if epb or others:
                yield from self._pcapng_batches(buf, epb, others, base, big)
            base += o
            prev = buf

    def _resync_pcapng(self, buf: bytearray, n: int, o: int, big: bool, eof: bool) -> int | None:
        """Bytes to skip from ``o`` to the next block that looks whole (None: read more)."""
        u2 = struct.Struct(">II" if big else "<II").unpack_from
        u1 = struct.Struct(">I" if big else "<I").unpack_from
        marker = struct.pack(">I" if big else "<I", EPB)
        p = o + 1
        end = min(n, o + RESYNC_WINDOW)
        while True:
            p = buf.find(marker, p, end)
            if p < 0 or p + 12 > n:
                return end - o if (end < n or eof) else None
            _, blen = u2(buf, p)
            if 32 <= blen <= MAX_BLOCK and not blen & 3 and p + blen <= n:
                if u1(buf, p + blen - 4)[0] == blen:
                    return p - o
            elif p + blen > n and blen <= MAX_BLOCK and not eof:
                return None
            p += 1

    def _interface(self, buf: bytearray, o: int, blen: int, big: bool) -> None:
        fmt = ">" if big else "<"
        linktype, _reserved, snaplen = struct.unpack_from(fmt + "HHI", buf, o + 8)
        iface = Interface(linktype, snaplen)
        p, end = o + 16, o + blen - 4
        while p + 4 <= end:
            code, length = struct.unpack_from(fmt + "HH", buf, p)
            value = buf[p + 4 : p + 4 + length]
            if code == 0:
                break
            if code == 2:
                iface.name = value.decode("utf-8", "replace")
            elif code == 9 and length >= 1:
                resol = value[0]
                if resol & 0x80:  # a negative power of two
                    iface.tsresol_num, iface.tsresol_den = 1_000_000_000, 1 << (resol & 0x7F)
                elif resol <= 9:
                    iface.tsresol_num, iface.tsresol_den = 10 ** (9 - resol), 1
                else:
                    iface.tsresol_num, iface.tsresol_den = 1, 10 ** (resol - 9)
            elif code == 14 and length == 8:
                iface.tsoffset_ns = struct.unpack(fmt + "q", value)[0] * 1_000_000_000
            p += 4 + ((length + 3) & ~3)
        self.info.interfaces.append(iface)

    def _pcapng_batches(
        self,
        buf: bytearray,
        epb: list[int],
        others: list[tuple[int, int]],
        base: int,
        big: bool,
    ) -> Iterator[PacketBatch]:
        arr = np.frombuffer(buf, dtype=np.uint8)
        ifaces = self.info.interfaces
        if not ifaces:
            self.anomalies.add(
                "no_interface",
                f"{self.path.name} byte {base + (epb or [o for o, _ in others])[0]}",
                "packets before any interface description block: skipped",
                len(epb) + len(others),
            )
            return
        if others:  # rare: simple and obsolete packet blocks go through a slow path
            yield from self._others(arr, epb, others, base, big)
            return
        rec = np.asarray(epb, dtype=np.int64)
        yield self._epb_batch(arr, rec, base, big)

    def _epb_batch(self, arr: U8, rec: I64, base: int, big: bool) -> PacketBatch:
        ifaces = self.info.interfaces
        blen = _gather_u32(arr, rec + 4, big)
        iface = _gather_u32(arr, rec + 8, big)
        hi = _gather_u32(arr, rec + 12, big)
        lo = _gather_u32(arr, rec + 16, big)
        caplen = _gather_u32(arr, rec + 20, big)
        wirelen = _gather_u32(arr, rec + 24, big)
        unknown = iface >= len(ifaces)
        if unknown.any():
            self.anomalies.add(
                "unknown_interface",
                f"{self.path.name} byte {int(rec[np.argmax(unknown)]) + base}",
                f"packets naming an interface beyond the {len(ifaces)} described: skipped",
                int(unknown.sum()),
            )
            keep = ~unknown
            rec, blen, iface, hi, lo = rec[keep], blen[keep], iface[keep], hi[keep], lo[keep]
            caplen, wirelen = caplen[keep], wirelen[keep]
        room = blen - 32
        past = caplen > room
        if past.any():
            self.anomalies.add(
                "caplen_past_block",
                f"{self.path.name} byte {int(rec[np.argmax(past)]) + base}",
                "captured length beyond its block (cut to the block)",
                int(past.sum()),
            )
            np.minimum(caplen, room, out=caplen)
        ticks = (hi << 32) | lo
        links = np.array([i.linktype for i in ifaces], dtype=np.int64)[iface]
        nums = np.array([i.tsresol_num for i in ifaces], dtype=np.int64)
        dens = np.array([i.tsresol_den for i in ifaces], dtype=np.int64)
        offsets = np.array([i.tsoffset_ns for i in ifaces], dtype=np.int64)
        if (nums[iface] == 1000).all() and (dens[iface] == 1).all():
            ts = ticks * 1000
        else:
            # split whole seconds from the rest so a nanosecond count never overflows int64
            den, num = dens[iface], nums[iface]
            per_second = np.maximum(1_000_000_000 * den // np.maximum(num, 1), 1)
            ts = (ticks // per_second) * 1_000_000_000 + (ticks % per_second) * num // den
        ts = ts + offsets[iface]
        snap = int(min((i.snaplen for i in ifaces), default=0))
        self._check_lengths(caplen, wirelen, snap, rec, base)
        return self._batch(arr, rec + 28, caplen, wirelen, ts, links, rec + base)

    def _others(
        self,
        arr: U8,
        epb: list[int],
        others: list[tuple[int, int]],
        base: int,
        big: bool,
    ) -> Iterator[PacketBatch]:
        """Batches in file order when simple or obsolete packet blocks are mixed in."""
        fmt = ">" if big else "<"
        raw = arr.tobytes()
        kinds = sorted([(o, EPB) for o in epb] + others)
        run: list[int] = []
        last_ts = 0
        for o, kind in kinds:
            if kind == EPB:
                run.append(o)
                continue
            if run:
                batch = self._epb_batch(arr, np.asarray(run, dtype=np.int64), base, big)
                last_ts = int(batch.ts[-1]) if len(batch) else last_ts
                yield batch
                run = []
            blen = struct.unpack_from(fmt + "I", raw, o + 4)[0]
            iface0 = self.info.interfaces[0]
            if kind == SPB:
                wire = struct.unpack_from(fmt + "I", raw, o + 8)[0]
                cap = min(wire, blen - 16, iface0.snaplen or MAX_CAPLEN)
                data_at, ts, link = o + 12, last_ts, iface0.linktype
            else:  # obsolete packet block: interface id 2 bytes, drops 2 bytes, then as EPB
                iface_id, _drops, hi, lo, cap, wire = struct.unpack_from(fmt + "HHIIII", raw, o + 8)
                if iface_id >= len(self.info.interfaces):
                    self.anomalies.add(
                        "unknown_interface", f"{self.path.name} byte {o + base}", "skipped"
                    )
                    continue
                cap = min(cap, blen - 32)
                data_at, link = o + 28, self.info.interfaces[iface_id].linktype
                ts = ((hi << 32) | lo) * 1000
            yield self._batch(
                arr,
                np.array([data_at], dtype=np.int64),
                np.array([cap], dtype=np.int64),
                np.array([max(cap, wire)], dtype=np.int64),
                np.array([ts], dtype=np.int64),
                link,
                np.array([o + base], dtype=np.int64),
            )
        if run:
            yield self._epb_batch(arr, np.asarray(run, dtype=np.int64), base, big)


def read_capture(
    path: Path, *, chunk_bytes: int = CHUNK_BYTES, anomalies: Anomalies | None = None
) -> Iterator[PacketBatch]:
    """The packets of a capture file, batch by batch."""
    return iter(CaptureReader(path, chunk_bytes=chunk_bytes, anomalies=anomalies))
