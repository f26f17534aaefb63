"""HTTP dissector: hand-made conversations (pipelining, codings, bombs, partial streams), tshark."""

from __future__ import annotations

import gzip
import hashlib
import zlib

import pytest

from tocsin.pcap.proto.http import parse_http, url_fields

MB = 1 << 20


def request(method: str, uri: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {uri} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 7) -> bytes:
    out = b""
    for at in range(0, len(body), size):
        piece = body[at : at + size]
        out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


def test_simple_get_fields():
    html = b"<!DOCTYPE html><html><body>hi!</body></html>"
    assert len(html) == 44
    client = request(
        "GET",
        "/path/page.php?q=1#frag",
        {"Host": "WWW.Example.com:8080", "User-Agent": "curl/8.0", "Referer": "http://r.example/"},
    )
    server = response(
        "200 OK",
        {"Server": "nginx", "Content-Type": "text/html; charset=utf-8", "Content-Length": "44"},
        html,
    )
    parsed = parse_http(client, server, max_body=MB)
    assert not parsed.truncated and parsed.anomalies == ()
    (txn,) = parsed.transactions
    assert txn.fields() == {
        "http.request.method": "GET",
        "http.version": "1.1",
        "url.original": "/path/page.php?q=1#frag",
        "url.full": "http://WWW.Example.com:8080/path/page.php?q=1#frag",
        "url.scheme": "http",
        "url.domain": "www.example.com",
        "url.path": "/path/page.php",
        "url.query": "q=1",
        "http.request.referrer": "http://r.example/",
        "user_agent.original": "curl/8.0",
        "http.request.body.bytes": 0,
        "http.response.status_code": 200,
        "http.response.body.bytes": 44,
        "http.response.mime_type": "text/html",
        "http.server": "nginx",
    }
    (file,) = txn.files
    assert (file.name, file.mime_type, file.size, file.direction) == ("page.php", "text/html", 44,
                                                                      "download")  # fmt: skip
    assert file.sha256 == hashlib.sha256(html).hexdigest()


def test_pipelined_requests_pair_in_order_with_head_and_interim_answers():
    client = (
        request("GET", "/a", {"Host": "h"})
        + request("HEAD", "/b", {"Host": "h"})
        + request("POST", "/c", {"Host": "h", "Content-Length": "5", "Expect": "100-continue"},
                  b"x=1&y")
        + b"\r\n"  # a stray CRLF some clients send after a body
        + request("GET", "/d", {"Host": "h"})
    )  # fmt: skip
    server = (
        response("200 OK", {"Content-Length": "3"}, b"aaa")
        + response("200 OK", {"Content-Length": "999"})  # a HEAD answer has no body
        + response("100 Continue", {})
        + response("201 Created", {"Transfer-Encoding": "chunked"}, chunked(b"created"))
        + response("304 Not Modified", {"Content-Length": "50"})
    )
    parsed = parse_http(client, server, max_body=MB)
    assert not parsed.truncated
    pairs = [(t.method, t.uri, t.status_code, t.response_body_bytes) for t in parsed.transactions]
    assert pairs == [("GET", "/a", 200, 3), ("HEAD", "/b", 200, 0), ("POST", "/c", 201, 7),
                     ("GET", "/d", 304, 0)]  # fmt: skip
    post = parsed.transactions[2]
    assert post.request_body_bytes == 5
    assert [(f.direction, f.size) for f in post.files] == [("upload", 5), ("download", 7)]


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # the RFC's deflate: zlib-wrapped
        ("deflate", lambda d: zlib.compress(d)[2:-4]),  # raw deflate, as old IIS sends it
    ],
)
def test_bodies_are_dechunked_and_decoded(coding, encode):
    body = b"%PDF-1.7\n" + bytes(range(256)) * 40
    wire = encode(body)
    headers = {"Content-Encoding": coding, "Transfer-Encoding": "chunked",
               "Content-Type": "application/octet-stream",
               "Content-Disposition": 'attachment; filename="report.pdf"'}  # fmt: skip
    server = response("200 OK", headers, chunked(wire, size=100))
    (txn,) = parse_http(request("GET", "/dl?id=3", {"Host": "h"}), server, max_body=MB).transactions
    assert txn.response_body_bytes == len(wire)
    (file,) = txn.files
    assert (file.name, file.mime_type, file.size, file.truncated) == ("report.pdf",
                                                                      "application/pdf",
                                                                      len(body), False)  # fmt: skip
    assert file.md5 == hashlib.md5(body).hexdigest()  # noqa: S324
    assert txn.flags == ()


def test_decompression_bomb_stops_at_max_body():
    bomb = gzip.compress(bytes(50 * MB))
    server = response("200 OK", {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))},
                      bomb)  # fmt: skip
    (txn,) = parse_http(request("GET", "/", {"Host": "h"}), server, max_body=64 * 1024).transactions
    assert "decompression_bomb" in txn.flags
    (file,) = txn.files
    assert file.size == 64 * 1024
    assert file.truncated
    assert txn.fields()["http.anomalies"] == ["decompression_bomb"]


def test_large_body_is_capped_not_a_bomb():
    body = bytes(range(256)) * 1024
    server = response("200 OK", {"Content-Length": str(len(body))}, body)
    (txn,) = parse_http(request("GET", "/", {"Host": "h"}), server, max_body=1000).transactions
    assert txn.response_body_bytes == len(body)
    assert txn.flags == ("body_capped",)
    assert txn.files[0].size == 1000 and txn.files[0].truncated


def test_capture_started_mid_flow_and_cut_at_cap():
    first = request("POST", "/up", {"Host": "h", "Content-Length": "4000"}, b"A" * 4000)
    second = request("GET", "/next", {"Host": "h", "User-Agent": "ua"})
    third = request("POST", "/cut", {"Host": "h", "Content-Length": "100"}, b"B" * 10)
    client = (first + second + third)[2500:]  # begins inside the first body
    server = response("200 OK", {"Content-Length": "2"}, b"ok")[5:]  # begins mid status line
    parsed = parse_http(client, server, max_body=MB)
    assert parsed.truncated
    assert any("unframed client bytes" in a for a in parsed.anomalies)
    assert [t.uri for t in parsed.transactions] == ["/next", "/cut"]
    assert parsed.transactions[0].user_agent == "ua"
    cut = parsed.transactions[1]
    assert cut.truncated and cut.request_body_bytes == 10
    assert cut.files[0].truncated


def test_response_without_length_runs_to_close_and_upgrade_stops():
    server = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"
    (txn,) = parse_http(request("GET", "/", {}), server, max_body=MB).transactions
    assert txn.response_body_bytes == len(b"until the end")
    upgrade = response("101 Switching Protocols", {"Upgrade": "websocket"}) + b"\x81\x05hello"
    parsed = parse_http(request("GET", "/ws", {"Host": "h"}), upgrade, max_body=MB)
    assert [t.status_code for t in parsed.transactions] == [101]
    assert parsed.anomalies == ()


def test_missing_host_uses_default_and_proxy_and_connect_targets():
    (txn,) = parse_http(b"GET /x HTTP/1.0\r\n\r\n", b"", max_body=MB).transactions
    assert "url.full" not in txn.fields()
    assert txn.fields(default_host="192.0.2.7")["url.full"] == "http://192.0.2.7/x"
    assert txn.status_code is None and "http.response.status_code" not in txn.fields()
    assert url_fields("http://Proxy.Example:3128/a/b?c=d", None, "GET") == {
        "url.full": "http://Proxy.Example:3128/a/b?c=d",
        "url.scheme": "http",
        "url.domain": "proxy.example",
        "url.path": "/a/b",
        "url.query": "c=d",
    }
    assert url_fields("evil.example:443", None, "CONNECT") == {"url.domain": "evil.example"}
    assert url_fields("/", "[2001:db8::1]:8080")["url.domain"] == "[2001:db8::1]"
    tunnel = request("CONNECT", "evil.example:443", {"Host": "evil.example:443"}) + b"\x16\x03"
    parsed = parse_http(tunnel, response("200 Connection established", {}), max_body=MB)
    assert [t.method for t in parsed.transactions] == ["CONNECT"]


def test_broken_framing_is_flagged_not_raised():
    bad_chunk = response("200 OK", {"Transfer-Encoding": "chunked"}, b"zz\r\nabc\r\n0\r\n\r\n")
    (txn,) = parse_http(request("GET", "/", {"Host": "h"}), bad_chunk, max_body=MB).transactions
    assert "bad_chunk" in txn.flags
    bad_length = request("POST", "/", {"Host": "h", "Content-Length": "-5"}, b"hello")
    parsed = parse_http(bad_length, b"", max_body=MB)
    assert "bad_content_length" in parsed.transactions[0].flags
    smuggle = request("POST", "/", {"Host": "h", "Content-Length": "3",
                                    "Transfer-Encoding": "chunked"}, chunked(b"abc"))  # fmt: skip
    assert (
        "chunked_with_content_length" in parse_http(smuggle, b"", max_body=MB).transactions[0].flags
    )
    brotli = response("200 OK", {"Content-Encoding": "br", "Content-Length": "3"}, b"\x0b\x01\x80")
    (txn,) = parse_http(request("GET", "/", {}), brotli, max_body=MB).transactions
    assert txn.flags == ("unsupported_encoding:br",)
    assert parse_http(b"", b"", max_body=MB).transactions == ()
    endless = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20000
    parsed = parse_http(endless, b"", max_body=MB)
    assert parsed.truncated and "header block too long" in parsed.anomalies


def test_shared_captures_agree_with_tshark(shared_data, tcp_stream, tshark_fields, tshark_export):
    for name in ("http_google", "http_post", "arppoison", "http_dvwa_sqlinjection"):
        path = shared_data / "pcap" / f"{name}.pcapng"
        wanted = tshark_fields(
            path, "http.request", "tcp.stream", "http.request.method", "http.request.uri"
        )
        wanted.sort(key=lambda row: int(row[0]))  # stable: frame order within a stream
        streams = sorted({int(row[0]) for row in wanted})
        ours: list[list[str]] = []
        hashes: set[str] = set()
        for index in streams:
            parsed = parse_http(*tcp_stream(path, index), max_body=16 * MB)
            assert not parsed.truncated, (name, index, parsed.anomalies)
            for txn in parsed.transactions:
                ours.append([str(index), str(txn.method), str(txn.uri)])
                hashes.update(f.sha256 for f in txn.files)
        assert ours == wanted
        # tshark's exported objects are the de-chunked, decoded bodies
        exported = {
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in tshark_export(path, "http").iterdir()
            if p.stat().st_size
        }
        assert exported <= hashes | {hashlib.sha256(b"").hexdigest()}, name
