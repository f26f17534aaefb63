"""TCP stream reassembly for the flows whose protocol we parse, bounded per direction.

Only flows worth it are followed: a well-known port of a parsed protocol, or a first payload that
looks like HTTP, TLS or SMTP (checked on the whole batch at once). Their data segments are kept
per sending endpoint, up to ``max_bytes`` each; when the flow ends the segments are put in
sequence order (relative to the first sequence number seen, so the 32-bit wrap is harmless),
retransmitted and overlapping bytes are kept once (first copy wins), and a hole ends the stream,
which is then marked ``gap``. At most ``max_flows`` flows are followed at once, so a flood of
connections cannot grow memory without bound; the ones refused are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tocsin.pcap.capture import PacketBatch
from tocsin.pcap.decode import TCP, Decoded

PORTS = np.array(
    [21, 25, 53, 80, 443, 465, 587, 2525, 3128, 8000, 8008, 8080, 8443, 8888], dtype=np.int64
)
_METHODS = [m.encode() for m in ("GET ", "POST", "HEAD", "PUT ", "DELE", "OPTI", "PATC", "CONN")]
_STARTS = np.array(
    [int.from_bytes(m, "big") for m in (*_METHODS, b"HTTP", b"220 ", b"220-", b"EHLO", b"HELO")],
    dtype=np.int64,
)

TLS_BYTES = 64 * 1024  # a TLS flow is followed only for its hellos
Endpoint = tuple[bytes, int]  # (address as 16 bytes, port)


@dataclass(slots=True)
class Stream:
    """The data one endpoint of a flow sent."""

    first_ts: int
    isn: int
    segments: list[tuple[int, bytes]] = field(default_factory=list)
    size: int = 0
    capped: bool = False

    def assemble(self) -> tuple[bytes, bool]:
        """The bytes in order, and whether a hole (or the cap) cut them short."""
        ordered = sorted(self.segments, key=lambda s: s[0])
        out = bytearray()
        end = 0
        gap = False
        for rel, data in ordered:
            if rel > end:
                gap = True
                break
            skip = end - rel
            if skip < len(data):
                out += data[skip:]
                end = rel + len(data)
        return bytes(out), gap or self.capped


@dataclass(slots=True)
class FlowStreams:
    """The streams of one followed flow, by sending endpoint."""

    streams: dict[Endpoint, Stream] = field(default_factory=dict)
    limit: int = 0  # bytes kept per direction (TLS needs only its hellos)


class StreamCollector:
    """Follow the TCP flows whose protocol we parse; hand over their streams when they end."""

    def __init__(self, *, max_bytes: int = 4 * 2**20, max_flows: int = 50_000) -> None:
        self.max_bytes = max_bytes
        self.max_flows = max_flows
        self.flows: dict[int, FlowStreams] = {}
        self.refused = 0
        self._refused_seqs: set[int] = set()

    def add(self, batch: PacketBatch, dec: Decoded, packet_flow: npt.NDArray[np.int64]) -> None:
        """Keep the data segments of followed flows (deciding which flows to follow)."""
        data = (dec.proto == TCP) & (dec.payload_len > 0) & (packet_flow >= 0) & ~dec.frag
        if not data.any():
            return
        rows = np.flatnonzero(data)
        ported = np.isin(dec.sport[rows], PORTS) | np.isin(dec.dport[rows], PORTS)
        buf = batch.buf
        starts = dec.payload_off[rows]
        head = np.zeros(rows.shape[0], dtype=np.int64)
        long_enough = dec.payload_len[rows] >= 4
        safe = np.clip(starts, 0, buf.shape[0] - 4)
        for k in range(4):
            head = (head << 8) | buf[safe + k].astype(np.int64)
        looks = long_enough & (
            np.isin(head, _STARTS) | ((head >> 16) == 0x1603)  # a TLS handshake record
        )
        seqs = packet_flow[rows]
        candidates = np.unique(seqs[ported | looks]).tolist()
        tls = set(np.unique(seqs[long_enough & ((head >> 16) == 0x1603)]).tolist())
        for seq in candidates:
            if seq not in self.flows and seq not in self._refused_seqs:
                if len(self.flows) >= self.max_flows:
                    self.refused += 1
                    self._refused_seqs.add(seq)
                    continue
                limit = min(TLS_BYTES, self.max_bytes) if seq in tls else self.max_bytes
                self.flows[seq] = FlowStreams(limit=limit)
        followed = np.isin(seqs, np.fromiter(self.flows, dtype=np.int64, count=len(self.flows)))
        if not followed.any():
            return
        chosen = rows[followed]
        # every per-packet value as plain Python objects at once (no numpy scalar per field)
        keys = np.empty((chosen.shape[0], 2), dtype=">u8")
        keys[:, 0] = dec.src_hi[chosen]
        keys[:, 1] = dec.src_lo[chosen]
        addresses = keys.view(np.uint8).reshape(-1, 16)
        flows = packet_flow[chosen].tolist()
        sports = dec.sport[chosen].tolist()
        seqnos = dec.seq[chosen].tolist()
        stamps = batch.ts[chosen].tolist()
        offsets = dec.payload_off[chosen].tolist()
        lengths = dec.payload_len[chosen].tolist()
        raw = addresses.tobytes()
        for k, seq in enumerate(flows):
            endpoint = (raw[16 * k : 16 * k + 16], sports[k])
            followed_flow = self.flows[seq]
            streams = followed_flow.streams
            limit = followed_flow.limit or self.max_bytes
            stream = streams.get(endpoint)
            tcp_seq = seqnos[k]
            if stream is None:
                stream = streams[endpoint] = Stream(stamps[k], tcp_seq)
            if stream.size >= limit:
                stream.capped = True
                continue
            start = offsets[k]
            length = min(lengths[k], limit - stream.size)
            rel = (tcp_seq - stream.isn) & 0xFFFFFFFF
            if rel > 0x7FFFFFFF:  # before the first segment seen: a retransmission; drop it
                continue
            stream.segments.append((rel, buf[start : start + length].tobytes()))
            stream.size += length

    def finish(self, seqs: list[int]) -> dict[int, FlowStreams]:
        """The streams of these ended flows (those followed), forgotten here."""
        done: dict[int, FlowStreams] = {}
        for seq in seqs:
            found = self.flows.pop(seq, None)
            if found is not None:
                done[seq] = found
            self._refused_seqs.discard(seq)
        return done
