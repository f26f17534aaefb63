"""DNS dissector: field values against dnspython-built messages, hostile names, tshark."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from tocsin.pcap.proto import Malformed
from tocsin.pcap.proto.dns import parse_message, read_name, split_tcp


def header(ident: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, 0, 0)


def labels(*parts: bytes) -> bytes:
    return b"".join(bytes([len(p)]) + p for p in parts) + b"\x00"


def response(name: str, rdtype: str, *rdatas: str, rcode: int = 0) -> bytes:
    query = dns.message.make_query(name, rdtype)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    if rdatas:
        reply.answer.append(dns.rrset.from_text(name, 300, "IN", rdtype, *rdatas))
    return reply.to_wire()


def test_query_fields():
    wire = dns.message.make_query("WWW.Example.COM.", "AAAA", id=4660).to_wire()
    assert parse_message(wire) == {
        "dns.id": "4660",
        "dns.type": "query",
        "dns.header_flags": ["RD"],
        "dns.op_code": "QUERY",
        "dns.question.name": "www.example.com",
        "dns.question.type": "AAAA",
        "dns.question.class": "IN",
    }


@pytest.mark.parametrize(
    ("rdtype", "rdatas", "expected"),
    [
        ("A", ["192.0.2.1", "192.0.2.2"], ["192.0.2.1", "192.0.2.2"]),
        ("AAAA", ["2001:db8::1"], ["2001:db8::1"]),
        ("CNAME", ["Target.Example.NET."], ["target.example.net"]),
        ("NS", ["ns1.example.com."], ["ns1.example.com"]),
        ("PTR", ["host.example.com."], ["host.example.com"]),
        ("MX", ["10 mail.example.com."], ["mail.example.com"]),
        # several character-strings make one value (SPF and DKIM split long records)
        ("TXT", ['"v=spf1 " "-all"'], ["v=spf1 -all"]),
        ("SRV", ["0 5 5060 sip.example.com."], ["0 5 5060 sip.example.com"]),
        (
            "SOA",
            ["ns.example.com. admin.example.com. 2024010101 7200 3600 1209600 300"],
            ["ns.example.com admin.example.com 2024010101 7200 3600 1209600 300"],
        ),
        # no presentation form of its own: the RFC 3597 generic one
        ("CAA", ['0 issue "ca.example"'], ["\\# 17 " + b"\x00\x05issueca.example".hex()]),
    ],
)
def test_answer_data(rdtype, rdatas, expected):
    fields = parse_message(response("example.com.", rdtype, *rdatas))
    assert fields["dns.type"] == "answer"
    assert fields["dns.response_code"] == "NOERROR"
    # dnspython keeps an rrset as a set, so two records may go out in either order
    assert sorted(fields["dns.answers.data"]) == expected
    assert fields["dns.answers.type"] == [rdtype] * len(expected)
    assert fields["dns.answers.ttl"] == ["300"] * len(expected)
    assert fields["dns.answers.count"] == len(expected)
    assert "dns.anomaly" not in fields


def test_nxdomain_and_flags():
    wire = response("nope.example.", "A", rcode=dns.rcode.NXDOMAIN)
    fields = parse_message(wire)
    assert fields["dns.response_code"] == "NXDOMAIN"
    assert fields["dns.answers.data"] == []
    # every header flag ECS names, in ECS order
    flags = 0x8000 | 0x0400 | 0x0200 | 0x0100 | 0x0080 | 0x0020 | 0x0010
    assert parse_message(header(flags=flags) + labels(b"a") + b"\x00\x01\x00\x01")[
        "dns.header_flags"
    ] == ["AA", "TC", "RD", "RA", "AD", "CD"]


def test_unknown_type_class_rcode_and_opcode():
    wire = header(flags=0x8000 | (5 << 11) | 12) + labels(b"x") + struct.pack("!HH", 65534, 77)
    fields = parse_message(wire)
    assert fields["dns.question.type"] == "TYPE65534"
    assert fields["dns.question.class"] == "CLASS77"
    assert fields["dns.response_code"] == "RCODE12"
    assert fields["dns.op_code"] == "UPDATE"


def test_names_idn_case_escapes_and_root():
    wire = header() + labels(b"XN--Bcher-KVA", b"Example") + b"\x00\x01\x00\x01"
    assert parse_message(wire)["dns.question.name"] == "xn--bcher-kva.example"
    odd = header() + labels(b"a.b", b"sp ace", b"\xc3\xa9") + b"\x00\x10\x00\x01"
    assert parse_message(odd)["dns.question.name"] == "a\\.b.sp\\032ace.\\195\\169"
    root = header() + b"\x00" + b"\x00\x02\x00\x01"
    assert parse_message(root)["dns.question.name"] == "."


def test_mdns_unicast_bit_and_cache_flush():
    question = labels(b"_http", b"_tcp", b"local") + struct.pack("!HH", 12, 0x8001)
    wire = header(ident=0, flags=0x8400, qd=1, an=1) + question
    wire += b"\xc0\x0c" + struct.pack("!HHIH", 1, 0x8001, 120, 4) + bytes([10, 0, 0, 7])
    fields = parse_message(wire)
    assert fields["dns.question.class"] == "IN"
    assert fields["dns.question.name"] == "_http._tcp.local"
    assert fields["dns.answers.data"] == ["10.0.0.7"]


def test_compression_pointer_into_previous_name():
    wire = header(flags=0x8180, an=1) + labels(b"www", b"example", b"com") + b"\x00\x05\x00\x01"
    # CNAME data "cdn" + pointer to "example.com" (offset 16) of the question
    rdata = b"\x03cdn\xc0\x10"
    wire += b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, len(rdata)) + rdata
    assert parse_message(wire)["dns.answers.data"] == ["cdn.example.com"]


Q = b"\x00\x01\x00\x01"  # type A, class IN after a question name


@pytest.mark.parametrize(
    ("question", "message"),
    [
        (b"\xc0\x0c" + Q, "does not go back"),  # points at itself
        (b"\x01a\xc0\x0e" + Q, "does not go back"),  # forward, into its own labels
        (b"\xc0\xff" + Q, "does not go back"),  # past the end
        (b"\x01a\xc0", "cut"),  # the pointer's second byte is missing
        (b"\x41" + b"a" * 65 + b"\x00" + Q, "label type"),  # 0x40 extended label
        (b"\x05ab", "past the end"),
        (b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3f" + b"d" * 63 + Q,
         "longer than 255"),
        (b"\x01a\x00\x00", "question at offset 15 is cut"),
    ],
)  # fmt: skip
def test_hostile_names_raise_malformed(question, message):
    with pytest.raises(Malformed, match=message):
        parse_message(header() + question)


def test_pointer_chain_loop_between_two_names():
    # name at 12 points to 14, which points back to 12: neither pointer goes strictly back
    data = header(qd=2) + b"\xc0\x0e" + b"\x00\x01\x00\x01" + b"\xc0\x0c"
    with pytest.raises(Malformed):
        read_name(data, 12)
    with pytest.raises(Malformed):
        parse_message(data)


def test_cut_answer_section_keeps_what_was_read():
    wire = response("example.com.", "A", "192.0.2.1", "192.0.2.2", "192.0.2.3")
    whole = parse_message(wire)["dns.answers.data"]
    assert sorted(whole) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    fields = parse_message(wire[:-2])
    assert fields["dns.question.name"] == "example.com"
    assert fields["dns.answers.data"] == whole[:2]
    assert "claims 4 bytes past the end" in str(fields["dns.anomaly"])
    # a query or a cut question is not worth an event
    with pytest.raises(Malformed):
        parse_message(wire[:20])
    with pytest.raises(Malformed, match="12-byte header"):
        parse_message(wire[:11])


def test_wrong_address_length_is_an_anomaly():
    wire = header(flags=0x8180, an=1) + labels(b"a") + b"\x00\x01\x00\x01"
    wire += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 3) + b"\x01\x02\x03"
    fields = parse_message(wire)
    assert fields["dns.answers.data"] == []
    assert "not 4" in str(fields["dns.anomaly"])


def test_split_tcp():
    one = dns.message.make_query("a.example.", "A").to_wire()
    two = dns.message.make_query("b.example.", "MX").to_wire()
    stream = b"".join(struct.pack("!H", len(m)) + m for m in (one, two)) + b"\x00\x30abc"
    messages, left = split_tcp(stream)
    assert messages == [one, two]
    assert left == 5
    assert [parse_message(m)["dns.question.name"] for m in messages] == ["a.example", "b.example"]
    assert split_tcp(b"\x00") == ([], 1)


def test_shared_udp_messages_agree_with_tshark(shared_data, tshark_fields):
    checked = 0
    for path in sorted((shared_data / "pcap").glob("dns*.pcap*")):
        rows = tshark_fields(
            path, "dns && udp", "udp.payload", "dns.qry.name", "dns.count.answers", "dns.a"
        )
        for payload, name, count, addresses in rows:
            fields = parse_message(bytes.fromhex(payload))
            assert fields["dns.question.name"] == (name.lower() or ".")
            if fields["dns.type"] == "answer":
                assert fields["dns.answers.count"] == int(count)
                ours = {d for d, t in zip(fields["dns.answers.data"], fields["dns.answers.type"],
                                          strict=True) if t == "A"}  # fmt: skip
                assert ours <= set(filter(None, addresses.split(",")))
            checked += 1
    assert checked > 20


def test_shared_tcp_zone_transfer(shared_data, tcp_stream):
    client, server = tcp_stream(shared_data / "pcap" / "dns_axfr.pcapng", 0)
    queries, left = split_tcp(client)
    assert left == 0
    assert parse_message(queries[0])["dns.question.type"] == "AXFR"
    answers, left = split_tcp(server)
    assert left == 0
    records = [t for m in answers for t in parse_message(m)["dns.answers.type"]]
    # a zone transfer starts and ends with the zone's SOA
    assert records[0] == "SOA"
    assert records[-1] == "SOA"
    assert len(records) > 2
