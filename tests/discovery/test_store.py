"""Results: discovery.finding events, alerts, triage states, the inventory; and redaction."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tocsin.core.settings import Settings
from tocsin.discovery.engine import Scanner
from tocsin.discovery.findings import Location
from tocsin.discovery.inventory import inventory
from tocsin.discovery.redact import RedactStage
from tocsin.discovery.rules import load_rules
from tocsin.discovery.store import (
    false_positives,
    list_findings,
    set_state,
    store_findings,
    triage_history,
)
from tocsin.lake.reader import LakeReader
from tocsin.testing import secrets as fakes
from tocsin.workspace.models import AlertStatus, Classification
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace


@pytest.fixture
def home(tmp_path: Path, db_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url, flush_seconds=0.05)


def findings(seed: int = 1, path: str = "src/app/settings.py"):
    rng = random.Random(seed)
    text = f"TOKEN = '{fakes.github_pat(rng)}'\nowner = 'ops@example.org'\n"
    return Scanner(load_rules()).scan_text(
        text, path, where=Location(source="file", path=path, owner="alice")
    )


def test_store_writes_masked_events_and_alerts_secrets_once(home: Settings) -> None:
    found = findings()
    assert {f.kind for f in found} == {"GITHUB_PAT", "EMAIL"}
    report = store_findings(home, found)
    assert report.events == 2 and report.alerts_new == 1
    again = store_findings(home, found)
    assert again.alerts_new == 0 and again.alerts_updated == 1
    events = LakeReader(home.lake_dir).search("", datasets=["discovery.finding"], limit=10).events
    # the same finding stored twice is one event (deterministic id)
    assert len({e["event.id"] for e in events}) == 2
    pat = next(f for f in found if f.kind == "GITHUB_PAT")
    for event in events:
        assert "ghp_" not in str(event["event.original"]) or "*" in str(event["event.original"])
    secret_event = next(e for e in events if e["tocsin.discovery.kind"] == "GITHUB_PAT")
    assert secret_event["tocsin.discovery.masked"] == pat.masked
    assert secret_event["file.owner"] == "alice" and secret_event["event.kind"] == "alert"
    ws = Workspace.open(home)
    try:
        actor = Principal.system("test")
        alerts = ws.alerts.list(actor, rule_id="discovery.secret").items
        assert len(alerts) == 1 and "src/app/settings.py:1" in alerts[0].title
    finally:
        ws.close()


def test_triage_states_close_alerts_and_shape_later_scans(home: Settings) -> None:
    found = findings(2)
    store_findings(home, found)
    pat = next(f for f in found if f.kind == "GITHUB_PAT")
    email = next(f for f in found if f.kind == "EMAIL")
    actor = Principal.system("analyst")
    ws = Workspace.open(home)
    try:
        rows, total = list_findings(ws, actor, state="open")
        assert total == 2
        fixed = set_state(ws, actor, pat.fingerprint, "fixed", note="rotated and removed")
        assert fixed.state == "fixed"
        alert = ws.alerts.get(actor, fixed.alert_id)
        assert alert.status == AlertStatus.CLOSED
        assert alert.classification == Classification.TRUE_POSITIVE
        set_state(ws, actor, email.fingerprint, "false_positive", note="shared mailbox")
    finally:
        ws.close()
    assert false_positives(home) == {email.fingerprint}
    # a fixed secret seen again opens again; the false positive is not stored again
    report = store_findings(home, found)
    assert report.reopened == 1 and report.dropped_false_positive == 1
    ws = Workspace.open(home)
    try:
        history = triage_history(ws, actor, pat.fingerprint)
        assert [(h["from"], h["to"]) for h in history] == [("open", "fixed"), ("fixed", "open")]
        with pytest.raises(Exception, match="state must be one of"):
            set_state(ws, actor, pat.fingerprint, "gone")
    finally:
        ws.close()


def test_inventory_counts_live_findings_by_folder_and_owner(home: Settings) -> None:
    store_findings(home, findings(3, "src/app/settings.py") + findings(4, "deploy/prod/env.sh"))
    ws = Workspace.open(home)
    try:
        actor = Principal.system("analyst")
        by_folder = inventory(ws, actor, by="folder", depth=2)
        assert by_folder.rows == {
            "src/app/": {"GITHUB_PAT": 1, "EMAIL": 1},
            "deploy/prod/": {"GITHUB_PAT": 1, "EMAIL": 1},
        }
        assert inventory(ws, actor, by="owner").rows == {"alice": {"GITHUB_PAT": 2, "EMAIL": 2}}
        rows, _ = list_findings(ws, actor, kind="EMAIL")
        for row in rows:
            set_state(ws, actor, row.fingerprint, "false_positive")
        assert inventory(ws, actor, by="source").rows == {"file": {"GITHUB_PAT": 2}}
    finally:
        ws.close()


def test_redaction_stage_masks_chosen_datasets_only(tmp_path: Path) -> None:
    rng = random.Random(5)
    key = fakes.aws_key_id(rng)
    settings = Settings(home=tmp_path / "h", discovery_redact_datasets=["linux.auditd"])
    stage = RedactStage()
    stage.bind(settings)
    assert stage.sees("linux.auditd") and not stage.sees("zeek.conn")
    events = [
        {
            "event.id": "a",
            "event.dataset": "linux.auditd",
            "event.original": f"aws configure set aws_access_key_id {key} user bob@example.com",
            "process.args": ["aws", key],
        },
        {"event.id": "b", "event.dataset": "zeek.conn", "event.original": f"k={key}"},
    ]
    out = stage.process(events)
    red = out[0]
    assert key not in red["event.original"] and "b***@example.com" in red["event.original"]
    assert key not in red["process.args"][1] and red["process.args"][0] == "aws"
    assert red["tocsin.redacted"] == 2 and "redacted" in red["tags"]
    assert out[1]["event.original"] == f"k={key}"
    # exports are masked without touching the stored copy
    stored = {"event.id": "c", "event.dataset": "linux.auditd", "event.original": f"id {key}"}
    exported = stage.export([stored])
    assert key not in exported[0]["event.original"] and stored["event.original"] == f"id {key}"


def test_redaction_through_ingest_keeps_secrets_out_of_the_lake(tmp_path: Path) -> None:
    from tocsin.ingest.service import IngestService

    rng = random.Random(6)
    pat = fakes.github_pat(rng)
    log = tmp_path / "app.jsonl"
    lines = [{"message": f"deploy with token {pat}", "user": "ci"}, {"message": "ok", "user": "ci"}]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    settings = Settings(home=tmp_path / "h", discovery_redact_datasets=["json"], flush_seconds=0.05)
    service = IngestService(settings, detection=False)
    try:
        service.ingest([log])
    finally:
        service.db.close()
    events = LakeReader(settings.lake_dir).search("", limit=10).events
    assert len(events) == 2
    assert all(pat not in str(v) for e in events for v in e.values())
    assert any("ghp_" in str(e.get("message")) for e in events)


def test_scheduled_lake_scan_stores_new_leaks_once(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tocsin.core.plugins import default_registry
    from tocsin.discovery.jobs import DiscoveryLakeJob
    from tocsin.lake.writer import LakeWriter

    settings = Settings(home=tmp_path / "h", discovery_lake_interval_minutes=15)
    job = DiscoveryLakeJob()
    assert "discovery.lake" in default_registry().ids("tocsin.jobs")
    assert job.interval(settings) == 900 and job.interval(Settings(home=tmp_path / "x")) is None
    pat = fakes.github_pat(random.Random(8))
    writer = LakeWriter(settings.lake_dir)
    writer.add(
        [
            {
                "event.id": "x1",
                "@timestamp": datetime.now(UTC),
                "event.dataset": "syslog",
                "event.original": f"git clone https://{pat}@github.com/acme/app",
            }
        ]
    )
    writer.flush()
    writer.close()
    first = job.run(settings)
    assert "1 findings" in first and "1 new alerts" in first
    second = job.run(settings)
    assert "0 new alerts" in second
