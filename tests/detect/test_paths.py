"""Detection in the ingest pipeline, in hunts and in scans: alerts, and the same matches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tocsin.core.settings import Settings
from tocsin.detect.runner import Detection
from tocsin.detect.scan import scan
from tocsin.detect.service import CORRELATION_STATE, SigmaStage, hunt_home, sigma_principal
from tocsin.detect.store import RuleStore
from tocsin.ingest.service import IngestService
from tocsin.workspace.service import Workspace

WHOAMI = """
title: Whoami run by a user
id: 7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e01
status: test
description: Discovery of the current user.
logsource:
  category: process_creation
  product: windows
detection:
  sel_img:
    Image|endswith: '\\whoami.exe'
  filter_system:
    User: 'NT AUTHORITY\\SYSTEM'
  condition: sel_img and not filter_system
level: medium
tags:
  - attack.discovery
  - attack.t1033
"""

FAILED_LOGON = """
title: Failed logon
name: failed_logon
id: 7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e02
logsource:
  product: windows
  service: security
detection:
  sel:
    EventID: 4625
  condition: sel
level: low
"""

SPRAY = """
title: Password spraying from one source
id: 7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e03
correlation:
  type: value_count
  rules:
    - failed_logon
  group-by:
    - IpAddress
  timespan: 5m
  condition:
    field: TargetUserName
    gte: 3
level: high
tags:
  - attack.credential_access
  - attack.t1110.003
"""

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def evtx_json(
    record_id: int, channel: str, event_id: int, at: datetime, data: dict[str, object]
) -> str:
    record = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "test"}},
                "EventID": event_id,
                "EventRecordID": record_id,
                "Channel": channel,
                "Computer": "ws01.corp.example",
                "TimeCreated": {
                    "#attributes": {"SystemTime": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
                },
            },
            "EventData": data,
        }
    }
    return json.dumps(record, indent=1)


def write_logs(folder: Path) -> Path:
    """Sysmon process starts and a password spray, in one evtx_dump JSON file per channel."""
    folder.mkdir(parents=True, exist_ok=True)
    sysmon = "Microsoft-Windows-Sysmon/Operational"
    processes = [
        ("C:\\Windows\\System32\\whoami.exe", "CORP\\eve"),
        ("C:\\Windows\\System32\\whoami.exe", "NT AUTHORITY\\SYSTEM"),
        ("C:\\Windows\\notepad.exe", "CORP\\eve"),
        ("C:\\Windows\\System32\\WHOAMI.exe", "CORP\\bob"),
    ]
    parts = [
        evtx_json(i + 1, sysmon, 1, START + timedelta(minutes=i), {"Image": img, "User": user})
        for i, (img, user) in enumerate(processes)
    ]
    (folder / "sysmon.json").write_text("\n".join(parts))
    logons = []
    for i, user in enumerate(["alice", "bob", "carol", "dave", "alice"]):
        at = START + timedelta(minutes=10, seconds=30 * i)
        data = {"TargetUserName": user, "IpAddress": "10.9.9.9", "LogonType": 3}
        logons.append(evtx_json(100 + i, "Security", 4625, at, data))
    # one failure from elsewhere, much later: a group and a window of its own
    late = START + timedelta(hours=2)
    logons.append(
        evtx_json(200, "Security", 4625, late, {"TargetUserName": "x", "IpAddress": "10.1.1.1"})
    )
    (folder / "security.json").write_text("\n".join(logons))
    return folder


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "whoami.yml").write_text(WHOAMI)
    (folder / "failed_logon.yml").write_text(FAILED_LOGON)
    (folder / "spray.yml").write_text(SPRAY)
    return folder


@pytest.fixture
def home(tmp_path: Path, rules: Path) -> Settings:
    settings = Settings(home=tmp_path / "home")
    for folder in (settings.home, settings.lake_dir, settings.state_dir):
        folder.mkdir(parents=True, exist_ok=True)
    RuleStore(settings.rules_dir).install(str(rules), name="test")
    return settings


def pairs_of(detection: Detection) -> tuple[set[tuple[str, str]], set[tuple[str, tuple[str, ...]]]]:
    matches = {(m.rule.id, str(m.event["event.id"])) for m in detection.matches}
    firings = {(f.rule.id, tuple(sorted(f.event_ids))) for f in detection.firings}
    return matches, firings


def test_ingest_raises_explained_alerts(home: Settings, tmp_path: Path) -> None:
    logs = write_logs(tmp_path / "logs")
    IngestService(home).ingest([logs])
    workspace = Workspace.open(home)
    try:
        actor = sigma_principal()
        alerts = workspace.alerts.list(actor, limit=100).items
        by_rule = {a.rule_id: a for a in alerts}
        whoami = by_rule["7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e01"]
        # two matches (eve and bob; SYSTEM is filtered) on one host fold into one alert
        assert whoami.count == 2 and len(whoami.event_ids) == 2
        assert whoami.severity == "medium"
        assert whoami.tags == ["attack.discovery", "attack.t1033"]
        assert whoami.source == "sigma"
        details = " ".join(r["detail"] for r in whoami.reasons)
        assert "Image ends with" in details and "whoami.exe" in details
        assert {"type": "host", "value": "ws01.corp.example"} in whoami.observables
        spray = by_rule["7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e03"]
        assert spray.severity == "high" and spray.count == 1
        assert len(spray.event_ids) >= 3
        # the failed-logon rule feeds the correlation only (generate: false)
        assert "7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e02" not in by_rule
    finally:
        workspace.close()
    assert (home.state_dir / CORRELATION_STATE).is_file()


def test_scan_hunt_and_ingest_agree(home: Settings, rules: Path, tmp_path: Path) -> None:
    logs = write_logs(tmp_path / "logs")
    # the home runs the starter pack and the installed one: scan the same rules
    scanned = scan([logs], RuleStore(home.rules_dir).enabled_paths(), cache_dir=tmp_path / "cache")
    scan_matches = {
        (str(r["rule_id"]), str(r["event"]["event.id"]))  # type: ignore[index]
        for r in scanned.records
        if r["event.dataset"] != "correlation"
    }
    scan_firings = {
        (str(r["rule_id"]), tuple(sorted(r["event"]["event_ids"])))  # type: ignore[index]
        for r in scanned.records
        if r["event.dataset"] == "correlation"
    }

    stage = SigmaStage()
    stage.bind(home)
    IngestService(home, detection=False).ingest([logs])
    # the pipeline path: the same stage the ingest registry runs, on the events in time order
    hunted: list[Detection] = []
    outcome = hunt_home(home, alerts=False, on_detection=hunted.append)
    hunt_matches: set[tuple[str, str]] = set()
    hunt_firings: set[tuple[str, tuple[str, ...]]] = set()
    for detection in hunted:
        m, f = pairs_of(detection)
        hunt_matches |= m
        hunt_firings |= f
    assert outcome.report.events == 10
    assert hunt_matches == scan_matches
    assert hunt_firings == scan_firings
    ours = {"7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e01", "7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e03"}
    assert len({m for m in scan_matches if m[0] in ours}) == 2
    assert len({f for f in scan_firings if f[0] in ours}) == 1

    detector = stage._ready()
    assert detector is not None
    from tocsin.detect.reader import EventReader

    events = sorted(
        (e for b in EventReader().read([logs]) for e in b.events),
        key=lambda e: (e["@timestamp"], e["event.id"]),
    )
    pipeline = detector.run(events)
    pipeline_matches, pipeline_firings = pairs_of(pipeline)
    pipeline_firings |= pairs_of(detector.finish())[1]
    assert pipeline_matches == scan_matches
    assert pipeline_firings == scan_firings


def test_hunt_raises_alerts_and_respects_the_time_range(home: Settings, tmp_path: Path) -> None:
    logs = write_logs(tmp_path / "logs")
    IngestService(home, detection=False).ingest([logs])
    whoami, spray = "7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e01", "7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e03"
    seen: list[Detection] = []
    early = hunt_home(home, until=START + timedelta(minutes=5), on_detection=seen.append)
    assert [m.rule.id for d in seen for m in d.matches] == [whoami, whoami]
    assert not [f for d in seen for f in d.firings if f.rule.id == spray]
    assert early.alerts_new == 1
    seen.clear()
    everything = hunt_home(home, on_detection=seen.append)
    assert [f.rule.id for d in seen for f in d.firings if f.rule.id == spray] == [spray]
    assert everything.alerts_updated >= 1  # the whoami alert folds into the first hunt's
    workspace = Workspace.open(home)
    try:
        alerts = workspace.alerts.list(sigma_principal(), limit=100).items
    finally:
        workspace.close()
    by_rule = {a.rule_id: a for a in alerts}
    assert by_rule[whoami].count == 4  # two matches per hunt, one alert
    assert by_rule[spray].count == 1


def test_correlation_state_survives_a_restart(home: Settings, tmp_path: Path) -> None:
    logs = write_logs(tmp_path / "logs")
    from tocsin.detect.reader import EventReader

    events = sorted(
        (e for b in EventReader().read([logs]) for e in b.events),
        key=lambda e: (e["@timestamp"], e["event.id"]),
    )
    spray = [e for e in events if e.get("EventID") == 4625]
    first = SigmaStage()
    first.bind(home)
    first.process(spray[:2])
    first.close()
    second = SigmaStage()  # a new process: the windows continue from the saved state
    second.bind(home)
    second.process(spray[2:4])
    second.close()
    workspace = Workspace.open(home)
    try:
        alerts = workspace.alerts.list(sigma_principal(), limit=10).items
    finally:
        workspace.close()
    assert "7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e03" in [a.rule_id for a in alerts]


def test_the_stage_picks_up_a_rule_disabled_while_it_runs(home: Settings, tmp_path: Path) -> None:
    logs = write_logs(tmp_path / "logs")
    from tocsin.detect.reader import EventReader

    events = [e for b in EventReader().read([logs]) for e in b.events]
    whoami = "7d0f2b1e-9a51-4c1e-8f00-3a2b1c0d0e01"
    stage = SigmaStage()
    stage.reload_check_seconds = 0.0  # type: ignore[misc]  # check on every batch here
    stage.bind(home)
    try:
        detector = stage._ready()
        assert detector is not None and whoami in {r.id for r in detector.engine.rules}
        RuleStore(home.rules_dir).disable([whoami])  # as the console's switch does
        stage.process(events[:1])
        reloaded = stage._ready()
        assert reloaded is not detector
        assert reloaded is not None and whoami not in {r.id for r in reloaded.engine.rules}
        RuleStore(home.rules_dir).enable([whoami])
        stage.process(events[:1])
        again = stage._ready()
        assert again is not None and whoami in {r.id for r in again.engine.rules}
    finally:
        stage.close()


def test_a_stage_without_a_home_passes_events_through() -> None:
    stage = SigmaStage()
    events = [{"event.dataset": "windows.sysmon", "EventID": 1, "Image": "x\\whoami.exe"}]
    assert stage.process(events) is events


def test_scheduled_hunt_job(home: Settings, tmp_path: Path) -> None:
    from tocsin.detect.service import HuntJob

    job = HuntJob()
    assert job.interval(home) is None  # off unless configured
    assert job.interval(home.model_copy(update={"hunt_interval_minutes": 5})) == 300
    logs = write_logs(tmp_path / "logs")
    IngestService(home, detection=False).ingest([logs])
    # the events are from 2026-11-20: look back far enough to see them
    lookback = (datetime.now(UTC) - START).total_seconds() / 60 + 60
    summary = job.run(home.model_copy(update={"hunt_lookback_minutes": lookback}))
    assert "10 events" in summary and "new alerts" in summary
    workspace = Workspace.open(home)
    try:
        assert workspace.alerts.list(sigma_principal(), limit=10).total >= 2
    finally:
        workspace.close()


def test_hunt_command_raises_alerts_and_prints_its_figures(home: Settings, tmp_path: Path) -> None:
    import orjson
    from typer.testing import CliRunner

    from tocsin.cli.app import app

    IngestService(home, detection=False).ingest([write_logs(tmp_path / "logs")])
    result = CliRunner().invoke(app, ["--home", str(home.home), "hunt", "--output", "json"])
    assert result.exit_code == 0, result.output
    [row] = orjson.loads(result.stdout[result.stdout.index("[") :])
    assert row["events"] == 10 and row["correlations"] >= 1 and row["alerts_new"] >= 2
    quiet = CliRunner().invoke(
        app,
        ["--home", str(home.home), "hunt", "--no-alerts", "--until", "2026-11-01", "-o", "json"],
    )
    assert quiet.exit_code == 0, quiet.output
    assert orjson.loads(quiet.stdout[quiet.stdout.index("[") :])[0]["events"] == 0
