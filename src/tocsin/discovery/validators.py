"""Checks that turn a pattern match into evidence: checksums, entropy and format rules.

A rule names its validator by a key of ``VALIDATORS``. A validator takes the matched value and
returns ``True`` (the checksum or format holds: strong evidence), ``False`` (it fails: the match
is not what the pattern suggests, and the finding is dropped) or ``None`` (nothing to check).
National identifiers with published check digits use python-stdnum, which maintains them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import math
import re
import zlib
from collections import Counter
from collections.abc import Callable
from datetime import date

Validator = Callable[[str], bool | None]

_DIGITS = re.compile(r"\D")


def digits_only(value: str) -> str:
    """The digits of ``value``, separators dropped."""
    return _DIGITS.sub("", value)


def shannon_entropy(value: str) -> float:
    """Shannon entropy in bits per character (as gitleaks and detect-secrets compute it)."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def luhn(number: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Issuer prefixes (IIN ranges) of the card networks; a Luhn-valid number outside them is
# more likely an order or tracking number.
_CARD_PREFIXES: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (4, 4, (13, 16, 19)),  # Visa
    (51, 55, (16,)),  # Mastercard
    (2221, 2720, (16,)),  # Mastercard 2-series
    (34, 34, (15,)),
    (37, 37, (15,)),  # American Express
    (300, 305, (14, 16, 19)),
    (36, 36, (14, 16, 19)),
    (38, 39, (14, 16, 19)),  # Diners Club
    (6011, 6011, (16, 19)),
    (644, 649, (16, 19)),
    (65, 65, (16, 19)),  # Discover
    (3528, 3589, (16, 19)),  # JCB
    (2131, 2131, (15,)),
    (1800, 1800, (15,)),  # JCB (old)
    (62, 62, (16, 17, 18, 19)),  # UnionPay
    (50, 50, (12, 13, 14, 15, 16, 17, 18, 19)),
    (56, 69, (12, 13, 14, 15, 16, 17, 18, 19)),  # Maestro and other debit
    (2200, 2204, (16, 17, 18, 19)),  # Mir
    (60, 60, (16, 19)),
    (63, 63, (16, 19)),
)


def card_network_ok(number: str) -> bool:
    """Whether the number's prefix and length belong to a card network."""
    n = len(number)
    for lo, hi, lengths in _CARD_PREFIXES:
        width = len(str(lo))
        if n in lengths and lo <= int(number[:width]) <= hi:
            return True
    return False


def credit_card(value: str) -> bool:
    """12-19 digits, a known network prefix and length, and Luhn."""
    number = digits_only(value)
    if not 12 <= len(number) <= 19 or len(set(number)) < 3:
        return False
    return card_network_ok(number) and luhn(number)


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
"""IBAN length per country (the SWIFT IBAN registry)."""


def iban(value: str) -> bool:
    """Country length and the ISO 13616 mod-97 check."""
    code = re.sub(r"[\s-]", "", value).upper()
    if _IBAN_LENGTHS.get(code[:2]) != len(code) or not code.isalnum():
        return False
    moved = code[4:] + code[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def us_ssn(value: str) -> bool:
    """Area 001-899 but not 666, group not 00, serial not 0000, and not a famous dummy."""
    d = digits_only(value)
    if len(d) != 9:
        return False
    area, group, serial = int(d[:3]), int(d[3:5]), int(d[5:])
    if area == 0 or area == 666 or area >= 900 or group == 0 or serial == 0:
        return False
    return d not in {"078051120", "219099999", "123456789"} and len(set(d)) > 2


_NINO_BAD_PREFIXES = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def uk_nino(value: str) -> bool:
    """HMRC's rules: no D, F, I, Q, U, V; O not second; reserved prefixes; suffix A-D."""
    v = re.sub(r"\s", "", value).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{6}[A-D]", v):
        return False
    first, second = v[0], v[1]
    if first in "DFIQUV" or second in "DFIQUVO":
        return False
    return v[:2] not in _NINO_BAD_PREFIXES


def ip_address(value: str) -> bool:
    """A well-formed IPv4 or IPv6 address that is not 0.0.0.0, a mask or a version number."""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return False
    if addr.version == 4:
        text = str(addr)
        if text.startswith(("0.", "255.")) or text.endswith(".0.0"):
            return False
    return not addr.is_unspecified


_DATE_FORMATS = (
    re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"),
    re.compile(r"(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>\d{4})"),
    re.compile(r"(?P<m>\d{1,2})[-/.](?P<d>\d{1,2})[-/.](?P<y>\d{4})"),
)


def birth_date(value: str) -> bool | None:
    """A real calendar date between 1900 and today (written dates with month names: None)."""
    today = date.today()
    for fmt in _DATE_FORMATS:
        m = fmt.fullmatch(value.strip())
        if m is None:
            continue
        try:
            born = date(int(m["y"]), int(m["m"]), int(m["d"]))
        except ValueError:
            continue
        return 1900 <= born.year and born <= today
    return None


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, r = divmod(number, 62)
        out.append(_B62[r])
    return "".join(reversed(out))


def github_token(value: str) -> bool | None:
    """GitHub's token checksum: the last 6 characters are base62(CRC32 of the 30 before)."""
    prefix, _, body = value.partition("_")
    if prefix not in {"ghp", "gho", "ghu", "ghs", "ghr"} or len(body) != 36:
        return None
    return _base62(zlib.crc32(body[:30].encode()), 6) == body[30:]


def npm_token(value: str) -> bool | None:
    """npm's granular tokens carry the same CRC32-base62 checksum as GitHub's."""
    if not value.startswith("npm_") or len(value) != 40:
        return None
    body = value[4:]
    return _base62(zlib.crc32(body[:30].encode()), 6) == body[30:]


def _b64url_json(part: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return False
    text = raw.lstrip()
    return text.startswith(b"{") and text.rstrip().endswith(b"}")


def jwt(value: str) -> bool:
    """Header and payload decode to JSON objects and the header names an algorithm."""
    parts = value.split(".")
    if len(parts) != 3 or not _b64url_json(parts[0]) or not _b64url_json(parts[1]):
        return False
    header = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
    return b'"alg"' in header


def _stdnum(module: str) -> Validator:
    def check(value: str) -> bool:
        import importlib

        mod = importlib.import_module(f"stdnum.{module}")
        return bool(mod.is_valid(value))

    check.__name__ = module.replace(".", "_")
    return check


VALIDATORS: dict[str, Validator] = {
    "luhn": lambda v: luhn(digits_only(v)),
    "credit_card": credit_card,
    "iban": iban,
    "us_ssn": us_ssn,
    "uk_nino": uk_nino,
    "ip": ip_address,
    "birth_date": birth_date,
    "github_token": github_token,
    "npm_token": npm_token,
    "jwt": jwt,
    "es_dni": _stdnum("es.dni"),
    "es_nie": _stdnum("es.nie"),
    "fr_nir": _stdnum("fr.nir"),
    "nl_bsn": _stdnum("nl.bsn"),
    "in_aadhaar": _stdnum("in_.aadhaar"),
    "it_codice_fiscale": _stdnum("it.codicefiscale"),
    "ca_sin": _stdnum("ca.sin"),
    "au_tfn": _stdnum("au.tfn"),
    "de_idnr": _stdnum("de.idnr"),
    "br_cpf": _stdnum("br.cpf"),
    "pl_pesel": _stdnum("pl.pesel"),
    "se_personnummer": _stdnum("se.personnummer"),
    "dk_cpr": _stdnum("dk.cpr"),
    "fi_hetu": _stdnum("fi.hetu"),
    "no_fodselsnummer": _stdnum("no.fodselsnummer"),
    "be_nn": _stdnum("be.nn"),
    "ch_ssn": _stdnum("ch.ssn"),
    "za_idnr": _stdnum("za.idnr"),
    "gb_nhs": _stdnum("gb.nhs"),
    "ie_pps": _stdnum("ie.pps"),
    "mx_curp": _stdnum("mx.curp"),
    "kr_rrn": _stdnum("kr.rrn"),
    "cn_ric": _stdnum("cn.ric"),
}
"""Validators by the name a rule gives in its ``validator`` key."""


PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "CA", "AU", "BR", "ES", "IT", "NL", "IL")
"""Regions a phone number without a country code is tried in."""
_TRUNK_ZERO = frozenset({"GB", "DE", "FR", "AU", "NL", "IL", "IT", "BR", "IN"})
"""Regions whose national numbers are written with a leading 0 (a trunk prefix, or Italy's
landlines); the others write them without (the US and Canada never start with 0)."""
_NO_ZERO = frozenset({"US", "CA", "IN", "ES", "IT", "BR"})

_NOT_PHONE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]\d.*)?"  # a date
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|(?:\d{1,3}\.){3}\d{1,3}"  # an IPv4 address
    r"|\d{3}-\d{2}-\d{4}"  # the shape of a US social security number
    r"|\d+\.\d+"  # a decimal
    r"|\d+(?:\.\d+){3,}"  # a dotted version
    r"|1\d{9,}"  # a Unix time (a national number never starts with 1)
)


def phone(value: str, regions: tuple[str, ...] = PHONE_REGIONS) -> bool | None:
    """Valid for its country code, or for one of ``regions`` (libphonenumber's metadata):
    True; only possible (the right length, but no such range): None; else False."""
    digits = digits_only(value)
    if not 7 <= len(digits) <= 15 or len(set(digits)) < 3:
        return False
    text = value.strip()
    if _NOT_PHONE.fullmatch(text):
        return False
    if text.startswith("+"):
        return _phone_in(text, (None,))
    # A national number's first digit says which regions can hold it at all.
    fits = _TRUNK_ZERO if digits.startswith("0") and not text.startswith("00") else _NO_ZERO
    return _phone_in(text, tuple(r for r in regions if r in fits or text.startswith("00")))


@functools.lru_cache(maxsize=65536)
def _phone_in(text: str, regions: tuple[str | None, ...]) -> bool | None:
    import phonenumbers

    possible = False
    for region in regions:
        try:
            parsed = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return True
        possible = possible or phonenumbers.is_possible_number(parsed)
    return None if possible else False


VALIDATORS["phone"] = phone
