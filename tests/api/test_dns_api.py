"""``/api/v1/dns``: top talkers, a hunt on demand and names scored, over a real lake filled by
ingesting a generated Zeek dns.log through the real ingest service.

The traffic (``office_dns``) is small and its figures are known: 30 lookups by 3 clients for 4
names, 4 of them answered NXDOMAIN; ``example.com`` is the top domain with 20 lookups and
``10.0.0.1`` the top client with 15. ``tunnel_dns`` adds a client sending a file out through
TXT questions under one domain. The console and end-to-end tests reuse both.
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.api.conftest import bearer
from tocsin.core.settings import Settings
from tocsin.ingest.service import IngestService
from tocsin.workspace.permissions import Principal

pytestmark = pytest.mark.anyio

TOP_DOMAIN = "example.com"
TOP_CLIENT = "10.0.0.1"
TUNNEL_CLIENT = "10.0.0.99"
TUNNEL_DOMAIN = "exfil-sync.net"
LOOKUPS, NX, CLIENTS, NAMES = 30, 4, 3, 4


def zeek_record(
    when: datetime,
    client: str,
    name: str,
    *,
    qtype: str = "A",
    rcode: str = "NOERROR",
    answers: tuple[str, ...] = ("93.184.216.34",),
) -> dict[str, object]:
    """One Zeek dns.log record (JSON form)."""
    return {
        "ts": when.timestamp(),
        "uid": "C0",
        "id.orig_h": client,
        "id.orig_p": 53000,
        "id.resp_h": "10.0.0.53",
        "id.resp_p": 53,
        "proto": "udp",
        "query": name,
        "qclass": 1,
        "qclass_name": "C_INTERNET",
        "qtype_name": qtype,
        "rcode_name": rcode,
        "answers": list(answers) if rcode == "NOERROR" else [],
    }


def office_dns(end: datetime) -> list[dict[str, object]]:
    """30 lookups over the 50 minutes before ``end`` with known figures (module docstring)."""
    plan = [
        # client, name, qtype, rcode, how many
        ("10.0.0.1", "www.example.com", "A", "NOERROR", 10),
        ("10.0.0.1", "cdn.example.com", "AAAA", "NOERROR", 5),
        ("10.0.0.2", "www.example.com", "A", "NOERROR", 2),
        ("10.0.0.2", "cdn.example.com", "AAAA", "NOERROR", 3),
        ("10.0.0.2", "docs.python.org", "A", "NOERROR", 6),
        ("10.0.0.3", "missing-host.example.net", "A", "NXDOMAIN", 4),
    ]
    records: list[dict[str, object]] = []
    for client, name, qtype, rcode, count in plan:
        for i in range(count):
            when = end - timedelta(minutes=10 + (len(records) * 37 + i) % 40)
            records.append(zeek_record(when, client, name, qtype=qtype, rcode=rcode))
    return records


def tunnel_dns(end: datetime, *, queries: int = 80) -> list[dict[str, object]]:
    """A file leaving in base32 subdomains of TXT questions, one new name per question."""
    rng = random.Random(7)
    payload = bytes(rng.getrandbits(8) for _ in range(queries * 31))
    encoded = base64.b32encode(payload).decode().rstrip("=").lower()
    records: list[dict[str, object]] = []
    for seq in range(queries):
        piece = encoded[seq * 48 : seq * 48 + 48]
        when = end - timedelta(minutes=30) + timedelta(seconds=seq * 3)
        name = f"{piece}.{seq:04x}.t.{TUNNEL_DOMAIN}"
        records.append(zeek_record(when, TUNNEL_CLIENT, name, qtype="TXT", answers=(f"ok{seq}",)))
    return records


def ingest_zeek(settings: Settings, records: list[dict[str, object]], folder: Path) -> None:
    """Write ``records`` as a Zeek JSON dns.log and ingest it with the real service."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dns.log"
    rows = sorted(records, key=lambda r: float(r["ts"]))  # type: ignore[arg-type]
    for index, row in enumerate(rows):
        row["uid"] = f"C{index:017d}"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    report = IngestService(settings, detection=False).ingest([path], force=True, workers=1)
    assert report.total == len(records), report
    assert report.quarantined == 0


@pytest.fixture
def office(api, tmp_path):
    """The API over a lake holding the office's DNS traffic of the last hour."""
    ingest_zeek(api.settings, office_dns(datetime.now(UTC)), tmp_path / "input")
    return api


async def test_top_gives_the_figures_of_the_traffic(office):
    async with office.client() as client:
        assert (await client.get("/api/v1/dns/top")).status_code == 401
        denied = await client.get("/api/v1/dns/top", headers=bearer(office.ingest_token))
        assert denied.status_code == 403
        response = await client.get("/api/v1/dns/top", headers=bearer(office.read_token))
    assert response.status_code == 200, response.text
    top = response.json()
    assert (top["lookups"], top["clients"], top["names"], top["nx"]) == (
        LOOKUPS,
        CLIENTS,
        NAMES,
        NX,
    )
    assert top["nx_share"] == round(NX / LOOKUPS, 4)
    first = top["top_domains"][0]
    assert (first["domain"], first["lookups"], first["clients"], first["names"]) == (
        TOP_DOMAIN,
        20,
        2,
        2,
    )
    assert [d["domain"] for d in top["top_domains"]] == [TOP_DOMAIN, "python.org", "example.net"]
    assert top["top_clients"][0] == {
        "client": TOP_CLIENT,
        "lookups": 15,
        "domains": 1,
        "nx": 0,
        "nx_share": 0.0,
    }
    assert top["top_nx_domains"] == [{"domain": "example.net", "nx": 4, "clients": 1}]
    assert {q["qtype"]: q["lookups"] for q in top["qtypes"]} == {"A": 22, "AAAA": 8}
    assert {r["rcode"]: r["answers"] for r in top["rcodes"]} == {"NOERROR": 26, "NXDOMAIN": 4}
    assert sum(b["lookups"] for b in top["timeline"]) == LOOKUPS
    assert sum(b["nx"] for b in top["timeline"]) == NX
    # the default window is the last 24 hours, cut into half-hour buckets
    since = datetime.fromisoformat(top["since"])
    until = datetime.fromisoformat(top["until"])
    assert until - since == timedelta(hours=24) and top["bucket_seconds"] == 1800


async def test_top_takes_the_search_routes_times_and_a_limit(office):
    now = datetime.now(UTC)
    async with office.client() as client:
        get = client.get
        headers = bearer(office.read_token)
        recent = await get("/api/v1/dns/top?since=-5m", headers=headers)
        assert recent.status_code == 200 and recent.json()["lookups"] == 0  # all are older
        iso = (now - timedelta(hours=2)).isoformat()
        window = await get("/api/v1/dns/top", params={"since": iso, "limit": 1}, headers=headers)
        assert window.json()["lookups"] == LOOKUPS
        assert [d["domain"] for d in window.json()["top_domains"]] == [TOP_DOMAIN]
        bad = await get("/api/v1/dns/top?since=yesterday-ish", headers=headers)
        assert bad.status_code == 400 and "yesterday-ish" in bad.json()["detail"]
        empty = await get("/api/v1/dns/top?since=-1h&until=-2h", headers=headers)
        assert empty.status_code == 400 and "empty" in empty.json()["detail"]
        too_many = await get("/api/v1/dns/top?limit=5000", headers=headers)
        assert too_many.status_code == 422


async def test_hunt_is_bounded_and_needs_triage(office):
    writer, _ = office.tokens.create("hunter", ["write"])
    async with office.client() as client:
        post = client.post
        read_only = await post("/api/v1/dns/hunt", json={}, headers=bearer(office.read_token))
        assert read_only.status_code == 403
        long = await post(
            "/api/v1/dns/hunt", json={"since": "-40d", "until": "now"}, headers=bearer(writer)
        )
        assert long.status_code == 400 and "31 days" in long.json()["detail"]
        unknown = await post(
            "/api/v1/dns/hunt", json={"detectors": ["astrology"]}, headers=bearer(writer)
        )
        assert unknown.status_code == 400 and "astrology" in unknown.json()["detail"]
        extra = await post("/api/v1/dns/hunt", json={"window": "1h"}, headers=bearer(writer))
        assert extra.status_code == 422


async def test_hunt_finds_the_tunnel_and_raises_its_alert(api, tmp_path):
    end = datetime.now(UTC)
    ingest_zeek(api.settings, office_dns(end) + tunnel_dns(end), tmp_path / "input")
    writer, _ = api.tokens.create("hunter", ["write"])
    body = {"since": "-2h", "until": "now", "detectors": ["tunnel"]}
    async with api.client() as client:
        response = await client.post("/api/v1/dns/hunt", json=body, headers=bearer(writer))
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["report"]["events"] == LOOKUPS + 80
    assert found["report"]["alerts_new"] == 1
    assert [(f["detector"], f["client"], f["domain"]) for f in found["findings"]] == [
        ("dns.tunnel", TUNNEL_CLIENT, TUNNEL_DOMAIN)
    ]
    assert "dns.tunnel.record_types" in found["findings"][0]["reasons"]
    assert "1 new alerts" in found["summary"]
    alerts = api.services.workspace.alerts.list(Principal.system(), rule_id="dns.*").items
    assert [(a.rule_id, a.fields["client"]) for a in alerts] == [("dns.tunnel", TUNNEL_CLIENT)]
    audit = api.services.workspace.history.audit(Principal.system(), action="dns.hunt").items
    assert [e.detail["findings"] for e in audit] == [1]
    async with api.client() as client:
        params = {"alert_id": alerts[0].id, "days": 7}
        refused = await client.post(
            "/api/v1/dns/block", params=params, headers=bearer(api.read_token)
        )
        assert refused.status_code == 403
        blocked = await client.post("/api/v1/dns/block", params=params, headers=bearer(writer))
    assert blocked.status_code == 200, blocked.text
    [entry] = blocked.json()["entries"]
    assert entry["outcome"] == "added" and entry["entry"]["value"] == TUNNEL_DOMAIN
    assert entry["entry"]["source"] == f"alert:{alerts[0].id}"


async def test_score_explains_each_name(api):
    params = [("name", "www.wikipedia.org"), ("name", "xjw8k2qzvbn4lq7.net"), ("name", "com")]
    async with api.client() as client:
        headers = bearer(api.read_token)
        response = await client.get("/api/v1/dns/score", params=params, headers=headers)
        assert response.status_code == 200, response.text
        rows = response.json()["names"]
        assert [r["name"] for r in rows] == [n for _k, n in params]
        wiki, random_name, suffix = rows
        assert wiki["label"] == "wikipedia" and random_name["label"] == "xjw8k2qzvbn4lq7"
        assert random_name["score"] > 0.5 > wiki["score"]
        assert random_name["reasons"] and {"check", "detail", "weight"} <= set(
            random_name["reasons"][0]
        )
        assert suffix["score"] is None and "registered domain" in suffix["error"]
        none = await client.get("/api/v1/dns/score", headers=headers)
        assert none.status_code == 400 and "at least one name" in none.json()["detail"]
        many = [("name", f"n{i}.example.com") for i in range(101)]
        over = await client.get("/api/v1/dns/score", params=many, headers=headers)
        assert over.status_code == 400 and "at most 100" in over.json()["detail"]
        long = await client.get(
            "/api/v1/dns/score", params={"name": "a" * 300 + ".com"}, headers=headers
        )
        assert long.json()["names"][0]["error"].startswith("not a DNS name")
