"""TLS hellos into ECS ``tls.*`` fields and the JA3, JA3S and JA4 fingerprints.

Only the first handshake message of each direction is read: the ClientHello (which may span
several records, as post-quantum key shares make it do) and the ServerHello. Everything after
them is encrypted or irrelevant to fingerprinting; TLS 1.3 encrypts the server's ALPN choice
too, so ``tls.server.alpn`` is only known up to TLS 1.2. GREASE values (RFC 8701) are kept in
the parsed hellos, since they are what the client sent, and dropped by every fingerprint.

JA3 and JA3S follow Salesforce's definitions (decimal values, MD5); JA4 follows FoxIO's public
specification for the TLS client fingerprint (technical_details/JA4.md, BSD-3-Clause).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from tocsin.pcap.proto import Malformed

HANDSHAKE = 22
CLIENT_HELLO, SERVER_HELLO = 1, 2
EXT_SNI, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIG_ALGS, EXT_ALPN = 0, 10, 11, 13, 16
EXT_SUPPORTED_VERSIONS = 43
MAX_HANDSHAKE = 1 << 17  # a hello longer than this is not worth reassembling
MAX_ITEMS = 4096  # per list (ciphers, extensions, ...); real hellos stay far below

_RECORD = struct.Struct("!BHH")
_U16 = struct.Struct("!H")
_U16_LISTS = [struct.Struct(f"!{n}H") for n in range(200)]
# the HelloRetryRequest "random" (RFC 8446 section 4.1.3)
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

VERSIONS = {
    0x0304: "1.3", 0x0303: "1.2", 0x0302: "1.1", 0x0301: "1.0", 0x0300: "3.0", 0x0002: "2.0",
}  # fmt: skip
_JA4_VERSIONS = {
    0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
    0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3",
}  # fmt: skip
CIPHERS = {
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
    0x5600: "TLS_FALLBACK_SCSV",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}


GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))  # 0x0a0a, 0x1a1a, ... 0xfafa


def is_grease(value: int) -> bool:
    """Whether a 16-bit value is a GREASE value (0x0a0a, 0x1a1a, ... 0xfafa)."""
    return value in GREASE


@dataclass(frozen=True, slots=True)
class ClientHello:
    """What a ClientHello offers, in the order sent, GREASE included."""

    version: int  # legacy_version of the hello (0x0303 for TLS 1.2 and 1.3)
    ciphers: tuple[int, ...]
    compression: tuple[int, ...]
    extensions: tuple[int, ...]
    server_name: str | None  # first host_name of the SNI extension
    has_sni: bool  # the extension was sent (JA4 "d"), even if it could not be read
    alpn: tuple[bytes, ...]
    supported_versions: tuple[int, ...]
    groups: tuple[int, ...]
    point_formats: tuple[int, ...]
    signature_algorithms: tuple[int, ...]

    @property
    def max_version(self) -> int:
        """The highest version offered: supported_versions when sent, else legacy_version."""
        offered = [v for v in self.supported_versions if v not in GREASE]
        return max(offered) if offered else self.version


@dataclass(frozen=True, slots=True)
class ServerHello:
    """What a ServerHello chose."""

    version: int  # legacy_version
    cipher: int
    compression: int
    extensions: tuple[int, ...]
    selected_version: int | None  # from supported_versions (TLS 1.3)
    alpn: bytes | None
    retry_request: bool  # a HelloRetryRequest, not a real ServerHello

    @property
    def negotiated_version(self) -> int:
        """The version in use: the supported_versions choice when present, else legacy."""
        return self.selected_version if self.selected_version is not None else self.version


class _Reader:
    """A cursor over one handshake message with bounds checks that raise Malformed."""

    __slots__ = ("data", "pos", "end", "what")

    def __init__(self, data: bytes, pos: int, end: int, what: str) -> None:
        self.data, self.pos, self.end, self.what = data, pos, end, what

    def need(self, count: int, field: str) -> int:
        start = self.pos
        if start + count > self.end:
            raise Malformed(
                f"{self.what}: {field} of {count} bytes at offset {start} runs past {self.end}"
            )
        self.pos = start + count
        return start

    def u8(self, field: str) -> int:
        return self.data[self.need(1, field)]

    def u16(self, field: str) -> int:
        at = self.need(2, field)
        return (self.data[at] << 8) | self.data[at + 1]

    def block(self, size_bytes: int, field: str) -> tuple[int, int]:
        """A length-prefixed block: its (start, end)."""
        if size_bytes == 1:
            length = self.u8(field)
        else:
            length = self.u16(field)
        start = self.need(length, field)
        return start, start + length


def _u16_list(data: bytes, start: int, end: int, what: str) -> tuple[int, ...]:
    length = end - start
    if length & 1:
        raise Malformed(f"{what} at offset {start} has an odd length {length}")
    count = length >> 1
    if count > MAX_ITEMS:
        raise Malformed(f"{what} at offset {start} lists {count} values")
    unpack = _U16_LISTS[count] if count < len(_U16_LISTS) else struct.Struct(f"!{count}H")
    return unpack.unpack_from(data, start)


def _handshake_message(stream: bytes, expected: int) -> bytes | None:
    """The first handshake message of a TLS stream if it is ``expected`` and complete."""
    if len(stream) < 6:
        return None
    content_type, record_version, _ = _RECORD.unpack_from(stream, 0)
    if content_type != HANDSHAKE or (record_version >> 8) != 3:
        return None  # not TLS (or an SSLv2-compatible hello, which is not fingerprinted)
    body = bytearray()
    pos = 0
    need = -1
    n = len(stream)
    while pos + 5 <= n:
        content_type, record_version, length = _RECORD.unpack_from(stream, pos)
        if content_type != HANDSHAKE:
            if need < 0 or len(body) < need:
                raise Malformed(f"record type {content_type} at offset {pos} inside a hello")
            break
        if (record_version >> 8) != 3 or length > 18_432:
            raise Malformed(f"TLS record at offset {pos} has version {record_version:#06x}")
        body += stream[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if need < 0 and len(body) >= 4:
            if body[0] != expected:
                return None
            need = 4 + int.from_bytes(body[1:4], "big")
            if need > MAX_HANDSHAKE:
                raise Malformed(f"handshake message claims {need - 4} bytes")
        if need >= 0 and len(body) >= need:
            return bytes(body[:need])
    return None  # cut before the message ended: a partial capture, nothing to fingerprint


def _read_extensions(
    reader: _Reader, what: str
) -> list[tuple[int, int, int]]:  # (type, start, end)
    if reader.pos == reader.end:
        return []  # no extensions block at all (SSLv3-era hellos)
    start, end = reader.block(2, "extensions")
    out: list[tuple[int, int, int]] = []
    data = reader.data
    pos = start
    while pos < end:
        if pos + 4 > end:
            raise Malformed(f"{what}: extension header at offset {pos} is cut")
        ext_type, length = (data[pos] << 8) | data[pos + 1], (data[pos + 2] << 8) | data[pos + 3]
        pos += 4
        if pos + length > end:
            raise Malformed(f"{what}: extension {ext_type} at offset {pos} claims {length} bytes")
        out.append((ext_type, pos, pos + length))
        pos += length
        if len(out) > MAX_ITEMS:
            raise Malformed(f"{what}: more than {MAX_ITEMS} extensions")
    return out


def _server_name(data: bytes, start: int, end: int) -> str | None:
    reader = _Reader(data, start, end, "server_name")
    if start == end:
        return None  # a server echoes an empty SNI extension
    list_start, list_end = reader.block(2, "server name list")
    reader.pos, reader.end = list_start, list_end
    while reader.pos < reader.end:
        kind = reader.u8("name type")
        name_start, name_end = reader.block(2, "host name")
        if kind == 0:
            return data[name_start:name_end].decode("ascii", "backslashreplace").lower()
    return None


def _alpn(data: bytes, start: int, end: int) -> tuple[bytes, ...]:
    reader = _Reader(data, start, end, "alpn")
    list_start, list_end = reader.block(2, "protocol list")
    reader.pos, reader.end = list_start, list_end
    out: list[bytes] = []
    while reader.pos < reader.end and len(out) < MAX_ITEMS:
        name_start, name_end = reader.block(1, "protocol name")
        out.append(data[name_start:name_end])
    return tuple(out)


def client_hello_from_handshake(message: bytes) -> ClientHello:
    """A ClientHello from one whole handshake message (type, length, body; QUIC CRYPTO data)."""
    if len(message) < 4 or message[0] != CLIENT_HELLO:
        raise Malformed("not a ClientHello handshake message")
    end = 4 + int.from_bytes(message[1:4], "big")
    if end > len(message):
        raise Malformed(f"ClientHello claims {end - 4} bytes, {len(message) - 4} present")
    what = "ClientHello"
    reader = _Reader(message, 4, end, what)
    version = reader.u16("version")
    reader.need(32, "random")
    reader.block(1, "session id")
    start, stop = reader.block(2, "cipher suites")
    ciphers = _u16_list(message, start, stop, "cipher suites")
    start, stop = reader.block(1, "compression methods")
    compression = tuple(message[start:stop])
    server_name: str | None = None
    has_sni = False
    alpn: tuple[bytes, ...] = ()
    supported: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    formats: tuple[int, ...] = ()
    sig_algs: tuple[int, ...] = ()
    extensions = _read_extensions(reader, what)
    for ext_type, start, stop in extensions:
        if ext_type == EXT_SNI:
            has_sni = True
            server_name = _server_name(message, start, stop)
        elif ext_type == EXT_ALPN:
            alpn = _alpn(message, start, stop)
        elif ext_type == EXT_SUPPORTED_VERSIONS:
            if stop > start:
                length = message[start]
                if start + 1 + length > stop:
                    raise Malformed(f"{what}: supported_versions at offset {start} is cut")
                supported = _u16_list(message, start + 1, start + 1 + length, "versions")
        elif ext_type == EXT_GROUPS:
            inner = _Reader(message, start, stop, what).block(2, "supported groups")
            groups = _u16_list(message, inner[0], inner[1], "supported groups")
        elif ext_type == EXT_POINT_FORMATS:
            inner = _Reader(message, start, stop, what).block(1, "point formats")
            formats = tuple(message[inner[0] : inner[1]])
        elif ext_type == EXT_SIG_ALGS:
            inner = _Reader(message, start, stop, what).block(2, "signature algorithms")
            sig_algs = _u16_list(message, inner[0], inner[1], "signature algorithms")
    return ClientHello(
        version=version,
        ciphers=ciphers,
        compression=compression,
        extensions=tuple(ext[0] for ext in extensions),
        server_name=server_name,
        has_sni=has_sni,
        alpn=alpn,
        supported_versions=supported,
        groups=groups,
        point_formats=formats,
        signature_algorithms=sig_algs,
    )


def parse_client_hello(stream: bytes) -> ClientHello | None:
    """The ClientHello opening a client's TLS stream; None when the stream is not TLS or cut."""
    message = _handshake_message(stream, CLIENT_HELLO)
    return None if message is None else client_hello_from_handshake(message)


def parse_server_hello(stream: bytes) -> ServerHello | None:
    """The ServerHello opening a server's TLS stream; None when the stream is not TLS or cut."""
    message = _handshake_message(stream, SERVER_HELLO)
    if message is None:
        return None
    what = "ServerHello"
    reader = _Reader(message, 4, len(message), what)
    version = reader.u16("version")
    random_at = reader.need(32, "random")
    reader.block(1, "session id")
    cipher = reader.u16("cipher suite")
    compression = reader.u8("compression method")
    extensions = _read_extensions(reader, what)
    selected: int | None = None
    alpn: bytes | None = None
    for ext_type, start, stop in extensions:
        if ext_type == EXT_SUPPORTED_VERSIONS:
            if stop - start != 2:
                raise Malformed(f"{what}: supported_versions at offset {start} is not 2 bytes")
            selected = (message[start] << 8) | message[start + 1]
        elif ext_type == EXT_ALPN:
            chosen = _alpn(message, start, stop)
            alpn = chosen[0] if chosen else None
    return ServerHello(
        version=version,
        cipher=cipher,
        compression=compression,
        extensions=tuple(ext[0] for ext in extensions),
        selected_version=selected,
        alpn=alpn,
        retry_request=message[random_at : random_at + 32] == HRR_RANDOM,
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("ascii"), usedforsecurity=False).hexdigest()


def _dash(values: tuple[int, ...]) -> str:
    return "-".join([str(v) for v in values if v not in GREASE])


def ja3(ch: ClientHello) -> tuple[str, str]:
    """The JA3 string of a ClientHello and its MD5."""
    text = ",".join(
        (
            str(ch.version),
            _dash(ch.ciphers),
            _dash(ch.extensions),
            _dash(ch.groups),
            "-".join(map(str, ch.point_formats)),
        )
    )
    return text, _md5(text)


def ja3s(sh: ServerHello) -> tuple[str, str]:
    """The JA3S string of a ServerHello and its MD5."""
    text = f"{sh.version},{sh.cipher},{_dash(sh.extensions)}"
    return text, _md5(text)


def _alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _ja4_alpn(alpn: tuple[bytes, ...]) -> str:
    if not alpn or not alpn[0]:
        return "00"
    first = alpn[0]
    if _alnum(first[0]) and _alnum(first[-1]):
        return chr(first[0]) + chr(first[-1])
    # the written spec's rule for other bytes: first and last characters of the value's hex
    # form (FoxIO's own tools still print "99" when the first byte is not ASCII)
    text = first.hex()
    return text[0] + text[-1]


def _ja4_hash(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12] if text else "0" * 12


def ja4(ch: ClientHello, *, quic: bool = False) -> str:
    """The JA4 fingerprint of a ClientHello (``q`` prefix when it came over QUIC)."""
    ciphers = [c for c in ch.ciphers if c not in GREASE]
    extensions = [e for e in ch.extensions if e not in GREASE]
    version = _JA4_VERSIONS.get(ch.max_version, "00")
    head = (
        f"{'q' if quic else 't'}{version}{'d' if ch.has_sni else 'i'}"
        f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{_ja4_alpn(ch.alpn)}"
    )
    # sorting the numbers sorts their fixed-width hex forms the same way
    cipher_text = ",".join([f"{c:04x}" for c in sorted(ciphers)])
    ext_text = ",".join([f"{e:04x}" for e in sorted(extensions) if e not in (EXT_SNI, EXT_ALPN)])
    algorithms = ",".join([f"{a:04x}" for a in ch.signature_algorithms if a not in GREASE])
    # no extensions left means no hash at all, even when signature algorithms exist
    if ext_text and algorithms:
        ext_text = f"{ext_text}_{algorithms}"
    return f"{head}_{_ja4_hash(cipher_text)}_{_ja4_hash(ext_text)}"


def version_name(version: int) -> str:
    """``1.3``, ``1.2``... for a TLS version number, the hex value for others."""
    return VERSIONS.get(version) or f"{version:#06x}"


def cipher_name(cipher: int) -> str:
    """The IANA name of a cipher suite for the common ones, else its hex value."""
    return CIPHERS.get(cipher) or f"0x{cipher:04x}"


def _text(value: bytes) -> str:
    return value.decode("ascii", "backslashreplace")


def tls_fields(
    ch: ClientHello | None, sh: ServerHello | None, *, quic: bool = False
) -> dict[str, object]:
    """ECS ``tls.*`` fields (and native ones) for the hellos of one connection."""
    out: dict[str, object] = {}
    if ch is not None:
        if ch.server_name:
            out["tls.client.server_name"] = ch.server_name
        out["tls.client.ja3"] = ja3(ch)[1]
        out["tls.client.ja4"] = ja4(ch, quic=quic)
        out["tls.client.supported_versions"] = [
            version_name(v) for v in ch.supported_versions if v not in GREASE
        ]
        out["tls.client.alpn"] = [_text(p) for p in ch.alpn]
    if sh is not None:
        out["tls.server.ja3s"] = ja3s(sh)[1]
        out["tls.version"] = version_name(sh.negotiated_version)
        out["tls.version_protocol"] = "tls"
        out["tls.cipher"] = cipher_name(sh.cipher)
        if sh.alpn is not None:
            out["tls.server.alpn"] = _text(sh.alpn)
        if sh.retry_request:
            out["tls.server.hello_retry"] = True
    return out
