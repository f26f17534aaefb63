"""Build real frames for tests, the demo and benchmarks: links, IP, TCP/UDP, whole scenarios.

Everything is deterministic given its arguments (and ``seed`` where randomness is wanted), and
every checksum is right, so tshark dissects the frames without complaint. Scenarios return
``(ts_ns, frame)`` lists that :func:`merge` interleaves and :mod:`tocsin.pcap.writer` writes.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Sequence

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW = 0, 1, 101
LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 = 113, 276
TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}
MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")

Frames = list[tuple[int, bytes]]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


# --- link layers ----------------------------------------------------------------------------


def ethernet(
    payload: bytes,
    ethertype: int,
    *,
    src_mac: bytes = MAC_A,
    dst_mac: bytes = MAC_B,
    vlans: Sequence[int] = (),
) -> bytes:
    """An Ethernet II frame, with 802.1Q tags (the first one 802.1ad when there are two)."""
    tags = b""
    for i, vid in enumerate(vlans):
        tpid = 0x88A8 if len(vlans) > 1 and i == 0 else 0x8100
        tags += struct.pack("!HH", tpid, vid & 0x0FFF)
    return dst_mac + src_mac + tags + struct.pack("!H", ethertype) + payload


def sll(payload: bytes, ethertype: int, *, packet_type: int = 0, addr: bytes = MAC_A) -> bytes:
    """A Linux cooked (SLL) frame."""
    return (
        struct.pack("!HHH", packet_type, 1, len(addr))
        + addr.ljust(8, b"\0")
        + struct.pack("!H", ethertype)
        + payload
    )


def sll2(payload: bytes, ethertype: int, *, ifindex: int = 1, addr: bytes = MAC_A) -> bytes:
    """A Linux cooked v2 (SLL2) frame."""
    head = struct.pack("!HHIHBB", ethertype, 0, ifindex, 1, 0, len(addr)) + addr.ljust(8, b"\0")
    return head + payload


def null_loopback(payload: bytes, family: int) -> bytes:
    """A BSD loopback frame (family in host byte order, here little-endian)."""
    return struct.pack("<I", family) + payload


def frame(ip_packet: bytes, link: int, *, vlans: Sequence[int] = ()) -> bytes:
    """Wrap an IP packet in a link layer."""
    ethertype = 0x0800 if ip_packet[0] >> 4 == 4 else 0x86DD
    if link == LINKTYPE_ETHERNET:
        return ethernet(ip_packet, ethertype, vlans=vlans)
    if link == LINKTYPE_LINUX_SLL:
        return sll(ip_packet, ethertype)
    if link == LINKTYPE_LINUX_SLL2:
        return sll2(ip_packet, ethertype)
    if link == LINKTYPE_NULL:
        return null_loopback(ip_packet, 2 if ethertype == 0x0800 else 30)
    if link == LINKTYPE_RAW:
        return ip_packet
    raise ValueError(f"link type {link} is not built here")


# --- network and transport -------------------------------------------------------------------


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ident: int = 0,
    ttl: int = 64,
    df: bool = False,
    mf: bool = False,
    frag_offset: int = 0,
    options: bytes = b"",
    tos: int = 0,
) -> bytes:
    """An IPv4 packet with a right header checksum (``frag_offset`` in bytes, a multiple of 8)."""
    options += b"\0" * (-len(options) % 4)  # end-of-options padding to a 32-bit boundary
    ihl = 5 + len(options) // 4
    if ihl > 15:
        raise ValueError(f"IPv4 options of {len(options)} bytes exceed the 40 a header holds")
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_offset // 8)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        tos,
        ihl * 4 + len(payload),
        ident & 0xFFFF,
        flags,
        ttl,
        proto,
        0,
        _packed(src),
        _packed(dst),
    )
    header += options
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + payload


def ipv6_ext(kind: int, next_header: int, body: bytes) -> bytes:
    """One IPv6 extension header, padded to its unit (options headers with PadN)."""
    if kind == 44:  # fragment: fixed 8 bytes, ``body`` is offset/flags and identification
        return struct.pack("!BB", next_header, 0) + body[:6].ljust(6, b"\0")
    if kind == 51:  # AH counts in 32-bit words, minus two
        body += b"\0" * (-(len(body) + 2) % 4)
        return struct.pack("!BB", next_header, (len(body) + 2) // 4 - 2) + body
    pad = -(len(body) + 2) % 8
    if kind in (0, 60):
        body += b"\x00" if pad == 1 else (bytes([1, pad - 2]) + b"\0" * (pad - 2) if pad else b"")
    else:
        body += b"\0" * pad
    return struct.pack("!BB", next_header, (len(body) + 2) // 8 - 1) + body


def ipv6(
    src: str,
    dst: str,
    next_header: int,
    payload: bytes,
    *,
    hop_limit: int = 64,
    ext_headers: bytes | Sequence[tuple[int, bytes]] = b"",
) -> bytes:
    """An IPv6 packet; ``ext_headers`` as ``(kind, body)`` pairs chained here (or raw bytes
    already chained, starting with a hop-by-hop header and ending in ``next_header``)."""
    if isinstance(ext_headers, bytes):
        first, chain = (0, ext_headers) if ext_headers else (next_header, b"")
    else:
        kinds = [kind for kind, _ in ext_headers] + [next_header]
        chain = b"".join(
            ipv6_ext(kind, kinds[i + 1], body) for i, (kind, body) in enumerate(ext_headers)
        )
        first = kinds[0]
    body = chain + payload
    addresses = _packed(src) + _packed(dst)
    return struct.pack("!IHBB", 6 << 28, len(body), first, hop_limit) + addresses + body


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    s, d = _packed(src), _packed(dst)
    if len(s) == 4:
        return s + d + struct.pack("!BBH", 0, proto, length)
    return s + d + struct.pack("!IxxxB", length, proto)


def tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    payload: bytes = b"",
    *,
    seq: int = 0,
    ack: int = 0,
    flags: str = "S",
    window: int = 64240,
) -> bytes:
    """A TCP segment with a right checksum over the pseudo header."""
    bits = sum(FLAGS[f] for f in flags)
    header = struct.pack(
        "!HHIIBBHHH",
        sport,
        dport,
        seq & 0xFFFFFFFF,
        ack & 0xFFFFFFFF,
        5 << 4,
        bits,
        window,
        0,
        0,
    )
    segment = header + payload
    check = _checksum(_pseudo(src, dst, TCP, len(segment)) + segment)
    return segment[:16] + struct.pack("!H", check) + segment[18:]


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram with a right checksum."""
    datagram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    check = _checksum(_pseudo(src, dst, UDP, len(datagram)) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", check) + datagram[8:]


def icmp_echo(ident: int, seq: int, payload: bytes = b"", *, reply: bool = False) -> bytes:
    """An ICMP echo request (or reply)."""
    body = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq) + payload
    return body[:2] + struct.pack("!H", _checksum(body)) + body[4:]


def icmpv6_echo(
    src: str, dst: str, ident: int, seq: int, payload: bytes = b"", *, reply: bool = False
) -> bytes:
    """An ICMPv6 echo request (or reply); its checksum covers the pseudo header."""
    body = struct.pack("!BBHHH", 129 if reply else 128, 0, 0, ident, seq) + payload
    check = _checksum(_pseudo(src, dst, ICMP6, len(body)) + body)
    return body[:2] + struct.pack("!H", check) + body[4:]


def ip_packet(
    src: str, dst: str, proto: int, payload: bytes, *, ident: int = 0, ttl: int = 64
) -> bytes:
    """IPv4 or IPv6 by the addresses' version."""
    if ipaddress.ip_address(src).version == 4:
        return ipv4(src, dst, proto, payload, ident=ident, ttl=ttl)
    return ipv6(src, dst, proto, payload, hop_limit=ttl)


def fragment_ipv4(packet: bytes, mtu: int) -> list[bytes]:
    """Cut an IPv4 packet (or a fragment) into fragments that fit ``mtu``, as a router does.

    Data goes in multiples of 8; the header's fields are kept, its options only in the first
    fragment unless their copy bit is set.
    """
    ihl = (packet[0] & 0x0F) * 4
    header, body = packet[:ihl], packet[ihl:]
    step = (mtu - ihl) // 8 * 8
    if step <= 0:
        raise ValueError(f"an MTU of {mtu} leaves no room after a {ihl}-byte header")
    src = str(ipaddress.IPv4Address(header[12:16]))
    dst = str(ipaddress.IPv4Address(header[16:20]))
    ident = struct.unpack_from("!H", header, 4)[0]
    base = struct.unpack_from("!H", header, 6)[0]
    out = []
    for at in range(0, len(body), step):
        piece = body[at : at + step]
        more = at + step < len(body) or bool(base & 0x2000)
        out.append(
            ipv4(
                src,
                dst,
                header[9],
                piece,
                ident=ident,
                ttl=header[8],
                mf=more,
                frag_offset=(base & 0x1FFF) * 8 + at,
                options=header[20:] if at == 0 else _copied_options(header[20:]),
                tos=header[1],
            )
        )
    return out


def _copied_options(options: bytes) -> bytes:
    out, at = b"", 0
    while at < len(options):
        kind = options[at]
        if kind == 0:
            break
        if kind == 1:
            at += 1
            continue
        size = options[at + 1] if at + 1 < len(options) else 0
        if size < 2:
            break
        if kind & 0x80:
            out += options[at : at + size]
        at += size
    return out


def fragment_ipv6(packet: bytes, mtu: int, ident: int) -> list[bytes]:
    """Cut an IPv6 packet (no extension headers) into fragments with a Fragment header."""
    fixed, body = packet[:40], packet[40:]
    next_header = fixed[6]
    step = (mtu - 48) // 8 * 8
    if step <= 0:
        raise ValueError(f"an MTU of {mtu} leaves no room after the IPv6 and fragment headers")
    out = []
    for at in range(0, len(body), step):
        piece = body[at : at + step]
        more = at + step < len(body)
        frag = struct.pack("!BBHI", next_header, 0, at | int(more), ident & 0xFFFFFFFF)
        head = fixed[:4] + struct.pack("!HBB", 8 + len(piece), 44, fixed[7]) + fixed[8:40]
        out.append(head + frag + piece)
    return out


# --- scenarios -------------------------------------------------------------------------------


def tcp_session(
    client: str,
    server: str,
    cport: int,
    sport: int,
    exchanges: Sequence[tuple[bytes, bytes]],
    *,
    start_ns: int,
    rtt_ns: int = 2_000_000,
    link: int = LINKTYPE_ETHERNET,
    close: str | None = "fin",
    mss: int = 1460,
    vlans: Sequence[int] = (),
) -> Frames:
    """A whole TCP connection: handshake, request/response exchanges in MSS segments, close."""
    out: Frames = []
    t = start_ns
    c_seq, s_seq = 1000, 5000

    def send(src: str, dst: str, sp: int, dp: int, data: bytes, seq: int, ack: int, f: str) -> None:
        nonlocal t
        out.append(
            (
                t,
                frame(
                    ip_packet(
                        src, dst, TCP, tcp(src, dst, sp, dp, data, seq=seq, ack=ack, flags=f)
                    ),
                    link,
                    vlans=vlans,
                ),
            )
        )
        t += rtt_ns // 2

    send(client, server, cport, sport, b"", c_seq, 0, "S")
    send(server, client, sport, cport, b"", s_seq, c_seq + 1, "SA")
    c_seq += 1
    s_seq += 1
    send(client, server, cport, sport, b"", c_seq, s_seq, "A")
    for request, response in exchanges:
        for at in range(0, len(request), mss):
            piece = request[at : at + mss]
            send(client, server, cport, sport, piece, c_seq, s_seq, "PA")
            c_seq += len(piece)
        if request:
            send(server, client, sport, cport, b"", s_seq, c_seq, "A")
        for at in range(0, len(response), mss):
            piece = response[at : at + mss]
            send(server, client, sport, cport, piece, s_seq, c_seq, "PA")
            s_seq += len(piece)
        if response:
            send(client, server, cport, sport, b"", c_seq, s_seq, "A")
    if close == "fin":
        send(client, server, cport, sport, b"", c_seq, s_seq, "FA")
        send(server, client, sport, cport, b"", s_seq, c_seq + 1, "FA")
        send(client, server, cport, sport, b"", c_seq + 1, s_seq + 1, "A")
    elif close == "rst":
        send(client, server, cport, sport, b"", c_seq, s_seq, "RA")
    return out


def udp_exchange(
    client: str,
    server: str,
    cport: int,
    sport: int,
    request: bytes,
    response: bytes | None,
    *,
    start_ns: int,
    rtt_ns: int = 1_000_000,
    link: int = LINKTYPE_ETHERNET,
) -> Frames:
    """One UDP request and its answer (if any)."""
    out = [
        (
            start_ns,
            frame(ip_packet(client, server, UDP, udp(client, server, cport, sport, request)), link),
        )
    ]
    if response is not None:
        packet = ip_packet(server, client, UDP, udp(server, client, sport, cport, response))
        out.append((start_ns + rtt_ns, frame(packet, link)))
    return out


def beacon(
    client: str,
    server: str,
    port: int,
    *,
    start_ns: int,
    interval_s: float,
    count: int,
    jitter_s: float = 0.0,
    payload_size: int = 120,
    size_jitter: int = 0,
    seed: int = 1,
    link: int = LINKTYPE_ETHERNET,
) -> Frames:
    """Regular check-ins: each beat a short TCP session with a small request and answer."""
    rng = random.Random(seed)  # noqa: S311 - test traffic, not secrets
    out: Frames = []
    t = start_ns
    for beat in range(count):
        size = payload_size + (rng.randint(-size_jitter, size_jitter) if size_jitter else 0)
        request = b"P" * max(size, 1)
        cport = 40000 + beat % 20000
        out += tcp_session(client, server, cport, port, [(request, b"ok")], start_ns=t, link=link)
        step = interval_s + (rng.uniform(-jitter_s, jitter_s) if jitter_s else 0.0)
        t += int(max(step, 0.001) * 1e9)
    return out


def syn_scan(
    scanner: str,
    target: str,
    ports: Sequence[int],
    *,
    start_ns: int,
    rate_pps: float = 1000.0,
    open_ports: Sequence[int] = (),
    link: int = LINKTYPE_ETHERNET,
    sport: int = 61000,
) -> Frames:
    """A SYN scan: SYN to each port; SYN-ACK then the scanner's RST if open, else RST-ACK."""
    out: Frames = []
    gap = int(1e9 / rate_pps)
    for i, port in enumerate(ports):
        t = start_ns + i * gap
        syn = tcp(scanner, target, sport, port, seq=777, flags="S")
        out.append((t, frame(ip_packet(scanner, target, TCP, syn), link)))
        if port in open_ports:
            reply = tcp(target, scanner, port, sport, seq=9000, ack=778, flags="SA")
            rst = tcp(scanner, target, sport, port, seq=778, flags="R")
            out.append((t + 100_000, frame(ip_packet(target, scanner, TCP, reply), link)))
            out.append((t + 200_000, frame(ip_packet(scanner, target, TCP, rst), link)))
        else:
            reply = tcp(target, scanner, port, sport, seq=0, ack=778, flags="RA")
            out.append((t + 100_000, frame(ip_packet(target, scanner, TCP, reply), link)))
    return out


def host_sweep(
    scanner: str,
    targets: Sequence[str],
    port: int,
    *,
    start_ns: int,
    rate_pps: float = 500.0,
    answering: Sequence[str] = (),
    link: int = LINKTYPE_ETHERNET,
) -> Frames:
    """One port on many hosts: SYNs, answered (SYN-ACK) only by ``answering``."""
    out: Frames = []
    gap = int(1e9 / rate_pps)
    for i, target in enumerate(targets):
        t = start_ns + i * gap
        syn = tcp(scanner, target, 62000 + i % 1000, port, seq=1, flags="S")
        out.append((t, frame(ip_packet(scanner, target, TCP, syn), link)))
        if target in answering:
            reply = tcp(target, scanner, port, 62000 + i % 1000, seq=5, ack=2, flags="SA")
            out.append((t + 100_000, frame(ip_packet(target, scanner, TCP, reply), link)))
    return out


def merge(*frame_lists: Frames) -> Frames:
    """Frames of several scenarios in time order."""
    merged = [item for frames in frame_lists for item in frames]
    merged.sort(key=lambda item: item[0])
    return merged
