"""Archives in attachments: zip, gzip, bzip2, xz and tar, walked within the bomb limits.

A zip's central directory is read by hand, so a zip claiming a million members costs no more
than the member budget, and a zip with no directory (a truncated download) is still walked by
its local headers. A member is decompressed only after its declared size passed the limits, and
then with a bounded read, because the declared sizes lie in a bomb. Every member found is handed
back to the walk (``Walk.inspect``), which runs the checks its true type calls for, so nesting
is followed up to ``Limits.max_depth``. A limit that is hit is an ``attachment.archive_limit``
reason, since a bomb is itself a sign; an encrypted member is named, never read.

Office documents are zips too: ``office`` reads their members with ``read_zip_member``.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import tarfile
import zlib
from dataclasses import dataclass

from tocsin.mail.attachtypes import RATIO_FLOOR, Walk

ENCRYPTED_ARCHIVE = "attachment.encrypted_archive"
ARCHIVE_LIMIT = "attachment.archive_limit"


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One member as its directory (or local header) describes it; ``usize`` -1 when unknown."""

    name: str
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    offset: int


_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_U32 = 0xFFFFFFFF


def read_zip_entries(data: bytes, max_entries: int) -> tuple[list[ZipEntry], bool, str | None]:
    """Up to ``max_entries`` members from the central directory, whether more are left, a problem.

    The directory is walked by hand so a zip that claims a million members costs no more than
    the budget; without one (a truncated download) the local headers are followed instead.
    """
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if pos < 0 or pos + _EOCD.size > len(data):
        entries, more = _local_entries(data, max_entries)
        return entries, more, "no central directory (truncated or damaged zip)"
    _sig, _d1, _d2, _n1, total, cd_size, cd_offset, _c = _EOCD.unpack_from(data, pos)
    end = pos
    if total == 0xFFFF or cd_size == _U32 or cd_offset == _U32:
        z64 = int.from_bytes(data[pos - 12 : pos - 4], "little") if pos >= 20 else -1
        if 0 <= z64 and data[pos - 20 : pos - 16] == b"PK\x06\x07":
            if data[z64 : z64 + 4] == b"PK\x06\x06" and z64 + _EOCD64.size <= len(data):
                fields = _EOCD64.unpack_from(data, z64)
                cd_size, cd_offset, end = fields[8], fields[9], z64
    start = end - cd_size  # where the directory really is, even with bytes before the zip
    if start < 0:
        entries, more = _local_entries(data, max_entries)
        return entries, more, "central directory larger than the file"
    shift = start - cd_offset
    entries = []
    at = start
    while at < end and len(entries) < max_entries:
        if at + _CENTRAL.size > len(data) or data[at : at + 4] != b"PK\x01\x02":
            if not entries:
                entries, more = _local_entries(data, max_entries)
                return entries, more, "damaged central directory"
            return entries, False, "damaged central directory"
        fields = _CENTRAL.unpack_from(data, at)
        flags, method, crc, csize, usize = fields[5], fields[6], fields[9], fields[10], fields[11]
        name_len, extra_len, comment_len, offset = fields[12], fields[13], fields[14], fields[18]
        raw_name = data[at + 46 : at + 46 + name_len]
        if _U32 in (csize, usize, offset):
            usize, csize, offset = _zip64_sizes(
                data[at + 46 + name_len : at + 46 + name_len + extra_len], usize, csize, offset
            )
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        entries.append(ZipEntry(name, flags, method, crc, csize, usize, offset + shift))
        at += 46 + name_len + extra_len + comment_len
    return entries, at < end, None


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        if tag == 1:
            values = [
                int.from_bytes(extra[i : i + 8], "little")
                for i in range(at + 4, at + 4 + size - 7, 8)
            ]
            fields = [usize, csize, offset]
            for index, value in enumerate(fields):
                if value == _U32 and values:
                    fields[index] = values.pop(0)
            return fields[0], fields[1], fields[2]
        at += 4 + size
    return usize, csize, offset


def _local_entries(data: bytes, max_entries: int) -> tuple[list[ZipEntry], bool]:
    """Members found by following local headers from the start (for zips without a directory)."""
    entries: list[ZipEntry] = []
    at = data.find(b"PK\x03\x04")
    while 0 <= at and at + _LOCAL.size <= len(data):
        if len(entries) >= max_entries:
            return entries, True
        fields = _LOCAL.unpack_from(data, at)
        flags, method, crc, csize, usize, name_len, extra_len = (
            fields[3], fields[4], fields[7], fields[8], fields[9], fields[10], fields[11]
        )  # fmt: skip
        begin = at + _LOCAL.size + name_len + extra_len
        following = data.find(b"PK\x03\x04", begin)
        if flags & 0x08 or csize == 0:
            # sizes come after the data: the next header (or the end) bounds it, size unknown
            stop = following if following >= 0 else len(data)
            for trailer in (16, 24):  # a signed data descriptor (zip64 or not) ends the data
                if data[stop - trailer : stop - trailer + 4] == b"PK\x07\x08":
                    stop -= trailer
                    break
            csize, usize = stop - begin, -1
        raw_name = data[at + _LOCAL.size : at + _LOCAL.size + name_len]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        entries.append(ZipEntry(name, flags, method, crc, csize, usize, at))
        at = following if following > at else -1
    return entries, False


def detect_zip_kind(entries: list[ZipEntry]) -> str:
    """Which zip-based format this is, from its member names."""
    names = {entry.name.lower() for entry in entries}
    if "[content_types].xml" in names:
        tops = {name.split("/", 1)[0] for name in names}
        for top, label in (
            ("word", "ooxml-word"),
            ("xl", "ooxml-excel"),
            ("ppt", "ooxml-powerpoint"),
        ):
            if top in tops:
                return label
        return "ooxml"
    if "mimetype" in names and "meta-inf/manifest.xml" in names:
        return "odf"
    if "meta-inf/manifest.mf" in names and any(name.endswith(".class") for name in names):
        return "jar"
    return "zip"


def walk_zip(
    walk: Walk,
    path: str,
    data: bytes,
    entries: list[ZipEntry],
    more: bool,
    problem: str | None,
    depth: int,
) -> None:
    """Inspect a plain zip's members within the limits; encrypted ones are named, not read."""
    limits = walk.limits
    if problem:
        walk.issues.append(f"{path}: {problem}")
    if _too_deep(walk, path, depth):
        return
    encrypted = []
    for entry in entries:
        if entry.name.endswith("/"):
            continue
        if walk.members_left <= 0:
            more = True
            break
        walk.members_left -= 1
        name, member_path = basename(entry.name), f"{path}/{entry.name}"
        if entry.flags & 0x01 or entry.method == 99:  # traditional or AES encryption
            encrypted.append(entry.name)
            walk.unread(name, member_path, depth + 1, "encrypted", entry.usize)
            continue
        content = (
            None if walk.expired(member_path) else read_zip_member(walk, data, entry, member_path)
        )
        if content is None:
            walk.unread(name, member_path, depth + 1, "unread", max(entry.usize, 0))
            continue
        walk.inspect(name, member_path, content, depth + 1)
    if more:
        walk.reason(
            ARCHIVE_LIMIT,
            path,
            f"member count: more than {limits.max_members} members in the message, the rest unread",
        )
    if encrypted:
        shown = ", ".join(encrypted[:3]) + (", ..." if len(encrypted) > 3 else "")
        walk.reason(
            ENCRYPTED_ARCHIVE, path, f"password-protected zip: {len(encrypted)} encrypted ({shown})"
        )


def _too_deep(walk: Walk, path: str, depth: int) -> bool:
    if depth < walk.limits.max_depth:
        return False
    limit = walk.limits.max_depth
    walk.reason(ARCHIVE_LIMIT, path, f"archive nested deeper than {limit}: not opened")
    return True


def read_zip_member(walk: Walk, data: bytes, entry: ZipEntry, path: str) -> bytes | None:
    """A member's bytes, read within the limits (None when a limit or damage stops it)."""
    cap = _member_cap(walk, path, entry.csize, entry.usize)
    if cap is None:
        return None
    at = entry.offset
    if data[at : at + 4] != b"PK\x03\x04" or at + _LOCAL.size > len(data):
        walk.issues.append(f"{path}: local header missing (damaged zip)")
        return None
    name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
    begin = at + _LOCAL.size + name_len + extra_len
    packed = memoryview(data)[begin : begin + entry.csize]
    try:
        if entry.method == 0:
            content = bytes(packed[: cap + 1])
        elif entry.method == 8:
            content = zlib.decompressobj(-15).decompress(packed, cap + 1)
        elif entry.method == 12:
            content = bz2.BZ2Decompressor().decompress(packed, cap + 1)
        else:
            walk.issues.append(f"{path}: compression method {entry.method} not read")
            return None
    except (zlib.error, OSError, ValueError, EOFError) as exc:
        walk.issues.append(f"{path}: undecompressable member ({exc})")
        return None
    if not _within_cap(walk, path, content, cap, entry.csize):
        return None
    if entry.usize < 0:  # a streamed member found without its directory: nothing to compare
        pass
    elif len(content) > entry.usize:
        walk.reason(
            ARCHIVE_LIMIT,
            path,
            f"declared size: the member declares {entry.usize:,} bytes but holds more",
        )
    elif len(content) < entry.usize:
        walk.issues.append(f"{path}: {len(content):,} of {entry.usize:,} bytes (truncated)")
    elif zlib.crc32(content) != entry.crc:
        walk.issues.append(f"{path}: CRC mismatch (damaged or altered member)")
    return content


def _member_cap(walk: Walk, path: str, packed: int, declared: int) -> int | None:
    """How many bytes may come out of a packed member, or None when its declared size is over."""
    limits = walk.limits
    if declared > limits.max_member_bytes:
        limit = f"member size: {declared:,} bytes declared, over {limits.max_member_bytes:,}"
    elif declared > walk.bytes_left:
        limit = f"total size: over {limits.max_total_bytes:,} bytes unpacked in the message"
    elif declared > RATIO_FLOOR and declared > max(packed, 1) * limits.max_ratio:
        ratio = declared // max(packed, 1)
        limit = f"compression ratio: {ratio:,}:1 declared, over {limits.max_ratio}:1 (zip bomb)"
    else:
        ratio_cap = max(packed * limits.max_ratio, RATIO_FLOOR)
        return min(limits.max_member_bytes, walk.bytes_left, ratio_cap)
    walk.reason(ARCHIVE_LIMIT, path, limit)
    return None


def _within_cap(walk: Walk, path: str, content: bytes, cap: int, packed: int) -> bool:
    """Count what came out against the message; name the limit when it was more than allowed."""
    limits = walk.limits
    if len(content) <= cap:
        walk.bytes_left -= len(content)
        return True
    if cap == limits.max_member_bytes:
        limit = f"member size: over {limits.max_member_bytes:,} bytes unpacked"
    elif cap == walk.bytes_left:
        limit = f"total size: over {limits.max_total_bytes:,} bytes unpacked in the message"
    else:
        limit = (
            f"compression ratio: {packed:,} bytes unpack past {cap:,}, "
            f"over {limits.max_ratio}:1 (zip bomb)"
        )
    walk.reason(ARCHIVE_LIMIT, path, limit)
    return False


# --- gzip, bzip2, xz, tar --------------------------------------------------------------------


def walk_stream(walk: Walk, name: str, path: str, data: bytes, kind: str, depth: int) -> None:
    """A compressed stream holds one file: unpack it (bounded) and inspect that."""
    limits = walk.limits
    if _too_deep(walk, path, depth):
        return
    if walk.members_left <= 0:
        walk.reason(ARCHIVE_LIMIT, path, f"member count: more than {limits.max_members} members")
        return
    walk.members_left -= 1
    inner = _inner_name(name, data if kind == "gzip" else b"")
    cap = min(
        limits.max_member_bytes, walk.bytes_left, max(len(data) * limits.max_ratio, RATIO_FLOOR)
    )
    try:
        if kind == "gzip":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            content, finished = inflater.decompress(data, cap + 1), inflater.eof
        elif kind == "bzip2":
            bunzip = bz2.BZ2Decompressor()
            content, finished = bunzip.decompress(data, cap + 1), bunzip.eof
        else:
            unxz = lzma.LZMADecompressor()
            content, finished = unxz.decompress(data, cap + 1), unxz.eof
    except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError) as exc:
        walk.issues.append(f"{path}: undecompressable {kind} ({exc})")
        return
    if _within_cap(walk, path, content, cap, len(data)):
        if not finished:  # what came out is still worth a look
            walk.issues.append(f"{path}: truncated {kind}")
        walk.inspect(inner, f"{path}/{inner}", content, depth + 1)


def _inner_name(name: str, gzip_head: bytes) -> str:
    """The name of the file inside: the gzip FNAME field, else the outer name without its suffix."""
    if len(gzip_head) > 10 and gzip_head[3] & 0x08:
        at = 10
        if gzip_head[3] & 0x04:  # FEXTRA comes first
            at += 2 + int.from_bytes(gzip_head[10:12], "little")
        end = gzip_head.find(b"\x00", at, at + 1024)
        if end > at:
            return basename(gzip_head[at:end].decode("latin-1"))
    base = basename(name)
    stem, _, ext = base.rpartition(".")
    if ext.lower() in ("tgz", "tbz2", "txz"):
        return f"{stem}.tar"
    return stem if stem and ext.lower() in ("gz", "bz2", "xz") else f"{base}.unpacked"


def walk_tar(walk: Walk, path: str, data: bytes, depth: int) -> None:
    """Inspect a tar's regular files within the limits."""
    limits = walk.limits
    if _too_deep(walk, path, depth):
        return
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if walk.members_left <= 0:
                    walk.reason(
                        ARCHIVE_LIMIT, path, f"member count: more than {limits.max_members} members"
                    )
                    return
                walk.members_left -= 1
                name, member_path = basename(member.name), f"{path}/{member.name}"
                handle = None if walk.expired(member_path) else tar.extractfile(member)
                if handle is None:
                    walk.unread(name, member_path, depth + 1, "unread", member.size)
                    continue
                # the tar is already in memory (and counted), so its members are slices of it
                walk.inspect(name, member_path, handle.read(), depth + 1)
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError) as exc:
        walk.issues.append(f"{path}: damaged tar ({type(exc).__name__})")


def basename(name: str) -> str:
    """The last part of a member path (either slash), or the whole name when that is empty."""
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or name
