"""Outlook .msg files rebuilt as RFC 822, from .msg files written by tests/mail/cfb_writer.py."""

from __future__ import annotations

import hashlib
import io
import random
import struct
from datetime import UTC, datetime

import olefile
import pytest

from tests.mail.cfb_writer import BLACK, NOSTREAM, RED, MsgItem, write_cfb, write_msg
from tocsin.mail.intake import IntakeIssue, RawMessage, read_messages
from tocsin.mail.message import parse_message
from tocsin.mail.msg import MAX_DEPTH, REBUILT_NOTE, MsgError, decompress_rtf, read_msg

# property ids used below (MS-OXPROPS)
TRANSPORT_HEADERS = 0x007D
SUBJECT = 0x0037
SUBMIT_TIME = 0x0039
SENDER_NAME = 0x0C1A
SENDER_ADDRESS = 0x0C1F
SENDER_SMTP = 0x5D01
REPRESENTING_ADDRESS = 0x0065
DISPLAY_TO = 0x0E04
DISPLAY_CC = 0x0E03
DELIVERY_TIME = 0x0E06
BODY = 0x1000
RTF = 0x1009
HTML = 0x1013
MESSAGE_ID = 0x1035
INTERNET_CODEPAGE = 0x3FDE
DISPLAY_NAME = 0x3001
EMAIL_ADDRESS = 0x3003
SMTP_ADDRESS = 0x39FE
RECIPIENT_TYPE = 0x0C15
ATTACH_DATA = 0x3701
ATTACH_FILENAME = 0x3704
ATTACH_METHOD = 0x3705
ATTACH_LONG_FILENAME = 0x3707
ATTACH_MIME = 0x370E

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n" * 3

TRANSPORT = (
    "Received: from mx.bad.example (mx.bad.example [203.0.113.9])\r\n"
    "\tby mx.corp.example; Mon, 2 Mar 2026 10:00:00 +0000\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; d=bad.example; s=s1;\r\n"
    " h=from:subject; bh=abc=; b=def=\r\n"
    "From: Pay Desk <billing@bad.example>\r\n"
    "Reply-To: collect@elsewhere.example\r\n"
    "To: ann@corp.example\r\n"
    "Subject: Invoice overdue\r\n"
    "Message-ID: <inv-1@bad.example>\r\n"
    "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative;\r\n"
    '\tboundary="the-old-boundary"\r\n'
    "\r\n"
)


def embedded_item(**extra: object) -> MsgItem:
    """A sent item without transport headers: headers come from its properties."""
    return MsgItem(
        {
            SUBJECT: "Your mailbox is full",
            SENDER_NAME: "IT Helpdesk",
            SENDER_ADDRESS: "/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=x",
            SENDER_SMTP: "helpdesk@lookalike.example",
            BODY: "Log in at http://lookalike.example/login to keep your mail.",
            SUBMIT_TIME: datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
            MESSAGE_ID: "<full-1@lookalike.example>",
            **extra,
        },
        recipients=[
            {DISPLAY_NAME: "Ann Lee", SMTP_ADDRESS: "ann@corp.example", RECIPIENT_TYPE: 1},
            {DISPLAY_NAME: "Bob", EMAIL_ADDRESS: "bob@corp.example", RECIPIENT_TYPE: 2},
            {DISPLAY_NAME: "Hidden", SMTP_ADDRESS: "hidden@corp.example", RECIPIENT_TYPE: 3},
        ],
    )


def received_item() -> MsgItem:
    """Received mail: transport headers, plain and HTML bodies, a file and an attached message."""
    return MsgItem(
        {
            TRANSPORT_HEADERS: TRANSPORT,
            SUBJECT: "not used: the transport headers win",
            BODY: "Pay now: http://pay.bad.example/inv",
            HTML: '<p>Pay <a href="http://pay.bad.example/inv">now</a> \u20ac</p>'.encode(),
            INTERNET_CODEPAGE: 65001,
        },
        attachments=[
            {
                ATTACH_DATA: PDF,
                ATTACH_LONG_FILENAME: "facture_\u00e9t\u00e9.pdf",
                ATTACH_FILENAME: "FACTUR~1.PDF",
                ATTACH_MIME: "application/pdf",
            },
            {ATTACH_DATA: embedded_item(), DISPLAY_NAME: "Your mailbox is full"},
        ],
    )


# ---- the Compound File writer, checked by olefile -------------------------------------------


def test_cfb_writer_output_reads_back_in_olefile_with_valid_trees():
    tree = {
        "small": b"hello",
        "exactly-cutoff": bytes(range(256)) * 16,  # 4096 bytes: a regular stream
        "big": b"\x01\x02\x03" * 3000,
        "empty": b"",
        "storage": {f"kid{i}": bytes([i]) * (i * 97) for i in range(1, 12)},
        "deep": {"deeper": {"deepest": b"bottom"}},
    }
    data = write_cfb(tree)
    # DEFECT_INCORRECT: any structural problem olefile notices is raised, not logged
    with olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT) as ole:
        paths = ole.listdir(streams=True, storages=False)
        for path in paths:
            expected = tree
            for name in path:
                expected = expected[name]
            assert ole.openstream(path).read() == expected
        assert len(paths) == 4 + 11 + 1
        assert ole.get_type(["storage"]) == olefile.STGTY_STORAGE
        for entry in ole.direntries:
            if entry is not None and entry.sid_child != NOSTREAM:
                black_height, names = _check_red_black(ole, entry.sid_child)
                assert names == sorted(names, key=lambda n: (len(n), n.upper()))


def _check_red_black(ole, sid):
    """Black height of the subtree at ``sid`` (asserting the red-black rules) and its names."""
    if sid == NOSTREAM:
        return 1, []
    entry = ole.direntries[sid]
    left_height, left = _check_red_black(ole, entry.sid_left)
    right_height, right = _check_red_black(ole, entry.sid_right)
    assert left_height == right_height
    if entry.color == RED:
        for kid in (entry.sid_left, entry.sid_right):
            assert kid == NOSTREAM or ole.direntries[kid].color == BLACK
    return left_height + (entry.color == BLACK), [*left, entry.name, *right]


# ---- read_msg ------------------------------------------------------------------------------


def test_received_message_keeps_transport_headers_and_rebuilds_bodies_and_attachments():
    raw = read_msg(write_msg(received_item()))
    msg = parse_message(raw)
    assert msg.subject == "Invoice overdue"
    assert msg.from_address == "billing@bad.example"
    assert msg.from_name == "Pay Desk"
    assert msg.reply_to == ["collect@elsewhere.example"]
    assert msg.message_id == "<inv-1@bad.example>"
    assert msg.date == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    # the saved headers keep their folding (DKIM reads them); the old MIME headers are gone
    assert "\r\n h=from:subject; bh=abc=; b=def=" in raw.decode()
    assert b"the-old-boundary" not in raw
    assert raw.count(b"MIME-Version:") == 2  # ours, and the attached message's
    assert msg.text == "Pay now: http://pay.bad.example/inv"
    assert msg.html == '<p>Pay <a href="http://pay.bad.example/inv">now</a> \u20ac</p>'
    [pdf] = msg.attachments
    assert pdf.filename == "facture_\u00e9t\u00e9.pdf"  # the long name, not the 8.3 one
    assert pdf.content_type == "application/pdf"
    assert pdf.sha256 == hashlib.sha256(PDF).hexdigest()
    [inner] = msg.attached_messages
    assert inner.subject == "Your mailbox is full"
    # the SMTP address, not the Exchange X.500 path
    assert inner.from_address == "helpdesk@lookalike.example"
    assert inner.from_name == "IT Helpdesk"
    assert inner.to == ["ann@corp.example"]
    assert inner.cc == ["bob@corp.example"]  # and the blind copy is not shown
    assert "hidden@corp.example" not in raw.decode()
    assert inner.date == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert inner.message_id == "<full-1@lookalike.example>"
    assert "http://lookalike.example/login" in inner.text
    assert not msg.defects
    assert msg.header_values("X-Tocsin-Msg-Note") == [REBUILT_NOTE]


def test_the_same_file_always_gives_the_same_bytes():
    data = write_msg(received_item())
    assert read_msg(data) == read_msg(data)


@pytest.mark.parametrize(
    ("string8", "codepage", "subject", "name"),
    [
        (
            None,
            None,
            "\u0421\u0447\u0451\u0442 \u2116 42",
            "\u0411\u0443\u0445\u0433\u0430\u043b\u0442\u0435\u0440",
        ),
        (
            "cp1251",
            1251,
            "\u0421\u0447\u0451\u0442 \u2116 42",
            "\u0411\u0443\u0445\u0433\u0430\u043b\u0442\u0435\u0440",
        ),
        ("cp1252", 1252, "Re\u00e7u \u2013 pay\u00e9", "Fran\u00e7ois"),
        ("cp932", 932, "\u8acb\u6c42\u66f8", "\u7d4c\u7406"),
    ],
    ids=["utf16", "8bit-cp1251", "8bit-cp1252", "8bit-cp932"],
)
def test_both_string_encodings_are_read(string8, codepage, subject, name):
    item = MsgItem(
        {
            SUBJECT: subject,
            SENDER_NAME: name,
            SENDER_ADDRESS: "sender@bad.example",
            BODY: f"{subject}\nhttp://bad.example/x",
            DELIVERY_TIME: datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
        },
        recipients=[{DISPLAY_NAME: name, SMTP_ADDRESS: "ann@corp.example"}],
        string8=string8,
        codepage=codepage,
    )
    msg = parse_message(read_msg(write_msg(item)))
    assert msg.subject == subject
    assert msg.from_name == name
    assert msg.from_address == "sender@bad.example"
    assert msg.text == f"{subject}\nhttp://bad.example/x"
    assert msg.to == ["ann@corp.example"]  # recipient type absent: a To recipient
    assert msg.date == datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)  # the delivery time


def test_display_lists_stand_in_when_there_are_no_recipient_storages():
    item = MsgItem(
        {
            SUBJECT: "hello",
            REPRESENTING_ADDRESS: "boss@corp-lookalike.example",
            DISPLAY_TO: "Ann Lee; ann2@corp.example",
            DISPLAY_CC: "carl@corp.example",
            HTML: "<b>string HTML</b>",
        }
    )
    msg = parse_message(read_msg(write_msg(item)))
    assert msg.from_address == "boss@corp-lookalike.example"
    assert msg.to == ["ann2@corp.example"]  # a bare display name has no address
    assert msg.cc == ["carl@corp.example"]
    assert msg.html == "<b>string HTML</b>"
    assert msg.text == ""


def test_header_values_cannot_inject_headers():
    item = MsgItem(
        {
            SUBJECT: "hi\r\nBcc: victim@corp.example\r\n\r\nfake body",
            SENDER_NAME: "x\nReply-To: evil@bad.example",
            SENDER_SMTP: "a@bad.example",
            TRANSPORT_HEADERS: "",
        }
    )
    msg = parse_message(read_msg(write_msg(item)))
    assert msg.subject == "hi Bcc: victim@corp.example fake body"
    assert msg.header_values("Bcc") == []
    assert msg.reply_to == []
    assert msg.from_address == "a@bad.example"


def test_transport_header_lines_that_are_not_headers_are_dropped():
    headers = "Subject: ok\r\n--a boundary line\r\n\tits continuation\r\nFrom: a@b.example\r\n"
    msg = parse_message(read_msg(write_msg(MsgItem({TRANSPORT_HEADERS: headers, BODY: "x"}))))
    assert msg.subject == "ok"
    assert msg.from_address == "a@b.example"
    assert msg.text == "x"
    assert [name for name, _ in msg.headers][:2] == ["Subject", "From"]


def rtf_literals(text: bytes) -> bytes:
    """Compressed RTF (MS-OXRTFCP) made of literals only, then the end marker."""
    out = bytearray()
    position = 207  # the dictionary write position after the preloaded text
    chunks = [text[i : i + 8] for i in range(0, len(text), 8)]
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        control = 0 if not last or len(chunk) == 8 else 1 << len(chunk)
        out += bytes([control]) + chunk
        position = (position + len(chunk)) % 4096
    if not chunks or len(chunks[-1]) == 8:
        out += bytes([1])
    out += struct.pack(">H", position << 4)
    return struct.pack("<IIII", len(out) + 12, len(text), 0x75465A4C, 0) + bytes(out)


def test_compressed_rtf_references_into_the_preloaded_dictionary():
    # control 0b101: a reference (offset 0, 6 bytes: "{\rtf1"), a literal "}", the end marker
    body = bytes([0b101, 0x00, 0x04]) + b"}" + struct.pack(">H", (207 + 7) << 4)
    data = struct.pack("<IIII", len(body) + 12, 7, 0x75465A4C, 0) + body
    assert decompress_rtf(data) == b"{\\rtf1}"
    stored = struct.pack("<IIII", 12 + 5, 5, 0x414C454D, 0) + b"{\\rtf"
    assert decompress_rtf(stored) == b"{\\rtf"
    with pytest.raises(MsgError):
        decompress_rtf(struct.pack("<IIII", 12, 0, 0x12345678, 0))


def test_an_rtf_only_body_is_kept_as_an_attachment_and_said_so():
    rtf = b"{\\rtf1\\ansi Click {\\field{\\*\\fldinst HYPERLINK http://rtf.bad.example/}}}"
    item = MsgItem({SUBJECT: "rtf", SENDER_SMTP: "a@bad.example", RTF: rtf_literals(rtf)})
    msg = parse_message(read_msg(write_msg(item)))
    [body] = msg.attachments
    assert body.filename == "body.rtf"
    assert body.payload == rtf
    assert "only in RTF" in msg.header_values("X-Tocsin-Msg-Note")[1]
    # with a plain body as well, the RTF copy is ignored
    item.props[BODY] = "plain"
    msg = parse_message(read_msg(write_msg(item)))
    assert msg.text == "plain"
    assert msg.attachments == []
    assert msg.header_values("X-Tocsin-Msg-Note") == [REBUILT_NOTE]


def test_attachments_without_data_and_deep_nesting_are_left_out_and_said_so():
    item = MsgItem({SUBJECT: "level 0", BODY: "0"})
    for level in range(1, MAX_DEPTH + 3):
        item = MsgItem(
            {SUBJECT: f"level {level}", BODY: str(level)},
            attachments=[{ATTACH_DATA: item}, {ATTACH_METHOD: 2, ATTACH_LONG_FILENAME: "link.txt"}],
        )
    msg = parse_message(read_msg(write_msg(item)))
    depth = 0
    current = msg
    while current.attached_messages:
        [current] = current.attached_messages
        depth += 1
    assert depth == MAX_DEPTH
    assert "deeper than" in " ".join(current.header_values("X-Tocsin-Msg-Note"))
    assert "a link to a file" in " ".join(msg.header_values("X-Tocsin-Msg-Note"))
    assert msg.attachments == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"From: a@b.example\r\n\r\nan .eml named .msg\r\n",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,  # the signature, then nothing valid
        write_cfb({"WordDocument": b"\0" * 100}),  # a Compound File, but no Outlook item
    ],
    ids=["empty", "eml", "signature-only", "word-document"],
)
def test_what_is_not_a_msg_raises_msg_error(data):
    with pytest.raises(MsgError) as caught:
        read_msg(data)
    assert caught.value.reason


def test_truncated_and_damaged_files_raise_msg_error_and_nothing_else():
    good = write_msg(received_item())
    for cut in (512, 1024, len(good) // 2, len(good) - 512):
        with pytest.raises(MsgError):
            read_msg(good[:cut])
    rng = random.Random(6)  # noqa: S311 - fuzzing, not security
    outcomes = {"rebuilt": 0, "refused": 0}
    for _ in range(300):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 12)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            rebuilt = read_msg(bytes(damaged))
        except MsgError:
            outcomes["refused"] += 1
        else:
            assert isinstance(rebuilt, bytes)
            parse_message(rebuilt)
            outcomes["rebuilt"] += 1
    assert outcomes["rebuilt"] and outcomes["refused"]


# ---- intake --------------------------------------------------------------------------------


def test_intake_reads_msg_files_and_reports_bad_ones(tmp_path):
    good = tmp_path / "reported.msg"
    good.write_bytes(write_msg(received_item()))
    bad = tmp_path / "broken.msg"
    bad.write_bytes(write_msg(received_item())[:1500])
    found = list(read_messages([tmp_path]))
    messages = [f for f in found if isinstance(f, RawMessage)]
    issues = [f for f in found if isinstance(f, IntakeIssue)]
    assert [m.source.name for m in messages] == ["reported.msg"]
    assert messages[0].raw == read_msg(good.read_bytes())
    assert parse_message(messages[0].raw).subject == "Invoice overdue"
    [issue] = issues
    assert issue.source == bad
    assert "broken.msg" in str(issue)
    assert "not a readable Outlook .msg file" in issue.message
