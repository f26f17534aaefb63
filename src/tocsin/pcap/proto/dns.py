"""DNS messages (also mDNS and LLMNR, which share the format) into ECS ``dns.*`` fields.

A hand parser over ``struct`` rather than dnspython: it reads only what the events carry (header,
first question, answer section) and skips authority and additional records, which keeps it near
5 µs a message where a full dnspython parse costs several times that. Names are followed through
compression pointers that must point backwards, so a pointer loop cannot spin; a message that
cannot be read raises :class:`~tocsin.pcap.proto.Malformed`. An answer section cut short (a
capture's snap length) keeps the answers read so far and says why in ``dns.anomaly``.
"""

from __future__ import annotations

import socket
import struct
from socket import AF_INET, inet_ntop

from tocsin.pcap.proto import Malformed

_HEADER = struct.Struct("!HHHHHH")
_QUESTION = struct.Struct("!HH")
_RECORD = struct.Struct("!HHIH")
_U16 = struct.Struct("!H")
_SOA_TAIL = struct.Struct("!IIIII")
_SRV = struct.Struct("!HHH")

MAX_NAME = 255  # wire octets, RFC 1035 section 2.3.4
MAX_LABEL = 63
MAX_HOPS = 64  # compression pointers followed for one name
MAX_TCP_MESSAGES = 65_536

TYPES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
    17: "RP", 18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR",
    36: "KX", 37: "CERT", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP",
    45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3",
    51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP", 59: "CDS", 60: "CDNSKEY",
    61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB", 65: "HTTPS", 99: "SPF",
    108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR",
    253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI", 257: "CAA", 32768: "TA", 32769: "DLV",
}  # fmt: skip
CLASSES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
RCODES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 11: "DSOTYPENI",
}  # fmt: skip
OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE", 6: "DSO"}
# (bit in the flags word, ECS name), in ECS order
_FLAG_BITS = (
    (0x0400, "AA"), (0x0200, "TC"), (0x0100, "RD"), (0x0080, "RA"), (0x0020, "AD"), (0x0010, "CD")
)  # fmt: skip
# the flag names for each value of the flag bits (flags >> 4), built once
_FLAG_SETS = tuple(
    tuple(name for bit, name in _FLAG_BITS if (value << 4) & bit) for value in range(128)
)
# every byte a label may hold unescaped: printable ASCII except ".", "\\" and the space
_PLAIN = bytes(range(0x21, 0x7F)).replace(b".", b"").replace(b"\\", b"")
_NAME_TYPES = frozenset({2, 5, 12, 39, 3, 4, 7, 8, 9})  # NS CNAME PTR DNAME and the old MB/MD...

# unknown numbers render like dig does ("TYPE65534"); cache them so a flood of odd types
# allocates nothing
_type_names: dict[int, str] = dict(TYPES)


def type_name(number: int) -> str:
    """The mnemonic of a record type, ``TYPE<n>`` for numbers without one."""
    name = _type_names.get(number)
    if name is None:
        name = f"TYPE{number}"
        if len(_type_names) < 70_000:
            _type_names[number] = name
    return name


def class_name(number: int) -> str:
    """The mnemonic of a class, ``CLASS<n>`` for numbers without one."""
    return CLASSES.get(number) or f"CLASS{number}"


def _escape(label: bytes) -> str:
    # presentation format (RFC 4343): odd bytes as \DDD, "." and "\" escaped, letters folded
    out = []
    for byte in label.lower():
        if 0x21 <= byte <= 0x7E and byte not in (0x2E, 0x5C):
            out.append(chr(byte))
        elif byte in (0x2E, 0x5C):
            out.append("\\" + chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def read_name(
    data: bytes, pos: int, cache: dict[int, tuple[str, int]] | None = None
) -> tuple[str, int]:
    """The name at ``pos`` (lower-case, no trailing dot, ``.`` for the root) and where it ends.

    ``cache`` maps offsets where names started to (name, wire size), so the usual pointer back
    to the question name costs one lookup.
    """
    labels: list[str] = []
    end = -1  # where the name ends in the record: after the first pointer, if any
    size = 1  # wire octets, counting the root label
    hops = 0
    start = first = pos
    n = len(data)
    while True:
        if pos >= n:
            raise Malformed(f"name at offset {first} runs past the end ({n} bytes)")
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length < 0x40:
            stop = pos + 1 + length
            if stop > n:
                raise Malformed(f"label at offset {pos} runs past the end ({n} bytes)")
            size += length + 1
            if size > MAX_NAME:
                raise Malformed(f"name at offset {first} is longer than {MAX_NAME} bytes")
            label = data[pos + 1 : stop]
            if label.translate(None, _PLAIN):
                labels.append(_escape(label))
            else:
                labels.append(label.decode("ascii").lower())
            pos = stop
            continue
        if length < 0xC0:
            raise Malformed(f"label type {length >> 6:#x} at offset {pos} is not supported")
        if pos + 1 >= n:
            raise Malformed(f"compression pointer at offset {pos} is cut")
        target = ((length & 0x3F) << 8) | data[pos + 1]
        if end < 0:
            end = pos + 2
        # a pointer must go back before the labels it continues: that rules out every loop
        if target >= start:
            raise Malformed(f"compression pointer at offset {pos} to {target} does not go back")
        hops += 1
        if hops > MAX_HOPS:
            raise Malformed(f"name at offset {first} follows more than {MAX_HOPS} pointers")
        if cache is not None:
            known = cache.get(target)
            if known is not None:
                suffix, suffix_size = known
                size += suffix_size - 1
                if size > MAX_NAME:
                    raise Malformed(f"name at offset {first} is longer than {MAX_NAME} bytes")
                if suffix != ".":
                    labels.append(suffix)
                break
        pos = start = target
    name = ".".join(labels) if labels else "."
    if cache is not None and len(cache) < 256:
        cache[first] = (name, size)
    return name, (end if end >= 0 else pos)


def skip_name(data: bytes, pos: int) -> int:
    """Where the name at ``pos`` ends, without reading it (a pointer ends a name)."""
    n = len(data)
    while pos < n:
        length = data[pos]
        if length == 0:
            return pos + 1
        if length >= 0xC0:
            if pos + 2 > n:
                break
            return pos + 2
        if length >= 0x40:
            raise Malformed(f"label type {length >> 6:#x} at offset {pos} is not supported")
        pos += length + 1
    raise Malformed(f"name runs past the end ({n} bytes)")


def _character_strings(data: bytes, pos: int, stop: int) -> str:
    parts = []
    while pos < stop:
        length = data[pos]
        pos += 1
        if pos + length > stop:
            raise Malformed(f"character-string at offset {pos - 1} runs past its record")
        parts.append(data[pos : pos + length])
        pos += length
    # TXT strings are concatenated (SPF and DKIM split long values across them)
    return b"".join(parts).decode("utf-8", "backslashreplace")


def _rdata(data: bytes, rtype: int, pos: int, stop: int, cache: dict[int, tuple[str, int]]) -> str:
    length = stop - pos
    if rtype == 1:
        if length != 4:
            raise Malformed(f"A record at offset {pos} has {length} bytes, not 4")
        return socket.inet_ntop(socket.AF_INET, data[pos:stop])
    if rtype == 28:
        if length != 16:
            raise Malformed(f"AAAA record at offset {pos} has {length} bytes, not 16")
        return socket.inet_ntop(socket.AF_INET6, data[pos:stop])
    if rtype in _NAME_TYPES:
        return read_name(data, pos, cache)[0]
    if rtype == 16 or rtype == 99:
        return _character_strings(data, pos, stop)
    if rtype == 15:
        if length < 3:
            raise Malformed(f"MX record at offset {pos} is too short")
        return read_name(data, pos + 2, cache)[0]
    if rtype == 33:
        if length < 7:
            raise Malformed(f"SRV record at offset {pos} is too short")
        priority, weight, port = _SRV.unpack_from(data, pos)
        return f"{priority} {weight} {port} {read_name(data, pos + 6, cache)[0]}"
    if rtype == 6:
        mname, at = read_name(data, pos, cache)
        rname, at = read_name(data, at, cache)
        if at + 20 > stop:
            raise Malformed(f"SOA record at offset {pos} is too short")
        serial, refresh, retry, expire, minimum = _SOA_TAIL.unpack_from(data, at)
        return f"{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
    # RFC 3597 generic form for everything else
    return f"\\# {length} {data[pos:stop].hex()}" if length else "\\# 0"


def parse_message(data: bytes) -> dict[str, object]:
    """ECS ``dns.*`` fields of one DNS message (a UDP payload, or a TCP message unprefixed)."""
    if len(data) < 12:
        raise Malformed(f"DNS message of {len(data)} bytes is shorter than its 12-byte header")
    ident, flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack_from(data)
    is_answer = bool(flags & 0x8000)
    out: dict[str, object] = {
        "dns.id": str(ident),
        "dns.type": "answer" if is_answer else "query",
        "dns.header_flags": list(_FLAG_SETS[(flags >> 4) & 0x7F]),
    }
    opcode = (flags >> 11) & 0xF
    out["dns.op_code"] = OPCODES.get(opcode) or str(opcode)
    if is_answer:
        rcode = flags & 0xF
        out["dns.response_code"] = RCODES.get(rcode) or f"RCODE{rcode}"
    cache: dict[int, tuple[str, int]] = {}
    pos = 12
    n = len(data)
    for index in range(qdcount):
        name, pos = read_name(data, pos, cache)
        if pos + 4 > n:
            raise Malformed(f"question at offset {pos} is cut ({n} bytes)")
        qtype, qclass = _QUESTION.unpack_from(data, pos)
        pos += 4
        if index == 0:
            out["dns.question.name"] = name
            out["dns.question.type"] = type_name(qtype)
            # mDNS uses the top bit to ask for a unicast reply; it is not part of the class
            out["dns.question.class"] = class_name(qclass & 0x7FFF)
    answers: list[str] = []
    types: list[str] = []
    ttls: list[str] = []
    unpack_record = _RECORD.unpack_from
    try:
        for _ in range(ancount):
            # the owner name is not an event field, so it is skipped, not read: the answers of
            # a response almost always point back at the question anyway
            if pos < n and data[pos] >= 0xC0:
                pos += 2
            else:
                pos = skip_name(data, pos)
            if pos + 10 > n:
                raise Malformed(f"answer record at offset {pos} is cut ({n} bytes)")
            rtype, _rclass, ttl, rdlength = unpack_record(data, pos)
            pos += 10
            stop = pos + rdlength
            if stop > n:
                raise Malformed(f"answer data at offset {pos} claims {rdlength} bytes past the end")
            if rtype == 1 and rdlength == 4:
                answers.append(inet_ntop(AF_INET, data[pos:stop]))
            else:
                answers.append(_rdata(data, rtype, pos, stop, cache))
            types.append(_type_names.get(rtype) or type_name(rtype))
            ttls.append(str(ttl))
            pos = stop
    except Malformed as exc:
        if not is_answer or "dns.question.name" not in out:
            raise
        out["dns.anomaly"] = str(exc)
    if is_answer:
        out["dns.answers.data"] = answers
        out["dns.answers.type"] = types
        out["dns.answers.ttl"] = ttls
        out["dns.answers.count"] = len(answers)
    return out


def split_tcp(stream: bytes) -> tuple[list[bytes], int]:
    """The length-prefixed messages of one TCP direction, and how many bytes were left over."""
    messages: list[bytes] = []
    pos = 0
    n = len(stream)
    while pos + 2 <= n and len(messages) < MAX_TCP_MESSAGES:
        (length,) = _U16.unpack_from(stream, pos)
        if pos + 2 + length > n:
            break
        if length:
            messages.append(stream[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return messages, n - pos
