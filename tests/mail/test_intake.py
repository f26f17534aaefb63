"""Reading .eml files, folders and mbox files, with problems reported and the rest kept."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage

from tocsin.mail.intake import IntakeIssue, RawMessage, read_messages
from tocsin.mail.message import parse_message


def message(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = "b@example.com"
    msg["Subject"] = subject
    msg.set_content(f"body of {subject}\nFrom the start of a line\n")
    return msg.as_bytes()


def test_eml_files_folders_and_mbox_in_order_with_stable_ids(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "1.eml").write_bytes(message("first"))
    (folder / "2.eml").write_bytes(message("second"))
    box = tmp_path / "inbox.mbox"
    writer = mailbox.mbox(box)  # escapes body lines that start with "From "
    for subject in ("third", "fourth"):
        writer.add(message(subject))
    writer.close()
    found = list(read_messages([folder, box]))
    assert all(isinstance(m, RawMessage) for m in found)
    subjects = [parse_message(m.raw).subject for m in found]
    assert subjects == ["first", "second", "third", "fourth"]
    assert [m.position for m in found] == [0, 0, 0, 1]
    ids = [m.event_id for m in found]
    assert len(set(ids)) == 4
    assert ids == [m.event_id for m in read_messages([folder, box])]
    # the mbox escaping of "From " lines inside a body is undone
    assert "From the start of a line" in parse_message(found[2].raw).text


def test_problems_are_reported_and_the_rest_goes_through(tmp_path):
    good = tmp_path / "good.eml"
    good.write_bytes(message("kept"))
    outlook = tmp_path / "report.msg"
    outlook.write_bytes(b"\xd0\xcf\x11\xe0")
    found = list(read_messages([tmp_path / "missing.eml", outlook, good]))
    issues = [f for f in found if isinstance(f, IntakeIssue)]
    messages = [f for f in found if isinstance(f, RawMessage)]
    assert [parse_message(m.raw).subject for m in messages] == ["kept"]
    assert any("missing.eml" in str(i) for i in issues)
    assert any(".msg" in i.message for i in issues)


def test_every_message_of_the_shared_corpus_parses(shared_data):
    found = list(read_messages([shared_data / "mail"]))
    messages = [m for m in found if isinstance(m, RawMessage)]
    assert len(messages) >= 90
    parsed = [parse_message(m.raw) for m in messages]
    # real mail: nearly every message names its sender and has a body or an attachment
    assert sum(1 for p in parsed if p.from_address) >= 0.95 * len(parsed)
    assert all(p.text or p.html or p.attachments or p.attached_messages for p in parsed)
