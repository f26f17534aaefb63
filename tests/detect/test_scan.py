"""``tocsin scan``: offline, records with the agreed keys, a summary, bad input reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tocsin.cli.app import app
from tocsin.detect.reader import EventReader
from tocsin.detect.scan import scan

RULE = """
title: Whoami run by a user
id: 0b7c8a52-5e4e-4f39-9a10-7a1a4a2b3c01
status: test
logsource:
  category: process_creation
  product: windows
detection:
  sel:
    Image|endswith: '\\whoami.exe'
  condition: sel
level: medium
tags:
  - attack.discovery
  - attack.t1033
"""

SSH_RULE = """
title: SSH password failure
id: 0b7c8a52-5e4e-4f39-9a10-7a1a4a2b3c02
logsource:
  product: linux
  service: sshd
detection:
  keywords:
    - 'Failed password for'
  condition: keywords
level: low
"""

MANY = """
title: Many SSH failures from one host
id: 0b7c8a52-5e4e-4f39-9a10-7a1a4a2b3c03
correlation:
  type: event_count
  rules:
    - 0b7c8a52-5e4e-4f39-9a10-7a1a4a2b3c02
  group-by:
    - log.syslog.hostname
  timespan: 10m
  condition:
    gte: 3
level: high
"""


def sysmon_record(record_id: int, image: str, minute: int) -> dict[str, object]:
    """One Sysmon process creation in the evtx_dump JSON shape."""
    return {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "EventRecordID": record_id,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "ws01.corp.example",
                "TimeCreated": {"#attributes": {"SystemTime": f"2026-11-20T10:{minute:02d}:00Z"}},
            },
            "EventData": {"Image": image, "CommandLine": image, "User": "CORP\\eve"},
        }
    }


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    records = [
        sysmon_record(1, "C:\\Windows\\System32\\whoami.exe", 1),
        sysmon_record(2, "C:\\Windows\\System32\\notepad.exe", 2),
        sysmon_record(3, "C:\\Windows\\System32\\WHOAMI.EXE", 3),
    ]
    (folder / "sysmon.json").write_text("\n".join(json.dumps(r, indent=2) for r in records))
    lines = [
        f"Nov 20 10:0{i}:00 bastion sshd[42]: Failed password for root from 10.0.0.9 port 22 ssh2"
        for i in range(4)
    ]
    lines.insert(2, "this line is not syslog at all \x00\x01")
    (folder / "auth.log").write_text("\n".join(lines) + "\n")
    (folder / "notes.bin").write_bytes(b"\x00\x01\x02 not a log format")
    return folder


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "whoami.yml").write_text(RULE)
    (folder / "ssh.yml").write_text(SSH_RULE)
    (folder / "many.yml").write_text(MANY)
    return folder


def test_scan_finds_matches_and_correlations(inputs: Path, rules: Path, tmp_path: Path) -> None:
    result = scan([inputs], [rules], cache_dir=tmp_path / "cache")
    by_rule: dict[str, list[dict[str, object]]] = {}
    for record in result.records:
        assert set(record) == {
            "rule_id",
            "rule_title",
            "severity",
            "tags",
            "@timestamp",
            "event.dataset",
            "file",
            "event",
        }
        by_rule.setdefault(str(record["rule_title"]), []).append(record)
    whoami = by_rule["Whoami run by a user"]
    assert len(whoami) == 2
    assert all(r["file"].endswith("sysmon.json") for r in whoami)  # type: ignore[union-attr]
    assert whoami[0]["tags"] == ["attack.discovery", "attack.t1033"]
    assert whoami[0]["event.dataset"] == "windows.sysmon"
    # the SSH failures feed the correlation (generate: false by default), which fires once
    assert "SSH password failure" not in by_rule
    [many] = by_rule["Many SSH failures from one host"]
    assert many["severity"] == "high"
    assert result.events_read == 7
    assert result.files_read == 2
    assert [p.name for p, _ in result.files_failed] == ["notes.bin"]
    assert result.rules_loaded == 3 and result.rules_failed == 0


def test_scan_with_workers_gives_the_same_records(
    inputs: Path, rules: Path, tmp_path: Path
) -> None:
    one = scan([inputs], [rules], cache_dir=tmp_path / "cache", workers=1)
    two = scan([inputs], [rules], cache_dir=tmp_path / "cache", workers=2)
    assert two.from_cache
    key = [(r["rule_id"], r["file"], str(r["@timestamp"])) for r in one.records]
    assert key == [(r["rule_id"], r["file"], str(r["@timestamp"])) for r in two.records]


def test_scan_cli_writes_ndjson_and_a_summary(inputs: Path, rules: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["--home", str(tmp_path / "nohome"), "scan", "--rules", str(rules), str(inputs)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    records = [orjson.loads(line) for line in lines]
    assert sorted(r["rule_title"] for r in records) == [
        "Many SSH failures from one host",
        "Whoami run by a user",
        "Whoami run by a user",
    ]
    assert not (tmp_path / "nohome").exists()  # a scan writes nothing into a home


def test_scan_fail_on_and_missing_input(inputs: Path, rules: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--home", str(tmp_path / "nohome"), "scan", "--rules", str(rules)]
    gate = runner.invoke(app, [*base, "--fail-on", "high", str(inputs)])
    assert gate.exit_code == 1
    calm = runner.invoke(app, [*base, "--fail-on", "critical", str(inputs)])
    assert calm.exit_code == 0
    missing = runner.invoke(app, [*base, str(tmp_path / "nothing-here")])
    assert missing.exit_code == 1


def test_scan_runs_as_a_program(inputs: Path, rules: Path, tmp_path: Path) -> None:
    """The real entry point: stdout has only records, stderr the summary."""
    proc = subprocess.run(
        [sys.executable, "-m", "tocsin.cli", "scan", "--rules", str(rules), str(inputs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert all(line.startswith("{") for line in proc.stdout.splitlines())
    assert "events read" in proc.stderr and "rules loaded" in proc.stderr
    assert "cannot read" in proc.stderr and "notes.bin" in proc.stderr


def test_reader_reports_bad_records_and_keeps_the_rest(inputs: Path) -> None:
    reader = EventReader()
    events = [e for b in reader.read([inputs]) for e in b.events]
    assert reader.events_read == len(events) == 7
    assert [p.name for p, _ in reader.files_failed] == ["notes.bin"]
    ids = [e["event.id"] for e in events]
    assert len(set(ids)) == len(ids)
    again = [e["event.id"] for b in EventReader().read([inputs]) for e in b.events]
    assert again == ids  # deterministic ids, as the ingest makes them
