"""A tcpdump-style filter language over decoded packets, evaluated on whole batches.

``tocsin pcap extract --filter`` takes the primitives analysts type every day, compiled into
numpy masks over a batch's decoded headers (no libpcap needed, so it works offline and on
stored captures alike):

* protocols: ``ip``, ``ip6``, ``tcp``, ``udp``, ``icmp``, ``icmp6``, ``arp``, ``vlan [ID]``
* ``[src|dst] host ADDR``, ``[src|dst] net CIDR``, ``[src|dst] port N``, ``portrange A-B``
* ``tcp-syn``, ``tcp-rst``, ``tcp-fin`` flag tests (our spelling; no ``tcp[13]`` byte offsets)
* ``and`` / ``&&``, ``or`` / ``||``, ``not`` / ``!``, parentheses.

An IPv4 address matches its IPv4-mapped form, as the decoder stores it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tocsin.core.errors import InvalidInputError
from tocsin.pcap.decode import ETH_ARP, FIN, ICMP, ICMP6, RST, SYN, TCP, UDP, Decoded

Mask = npt.NDArray[np.bool_]
Predicate = Callable[[Decoded], Mask]

_QUALIFIED = ("src", "dst", "host", "net", "port", "portrange")
_TOKEN = re.compile(r"\s*(\(|\)|&&|\|\||!|[^\s()!]+)")


@dataclass(frozen=True, slots=True)
class Filter:
    """A compiled filter: call ``mask(decoded)``."""

    text: str
    predicate: Predicate

    def mask(self, decoded: Decoded) -> Mask:
        """The packets of a batch that match."""
        return self.predicate(decoded)


def compile_filter(text: str) -> Filter:
    """Compile a filter expression; InvalidInputError quotes what could not be read."""
    tokens = [t for t in _TOKEN.findall(text) if t]
    if not tokens:
        raise InvalidInputError("empty filter: give an expression such as 'tcp and port 80'")
    parser = _Parser(tokens, text)
    predicate = parser.expression()
    if parser.pos != len(tokens):
        raise InvalidInputError(f"bad filter {text!r}: unexpected {tokens[parser.pos]!r}")
    return Filter(text, predicate)


def _addr_halves(text: str, where: str) -> tuple[int, int, int]:
    """An address or network as (hi, lo, prefix) in the 128-bit mapped space."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidInputError(f"bad filter: {text!r} is not an address ({where})") from None
    if net.version == 4:
        value = (0xFFFF << 32) | int(net.network_address)
        prefix = 96 + net.prefixlen
    else:
        value = int(net.network_address)
        prefix = net.prefixlen
    return value >> 64, value & (2**64 - 1), prefix


def _mask(values: object) -> Mask:
    return np.asarray(values, dtype=np.bool_)


def _in_net(
    hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64], net: tuple[int, int, int]
) -> Mask:
    n_hi, n_lo, prefix = net
    if prefix <= 64:
        mask_hi = (2**64 - 1) ^ ((1 << (64 - prefix)) - 1) if prefix else 0
        return _mask((hi & np.uint64(mask_hi)) == np.uint64(n_hi & mask_hi))
    mask_lo = (2**64 - 1) ^ ((1 << (128 - prefix)) - 1)
    return _mask((hi == np.uint64(n_hi)) & ((lo & np.uint64(mask_lo)) == np.uint64(n_lo & mask_lo)))


class _Parser:
    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos].lower() if self.pos < len(self.tokens) else None

    def _next(self, what: str) -> str:
        if self.pos >= len(self.tokens):
            raise InvalidInputError(f"bad filter {self.text!r}: {what} expected at the end")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expression(self) -> Predicate:
        left = self.term()
        while self._peek() in ("or", "||"):
            self.pos += 1
            right = self.term()
            left = (lambda a, b: lambda d: a(d) | b(d))(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self._peek() in ("and", "&&"):
            self.pos += 1
            right = self.factor()
            left = (lambda a, b: lambda d: a(d) & b(d))(left, right)
        return left

    def factor(self) -> Predicate:
        word = self._peek()
        if word in ("not", "!"):
            self.pos += 1
            inner = self.factor()
            return lambda d: ~inner(d)
        if word == "(":
            self.pos += 1
            inner = self.expression()
            if self._next("')'") != ")":
                raise InvalidInputError(f"bad filter {self.text!r}: ')' expected")
            return inner
        return self.primitive()

    def primitive(self) -> Predicate:
        word = self._next("a primitive").lower()
        direction = None
        if word in ("src", "dst"):
            direction = word
            word = self._next("host, net or port").lower()
        if word == "host" or word == "net":
            net = _addr_halves(self._next("an address"), word)
            return _address_test(net, direction)
        if word == "port":
            port = self._number(self._next("a port"))
            return _port_test(port, port, direction)
        if word == "portrange":
            text = self._next("a port range")
            low, _, high = text.partition("-")
            return _port_test(self._number(low), self._number(high or low), direction)
        if direction is not None:
            raise InvalidInputError(f"bad filter {self.text!r}: {direction} {word!r}")
        simple: dict[str, Predicate] = {
            "ip": lambda d: d.ipver == 4,
            "ip6": lambda d: d.ipver == 6,
            "tcp": lambda d: (d.ipver > 0) & (d.proto == TCP),
            "udp": lambda d: (d.ipver > 0) & (d.proto == UDP),
            "icmp": lambda d: (d.ipver == 4) & (d.proto == ICMP),
            "icmp6": lambda d: (d.ipver == 6) & (d.proto == ICMP6),
            "arp": lambda d: d.ethertype == ETH_ARP,
            "tcp-syn": lambda d: (d.proto == TCP) & ((d.tcp_flags & SYN) != 0),
            "tcp-rst": lambda d: (d.proto == TCP) & ((d.tcp_flags & RST) != 0),
            "tcp-fin": lambda d: (d.proto == TCP) & ((d.tcp_flags & FIN) != 0),
        }
        if word in simple:
            proto = simple[word]
            if word in ("ip", "ip6", "tcp", "udp") and self._peek() in _QUALIFIED:
                # tcpdump's "tcp port 80", "udp dst port 53": the protocol qualifies what follows
                inner = self.primitive()
                return lambda d: proto(d) & inner(d)
            return proto
        if word == "vlan":
            nxt = self._peek()
            if nxt is not None and nxt.isdigit():
                vid = self._number(self._next("a VLAN id"))
                return lambda d: d.vlan == vid
            return lambda d: d.vlan >= 0
        raise InvalidInputError(f"bad filter {self.text!r}: unknown primitive {word!r}")

    def _number(self, text: str) -> int:
        if not text.isdigit() or int(text) > 65535:
            raise InvalidInputError(f"bad filter {self.text!r}: {text!r} is not a port")
        return int(text)


def _address_test(net: tuple[int, int, int], direction: str | None) -> Predicate:
    def test(d: Decoded) -> Mask:
        ip = d.ipver > 0
        src = _in_net(d.src_hi, d.src_lo, net)
        dst = _in_net(d.dst_hi, d.dst_lo, net)
        if direction == "src":
            return ip & src
        if direction == "dst":
            return ip & dst
        return ip & (src | dst)

    return test


def _port_test(low: int, high: int, direction: str | None) -> Predicate:
    def test(d: Decoded) -> Mask:
        ported = (d.ipver > 0) & ((d.proto == TCP) | (d.proto == UDP))
        src = (d.sport >= low) & (d.sport <= high)
        dst = (d.dport >= low) & (d.dport <= high)
        if direction == "src":
            return _mask(ported & src)
        if direction == "dst":
            return _mask(ported & dst)
        return _mask(ported & (src | dst))

    return test
