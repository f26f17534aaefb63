"""The data discovery part of the story: the file share and the CRM database.

The IT folder of the share holds a backup of the web application whose ``.env`` carries an
AWS access key and a database password, and a deploy script with a GitHub token; HR keeps a
spreadsheet of employees with their social security numbers; finance a refund letter with an
IBAN and a card number. The CRM's SQLite database has customers' email addresses and phone
numbers. Every credential is fake (random, in the real format) and every person invented.
"""

from __future__ import annotations

import io
import random
import sqlite3
import zipfile
from pathlib import Path

from tocsin.demo.common import DOMAIN
from tocsin.testing import secrets
from tocsin.testing.documents import docx, xlsx

FIRST = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Iris", "Jon")
LAST = ("Moreau", "Okafor", "Lindqvist", "Patel", "Rossi", "Nakamura", "Silva", "Weber")


def _ssn(rng: random.Random) -> str:
    return f"{rng.randint(101, 665):03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999):04d}"


def write_share(folder: Path, *, seed: int = 9) -> dict[str, Path]:
    """Write the share and the CRM database; their paths by name."""
    rng = random.Random(seed)  # noqa: S311 - invented data for the demo
    share = folder / "share"
    for sub in ("IT", "HR", "Finance", "Public"):
        (share / sub).mkdir(parents=True, exist_ok=True)
    env = (
        "APP_ENV=production\n"
        f"AWS_ACCESS_KEY_ID={secrets.aws_key_id(rng)}\n"
        f"AWS_SECRET_ACCESS_KEY={secrets.aws_secret(rng)}\n"
        f"DATABASE_URL=postgresql://webapp:{secrets.rand(rng, 18)}@db01.{DOMAIN}:5432/shop\n"
    )
    backup = io.BytesIO()
    with zipfile.ZipFile(backup, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("webapp/.env", env)
        archive.writestr("webapp/README.md", "Shop front end. Deploy with deploy.sh.\n")
    (share / "IT" / "webapp-backup-2026-11.zip").write_bytes(backup.getvalue())
    (share / "IT" / "deploy.sh").write_text(
        "#!/bin/sh\nset -e\n"
        f"export GITHUB_TOKEN={secrets.github_pat(rng)}\n"
        "git clone https://github.com/corp-example/shop.git\n"
    )
    people = [(first, last) for first in FIRST for last in LAST][:24]
    rows = [["Name", "Email", "SSN", "Start date"]]
    for first, last in people:
        rows.append(
            [
                f"{first} {last}",
                f"{first.lower()}.{last.lower()}@{DOMAIN}",
                _ssn(rng),
                f"20{rng.randint(15, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            ]
        )
    (share / "HR" / "employees-2026.xlsx").write_bytes(xlsx(rows, sheet="Staff"))
    card = secrets.luhn_complete("4", 16, rng)
    (share / "Finance" / "refund-letter.docx").write_bytes(
        docx(
            "Dear customer,",
            "we refunded your order to IBAN GB82 WEST 1234 5698 7654 32.",
            f"The payment card {card[:4]} {card[4:8]} {card[8:12]} {card[12:]} is not charged.",
        )
    )
    (share / "Public" / "welcome.txt").write_text(
        f"Welcome to {DOMAIN}. Support: +44 20 7946 0958\n"
    )
    crm = folder / "crm.db"
    crm.unlink(missing_ok=True)
    con = sqlite3.connect(crm)
    try:
        con.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, phone TEXT)"
        )
        for i, (first, last) in enumerate(people, start=1):
            con.execute(
                "INSERT INTO customers VALUES (?, ?, ?, ?)",
                (
                    i,
                    f"{first} {last}",
                    f"{first[0].lower()}{last.lower()}@mail.example",
                    f"+44 20 7946 0{100 + i}",
                ),
            )
        con.commit()
    finally:
        con.close()
    return {"share": share, "crm": crm}
