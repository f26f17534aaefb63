"""The demo's mail: the phishing campaign that opened the intrusion, and an ordinary inbox.

Three people at Example Corp got the same "overdue invoice" from the lookalike domain
``corp-examp1e.com`` minutes before j.doe opened its macro-laden attachment (step 1 of the
story); around them sit the colleagues' and suppliers' messages of an ordinary day. Written as
.eml files, the way a mail export or a report mailbox hands them over; the demo analyses and
stores them as ``tocsin mail analyze --store`` does, so the queue shows the phishing alert and
"find the campaign" finds all three recipients.
"""

from __future__ import annotations

import io
import random
import zipfile
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from tocsin.demo.common import ATTACKER_IP, DOMAIN, LOOKALIKE_DOMAIN, VICTIM_USER

ATTACHMENT = "Invoice_2024-1187.docm"
CAMPAIGN_SUBJECT = "Invoice 2024-1187 overdue - action required"
CAMPAIGN_TARGETS = (VICTIM_USER, "m.lee", "a.khan")
_FIXED = (2024, 1, 1, 0, 0, 0)
_SUPPLIER = "northwind.example"


def invoice_document() -> bytes:
    """A Word macro document in outline: the parts that say "this file carries VBA"."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as doc:
        for name, body in (
            (
                "[Content_Types].xml",
                '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/'
                '2006/content-types"><Override PartName="/word/vbaProject.bin" ContentType='
                '"application/vnd.ms-office.vbaProject"/></Types>',
            ),
            ("word/document.xml", "<w:document><w:body>Enable editing to view the invoice."),
            # an OLE header and the start of a VBA project stream, as Word writes them
            ("word/vbaProject.bin", "\u00d0\u00cf\u0011\u00e0 Attribute VB_Name = AutoOpen"),
        ):
            info = zipfile.ZipInfo(name, date_time=_FIXED)
            doc.writestr(info, body.encode("latin-1") if name.endswith(".bin") else body)
    return buffer.getvalue()


def _message(
    when: datetime,
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    auth: str,
    relay_ip: str,
    html: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    domain = sender.rsplit("@", 1)[1].rstrip(">")
    msg["Received"] = (
        f"from mail.{domain} (mail.{domain} [{relay_ip}]) by mx1.{DOMAIN} with ESMTPS; "
        f"{format_datetime(when)}"
    )
    msg["Authentication-Results"] = f"mx1.{DOMAIN}; {auth}"
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=domain.split(" ")[0])
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def build_mail(anchor: datetime, seed: int = 7) -> list[tuple[str, bytes]]:
    """Every demo message as ``(file name, bytes)``, the campaign first."""
    rng = random.Random(seed)  # noqa: S311 - reproducible fake mail, not a secret
    out: list[tuple[str, bytes]] = []
    document = invoice_document()
    for index, user in enumerate(CAMPAIGN_TARGETS):
        when = anchor - timedelta(minutes=9 - 2 * index, seconds=rng.randint(0, 50))
        msg = _message(
            when,
            f"Accounts Payable <billing@{LOOKALIKE_DOMAIN}>",
            f"{user}@{DOMAIN}",
            CAMPAIGN_SUBJECT,
            "Hello,\n\nOur records show invoice 2024-1187 is overdue. Your account will be "
            "suspended within 24 hours unless payment is confirmed.\nPlease open the attached "
            "invoice and enable editing to view it.\n\nAccounts Payable\n",
            auth=f"spf=pass smtp.mailfrom={LOOKALIKE_DOMAIN}; dkim=none; "
            f"dmarc=none header.from={LOOKALIKE_DOMAIN}",
            relay_ip=ATTACKER_IP,
        )
        msg.add_attachment(
            document,
            maintype="application",
            subtype="vnd.ms-word.document.macroEnabled.12",
            filename=ATTACHMENT,
        )
        out.append((f"campaign-{index + 1}-{user}.eml", msg.as_bytes()))

    ordinary = [
        (f"s.patel@{DOMAIN}", "Team lunch on Friday", "Hi all,\n\nLunch at 12:30 on Friday?\n"),
        (f"it-helpdesk@{DOMAIN}", "Planned maintenance tonight",
         "The file server will restart at 22:00 for updates.\n"),
        (f"hr@{DOMAIN}", "Holiday calendar", "The holiday calendar for next year is attached "
         "to the intranet page.\n"),
        (f"billing@{_SUPPLIER}", "Northwind order 5531 shipped",
         "Your order 5531 left our warehouse today. Tracking is on the supplier portal.\n"),
        (f"m.lee@{DOMAIN}", "Re: Q3 report", "Thanks, I added the figures for September.\n"),
    ]  # fmt: skip
    for index, (sender, subject, body) in enumerate(ordinary):
        when = anchor - timedelta(hours=rng.uniform(0.5, 6))
        domain = sender.rsplit("@", 1)[1]
        msg = _message(
            when,
            sender,
            f"{VICTIM_USER}@{DOMAIN}",
            subject,
            body,
            auth=f"spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; "
            f"dmarc=pass header.from={domain}",
            relay_ip="10.10.10.25" if domain == DOMAIN else "192.0.2.44",
        )
        out.append((f"inbox-{index + 1}.eml", msg.as_bytes()))
    return out


def write_mail(folder: Path, anchor: datetime, seed: int = 7) -> list[Path]:
    """Write the demo messages under ``folder``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in build_mail(anchor, seed):
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths
