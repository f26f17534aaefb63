"""Parsing emails: addresses, bodies, attachments, attached messages, and hostile input."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage

from tocsin.mail.message import MAX_DEPTH, MAX_PARTS, parse_message


def simple(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.get("From", '"Payroll Team" <payroll@example.com>')
    msg["To"] = headers.get("To", "Ana <ana@corp.example>, bob@corp.example")
    msg["Subject"] = headers.get("Subject", "Your salary slip")
    msg["Message-ID"] = "<abc123@example.com>"
    msg["Date"] = "Sat, 28 Nov 2026 09:15:00 +0100"
    msg["Reply-To"] = headers.get("Reply-To", "collect@evil.example")
    msg["Return-Path"] = "<bounce@mailer.example>"
    msg.set_content("Open the slip: https://evil.example/login\n")
    msg.add_alternative('<p><a href="https://evil.example/login">slip</a></p>', subtype="html")
    return msg


def test_headers_addresses_bodies_and_the_event():
    msg = simple()
    msg.add_attachment(b"%PDF-1.7 fake", maintype="application", subtype="pdf", filename="slip.pdf")
    parsed = parse_message(msg.as_bytes())
    assert parsed.message_id == "<abc123@example.com>"
    assert parsed.subject == "Your salary slip"
    assert parsed.date == datetime(2026, 11, 28, 8, 15, tzinfo=UTC)
    assert (parsed.from_name, parsed.from_address) == ("Payroll Team", "payroll@example.com")
    assert parsed.from_domain == "example.com"
    assert parsed.reply_to == ["collect@evil.example"]
    assert parsed.return_path == "bounce@mailer.example"
    assert parsed.to == ["ana@corp.example", "bob@corp.example"]
    assert "https://evil.example/login" in parsed.text
    assert 'href="https://evil.example/login"' in parsed.html
    [pdf] = parsed.attachments
    assert (pdf.filename, pdf.content_type, pdf.size) == ("slip.pdf", "application/pdf", 13)
    assert pdf.sha256 == hashlib.sha256(b"%PDF-1.7 fake").hexdigest()
    assert parsed.defects == []
    event = parsed.to_event()
    assert event["event.dataset"] == "mail.message"
    assert event["email.from.address"] == ["payroll@example.com"]
    assert event["email.reply_to.address"] == ["collect@evil.example"]
    assert event["email.attachments"] == [
        {
            "file.name": "slip.pdf",
            "file.mime_type": "application/pdf",
            "file.size": 13,
            "file.hash.sha256": pdf.sha256,
        }
    ]
    assert "payload" not in str(event)


def test_a_forwarded_report_carries_the_suspicious_message_inside():
    suspicious = simple(Subject="Reset your password")
    report = EmailMessage()
    report["From"] = "ana@corp.example"
    report["To"] = "phishing@corp.example"
    report["Subject"] = "FW: is this real?"
    report.set_content("Looks odd to me.")
    report.add_attachment(suspicious)
    parsed = parse_message(report.as_bytes())
    [inner] = parsed.attached_messages
    assert inner.subject == "Reset your password"
    assert inner.from_address == "payroll@example.com"
    assert "evil.example/login" in inner.text


def test_a_wrong_charset_is_a_defect_and_the_text_still_reads():
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 cr\xe8me\r\n"
    )
    parsed = parse_message(raw)
    assert "Caf\u00e9 cr\u00e8me" in parsed.text
    assert any("charset" in d for d in parsed.defects)


def test_an_unknown_charset_falls_back_without_crashing():
    raw = (
        b"From: a@example.com\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nhello\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.text.strip() == "hello"
    assert any("x-no-such-charset" in d for d in parsed.defects)


def test_garbage_headers_and_a_truncated_multipart_give_a_message_not_an_error():
    raw = (
        b"From: =?utf-8?q?broken\r\nTo: <<<>>>\r\nDate: not a date\r\nSubject: \xff\xfe\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
        b"Content-Type: text/plain\r\n\r\nhalf a messa"
    )
    parsed = parse_message(raw)
    assert parsed.date is None
    assert "half a messa" in parsed.text
    assert parsed.defects  # the missing closing boundary, at least


def test_deep_nesting_and_too_many_parts_are_cut_and_counted():
    inner = b"Content-Type: text/plain\r\n\r\ndeepest\r\n"
    for level in range(MAX_DEPTH + 5):
        boundary = f"b{level}".encode()
        inner = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
            + inner
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    parsed = parse_message(b"From: a@example.com\r\nSubject: deep\r\n" + inner)
    assert "deepest" not in parsed.text
    assert any("nested deeper" in d for d in parsed.defects)

    many = EmailMessage()
    many["From"] = "a@example.com"
    many.set_content("body")
    for i in range(MAX_PARTS + 20):
        many.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"{i}")
    wide = parse_message(many.as_bytes())
    assert len(wide.attachments) < MAX_PARTS
    assert any(f"more than {MAX_PARTS}" in d for d in wide.defects)
