"""The report-mailbox job inside ``tocsin serve``: poll, analyse, store, answer, acknowledge.

Users forward suspicious mail to a report mailbox as an attachment. Every
``mail_imap_interval_seconds`` the job fetches the new reports, analyses each attached
message, stores the events and alerts, queues the answer to the reporter, and only then marks
the report as done on the server. A crash in between leaves the report unread, so the next
poll takes it again: nothing reported is lost, and the stable event ids keep the lake and the
alerts free of duplicates when that happens.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from tocsin.core.errors import InvalidInputError
from tocsin.core.event import make_event_id
from tocsin.core.settings import Settings
from tocsin.mail.analyze import MailAnalyzer
from tocsin.mail.answer import answer_channel, queue_answer, render_answer
from tocsin.mail.imap import ImapMailbox, ReportedMessage, poll_once
from tocsin.mail.policy import build_policy
from tocsin.mail.store import store_analyses
from tocsin.workspace.db import Database


@dataclass(frozen=True, slots=True)
class MailboxAddress:
    """Where the report mailbox is: ``imaps://user@host:993/INBOX``."""

    host: str
    port: int
    username: str
    folder: str
    tls: bool


def parse_mailbox_url(url: str) -> MailboxAddress:
    """Read ``imaps://user@host[:port][/folder]`` (``imap://`` only for tests on loopback)."""
    parts = urlsplit(url)
    if parts.scheme not in ("imaps", "imap") or not parts.hostname or not parts.username:
        raise InvalidInputError(
            f"mail_imap_url {url!r}: write it as imaps://user@host[:port]/folder"
        )
    if parts.password:
        raise InvalidInputError("mail_imap_url: put the password in mail_imap_password instead")
    tls = parts.scheme == "imaps"
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailboxAddress(
        parts.hostname, parts.port or (993 if tls else 143), unquote(parts.username), folder, tls
    )


def mailbox_from_settings(settings: Settings) -> ImapMailbox:
    """The report mailbox the settings name."""
    if not settings.mail_imap_url:
        raise InvalidInputError("no report mailbox: set mail_imap_url")
    address = parse_mailbox_url(settings.mail_imap_url)
    return ImapMailbox(
        address.host,
        port=address.port,
        username=address.username,
        password=settings.mail_imap_password or "",
        folder=address.folder,
        tls=address.tls,
        ca_file=settings.mail_imap_ca_file,
        processed_folder=settings.mail_imap_processed_folder,
    )


class ReportHandler:
    """What happens to one report: analyse its suspects, store them, answer the reporter."""

    def __init__(self, settings: Settings, mailbox: ImapMailbox, mailbox_name: str) -> None:
        """Build the analyzer once per job run."""
        self.settings = settings
        self.mailbox = mailbox
        self.mailbox_name = mailbox_name
        self.analyzer = MailAnalyzer(build_policy(settings).policy)
        self.db = Database(settings.workspace_url)
        self.answers = 0
        self.analysed = 0

    def __call__(self, report: ReportedMessage) -> None:
        """Handle one report; raising leaves it on the server for the next poll."""
        stored = []
        for index, raw in enumerate(report.suspects):
            # the folder's UIDVALIDITY keeps ids unique if the server ever renumbers it
            epoch = self.mailbox.uidvalidity or 0
            source = f"imap:{self.mailbox_name}/{epoch}/{report.uid}"
            analysis = self.analyzer.analyze_bytes(raw, source=source)
            event_id = make_event_id(f"mail:{source}", index)
            stored.append((analysis, event_id))
        result = store_analyses(self.settings, stored)
        self.analysed += len(stored)
        channel = answer_channel(self.db)
        if channel is None or not report.reporter:
            return
        for item in result.stored:
            msg = item.analysis.message
            body = render_answer(
                item.analysis.verdict.value,
                subject=msg.subject,
                sender=msg.from_address,
                reasons=item.analysis.scored.reasons,
                alert_id=item.alert_id,
                template_dir=self.settings.home / "templates" / "mail",
            )
            queue_answer(
                self.db, channel, report.reporter, msg.subject, body, alert_id=item.alert_id
            )
            self.answers += 1

    def close(self) -> None:
        """Release the database connections."""
        self.db.close()


class MailboxJob:
    """Poll the report mailbox every ``mail_imap_interval_seconds`` (when one is set)."""

    id: ClassVar[str] = "mail.mailbox"

    def __init__(self) -> None:
        """Built with no arguments by the scheduler."""
        self._lock = threading.Lock()

    def interval(self, settings: Settings) -> float | None:
        """Only when a report mailbox is configured."""
        if not settings.mail_imap_url:
            return None
        return settings.mail_imap_interval_seconds

    def run(self, settings: Settings) -> str:
        """One poll: fetch, handle, acknowledge what was handled."""
        with self._lock:
            mailbox = mailbox_from_settings(settings)
            address = parse_mailbox_url(settings.mail_imap_url or "")
            handler = ReportHandler(settings, mailbox, f"{address.host}/{address.folder}")
            try:
                report = poll_once(mailbox, handler)
            finally:
                handler.close()
            failed = f", {len(report.failed)} failed" if report.failed else ""
            return (
                f"{report.fetched} reports fetched, {report.handled} handled{failed}; "
                f"{handler.analysed} messages analysed, {handler.answers} answers queued"
            )
