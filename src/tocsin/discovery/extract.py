"""Text out of files: plain text, and the text inside PDF, DOCX, XLSX, PPTX, ZIP, tar and gzip.

Containers are recognised by their first bytes, not their names, and opened in memory:
nothing is ever extracted to disk, so a member named ``../../etc/passwd`` is only a display
string. Every read is bounded: a file or member beyond ``max_file_bytes`` is skipped; an
archive stops giving members past ``max_members`` or past ``max_expanded_bytes`` of expanded
data; archives nest at most ``max_depth`` deep; a member that expands more than ``max_ratio``
times its compressed size is a bomb. Members are read through a bounded read (at most the
limit plus one byte), never trusting sizes in headers. OOXML parts are read with our own
bounded zip reads and ElementTree (a part that declares a DTD or entities is refused, which
stops entity-expansion bombs), so the limits hold for documents too.

Whatever cannot be read is a :class:`Skipped` with the reason; the rest still goes through.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import logging
import lzma
import os
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, ElementTree

MiB = 2**20
RATIO_FLOOR = MiB
"""Below this much expanded data a high ratio is no bomb (a small, repetitive text file)."""
DIR_BYTES_PER_MEMBER = 1024
"""A zip whose central directory is longer than this per allowed member is refused before
zipfile reads all of it into memory."""
_EOCD = struct.Struct("<4s4H2LH")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    """How much is read, and how deep."""

    max_file_bytes: int = 64 * MiB
    max_expanded_bytes: int = 512 * MiB
    max_depth: int = 3
    max_members: int = 10_000
    max_ratio: float = 200.0
    max_line_bytes: int = 1 * MiB


@dataclass(frozen=True, slots=True)
class TextPart:
    """Text to scan: where it came from (members joined by ``!``), and its kind."""

    path: str
    text: str
    kind: str
    size: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something that was not scanned, and why."""

    path: str
    reason: str


Part = TextPart | Skipped

_BINARY_MAGIC = (
    b"\x7fELF",  # ELF
    b"MZ",  # PE / DOS
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF8",
    b"SQLite format 3\x00",
    b"\xca\xfe\xba\xbe",  # Java class / Mach-O fat
    b"\xcf\xfa\xed\xfe",
    b"\xce\xfa\xed\xfe",  # Mach-O
    b"\x00asm",  # WebAssembly
    b"RIFF",
    b"OggS",
    b"ID3",
    b"\x1a\x45\xdf\xa3",  # Matroska
    b"\xd0\xcf\x11\xe0",  # OLE (old Office): binary for text purposes
    b"7z\xbc\xaf",
    b"Rar!",
)
_TEXT_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _fmt(n: float) -> str:
    return f"{n / MiB:,.0f} MB" if n >= MiB else f"{n / 1024:,.0f} KB"


def is_binary(head: bytes) -> bool:
    """A NUL byte in the first 8 KiB (unless UTF-16 text), or a known binary format."""
    if head.startswith(_TEXT_BOMS):
        return False
    if any(head.startswith(m) for m in _BINARY_MAGIC):
        return True
    return b"\x00" in head[:8192]


def _container(head: bytes, name: str) -> str | None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and name.endswith((".bz2", ".tbz", ".tbz2")):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Latin-1: never an error."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # mostly UTF-8 with a stray byte stays UTF-8; otherwise it is a legacy 8-bit text
        text = data.decode("utf-8", "replace")
        if text.count("\ufffd") * 100 < max(len(text), 1):
            return text
        return data.decode("latin-1")


def _cut_long_lines(text: str, limit: int) -> tuple[str, bool]:
    """Lines longer than ``limit`` characters broken into pieces (minified files)."""
    if len(text) <= limit or max((len(x) for x in text.split("\n")), default=0) <= limit:
        return text, False
    out = []
    for line in text.split("\n"):
        if len(line) <= limit:
            out.append(line)
        else:
            out.extend(line[i : i + limit] for i in range(0, len(line), limit))
    return "\n".join(out), True


class _Budget:
    """Expanded bytes left for one top-level archive."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, n: int) -> bool:
        self.left -= n
        return self.left >= 0


def _text_part(path: str, data: bytes, kind: str, limits: Limits) -> Iterator[Part]:
    text, cut = _cut_long_lines(decode(data), limits.max_line_bytes)
    if cut:
        yield Skipped(path, f"line longer than {_fmt(limits.max_line_bytes)} cut into pieces")
    yield TextPart(path, text, kind, len(data))


def _guarded(name: str, parts: Iterator[Part]) -> Iterator[Part]:
    """A last net under every reader: hostile input that trips a library in a way nobody
    foresaw is one skipped part with the reason, never the end of the walk."""
    try:
        yield from parts
    except Exception as exc:  # noqa: BLE001 - any library error on hostile bytes
        logger.warning("extraction failed", extra={"path": name, "error": type(exc).__name__})
        yield Skipped(name, f"extraction failed: {type(exc).__name__}: {str(exc)[:200]}")


def iter_bytes_parts(
    name: str,
    data: bytes,
    limits: Limits | None = None,
    depth: int = 0,
    budget: _Budget | None = None,
) -> Iterator[Part]:
    """The text parts of ``data`` (a file or an archive member called ``name``)."""
    limits = limits or Limits()
    budget = budget or _Budget(limits.max_expanded_bytes)
    yield from _guarded(name, _bytes_parts(name, data, limits, depth, budget))


def _bytes_parts(
    name: str, data: bytes, limits: Limits, depth: int, budget: _Budget
) -> Iterator[Part]:
    kind = _container(data[:512], name.lower())
    if kind is None:
        if is_binary(data[:8192]):
            yield Skipped(name, "binary file")
            return
        yield from _text_part(name, data, "text", limits)
        return
    if kind == "pdf":
        yield from _pdf(name, data, limits)
        return
    if depth >= limits.max_depth:
        yield Skipped(name, f"depth limit {limits.max_depth}: archive not opened")
        return
    if kind == "zip":
        yield from _zip(name, io.BytesIO(data), limits, depth, budget)
    elif kind == "tar":
        yield from _tar(name, io.BytesIO(data), limits, depth, budget)
    else:
        yield from _compressed(name, io.BytesIO(data), len(data), kind, limits, depth, budget)


def _bounded_read(stream: IO[bytes] | io.BufferedIOBase, limit: int) -> bytes:
    chunks = []
    got = 0
    while got <= limit:
        chunk = stream.read(min(1 * MiB, limit + 1 - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _compressed(
    name: str,
    source: io.IOBase,
    size: int,
    kind: str,
    limits: Limits,
    depth: int,
    budget: _Budget,
) -> Iterator[Part]:
    opener: Callable[[io.IOBase], io.BufferedIOBase] = {
        "gzip": lambda f: gzip.GzipFile(fileobj=f),
        "bz2": lambda f: bz2.BZ2File(f),
        "xz": lambda f: lzma.LZMAFile(f),
    }[kind]
    limit = min(limits.max_file_bytes, max(int(size * limits.max_ratio), RATIO_FLOOR) + 1)
    chunks: list[bytes] = []
    got = 0
    try:
        with opener(source) as stream:
            head = stream.peek(512)[:512] if hasattr(stream, "peek") else b""
            if len(head) >= 262 and head[257:262] == b"ustar":
                stream_tar: io.BufferedIOBase = stream
                yield from _tar(name, stream_tar, limits, depth, budget)
                return
            while got <= limit:
                # read1: what one step decompresses, so a damaged tail loses little
                chunk = stream.read1(min(64 * 1024, limit + 1 - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        if not chunks:
            yield Skipped(name, f"corrupt {kind} data: {exc}")
            return
        # truncated: what came out before the damage is still read
        yield Skipped(name, f"truncated {kind} data ({exc}): the first {_fmt(got)} read")
    raw = b"".join(chunks)
    if len(raw) > limit:
        if limit < limits.max_file_bytes:
            yield Skipped(name, f"{kind} bomb: expands more than {limits.max_ratio:g} times")
        else:
            yield Skipped(name, f"too large: over {_fmt(limits.max_file_bytes)} expanded")
        return
    if not budget.take(len(raw)):
        yield Skipped(name, f"archive expands past {_fmt(limits.max_expanded_bytes)}: rest skipped")
        return
    inner = re.sub(r"\.(gz|tgz|bz2|xz)$", "", name.rsplit("!", 1)[-1].rsplit("/", 1)[-1])
    yield from iter_bytes_parts(f"{name}!{inner or 'data'}", raw, limits, depth + 1, budget)


def _zip_directory_problem(source: io.IOBase | IO[bytes], limits: Limits) -> str | None:
    """Why a zip's central directory is too large to read (zipfile loads all of it)."""
    try:
        end = source.seek(0, os.SEEK_END)
        source.seek(max(0, end - _EOCD.size - 0xFFFF))
        tail = source.read()
        source.seek(0)
    except (OSError, ValueError):
        return None  # zipfile will say what is wrong
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        return None
    fields = _EOCD.unpack_from(tail, at)
    total, size = fields[4], fields[5]
    if size <= limits.max_members * DIR_BYTES_PER_MEMBER:
        return None
    return (
        f"too many members: {total:,} in a directory of {_fmt(size)}, "
        f"more than {limits.max_members:,} allowed"
    )


def _zip(
    name: str, source: io.IOBase | IO[bytes], limits: Limits, depth: int, budget: _Budget
) -> Iterator[Part]:
    problem = _zip_directory_problem(source, limits)
    if problem is not None:
        yield Skipped(name, problem)
        return
    try:
        archive = zipfile.ZipFile(source)
    except Exception as exc:  # noqa: BLE001 - a hostile directory raises many kinds of errors
        yield Skipped(name, f"corrupt zip: {type(exc).__name__}: {exc}")
        return
    with archive:
        names = set(archive.namelist())
        office = _office_kind(names)
        if office is not None:
            yield from _office(name, archive, office, limits, budget)
            return
        # by name, not is_dir(): a member with an empty name breaks is_dir()
        members = [i for i in archive.infolist() if not i.filename.endswith("/")]
        if len(members) > limits.max_members:
            yield Skipped(
                name, f"{len(members):,} members: only the first {limits.max_members:,} read"
            )
            members = members[: limits.max_members]
        for info in members:
            member = f"{name}!{info.filename}"
            data_or_skip = _zip_member(archive, info, member, limits, budget)
            if isinstance(data_or_skip, Skipped):
                yield data_or_skip
                if data_or_skip.reason.startswith("archive expands"):
                    return
                continue
            yield from iter_bytes_parts(member, data_or_skip, limits, depth + 1, budget)


def _zip_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: str, limits: Limits, budget: _Budget
) -> bytes | Skipped:
    if info.flag_bits & 0x1:
        return Skipped(member, "encrypted zip member")
    if info.compress_type in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        # zipfile inflates these without an output bound: one small chunk could fill memory
        method = "bzip2" if info.compress_type == zipfile.ZIP_BZIP2 else "lzma"
        return Skipped(member, f"unsupported zip compression: {method}")
    compressed = max(info.compress_size, 1)
    limit = min(limits.max_file_bytes, max(int(compressed * limits.max_ratio), RATIO_FLOOR) + 1)
    if info.file_size > RATIO_FLOOR and info.file_size > compressed * limits.max_ratio:
        return Skipped(
            member,
            f"zip bomb: {_fmt(info.file_size)} from {_fmt(compressed)} "
            f"(more than {limits.max_ratio:g} times)",
        )
    if info.file_size > limits.max_file_bytes:
        return Skipped(member, f"too large: {_fmt(info.file_size)} > {_fmt(limits.max_file_bytes)}")
    try:
        with archive.open(info) as stream:
            raw = _bounded_read(stream, limit)
    except NotImplementedError as exc:
        return Skipped(member, f"unsupported zip compression: {exc}")
    except Exception as exc:  # noqa: BLE001 - bad CRC, bad header, broken data, a read error
        return Skipped(member, f"corrupt zip member: {type(exc).__name__}: {exc}")
    if len(raw) > limit:
        if limit < limits.max_file_bytes:
            ratio = len(raw) / compressed
            return Skipped(member, f"zip bomb: ratio over {ratio:,.0f} > {limits.max_ratio:g}")
        return Skipped(member, f"too large: over {_fmt(limits.max_file_bytes)}")
    if not budget.take(len(raw)):
        return Skipped(member, f"archive expands past {_fmt(limits.max_expanded_bytes)}")
    return raw


def _tar(
    name: str, fileobj: io.IOBase, limits: Limits, depth: int, budget: _Budget
) -> Iterator[Part]:
    count = 0
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as archive:
            for info in archive:
                if not info.isfile():
                    continue
                count += 1
                member = f"{name}!{info.name}"
                if count > limits.max_members:
                    yield Skipped(name, f"more than {limits.max_members:,} members: rest skipped")
                    return
                if info.size > limits.max_file_bytes:
                    yield Skipped(
                        member, f"too large: {_fmt(info.size)} > {_fmt(limits.max_file_bytes)}"
                    )
                    continue
                if not budget.take(info.size):
                    yield Skipped(member, f"archive expands past {_fmt(limits.max_expanded_bytes)}")
                    return
                stream = archive.extractfile(info)
                if stream is None:
                    continue
                raw = _bounded_read(stream, limits.max_file_bytes)
                yield from iter_bytes_parts(member, raw, limits, depth + 1, budget)
    except Exception as exc:  # noqa: BLE001 - tarfile, zlib, lzma, bz2 and struct errors
        yield Skipped(name, f"corrupt tar: {type(exc).__name__}: {exc}")


# -- documents -------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def _office_kind(names: set[str]) -> str | None:
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    return None


def _xml(archive: zipfile.ZipFile, part: str, limits: Limits, budget: _Budget) -> bytes | Skipped:
    try:
        info = archive.getinfo(part)
    except KeyError:
        return Skipped(part, "missing part")
    raw = _zip_member(archive, info, part, limits, budget)
    return raw


def _paragraphs(raw: bytes, para_tag: str, text_tag: str) -> list[str]:
    lines: list[str] = []
    current: list[str] = []
    for _event, elem in ElementTree.iterparse(io.BytesIO(raw), events=("end",), forbid_dtd=True):
        if elem.tag == text_tag and elem.text:
            current.append(elem.text)
        elif elem.tag == _W + "tab":
            current.append("\t")
        elif elem.tag == para_tag:
            lines.append("".join(current))
            current = []
            elem.clear()
    if current:
        lines.append("".join(current))
    return lines


def _office(
    name: str, archive: zipfile.ZipFile, kind: str, limits: Limits, budget: _Budget
) -> Iterator[Part]:
    names = sorted(archive.namelist())
    try:
        if kind == "docx":
            parts = ["word/document.xml"] + [
                n
                for n in names
                if re.fullmatch(r"word/(header|footer)\d*\.xml|word/(comments|footnotes)\.xml", n)
            ]
            for part in parts:
                raw = _xml(archive, part, limits, budget)
                if isinstance(raw, Skipped):
                    yield Skipped(f"{name}!{part}", raw.reason)
                    continue
                lines = _paragraphs(raw, _W + "p", _W + "t")
                yield TextPart(f"{name}!{part}", "\n".join(lines), kind, len(raw))
        elif kind == "pptx":
            slides = sorted(
                (n for n in names if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
                key=lambda n: int(re.sub(r"\D", "", n.rsplit("/", 1)[1]) or 0),
            )
            for part in slides:
                raw = _xml(archive, part, limits, budget)
                if isinstance(raw, Skipped):
                    yield Skipped(f"{name}!{part}", raw.reason)
                    continue
                lines = _paragraphs(raw, _A + "p", _A + "t")
                yield TextPart(f"{name}!{part}", "\n".join(lines), kind, len(raw))
        else:
            yield from _xlsx(name, archive, limits, budget)
    except ParseError as exc:
        yield Skipped(name, f"corrupt {kind}: {exc}")
    except DefusedXmlException as exc:
        yield Skipped(name, f"{kind} refused: XML with a DTD or entities ({type(exc).__name__})")


def _xlsx(name: str, archive: zipfile.ZipFile, limits: Limits, budget: _Budget) -> Iterator[Part]:
    shared: list[str] = []
    if "xl/sharedStrings.xml" in archive.namelist():
        raw = _xml(archive, "xl/sharedStrings.xml", limits, budget)
        if isinstance(raw, Skipped):
            yield Skipped(f"{name}!xl/sharedStrings.xml", raw.reason)
            return
        for _event, elem in ElementTree.iterparse(
            io.BytesIO(raw), events=("end",), forbid_dtd=True
        ):
            if elem.tag == _S + "si":
                shared.append("".join(t.text or "" for t in elem.iter(_S + "t")))
                elem.clear()
    sheets = _sheet_names(archive, limits, budget)
    for part, title in sheets:
        raw = _xml(archive, part, limits, budget)
        if isinstance(raw, Skipped):
            yield Skipped(f"{name}!{title}", raw.reason)
            continue
        rows: list[str] = []
        for _event, elem in ElementTree.iterparse(
            io.BytesIO(raw), events=("end",), forbid_dtd=True
        ):
            if elem.tag != _S + "row":
                continue
            cells = []
            for cell in elem.iter(_S + "c"):
                kind = cell.get("t")
                if kind == "inlineStr":
                    value = "".join(t.text or "" for t in cell.iter(_S + "t"))
                else:
                    v = cell.find(_S + "v")
                    value = v.text or "" if v is not None else ""
                    if kind == "s" and value.isdigit() and int(value) < len(shared):
                        value = shared[int(value)]
                cells.append(value)
            rows.append("\t".join(cells))
            elem.clear()
        yield TextPart(f"{name}!{title}", "\n".join(rows), "xlsx", len(raw))


def _sheet_names(
    archive: zipfile.ZipFile, limits: Limits, budget: _Budget
) -> list[tuple[str, str]]:
    names = set(archive.namelist())
    targets: dict[str, str] = {}
    rels = _xml(archive, "xl/_rels/workbook.xml.rels", limits, budget)
    if isinstance(rels, bytes):
        for elem in ElementTree.fromstring(rels, forbid_dtd=True):
            target = elem.get("Target", "")
            target = target.lstrip("/")
            targets[elem.get("Id", "")] = target if target.startswith("xl/") else f"xl/{target}"
    out: list[tuple[str, str]] = []
    book = _xml(archive, "xl/workbook.xml", limits, budget)
    if isinstance(book, bytes):
        for sheet in ElementTree.fromstring(book, forbid_dtd=True).iter(_S + "sheet"):
            part = targets.get(sheet.get(_R + "id", ""), "")
            if part in names:
                out.append((part, sheet.get("name") or part))
    if not out:  # no relationships: take the sheet files as they are
        out = [(n, n) for n in sorted(names) if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
    return out


def _pdf(name: str, data: bytes, limits: Limits) -> Iterator[Part]:
    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - pypdf is a dependency
        yield Skipped(name, "PDF text needs pypdf")
        return
    # pypdf logs every oddity of a broken file as a warning: the reason is ours to give
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:  # noqa: BLE001 - any failure means we cannot read it
                yield Skipped(name, "encrypted PDF")
                return
        pages = reader.pages
        total = 0
        for number, page in enumerate(pages, start=1):
            if number > limits.max_members:
                yield Skipped(name, f"more than {limits.max_members:,} pages: rest skipped")
                return
            text = page.extract_text() or ""
            total += len(text)
            if total > limits.max_file_bytes:
                yield Skipped(name, f"text past {_fmt(limits.max_file_bytes)}: rest skipped")
                return
            if text.strip():
                yield TextPart(f"{name}!page {number}", text, "pdf", len(text))
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds of errors on broken files
        yield Skipped(name, f"corrupt pdf: {type(exc).__name__}: {str(exc)[:200]}")


# -- files and folders -----------------------------------------------------------------------


def iter_parts(
    path: Path, limits: Limits | None = None, display: str | None = None
) -> Iterator[Part]:
    """The text parts of one file (nothing is followed outside it)."""
    limits = limits or Limits()
    shown = display or str(path)
    try:
        info = path.stat()
    except OSError as exc:
        yield Skipped(shown, f"unreadable: {exc.strerror or exc}")
        return
    if not stat.S_ISREG(info.st_mode):
        yield Skipped(shown, "not a regular file")
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
            kind = _container(head, path.name.lower())
            if kind in ("zip", "tar", "gzip", "bz2", "xz"):
                # archives are read from disk as they go: only the members' text is held
                budget = _Budget(limits.max_expanded_bytes)
                handle.seek(0)
                if kind == "zip":
                    parts = _zip(shown, handle, limits, 0, budget)
                elif kind == "tar":
                    parts = _tar(shown, handle, limits, 0, budget)
                else:
                    parts = _compressed(shown, handle, info.st_size, kind, limits, 0, budget)
                yield from _guarded(shown, parts)
                return
    except OSError as exc:
        yield Skipped(shown, f"unreadable: {exc.strerror or exc}")
        return
    if info.st_size > limits.max_file_bytes:
        yield Skipped(shown, f"too large: {_fmt(info.st_size)} > {_fmt(limits.max_file_bytes)}")
        return
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.max_file_bytes + 1)
    except OSError as exc:
        yield Skipped(shown, f"unreadable: {exc.strerror or exc}")
        return
    yield from iter_bytes_parts(shown, data, limits)


def iter_files(
    root: Path, exclude: Callable[[str], bool] | None = None
) -> Iterator[tuple[str, Path] | Skipped]:
    """Every regular file under ``root`` in sorted order, as (path relative to root, path);
    ``.git`` is left out and symbolic links are not followed."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            rel = folder.relative_to(root).as_posix() if folder != root else "."
            yield Skipped(rel, f"unreadable folder: {exc.strerror or exc}")
            continue
        files = []
        for entry in entries:
            rel = Path(entry.path).relative_to(root).as_posix()
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name != ".git" and not (exclude and exclude(rel + "/")):
                    stack.append(Path(entry.path))
            elif not (exclude and exclude(rel)):
                files.append((rel, Path(entry.path)))
        yield from reversed(files)


def iter_tree(
    root: Path, limits: Limits | None = None, exclude: Callable[[str], bool] | None = None
) -> Iterator[Part]:
    """The text parts of every file under ``root`` (see :func:`iter_files`)."""
    limits = limits or Limits()
    for item in iter_files(root, exclude):
        if isinstance(item, Skipped):
            yield item
        else:
            yield from iter_parts(item[1], limits, display=item[0])
