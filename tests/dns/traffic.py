"""DNS traffic the DNS tests generate: normal browsing, a DGA host, a tunnel, as Zeek JSON.

Each builder returns Zeek ``dns.log`` records (JSON form); ``write_zeek`` writes them as a file
the real ingest reads (the file is named ``dns.log`` so the Zeek JSON parser takes it).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import orjson

RESOLVER = "10.0.0.53"

BENIGN = (
    "www.wikipedia.org", "en.wikipedia.org", "upload.wikimedia.org", "www.bbc.co.uk",
    "news.ycombinator.com", "www.python.org", "docs.python.org", "pypi.org",
    "files.pythonhosted.org", "github.com", "api.github.com", "www.nytimes.com",
    "static01.nyt.com", "www.theguardian.com", "assets.guim.co.uk", "mail.google.com",
    "www.google.com", "fonts.googleapis.com", "www.gstatic.com", "login.microsoftonline.com",
    "outlook.office365.com", "teams.microsoft.com", "slack.com", "a.slack-edge.com",
    "zoom.us", "www.linkedin.com", "www.reddit.com", "i.redd.it", "www.amazon.com",
    "m.media-amazon.com", "stackoverflow.com", "cdn.sstatic.net", "www.mozilla.org",
    "www.debian.org", "deb.debian.org", "security.debian.org", "www.kernel.org",
    "intranet.example-corp.com", "wiki.example-corp.com", "jira.example-corp.com",
    "www.lemonde.fr", "www.spiegel.de", "www.elpais.com", "www.booking.com",
    "www.tripadvisor.com", "www.weather.com", "www.accuweather.com", "www.imdb.com",
)  # fmt: skip


def record(
    when: datetime,
    client: str,
    name: str,
    *,
    qtype: str = "A",
    rcode: str = "NOERROR",
    answers: Sequence[str] = (),
    uid: int = 0,
) -> dict[str, object]:
    """One Zeek dns.log record."""
    return {
        "ts": when.timestamp(),
        "uid": f"C{uid:017d}",
        "id.orig_h": client,
        "id.orig_p": 40000 + uid % 20000,
        "id.resp_h": RESOLVER,
        "id.resp_p": 53,
        "proto": "udp",
        "trans_id": uid % 65536,
        "query": name,
        "qclass": 1,
        "qclass_name": "C_INTERNET",
        "qtype_name": qtype,
        "rcode_name": rcode,
        "answers": list(answers),
        "TTLs": [300.0 for _ in answers],
    }


def browsing(
    rng: random.Random,
    clients: Sequence[str],
    start: datetime,
    minutes: int,
    *,
    per_minute: float = 2.0,
    typo_rate: float = 0.01,
) -> list[dict[str, object]]:
    """Ordinary lookups: popular names with a few typos answered NXDOMAIN."""
    out: list[dict[str, object]] = []
    for client in clients:
        count = int(minutes * per_minute)
        for _ in range(count):
            when = start + timedelta(seconds=rng.uniform(0, minutes * 60))
            name = rng.choice(BENIGN)
            if rng.random() < typo_rate:
                cut = rng.randrange(len(name))
                out.append(record(when, client, name[:cut] + name[cut + 1 :], rcode="NXDOMAIN"))
            else:
                address = f"93.184.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                out.append(record(when, client, name, answers=[address]))
    return out


def dga_host(
    rng: random.Random, client: str, start: datetime, names: Sequence[str]
) -> list[dict[str, object]]:
    """A host walking a DGA: the names in a burst, all NXDOMAIN but the last."""
    out = []
    when = start
    for index, name in enumerate(names):
        registered = index == len(names) - 1
        rcode = "NOERROR" if registered else "NXDOMAIN"
        answers = ["203.0.113.77"] if registered else []
        out.append(record(when, client, name, rcode=rcode, answers=answers))
        when += timedelta(seconds=rng.uniform(0.05, 2))
    return out


def tunnel(
    rng: random.Random, client: str, start: datetime, domain: str, payload: bytes
) -> list[dict[str, object]]:
    """A file sent out in base32 subdomains of TXT questions, as dnscat-like tools do."""
    encoded = base64.b32encode(payload).decode().rstrip("=").lower()
    out = []
    when = start
    for seq, begin in enumerate(range(0, len(encoded), 50)):
        piece = encoded[begin : begin + 50]
        name = f"{piece}.{seq:04x}.x.{domain}"
        out.append(record(when, client, name, qtype="TXT", answers=[f"ok{seq}"]))
        when += timedelta(seconds=rng.uniform(0.1, 1.0))
    return out


def write_zeek(path: Path, records: Iterable[dict[str, object]]) -> Path:
    """Write records as a Zeek JSON dns.log, sorted by time."""
    rows = sorted(records, key=lambda r: float(r["ts"]))  # type: ignore[arg-type]
    for index, row in enumerate(rows):
        row["uid"] = f"C{index:017d}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path
