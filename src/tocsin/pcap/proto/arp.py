"""ARP packets into ECS ``source.*``/``destination.*`` fields for asset discovery.

The body is the ARP packet after the link header. Ethernet/IPv4 is what networks carry; other
hardware address sizes (InfiniBand's 20 bytes) are read too, other protocol address sizes are
not addresses we can write and raise :class:`~tocsin.pcap.proto.Malformed`. A gratuitous ARP
(sender and target address the same) announces or claims an address, which is also what ARP
spoofing looks like, so it is flagged.
"""

from __future__ import annotations

import socket
import struct

from tocsin.pcap.proto import Malformed
from tocsin.pcap.proto.dhcp import format_mac

_HEADER = struct.Struct("!HHBBH")
OPERATIONS = {1: "request", 2: "reply", 3: "rarp_request", 4: "rarp_reply", 8: "inarp_request"}
OPERATIONS[9] = "inarp_reply"
_ZERO_IP = b"\x00\x00\x00\x00"


def parse_arp(body: bytes) -> dict[str, object]:
    """ECS fields of one ARP packet: operation, sender as source, target as destination."""
    if len(body) < 8:
        raise Malformed(f"ARP packet of {len(body)} bytes is shorter than its 8-byte header")
    _htype, ptype, hlen, plen, operation = _HEADER.unpack_from(body)
    if plen != 4 or ptype != 0x0800:
        raise Malformed(f"ARP for protocol {ptype:#06x} with {plen}-byte addresses is not IPv4")
    if hlen == 0 or hlen > 20:
        raise Malformed(f"ARP hardware address length {hlen} is not supported")
    end = 8 + 2 * (hlen + plen)
    if len(body) < end:
        raise Malformed(f"ARP packet of {len(body)} bytes is shorter than the {end} it needs")
    at = 8
    sha = body[at : at + hlen]
    spa = body[at + hlen : at + hlen + 4]
    at += hlen + 4
    tha = body[at : at + hlen]
    tpa = body[at + hlen : at + hlen + 4]
    return {
        "arp.operation": OPERATIONS.get(operation) or str(operation),
        "source.mac": format_mac(sha),
        "source.ip": socket.inet_ntop(socket.AF_INET, spa),
        "destination.mac": format_mac(tha),
        "destination.ip": socket.inet_ntop(socket.AF_INET, tpa),
        "arp.gratuitous": spa == tpa and spa != _ZERO_IP,
        # a probe (RFC 5227) asks whether an address is free before taking it
        "arp.probe": operation == 1 and spa == _ZERO_IP,
    }
