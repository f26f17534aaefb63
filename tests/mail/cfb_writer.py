"""Compound File and Outlook .msg writers for test fixtures (olefile only reads).

``write_cfb`` writes a Compound File Binary (MS-CFB) version 3 file from a tree of storages
(dicts) and streams (bytes): 512-byte sectors, one FAT, a mini FAT and mini stream for streams
under 4096 bytes, and the directory entries of each storage as a red-black tree. ``write_msg``
lays an Outlook message (MS-OXMSG) out on top of it: a property table, one ``__substg1.0_``
stream per string or binary property, recipient and attachment storages, and attached messages
as storages. Both are written here from the specifications.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

Tree = dict[str, "bytes | Tree"]

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREESECT = 0xFFFFFFFF
ENDOFCHAIN = 0xFFFFFFFE
FATSECT = 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF
MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

STORAGE, STREAM, ROOT = 1, 2, 5
RED, BLACK = 0, 1


@dataclass
class _Entry:
    name: str
    kind: int
    data: bytes = b""
    kids: list[int] = field(default_factory=list)
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    color: int = BLACK
    start: int = ENDOFCHAIN
    size: int = 0

    def pack(self) -> bytes:
        encoded = self.name.encode("utf-16-le") + b"\0\0"
        return struct.pack(
            "<64sHBBIII16sIQQIQ",
            encoded,
            len(encoded),
            self.kind,
            self.color,
            self.left,
            self.right,
            self.child,
            b"\0" * 16,
            0,
            0,
            0,
            self.start,
            self.size,
        )


_EMPTY_ENTRY = struct.pack(
    "<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, b"", 0, 0, 0, 0, 0
)


def write_cfb(tree: Tree) -> bytes:
    """A version 3 Compound File holding ``tree`` (dict: storage, bytes: stream)."""
    entries = [_Entry("Root Entry", ROOT)]

    def add(parent: int, subtree: Tree) -> None:
        for name, value in subtree.items():
            if not 0 < len(name) <= 31:
                raise ValueError(f"a CFB name has 1 to 31 characters: {name!r}")
            index = len(entries)
            entries[parent].kids.append(index)
            if isinstance(value, dict):
                entries.append(_Entry(name, STORAGE))
                add(index, value)
            else:
                entries.append(_Entry(name, STREAM, bytes(value)))

    add(0, tree)
    for entry in entries:
        if entry.kids:
            entry.child = _red_black_tree(entries, entry.kids)

    sectors: list[bytes] = []
    fat: list[int] = []

    def chain(data: bytes) -> int:
        count = math.ceil(len(data) / SECTOR)
        if not count:
            return ENDOFCHAIN
        first = len(fat)
        for i in range(count):
            fat.append(first + i + 1 if i < count - 1 else ENDOFCHAIN)
            sectors.append(data[i * SECTOR : (i + 1) * SECTOR].ljust(SECTOR, b"\0"))
        return first

    mini = bytearray()
    minifat: list[int] = []
    for entry in entries:
        if entry.kind != STREAM:
            continue
        entry.size = len(entry.data)
        if entry.size == 0:
            entry.start = ENDOFCHAIN
        elif entry.size < MINI_CUTOFF:
            count = math.ceil(entry.size / MINI_SECTOR)
            entry.start = len(minifat)
            minifat += [entry.start + i + 1 for i in range(count - 1)] + [ENDOFCHAIN]
            mini += entry.data.ljust(count * MINI_SECTOR, b"\0")
        else:
            entry.start = chain(entry.data)
    entries[0].start = chain(bytes(mini))
    entries[0].size = len(mini)
    minifat += [FREESECT] * (-len(minifat) % (SECTOR // 4))
    minifat_start = chain(struct.pack(f"<{len(minifat)}I", *minifat))
    directory = b"".join(e.pack() for e in entries)
    directory += _EMPTY_ENTRY * (-len(entries) % (SECTOR // 128))
    directory_start = chain(directory)

    fat_count = 1
    while fat_count * (SECTOR // 4) < len(fat) + fat_count:
        fat_count += 1
    if fat_count > 109:
        raise ValueError("this writer has no DIFAT sectors: keep the file under ~7 MB")
    difat = list(range(len(fat), len(fat) + fat_count))
    fat += [FATSECT] * fat_count
    fat += [FREESECT] * (fat_count * (SECTOR // 4) - len(fat))
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        MAGIC,
        b"\0" * 16,
        0x003E,  # minor version
        0x0003,  # major version 3: 512-byte sectors
        0xFFFE,  # little-endian
        9,  # sector shift: 2**9
        6,  # mini sector shift: 2**6
        b"\0" * 6,
        0,  # directory sectors: always 0 in version 3
        fat_count,
        directory_start,
        0,  # transaction signature
        MINI_CUTOFF,
        minifat_start,
        len(minifat) // (SECTOR // 4),
        ENDOFCHAIN,  # no DIFAT sector
        0,
    )
    header += struct.pack("<109I", *(difat + [FREESECT] * (109 - len(difat))))
    return header + b"".join(sectors) + struct.pack(f"<{len(fat)}I", *fat)


def _red_black_tree(entries: list[_Entry], kids: list[int]) -> int:
    """Link a storage's children as a balanced red-black tree; return the root's index.

    The children are sorted the CFB way (shorter name first, then upper-cased), and each
    subtree root is the median, so every level but the deepest is full. All nodes are black
    except those on an incomplete deepest level, which are red: then every path down has the
    same number of black nodes and no red node has a red child.
    """
    order = sorted(kids, key=lambda i: (len(entries[i].name), entries[i].name.upper()))
    depth: dict[int, int] = {}

    def build(low: int, high: int, level: int) -> int:
        if low >= high:
            return NOSTREAM
        middle = (low + high) // 2
        index = order[middle]
        depth[index] = level
        entries[index].left = build(low, middle, level + 1)
        entries[index].right = build(middle + 1, high, level + 1)
        return index

    root = build(0, len(order), 0)
    deepest = max(depth.values())
    if len(order) != 2 ** (deepest + 1) - 1:
        for index, level in depth.items():
            if level == deepest:
                entries[index].color = RED
    return root


# ---- Outlook .msg (MS-OXMSG) on top --------------------------------------------------------

PT_LONG = 0x0003
PT_OBJECT = 0x000D
PT_STRING8 = 0x001E
PT_UNICODE = 0x001F
PT_SYSTIME = 0x0040
PT_BINARY = 0x0102
_READABLE_WRITABLE = 0x6


@dataclass
class MsgItem:
    """An Outlook item: properties by id, recipients and attachments (each a property map).

    Strings are written as PT_UNICODE, or as PT_STRING8 in ``string8`` (a Python codec) when
    given; ``codepage`` is written as PidTagMessageCodepage. An attachment whose 0x3701 value
    is a ``MsgItem`` becomes an attached message (PR_ATTACH_DATA_OBJ storage).
    """

    props: dict[int, object]
    recipients: list[dict[int, object]] = field(default_factory=list)
    attachments: list[dict[int, object]] = field(default_factory=list)
    string8: str | None = None
    codepage: int | None = None


def write_msg(item: MsgItem) -> bytes:
    """The .msg file of ``item``."""
    return write_cfb(_message_tree(item, top=True))


def _message_tree(item: MsgItem, *, top: bool) -> Tree:
    tree: Tree = {}
    props = dict(item.props)
    if item.codepage is not None:
        props[0x3FFD] = item.codepage
    counts = struct.pack(
        "<IIII",
        len(item.recipients),
        len(item.attachments),
        len(item.recipients),
        len(item.attachments),
    )
    header = b"\0" * 8 + counts + (b"\0" * 8 if top else b"")
    tree["__properties_version1.0"] = header + _properties(tree, props, item.string8)
    for i, recipient in enumerate(item.recipients):
        sub: Tree = {}
        sub["__properties_version1.0"] = b"\0" * 8 + _properties(sub, recipient, item.string8)
        tree[f"__recip_version1.0_#{i:08X}"] = sub
    for i, attachment in enumerate(item.attachments):
        sub = {}
        fields = dict(attachment)
        inner = fields.pop(0x3701, None)
        table = b""
        if isinstance(inner, MsgItem):
            sub["__substg1.0_3701000D"] = _message_tree(inner, top=False)
            table = struct.pack("<II8s", (0x3701 << 16) | PT_OBJECT, _READABLE_WRITABLE, b"")
            fields.setdefault(0x3705, 5)  # ATTACH_EMBEDDED_MSG
        elif inner is not None:
            fields[0x3701] = inner
            fields.setdefault(0x3705, 1)  # ATTACH_BY_VALUE
        sub["__properties_version1.0"] = b"\0" * 8 + table + _properties(sub, fields, item.string8)
        tree[f"__attach_version1.0_#{i:08X}"] = sub
    return tree


def _properties(tree: Tree, props: dict[int, object], string8: str | None) -> bytes:
    """The 16-byte property entries; variable-size values go to their own streams."""
    table = b""
    for prop, value in props.items():
        if isinstance(value, str):
            if string8:
                kind, data, size = PT_STRING8, value.encode(string8), len(value.encode(string8)) + 1
            else:
                data = value.encode("utf-16-le")
                kind, size = PT_UNICODE, len(data) + 2  # the size counts the terminator
            tree[f"__substg1.0_{prop:04X}{kind:04X}"] = data
            inline = struct.pack("<II", size, 0)
        elif isinstance(value, bytes):
            kind = PT_BINARY
            tree[f"__substg1.0_{prop:04X}{kind:04X}"] = value
            inline = struct.pack("<II", len(value), 0)
        elif isinstance(value, datetime):
            kind = PT_SYSTIME
            delta = value.astimezone(UTC) - datetime(1601, 1, 1, tzinfo=UTC)
            ticks = (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
            inline = struct.pack("<Q", ticks)
        elif isinstance(value, int):
            kind = PT_LONG
            inline = struct.pack("<II", value, 0)
        else:
            raise TypeError(f"no property type for {type(value).__name__}")
        table += struct.pack("<II8s", (prop << 16) | kind, _READABLE_WRITABLE, inline)
    return table
