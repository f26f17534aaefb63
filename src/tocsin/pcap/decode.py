"""Decode link, IP and transport headers of a whole batch at once, with numpy.

Every field is gathered for all packets of a batch by fancy indexing into the chunk's bytes, so
a header costs a few vector operations rather than a Python call per packet. Offsets are clamped
into the buffer before each gather and the results masked by what was really captured, so a short
or lying packet can never read outside its own bytes.

Link types: Ethernet (with up to two 802.1Q / 802.1ad tags), Linux cooked SLL and SLL2, raw IP
(101, and 12/14 as some writers spell it, 228 IPv4, 229 IPv6), BSD loopback (0, 108).
Packets the bulk path does not finish are flagged: IPv4 or IPv6 fragments (``frag``) and IPv6
packets with extension headers (``slow``); :mod:`tocsin.pcap.packets` walks those one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tocsin.pcap.anomalies import Anomalies
from tocsin.pcap.capture import PacketBatch

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]
B = npt.NDArray[np.bool_]

ETHERNET, NULL, LOOP, LINUX_SLL, LINUX_SLL2 = 1, 0, 108, 113, 276
RAW_TYPES = (101, 12, 14, 228, 229)
ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
V6_EXTENSIONS = (0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254)
V4_MAPPED = np.uint64(0xFFFF_0000_0000)

# TCP flag bits
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


@dataclass(slots=True)
class Decoded:
    """Per-packet header fields of one batch (arrays of the batch's length).

    Addresses are 128-bit as two uint64 halves; IPv4 addresses are IPv4-mapped (``::ffff:a.b.c.d``)
    so both versions share one key. For ICMP the ports hold the type and the code.
    """

    ethertype: I64
    vlan: I64  # the outer VLAN id, -1 when untagged
    l3: I64  # absolute offset of the network header in the buffer (-1: none)
    ipver: I64  # 4, 6, or 0 when the packet carries no IP we decoded
    proto: I64
    src_hi: U64
    src_lo: U64
    dst_hi: U64
    dst_lo: U64
    sport: I64
    dport: I64
    tcp_flags: I64
    seq: I64
    ack: I64
    l4: I64  # absolute offset of the transport header
    payload_off: I64
    payload_len: I64
    ip_len: I64  # the IP datagram's length as captured
    frag: B  # a fragment: reassembled before its flow is known
    slow: B  # needs the one-by-one path (IPv6 extension headers)


def _u8(buf: U8, idx: I64) -> I64:
    return buf[np.clip(idx, 0, buf.shape[0] - 1)].astype(np.int64)


def _be16(buf: U8, idx: I64) -> I64:
    idx = np.clip(idx, 0, buf.shape[0] - 2)
    return (buf[idx].astype(np.int64) << 8) | buf[idx + 1]


def _le32(buf: U8, idx: I64) -> I64:
    idx = np.clip(idx, 0, buf.shape[0] - 4)
    cells = np.ascontiguousarray(buf[idx[:, None] + np.arange(4)])
    return cells.view("<u4").ravel().astype(np.int64)


def _be32(buf: U8, idx: I64) -> I64:
    idx = np.clip(idx, 0, buf.shape[0] - 4)
    cells = np.ascontiguousarray(buf[idx[:, None] + np.arange(4)])
    return cells.view(">u4").ravel().astype(np.int64)


def _be64(buf: U8, idx: I64) -> U64:
    idx = np.clip(idx, 0, buf.shape[0] - 8)
    cells = np.ascontiguousarray(buf[idx[:, None] + np.arange(8)])
    return cells.view(">u8").ravel().astype(np.uint64)


def decode(batch: PacketBatch, anomalies: Anomalies | None = None, where: str = "") -> Decoded:
    """Decode the headers of every packet in ``batch``."""
    buf = batch.buf
    n = len(batch)
    start = batch.data_off
    end = start + batch.caplen  # one past the packet's last captured byte
    link = batch.linktype
    ethertype = np.full(n, -1, dtype=np.int64)
    l3rel = np.full(n, -1, dtype=np.int64)
    vlan = np.full(n, -1, dtype=np.int64)

    eth = link == ETHERNET
    if eth.any():
        et = _be16(buf, start + 12)
        rel = np.full(n, 14, dtype=np.int64)
        for _ in range(2):
            tagged = eth & np.isin(et, VLAN_TYPES)
            if not tagged.any():
                break
            vlan = np.where(tagged & (vlan < 0), _be16(buf, start + rel) & 0x0FFF, vlan)
            et = np.where(tagged, _be16(buf, start + rel + 2), et)
            rel = np.where(tagged, rel + 4, rel)
        ok = eth & (start + rel <= end)
        ethertype = np.where(ok, et, ethertype)
        l3rel = np.where(ok, rel, l3rel)
    sll = link == LINUX_SLL
    if sll.any():
        ok = sll & (batch.caplen >= 16)
        ethertype = np.where(ok, _be16(buf, start + 14), ethertype)
        l3rel = np.where(ok, 16, l3rel)
    sll2 = link == LINUX_SLL2
    if sll2.any():
        ok = sll2 & (batch.caplen >= 20)
        ethertype = np.where(ok, _be16(buf, start), ethertype)
        l3rel = np.where(ok, 20, l3rel)
    raw = np.isin(link, RAW_TYPES)
    if raw.any():
        version = _u8(buf, start) >> 4
        et = np.where(version == 4, ETH_IPV4, np.where(version == 6, ETH_IPV6, -1))
        ok = raw & (batch.caplen >= 1)
        ethertype = np.where(ok, et, ethertype)
        l3rel = np.where(ok, 0, l3rel)
    loop = (link == NULL) | (link == LOOP)
    if loop.any():
        family = np.where(link == LOOP, _be32(buf, start), _le32(buf, start))
        # a NULL header is in the writer's byte order: accept a swapped family too
        family = np.where(family > 0xFFFF, family >> 24, family)
        et = np.where(family == 2, ETH_IPV4, np.where(np.isin(family, (24, 28, 30)), ETH_IPV6, -1))
        ok = loop & (batch.caplen >= 4)
        ethertype = np.where(ok, et, ethertype)
        l3rel = np.where(ok, 4, l3rel)

    l3 = np.where(l3rel >= 0, start + l3rel, -1)
    room = end - l3  # captured bytes from the network header on
    zeros = np.zeros(n, dtype=np.uint64)
    ipver = np.zeros(n, dtype=np.int64)
    proto = np.zeros(n, dtype=np.int64)
    src_hi, src_lo, dst_hi, dst_lo = zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy()
    l4 = np.full(n, -1, dtype=np.int64)
    ip_end = np.zeros(n, dtype=np.int64)
    frag = np.zeros(n, dtype=np.bool_)
    slow = np.zeros(n, dtype=np.bool_)

    v4 = (ethertype == ETH_IPV4) & (room >= 20)
    if v4.any():
        r = np.flatnonzero(v4)  # gather only where it is IPv4
        at = l3[r]
        vihl = _u8(buf, at)
        ihl = (vihl & 0x0F) * 4
        total = _be16(buf, at + 2)
        flags = _be16(buf, at + 6)
        space = room[r]
        bad_version = (vihl >> 4) != 4
        short_ihl = ~bad_version & (ihl < 20)
        lying = ~bad_version & ~short_ihl & ((total < ihl) | (total > space))
        # a total beyond the capture is fine when the snap length cut the packet
        lying &= ~((total > space) & (batch.caplen[r] < batch.wirelen[r]))
        if anomalies is not None:
            _report_rows(anomalies, r, bad_version, batch, where, "ip_version_mismatch", "IPv4")
            _report_rows(anomalies, r, short_ihl, batch, where, "ip_header_too_short", "IHL < 5")
            _report_rows(
                anomalies, r, lying, batch, where, "ip_length_lies", "total length vs capture"
            )
        good = ~bad_version & ~short_ihl & (ihl <= space)
        g = r[good]
        at, ihl, total, space = at[good], ihl[good], total[good], space[good]
        ipver[g] = 4
        proto[g] = _u8(buf, at + 9)
        src_lo[g] = _be32(buf, at + 12).astype(np.uint64) | V4_MAPPED
        dst_lo[g] = _be32(buf, at + 16).astype(np.uint64) | V4_MAPPED
        ip_end[g] = at + np.where((total >= ihl) & (total <= space), total, space)
        l4[g] = at + ihl
        frag[g] = ((flags[good] & 0x2000) != 0) | ((flags[good] & 0x1FFF) != 0)

    v6 = (ethertype == ETH_IPV6) & (room >= 40)
    if v6.any():
        r = np.flatnonzero(v6)
        at = l3[r]
        bad_version = (_u8(buf, at) >> 4) != 6
        if anomalies is not None:
            _report_rows(anomalies, r, bad_version, batch, where, "ip_version_mismatch", "IPv6")
        good = ~bad_version
        g, at, space = r[good], at[good], room[r][good]
        plen = _be16(buf, at + 4)
        nxt = _u8(buf, at + 6)
        lying = (plen > space - 40) & (batch.caplen[g] >= batch.wirelen[g])
        if anomalies is not None:
            _report_rows(anomalies, g, lying, batch, where, "ip_length_lies", "payload length")
        ipver[g] = 6
        proto[g] = nxt
        src_hi[g] = _be64(buf, at + 8)
        src_lo[g] = _be64(buf, at + 16)
        dst_hi[g] = _be64(buf, at + 24)
        dst_lo[g] = _be64(buf, at + 32)
        ip_end[g] = at + np.where((plen > 0) & (plen <= space - 40), plen + 40, space)
        l4[g] = at + 40
        slow[g] = np.isin(nxt, V6_EXTENSIONS)

    transport = Transport.of(buf, ipver, proto, l4, ip_end, frag | slow)
    if anomalies is not None:
        _report(anomalies, transport.bad_tcp, batch, where, "tcp_offset_bad", "data offset")
    return Decoded(
        ethertype=ethertype,
        vlan=vlan,
        l3=l3,
        ipver=ipver,
        proto=proto,
        src_hi=src_hi,
        src_lo=src_lo,
        dst_hi=dst_hi,
        dst_lo=dst_lo,
        sport=transport.sport,
        dport=transport.dport,
        tcp_flags=transport.flags,
        seq=transport.seq,
        ack=transport.ack,
        l4=l4,
        payload_off=transport.payload_off,
        payload_len=transport.payload_len,
        ip_len=np.where(ipver > 0, ip_end - l3, 0),
        frag=frag,
        slow=slow,
    )


@dataclass(slots=True)
class Transport:
    """Transport header fields of a batch."""

    sport: I64
    dport: I64
    flags: I64
    seq: I64
    ack: I64
    payload_off: I64
    payload_len: I64
    bad_tcp: B

    @classmethod
    def of(cls, buf: U8, ipver: I64, proto: I64, l4: I64, ip_end: I64, skip: B) -> Transport:
        """Ports, TCP fields and payload bounds of the packets whose transport header is whole."""
        n = ipver.shape[0]
        room = ip_end - l4
        live = (ipver > 0) & ~skip
        sport = np.zeros(n, dtype=np.int64)
        dport = np.zeros(n, dtype=np.int64)
        flags = np.zeros(n, dtype=np.int64)
        seq = np.zeros(n, dtype=np.int64)
        ack = np.zeros(n, dtype=np.int64)
        poff = np.where(live, ip_end, 0)
        plen = np.zeros(n, dtype=np.int64)
        tcp = live & (proto == TCP) & (room >= 20)
        bad_tcp = np.zeros(n, dtype=np.bool_)
        if tcp.any():
            r = np.flatnonzero(tcp)  # ports are readable even when the data offset lies
            at, space = l4[r], room[r]
            doff = (_u8(buf, at + 12) >> 4) * 4
            bad = (doff < 20) | (doff > space)
            bad_tcp[r] = bad
            sport[r] = _be16(buf, at)
            dport[r] = _be16(buf, at + 2)
            seq[r] = _be32(buf, at + 4)
            ack[r] = _be32(buf, at + 8)
            flags[r] = _u8(buf, at + 13)
            ok = ~bad
            poff[r[ok]] = at[ok] + doff[ok]
            plen[r[ok]] = space[ok] - doff[ok]
        udp = live & (proto == UDP) & (room >= 8)
        if udp.any():
            r = np.flatnonzero(udp)
            at, space = l4[r], room[r]
            sport[r] = _be16(buf, at)
            dport[r] = _be16(buf, at + 2)
            ulen = _be16(buf, at + 4)
            poff[r] = at + 8
            plen[r] = np.where((ulen >= 8) & (ulen <= space), ulen - 8, space - 8)
        icmp = live & ((proto == ICMP) | (proto == ICMP6)) & (room >= 4)
        if icmp.any():
            r = np.flatnonzero(icmp)
            at = l4[r]
            sport[r] = _u8(buf, at)
            dport[r] = _u8(buf, at + 1)
            poff[r] = at + 4
            plen[r] = room[r] - 4
        return cls(sport, dport, flags, seq, ack, poff, np.maximum(plen, 0), bad_tcp)


def _report_rows(
    anomalies: Anomalies,
    rows: I64,
    mask: B,
    batch: PacketBatch,
    where: str,
    kind: str,
    detail: str,
) -> None:
    if mask.any():
        first = int(batch.number[rows[np.argmax(mask)]])
        anomalies.add(kind, f"{where} packet {first}", detail, int(mask.sum()))


def _report(
    anomalies: Anomalies, mask: B, batch: PacketBatch, where: str, kind: str, detail: str
) -> None:
    if mask.any():
        first = int(batch.number[np.argmax(mask)])
        anomalies.add(kind, f"{where} packet {first}", detail, int(mask.sum()))
