"""TLS dissector: hand-built hellos with fingerprints worked out step by step, OpenSSL vs tshark."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import struct
from pathlib import Path

import pytest

from tocsin.pcap import synth
from tocsin.pcap.proto import Malformed
from tocsin.pcap.proto.tls import (
    ClientHello,
    client_hello_from_handshake,
    is_grease,
    ja3,
    ja3s,
    ja4,
    parse_client_hello,
    parse_server_hello,
    tls_fields,
)
from tocsin.pcap.writer import write_pcap

# the example hello of FoxIO's JA4 specification (technical_details/JA4.md)
SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013,
                0xC014, 0x009C, 0x009D, 0x002F, 0x0035]  # fmt: skip
SPEC_EXTENSIONS = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005,
                   0x0023, 0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]  # fmt: skip
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def u16s(values: list[int], size: int = 2) -> bytes:
    data = b"".join(struct.pack("!H", v) for v in values)
    return len(data).to_bytes(size, "big") + data


def alpn_body(protocols: list[bytes]) -> bytes:
    items = b"".join(bytes([len(p)]) + p for p in protocols)
    return struct.pack("!H", len(items)) + items


def sni_body(name: bytes) -> bytes:
    entry = b"\x00" + struct.pack("!H", len(name)) + name
    return struct.pack("!H", len(entry)) + entry


def extension_body(kind: int, **values: object) -> bytes:
    if kind == 0x0000:
        return sni_body(values.get("sni", b"example.com"))
    if kind == 0x0010:
        return alpn_body(values.get("alpn", [b"h2", b"http/1.1"]))
    if kind == 0x002B:
        return u16s([0x7A7A, 0x0304, 0x0303], 1)
    if kind == 0x000A:
        return u16s([0x3A3A, 29, 23, 24])
    if kind == 0x000B:
        return b"\x01\x00"
    if kind == 0x000D:
        return u16s(values.get("sigalgs", SPEC_SIGALGS))
    return b""


def handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def client_hello(
    ciphers: list[int], extensions: list[tuple[int, bytes]], *, version: int = 0x0303
) -> bytes:
    body = struct.pack("!H", version) + bytes(32) + b"\x20" + bytes(range(32))
    body += u16s(ciphers) + b"\x01\x00"
    exts = b"".join(struct.pack("!HH", kind, len(data)) + data for kind, data in extensions)
    body += struct.pack("!H", len(exts)) + exts
    return handshake(1, body)


def records(message: bytes, size: int = 16384) -> bytes:
    out = b""
    for at in range(0, len(message), size):
        piece = message[at : at + size]
        out += struct.pack("!BHH", 22, 0x0301, len(piece)) + piece
    return out


def spec_hello(**values: object) -> bytes:
    extensions = [(0x0A0A, b"")]
    extensions += [(kind, extension_body(kind, **values)) for kind in SPEC_EXTENSIONS]
    extensions.append((0x1A1A, b"\x00"))
    return client_hello([0x2A2A, *SPEC_CIPHERS], extensions)


def test_spec_example_ja4_step_by_step():
    ch = parse_client_hello(records(spec_hello()))
    assert ch is not None
    assert ch.server_name == "example.com"
    assert ch.alpn == (b"h2", b"http/1.1")
    assert ch.max_version == 0x0304
    assert ch.ciphers[0] == 0x2A2A and is_grease(ch.ciphers[0])
    cipher_list = "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"
    assert hashlib.sha256(cipher_list.encode()).hexdigest()[:12] == "8daaf6152771"
    ext_list = "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"
    sig_list = "0403,0804,0401,0503,0805,0501,0806,0601"
    assert hashlib.sha256(f"{ext_list}_{sig_list}".encode()).hexdigest()[:12] == "e5627efa2ab1"
    # t: TCP, 13: supported_versions max, d: SNI, 15 ciphers and 16 extensions without
    # GREASE, h2: first and last characters of the first ALPN value
    assert ja4(ch) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert ja4(ch, quic=True) == "q13d1516h2_8daaf6152771_e5627efa2ab1"


def test_ja3_drops_grease_and_keeps_order():
    ch = parse_client_hello(records(spec_hello()))
    assert ch is not None
    expected = ",".join(
        [
            "771",
            "-".join(str(c) for c in SPEC_CIPHERS),
            "-".join(str(e) for e in SPEC_EXTENSIONS),
            "29-23-24",
            "0",
        ]
    )
    assert expected.startswith("771,4865-4866-4867-49195-")
    assert ja3(ch) == (expected, hashlib.md5(expected.encode()).hexdigest())  # noqa: S324


def test_ja4_without_signature_algorithms_hashes_the_extensions_alone():
    # the spec's second example: the same extensions, no signature algorithm
    ch = parse_client_hello(records(spec_hello(sigalgs=[])))
    assert ch is not None and ch.signature_algorithms == ()
    assert ja4(ch).endswith("_6d807ffa2a79")


def test_ja4_no_sni_no_alpn_and_empty_lists():
    extensions = [(0x000D, u16s([0x0403]))]
    ch = parse_client_hello(records(client_hello([0x002F], extensions, version=0x0302)))
    assert ch is not None
    ja4_b = hashlib.sha256(b"002f").hexdigest()[:12]
    ja4_c = hashlib.sha256(b"000d_0403").hexdigest()[:12]
    assert ja4(ch) == f"t11i010100_{ja4_b}_{ja4_c}"
    # SNI and ALPN alone leave no extension for the hash, and no cipher at all gives zeros
    bare = client_hello([], [(0, sni_body(b"a.example")), (16, alpn_body([b"h2"]))])
    ch = parse_client_hello(records(bare))
    assert ch is not None
    assert ja4(ch) == "t12d0002h2_000000000000_000000000000"


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"h", "hh"),
        (b"", "00"),
        (b"\xab", "ab"),
        (b"\xab\xcd", "ad"),
        (b"\x30\xab", "3b"),
        (b"\x30\x31\xab\xcd", "3d"),
        (b"\x30\xab\xcd\x31", "01"),
    ],
)
def test_ja4_alpn_characters(first, expected):
    hello = client_hello([0x1301], [(16, alpn_body([first, b"h2"]))])
    ch = parse_client_hello(records(hello))
    assert ch is not None
    assert ja4(ch)[8:10] == expected


def test_ja4_counts_stop_at_99():
    hello = client_hello(list(range(1, 150)), [(0x0100 + i, b"") for i in range(120)])
    ch = parse_client_hello(records(hello))
    assert ch is not None
    assert ja4(ch)[:10] == "t12i999900"


def test_hello_spanning_records_and_partial_streams():
    # a post-quantum key share makes hellos larger than one packet; records may split anywhere
    big = spec_hello()
    ch = parse_client_hello(records(big, size=50))
    assert ch == parse_client_hello(records(big))
    stream = records(big, size=50)
    assert parse_client_hello(stream[:-10]) is None  # capture cut inside the hello
    assert parse_client_hello(b"GET / HTTP/1.1\r\n\r\n") is None
    sslv2 = b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + bytes(37)
    assert parse_client_hello(sslv2) is None
    # the hello followed by other records: only the hello is read
    assert parse_client_hello(records(big) + b"\x14\x03\x03\x00\x01\x01") == ch


def test_lying_lengths_raise_malformed():
    hello = spec_hello()
    # the cipher-suite length (after version, random, session id) claims 0xfff0 bytes
    at = 4 + 2 + 32 + 1 + 32
    lying = hello[:at] + b"\xff\xf0" + hello[at + 2 :]
    with pytest.raises(Malformed, match="cipher suites"):
        parse_client_hello(records(lying))
    with pytest.raises(Malformed, match="odd length"):
        client_hello_from_handshake(client_hello([0x1301], [(10, b"\x00\x03\x00\x1d\x00")]))
    with pytest.raises(Malformed, match="extension"):
        client_hello_from_handshake(hello[:-3] + b"\xff\xff\x00")
    with pytest.raises(Malformed):
        parse_client_hello(b"\x16\x03\x01\x00\x04\x01\xff\xff\xff")


def server_hello(
    cipher: int, extensions: list[tuple[int, bytes]], *, random: bytes = bytes(32)
) -> bytes:
    body = struct.pack("!H", 0x0303) + random + b"\x00" + struct.pack("!HB", cipher, 0)
    exts = b"".join(struct.pack("!HH", kind, len(data)) + data for kind, data in extensions)
    body += struct.pack("!H", len(exts)) + exts
    return records(handshake(2, body) + handshake(11, b"\x00\x00\x00"))


def test_server_hello_and_fields():
    sh = parse_server_hello(
        server_hello(0x1301, [(0x002B, b"\x03\x04"), (0x0033, b"\x00"), (16, alpn_body([b"h2"]))])
    )
    assert sh is not None
    assert (sh.negotiated_version, sh.cipher, sh.alpn) == (0x0304, 0x1301, b"h2")
    assert ja3s(sh) == ("771,4865,43-51-16", hashlib.md5(b"771,4865,43-51-16").hexdigest())  # noqa: S324
    ch = parse_client_hello(records(spec_hello()))
    fields = tls_fields(ch, sh)
    assert fields == {
        "tls.client.server_name": "example.com",
        "tls.client.ja3": ja3(ch)[1],
        "tls.client.ja4": "t13d1516h2_8daaf6152771_e5627efa2ab1",
        "tls.client.supported_versions": ["1.3", "1.2"],
        "tls.client.alpn": ["h2", "http/1.1"],
        "tls.server.ja3s": ja3s(sh)[1],
        "tls.version": "1.3",
        "tls.version_protocol": "tls",
        "tls.cipher": "TLS_AES_128_GCM_SHA256",
        "tls.server.alpn": "h2",
    }
    old = parse_server_hello(server_hello(0xC02F, []))
    assert old is not None
    assert tls_fields(None, old)["tls.version"] == "1.2"
    assert tls_fields(None, old)["tls.cipher"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    odd = parse_server_hello(server_hello(0xABCD, []))
    assert odd is not None and tls_fields(None, odd)["tls.cipher"] == "0xabcd"
    assert parse_server_hello(records(spec_hello())) is None  # a ClientHello is not one


def test_hello_retry_request_is_flagged():
    hrr = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    sh = parse_server_hello(server_hello(0x1301, [(0x002B, b"\x03\x04")], random=hrr))
    assert sh is not None and sh.retry_request
    assert tls_fields(None, sh)["tls.server.hello_retry"] is True


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tocsin.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _openssl_flights(folder: Path, maximum: ssl.TLSVersion) -> tuple[bytes, bytes]:
    """The first flight each way of an in-memory OpenSSL handshake (no socket)."""
    cert, key = _self_signed(folder)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    server_ctx.set_alpn_protocols(["http/1.1"])
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    client_ctx.maximum_version = maximum
    client_ctx.set_alpn_protocols(["h2", "http/1.1"])
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="tocsin.test")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    first = c_out.read()
    s_in.write(first)
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    return first, s_out.read()


@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_openssl_hellos_agree_with_tshark_ja3(tmp_path, tshark_fields, maximum):
    client_flight, server_flight = _openssl_flights(tmp_path, maximum)
    frames = synth.tcp_session(
        "10.0.0.1", "10.0.0.2", 50000, 443, [(client_flight, server_flight)], start_ns=10**18
    )
    capture = tmp_path / "tls.pcap"
    write_pcap(capture, frames, synth.LINKTYPE_ETHERNET)
    names = ("tls.handshake.ja3_full", "tls.handshake.ja3", "tls.handshake.ja3s_full")
    rows = tshark_fields(capture, "tls.handshake", *names, "tls.handshake.ja3s")
    client_row = next(r for r in rows if r[0])
    server_row = next(r for r in rows if r[2])
    ch = parse_client_hello(client_flight)
    sh = parse_server_hello(server_flight)
    assert isinstance(ch, ClientHello) and sh is not None
    assert ja3(ch) == (client_row[0], client_row[1])
    assert ja3s(sh) == (server_row[2], server_row[3])
    fields = tls_fields(ch, sh)
    assert fields["tls.client.server_name"] == "tocsin.test"
    assert fields["tls.version"] == ("1.3" if maximum == ssl.TLSVersion.TLSv1_3 else "1.2")
    # TLS 1.3 moves the server's ALPN choice into the encrypted extensions
    tls13 = maximum == ssl.TLSVersion.TLSv1_3
    assert fields.get("tls.server.alpn") == (None if tls13 else "http/1.1")
    assert str(fields["tls.client.ja4"]).startswith(
        "t13d" if maximum == ssl.TLSVersion.TLSv1_3 else "t12d"
    )
