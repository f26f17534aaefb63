"""IPv4 and IPv6 fragment reassembly, bounded whatever the input.

Fragments are kept per datagram (IPv4: source, destination, protocol, identification; IPv6:
source, destination, identification) as byte ranges. When the ranges cover the datagram from 0
to the end the last fragment announced, the datagram is rebuilt: IPv4 with the first fragment's
header (offset and more-fragments cleared, length and checksum fixed), IPv6 without its fragment
header (the header before it points to the next one, payload length fixed).

Overlaps are an evasion technique (Teardrop, and IDS evasion by overlapping segments that
different stacks resolve differently): an overlap with the same bytes is counted as
``frag_overlap``; with different bytes as ``frag_overlap_conflict``; either way the first data
wins, as most stacks do now. Memory is bounded three ways: datagrams pending, bytes held, and
fragments per datagram; the oldest datagram is evicted first, and incomplete datagrams expire.
"""

from __future__ import annotations

import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

MAX_DATAGRAM = 65_535
V6_EXT = {0, 43, 60, 135, 139, 140}


@dataclass(slots=True)
class _Datagram:
    first_ts: int
    header: bytes = b""  # IPv4 header, or the IPv6 unfragmentable part (offset-0 fragment)
    next_header: int = -1  # IPv6: the protocol after the fragment header
    total: int = -1  # payload length, once the last fragment came
    ranges: list[tuple[int, int, bytes]] = field(default_factory=list)  # sorted, disjoint
    held: int = 0
    fragments: int = 0


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


class Reassembler:
    """Put fragments back together; ``anomalies`` counts what was odd."""

    def __init__(
        self,
        *,
        timeout_ns: int = 30_000_000_000,
        max_datagrams: int = 4096,
        max_bytes: int = 32 * 2**20,
        max_fragments: int = 64,
        max_datagram_size: int = MAX_DATAGRAM,
    ) -> None:
        self.timeout_ns = timeout_ns
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.max_fragments = max_fragments
        self.max_datagram_size = max_datagram_size
        self.anomalies: Counter[str] = Counter()
        self._pending: OrderedDict[tuple[object, ...], _Datagram] = OrderedDict()
        self._held = 0

    @property
    def pending(self) -> int:
        """Datagrams waiting for fragments."""
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        """Fragment bytes held."""
        return self._held

    def expire(self, now_ns: int) -> int:
        """Drop the datagrams whose first fragment is older than the timeout."""
        dropped = 0
        while self._pending:
            key, oldest = next(iter(self._pending.items()))
            if now_ns - oldest.first_ts <= self.timeout_ns:
                break
            self._drop(key)
            self.anomalies["frag_timeout"] += 1
            dropped += 1
        return dropped

    def _drop(self, key: tuple[object, ...]) -> None:
        found = self._pending.pop(key, None)
        if found is not None:
            self._held -= found.held

    def _slot(self, key: tuple[object, ...], ts: int) -> _Datagram:
        self.expire(ts)
        found = self._pending.get(key)
        if found is None:
            while len(self._pending) >= self.max_datagrams:
                self._drop(next(iter(self._pending)))
                self.anomalies["frag_table_full"] += 1
            found = self._pending[key] = _Datagram(ts)
        return found

    def _add(
        self, key: tuple[object, ...], dgram: _Datagram, start: int, data: bytes, last: bool
    ) -> bool:
        """Add a fragment's range; False when the datagram had to be given up."""
        end = start + len(data)
        if end > self.max_datagram_size:
            self.anomalies["frag_oversize"] += 1
            self._drop(key)
            return False
        if not last and len(data) % 8:
            self.anomalies["frag_bad_length"] += 1
            return True  # this fragment is unusable; the datagram may still complete
        if last:
            if dgram.total >= 0 and dgram.total != end:
                self.anomalies["frag_overlap_conflict"] += 1  # two different ends
                return True
            dgram.total = end
        dgram.fragments += 1
        if dgram.fragments > self.max_fragments:
            self.anomalies["frag_too_many"] += 1
            self._drop(key)
            return False
        fresh: list[tuple[int, int, bytes]] = []
        cursor = start
        overlap = conflict = False
        for r_start, r_end, r_data in dgram.ranges:
            if r_end <= cursor or r_start >= end:
                continue
            if r_start > cursor:
                fresh.append((cursor, r_start, data[cursor - start : r_start - start]))
            lo, hi = max(cursor, r_start), min(end, r_end)
            overlap = True
            if data[lo - start : hi - start] != r_data[lo - r_start : hi - r_start]:
                conflict = True
            cursor = max(cursor, r_end)
        if cursor < end:
            fresh.append((cursor, end, data[cursor - start :]))
        if conflict:
            self.anomalies["frag_overlap_conflict"] += 1
        elif overlap:
            self.anomalies["frag_overlap"] += 1
        added = sum(e - s for s, e, _ in fresh)
        while self._held + added > self.max_bytes and self._pending:
            oldest = next(iter(self._pending))
            if oldest == key:
                break
            self._drop(oldest)
            self.anomalies["frag_table_full"] += 1
        if self._held + added > self.max_bytes:
            self.anomalies["frag_table_full"] += 1
            self._drop(key)
            return False
        if fresh:
            dgram.ranges = sorted(dgram.ranges + fresh)
            dgram.held += added
            self._held += added
        return True

    @staticmethod
    def _whole(dgram: _Datagram) -> bytes | None:
        if dgram.total < 0 or not dgram.header:
            return None
        cursor = 0
        parts = []
        for start, end, data in dgram.ranges:
            if start > cursor:
                return None
            if end > cursor:
                parts.append(data[cursor - start :])
                cursor = end
        return b"".join(parts) if cursor >= dgram.total else None

    def add_ipv4(self, ts_ns: int, packet: bytes | memoryview) -> bytes | None:
        """Add an IPv4 fragment (header included); the whole datagram once complete."""
        packet = bytes(packet)
        if len(packet) < 20:
            self.anomalies["frag_bad_length"] += 1
            return None
        ihl = (packet[0] & 0x0F) * 4
        total = struct.unpack_from("!H", packet, 2)[0]
        if ihl < 20 or len(packet) < ihl:
            self.anomalies["frag_bad_length"] += 1
            return None
        body = packet[ihl : min(total, len(packet))] if total >= ihl else packet[ihl:]
        flags = struct.unpack_from("!H", packet, 6)[0]
        offset = (flags & 0x1FFF) * 8
        more = bool(flags & 0x2000)
        key = (4, packet[12:16], packet[16:20], packet[9], packet[4:6])
        dgram = self._slot(key, ts_ns)
        if offset == 0 and not dgram.header:
            dgram.header = packet[:ihl]
        if not self._add(key, dgram, offset, body, not more):
            return None
        whole = self._whole(dgram)
        if whole is None:
            return None
        self._drop(key)
        header = bytearray(dgram.header)
        struct.pack_into("!H", header, 2, len(header) + len(whole))
        struct.pack_into("!H", header, 6, struct.unpack_from("!H", header, 6)[0] & 0x4000)
        struct.pack_into("!H", header, 10, 0)
        struct.pack_into("!H", header, 10, _checksum(bytes(header)))
        return bytes(header) + whole

    def add_ipv6(self, ts_ns: int, packet: bytes | memoryview, frag_at: int) -> bytes | None:
        """Add an IPv6 fragment whose Fragment header starts at ``frag_at``."""
        packet = bytes(packet)
        if len(packet) < frag_at + 8 or frag_at < 40:
            self.anomalies["frag_bad_length"] += 1
            return None
        plen = struct.unpack_from("!H", packet, 4)[0]
        end = min(len(packet), 40 + plen) if plen else len(packet)
        next_header = packet[frag_at]
        field_word = struct.unpack_from("!H", packet, frag_at + 2)[0]
        offset = field_word & 0xFFF8
        more = bool(field_word & 1)
        ident = packet[frag_at + 4 : frag_at + 8]
        key = (6, packet[8:24], packet[24:40], ident)
        dgram = self._slot(key, ts_ns)
        if offset == 0 and not dgram.header:
            dgram.header = packet[:frag_at]
            dgram.next_header = next_header
        if not self._add(key, dgram, offset, packet[frag_at + 8 : end], not more):
            return None
        whole = self._whole(dgram)
        if whole is None:
            return None
        self._drop(key)
        header = bytearray(dgram.header)
        # the header just before the fragment header now points where the fragment header did
        at, nxt_pos = 40, 6
        while at < len(header) and header[nxt_pos] in V6_EXT:
            nxt_pos = at
            at += (header[at + 1] + 1) * 8
        header[nxt_pos] = dgram.next_header
        struct.pack_into("!H", header, 4, len(header) - 40 + len(whole))
        return bytes(header) + whole
