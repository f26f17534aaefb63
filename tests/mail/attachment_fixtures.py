"""Builders for the attachment tests: zips, compound (OLE) files with VBA projects, PDFs, images.

Every fixture is generated here, byte by byte where the format matters (a zip member that lies
about its size, the encryption flag, a compound file), so no third-party sample enters the
repository. The compound-file writer knows just enough of [MS-CFB] (version 3, every stream in
the mini stream) and the VBA writer just enough of [MS-OVBA] for olefile and olevba to read them.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import zxingcpp
from PIL import Image

from tocsin.mail.message import Attachment

MIB = 1024 * 1024


def attachment(name: str | None, data: bytes, content_type: str = "application/octet-stream"):
    """An Attachment as parse_message would build it."""
    import hashlib

    return Attachment(
        filename=name,
        content_type=content_type,
        size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        payload=data,
    )


# --- zip ---------------------------------------------------------------------------------------


@dataclass
class Member:
    """One zip member; ``declared_size``, ``packed`` and ``crc`` let a test make it lie."""

    name: str
    data: bytes = b""
    method: int = 8
    flags: int = 0
    declared_size: int | None = None
    packed: bytes | None = None
    crc: int | None = None


def raw_zip(members: list[Member]) -> bytes:
    """A zip written by hand, so headers can say what a test needs them to say."""
    out = bytearray()
    central = bytearray()
    for member in members:
        name = member.name.encode()
        if member.packed is not None:
            packed = member.packed
        elif member.method == 8:
            packer = zlib.compressobj(9, zlib.DEFLATED, -15)
            packed = packer.compress(member.data) + packer.flush()
        else:
            packed = member.data
        crc = member.crc if member.crc is not None else zlib.crc32(member.data)
        size = member.declared_size if member.declared_size is not None else len(member.data)
        flags = member.flags | 0x800
        offset = len(out)
        out += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, flags, member.method, 0, 0x21, crc, len(packed),
            size, len(name), 0,
        )  # fmt: skip
        out += name + packed
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, member.method, 0, 0x21, crc,
            len(packed), size, len(name), 0, 0, 0, 0, 0, offset,
        )  # fmt: skip
        central += name
    count = min(len(members), 0xFFFF)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + end)


def zip_of(files: dict[str, bytes]) -> bytes:
    """A plain deflated zip of ``files``."""
    return raw_zip([Member(name, data) for name, data in files.items()])


def zeros_member(name: str, size: int, declared_size: int | None = None) -> Member:
    """A member holding ``size`` zero bytes, compressed a MiB at a time to keep memory small."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(MIB)
    parts = []
    crc = 0
    for _ in range(size // MIB):
        parts.append(packer.compress(block))
        crc = zlib.crc32(block, crc)
    parts.append(packer.flush())
    return Member(
        name, packed=b"".join(parts), crc=crc,
        declared_size=size if declared_size is None else declared_size,
    )  # fmt: skip


def nested_zip(depth: int, payload_name: str = "payload.exe") -> bytes:
    """A zip in a zip ... ``depth`` levels deep, with a payload at the bottom."""
    data = zip_of({payload_name: b"MZ\x00\x00"})
    for level in range(depth - 1, 0, -1):
        data = zip_of({f"level{level}.zip": data})
    return data


def ooxml(parts: dict[str, bytes], kind: str = "word") -> bytes:
    """A minimal OOXML package (content types, root relationships, main part) plus ``parts``."""
    main = {"word": "word/document.xml", "xl": "xl/workbook.xml", "ppt": "ppt/presentation.xml"}
    files = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats'
        b'.org/package/2006/content-types"/>',
        "_rels/.rels": rels([("rId1", "officeDocument", main[kind], None)]),
        main[kind]: b"<document/>",
    }
    files.update(parts)
    return zip_of(files)


def rels(items: list[tuple[str, str, str, str | None]]) -> bytes:
    """A relationships part: (id, type name, target, target mode) per relationship."""
    base = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    body = "".join(
        f'<Relationship Id="{rid}" Type="{base}{kind}" Target="{target}"'
        + (f' TargetMode="{mode}"' if mode else "")
        + "/>"
        for rid, kind, target, mode in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns='
        f'"http://schemas.openxmlformats.org/package/2006/relationships">{body}</Relationships>'
    ).encode()


# --- compound files and VBA --------------------------------------------------------------------

_END = 0xFFFFFFFE
_FREE = 0xFFFFFFFF
_FAT = 0xFFFFFFFD
_NONE = 0xFFFFFFFF


def cfb(tree: dict[str, object], *, clsid: bytes = bytes(16)) -> bytes:
    """A compound file holding ``tree`` (dict values are storages, bytes are streams).

    Every stream must be under 4096 bytes, so all of them live in the mini stream.
    """
    # entries: [name, type, children ids, data]; 5 root, 1 storage, 2 stream
    entries: list[list[object]] = [["Root Entry", 5, [], b""]]

    def add(node: dict[str, object], parent: int) -> None:
        keyed = sorted(node.items(), key=lambda item: (len(item[0]), item[0].upper()))
        for name, value in keyed:
            index = len(entries)
            entries.append([name, 1 if isinstance(value, dict) else 2, [], value])
            children = entries[parent][2]
            assert isinstance(children, list)
            children.append(index)
            if isinstance(value, dict):
                add(value, index)

    add(tree, 0)
    mini = bytearray()
    minifat: list[int] = []
    starts: dict[int, int] = {}
    for index, (_name, kind, _kids, value) in enumerate(entries):
        if kind != 2:
            continue
        assert isinstance(value, bytes) and 0 < len(value) < 4096
        first = len(mini) // 64
        count = -(-len(value) // 64)
        starts[index] = first
        minifat += [first + k + 1 for k in range(count - 1)] + [_END]
        mini += value + bytes(count * 64 - len(value))
    dir_sectors = -(-len(entries) // 4)
    minifat_sectors = -(-len(minifat) * 4 // 512)
    mini_sectors = -(-len(mini) // 512)
    first_dir = 1
    first_minifat = first_dir + dir_sectors
    first_mini = first_minifat + minifat_sectors
    total = first_mini + mini_sectors
    assert total <= 128, "one FAT sector is enough for these fixtures"
    fat = [_FAT]
    for first, count in (
        (first_dir, dir_sectors), (first_minifat, minifat_sectors), (first_mini, mini_sectors)
    ):  # fmt: skip
        fat += [first + k + 1 for k in range(count - 1)] + ([_END] if count else [])
    fat += [_FREE] * (128 - len(fat))

    directory = bytearray()
    for index, (name, kind, kids, value) in enumerate(entries):
        assert isinstance(name, str) and isinstance(kind, int) and isinstance(kids, list)
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        child = kids[0] if kids else _NONE
        # siblings are chained through their right pointers (olefile does not check balance)
        right = _NONE
        for siblings in (e[2] for e in entries):
            assert isinstance(siblings, list)
            if index in siblings and siblings.index(index) + 1 < len(siblings):
                right = siblings[siblings.index(index) + 1]
        if kind == 5:
            start, size, entry_clsid = (first_mini if mini else _END), len(mini), clsid
        elif kind == 2:
            assert isinstance(value, bytes)
            start, size, entry_clsid = starts[index], len(value), bytes(16)
        else:
            start, size, entry_clsid = 0, 0, bytes(16)
        directory += struct.pack(
            "<64sHBB3L16sLQQLQ", encoded, len(encoded), kind, 1, _NONE, right, child,
            entry_clsid, 0, 0, 0, start, size,
        )  # fmt: skip
    while len(directory) < dir_sectors * 512:
        directory += struct.pack(
            "<64sHBB3L16sLQQLQ", b"", 0, 0, 0, _NONE, _NONE, _NONE, bytes(16), 0, 0, 0, 0, 0
        )
    header = struct.pack(
        "<8s16s5H6s9L", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", bytes(16), 0x3E, 3, 0xFFFE, 9, 6,
        bytes(6), 0, 1, first_dir, 0, 4096, first_minifat if minifat else _END,
        minifat_sectors, _END, 0,
    )  # fmt: skip
    header += struct.pack("<109L", 0, *([_FREE] * 108))
    minifat_bytes = struct.pack(f"<{len(minifat)}L", *minifat)
    minifat_bytes += b"\xff" * (minifat_sectors * 512 - len(minifat_bytes))
    body = struct.pack("<128L", *fat) + bytes(directory) + minifat_bytes
    body += bytes(mini) + bytes(mini_sectors * 512 - len(mini))
    return header + body


def ovba_compress(data: bytes) -> bytes:
    """[MS-OVBA] 2.4.1 compression using literal tokens only (valid, just not small)."""
    out = bytearray(b"\x01")
    for begin in range(0, len(data), 3640):  # 3640 literals + flag bytes fill a 4098-byte chunk
        chunk = data[begin : begin + 3640]
        body = b"".join(b"\x00" + chunk[i : i + 8] for i in range(0, len(chunk), 8))
        out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
    return bytes(out)


def _record(record_id: int, payload: bytes) -> bytes:
    return struct.pack("<HL", record_id, len(payload)) + payload


def vba_storage(code: str, module: str = "Module1") -> dict[str, object]:
    """A VBA project root (``PROJECT`` stream and ``VBA`` storage) with one standard module."""
    name = module.encode()
    utf16 = module.encode("utf-16-le")
    directory = b"".join(
        (
            _record(0x01, struct.pack("<L", 1)),  # PROJECTSYSKIND: 32-bit Windows
            _record(0x02, struct.pack("<L", 0x409)),  # PROJECTLCID
            _record(0x14, struct.pack("<L", 0x409)),  # PROJECTLCIDINVOKE
            _record(0x03, struct.pack("<H", 1252)),  # PROJECTCODEPAGE
            _record(0x04, b"VBAProject"),  # PROJECTNAME
            _record(0x05, b"") + struct.pack("<HL", 0x40, 0),  # PROJECTDOCSTRING
            _record(0x06, b"") + struct.pack("<HL", 0x3D, 0),  # PROJECTHELPFILEPATH
            _record(0x07, struct.pack("<L", 0)),  # PROJECTHELPCONTEXT
            _record(0x08, struct.pack("<L", 0)),  # PROJECTLIBFLAGS
            struct.pack("<HLLH", 0x09, 4, 1, 0),  # PROJECTVERSION
            _record(0x0C, b"") + struct.pack("<HL", 0x3C, 0),  # PROJECTCONSTANTS
            _record(0x0F, struct.pack("<H", 1)),  # PROJECTMODULES: one module
            _record(0x13, struct.pack("<H", 0xFFFF)),  # PROJECTCOOKIE
            _record(0x19, name),  # MODULENAME
            _record(0x47, utf16),  # MODULENAMEUNICODE
            _record(0x1A, name) + struct.pack("<HL", 0x32, len(utf16)) + utf16,  # STREAMNAME
            _record(0x1C, b"") + struct.pack("<HL", 0x48, 0),  # MODULEDOCSTRING
            _record(0x31, struct.pack("<L", 0)),  # MODULEOFFSET: source starts the stream
            _record(0x1E, struct.pack("<L", 0)),  # MODULEHELPCONTEXT
            _record(0x2C, struct.pack("<H", 0xFFFF)),  # MODULECOOKIE
            struct.pack("<HL", 0x21, 0),  # MODULETYPE: procedural
            struct.pack("<HL", 0x2B, 0),  # module terminator
            struct.pack("<HL", 0x10, 0),  # dir terminator
        )
    )
    project = (
        f'ID="{{00000000-0000-0000-0000-000000000000}}"\r\nModule={module}\r\n'
        'Name="VBAProject"\r\n\r\n[Workspace]\r\n'
    ).encode()
    source = f'Attribute VB_Name = "{module}"\r\n{code}'.encode("cp1252")
    return {
        "PROJECT": project,
        "VBA": {
            "_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",
            "dir": ovba_compress(directory),
            module: ovba_compress(source),
        },
    }


AUTO_OPEN_MACRO = 'Sub AutoOpen()\r\n    Shell "calc.exe"\r\nEnd Sub\r\n'


# --- PDF, PE, images ---------------------------------------------------------------------------


def pdf(*objects: bytes | str) -> bytes:
    """A PDF with the given object bodies (numbered from 1), an xref table and a trailer."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        raw = body.encode("latin-1") if isinstance(body, str) else body
        out += f"{number} 0 obj\n".encode() + raw + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def object_stream(inner: str) -> bytes:
    """An object stream body: ``inner`` objects compressed with FlateDecode."""
    packed = zlib.compress(inner.encode("latin-1"))
    head = f"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {len(packed)} >>\nstream\n"
    return head.encode() + packed + b"\nendstream"


def pe_bytes() -> bytes:
    """The head of a Windows executable: an MZ header whose e_lfanew points at a PE signature."""
    head = bytearray(512)
    head[0:2] = b"MZ"
    head[0x3C:0x40] = (0x80).to_bytes(4, "little")
    head[0x80:0x86] = b"PE\x00\x00\x4c\x01"
    return bytes(head)


def qr_image(text: str, *, canvas: tuple[int, int] = (400, 400), scale: int = 6) -> Image.Image:
    """A QR code for ``text`` made by zxing-cpp, on a white canvas."""
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode)
    symbol = Image.fromarray(zxingcpp.write_barcode_to_image(code, scale=scale))
    image = Image.new("L", canvas, 255)
    image.paste(symbol, ((canvas[0] - symbol.width) // 2, (canvas[1] - symbol.height) // 2))
    return image


def encode_image(image: Image.Image, fmt: str = "PNG") -> bytes:
    """The image saved in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()
