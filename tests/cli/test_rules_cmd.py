"""``tocsin rules list|validate`` over the fixture rules (sub-app mounted directly)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tocsin.cli.rules_cmd import app

DATA = Path(__file__).resolve().parents[1] / "data" / "sigma"
runner = CliRunner()


def test_list_json_rows():
    result = runner.invoke(app, ["list", str(DATA / "good"), "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted(r["kind"] for r in rows) == [
        "correlation",
        "detection",
        "detection",
        "detection",
        "filter",
    ]
    whoami = next(r for r in rows if r["id"] == "0b4c1d2e-0001-4a00-8000-000000000001")
    assert whoami == {
        "id": "0b4c1d2e-0001-4a00-8000-000000000001",
        "title": "Tocsin Test Whoami Execution",
        "level": "high",
        "status": "test",
        "kind": "detection",
        "product": "windows",
        "category": "process_creation",
        "service": None,
        "tags": "attack.discovery,attack.t1033",
        "path": str(DATA / "good" / "proc_whoami.yml"),
    }


def test_list_csv_header():
    result = runner.invoke(app, ["list", str(DATA / "good"), "--output", "csv"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header == "id,title,level,status,kind,product,category,service,tags,path"


def test_validate_clean_folder_exits_0():
    result = runner.invoke(app, ["validate", str(DATA / "good"), "--output", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "5 loaded, 0 failed, 0 warnings" in result.stderr


def test_validate_reports_every_problem_and_exits_1():
    result = runner.invoke(
        app, ["validate", str(DATA / "good"), str(DATA / "bad"), "--output", "ndjson"]
    )
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((Path(r["path"]).name, r["severity"]) for r in rows) == [
        ("bad_modifier.yml", "error"),
        ("corr_unknown.yml", "error"),
        ("duplicate.yml", "error"),
        ("malformed.yml", "error"),
        ("no_id_no_level.yml", "warning"),
        ("no_id_no_level.yml", "warning"),
    ]
    assert set(rows[0]) == {"path", "rule_id", "severity", "message"}
    assert "6 loaded, 4 failed, 2 warnings" in result.stderr


def test_no_arguments_shows_help():
    result = runner.invoke(app, [])
    assert "list" in result.output and "validate" in result.output
