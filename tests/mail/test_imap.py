"""The report mailbox: real imaplib against the test IMAP server (tests/mail/imap_server.py)."""

from __future__ import annotations

import base64
import random
import socket
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from tests.ingest.pki import make_pki
from tests.mail.cfb_writer import MsgItem, write_msg
from tests.mail.imap_server import ImapTestServer, MailStore, tls_server_context
from tocsin.mail.imap import (
    ImapError,
    ImapMailbox,
    ReportedMessage,
    extract_reported,
    poll_once,
    read_report,
)
from tocsin.mail.message import parse_message
from tocsin.mail.msg import read_msg

pytestmark = pytest.mark.network

USER = "phish-report@corp.example"
PASSWORD = 'S3cret"pa\\ss'  # a quote and a backslash: imaplib quotes it, the server echoes it

# a phish as it arrived, with a folded DKIM header and CRLF line ends: cut out byte for byte
PHISH = (
    b"DKIM-Signature: v=1; a=rsa-sha256; d=bad.example; s=s1; c=simple/simple;\r\n"
    b"\th=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n"
    b"From: Pay Desk <billing@bad.example>\r\n"
    b"To: ann@corp.example\r\n"
    b"Subject: Invoice overdue\r\n"
    b"Message-ID: <inv-1@bad.example>\r\n"
    b"\r\n"
    b"Pay now at http://pay.bad.example/inv\r\n"
    b"From the desk of billing\r\n"
)


def report(body: str, *, attach: bytes | None = None, how: str = "rfc822") -> bytes:
    """A user's report: a note, and the suspect forwarded as an attachment (or not)."""
    head = (
        b"From: Ann Lee <Ann@Corp.Example>\r\n"
        b"To: phish-report@corp.example\r\n"
        b"Subject: Fwd: suspicious\r\n"
        b"Date: Tue, 3 Mar 2026 09:00:00 +0000\r\n"
        b"MIME-Version: 1.0\r\n"
    )
    note = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.encode() + b"\r\n"
    if attach is None:
        return head + note
    if how == "rfc822":
        part = b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
        part += attach
    else:
        ctype, name = {
            "eml": (b"application/octet-stream", b"Invoice.EML"),
            "msg": (b"application/vnd.ms-outlook", b"phish.msg"),
        }[how]
        part = b"Content-Type: " + ctype + b'; name="' + name + b'"\r\n'
        part += b'Content-Disposition: attachment; filename="' + name + b'"\r\n'
        part += b"Content-Transfer-Encoding: base64\r\n\r\n"
        part += base64.encodebytes(attach).replace(b"\n", b"\r\n")
    return (
        head
        + b'Content-Type: multipart/mixed; boundary="rep-1"\r\n\r\n'
        + b"--rep-1\r\n"
        + note
        + b"--rep-1\r\n"
        + part
        + b"\r\n--rep-1--\r\n"
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("imap-pki"))


@pytest.fixture
def store():
    return MailStore()


def serve(store, pki, **options):
    context = tls_server_context(pki["server_cert"], pki["server_key"])
    return ImapTestServer(store, username=USER, password=PASSWORD, context=context, **options)


def mailbox(server, pki, **options):
    options.setdefault("ca_file", pki["ca_cert"])
    return ImapMailbox(
        "127.0.0.1", server.port, username=USER, password=PASSWORD, timeout=10, **options
    )


# ---- reading a report ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["rfc822", "eml"])
def test_the_suspect_is_the_attached_message_byte_for_byte(how):
    raw = report("Looks like phishing to me.", attach=PHISH, how=how)
    suspects = extract_reported(raw)
    assert suspects == [PHISH]


def test_a_msg_attachment_is_rebuilt_as_rfc822():
    msg_file = write_msg(
        MsgItem({0x0037: "Outlook phish", 0x5D01: "evil@bad.example", 0x1000: "click"})
    )
    [suspect] = extract_reported(report("see attached", attach=msg_file, how="msg"))
    assert suspect == read_msg(msg_file)
    assert parse_message(suspect).subject == "Outlook phish"


def test_an_inline_forward_is_its_own_suspect_and_other_attachments_are_not_suspects():
    msg = EmailMessage()
    msg["From"] = "ann@corp.example"
    msg["Subject"] = "Fwd: Invoice overdue"
    msg.set_content("---------- Forwarded message ---------\nPay at http://pay.bad.example/inv\n")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="inv.pdf")
    raw = msg.as_bytes()
    assert extract_reported(raw) == [raw]
    # a broken .msg attachment does not stop the report from being analysed
    msg.add_attachment(b"not ole", maintype="application", subtype="octet-stream", filename="x.msg")
    assert extract_reported(msg.as_bytes()) == [msg.as_bytes()]


def test_several_attached_messages_in_nested_multiparts_are_all_found():
    second = PHISH.replace(b"Invoice overdue", b"Second notice")
    boundary_a, boundary_b = b"==a==", b"==a==b"  # one boundary is a prefix of the other
    raw = (
        b"From: ann@corp.example\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="' + boundary_a + b'"\r\n\r\npreamble\r\n'
        b"--" + boundary_a + b"\r\nContent-Type: text/plain\r\n\r\nnote\r\n"
        b"--" + boundary_a + b"\r\n"
        b'Content-Type: multipart/mixed; boundary="' + boundary_b + b'"\r\n\r\n'
        b"--" + boundary_b + b"\r\nContent-Type: message/rfc822\r\n\r\n" + PHISH + b"\r\n"
        b"--" + boundary_b + b"\r\nContent-Type: message/rfc822\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(second).replace(b"\n", b"\r\n")
        + b"\r\n--"
        + boundary_b
        + b"--\r\n"
        b"\r\n--" + boundary_a + b"--\r\nepilogue\r\n"
    )
    assert extract_reported(raw) == [PHISH, second]


def test_damaged_reports_never_raise():
    good = report("phish?", attach=PHISH)
    rng = random.Random(6)  # noqa: S311 - fuzzing, not security
    for _ in range(300):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 20)):
            damaged[rng.randrange(len(damaged))] = rng.choice(b'\r\n-="; :ab\x00\xff')
        suspects = extract_reported(bytes(damaged))
        assert suspects and all(isinstance(s, bytes) for s in suspects)
    assert extract_reported(b"") == [b""]


def test_read_report_names_the_reporter_and_the_time():
    raw = report("phish?", attach=PHISH)
    reported = read_report(7, raw)
    assert reported.uid == 7
    assert reported.reporter == "ann@corp.example"
    assert reported.reported_at == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert reported.suspects == [PHISH]
    assert "Pay now" not in repr(reported)  # no mail content in logs


# ---- the mailbox over IMAPS ----------------------------------------------------------------


def test_fetch_new_reads_reports_without_marking_them_read(store, pki):
    when = datetime(2026, 3, 3, 9, 5, 7, tzinfo=UTC)
    first = store.add(report("first", attach=PHISH), internaldate=when)
    store.add(report("already done", attach=PHISH), flags={"\\Seen"})
    inline = store.add(report("inline forward, no attachment"))
    with serve(store, pki) as server, mailbox(server, pki) as box:
        found = box.fetch_new()
        assert [r.uid for r in found] == [first, inline]
        assert found[0].reporter == "ann@corp.example"
        assert found[0].reported_at == when  # the server's arrival time
        assert found[0].suspects == [PHISH]
        assert found[1].suspects == [found[1].raw_report]
        assert parse_message(found[1].suspects[0]).subject == "Fwd: suspicious"
        assert box.uidvalidity == 1  # what the test server announces on SELECT
        assert store.flags(first) == set()  # BODY.PEEK[]: still unread
        assert any("BODY.PEEK[]" in line for line in server.log)
        assert not any("BODY[]" in line.replace("PEEK", "") for line in server.log)
        assert [r.uid for r in box.fetch_new(limit=1)] == [first]


def test_acknowledge_marks_read_or_moves(store, pki):
    uid = store.add(report("a", attach=PHISH))
    with serve(store, pki) as server, mailbox(server, pki) as box:
        box.fetch_new()
        box.acknowledge(uid)
        assert store.flags(uid) == {"\\Seen"}
        assert box.fetch_new() == []
    moved = store.add(report("b", attach=PHISH))
    with serve(store, pki) as server, mailbox(server, pki, processed_folder="Done \u2713") as box:
        box.acknowledge(moved)
        assert store.flags(moved) is None  # gone from the inbox
        # the folder did not exist: created on TRYCREATE, named in modified UTF-7
        [done] = store.messages("Done &JxM-")
        assert done.flags == {"\\Seen"}
        assert any(line.startswith("UID MOVE") for line in server.log)


def test_without_move_acknowledge_copies_flags_and_expunges_only_that_report(store, pki):
    uid = store.add(report("a", attach=PHISH))
    other = store.add(report("b", attach=PHISH), flags={"\\Deleted"})
    store.create("Done")
    options = {"capabilities": ("UIDPLUS",)}
    with (
        serve(store, pki, **options) as server,
        mailbox(server, pki, processed_folder="Done") as box,
    ):
        box.acknowledge(uid)
        assert store.flags(uid) is None
        assert [m.flags for m in store.messages("Done")] == [{"\\Seen"}]
        assert store.flags(other) == {"\\Deleted"}  # UID EXPUNGE left another client's flag
        assert not any(line.startswith("UID MOVE") for line in server.log)
    options = {"capabilities": ()}
    with (
        serve(store, pki, **options) as server,
        mailbox(server, pki, processed_folder="Done") as box,
    ):
        box.acknowledge(other)
        assert store.messages() == []  # plain EXPUNGE
        assert len(store.messages("Done")) == 2


def test_poll_once_acknowledges_only_what_was_handled(store, pki):
    good = store.add(report("good", attach=PHISH))
    bad = store.add(report("this one breaks the handler", attach=PHISH))
    seen: list[ReportedMessage] = []

    def handle(reported):
        if b"breaks the handler" in reported.raw_report:
            raise RuntimeError("the store is down")
        seen.append(reported)

    with serve(store, pki) as server:
        result = poll_once(mailbox(server, pki), handle)
        assert (result.fetched, result.handled) == (2, 1)
        assert result.failed == [(bad, "RuntimeError: the store is down")]
        assert [r.uid for r in seen] == [good]
        assert store.flags(good) == {"\\Seen"}
        assert store.flags(bad) == set()  # left for the next poll
        again = poll_once(mailbox(server, pki), seen.append)
        assert (again.fetched, again.handled, again.failed) == (1, 1, [])
        assert [r.uid for r in seen] == [good, bad]
        assert store.flags(bad) == {"\\Seen"}
        assert server.log[-1] == "LOGOUT"  # poll_once closes the connection


def test_a_wrong_password_is_an_imap_error_without_the_password(store, pki):
    with serve(store, pki) as server:
        box = ImapMailbox(
            "127.0.0.1",
            server.port,
            username=USER,
            password=PASSWORD + "-wrong",
            ca_file=pki["ca_cert"],
            timeout=10,
        )
        with pytest.raises(ImapError) as caught:
            box.fetch_new()
    text = str(caught.value)
    assert "login" in text and "AUTHENTICATIONFAILED" in text
    # the server repeated it; neither the password nor its quoted form reaches the message
    assert "S3cret" not in text and "pa\\ss" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "S3cret" not in repr(box)


def test_an_untrusted_certificate_is_refused(store, pki):
    with serve(store, pki) as server:
        with pytest.raises(ImapError) as caught:
            mailbox(server, pki, ca_file=None).fetch_new()  # the system CAs do not know ours
        assert "not trusted" in str(caught.value) and "ca_file" in str(caught.value)
        assert store.messages() == []
        assert not any(line for line in server.log if "LOGIN" in line)  # no password sent
        # verify=False is for a lab server whose certificate nobody signed
        store.add(report("x", attach=PHISH))
        with mailbox(server, pki, ca_file=None, verify=False) as box:
            assert len(box.fetch_new()) == 1


def test_connection_refused_and_silence_are_imap_errors():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    box = ImapMailbox("127.0.0.1", closed_port, username=USER, password=PASSWORD, timeout=5)
    with pytest.raises(ImapError, match="refused the connection"):
        box.fetch_new()
    # a listener that never answers: the TLS handshake waits out the timeout
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        box = ImapMailbox(
            "127.0.0.1", silent.getsockname()[1], username=USER, password=PASSWORD, timeout=0.3
        )
        with pytest.raises(ImapError, match="did not answer"):
            box.fetch_new()


def test_plain_imap_is_only_for_loopback(store):
    with pytest.raises(ImapError, match="in clear"):
        ImapMailbox("mail.corp.example", 143, username=USER, password=PASSWORD, tls=False)
    store.add(report("x", attach=PHISH))
    with ImapTestServer(store, username=USER, password=PASSWORD, context=None) as server:
        box = ImapMailbox("127.0.0.1", server.port, username=USER, password=PASSWORD, tls=False)
        assert poll_once(box, lambda _r: None).handled == 1


def test_an_oversized_report_is_not_downloaded_and_stays_unread(store, pki):
    big = store.add(report("x" * 2000, attach=PHISH))
    small = store.add(b"From: ann@corp.example\r\nSubject: short\r\n\r\nhi\r\n")
    with serve(store, pki) as server:
        result = poll_once(mailbox(server, pki, max_bytes=1000), lambda _r: None)
        size = len(store.messages()[0].raw)
        assert result.handled == 1
        assert result.failed == [(big, f"report of {size:,} bytes is over the 1,000 limit")]
        assert store.flags(big) == set() and store.flags(small) == {"\\Seen"}
        assert not any(line.startswith(f"UID FETCH {big} (UID BODY") for line in server.log)
