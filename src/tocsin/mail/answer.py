"""The answer a reporter gets: what we found in the mail they reported, and what to do now.

People report phishing when reporting is rewarded with an answer. The answer is a plain-text
template per verdict (``templates/answer_<verdict>.txt``, overridable in
``<home>/templates/mail/``), rendered with the subject, the sender and the top reasons in
words a non-specialist reads, and queued in the notification outbox on an e-mail channel, so
it is delivered, retried and audited like every other notification.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from sqlalchemy import select

from tocsin.core.errors import InvalidInputError
from tocsin.core.event import Reason
from tocsin.workspace.db import Database
from tocsin.workspace.tables import Notification, NotificationChannel

EVENT = "mail.report_answer"
_BUILTIN = Path(__file__).parent / "templates"

# what each kind of check means, in the reporter's words
_PLAIN: dict[str, str] = {
    "auth": "the sender's address could not be verified as genuine",
    "sender.brand_impersonation": "the sender pretends to be a company it is not",
    "sender.vip_impersonation": "the sender pretends to be someone from our organisation",
    "sender.lookalike_domain": "the sender's address imitates a real company's address",
    "sender.display_name_address": "the sender's name shows one address but the mail comes "
    "from another",
    "sender.reply_to_freemail": "answers would go to a private webmail address",
    "link.intel_match": "a link goes to a site already known to be malicious",
    "link.lookalike_domain": "a link goes to a site imitating a real company's site",
    "link.text_mismatch": "a link shows one address but goes to another",
    "link.ip_literal": "a link goes to a bare server address instead of a named site",
    "link.shortener": "a link hides its destination behind a link shortener",
    "attachment": "an attachment is dangerous or disguised",
    "content.password_form": "the mail asks for a password directly",
    "content.credential_request": "the mail asks you to sign in or confirm account details",
    "content.account_threat": "the mail threatens to close or block an account",
    "content.mixed_script": "the text uses look-alike letters to dodge filters",
}


def plain_reasons(reasons: Sequence[Reason], limit: int = 3) -> list[str]:
    """The top weighted reasons, each said once, in plain words."""
    said: list[str] = []
    for reason in reasons:
        if reason.weight <= 0:
            continue
        text = _PLAIN.get(reason.check) or _PLAIN.get(reason.check.split(".", 1)[0])
        if text and text not in said:
            said.append(text)
        if len(said) >= limit:
            break
    return said


def render_answer(
    verdict: str,
    *,
    subject: str,
    sender: str | None,
    reasons: Sequence[Reason],
    alert_id: int | None = None,
    blocked: Sequence[str] = (),
    template_dir: Path | None = None,
) -> str:
    """The answer's text for one verdict (a home template wins over the built-in one)."""
    folders = [str(template_dir)] if template_dir and template_dir.is_dir() else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(_BUILTIN)]),
        autoescape=False,  # noqa: S701 - plain text for a mail body, never HTML
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    name = f"answer_{verdict}.txt"
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        raise InvalidInputError(f"no answer template for verdict {verdict!r}") from None
    return template.render(
        subject=subject.strip() or "(no subject)",
        sender=sender,
        reasons=plain_reasons(reasons),
        alert_id=alert_id,
        blocked=list(blocked),
    )


def answer_channel(db: Database, name: str | None = None) -> int | None:
    """The e-mail channel answers go out on: the named one, else the first enabled one."""
    with db.session() as session:
        query = select(NotificationChannel.id).where(
            NotificationChannel.kind == "email", NotificationChannel.enabled.is_(True)
        )
        if name:
            query = query.where(NotificationChannel.name == name)
        return session.scalars(query.order_by(NotificationChannel.id).limit(1)).first()


def queue_answer(
    db: Database,
    channel_id: int,
    reporter: str,
    subject: str,
    body: str,
    *,
    alert_id: int | None = None,
) -> int:
    """Put the answer in the outbox for the delivery job; returns the notification id."""
    now = datetime.now(UTC)
    with db.session() as session:
        row = Notification(
            channel_id=channel_id,
            event=EVENT,
            subject=f"Re: {subject.strip() or '(no subject)'}"[:500],
            payload={"body": body, "alert_id": alert_id, "reporter": reporter},
            recipients=[reporter],
            status="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        session.add(row)
        session.flush()
        return int(row.id)
