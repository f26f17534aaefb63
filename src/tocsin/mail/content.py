"""What the words of a message give away: credential prompts, pressure, prizes, payment requests,
and text dressed up to slip past filters (mixed scripts, invisible characters, styled letters).

Phrases are matched in one pass of an Aho-Corasick automaton over the case-folded subject and
text, whatever their number; the lists are written here, short and in the languages phishing
in our corpora uses most (English first, then Portuguese, Spanish, German, French, Dutch).
Each group is one reason however many of its phrases appear, so a long newsletter does not
add up points by repetition.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import ahocorasick_rs

from tocsin.core.event import Reason

MANY_PITCHES = 2
_PADDED = re.compile(r"\s{6,}\S*\d\S*\s*$")
MIN_SHOUT = 10
SHOUT_SHARE = 0.7
MAX_TEXT = 20_000  # characters of the body read: the pitch is at the top

_GROUPS: dict[str, tuple[str, ...]] = {
    "content.credential_request": (
        "verify your account",
        "verify your identity",
        "confirm your identity",
        "confirm your account",
        "update your account",
        "validate your account",
        "update your password",
        "reset your password",
        "confirm your password",
        "password expires",
        "password will expire",
        "mailbox is full",
        "mailbox quota",
        "storage is full",
        "storage limit",
        "sign in to your account",
        "log in to your account",
        "login to your account",
        "unusual sign-in",
        "unusual signin",
        "unusual activity",
        "suspicious activity",
        "someone tried to log",
        "unauthorized access",
        "re-activate your account",
        "reactivate your account",
        "unlock your account",
        "update your payment",
        "update your billing",
        "billing information",
        "payment information",
        "payment details",
        "payment failed",
        "payment was declined",
        "verify your email",
        "confirm your email",
        "keep your account",
        "restore your account",
        "account verification",
        "verification required",
        "security alert",
        "security check",
        "shared a document with you",
        "shared a file with you",
        "view the document",
        "review the document",
        "sign the document",
        "docusign",
        "voicemail",
        "you have a new voice message",
        "atualize seus dados",
        "confirme seus dados",
        "acesso indevido",
        "verifique sua conta",
        "verifique su cuenta",
        "actualice sus datos",
        "konto verifizieren",
        "bestätigen sie",
        "vérifiez votre compte",
        "verifieer uw account",
    ),
    "content.account_threat": (
        "account has been suspended",
        "account will be suspended",
        "account suspended",
        "account has been locked",
        "account is locked",
        "account will be closed",
        "account has been limited",
        "account limited",
        "will be deleted",
        "will be deactivated",
        "will be terminated",
        "will be blocked",
        "has been disabled",
        "service interruption",
        "lose access",
        "permanently deleted",
        "temporarily suspended",
        "suspension",
        "suspensão",
        "bloqueio",
        "bloqueado",
        "suspendida",
        "gesperrt",
        "suspendu",
        "geblokkeerd",
    ),
    "content.urgency": (
        "urgent",
        "immediately",
        "asap",
        "immediate action",
        "action required",
        "action request",
        "attention required",
        "within 24 hours",
        "within 48 hours",
        "within 24h",
        "final notice",
        "final reminder",
        "last warning",
        "last chance",
        "expires today",
        "expire today",
        "act now",
        "respond now",
        "as soon as possible",
        "don't miss",
        "do not miss",
        "limited time",
        "time-sensitive",
        "time sensitive",
        "urgente",
        "imediatamente",
        "dringend",
        "sofort",
        "letzte mahnung",
        "dernier rappel",
        "laatste kans",
    ),
    "content.prize": (
        "you have won",
        "you've won",
        "you have been selected",
        "you were selected",
        "randomly selected",
        "congratulations",
        "winner",
        "claim your",
        "claim now",
        "free gift",
        "gift card",
        "reward",
        "giveaway",
        "prize",
        "survey",
        "cashback",
        "exclusive offer",
        "free spins",
        "jackpot",
        "lottery",
        "inheritance",
        "beneficiary",
        "million dollars",
        "million usd",
        "ganhou",
        "parabéns",
        "prêmio",
        "gewonnen",
        "gewinnspiel",
        "gratis",
        "félicitations",
        "gefeliciteerd",
    ),
    "content.enable_content": (
        "enable editing",
        "enable content",
        "enable macros",
        "enable the content",
        "click enable",
        "protected view",
        "aktivieren sie die bearbeitung",
        "habilitar edição",
        "activer la modification",
    ),
    "content.spam_pitch": (
        "click here",
        "100% free",
        "risk free",
        "risk-free",
        "no obligation",
        "order now",
        "buy now",
        "special promotion",
        "limited offer",
        "free trial",
        "lowest price",
        "earn money",
        "make money",
        "work from home",
        "extra income",
        "double your",
        "miracle",
        "weight loss",
        "lose weight",
        "viagra",
        "casino",
        "timeshare",
        "refinance",
        "mortgage rates",
        "pre-approved",
        "you are approved",
        "this is not spam",
        "remove yourself",
        "to be removed",
        "opt-out",
        "bulk email",
    ),
    "content.advance_fee": (
        "next of kin",
        "transfer the sum",
        "transfer of the sum",
        "the sum of",
        "foreign partner",
        "foreign account",
        "confidential business",
        "business proposal",
        "my late husband",
        "my late father",
        "deceased",
        "barrister",
        "diplomatic",
        "trustworthy",
        "strictest confidence",
        "utmost confidence",
        "kindly get back",
        "kindly reply",
        "kindly send",
        "government official",
        "unclaimed",
        "compensation fund",
        "atm card",
        "western union",
        "moneygram",
        "percent of the total",
        "% of the total",
    ),
    "content.payment_request": (
        "wire transfer",
        "bank transfer",
        "gift cards",
        "itunes cards",
        "google play cards",
        "new bank details",
        "bank details have changed",
        "change of bank details",
        "updated banking",
        "outstanding invoice",
        "overdue invoice",
        "payment is overdue",
        "w-2",
        "w2s",
        "w2 forms",
        "are you available",
        "quick favor",
        "quick favour",
        "keep this confidential",
        "purchase some",
        "bitcoin",
        "btc wallet",
        "transferência",
        "transferencia",
        "überweisung",
        "virement",
    ),
}
_WEIGHTLESS = 0.0  # the scorer gives each check its weight
_PRESSURE = frozenset({"content.account_threat", "content.urgency"})

_PHRASES: list[str] = []
_PHRASE_GROUP: list[str] = []
for _group, _phrases in _GROUPS.items():
    for _phrase in _phrases:
        _PHRASES.append(_phrase.casefold())
        _PHRASE_GROUP.append(_group)
_AUTOMATON = ahocorasick_rs.AhoCorasick(
    _PHRASES, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
)

# a word mixing Latin letters with Greek, Cyrillic or Armenian ones ("Ѕесurity")
_LATIN = re.compile(r"[A-Za-z]")
_OTHER_SCRIPT = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0530-\u058f]")
_WORD = re.compile(r"[^\W\d_]{2,}")
# zero-width characters, soft hyphens and joiners inside text, and combining marks on Latin
_INVISIBLE = re.compile(
    r"[\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u2060-\u2064\ufeff]"
)
_LATIN_THEN_OTHER = re.compile(r"[A-Za-z][^\x00-\u02ff]")
_STYLED = re.compile(r"[\U0001d400-\U0001d7ff\U0001f130-\U0001f189\uff21-\uff5a]")


@dataclass(frozen=True, slots=True)
class ContentFacts:
    """The content reasons of one message, and the phrase groups seen (for the summary)."""

    reasons: list[Reason]
    groups: frozenset[str]


def content_reasons(subject: str, display_name: str, text: str) -> ContentFacts:
    """Reasons from the subject, the sender's display name and the start of the text."""
    head = f"{subject}\n{display_name}"
    body = text[:MAX_TEXT]
    reasons: list[Reason] = []
    folded = unicodedata.normalize("NFKC", f"{head}\n{body}").casefold()
    seen: dict[str, list[str]] = {}
    for index, start, end in _AUTOMATON.find_matches_as_indexes(folded):
        if not _word_bounded(folded, start, end):
            continue
        found = seen.setdefault(_PHRASE_GROUP[index], [])
        phrase = _PHRASES[index]
        if phrase not in found and len(found) < 3:
            found.append(phrase)
    for group, phrases in seen.items():
        reasons.append(Reason(group, "; ".join(repr(p) for p in phrases), _WEIGHTLESS))
    if len(seen.get("content.spam_pitch", ())) >= MANY_PITCHES:
        reasons.append(
            Reason("content.spam_pitch_many", "several sales-pitch phrases together", _WEIGHTLESS)
        )
    mixed = _mixed_words(head) + _mixed_words(body[:5000])
    if mixed:
        reasons.append(
            Reason(
                "content.mixed_script",
                f"{len(mixed)} word(s) mix Latin with look-alike letters of other scripts, "
                f"e.g. {mixed[0]!r}",
                _WEIGHTLESS,
            )
        )
    hidden = [
        place
        for place, value in (("subject", subject), ("sender name", display_name))
        if _INVISIBLE.search(value) or _marks_on_latin(value)
    ]
    opening = body[:5000]
    if hidden or len(_INVISIBLE.findall(opening)) >= 5 or _marks_on_latin(opening) >= 3:
        where = ", ".join(hidden) or "text"
        reasons.append(
            Reason(
                "content.invisible_characters",
                f"invisible or combining characters break up words in the {where}",
                _WEIGHTLESS,
            )
        )
    if _STYLED.search(head):
        reasons.append(
            Reason(
                "content.styled_letters",
                "the subject or sender name is written in styled Unicode letters "
                "(mathematical bold, enclosed or full-width), which keyword filters do not read",
                _WEIGHTLESS,
            )
        )
    if _PADDED.search(subject):
        # a run of spaces then a number: the trick bulk senders use to make every copy unique
        reasons.append(
            Reason(
                "content.subject_padding",
                f"the subject hides a tracking tail: {subject.strip()[-30:]!r}",
                _WEIGHTLESS,
            )
        )
    if _shouting(subject):
        reasons.append(
            Reason("content.shouting", f"the subject shouts: {subject[:80]!r}", _WEIGHTLESS)
        )
    groups = frozenset(seen)
    if "content.credential_request" in groups and groups & _PRESSURE:
        # rspamd-style composite: asking for the login and threatening or hurrying at once
        # is the shape of a credential phish, more than either part alone
        reasons.append(
            Reason(
                "content.phishing_pitch",
                "asks for account details and threatens or hurries in the same message",
                _WEIGHTLESS,
            )
        )
    return ContentFacts(reasons, groups)


def _shouting(subject: str) -> bool:
    """A subject written mostly in capitals (ten letters at least), or an ADV: label."""
    if subject.lstrip().upper().startswith("ADV:"):
        return True
    letters = [c for c in subject if c.isalpha()]
    if len(letters) < MIN_SHOUT:
        return False
    return sum(c.isupper() for c in letters) >= SHOUT_SHARE * len(letters)


def _word_bounded(text: str, start: int, end: int) -> bool:
    """Whether a phrase match starts and ends at word boundaries ("reward" not "rewarding")."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not before.isalnum() and not after.isalnum()


def _marks_on_latin(text: str) -> int:
    """Combining marks left on plain Latin letters once accents are composed.

    "amܿazoܿn" (Syriac marks) or "UPs̷" (an overlay) read as a brand but match no filter.
    NFC first composes honest accents ("e" + U+0301 becomes "é"), so they do not count.
    """
    if text.isascii():
        return 0
    return sum(
        1
        for pair in _LATIN_THEN_OTHER.findall(unicodedata.normalize("NFC", text))
        if unicodedata.category(pair[1]) == "Mn"
    )


def _mixed_words(text: str) -> list[str]:
    if text.isascii():
        return []
    return [
        word
        for word in _WORD.findall(text)
        if not word.isascii() and _LATIN.search(word) and _OTHER_SCRIPT.search(word)
    ][:20]
