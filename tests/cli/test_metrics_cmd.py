"""``tocsin metrics`` against a real home."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from tests.workspace.history_builder import Story
from tocsin.cli import app
from tocsin.cli.metrics_cmd import humanize
from tocsin.core.settings import load_settings
from tocsin.workspace.db import Database
from tocsin.workspace.permissions import Principal
from tocsin.workspace.sla import SlaService

runner = CliRunner()


@pytest.fixture
def home(tmp_path):
    """A home with three alerts and a case from two days ago, and an alert SLA policy."""
    path = tmp_path / "home"
    assert runner.invoke(app, ["--home", str(path), "init"]).exit_code == 0
    settings = load_settings(home=path)
    db = Database(settings.workspace_url)
    story = Story(db)
    security = story.team("Security")
    start = datetime.now(UTC) - timedelta(days=2)
    SlaService(db, settings).create_policy(
        Principal.system(), "high", "alert", "high", acknowledge_minutes=10
    )
    for offset, ack, close, classification, rule in (
        (0, 4, 60, "false_positive", "dns.dga"),
        (1, 5, 120, "benign_positive", "dns.dga"),
        (2, 15, 180, "true_positive", "net.scan"),
    ):
        created = start + timedelta(minutes=offset)
        alert = story.alert(created, team_id=security, rule_id=rule)
        story.move("alert", alert, created + timedelta(minutes=ack, seconds=12), "acknowledged")
        story.close("alert", alert, created + timedelta(minutes=close), classification)
    case = story.case(start)
    story.move("case", case, start + timedelta(minutes=30), "in_progress")
    db.close()
    return path


def run(home, *args):
    return runner.invoke(app, ["--home", str(home), "metrics", *args])


def test_table_output(home):
    result = run(home, "--output", "table")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "3 alerts created from" in text
    # MTTA 4m 12s, 5m 12s, 15m 12s: mean 8m 12s, median 5m 12s, p90 13m 12s.
    mtta = next(line for line in text.splitlines() if "MTTA" in line)
    assert [cell.strip() for cell in mtta.split("│")[2:6]] == ["3", "8m 12s", "5m 12s", "13m 12s"]
    mttr = next(line for line in text.splitlines() if "MTTR" in line)
    assert " 2h 0m " in mttr
    assert "SLA compliance" in text
    acknowledge = next(line for line in text.splitlines() if "│ acknowledge " in line)
    assert "66.7%" in acknowledge  # two of three acknowledged within 10 minutes
    dga = next(line for line in text.splitlines() if "dns.dga" in line)
    assert "100.0%" in dga  # both closed dns.dga alerts were noise
    assert "Security" in text


def test_row_outputs(home):
    rows = [json.loads(line) for line in run(home, "-o", "ndjson").stdout.splitlines()]
    by_key = {(r["section"], r["metric"], r["group"], r["key"]): r for r in rows}
    mtta = by_key[("duration", "mtta", "overall", "all")]
    assert (mtta["count"], mtta["mean"], mtta["median"]) == (3, 492.0, 312.0)
    assert by_key[("sla", "acknowledge", "overall", "all")]["detail"] == {
        "met": 2,
        "breached": 1,
        "pending": 0,
        "compliance": 2 / 3,
    }
    assert by_key[("duration", "mttr", "team", "Security")]["count"] == 3

    listed = json.loads(run(home, "-o", "json", "--period", "day").stdout)
    assert any(r["group"] == "period" for r in listed)

    table = list(csv.DictReader(io.StringIO(run(home, "-o", "csv").stdout)))
    assert list(table[0]) == [
        "section",
        "metric",
        "group",
        "key",
        "count",
        "mean",
        "median",
        "p90",
        "value",
        "detail",
    ]
    assert {r["key"] for r in table if r["section"] == "rule"} == {"dns.dga", "net.scan"}


def test_cases_team_and_window(home):
    cases = [
        json.loads(line)
        for line in run(home, "--entity", "case", "-o", "ndjson").stdout.splitlines()
    ]
    by_key = {(r["section"], r["metric"], r["group"], r["key"]): r for r in cases}
    assert by_key[("duration", "mtta", "overall", "all")]["mean"] == 1800.0
    assert ("duration", "mttd", "overall", "all") not in by_key

    team = [
        json.loads(line)
        for line in run(home, "--team", "Security", "-o", "ndjson").stdout.splitlines()
    ]
    assert {(r["key"], r["count"]) for r in team if r["metric"] == "status"} == {("closed", 3)}

    old = run(home, "--since", "30d", "--until", "3d", "-o", "ndjson")
    assert old.exit_code == 0
    statuses = [json.loads(line) for line in old.stdout.splitlines()]
    assert [r for r in statuses if r["section"] == "count"] == []


def test_errors(home):
    unknown = run(home, "--team", "Nobody")
    assert unknown.exit_code == 1
    assert "team 'Nobody' does not exist" in unknown.output
    backwards = run(home, "--since", "1d", "--until", "2d")
    assert backwards.exit_code == 1
    assert "must be after since" in backwards.output
    assert run(home, "--period", "year").exit_code == 2


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (59.4, "59s"),
        (252, "4m 12s"),
        (3600, "1h 0m"),
        (7380, "2h 3m"),
        (2 * 86400 + 4 * 3600 + 59, "2d 4h"),
    ],
)
def test_humanize(seconds, text):
    assert humanize(seconds) == text
