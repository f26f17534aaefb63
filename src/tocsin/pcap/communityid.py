"""Community ID v1: one flow hash that Zeek, Suricata, Arkime and tocsin all agree on.

The spec (corelight/community-id-spec) hashes the seed, both addresses, the protocol and both
ports with SHA-1, endpoints ordered so that both directions give the same value. ICMP puts the
type and code in the ports, and an echo request and its reply share a value because the code slot
holds the counterpart type.
"""

from __future__ import annotations

import base64
import hashlib
import struct

ICMP, ICMP6, TCP, UDP, SCTP = 1, 58, 6, 17, 132

# ICMP type -> counterpart type, both directions (request <-> reply)
_ICMP_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17, 9: 10, 10: 9}
_ICMP6_PAIRS = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130}
_ICMP6_PAIRS.update({144: 145, 145: 144})


def icmp_ports(proto: int, icmp_type: int, code: int) -> tuple[int, int, bool]:
    """The (sport, dport) the spec uses for an ICMP message, and whether it is one-way."""
    pairs = _ICMP_PAIRS if proto == ICMP else _ICMP6_PAIRS
    other = pairs.get(icmp_type)
    if other is None:
        return icmp_type, code, True
    return icmp_type, other, False


def community_id(
    saddr: bytes, daddr: bytes, proto: int, sport: int, dport: int, *, seed: int = 0
) -> str:
    """The ``1:...`` Community ID of a flow (addresses as 4 or 16 packed bytes)."""
    one_way = False
    if proto in (ICMP, ICMP6):
        sport, dport, one_way = icmp_ports(proto, sport, dport)
    if not one_way and (saddr, sport) > (daddr, dport):
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    parts = struct.pack("!H", seed) + saddr + daddr + struct.pack("!BB", proto, 0)
    if proto in (ICMP, ICMP6, TCP, UDP, SCTP):
        parts += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(parts).digest()).decode("ascii")  # noqa: S324
