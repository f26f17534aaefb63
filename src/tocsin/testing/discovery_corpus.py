"""Generated, labelled data for measuring data discovery (no third-party data is copied).

``pii_corpus`` writes sentences of support tickets, HR notes, CRM entries and chats holding
personal data with valid check digits, and the same shapes with invalid ones (which must not
be reported), each with labelled spans. ``secrets_corpus`` writes a tree of realistic files
(``.env``, YAML, Terraform, Python, JSON, shell, ``.npmrc``...) with planted fake secrets in
their real formats and look-alikes that are not secrets, each with a label. Everything is
deterministic for a seed. Check digits come from python-stdnum (the same library the
validators use: this measures the detectors around it, not stdnum).
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tocsin.discovery.validators import _base62, luhn
from tocsin.testing import secrets as fake

DIGITS = string.digits
UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


@dataclass(frozen=True, slots=True)
class PiiSample:
    """A text and its labelled spans ``(start, end, type)``."""

    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Label:
    """A planted secret (or a look-alike, ``kind`` ``decoy:<what>``) at a file's line."""

    path: str
    line: int
    kind: str
    value: str


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(n))


# -- personal data: valid and invalid values -------------------------------------------------


def _card(rng: random.Random, valid: bool) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)])
    number = fake.luhn_complete(prefix, length, rng)
    if not valid:
        number = number[:-1] + str((int(number[-1]) + rng.randint(1, 9)) % 10)
    if length == 16 and rng.random() < 0.5:
        sep = rng.choice([" ", "-"])
        return sep.join(number[i : i + 4] for i in range(0, 16, 4))
    return number


def _iban(rng: random.Random, valid: bool) -> str:
    from stdnum import iban

    country, bban = rng.choice(
        [
            ("GB", "".join(rng.choice(UPPER) for _ in range(4)) + _digits(rng, 14)),
            ("DE", _digits(rng, 18)),
            ("FR", _digits(rng, 23)),
            ("NL", "".join(rng.choice(UPPER) for _ in range(4)) + _digits(rng, 10)),
            ("ES", _digits(rng, 20)),
        ]
    )
    check = iban.calc_check_digits(country + "00" + bban)
    if not valid:
        check = f"{(int(check) + rng.randint(1, 50)) % 97 + 2:02d}"
    code = country + check + bban
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4)) if rng.random() < 0.5 else code


def _ssn(rng: random.Random, valid: bool) -> str:
    area, group, serial = rng.randint(1, 899), rng.randint(1, 99), rng.randint(1, 9999)
    if area == 666:
        area = 667
    if not valid:
        which = rng.randrange(4)
        area = (0, 666, rng.randint(900, 999), area)[which]
        group = 0 if which == 3 else group
    return f"{area:03d}-{group:02d}-{serial:04d}"


def _nino(rng: random.Random, valid: bool) -> str:
    good = [c for c in UPPER if c not in "DFIQUV"]
    while True:
        prefix = rng.choice(good) + rng.choice([c for c in good if c != "O"])
        if prefix not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            break
    if not valid:
        prefix = rng.choice(["BG", "GB", "NK", "TN", "ZZ", "DA", "QA", "AO"])
    return f"{prefix}{_digits(rng, 6)}{rng.choice('ABCD')}"


def _ip(rng: random.Random, valid: bool) -> str:
    if not valid:
        return f"{rng.randint(300, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.1"
    if rng.random() < 0.2:
        return (
            str(uuid.UUID(int=rng.getrandbits(128))).replace("-", "")[:4]
            + "::"
            + str(rng.randint(1, 9))
        )
    return (
        f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    )


def _dni(rng: random.Random, valid: bool) -> str:
    from stdnum.es import dni

    body = _digits(rng, 8)
    letter = dni.calc_check_digit(body)
    if not valid:
        letter = rng.choice([c for c in "TRWAGMYFPDXBNJZSQVHLCKE" if c != letter])
    return body + letter


def _nir(rng: random.Random, valid: bool) -> str:
    from stdnum.fr import nir

    sex, year, month = rng.choice("12"), rng.randint(40, 99), rng.randint(1, 12)
    body = f"{sex}{year:02d}{month:02d}{rng.randint(1, 95):02d}{_digits(rng, 6)}"
    key = nir.calc_check_digits(body)
    if not valid:
        key = f"{(int(key) + rng.randint(1, 40)) % 97 + 1:02d}"
    return body + key


def _bsn(rng: random.Random, valid: bool) -> str:
    from stdnum.nl import bsn

    while True:
        number = str(rng.randint(1, 9)) + _digits(rng, 8)
        if (bsn.checksum(number) == 0) == valid:
            return number


def _aadhaar(rng: random.Random, valid: bool) -> str:
    from stdnum import verhoeff

    body = str(rng.randint(2, 9)) + _digits(rng, 10)
    check = verhoeff.calc_check_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    number = body + check
    return f"{number[:4]} {number[4:8]} {number[8:]}"


def _codice(rng: random.Random, valid: bool) -> str:
    from stdnum.it import codicefiscale

    body = (
        "".join(rng.choice(UPPER) for _ in range(6))
        + _digits(rng, 2)
        + rng.choice("ABCDEHLMPRST")
        + f"{rng.randint(1, 28):02d}"
        + rng.choice(UPPER)
        + _digits(rng, 3)
    )
    check = codicefiscale.calc_check_digit(body)
    if not valid:
        check = rng.choice([c for c in UPPER if c != check])
    return body + check


def _sin(rng: random.Random, valid: bool) -> str:
    while True:
        number = str(rng.randint(1, 7)) + _digits(rng, 8)
        if luhn(number) == valid:
            return f"{number[:3]} {number[3:6]} {number[6:]}"


def _tfn(rng: random.Random, valid: bool) -> str:
    from stdnum.au import tfn

    while True:
        number = _digits(rng, 9)
        if (tfn.checksum(number) == 0) == valid:
            return f"{number[:3]} {number[3:6]} {number[6:]}"


def _phone(rng: random.Random, valid: bool) -> str:
    import phonenumbers

    if not valid:
        return rng.choice(
            [f"INV-{_digits(rng, 8)}", f"20{_digits(rng, 12)}", f"#{_digits(rng, 7)}"]
        )
    region = rng.choice(["US", "GB", "DE", "FR", "IN", "AU", "BR", "ES"])
    example = phonenumbers.example_number_for_type(
        region, phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(region)
    if example is None:  # pragma: no cover - every region above has examples
        raise ValueError(f"libphonenumber has no example number for {region}")
    national = str(example.national_number)
    for _ in range(20):  # vary the subscriber part while libphonenumber still calls it valid
        tail = _digits(rng, 4)
        candidate = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{tail}", None)
        if phonenumbers.is_valid_number(candidate):
            example = candidate
            break
    style = rng.choice(
        [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL]
    )
    return phonenumbers.format_number(example, style)


def _email(rng: random.Random, valid: bool) -> str:
    name = rng.choice(["jane.doe", "k.tan", "ops-team", "m_rossi", "billing+eu", "a.nowak"])
    if not valid:
        return rng.choice(
            [f"@{name.split('.')[0]}", f"{name} at example dot com", "user@localhost"]
        )
    domain = rng.choice(["example.org", "mail.example.com", "corp.example"])
    return f"{name}{rng.randint(1, 99)}@{domain}"


def _dob(rng: random.Random, valid: bool) -> str:
    y, m, d = rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)
    if not valid:
        y = rng.randint(2024, 2026)
    return rng.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}"])


Maker = Callable[[random.Random, bool], str]
TYPES: dict[str, tuple[Maker, list[str], list[str]]] = {
    # type: (maker, templates with context, templates for the invalid shape)
    "EMAIL": (
        _email,
        ["Please reply to {v} about the refund.", "contact: {v}"],
        ["ping {v} on chat"],
    ),
    "PHONE": (
        _phone,
        ["Call me back on {v} after 5pm.", "mobile: {v}", "You can reach me at {v}."],
        ["Invoice {v} is overdue.", "ticket {v} closed"],
    ),
    "CREDIT_CARD": (
        _card,
        ["The card {v} was charged twice.", "Payment card number: {v}"],
        ["Tracking number {v} shipped today.", "order {v}"],
    ),
    "IBAN": (_iban, ["Please wire it to IBAN {v}.", "Account {v} (SEPA)"], ["reference {v}"]),
    "US_SSN": (_ssn, ["SSN {v} on the W-4.", "Social security number: {v}"], ["part {v} in stock"]),
    "UK_NINO": (_nino, ["NI number {v} for payroll.", "National Insurance: {v}"], ["code {v}"]),
    "IP_ADDRESS": (_ip, ["Login from {v} was blocked.", "client address {v}"], ["version {v}"]),
    "DATE_OF_BIRTH": (
        _dob,
        ["Date of birth: {v}.", "She was born on {v} in Leeds.", "DOB {v}"],
        ["Invoice date {v}.", "Meeting on {v}"],
    ),
    "ES_DNI": (_dni, ["DNI {v} del cliente.", "Documento: {v}"], ["DNI {v} (rejected)"]),
    "FR_NIR": (_nir, ["Numéro de sécurité sociale {v}.", "NIR: {v}"], ["NIR {v} (invalide)"]),
    "NL_BSN": (_bsn, ["BSN {v} van de medewerker.", "burgerservicenummer: {v}"], ["BSN {v}?"]),
    "IN_AADHAAR": (
        _aadhaar,
        ["Aadhaar {v} verified.", "UIDAI number: {v}"],
        ["Aadhaar {v} (typo)"],
    ),
    "IT_CODICE_FISCALE": (_codice, ["Codice fiscale {v}.", "CF: {v}"], ["codice {v} errato"]),
    "CA_SIN": (_sin, ["SIN {v} for the T4.", "social insurance number {v}"], ["SIN {v} (bad)"]),
    "AU_TFN": (_tfn, ["TFN {v} on file.", "tax file number: {v}"], ["TFN {v} (wrong)"]),
}
FILLER = [
    "Hi team,",
    "Thanks for the quick answer.",
    "The export finished at 02:00 with 1,204 rows.",
    "Ticket escalated to tier 2.",
    "Regards, Support",
    "Build 4.2.1 is out.",
]


def pii_corpus(seed: int = 7, n: int = 2000) -> list[PiiSample]:
    """``n`` labelled texts: a third hold only invalid look-alikes, the rest 1-3 real values."""
    rng = random.Random(seed)  # noqa: S311 - test data
    names = sorted(TYPES)
    out = []
    for i in range(n):
        parts: list[str] = [rng.choice(FILLER)]
        spans: list[tuple[int, int, str]] = []
        negative = i % 3 == 0
        for _ in range(1 if negative else rng.randint(1, 3)):
            kind = rng.choice(names)
            maker, good, bad = TYPES[kind]
            value = maker(rng, not negative)
            template = rng.choice(bad if negative else good)
            prefix = " ".join(parts) + " "
            before, _, after = template.partition("{v}")
            start = len(prefix) + len(before)
            parts.append(template.replace("{v}", value))
            if not negative:
                spans.append((start, start + len(value), kind))
        parts.append(rng.choice(FILLER))
        out.append(PiiSample(" ".join(parts), spans))
    return out


# -- secrets ----------------------------------------------------------------------------------


def _rand(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _crc_token(prefix: str, rng: random.Random) -> str:
    body = _rand(rng, 30)
    return prefix + body + _base62(zlib.crc32(body.encode()), 6)


SECRETS: dict[str, Callable[[random.Random], str]] = {
    "aws-access-key-id": fake.aws_key_id,
    "github-pat": fake.github_pat,
    "github-oauth": lambda r: _crc_token("gho_", r),
    "github-fine-grained-pat": lambda r: f"github_pat_{_rand(r, 22)}_{_rand(r, 59)}",
    "gitlab-pat": lambda r: "glpat-" + _rand(r, 20, ALNUM + "-_"),
    "slack-bot-token": lambda r: f"xoxb-{_digits(r, 12)}-{_digits(r, 13)}-{_rand(r, 24)}",
    "slack-user-token": lambda r: (
        f"xoxp-{_digits(r, 12)}-{_digits(r, 12)}-{_digits(r, 13)}-{_rand(r, 32, HEX)}"
    ),
    "slack-webhook-url": lambda r: (
        "https://hooks.slack.com/services/"
        f"T{_rand(r, 10, UPPER + DIGITS)}/B{_rand(r, 10, UPPER + DIGITS)}/{_rand(r, 24)}"
    ),
    "stripe-secret-key": lambda r: "sk_live_" + _rand(r, 24),
    "stripe-restricted-key": lambda r: "rk_live_" + _rand(r, 24),
    "google-api-key": lambda r: "AIza" + _rand(r, 35, ALNUM + "-_"),
    "openai-api-key": lambda r: "sk-proj-" + _rand(r, 74, ALNUM + "-_"),
    "anthropic-api-key": lambda r: "sk-ant-api03-" + _rand(r, 93, ALNUM + "-_") + "AA",
    "sendgrid-api-key": lambda r: f"SG.{_rand(r, 22, ALNUM + '-_')}.{_rand(r, 43, ALNUM + '-_')}",
    "npm-token": lambda r: _crc_token("npm_", r),
    "pypi-token": lambda r: "pypi-AgEIcHlwaS5vcmc" + _rand(r, 60, ALNUM + "-_"),
    "hashicorp-vault-token": lambda r: "hvs." + _rand(r, 24),
    "doppler-token": lambda r: "dp.pt." + _rand(r, 43),
    "shopify-token": lambda r: "shpat_" + _rand(r, 32, "0123456789abcdef"),
    "square-access-token": lambda r: "EAAA" + _rand(r, 60, ALNUM + "-_"),
    "jwt": fake.jwt,
}
KEYWORDED: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    # kinds whose rule needs the vendor's name on the line
    "aws-secret-access-key": ("aws_secret_access_key = {v}", fake.aws_secret),
    "twilio-api-key": ("TWILIO_API_KEY={v}", lambda r: "SK" + _rand(r, 32, "0123456789abcdef")),
    "mailgun-api-key": ("MAILGUN_KEY={v}", lambda r: "key-" + _rand(r, 32, "0123456789abcdef")),
    "datadog-api-key": ("DD_API_KEY={v}", lambda r: _rand(r, 32, "0123456789abcdef")),
    "heroku-api-key": ("HEROKU_API_KEY={v}", lambda r: str(uuid.UUID(int=r.getrandbits(128)))),
    "telegram-bot-token": (
        "TELEGRAM_BOT_TOKEN={v}",
        lambda r: f"{_digits(r, 10)}:AA{_rand(r, 33, ALNUM + '-_')}",
    ),
    "azure-storage-key": (
        "DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey={v};EndpointSuffix=core.windows.net",
        lambda r: _rand(r, 86, ALNUM + "+/") + "==",
    ),
    "generic-password": ('db_password = "{v}"', lambda r: _rand(r, 18, ALNUM + "!#%")),
    "password-in-url": (
        "DATABASE_URL=postgresql://app:{v}@db.internal:5432/app",
        lambda r: _rand(r, 16),
    ),
    "basic-auth-header": (
        'curl -H "Authorization: Basic {v}" https://api.example.org',
        lambda r: base64.b64encode(f"deploy:{_rand(r, 14)}".encode()).decode(),
    ),
    "discord-webhook-url": (
        "webhook: {v}",
        lambda r: f"https://discord.com/api/webhooks/{_digits(r, 18)}/{_rand(r, 68, ALNUM + '-_')}",
    ),
}
DECOYS: dict[str, Callable[[random.Random], str]] = {
    "uuid": lambda r: f"request_id = {uuid.UUID(int=r.getrandbits(128))}",
    "sha256": lambda r: f"checksum: sha256:{_rand(r, 64, '0123456789abcdef')}",
    "git-sha": lambda r: f"commit {_rand(r, 40, '0123456789abcdef')}",
    "aws-example": lambda r: "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "aws-example-secret": lambda r: (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    ),
    "env-reference": lambda r: 'password = "${DB_PASSWORD}"',
    "template": lambda r: "password: {{ .Values.db.password }}",
    "placeholder": lambda r: 'api_key = "<your-api-key>"',
    "changeme": lambda r: 'password = "changeme"',
    "environ": lambda r: 'api_key = os.environ["API_KEY"]',
    "empty": lambda r: 'password: ""',
    "data-uri": lambda r: (
        'icon = "data:image/png;base64,'
        + base64.b64encode(bytes(r.getrandbits(8) for _ in range(48))).decode()
        + '"'
    ),
    "public-key": lambda r: "ssh-rsa AAAAB3NzaC1yc2E" + _rand(r, 60, ALNUM + "+/") + " ops@bastion",
    "bad-checksum-ghp": lambda r: "token = " + fake.github_pat(r, valid=False),
    "not-a-jwt": lambda r: "value = eyJub3QganNvbg." + _rand(r, 20) + "." + _rand(r, 20),
    "integrity": lambda r: '"integrity": "sha512-' + _rand(r, 86, ALNUM + "+/") + '=="',
}
FILES = [
    ("config/.env", "APP_ENV=production\nLOG_LEVEL=info\nPORT=8080\n"),
    (
        "config/settings.py",
        "DEBUG = False\nALLOWED_HOSTS = ['shop.example.org']\nTIME_ZONE = 'UTC'\n",
    ),
    (
        "deploy/docker-compose.yml",
        "services:\n  web:\n    image: shop:1.4\n    ports: ['8080:8080']\n",
    ),
    ("infra/main.tf", 'resource "aws_s3_bucket" "logs" {\n  bucket = "shop-logs"\n}\n'),
    ("scripts/deploy.sh", "#!/bin/sh\nset -eu\necho deploying\n"),
    ("app/config.json", '{\n  "name": "shop",\n  "replicas": 3\n}\n'),
    ("README.md", "# Shop\n\nRun `make dev` to start.\n"),
    ("k8s/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop\n"),
    ("tests/fixtures/settings.py", "# test settings\nDEBUG = True\n"),
]


def secrets_corpus(root: Path, seed: int = 7, files: int = 200) -> list[Label]:
    """Write ``files`` files under ``root`` with planted secrets and look-alikes; their labels
    (also written to ``root/labels.json``)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    kinds = sorted(SECRETS) + sorted(KEYWORDED)
    decoys = sorted(DECOYS)
    labels: list[Label] = []
    for i in range(files):
        name, head = FILES[i % len(FILES)]
        folder, _, base = name.rpartition("/")
        path = f"{folder}/{i:03d}-{base}" if folder else f"{i:03d}-{base}"
        lines = head.rstrip("\n").split("\n")
        for _ in range(rng.randint(2, 4)):
            lines.append(rng.choice(["# keep in sync with ops", "retries = 3", "timeout: 30", ""]))
            if rng.random() < 0.6:
                kind = kinds[(i + len(labels)) % len(kinds)]
                if kind in SECRETS:
                    value = SECRETS[kind](rng)
                    line = f"{kind.upper().replace('-', '_')}={value}"
                else:
                    template, make = KEYWORDED[kind]
                    value = make(rng)
                    line = template.replace("{v}", value)
                lines.append(line)
                labels.append(Label(path, len(lines), kind, value))
            else:
                what = rng.choice(decoys)
                line = DECOYS[what](rng)
                lines.append(line)
                labels.append(Label(path, len(lines), f"decoy:{what}", line))
        if i % 25 == 0:  # a private key file now and then
            key = fake.private_key(rng)
            lines.append(key)
            labels.append(Label(path, len(lines), "private-key", key))
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
    (root / "labels.json").write_text(json.dumps([asdict(x) for x in labels], indent=1))
    return labels
