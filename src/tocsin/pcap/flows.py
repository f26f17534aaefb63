"""Fold packets into flows, batch by batch, with numpy; no Python work per packet.

A flow is the bidirectional 5-tuple (addresses, ports, protocol; ICMP types and codes in the
ports, an echo request and its reply in one flow), split as Zeek splits connections: after a
period of silence (TCP 5 minutes, others 1 minute) and, for TCP, when a new SYN opens the same
tuple after a FIN or RST. The originator is the sender of the first packet, unless that packet is
a SYN-ACK (the capture started after the SYN).

Each batch's packets are sorted by a 64-bit hash of their canonical key (time order kept within a
key), cut into segments, and reduced per segment (counts, bytes, flag bits) with ``reduceat``. The
open flows live in columns sorted by hash; a batch's first segment of a key continues the open flow
of that key (``searchsorted``) unless a timeout or a reused port ends it. Finished flows come out as
columns too; per packet, the flow's sequence number comes back for the packet index.

``conn_state`` and ``history`` use Zeek's letters. ``history`` lists the events seen in a fixed
order (S h A D F R, upper case for the originator), not Zeek's time order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tocsin.pcap.decode import ACK, FIN, ICMP, ICMP6, RST, SYN, TCP, UDP

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
B = npt.NDArray[np.bool_]

TCP_TIMEOUT_NS = 300 * 10**9
OTHER_TIMEOUT_NS = 60 * 10**9

# per-direction event bits, OR-ed over a flow
EV_SYN, EV_SYNACK, EV_FIN, EV_RST, EV_DATA, EV_ACK = 1, 2, 4, 8, 16, 32

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)

_ICMP_REQUEST = {0: 8, 14: 13, 16: 15, 18: 17, 10: 9}  # reply type -> request type
_ICMP6_REQUEST = {129: 128, 134: 133, 136: 135, 131: 130, 145: 144}
_ICMP_PAIRED = {8, 13, 15, 17, 9, *_ICMP_REQUEST}
_ICMP6_PAIRED = {128, 133, 135, 130, 144, *_ICMP6_REQUEST}


@dataclass(slots=True)
class FlowPackets:
    """The packets of one batch that belong to flows (one row per packet or datagram)."""

    ts: I64
    ipver: I64
    proto: I64
    src_hi: U64
    src_lo: U64
    dst_hi: U64
    dst_lo: U64
    sport: I64
    dport: I64
    flags: I64
    wire: I64  # bytes on the wire (a reassembled datagram: all its fragments)
    count: I64  # packets (a reassembled datagram: its fragments)
    payload: I64
    vlan: I64
    number: I64

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def concat(cls, parts: list[FlowPackets]) -> FlowPackets:
        """One set of rows from several."""
        if len(parts) == 1:
            return parts[0]
        names = cls.__slots__
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in names))


# columns of the flow table: key fields first, then per-flow state
_COLUMNS = (
    "h",
    "a_hi",
    "a_lo",
    "b_hi",
    "b_lo",
    "a_port",
    "b_port",
    "proto",
    "ipver",
    "vlan",
    "first_ts",
    "last_ts",
    "first_dir",
    "first_flags",
    "first_sport",
    "first_dport",
    "first_number",
    "pkts0",
    "pkts1",
    "bytes0",
    "bytes1",
    "pay0",
    "pay1",
    "ev0",
    "ev1",
    "pending",  # a FIN or RST came after the last SYN: a new SYN opens a new flow
    "seq",
)
_SUMS = ("pkts0", "pkts1", "bytes0", "bytes1", "pay0", "pay1")
_ORS = ("ev0", "ev1")

Columns = dict[str, npt.NDArray[np.int64] | npt.NDArray[np.uint64]]


def _mix(h: U64, value: U64) -> U64:
    h = (h ^ value) * _M1
    return h ^ (h >> np.uint64(31))


def _events(proto: I64, flags: I64, payload: I64) -> I64:
    tcp = proto == TCP
    ev = np.where(tcp & ((flags & (SYN | ACK)) == SYN), EV_SYN, 0)
    ev |= np.where(tcp & ((flags & (SYN | ACK)) == (SYN | ACK)), EV_SYNACK, 0)
    ev |= np.where(tcp & ((flags & FIN) != 0), EV_FIN, 0)
    ev |= np.where(tcp & ((flags & RST) != 0), EV_RST, 0)
    ev |= np.where(payload > 0, EV_DATA, 0)
    ev |= np.where(tcp & (flags == ACK) & (payload == 0), EV_ACK, 0)
    return ev.astype(np.int64)


def _key_ports(proto: I64, sport: I64, dport: I64) -> tuple[I64, I64]:
    """Ports as keyed: an ICMP reply takes its request's type so both share a flow."""
    icmp4, icmp6 = proto == ICMP, proto == ICMP6
    if not (icmp4.any() or icmp6.any()):
        return sport, dport
    ksport, kdport = sport.copy(), dport.copy()
    for mask, requests, paired in (
        (icmp4, _ICMP_REQUEST, _ICMP_PAIRED),
        (icmp6, _ICMP6_REQUEST, _ICMP6_PAIRED),
    ):
        if not mask.any():
            continue
        mapped = sport.copy()
        for reply, request in requests.items():
            mapped[sport == reply] = request
        is_paired = mask & np.isin(sport, list(paired))
        ksport = np.where(is_paired, mapped, ksport)
        kdport = np.where(is_paired, mapped, kdport)  # both ends the same: order by address
    return ksport, kdport


class FlowTable:
    """Open flows across batches; ``add`` returns the flows it finished, ``close`` the rest."""

    def __init__(self) -> None:
        self.open: Columns = {name: np.zeros(0, dtype=_dtype(name)) for name in _COLUMNS}
        self.next_seq = 0
        self.clock = 0  # the latest packet time seen

    def add(self, pk: FlowPackets) -> tuple[Columns | None, I64]:
        """Fold a batch in; returns (finished flows or None, each packet's flow sequence number)."""
        n = len(pk)
        if n == 0:
            return None, np.zeros(0, dtype=np.int64)
        ksport, kdport = _key_ports(pk.proto, pk.sport, pk.dport)
        swap = (pk.src_hi > pk.dst_hi) | (
            (pk.src_hi == pk.dst_hi)
            & ((pk.src_lo > pk.dst_lo) | ((pk.src_lo == pk.dst_lo) & (ksport > kdport)))
        )
        a_hi = np.where(swap, pk.dst_hi, pk.src_hi)
        a_lo = np.where(swap, pk.dst_lo, pk.src_lo)
        b_hi = np.where(swap, pk.src_hi, pk.dst_hi)
        b_lo = np.where(swap, pk.src_lo, pk.dst_lo)
        a_port = np.where(swap, kdport, ksport)
        b_port = np.where(swap, ksport, kdport)
        h = _mix(np.ones(n, dtype=np.uint64), pk.proto.astype(np.uint64))
        for part in (a_hi, a_lo, b_hi, b_lo):
            h = _mix(h, part)
        h = _mix(h, (a_port.astype(np.uint64) << np.uint64(16)) | b_port.astype(np.uint64))
        h = h * _M2
        direction = swap.astype(np.int64)

        ts = pk.ts
        monotonic = bool(np.all(ts[1:] >= ts[:-1])) if n > 1 else True
        order = np.argsort(h, kind="stable") if monotonic else np.lexsort((ts, h))
        hs, ts_s = h[order], ts[order]
        proto_s = pk.proto[order]
        flags_s = pk.flags[order]
        ev = _events(proto_s, flags_s, pk.payload[order])
        timeout = np.where(proto_s == TCP, TCP_TIMEOUT_NS, OTHER_TIMEOUT_NS)

        newkey = np.empty(n, dtype=np.bool_)
        newkey[0] = True
        np.not_equal(hs[1:], hs[:-1], out=newkey[1:])
        gap = np.zeros(n, dtype=np.bool_)
        gap[1:] = (ts_s[1:] - ts_s[:-1]) > timeout[1:]
        gap &= ~newkey

        # the open flow each key may continue
        group_first = np.flatnonzero(newkey)
        group_of = np.cumsum(newkey) - 1
        open_h = self.open["h"]
        pos = np.searchsorted(open_h, hs[group_first])
        pos_c = np.minimum(pos, max(open_h.shape[0] - 1, 0))
        found = (
            (pos < open_h.shape[0]) & (open_h[pos_c] == hs[group_first])
            if open_h.size
            else (np.zeros(group_first.shape[0], dtype=np.bool_))
        )
        carry_pending = np.where(found, self.open["pending"][pos_c] if open_h.size else 0, 0)

        # a SYN after a FIN or RST (since the last SYN) opens a new flow on the same tuple
        idx = np.arange(n, dtype=np.int64)
        pure_syn = (ev & EV_SYN) != 0
        finrst = ((ev & (EV_FIN | EV_RST)) != 0).astype(np.int64)
        cs = np.cumsum(finrst)
        last_syn = np.maximum.accumulate(np.where(pure_syn, idx, -1))
        before = np.empty(n, dtype=np.int64)
        before[0] = -1
        before[1:] = last_syn[:-1]
        start_of_group = group_first[group_of]
        since_gap = np.maximum.accumulate(np.where(gap | newkey, idx, 0))
        ref = np.maximum(before, since_gap - 1)
        prev_cs = np.where(idx > 0, cs[np.maximum(idx - 1, 0)], 0)
        between = prev_cs - np.where(ref >= 0, cs[np.maximum(ref, 0)], 0)
        from_open = (ref == start_of_group - 1) & (since_gap == start_of_group)
        between += np.where(from_open, carry_pending[group_of], 0)
        reuse = pure_syn & ~newkey & ~gap & (between > 0)

        seg_start = newkey | gap | reuse
        starts = np.flatnonzero(seg_start)
        seg_of = np.cumsum(seg_start) - 1
        dir_s = direction[order]
        d1 = dir_s.astype(np.bool_)
        count_s, wire_s, pay_s = pk.count[order], pk.wire[order], pk.payload[order]
        first_rows = order[starts]
        seg: Columns = {
            "h": hs[starts],
            "a_hi": a_hi[first_rows],
            "a_lo": a_lo[first_rows],
            "b_hi": b_hi[first_rows],
            "b_lo": b_lo[first_rows],
            "a_port": a_port[first_rows],
            "b_port": b_port[first_rows],
            "proto": proto_s[starts],
            "ipver": pk.ipver[first_rows],
            "vlan": pk.vlan[first_rows],
            "first_ts": ts_s[starts],
            "last_ts": np.maximum.reduceat(ts_s, starts),
            "first_dir": dir_s[starts],
            "first_flags": flags_s[starts],
            "first_sport": pk.sport[first_rows],
            "first_dport": pk.dport[first_rows],
            "first_number": pk.number[first_rows],
            "pkts0": np.add.reduceat(np.where(d1, 0, count_s), starts),
            "pkts1": np.add.reduceat(np.where(d1, count_s, 0), starts),
            "bytes0": np.add.reduceat(np.where(d1, 0, wire_s), starts),
            "bytes1": np.add.reduceat(np.where(d1, wire_s, 0), starts),
            "pay0": np.add.reduceat(np.where(d1, 0, pay_s), starts),
            "pay1": np.add.reduceat(np.where(d1, pay_s, 0), starts),
            "ev0": np.bitwise_or.reduceat(np.where(d1, 0, ev), starts),
            "ev1": np.bitwise_or.reduceat(np.where(d1, ev, 0), starts),
        }
        last_fr = np.maximum.reduceat(np.where(finrst > 0, idx, -1), starts)
        last_sy = np.maximum.reduceat(np.where(pure_syn, idx, -1), starts)
        seg["pending"] = ((last_fr > last_sy) & (last_fr >= 0)).astype(np.int64)
        nseg = starts.shape[0]

        # does each key's first segment continue its open flow?
        first_seg = seg_of[group_first]
        gap_open = np.zeros(group_first.shape[0], dtype=np.bool_)
        if open_h.size:
            gap_open = (seg["first_ts"][first_seg] - self.open["last_ts"][pos_c]) > np.where(
                seg["proto"][first_seg] == TCP, TCP_TIMEOUT_NS, OTHER_TIMEOUT_NS
            )
            reuse_open = pure_syn[group_first] & (carry_pending > 0)
        else:
            reuse_open = np.zeros(group_first.shape[0], dtype=np.bool_)
        cont = found & ~gap_open & ~reuse_open
        seqs = np.full(nseg, -1, dtype=np.int64)
        touched = np.zeros(open_h.shape[0], dtype=np.bool_)
        if cont.any():
            rows = pos_c[cont]
            segs = first_seg[cont]
            seqs[segs] = self.open["seq"][rows]
            for name in _SUMS:
                seg[name][segs] += self.open[name][rows]
            for name in _ORS:
                seg[name][segs] |= self.open[name][rows]
            for name in (
                "first_ts",
                "first_dir",
                "first_flags",
                "first_sport",
                "first_dport",
                "first_number",
                "vlan",
            ):
                seg[name][segs] = self.open[name][rows]
            no_syn = last_sy[segs] < 0
            seg["pending"][segs] |= np.where(no_syn, self.open["pending"][rows], 0)
        if found.any():
            touched[pos_c[found]] = True
        # new flows are numbered in the order of their first packet, so ids do not depend on
        # how the capture was cut into batches
        fresh = np.flatnonzero(seqs < 0)
        by_first = fresh[np.argsort(seg["first_number"][fresh], kind="stable")]
        seqs[by_first] = self.next_seq + np.arange(by_first.shape[0], dtype=np.int64)
        self.next_seq += int(by_first.shape[0])
        seg["seq"] = seqs

        # finished: open flows replaced or timed out, and segments a later one replaced
        self.clock = max(self.clock, int(ts.max()))
        old = self.open
        old_timeout = np.where(old["proto"] == TCP, TCP_TIMEOUT_NS, OTHER_TIMEOUT_NS)
        old_done = (touched & ~np.isin(np.arange(old["h"].shape[0]), pos_c[cont])) | (
            ~touched & (self.clock - old["last_ts"] > old_timeout)
        )
        keep_old = ~touched & ~old_done
        last_of_key = np.r_[seg["h"][1:] != seg["h"][:-1], True]
        seg_timeout = np.where(seg["proto"] == TCP, TCP_TIMEOUT_NS, OTHER_TIMEOUT_NS)
        seg_open = last_of_key & (self.clock - seg["last_ts"] <= seg_timeout)
        finished = _concat(_take(old, old_done), _take(seg, ~seg_open))
        merged = _concat(_take(old, keep_old), _take(seg, seg_open))
        resort = np.argsort(merged["h"], kind="stable")
        self.open = _take(merged, resort)

        packet_seq = np.empty(n, dtype=np.int64)
        packet_seq[order] = seqs[seg_of]
        return (finished if finished["h"].shape[0] else None), packet_seq

    def close(self) -> Columns | None:
        """Every flow still open, finished now (end of the capture)."""
        rest = self.open
        self.open = {name: np.zeros(0, dtype=_dtype(name)) for name in _COLUMNS}
        return rest if rest["h"].shape[0] else None


def _dtype(name: str) -> type[np.generic]:
    return np.uint64 if name in ("h", "a_hi", "a_lo", "b_hi", "b_lo") else np.int64


def _take(cols: Columns, sel: npt.NDArray[np.bool_] | I64) -> Columns:
    return {name: values[sel] for name, values in cols.items()}


def _concat(a: Columns, b: Columns) -> Columns:
    return {name: np.concatenate([a[name], b[name]]) for name in _COLUMNS}


# --- from flow columns to the fields of pcap.flow ---------------------------------------------


def conn_states(proto: I64, ev_o: I64, ev_r: I64, pkts_r: I64) -> list[str]:
    """Zeek's conn_state per flow, from the originator's and responder's event bits."""
    tcp = proto == TCP
    o_syn, r_synack = (ev_o & EV_SYN) != 0, (ev_r & EV_SYNACK) != 0
    o_fin, r_fin = (ev_o & EV_FIN) != 0, (ev_r & EV_FIN) != 0
    o_rst, r_rst = (ev_o & EV_RST) != 0, (ev_r & EV_RST) != 0
    est = o_syn & r_synack
    attempt = o_syn & ~r_synack
    answered = ~o_syn & r_synack
    conditions = [
        ~tcp & (pkts_r > 0),
        ~tcp,
        attempt & r_rst,
        attempt & o_rst,
        attempt & o_fin,
        attempt,
        est & o_rst,
        est & r_rst,
        est & o_fin & r_fin,
        est & o_fin,
        est & r_fin,
        est,
        answered & r_rst,
        answered & r_fin,
    ]
    choices = ["SF", "S0", "REJ", "RSTOS0", "SH", "S0", "RSTO", "RSTR", "SF", "S2", "S3", "S1"]
    choices += ["RSTRH", "SHR"]
    return list(np.select(conditions, choices, default="OTH").tolist())


_LETTERS = (
    (0, EV_SYN, "S"),
    (1, EV_SYNACK, "h"),
    (0, EV_ACK, "A"),
    (1, EV_ACK, "a"),
    (0, EV_DATA, "D"),
    (1, EV_DATA, "d"),
    (0, EV_FIN, "F"),
    (1, EV_FIN, "f"),
    (0, EV_RST, "R"),
    (1, EV_RST, "r"),
)


def histories(ev_o: I64, ev_r: I64) -> list[str]:
    """Zeek-like history letters per flow (fixed order: S h A a D d F f R r)."""
    codes = (ev_o & 0xFF) | ((ev_r & 0xFF) << 8)
    uniq, inverse = np.unique(codes, return_inverse=True)
    names = []
    for code in uniq.tolist():
        sides = (code & 0xFF, code >> 8)
        names.append("".join(letter for side, bit, letter in _LETTERS if sides[side] & bit))
    return list(np.array(names, dtype=object)[inverse.ravel()].tolist())


TRANSPORTS = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMP6: "ipv6-icmp", 132: "sctp", 47: "gre"}
TRANSPORTS.update({50: "esp", 51: "ah", 2: "igmp", 89: "ospf"})
