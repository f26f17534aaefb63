"""Per-message cost of the DNS, HTTP and TLS dissectors (run by hand, not collected by pytest).

    .venv/bin/python benchmarks/bench_proto.py

Times are CPU time per call, best of five rounds, so other processes on the machine skew them
less than wall-clock time would.
"""

from __future__ import annotations

import gzip
import ssl
import time
from collections.abc import Callable

import dns.message
import dns.rrset

from tocsin.pcap.proto.dns import parse_message
from tocsin.pcap.proto.http import parse_http
from tocsin.pcap.proto.tls import ja3, ja4, parse_client_hello, tls_fields


def per_call(work: Callable[[], object], number: int) -> float:
    """Best CPU microseconds per call over five rounds."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(number):
            work()
        best = min(best, time.process_time() - start)
    return best / number * 1e6


def dns_messages() -> dict[str, bytes]:
    query = dns.message.make_query("www.example.com", "A")
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text("www.example.com.", 60, "IN", "CNAME", "w.cdn.net."))
    addresses = [f"192.0.2.{i}" for i in range(1, 7)]
    reply.answer.append(dns.rrset.from_text("w.cdn.net.", 60, "IN", "A", *addresses))
    nx = dns.message.make_response(query)
    nx.set_rcode(3)
    return {"query": query.to_wire(), "NXDOMAIN": nx.to_wire(), "7 answers": reply.to_wire()}


def http_conversation(body: bytes, encoding: str | None) -> tuple[bytes, bytes]:
    client = (
        b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; "
        b"Linux x86_64) Firefox/128.0\r\nAccept: */*\r\nReferer: http://www.example.com/\r\n\r\n"
    )
    headers = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
    if encoding:
        body = gzip.compress(body)
        headers += b"Content-Encoding: gzip\r\n"
    headers += b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    return client, headers + body


def openssl_client_hello() -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing, server_hostname="www.example.com")
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def main() -> None:
    """Print the figures."""
    for name, wire in dns_messages().items():
        ours = per_call(lambda w=wire: parse_message(w), 20_000)
        theirs = per_call(lambda w=wire: dns.message.from_wire(w), 2_000)
        print(
            f"dns {name:10} {len(wire):4} B  {ours:6.2f} us   (dnspython from_wire {theirs:.1f} us)"
        )
    page = b"<html><body>" + b"<p>hello world</p>" * 220 + b"</body></html>"
    for label, encoding in (("4 KB body", None), ("4 KB gzip body", "gzip")):
        client, server = http_conversation(page, encoding)
        cost = per_call(lambda c=client, s=server: parse_http(c, s, max_body=1 << 20), 5_000)
        print(f"http 1 transaction, {label:15} {cost:7.2f} us (fields, file hashes included)")
    hello = openssl_client_hello()
    cost = per_call(lambda: parse_client_hello(hello), 20_000)
    print(f"tls ClientHello parse ({len(hello)} B)      {cost:6.2f} us")
    ch = parse_client_hello(hello)
    assert ch is not None
    prints = per_call(lambda: (ja3(ch), ja4(ch)), 20_000)
    print(f"tls ja3 + ja4                          {prints:6.2f} us")
    both = per_call(lambda: tls_fields(parse_client_hello(hello), None), 20_000)
    print(f"tls parse + tls_fields                 {both:6.2f} us")


if __name__ == "__main__":
    main()
