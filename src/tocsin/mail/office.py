"""Office attachments: macros, external relationships and embedded files.

OOXML (docx, xlsm...) and ODF documents are zips whose member names already tell whether they
hold a VBA project, an Excel 4.0 macro sheet or document macros, so only the relationship parts
and embedded files are read (with the archive limits, through ``archives.read_zip_member``).
Relationships are matched with a pattern rather than an XML parser: it is cheaper, and it still
finds an external template or OLE object in a damaged document. Embedded files go back to the
walk to be inspected like attachments. Old binary (OLE) documents are opened with olefile (BSD)
only to list their streams.

olevba's auto-exec and suspicious keywords are added when oletools is installed. It stays
optional and is imported lazily, because oletools needs pcodedmp, which is GPL.
"""

from __future__ import annotations

import html
import importlib
import io
import re
import warnings

import olefile  # type: ignore[import-untyped]

from tocsin.mail.archives import ENCRYPTED_ARCHIVE, ZipEntry, basename, read_zip_member
from tocsin.mail.attachtypes import MIB, Walk
from tocsin.mail.links import urls_in_text

OFFICE_MACRO = "attachment.office_macro"
OFFICE_EXTERNAL = "attachment.office_external"

MAX_RELS_BYTES = 2 * MIB
MAX_OLEVBA_BYTES = 8 * MIB

_REMOTE_RELATIONSHIPS = frozenset(
    {"attachedtemplate", "oleobject", "frame", "externallinkpath", "subdocument"}
)
"""Relationship types that make Office fetch and load content (remote template injection)."""
# tags stop at the next "<" so that a run of unclosed tags costs linear time, not quadratic
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b[^<>]*>", re.IGNORECASE)
_XML_ATTRIBUTE = re.compile(rb"""([\w:]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_VBA_ROOTS = ("macros", "_vba_project_cur")


def scan_office_zip(
    walk: Walk, path: str, data: bytes, entries: list[ZipEntry], depth: int
) -> None:
    """Macros, external relationships and embedded files of an OOXML or ODF document."""
    evidence = []
    vba_entry = None
    for entry in entries:
        lower = entry.name.lower()
        if lower.endswith("vbaproject.bin"):
            evidence.append(f"{entry.name} (VBA project)")
            vba_entry = vba_entry or entry
        elif lower.startswith("xl/macrosheets/") and lower.endswith(".xml"):
            evidence.append(f"{entry.name} (Excel 4.0 macro sheet)")
        elif lower.startswith(("basic/", "scripts/")) and not lower.endswith(
            ("/", "script-lc.xml", "script-lb.xml", "manifest.xml")
        ):
            evidence.append(f"{entry.name} (document macro)")
        elif lower.endswith(".rels") and entry.usize <= MAX_RELS_BYTES:
            content = read_zip_member(walk, data, entry, f"{path}/{entry.name}")
            if content:
                _relationships(walk, path, content)
        elif "/embeddings/" in lower and not lower.endswith("/") and walk.members_left > 0:
            walk.members_left -= 1
            member_path = f"{path}/{entry.name}"
            embedded = (
                None
                if walk.expired(member_path)
                else read_zip_member(walk, data, entry, member_path)
            )
            if embedded is not None:
                walk.inspect(basename(entry.name), member_path, embedded, depth + 1)
    if evidence:
        vba = None
        if vba_entry is not None and vba_entry.usize <= MAX_OLEVBA_BYTES:
            vba = read_zip_member(walk, data, vba_entry, f"{path}/{vba_entry.name}")
        report_macros(walk, path, "vbaProject.bin", vba, evidence[:5])


def _relationships(walk: Walk, path: str, xml: bytes) -> None:
    """Collect the external targets of a ``.rels`` part; the remote-loading kinds are reasons."""
    where = f"office:{path}"
    for match in _RELATIONSHIP.finditer(xml):
        attributes = {
            key.split(b":")[-1].lower(): (double or single)
            for key, double, single in _XML_ATTRIBUTE.findall(match.group(0))
        }
        if attributes.get(b"targetmode", b"").lower() != b"external":
            continue
        kind = attributes.get(b"type", b"").rsplit(b"/", 1)[-1].decode("latin-1").lower()
        target = html.unescape(attributes.get(b"target", b"").decode("utf-8", "replace")).strip()
        # a Follina-style target wraps the URL ("mhtml:https://...!x-usc:...")
        for url in urls_in_text(target) or [target]:
            walk.url(url, where)
        if kind in _REMOTE_RELATIONSHIPS:
            walk.reason(OFFICE_EXTERNAL, path, f"external {kind} relationship to {target}")


def read_ole_facts(walk: Walk, path: str, data: bytes) -> tuple[str, list[str]]:
    """The kind of an OLE file (``ole`` or ``msi``) and the storages holding a VBA project."""
    if len(data) < 1536:  # below this olefile would take the bytes for a file name
        walk.issues.append(f"{path}: truncated OLE file")
        return "ole", []
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            clsid = str(ole.root.clsid if ole.root is not None else "").upper()
            streams = ole.listdir(streams=True, storages=False)
    except Exception as exc:  # noqa: BLE001 - olefile raises many types on damaged files
        walk.issues.append(f"{path}: unreadable OLE file ({type(exc).__name__})")
        return "ole", []
    # MSI, MSP and MST: Windows Installer package, patch and transform
    kind = "msi" if clsid.startswith(("000C1084-", "000C1086-", "000C1082-")) else "ole"
    vba = []
    for parts in streams:
        lowered = [part.lower() for part in parts]
        if lowered[-2:] == ["vba", "dir"]:
            vba.append("/".join(parts[:-2]) or "the root")
        elif lowered == ["encryptedpackage"]:
            walk.reason(ENCRYPTED_ARCHIVE, path, "password-protected Office document")
        elif len(lowered) > 1 and lowered[0] in _VBA_ROOTS:
            vba.append(parts[0])
    return kind, sorted(set(vba))


def report_macros(walk: Walk, path: str, name: str, vba: bytes | None, evidence: list[str]) -> None:
    """Give the macro reason, with olevba's keywords for the ``vba`` project when it can."""
    detail = "macros: " + ", ".join(evidence)
    if vba is not None:
        summary = _olevba_summary(name, vba)
        if summary:
            detail += f"; {summary}"
    walk.reason(OFFICE_MACRO, path, detail)


def _olevba_summary(name: str, data: bytes) -> str | None:
    """olevba's auto-exec and suspicious keywords, when oletools is installed (it is optional).

    oletools needs pcodedmp, which is GPL, so it is never required: without it the macro is
    still reported, only without the keywords.
    """
    if len(data) > MAX_OLEVBA_BYTES:
        return None
    try:
        # oletools still calls pyparsing names that now warn; the warning is not ours to show
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            olevba = importlib.import_module("oletools.olevba")
            parser = olevba.VBA_Parser(name, data=data, disable_pcode=True)
            try:
                results = parser.analyze_macros() or []
            finally:
                parser.close()
    except ImportError:
        return None
    except Exception as exc:  # noqa: BLE001 - olevba fails on damaged projects
        return f"olevba could not read the project ({type(exc).__name__})"
    auto = sorted({str(kw) for kind, kw, _d in results if kind == "AutoExec"})
    suspicious = sorted({str(kw) for kind, kw, _d in results if kind == "Suspicious"})
    parts = []
    if auto:
        parts.append("runs on open: " + ", ".join(auto[:8]))
    if suspicious:
        parts.append("suspicious: " + ", ".join(suspicious[:8]))
    return "; ".join(parts) or None
