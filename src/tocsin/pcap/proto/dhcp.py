"""DHCPv4 messages (BOOTP with options) into native ``dhcp.*`` fields for asset discovery.

A DHCP exchange names a device: its MAC, the host name it asks for, its vendor class and the
list of options it requests (option 55, whose order is a well-known OS fingerprint), and the
address the server hands it. Only the fixed BOOTP header and the options area are read; the
option overload of ``sname``/``file`` (option 52) is reported, not followed.
"""

from __future__ import annotations

import socket
import struct

from tocsin.pcap.proto import Malformed

MAGIC_COOKIE = b"\x63\x82\x53\x63"
_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s")
HEADER_SIZE = 236  # through the 128-byte file field, before the magic cookie
MAX_OPTIONS = 255

MESSAGE_TYPES = {
    1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE",
    8: "INFORM", 9: "FORCERENEW", 10: "LEASEQUERY", 11: "LEASEUNASSIGNED", 12: "LEASEUNKNOWN",
    13: "LEASEACTIVE", 14: "BULKLEASEQUERY", 15: "LEASEQUERYDONE", 16: "ACTIVELEASEQUERY",
    17: "LEASEQUERYSTATUS", 18: "TLS",
}  # fmt: skip
OP_NAMES = {1: "request", 2: "reply"}
_ZERO = b"\x00\x00\x00\x00"


def format_mac(raw: bytes) -> str:
    """A hardware address as ECS writes it: upper-case hex pairs joined by hyphens."""
    return "-".join(f"{b:02X}" for b in raw)


def _ip(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, raw)


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("utf-8", "backslashreplace")


def _ips(raw: bytes, code: int) -> list[str]:
    if len(raw) % 4:
        raise Malformed(f"DHCP option {code} holds {len(raw)} bytes, not a list of addresses")
    return [_ip(raw[i : i + 4]) for i in range(0, len(raw), 4)]


def _options(data: bytes, pos: int) -> dict[int, bytes]:
    """Options from ``pos`` to the end option; a repeated option is concatenated (RFC 3396)."""
    options: dict[int, bytes] = {}
    n = len(data)
    seen = 0
    while pos < n:
        code = data[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255:
            break
        if pos + 1 >= n:
            raise Malformed(f"DHCP option {code} at offset {pos} has no length")
        length = data[pos + 1]
        start = pos + 2
        if start + length > n:
            raise Malformed(f"DHCP option {code} at offset {pos} claims {length} bytes")
        options[code] = options.get(code, b"") + data[start : start + length]
        pos = start + length
        seen += 1
        if seen > MAX_OPTIONS:
            raise Malformed(f"more than {MAX_OPTIONS} DHCP options")
    return options


def parse_dhcp(payload: bytes) -> dict[str, object]:
    """Native ``dhcp.*`` fields of one DHCPv4 message (a UDP payload on port 67 or 68)."""
    if len(payload) < HEADER_SIZE + 4:
        raise Malformed(f"DHCP message of {len(payload)} bytes is shorter than BOOTP's 240")
    if payload[HEADER_SIZE : HEADER_SIZE + 4] != MAGIC_COOKIE:
        raise Malformed("no DHCP magic cookie at offset 236 (plain BOOTP or not DHCP)")
    op, htype, hlen, _hops, xid, _secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr = (
        _HEADER.unpack_from(payload)
    )
    if hlen > 16:
        raise Malformed(f"DHCP hardware address length {hlen} is over 16")
    options = _options(payload, HEADER_SIZE + 4)
    out: dict[str, object] = {
        "dhcp.op": OP_NAMES.get(op) or str(op),
        "dhcp.transaction_id": f"{xid:08x}",
        "dhcp.client_mac": format_mac(chaddr[:hlen]),
    }
    if htype != 1:
        out["dhcp.hardware_type"] = htype
    if flags & 0x8000:
        out["dhcp.broadcast"] = True
    kind = options.get(53)
    if kind:
        out["dhcp.message_type"] = MESSAGE_TYPES.get(kind[0]) or str(kind[0])
    for field, raw in (
        ("dhcp.client_ip", ciaddr),
        ("dhcp.assigned_ip", yiaddr),
        ("dhcp.next_server_ip", siaddr),
        ("dhcp.relay_ip", giaddr),
    ):
        if raw != _ZERO:
            out[field] = _ip(raw)
    single_ips = ((50, "dhcp.requested_ip"), (54, "dhcp.server_id"), (1, "dhcp.subnet_mask"))
    for code, field in single_ips:
        value = options.get(code)
        if value is not None:
            if len(value) != 4:
                raise Malformed(f"DHCP option {code} holds {len(value)} bytes, not an address")
            out[field] = _ip(value)
    for code, field in ((3, "dhcp.routers"), (6, "dhcp.dns_servers")):
        value = options.get(code)
        if value:
            out[field] = _ips(value, code)
    for code, field in (
        (12, "dhcp.hostname"),
        (15, "dhcp.domain"),
        (60, "dhcp.vendor_class"),
        (14, "dhcp.message"),
    ):
        value = options.get(code)
        if value:
            out[field] = _text(value)[:255]
    lease = options.get(51)
    if lease is not None:
        if len(lease) != 4:
            raise Malformed(f"DHCP lease time holds {len(lease)} bytes, not 4")
        out["dhcp.lease_time"] = int.from_bytes(lease, "big")
    params = options.get(55)
    if params:
        # the requested options in the client's order: an OS fingerprint as is
        out["dhcp.params"] = [str(b) for b in params]
    client_id = options.get(61)
    if client_id:
        out["dhcp.client_id"] = client_id.hex()
    fqdn = options.get(81)
    if fqdn and len(fqdn) > 3:
        out["dhcp.fqdn"] = _fqdn(fqdn)
    if 52 in options:
        out["dhcp.option_overload"] = True
    return out


def _fqdn(value: bytes) -> str:
    """Option 81's name: wire labels when the E flag says so, else ASCII (RFC 4702)."""
    flags, name = value[0], value[3:]
    if not flags & 0x04:
        return _text(name)[:255]
    labels: list[str] = []
    pos = 0
    while pos < len(name) and name[pos] and len(labels) < 128:
        length = name[pos]
        labels.append(name[pos + 1 : pos + 1 + length].decode("ascii", "backslashreplace"))
        pos += 1 + length
    return ".".join(labels)[:255].lower()
