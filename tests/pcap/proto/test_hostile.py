"""Hostile input for every dissector: random bytes, truncations, mutations, lying lengths.

A dissector may only return or raise Malformed (HTTP and SMTP never raise). The corpus is
deterministic (fixed seeds) so a failure reproduces.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator

import dns.message
import dns.rrset
import pytest

from tests.pcap.proto.test_dhcp_arp import arp, bootp, option
from tests.pcap.proto.test_http import chunked, request, response
from tests.pcap.proto.test_smtp import EHLO_REPLY, GREETING, mail, stuff
from tests.pcap.proto.test_tls import records, server_hello, spec_hello
from tocsin.pcap.proto import Malformed
from tocsin.pcap.proto.arp import parse_arp
from tocsin.pcap.proto.dhcp import parse_dhcp
from tocsin.pcap.proto.dns import parse_message, split_tcp
from tocsin.pcap.proto.files import file_info
from tocsin.pcap.proto.http import parse_http
from tocsin.pcap.proto.smtp import parse_smtp
from tocsin.pcap.proto.tls import ja3, ja4, parse_client_hello, parse_server_hello, tls_fields


def variants(seeds: list[bytes], rng: random.Random, count: int) -> Iterator[bytes]:
    """Every truncation of each seed, then random mutations, splices and noise."""
    for seed in seeds:
        for cut in range(len(seed)):
            yield seed[:cut]
    for _ in range(count):
        seed = bytearray(rng.choice(seeds))
        kind = rng.randrange(4)
        if kind == 0 and seed:  # flip a few bytes, often length fields near the start
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(min(len(seed), 64) if rng.random() < 0.5 else len(seed))
                seed[at] = rng.randrange(256)
        elif kind == 1 and seed:  # set a 16-bit field to a lie
            at = rng.randrange(len(seed))
            seed[at : at + 2] = rng.choice([b"\xff\xff", b"\x00\x00", b"\x7f\xff", b"\x00\x01"])
        elif kind == 2:  # splice two seeds
            other = rng.choice(seeds)
            seed = seed[: rng.randrange(len(seed) + 1)] + other[rng.randrange(len(other) + 1) :]
        else:
            seed = bytearray(rng.randbytes(rng.randrange(1, 600)))
        yield bytes(seed)


def check(parse: Callable[[bytes], object], data: bytes) -> None:
    try:
        parse(data)
    except Malformed:
        pass


def dns_seeds() -> list[bytes]:
    query = dns.message.make_query("www.example.com", "A")
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text("www.example.com.", 60, "IN", "CNAME", "a.example."))
    reply.answer.append(dns.rrset.from_text("a.example.", 60, "IN", "A", "192.0.2.1"))
    reply.answer.append(dns.rrset.from_text("a.example.", 60, "IN", "TXT", '"x" "y"'))
    reply.answer.append(dns.rrset.from_text("a.example.", 60, "IN", "SOA", "a. b. 1 2 3 4 5"))
    reply.answer.append(dns.rrset.from_text("a.example.", 60, "IN", "SRV", "1 2 3 c.example."))
    return [query.to_wire(), reply.to_wire()]


def test_dns_never_crashes():
    rng = random.Random(8)
    seeds = dns_seeds()
    for data in variants(seeds, rng, 4000):
        check(parse_message, data)
        messages, left = split_tcp(data)
        assert sum(len(m) + 2 for m in messages) + left <= len(data)
    result = parse_message(seeds[1])
    assert all(isinstance(v, str) for v in result["dns.answers.data"])


def test_dns_answer_count_flood_is_bounded():
    # 65535 answers claimed, 3 present: the parse stops at the end of the data
    wire = bytearray(dns_seeds()[1])
    wire[6:8] = b"\xff\xff"
    fields = parse_message(bytes(wire))
    assert fields["dns.answers.count"] == 5
    assert "dns.anomaly" in fields


def test_tls_never_crashes():
    rng = random.Random(9)
    client = records(spec_hello())
    server = server_hello(0x1301, [(0x002B, b"\x03\x04")])
    for data in variants([client, records(spec_hello(), size=40), server], rng, 4000):
        try:
            ch = parse_client_hello(data)
            if ch is not None:
                ja3(ch)
                ja4(ch)
                tls_fields(ch, None)
        except Malformed:
            pass
        try:
            sh = parse_server_hello(data)
            if sh is not None:
                tls_fields(None, sh)
        except Malformed:
            pass


def test_tls_extension_flood_is_refused():
    extensions = b"".join(struct.pack("!HH", 0x0100 + (i % 200), 0) for i in range(5000))
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01\x01\x00"
    body += struct.pack("!H", len(extensions)) + extensions
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    with pytest.raises(Malformed, match="more than"):
        parse_client_hello(records(message))


def test_http_never_raises():
    rng = random.Random(10)
    client = request("POST", "/a", {"Host": "h", "Content-Length": "3"}, b"abc") + request(
        "GET", "/b", {"Host": "h"}
    )
    coded = {"Transfer-Encoding": "chunked", "Content-Encoding": "gzip"}
    server = response("200 OK", coded, chunked(b"\x1f\x8b\x08\x00garbage"))
    server += response("204 No Content", {})
    seeds = [client, server]
    for data in variants(seeds, rng, 2500):
        other = rng.choice(seeds)
        parse_http(data, other, max_body=4096)
        parse_http(other, data, max_body=4096)


def test_http_request_flood_is_bounded():
    flood = b"GET / HTTP/1.1\r\n\r\n" * 20_000
    parsed = parse_http(flood, b"", max_body=1024)
    assert len(parsed.transactions) == 10_000


def test_smtp_never_raises():
    rng = random.Random(11)
    client = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + stuff(
        mail(attachment=b"\x00" * 100)
    ) + b"BDAT 5 LAST\r\nabcde"  # fmt: skip
    server = GREETING + EHLO_REPLY + b"250 Ok\r\n250 Ok\r\n354 Go\r\n250 Ok\r\n"
    seeds = [client, server]
    for data in variants(seeds, rng, 1500):
        other = rng.choice(seeds)
        parse_smtp(data, other, max_message=2048)
        parse_smtp(other, data, max_message=2048)


def test_dhcp_and_arp_never_crash():
    rng = random.Random(12)
    dhcp_seed = bootp(options=option(53, b"\x01") + option(12, b"host") + option(55, b"\x01\x03"))
    for data in variants([dhcp_seed], rng, 3000):
        check(parse_dhcp, data)
    arp_seed = arp(1, b"\x02" * 6, "10.0.0.1", bytes(6), "10.0.0.2")
    for data in variants([arp_seed], rng, 3000):
        check(parse_arp, data)


def test_file_info_takes_any_bytes():
    rng = random.Random(13)
    for _ in range(2000):
        data = rng.randbytes(rng.randrange(0, 300))
        if rng.random() < 0.3:
            data = rng.choice([b"MZ", b"PK\x03\x04", b"RIFF", b"\xef\xbb\xbf<"]) + data
        info = file_info(data, name=data[:8].decode("latin-1"), declared_type=data[8:20].decode(
            "latin-1"), source="http", direction="download", truncated=False)  # fmt: skip
        assert info.size == len(data) and "/" in info.mime_type
