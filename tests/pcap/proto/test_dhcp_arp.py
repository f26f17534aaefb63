"""DHCP and ARP dissectors: hand-built packets and the shared captures against tshark."""

from __future__ import annotations

import socket
import struct

import pytest

from tocsin.pcap.proto import Malformed
from tocsin.pcap.proto.arp import parse_arp
from tocsin.pcap.proto.dhcp import MAGIC_COOKIE, MESSAGE_TYPES, parse_dhcp

MAC = bytes.fromhex("0a1b2c3d4e5f")


def bootp(op: int = 1, yiaddr: str = "0.0.0.0", options: bytes = b"") -> bytes:
    header = struct.pack("!BBBBIHH", op, 1, 6, 0, 0xDEADBEEF, 0, 0x8000)
    header += bytes(4) + socket.inet_aton(yiaddr) + bytes(8) + MAC + bytes(10) + bytes(192)
    return header + MAGIC_COOKIE + options + b"\xff"


def option(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def test_dhcp_request_fields():
    options = (
        option(53, b"\x03")
        + option(50, socket.inet_aton("192.168.1.20"))
        + option(54, socket.inet_aton("192.168.1.1"))
        + option(12, b"laptop-7\x00")
        + option(60, b"MSFT 5.0")
        + option(55, bytes([1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]))
        + option(61, b"\x01" + MAC)
        + option(81, b"\x04\x00\x00\x06laptop\x07example\x00")
        + b"\x00\x00"  # pad options
    )
    assert parse_dhcp(bootp(options=options)) == {
        "dhcp.op": "request",
        "dhcp.transaction_id": "deadbeef",
        "dhcp.client_mac": "0A-1B-2C-3D-4E-5F",
        "dhcp.broadcast": True,
        "dhcp.message_type": "REQUEST",
        "dhcp.requested_ip": "192.168.1.20",
        "dhcp.server_id": "192.168.1.1",
        "dhcp.hostname": "laptop-7",
        "dhcp.vendor_class": "MSFT 5.0",
        "dhcp.params": ["1", "3", "6", "15", "31", "33", "43", "44", "46", "47", "119", "121",
                        "249", "252"],
        "dhcp.client_id": "01" + MAC.hex(),
        "dhcp.fqdn": "laptop.example",
    }  # fmt: skip


def test_dhcp_ack_fields_and_split_option():
    # RFC 3396: a long option may come in pieces that are joined
    options = (
        option(53, b"\x05")
        + option(51, struct.pack("!I", 86400))
        + option(1, socket.inet_aton("255.255.255.0"))
        + option(6, socket.inet_aton("10.0.0.53"))
        + option(6, socket.inet_aton("10.0.0.54"))
        + option(3, socket.inet_aton("10.0.0.1"))
    )
    fields = parse_dhcp(bootp(op=2, yiaddr="10.0.0.99", options=options))
    assert fields["dhcp.message_type"] == "ACK"
    assert fields["dhcp.assigned_ip"] == "10.0.0.99"
    assert fields["dhcp.lease_time"] == 86400
    assert fields["dhcp.dns_servers"] == ["10.0.0.53", "10.0.0.54"]
    assert fields["dhcp.routers"] == ["10.0.0.1"]
    assert fields["dhcp.subnet_mask"] == "255.255.255.0"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (bootp()[:200], "shorter than BOOTP"),
        (bootp()[:236] + b"\x00\x00\x00\x00\xff", "magic cookie"),
        (bootp()[:-1] + b"\x35\x09\x01", "claims 9 bytes"),
        (bootp()[:-1] + b"\x35", "no length"),
        (bootp(options=option(50, b"\x01\x02")), "not an address"),
        (bootp(options=option(6, b"\x01\x02\x03\x04\x05")), "not a list of addresses"),
        (bootp(options=option(51, b"\x01")), "lease time"),
    ],
)
def test_dhcp_malformed(payload, message):
    with pytest.raises(Malformed, match=message):
        parse_dhcp(payload)


def test_dhcp_shared_capture_agrees_with_tshark(shared_data, tshark_fields):
    path = shared_data / "pcap" / "dhcp_nolease_initialization.pcapng"
    rows = tshark_fields(path, "dhcp", "udp.payload", "dhcp.option.dhcp", "dhcp.hw.mac_addr",
                         "dhcp.option.hostname", "dhcp.option.request_list_item",
                         "dhcp.ip.your", "dhcp.option.dhcp_server_id")  # fmt: skip
    kinds = []
    for payload, kind, mac, hostname, params, yiaddr, server in rows:
        fields = parse_dhcp(bytes.fromhex(payload))
        kinds.append(fields["dhcp.message_type"])
        assert fields["dhcp.message_type"] == MESSAGE_TYPES[int(kind)]
        assert fields["dhcp.client_mac"] == mac.upper().replace(":", "-")
        assert fields.get("dhcp.hostname", "") == hostname
        assert fields.get("dhcp.params", []) == (params.split(",") if params else [])
        assert fields.get("dhcp.assigned_ip", "0.0.0.0") == yiaddr
        assert fields.get("dhcp.server_id", "") == server
    assert kinds == ["DISCOVER", "OFFER", "REQUEST", "ACK"]


def arp(op: int, sha: bytes, spa: str, tha: bytes, tpa: str) -> bytes:
    return (
        struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
        + sha
        + socket.inet_aton(spa)
        + tha
        + (socket.inet_aton(tpa))
    )


def test_arp_request_reply_gratuitous_probe():
    request = parse_arp(arp(1, MAC, "10.0.0.5", bytes(6), "10.0.0.1") + bytes(18))
    assert request == {
        "arp.operation": "request",
        "source.mac": "0A-1B-2C-3D-4E-5F",
        "source.ip": "10.0.0.5",
        "destination.mac": "00-00-00-00-00-00",
        "destination.ip": "10.0.0.1",
        "arp.gratuitous": False,
        "arp.probe": False,
    }
    announce = parse_arp(arp(2, MAC, "10.0.0.5", b"\xff" * 6, "10.0.0.5"))
    assert announce["arp.operation"] == "reply" and announce["arp.gratuitous"] is True
    probe = parse_arp(arp(1, MAC, "0.0.0.0", bytes(6), "10.0.0.9"))
    assert probe["arp.probe"] is True and probe["arp.gratuitous"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x00\x01\x08\x00", "shorter than its 8-byte header"),
        (arp(1, MAC, "1.2.3.4", MAC, "1.2.3.5")[:20], "shorter than the 28"),
        (struct.pack("!HHBBH", 1, 0x86DD, 6, 16, 1) + bytes(44), "not IPv4"),
        (struct.pack("!HHBBH", 1, 0x0800, 0, 4, 1) + bytes(8), "hardware address length 0"),
    ],
)
def test_arp_malformed(body, message):
    with pytest.raises(Malformed, match=message):
        parse_arp(body)


def test_arp_shared_capture_agrees_with_tshark(shared_data, tshark_fields, tshark_frames):
    path = shared_data / "pcap" / "arppoison.pcapng"
    rows = tshark_fields(path, "arp", "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4",
                         "arp.dst.hw_mac", "arp.dst.proto_ipv4", "arp.isgratuitous")  # fmt: skip
    frames = tshark_frames(path, "arp")
    assert len(rows) == len(frames) == 4
    for frame, (opcode, smac, sip, dmac, dip, gratuitous) in zip(frames, rows, strict=True):
        fields = parse_arp(frame[14:])  # after the Ethernet header
        assert fields["arp.operation"] == {"1": "request", "2": "reply"}[opcode]
        assert (fields["source.mac"], fields["source.ip"]) == (smac.upper().replace(":", "-"), sip)
        assert fields["destination.mac"] == dmac.upper().replace(":", "-")
        assert fields["destination.ip"] == dip
        assert fields["arp.gratuitous"] is (gratuitous == "1")
