"""Points per check, the verdict thresholds and the severity table of ``mail.phishing``.

As in rspamd and SpamAssassin, every check that fires adds its weight and is listed with its
evidence, so a verdict always explains itself. Weights are on one scale: a single strong sign
(a known-bad URL, an executable attachment, a lookalike of our own domain) reaches
``phishing`` alone; weak signs (a shortener, urgent wording, a mismatched Return-Path, which
bulk mailers cause all the time) only count together. Settings may override any weight and
both thresholds; the defaults were tuned on the kinds of mail in ``../shared/data/mail``
(see docs/mail.md for the figures and the misses).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from tocsin.core.event import Reason

WEIGHTS: dict[str, float] = {
    # authentication (reading the receiving server's results, or verifying locally)
    "auth.spf_fail": 2.0,
    "auth.spf_softfail": 1.0,
    "auth.dkim_fail": 1.0,
    "auth.dmarc_fail": 3.0,
    "auth.dmarc_none": 0.5,
    "auth.arc_fail": 0.5,
    "auth.unaligned": 0.5,
    "auth.none": 0.0,
    "auth.compauth_fail": 2.0,
    "auth.protected_spoof": 8.0,
    "auth.spf_none": 1.0,
    # the receiving filter's own verdict (Microsoft 365 SCL, SpamAssassin's X-Spam-Flag)
    "upstream.spam": 3.0,
    "upstream.spam_high": 4.0,
    # the block and allow lists of respond/
    "blocklist.sender": 8.0,
    "blocklist.url": 6.0,
    "blocklist.domain": 6.0,
    "blocklist.hash": 8.0,
    "allowlist.sender": -3.0,
    # the sender
    "sender.brand_impersonation": 5.0,
    "sender.vip_impersonation": 6.0,
    "sender.lookalike_domain": 6.0,
    "sender.display_name_address": 3.0,
    "sender.freemail_claims_company": 2.0,
    "sender.reply_to_mismatch": 1.0,
    "sender.reply_to_freemail": 2.5,
    "sender.return_path_mismatch": 0.3,
    "sender.first_contact": 0.5,
    "sender.malformed_from": 2.0,
    "sender.intel_match": 8.0,
    "sender.freemail_request": 1.5,
    "sender.freemail_share": 1.5,
    "sender.free_hosting": 2.0,
    # links
    "link.intel_match": 8.0,
    "link.lookalike_domain": 6.0,
    "link.text_mismatch": 3.0,
    "link.ip_literal": 3.0,
    "link.shortener": 1.5,
    "link.free_hosting": 1.5,
    "link.hosted_page": 4.0,
    "link.suspicious_tld": 1.0,
    "link.script_or_data": 2.0,
    "link.brand_elsewhere": 1.0,
    # attachments
    "attachment.intel_match": 8.0,
    "attachment.executable": 8.0,
    "attachment.type_mismatch": 5.0,
    "attachment.encrypted_archive": 3.0,
    "attachment.archive_limit": 3.0,
    "attachment.office_macro": 5.0,
    "attachment.office_external": 5.0,
    "attachment.pdf_javascript": 4.0,
    "attachment.pdf_launch": 6.0,
    "attachment.html_credential_form": 6.0,
    "attachment.html_smuggling": 6.0,
    "attachment.html": 1.5,
    "attachment.qr_code": 2.0,
    # the words
    "content.password_form": 5.0,
    "content.credential_request": 2.0,
    "content.account_threat": 1.5,
    "content.urgency": 1.0,
    "content.prize": 1.5,
    "content.payment_request": 1.5,
    "content.enable_content": 3.0,
    "content.phishing_pitch": 2.0,
    "content.spam_pitch": 1.0,
    "content.advance_fee": 2.0,
    "content.shouting": 1.0,
    "content.spam_pitch_many": 1.5,
    "content.subject_padding": 1.5,
    "content.mixed_script": 3.0,
    "content.invisible_characters": 2.5,
    "content.styled_letters": 1.5,
    # the message itself
    "message.malformed": 1.0,
    "message.budget_exceeded": 1.0,
}
"""Default points per check; unknown checks score 0 until given a weight."""


MAX_DETAILS = 3  # pieces of evidence kept when one check fired several times


class Verdict(StrEnum):
    """The three verdicts, best first."""

    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    PHISHING = "phishing"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Scores at which a message becomes suspicious, then phishing, then high severity."""

    suspicious: float = 4.0
    phishing: float = 8.0
    high: float = 15.0
    critical: float = 25.0


@dataclass(frozen=True, slots=True)
class Scored:
    """The weighted reasons of a message, their sum and what it means."""

    reasons: list[Reason]
    score: float
    verdict: Verdict
    severity: str | None
    """Sigma level of the ``mail.phishing`` alert (None when no alert is raised)."""


# one table per detector (ARCHITECTURE.md section 5): the verdict and score give the level
SEVERITY_TABLE = (
    ("phishing, score >= critical threshold (25)", "critical"),
    ("phishing, score >= high threshold (15)", "high"),
    ("phishing", "medium"),
    ("suspicious", "low (alert only when mail_alert_suspicious is on)"),
    ("clean", "no alert"),
)


def score(
    reasons: Iterable[Reason],
    *,
    weights: Mapping[str, float] | None = None,
    thresholds: Thresholds = Thresholds(),
) -> Scored:
    """Weigh each reason, sum them, and map the sum to a verdict and a severity."""
    table = WEIGHTS if weights is None else {**WEIGHTS, **weights}
    weighted = [replace(r, weight=table.get(r.check, 0.0)) for r in _merged(reasons)]
    weighted.sort(key=lambda r: -r.weight)
    total = round(sum(r.weight for r in weighted), 2)
    if total >= thresholds.phishing:
        verdict = Verdict.PHISHING
        if total >= thresholds.critical:
            severity: str | None = "critical"
        elif total >= thresholds.high:
            severity = "high"
        else:
            severity = "medium"
    elif total >= thresholds.suspicious:
        verdict, severity = Verdict.SUSPICIOUS, "low"
    else:
        verdict, severity = Verdict.CLEAN, None
    return Scored(weighted, total, verdict, severity)


def _merged(reasons: Iterable[Reason]) -> list[Reason]:
    """One reason per check, as rspamd shows one symbol: a check that fired for three files
    counts once, and its detail names the first few."""
    details: dict[str, list[str]] = {}
    for reason in reasons:
        details.setdefault(reason.check, []).append(reason.detail)
    merged = []
    for check, found in details.items():
        shown = "; ".join(found[:MAX_DETAILS])
        if len(found) > MAX_DETAILS:
            shown += f" (+{len(found) - MAX_DETAILS} more)"
        merged.append(Reason(check, shown, 0.0))
    return merged
