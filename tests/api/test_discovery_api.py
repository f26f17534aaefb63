"""Data discovery over HTTP: findings, triage, inventory and the text check, with permissions."""

from __future__ import annotations

import json
import random

import pytest

from tocsin.discovery.engine import Scanner
from tocsin.discovery.findings import Location
from tocsin.discovery.rules import load_rules
from tocsin.discovery.store import store_findings
from tocsin.testing import secrets as fakes
from tocsin.workspace.permissions import Role

pytestmark = pytest.mark.anyio


def seed(ws_api, seed: int = 1) -> dict[str, str]:
    rng = random.Random(seed)
    pat = fakes.github_pat(rng)
    text = f"TOKEN = '{pat}'\n# owner: <script>alert(1)</script> ops@example.org\n"
    path = "src/<b>app</b>/settings.py"
    found = Scanner(load_rules()).scan_text(
        text, path, where=Location(source="file", path=path, owner="alice")
    )
    store_findings(ws_api.settings, found)
    return {"pat": pat, "secret": next(f.fingerprint for f in found if f.category == "secret")}


async def test_findings_triage_and_inventory(ws_api) -> None:
    planted = seed(ws_api)
    async with ws_api.client() as client:
        listed = await client.get(
            "/api/v1/discovery/findings", headers=ws_api.headers(Role.READ_ONLY)
        )
        assert listed.status_code == 200
        body = listed.json()
        assert body["total"] == 2 and planted["pat"] not in listed.text
        denied = await client.post(
            f"/api/v1/discovery/findings/{planted['secret']}/triage",
            json={"state": "fixed"},
            headers=ws_api.headers(Role.READ_ONLY),
        )
        assert denied.status_code == 403
        done = await client.post(
            f"/api/v1/discovery/findings/{planted['secret']}/triage",
            json={"state": "fixed", "note": "rotated"},
            headers=ws_api.headers(Role.ANALYST),
        )
        assert done.status_code == 200 and done.json()["state"] == "fixed"
        bad = await client.post(
            f"/api/v1/discovery/findings/{planted['secret']}/triage",
            json={"state": "gone"},
            headers=ws_api.headers(Role.ANALYST),
        )
        assert bad.status_code == 422
        history = await client.get(
            f"/api/v1/discovery/findings/{planted['secret']}/history",
            headers=ws_api.headers(Role.ANALYST),
        )
        assert [h["to"] for h in history.json()["items"]] == ["fixed"]
        inv = await client.get(
            "/api/v1/discovery/inventory?by=owner", headers=ws_api.headers(Role.ANALYST)
        )
        assert inv.json()["rows"] == {"alice": {"EMAIL": 1}}


async def test_text_check_masks_and_is_audited(ws_api) -> None:
    pat = fakes.github_pat(random.Random(2))
    async with ws_api.client() as client:
        found = await client.post(
            "/api/v1/discovery/scan",
            json={"text": f"here is my token {pat} thanks", "pii": False},
            headers=ws_api.headers(Role.ANALYST),
        )
        assert found.status_code == 200
        rows = found.json()["findings"]
        assert [r["rule"] for r in rows] == ["github-pat"] and pat not in found.text
        too_big = await client.post(
            "/api/v1/discovery/scan",
            json={"text": "x" * 1_000_001},
            headers=ws_api.headers(Role.ANALYST),
        )
        assert too_big.status_code == 422
        audit = await client.get("/api/v1/audit", headers=ws_api.headers(Role.ADMIN))
        assert "discovery.scan" in audit.text


async def test_search_export_masks_a_redacted_dataset(ws_api) -> None:
    from datetime import UTC, datetime

    from tocsin.lake.writer import LakeWriter

    pat = fakes.github_pat(random.Random(3))
    writer = LakeWriter(ws_api.settings.lake_dir)
    now = datetime.now(UTC)
    writer.add(
        [
            {
                "event.id": f"e{i}",
                "@timestamp": now,
                "event.dataset": dataset,
                "event.original": f"git push https://{pat}@github.com/acme/app",
            }
            for i, dataset in enumerate(["linux.auditd", "syslog"])
        ]
    )
    writer.flush()
    writer.close()
    ws_api.settings.discovery_redact_datasets = ["linux.auditd"]
    async with ws_api.client() as client:
        got = await client.get(
            "/api/v1/search/export?format=ndjson", headers=ws_api.headers(Role.ADMIN)
        )
    assert got.status_code == 200
    rows = {row["event.dataset"]: row for row in map(json.loads, got.text.splitlines())}
    assert pat not in rows["linux.auditd"]["event.original"]
    assert "redacted" in rows["linux.auditd"]["tags"]
    assert pat in rows["syslog"]["event.original"]  # a dataset not chosen is left as stored
