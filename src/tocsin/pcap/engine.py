"""The packet engine: capture file in, flow columns (and the packet index) out.

Per batch: decode headers in bulk; send the few packets the bulk path can't finish (IP fragments,
IPv6 extension headers) through a one-by-one path that rebuilds them as plain IP datagrams, which
are decoded in bulk in turn; fold everything into the flow table. Finished flows come out as
Arrow tables shaped as ``pcap.flow`` events, and each packet's flow as index rows.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tocsin.pcap.anomalies import Anomalies
from tocsin.pcap.capture import CaptureReader, PacketBatch
from tocsin.pcap.communityid import community_id
from tocsin.pcap.decode import ICMP, ICMP6, Decoded, decode
from tocsin.pcap.flows import (
    TRANSPORTS,
    Columns,
    FlowPackets,
    FlowTable,
    conn_states,
    histories,
)
from tocsin.pcap.frag import Reassembler

I64 = npt.NDArray[np.int64]
RAW = 101
V6_EXT = {0, 43, 60, 135, 139, 140}  # hop-by-hop, routing, destination options, mobility, HIP
V6_FRAGMENT, V6_AH, V6_ESP = 44, 51, 50
TIMESTAMP = pa.timestamp("us", tz="UTC")


def capture_id(path: Path) -> str:
    """A capture's id: its size and a hash of its first 64 KiB (stable across copies)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    digest = hashlib.blake2b(head, digest_size=8, key=str(size).encode()).hexdigest()
    return digest


@dataclass(slots=True)
class EngineStats:
    """What one capture gave."""

    packets: int = 0
    bytes: int = 0
    ip_packets: int = 0
    flows: int = 0
    reassembled: int = 0
    seconds: float = 0.0
    first_ts: int | None = None
    last_ts: int | None = None
    anomalies: Anomalies = field(default_factory=Anomalies)

    def to_dict(self) -> dict[str, object]:
        """The figures, JSON-ready."""
        return {
            "packets": self.packets,
            "bytes": self.bytes,
            "ip_packets": self.ip_packets,
            "flows": self.flows,
            "reassembled_datagrams": self.reassembled,
            "seconds": round(self.seconds, 3),
            "anomalies": self.anomalies.to_dict(),
        }


@dataclass(slots=True)
class BatchResult:
    """One step of the engine: flows finished, and the packets' flows for the index."""

    flows: pa.Table | None
    index_number: I64
    index_offset: I64
    index_flow: I64
    batch: PacketBatch
    decoded: Decoded
    packet_flow: I64  # per packet of ``batch``: its flow's sequence number, -1 for none


class PacketEngine:
    """Read one capture and fold it into flows."""

    def __init__(
        self,
        path: Path,
        *,
        cid: str | None = None,
        chunk_bytes: int | None = None,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.cid = cid or capture_id(self.path)
        self.stats = EngineStats()
        kwargs = {"chunk_bytes": chunk_bytes} if chunk_bytes else {}
        self.reader = CaptureReader(self.path, anomalies=self.stats.anomalies, **kwargs)
        self.table = FlowTable()
        self.frag = Reassembler()
        self.on_batch = on_batch
        # fragments waiting for their datagram: key -> [(number, file offset)]
        self._members: dict[tuple[int, bytes, bytes, int], list[tuple[int, int]]] = {}
        self._wire: dict[tuple[int, bytes, bytes, int], int] = {}

    def run(self) -> Iterator[BatchResult]:
        """Each batch's result, finished flows included; the last one closes every flow."""
        started = time.perf_counter()
        name = self.path.name
        stats = self.stats
        for batch in self.reader:
            stats.packets += len(batch)
            stats.bytes += int(batch.wirelen.sum())
            if len(batch):
                lo, hi = int(batch.ts.min()), int(batch.ts.max())
                stats.first_ts = lo if stats.first_ts is None else min(stats.first_ts, lo)
                stats.last_ts = hi if stats.last_ts is None else max(stats.last_ts, hi)
            dec = decode(batch, stats.anomalies, name)
            main = (dec.ipver > 0) & ~dec.frag & ~dec.slow
            stats.ip_packets += int((dec.ipver > 0).sum())
            parts = [_flow_packets(batch, dec, main)]
            members: list[tuple[int, list[tuple[int, int]]]] = []
            extra = self._slow_path(batch, dec, members)
            if extra is not None:
                parts.append(extra)
            packets = FlowPackets.concat(parts)
            finished, seqs = self.table.add(packets)
            packet_flow = np.full(len(batch), -1, dtype=np.int64)
            n_main = int(main.sum())
            packet_flow[main] = seqs[:n_main]
            numbers = [batch.number[main]]
            offsets = [batch.file_off[main]]
            flows = [seqs[:n_main]]
            for row, frames in members:  # each fragment of a datagram joins its flow
                seq = int(seqs[n_main + row])
                numbers.append(np.array([f[0] for f in frames], dtype=np.int64))
                offsets.append(np.array([f[1] for f in frames], dtype=np.int64))
                flows.append(np.full(len(frames), seq, dtype=np.int64))
                first = int(batch.number[0])
                for number, _off in frames:
                    if first <= number < first + len(batch):
                        packet_flow[number - first] = seq
            result = BatchResult(
                self._table(finished),
                np.concatenate(numbers),
                np.concatenate(offsets),
                np.concatenate(flows),
                batch,
                dec,
                packet_flow,
            )
            yield result
        closing = self._table(self.table.close())
        stats.anomalies.merge(self.frag.anomalies, name)
        stats.seconds = time.perf_counter() - started
        if closing is not None:
            empty = _empty_batch()
            yield BatchResult(closing, *_empty_index(), empty, decode(empty), _empty_index()[0])

    # the one-by-one path ---------------------------------------------------------------------
    def _slow_path(
        self,
        batch: PacketBatch,
        dec: Decoded,
        members: list[tuple[int, list[tuple[int, int]]]],
    ) -> FlowPackets | None:
        slow = np.flatnonzero((dec.ipver > 0) & (dec.frag | dec.slow))
        if slow.shape[0] == 0:
            return None
        datagrams: list[bytes] = []
        meta: list[tuple[int, int, int, int]] = []  # ts, fragments, wire bytes, number
        for i in slow.tolist():
            start = int(dec.l3[i])
            ip = batch.buf[start : start + int(dec.ip_len[i])].tobytes()
            ts = int(batch.ts[i])
            number, offset = int(batch.number[i]), int(batch.file_off[i])
            wire = int(batch.wirelen[i])
            if dec.ipver[i] == 4:
                key = (4, ip[12:16], ip[16:20], (ip[9] << 16) | (ip[4] << 8) | ip[5])
                whole = self._fragment(key, number, offset, wire, self.frag.add_ipv4(ts, ip))
            else:
                rebuilt, frag_at = _strip_v6(ip)
                if frag_at < 0:
                    whole = (rebuilt, 1, wire, [(number, offset)]) if rebuilt else None
                else:
                    ident = ip[frag_at + 4 : frag_at + 8]
                    key = (6, ip[8:24], ip[24:40], int.from_bytes(ident, "big"))
                    got = self.frag.add_ipv6(ts, ip, frag_at)
                    whole = self._fragment(key, number, offset, wire, got)
                    if whole is not None:
                        stripped, _ = _strip_v6(whole[0])
                        whole = (stripped or whole[0], *whole[1:]) if stripped else whole
            if whole is None:
                continue
            data, count, wire_total, frames = whole
            if count > 1:
                self.stats.reassembled += 1
            members.append((len(datagrams), frames))
            datagrams.append(data)
            meta.append((ts, count, wire_total, number))
        if not datagrams:
            return None
        sizes = np.array([len(d) for d in datagrams], dtype=np.int64)
        offs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        m = np.array(meta, dtype=np.int64)
        mini = PacketBatch(
            np.frombuffer(b"".join(datagrams), dtype=np.uint8),
            offs,
            sizes,
            sizes,
            m[:, 0],
            np.full(len(datagrams), RAW, dtype=np.int64),
            m[:, 3],
            np.zeros(len(datagrams), dtype=np.int64),
        )
        dec2 = decode(mini, self.stats.anomalies, self.path.name)
        rows = np.ones(len(datagrams), dtype=np.bool_)
        fp = _flow_packets(mini, dec2, rows)
        fp.count = m[:, 1]
        fp.wire = m[:, 2]
        return fp

    def _fragment(
        self,
        key: tuple[int, bytes, bytes, int],
        number: int,
        offset: int,
        wire: int,
        whole: bytes | None,
    ) -> tuple[bytes, int, int, list[tuple[int, int]]] | None:
        frames = self._members.setdefault(key, [])
        if len(frames) < 256:
            frames.append((number, offset))
        self._wire[key] = self._wire.get(key, 0) + wire
        if whole is None:
            if len(self._members) > 8192:  # the reassembler evicts; so do we, oldest first
                oldest = next(iter(self._members))
                self._members.pop(oldest, None)
                self._wire.pop(oldest, None)
            return None
        frames = self._members.pop(key, [(number, offset)])
        return whole, len(frames), self._wire.pop(key, wire), frames

    # flows to Arrow -----------------------------------------------------------------------------
    def _table(self, cols: Columns | None) -> pa.Table | None:
        if cols is None:
            return None
        self.stats.flows += int(cols["h"].shape[0])
        return flow_table(cols, self.cid)


def _empty_index() -> tuple[I64, I64, I64]:
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty, empty


def _empty_batch() -> PacketBatch:
    empty = np.zeros(0, dtype=np.int64)
    return PacketBatch(np.zeros(1, dtype=np.uint8), empty, empty, empty, empty, empty, empty, empty)


def _flow_packets(batch: PacketBatch, dec: Decoded, rows: npt.NDArray[np.bool_]) -> FlowPackets:
    return FlowPackets(
        ts=batch.ts[rows],
        ipver=dec.ipver[rows],
        proto=dec.proto[rows],
        src_hi=dec.src_hi[rows],
        src_lo=dec.src_lo[rows],
        dst_hi=dec.dst_hi[rows],
        dst_lo=dec.dst_lo[rows],
        sport=dec.sport[rows],
        dport=dec.dport[rows],
        flags=dec.tcp_flags[rows],
        wire=batch.wirelen[rows],
        count=np.ones(int(rows.sum()), dtype=np.int64),
        payload=dec.payload_len[rows],
        vlan=dec.vlan[rows],
        number=batch.number[rows],
    )


def _strip_v6(ip: bytes) -> tuple[bytes | None, int]:
    """An IPv6 packet without its extension headers, or the fragment header's offset."""
    if len(ip) < 40:
        return None, -1
    nxt, at = ip[6], 40
    for _ in range(16):
        if nxt == V6_FRAGMENT:
            return None, at
        if nxt == V6_AH:
            if at + 2 > len(ip):
                return None, -1
            nxt, at = ip[at], at + (ip[at + 1] + 2) * 4
            continue
        if nxt not in V6_EXT:
            break
        if at + 2 > len(ip):
            return None, -1
        nxt, at = ip[at], at + (ip[at + 1] + 1) * 8
    if at > len(ip):
        return None, -1
    body = ip[at:]
    header = ip[:4] + struct.pack("!HBB", len(body), nxt, ip[7]) + ip[8:40]
    return header + body, -1


def _addresses(
    hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]
) -> tuple[list[str], npt.NDArray[np.uint8]]:
    """Addresses as text (each distinct one converted once) and as 16 packed bytes per row."""
    v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
    texts = np.empty(hi.shape[0], dtype=object)
    if v4.any():
        values, inverse = np.unique(lo[v4] & np.uint64(0xFFFFFFFF), return_inverse=True)
        names = np.array(
            [socket.inet_ntop(socket.AF_INET, struct.pack("!I", v)) for v in values.tolist()],
            dtype=object,
        )
        texts[v4] = names[inverse.ravel()]
    if (~v4).any():
        pairs = np.stack([hi[~v4], lo[~v4]], axis=1)
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        names = np.array(
            [
                socket.inet_ntop(socket.AF_INET6, struct.pack("!QQ", h, low))
                for h, low in uniq.tolist()
            ],
            dtype=object,
        )
        texts[~v4] = names[inverse.ravel()]
    packed = np.empty((hi.shape[0], 2), dtype=">u8")
    packed[:, 0] = hi
    packed[:, 1] = lo
    return list(texts.tolist()), packed.view(np.uint8).reshape(-1, 16)


try:  # CPython's own SHA-1 starts faster than OpenSSL's for 16 to 40 bytes (no FIPS role here)
    from _sha1 import sha1 as _SHA1  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - other interpreters
    _SHA1 = hashlib.sha1

_B64 = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", dtype=np.uint8
)


def _base64_rows(digests: npt.NDArray[np.uint8]) -> list[str]:
    """``1:`` and the base64 of each 20-byte row (SHA-1 digests), encoded with numpy."""
    n = digests.shape[0]
    padded = np.zeros((n, 21), dtype=np.uint8)
    padded[:, :20] = digests
    groups = padded.reshape(n, 7, 3).astype(np.uint32)
    word = (groups[:, :, 0] << 16) | (groups[:, :, 1] << 8) | groups[:, :, 2]
    sextets = np.stack(
        [(word >> 18) & 63, (word >> 12) & 63, (word >> 6) & 63, word & 63], axis=2
    ).reshape(n, 28)
    chars = np.empty((n, 30), dtype=np.uint8)
    chars[:, 0], chars[:, 1] = ord("1"), ord(":")
    chars[:, 2:] = _B64[sextets]
    chars[:, 29] = ord("=")  # 20 bytes: 27 characters and one pad
    return [text.decode("ascii") for text in chars.view("S30").ravel().tolist()]


def _community_ids(
    src: npt.NDArray[np.uint8],
    dst: npt.NDArray[np.uint8],
    v4: npt.NDArray[np.bool_],
    proto: I64,
    sport: I64,
    dport: I64,
) -> list[str]:
    """Community IDs of many flows: the spec's bytes laid out with numpy, one SHA-1 each."""
    n = proto.shape[0]
    out: list[str] = [""] * n
    icmp = (proto == ICMP) | (proto == ICMP6)
    for i in np.flatnonzero(icmp).tolist():  # type/code mapping: the rare case, done one by one
        cut = slice(12, 16) if v4[i] else slice(0, 16)
        out[i] = community_id(
            src[i, cut].tobytes(),
            dst[i, cut].tobytes(),
            int(proto[i]),
            int(sport[i]),
            int(dport[i]),
        )
    for is_v4, width in ((True, 4), (False, 16)):
        rows = np.flatnonzero((v4 == is_v4) & ~icmp)
        if rows.shape[0] == 0:
            continue
        a = src[rows, 16 - width :] if is_v4 else src[rows]
        b = dst[rows, 16 - width :] if is_v4 else dst[rows]
        sp, dp = sport[rows], dport[rows]
        # order the endpoints: (address, port) of the first endpoint is the smaller
        diff = a.astype(np.int16) - b.astype(np.int16)
        nonzero = diff != 0
        first = np.argmax(nonzero, axis=1)
        sign = np.where(nonzero.any(axis=1), diff[np.arange(rows.shape[0]), first], 0)
        swap = (sign > 0) | ((sign == 0) & (sp > dp))
        lo_addr = np.where(swap[:, None], b, a)
        hi_addr = np.where(swap[:, None], a, b)
        lo_port = np.where(swap, dp, sp)
        hi_port = np.where(swap, sp, dp)
        size = 2 + 2 * width + 2 + 4
        raw = np.zeros((rows.shape[0], size), dtype=np.uint8)
        raw[:, 2 : 2 + width] = lo_addr
        raw[:, 2 + width : 2 + 2 * width] = hi_addr
        raw[:, 2 + 2 * width] = proto[rows]
        raw[:, size - 4] = lo_port >> 8
        raw[:, size - 3] = lo_port & 0xFF
        raw[:, size - 2] = hi_port >> 8
        raw[:, size - 1] = hi_port & 0xFF
        blob = raw.tobytes()
        sha1 = _SHA1
        digests = b"".join(
            [sha1(blob[k : k + size]).digest() for k in range(0, rows.shape[0] * size, size)]
        )
        texts = _base64_rows(np.frombuffer(digests, dtype=np.uint8).reshape(-1, 20))
        for i, text in zip(rows.tolist(), texts, strict=True):
            out[i] = text
    return out


def _joined(prefix: str, numbers: I64) -> pa.Array:
    """``prefix`` and each number, as a string array (built by Arrow, not per row in Python)."""
    text = pa.array(numbers, type=pa.int64()).cast(pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), text, "")


def flow_table(cols: Columns, cid: str) -> pa.Table:
    """Flow columns as ``pcap.flow`` events (an Arrow table with the envelope columns)."""
    n = int(cols["h"].shape[0])
    first_dir = cols["first_dir"]
    # the originator sent the first packet, unless that packet was a SYN-ACK
    synack = (cols["first_flags"] & 0x12) == 0x12
    orig = np.where(synack & (cols["proto"] == 6), 1 - first_dir, first_dir)
    o1 = orig.astype(np.bool_)
    src_hi = np.where(o1, cols["b_hi"], cols["a_hi"])
    src_lo = np.where(o1, cols["b_lo"], cols["a_lo"])
    dst_hi = np.where(o1, cols["a_hi"], cols["b_hi"])
    dst_lo = np.where(o1, cols["a_lo"], cols["b_lo"])
    sport = np.where(o1, cols["b_port"], cols["a_port"])
    dport = np.where(o1, cols["a_port"], cols["b_port"])
    # the first packet's own ports are the true ones (ICMP keys map replies to requests)
    same_dir = first_dir == orig
    sport = np.where(same_dir, cols["first_sport"], cols["first_dport"])
    dport = np.where(same_dir, cols["first_dport"], cols["first_sport"])

    def side(name: str, of_orig: bool) -> I64:
        zero, one = cols[name + "0"], cols[name + "1"]
        return np.asarray(np.where(o1 == of_orig, one, zero), dtype=np.int64)

    spk, dpk = side("pkts", True), side("pkts", False)
    sby, dby = side("bytes", True), side("bytes", False)
    spay, dpay = side("pay", True), side("pay", False)
    ev_o, ev_r = side("ev", True), side("ev", False)
    proto = np.asarray(cols["proto"], dtype=np.int64)
    src_text, src_raw = _addresses(src_hi, src_lo)
    dst_text, dst_raw = _addresses(dst_hi, dst_lo)
    icmp = (proto == ICMP) | (proto == ICMP6)
    cids = _community_ids(src_raw, dst_raw, cols["ipver"] == 4, proto, sport, dport)
    seqs = np.asarray(cols["seq"], dtype=np.int64)
    prefix = hashlib.blake2b(f"pcap:{cid}".encode(), digest_size=8).hexdigest()
    start, end = cols["first_ts"], cols["last_ts"]
    codes, where = np.unique(proto, return_inverse=True)
    names = np.array([TRANSPORTS.get(c, str(c)) for c in codes.tolist()], dtype=object)
    transport = names[where.ravel()].tolist()
    ports_ok = ~icmp
    vlan = cols["vlan"]
    columns: dict[str, pa.Array] = {
        "@timestamp": pa.array(start // 1000, type=pa.int64()).cast(TIMESTAMP),
        "event.id": _joined(prefix + "-f", seqs),
        "event.dataset": pa.repeat(pa.scalar("pcap.flow"), n),
        "event.kind": pa.repeat(pa.scalar("event"), n),
        "event.category": pa.array([["network"]] * n, type=pa.list_(pa.string())),
        "event.type": pa.array([["connection"]] * n, type=pa.list_(pa.string())),
        "event.start": pa.array(start // 1000, type=pa.int64()).cast(TIMESTAMP),
        "event.end": pa.array(end // 1000, type=pa.int64()).cast(TIMESTAMP),
        "event.duration": pa.array(end - start, type=pa.int64()),
        "source.ip": pa.array(src_text),
        "source.port": pa.array(sport, type=pa.int64(), mask=~ports_ok),
        "destination.ip": pa.array(dst_text),
        "destination.port": pa.array(dport, type=pa.int64(), mask=~ports_ok),
        "network.transport": pa.array(transport),
        "network.type": pa.array(np.where(cols["ipver"] == 6, "ipv6", "ipv4").tolist()),
        "network.community_id": pa.array(cids),
        "network.vlan.id": pa.array(vlan, mask=vlan < 0).cast(pa.string()),
        "source.packets": pa.array(spk, type=pa.int64()),
        "destination.packets": pa.array(dpk, type=pa.int64()),
        "source.bytes": pa.array(sby, type=pa.int64()),
        "destination.bytes": pa.array(dby, type=pa.int64()),
        "network.packets": pa.array(spk + dpk, type=pa.int64()),
        "network.bytes": pa.array(sby + dby, type=pa.int64()),
        "orig_bytes": pa.array(spay, type=pa.int64()),
        "resp_bytes": pa.array(dpay, type=pa.int64()),
        "conn_state": pa.array(conn_states(proto, ev_o, ev_r, dpk)),
        "history": pa.array(histories(ev_o, ev_r)),
        "icmp.type": pa.array(sport, type=pa.int64(), mask=~icmp),
        "icmp.code": pa.array(dport, type=pa.int64(), mask=~icmp),
        "flow.id": _joined(cid + "-", seqs),
        "pcap.capture": pa.repeat(pa.scalar(cid), n),
        "pcap.first_packet": pa.array(cols["first_number"], type=pa.int64()),
    }
    return pa.table(columns)


def now_utc() -> datetime:
    """The current time, UTC (one place, for the ingest stamp)."""
    return datetime.now(UTC)
