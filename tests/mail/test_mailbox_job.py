"""The report-mailbox job end to end: a real IMAPS session (tests/mail/imap_server.py), the
real analyzer, a real lake and workspace, the reporter's answer in the outbox."""

from __future__ import annotations

import pytest

from tests.ingest.pki import make_pki
from tests.mail import corpus
from tests.mail.imap_server import ImapTestServer, MailStore, tls_server_context
from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import Settings
from tocsin.lake.reader import LakeReader
from tocsin.mail.jobs import MailboxJob, parse_mailbox_url
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace
from tocsin.workspace.tables import Notification

pytestmark = pytest.mark.network

USER = "phish-report@corp.example"
PASSWORD = "report box pass"  # noqa: S105 - the test server's


def forwarded(suspect: bytes) -> bytes:
    """A user's report with the suspect attached as message/rfc822."""
    return (
        b"From: Jane Doe <j.doe@corp.example>\r\n"
        b"To: phish-report@corp.example\r\n"
        b"Subject: Fwd: is this real?\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nLooks odd to me.\r\n"
        b"--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
        + suspect.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        + b"\r\n--b1--\r\n"
    )


@pytest.fixture
def mailbox_home(tmp_path):
    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    store = MailStore()
    context = tls_server_context(pki["server_cert"], pki["server_key"])
    with ImapTestServer(store, username=USER, password=PASSWORD, context=context) as server:
        settings = Settings(
            home=tmp_path / "home",
            mail_imap_url=f"imaps://{USER.replace('@', '%40')}@127.0.0.1:{server.port}/INBOX",
            mail_imap_password=PASSWORD,
            mail_imap_ca_file=pki["ca_cert"],
            mail_imap_processed_folder="Done",
        )
        workspace = Workspace.open(settings)
        workspace.channels.create_channel(
            Principal.local(),
            "outbound",
            "email",
            {"host": "127.0.0.1", "port": 2525, "from_address": "soc@corp.example"},
        )
        yield settings, workspace, store
        workspace.close()


def test_a_report_is_analysed_stored_answered_and_then_moved(mailbox_home):
    settings, workspace, store = mailbox_home
    store.add(forwarded(corpus.brand_phish()))
    store.add(forwarded(corpus.internal()))
    job = MailboxJob()
    assert job.interval(settings) == settings.mail_imap_interval_seconds
    summary = job.run(settings)
    assert "2 reports fetched, 2 handled" in summary
    # the suspects (not the reports) are in the lake, with their verdicts
    reader = LakeReader(settings.lake_dir)
    verdicts = sorted(
        str(e["tocsin.mail.verdict"])
        for e in reader.search("event.dataset:mail.message", limit=10).events
    )
    assert verdicts == ["clean", "phishing"]
    alerts = workspace.alerts.list(Principal.local(), limit=10).items
    assert [a.rule_id for a in alerts] == ["mail.phishing"]
    # the reporter heard back about each message
    with workspace.db.session() as session:
        notes = session.query(Notification).filter_by(event="mail.report_answer").all()
        assert len(notes) == 2 and all(n.recipients == ["j.doe@corp.example"] for n in notes)
        bodies = [n.payload["body"] for n in notes]
    assert sum("PHISHING" in b for b in bodies) == 1
    assert sum("looks safe" in b for b in bodies) == 1
    # only then were the reports moved out of the inbox
    assert store.messages() == [] and len(store.messages("Done")) == 2
    # a second poll finds nothing new and changes nothing
    assert "0 reports fetched" in job.run(settings)
    assert reader.count("event.dataset:mail.message") == 2


def test_no_mailbox_no_job_and_bad_urls_are_clear():
    assert MailboxJob().interval(Settings()) is None
    with pytest.raises(InvalidInputError, match="imaps://user@host"):
        parse_mailbox_url("https://mail.example/")
    with pytest.raises(InvalidInputError, match="mail_imap_password"):
        parse_mailbox_url("imaps://u:secret@mail.example/")
    address = parse_mailbox_url("imaps://phish%40corp.example@mail.example/Reports/Phish")
    assert (address.username, address.port, address.folder) == (
        "phish@corp.example",
        993,
        "Reports/Phish",
    )
