"""SMTP dissector: the shared capture against tshark's export, and hand-made sessions."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from email import message_from_bytes, policy
from email.message import EmailMessage

from tocsin.pcap.proto.smtp import parse_smtp

MB = 1 << 20
GREETING = b"220 mx.example ESMTP\r\n"
EHLO_REPLY = b"250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 STARTTLS\r\n"


def mail(subject: str = "Invoice", attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.org>"
    msg["To"] = "bob@example.net, Carol <carol@example.net>"
    msg["Cc"] = "dave@example.net"
    msg["Subject"] = subject
    msg["Message-ID"] = "<1@example.org>"
    msg["Date"] = "Tue, 01 Oct 2024 10:00:00 +0200"
    msg["X-Mailer"] = "TestMailer 1.0"
    msg.set_content(".this line starts with a dot\n..and this one with two\n")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream",
                           filename="payload.exe")  # fmt: skip
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def stuff(message: bytes) -> bytes:
    """What a client sends after DATA: leading dots doubled, then the end marker."""
    lines = message.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines) + (
        b".\r\n" if message.endswith(b"\r\n") else b"\r\n.\r\n"
    )


def test_session_with_pipelining_rset_and_two_transactions():
    exe = b"MZ" + bytes(200)
    first = mail(attachment=exe)
    second = mail("=?utf-8?b?w6l0w6k=?=")
    client = (
        b"EHLO client.example\r\n"
        b"MAIL FROM:<alice@example.org> SIZE=1000\r\nRCPT TO:<bob@example.net>\r\n"
        b"RCPT TO:<nobody@example.net>\r\nDATA\r\n" + stuff(first)
        + b"MAIL FROM:<>\r\nRSET\r\n"
        + b"MAIL FROM:<x@example.org>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n" + stuff(second)
        + b"QUIT\r\n"
    )  # fmt: skip
    server = (
        GREETING + EHLO_REPLY
        + b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n354 Go ahead\r\n"
        + b"250 2.0.0 Ok: queued as AAA\r\n"
        + b"250 2.1.0 Ok\r\n250 2.0.0 Reset\r\n"
        + b"250 Ok\r\n250 Ok\r\n354 Go\r\n250 2.0.0 Ok: queued as BBB\r\n221 Bye\r\n"
    )  # fmt: skip
    parsed = parse_smtp(client, server, max_message=MB)
    assert parsed.anomalies == () and not parsed.truncated and not parsed.tls
    assert parsed.helo == "client.example"
    assert parsed.last_reply == "221 Bye"
    one, aborted, two = parsed.transactions
    assert one.fields() == {
        "smtp.helo": "client.example",
        "smtp.mail_from": "alice@example.org",
        "smtp.rcpt_to": ["bob@example.net", "nobody@example.net"],
        "smtp.tls": False,
        "smtp.reply_codes": ["250", "250", "550", "354", "250"],
        "smtp.last_reply": "250 2.0.0 Ok: queued as AAA",
        "smtp.message_bytes": len(first),
        "email.from.address": ["alice@example.org"],
        "email.to.address": ["bob@example.net", "carol@example.net"],
        "email.cc.address": ["dave@example.net"],
        "email.subject": "Invoice",
        "email.message_id": "<1@example.org>",
        "email.origination_timestamp": dt.datetime(2024, 10, 1, 8, 0, tzinfo=dt.UTC),
        "email.x_mailer": "TestMailer 1.0",
    }
    (file,) = one.files
    assert (file.name, file.mime_type, file.size, file.source, file.direction) == (
        "payload.exe", "application/x-dosexec", len(exe), "smtp", "upload"
    )  # fmt: skip
    assert file.sha256 == hashlib.sha256(exe).hexdigest()
    assert (aborted.mail_from, aborted.rcpt_to, aborted.message_bytes) == ("", (), 0)
    assert two.subject == "été"
    assert two.message_bytes == len(second)
    assert two.reply_codes == (250, 250, 354, 250)


def test_dot_unstuffing_restores_the_message():
    message = mail(attachment=b".\r\n..\r\n.x")
    client = b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + stuff(message)
    (txn,) = parse_smtp(client, b"", max_message=MB).transactions
    assert txn.message_bytes == len(message)
    assert txn.files[0].sha256 == hashlib.sha256(b".\r\n..\r\n.x").hexdigest()


def test_starttls_accepted_ends_the_clear_text_and_refused_does_not():
    client = b"EHLO c\r\nSTARTTLS\r\n\x16\x03\x01\x02\x00\x01garbage\r\nMAIL FROM:<a@b>\r\n"
    parsed = parse_smtp(client, GREETING + EHLO_REPLY + b"220 2.0.0 Ready\r\n", max_message=MB)
    assert parsed.tls and parsed.transactions == ()
    assert parsed.session_fields() == {"smtp.tls": True, "smtp.helo": "c",
                                       "smtp.last_reply": "220 2.0.0 Ready"}  # fmt: skip
    refused = parse_smtp(
        b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nQUIT\r\n",
        GREETING + EHLO_REPLY + b"454 4.7.0 TLS not available\r\n250 Ok\r\n250 Ok\r\n221 Bye\r\n",
        max_message=MB,
    )
    (txn,) = refused.transactions
    assert txn.tls is False and refused.tls is False
    assert txn.rcpt_to == ("c@d",)


def test_auth_exchange_is_skipped_and_data_refusal_has_no_message():
    client = (
        b"EHLO c\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n"
        b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nQUIT\r\n"
    )
    server = (
        GREETING + EHLO_REPLY + b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Ok\r\n"
        b"250 Ok\r\n250 Ok\r\n554 5.5.1 No valid recipients\r\n221 Bye\r\n"
    )
    parsed = parse_smtp(client, server, max_message=MB)
    assert parsed.anomalies == ()
    (txn,) = parsed.transactions
    assert txn.reply_codes == (250, 250, 554)
    assert txn.message_bytes == 0 and txn.subject is None
    assert "YWxpY2U" not in repr(parsed)  # credentials are never kept


def test_bdat_chunks_and_cut_or_capped_messages():
    message = mail(attachment=bytes(range(256)) * 4)
    half = len(message) // 2
    client = (
        b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
        + f"BDAT {half}\r\n".encode() + message[:half]
        + f"BDAT {len(message) - half} LAST\r\n".encode() + message[half:]
        + b"QUIT\r\n"
    )  # fmt: skip
    (txn,) = parse_smtp(client, b"", max_message=MB).transactions
    assert txn.message_bytes == len(message) and txn.subject == "Invoice"
    assert txn.files[0].size == 1024 and not txn.truncated
    cut = b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + stuff(message)[:-500]
    parsed = parse_smtp(cut, b"", max_message=MB)
    assert parsed.truncated and parsed.transactions[0].truncated
    assert parsed.transactions[0].subject == "Invoice"
    capped = b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + stuff(message)
    (txn,) = parse_smtp(capped, b"", max_message=300).transactions
    assert txn.truncated and txn.message_bytes == len(message)


def test_shared_capture_agrees_with_tshark(shared_data, tcp_stream, tshark_export, tshark_fields):
    path = shared_data / "pcap" / "mail_sender_attachment.pcapng"
    parsed = parse_smtp(*tcp_stream(path, 0), max_message=16 * MB)
    assert parsed.anomalies == () and not parsed.truncated
    (txn,) = parsed.transactions
    commands = tshark_fields(path, "smtp.req.command", "smtp.req.command", "smtp.req.parameter")
    params = dict(commands)
    assert txn.helo == params["EHLO"]
    assert f"FROM:<{txn.mail_from}> SIZE={txn.message_bytes}" == params["MAIL"]
    assert [f"TO:<{r}>" for r in txn.rcpt_to] == [p for c, p in commands if c == "RCPT"]
    assert txn.reply_codes == (250, 250, 354, 250)
    # tshark's IMF export is the message as sent; read its attachment independently
    (eml,) = tshark_export(path, "imf").iterdir()
    raw = eml.read_bytes()
    assert txn.message_bytes == len(raw)
    message = message_from_bytes(raw, policy=policy.default)
    assert txn.subject == message["subject"]
    (part,) = list(message.iter_attachments())
    payload = part.get_content()
    assert [(f.name, f.sha256) for f in txn.files] == [
        (part.get_filename(), hashlib.sha256(payload).hexdigest())
    ]
    assert txn.files[0].mime_type == "image/jpeg"
    assert base64.b64encode(payload)[:8] == b"/9j/4AAQ"
