"""IPv4 and IPv6 fragment reassembly, bounded whatever the input.

Fragments are kept per datagram (IPv4: source, destination, protocol, identification; IPv6:
source, destination, identification, as RFC 8200 keys them) as byte ranges. When the ranges
cover the datagram from 0 to the end the last fragment announced, the datagram is rebuilt: IPv4
with the first fragment's header (offset and more-fragments cleared, length and checksum fixed),
IPv6 without its fragment header (the header before it points to the next one, payload length
fixed).

Overlaps are an evasion technique (Teardrop, and IDS evasion by overlapping fragments that
different stacks resolve differently): an overlap with the same bytes is counted as
``frag_overlap``; with different bytes as ``frag_overlap_conflict``; either way the first data
wins, as most stacks do now, so what we see is stable whatever order the copies came in.
Memory is bounded three ways: datagrams pending, bytes held (data and kept headers), and
fragments per datagram; the oldest datagram is evicted first, and incomplete datagrams expire.
A fragment is checked before it takes a place: one cut short by the snap length is refused
(``frag_cut``), since its hole could never be filled and, as the last fragment, it would end the
datagram early; so are non-final fragments whose data is not a multiple of 8, data past the end
the last fragment set, and a datagram beyond 65,535 bytes (``frag_oversize``, given up whole).
"""

from __future__ import annotations

import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

MAX_DATAGRAM = 65_535
# extension headers that may sit before the fragment header (AH counts in 4-byte words)
V6_EXT = frozenset({0, 43, 51, 60, 135, 139, 140})
V6_FRAGMENT = 44

_U16 = struct.Struct("!H")
_Key = tuple[int, bytes, bytes, int]


@dataclass(slots=True)
class _Datagram:
    first_ts: int
    header: bytes = b""  # IPv4 header, or the IPv6 unfragmentable part (offset-0 fragment)
    next_header: int = -1  # IPv6: the protocol after the fragment header
    total: int = -1  # payload length, once the last fragment came
    ranges: list[tuple[int, int, bytes]] = field(default_factory=list)  # sorted, disjoint
    held: int = 0  # bytes charged to the table: range data and the kept header
    fragments: int = 0


def _checksum(header: bytes | bytearray) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _pointer_to_fragment(header: bytes | bytearray) -> int:
    """Where the next-header byte naming the fragment header is (-1 when the chain is broken)."""
    at, pos = 40, 6
    while at < len(header):
        kind = header[pos]
        if kind not in V6_EXT or at + 2 > len(header):
            return -1
        pos = at
        at += (header[at + 1] + 2) * 4 if kind == 51 else (header[at + 1] + 1) * 8
    return pos if at == len(header) and header[pos] == V6_FRAGMENT else -1


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
        self.max_datagrams = max(1, max_datagrams)
        self.max_bytes = max_bytes
        self.max_fragments = max_fragments
        self.max_datagram_size = max_datagram_size
        self.anomalies: Counter[str] = Counter()
        self._pending: OrderedDict[_Key, _Datagram] = OrderedDict()
        self._held = 0

    @property
    def pending(self) -> int:
        """Datagrams waiting for fragments."""
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        """Bytes held for pending datagrams (fragment data and kept headers)."""
        return self._held

    def expire(self, now_ns: int) -> int:
        """Drop the datagrams whose first fragment is older than the timeout; how many."""
        dropped = 0
        while self._pending:
            key, oldest = next(iter(self._pending.items()))
            if now_ns - oldest.first_ts <= self.timeout_ns:
                break
            self._drop(key)
            self.anomalies["frag_timeout"] += 1
            dropped += 1
        return dropped

    def _drop(self, key: _Key) -> None:
        found = self._pending.pop(key, None)
        if found is not None:
            self._held -= found.held

    def _make_room(self, key: _Key, wanted: int) -> bool:
        """Evict the oldest other datagrams until ``wanted`` more bytes fit; False if they can't."""
        while self._held + wanted > self.max_bytes and self._pending:
            oldest = next(iter(self._pending))
            if oldest == key:
                break
            self._drop(oldest)
            self.anomalies["frag_table_full"] += 1
        return self._held + wanted <= self.max_bytes

    def _slot(self, key: _Key, ts: int) -> _Datagram:
        self.expire(ts)
        found = self._pending.get(key)
        if found is None:
            while len(self._pending) >= self.max_datagrams:
                self._drop(next(iter(self._pending)))
                self.anomalies["frag_table_full"] += 1
            found = self._pending[key] = _Datagram(ts)
        return found

    def _keep_header(self, key: _Key, dgram: _Datagram, header: bytes) -> bool:
        if dgram.header:
            return True
        if not self._make_room(key, len(header)):
            self.anomalies["frag_table_full"] += 1
            self._drop(key)
            return False
        dgram.header = header
        dgram.held += len(header)
        self._held += len(header)
        return True

    def _add(self, key: _Key, dgram: _Datagram, start: int, data: bytes, last: bool) -> bool:
        """Add a fragment's range; False when the datagram had to be given up."""
        end = start + len(data)
        dgram.fragments += 1
        if dgram.fragments > self.max_fragments:
            self.anomalies["frag_too_many"] += 1
            self._drop(key)
            return False
        if last:
            if dgram.total >= 0 and dgram.total != end:
                self.anomalies["frag_overlap_conflict"] += 1  # two tails: the first one stands
                return True
            if dgram.ranges and dgram.ranges[-1][1] > end:
                self.anomalies["frag_bad_length"] += 1  # data already held past this tail
                return True
            dgram.total = end
        elif dgram.total >= 0 and end > dgram.total:
            self.anomalies["frag_bad_length"] += 1  # data past the announced end
            return True
        fresh: list[tuple[int, int, bytes]] = []
        cursor = start
        overlap = conflict = False
        for r_start, r_end, r_data in dgram.ranges:
            if r_end <= cursor:
                continue
            if r_start >= end:
                break
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
        if not fresh:
            return True
        added = sum(e - s for s, e, _ in fresh)
        if not self._make_room(key, added):
            self.anomalies["frag_table_full"] += 1
            self._drop(key)
            return False
        dgram.ranges = sorted(dgram.ranges + fresh)
        dgram.held += added
        self._held += added
        return True

    @staticmethod
    def _whole(dgram: _Datagram) -> bytes | None:
        if dgram.total < 0 or not dgram.header:
            return None
        cursor = 0
        for start, end, _ in dgram.ranges:
            if start > cursor:
                return None
            cursor = end
        if cursor < dgram.total:
            return None
        # ranges are disjoint and contiguous here, so joining them is the datagram
        return b"".join(data for _, _, data in dgram.ranges)

    def add_ipv4(self, ts_ns: int, packet: bytes | bytearray | memoryview) -> bytes | None:
        """Add an IPv4 fragment (header included); the whole datagram once complete."""
        packet = bytes(packet)
        if len(packet) < 20 or packet[0] >> 4 != 4:
            self.anomalies["frag_bad_length"] += 1
            return None
        ihl = (packet[0] & 0x0F) * 4
        total = _U16.unpack_from(packet, 2)[0] or len(packet)  # 0: segmentation offload
        if ihl < 20 or total < ihl:
            self.anomalies["frag_bad_length"] += 1
            return None
        if total > len(packet):
            self.anomalies["frag_cut"] += 1  # cut by the snap length: it cannot be put back
            return None
        word = _U16.unpack_from(packet, 6)[0]
        offset = (word & 0x1FFF) * 8
        more = bool(word & 0x2000)
        if not offset and not more:
            return packet[:total]  # not a fragment at all
        body = packet[ihl:total]
        key: _Key = (packet[9], packet[12:16], packet[16:20], _U16.unpack_from(packet, 4)[0])
        if not self._acceptable(key, ihl + offset + len(body), len(body), more):
            return None
        dgram = self._slot(key, ts_ns)
        if not offset and not self._keep_header(key, dgram, packet[:ihl]):
            return None
        if not self._add(key, dgram, offset, body, not more):
            return None
        whole = self._whole(dgram)
        if whole is None:
            return None
        self._drop(key)
        header = bytearray(dgram.header)
        _U16.pack_into(header, 2, len(header) + len(whole))
        _U16.pack_into(header, 6, _U16.unpack_from(header, 6)[0] & 0x4000)  # keep DF only
        _U16.pack_into(header, 10, 0)
        _U16.pack_into(header, 10, _checksum(header))
        return bytes(header) + whole

    def add_ipv6(
        self, ts_ns: int, packet: bytes | bytearray | memoryview, frag_at: int
    ) -> bytes | None:
        """Add an IPv6 fragment whose Fragment header starts at ``frag_at``."""
        packet = bytes(packet)
        at = frag_at
        if at < 40 or len(packet) < at + 8 or packet[0] >> 4 != 6:
            self.anomalies["frag_bad_length"] += 1
            return None
        end = 40 + _U16.unpack_from(packet, 4)[0]
        if end < at + 8:  # a jumbogram (0) cannot be fragmented
            self.anomalies["frag_bad_length"] += 1
            return None
        if end > len(packet):
            self.anomalies["frag_cut"] += 1  # cut by the snap length: it cannot be put back
            return None
        next_header = packet[at]
        word = _U16.unpack_from(packet, at + 2)[0]
        offset = word & 0xFFF8
        more = bool(word & 1)
        body = packet[at + 8 : end]
        if not offset and not more:  # an atomic fragment (RFC 6946): alone, at once
            return self._rebuild_v6(packet[:at], next_header, body)
        key: _Key = (-1, packet[8:24], packet[24:40], int.from_bytes(packet[at + 4 : at + 8]))
        if not self._acceptable(key, at - 40 + offset + len(body), len(body), more):
            return None
        dgram = self._slot(key, ts_ns)
        if not offset:
            if not self._keep_header(key, dgram, packet[:at]):
                return None
            dgram.next_header = next_header
        if not self._add(key, dgram, offset, body, not more):
            return None
        whole = self._whole(dgram)
        if whole is None:
            return None
        self._drop(key)
        return self._rebuild_v6(dgram.header, dgram.next_header, whole)

    def _acceptable(self, key: _Key, size: int, length: int, more: bool) -> bool:
        """Check a fragment before it takes a slot: size bound, length a multiple of 8."""
        if size > self.max_datagram_size:
            self.anomalies["frag_oversize"] += 1  # ping of death: give the whole datagram up
            self._drop(key)
            return False
        if more and (length % 8 or not length):
            self.anomalies["frag_bad_length"] += 1  # unusable; the datagram may still complete
            return False
        return True

    def _rebuild_v6(self, header: bytes, next_header: int, payload: bytes) -> bytes | None:
        out = bytearray(header)
        pos = _pointer_to_fragment(out)
        if pos < 0:
            self.anomalies["frag_bad_length"] += 1  # the header chain does not lead here
            return None
        out[pos] = next_header
        _U16.pack_into(out, 4, len(out) - 40 + len(payload))
        return bytes(out) + payload
