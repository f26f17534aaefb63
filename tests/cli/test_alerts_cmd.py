"""``tocsin alerts`` against a real home (SQLite workspace in tmp_path)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.core.event import Reason
from tocsin.core.settings import load_settings
from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace
from tocsin.workspace.tables import Team, User

runner = CliRunner()


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    assert runner.invoke(app, ["--home", str(path), "init"]).exit_code == 0
    return path


@pytest.fixture
def workspace(home):
    opened = Workspace.open(load_settings(home=home))
    now = datetime.now(UTC)
    with opened.db.session() as session:
        for name in ("kim", "lee"):
            session.add(User(username=name, role="analyst", password_hash="x", created_at=now))
        session.add(Team(name="IT operations", created_at=now))
    yield opened
    opened.close()


def run(home, *args):
    return runner.invoke(app, ["--home", str(home), "alerts", *args])


def raise_three(workspace):
    result = workspace.raise_alerts(
        [
            AlertDraft(
                "sigma-1",
                "Encoded PowerShell",
                "high",
                event_ids=["ev-1", "ev-2"],
                observables=[Observable.of("host", "ws-7")],
                reasons=[Reason("CommandLine", "CommandLine=*-enc*", 1.0)],
                tags=["attack.t1059.001"],
            ),
            AlertDraft("dns.dga", "DGA domain", "medium", dedup_key="dga"),
            AlertDraft("net.scan", "Port scan", "low", dedup_key="scan"),
        ]
    )
    return result.created


def test_list_filters_and_formats(home, workspace):
    ids = raise_three(workspace)
    listed = json.loads(run(home, "list", "-o", "json").stdout)
    assert [(a["id"], a["severity"], a["status"]) for a in listed] == [
        (ids[2], "low", "new"),
        (ids[1], "medium", "new"),
        (ids[0], "high", "new"),
    ]
    severe = run(home, "list", "--severity", "high,medium", "-o", "ndjson")
    assert [json.loads(line)["id"] for line in severe.stdout.splitlines()] == [ids[1], ids[0]]
    by_rule = json.loads(run(home, "list", "--rule", "dns.*", "-o", "json").stdout)
    assert [a["id"] for a in by_rule] == [ids[1]]
    table = list(csv.reader(io.StringIO(run(home, "list", "-o", "csv").stdout)))
    assert table[0] == [
        "id",
        "severity",
        "status",
        "title",
        "rule_id",
        "count",
        "assignee",
        "team",
        "last_seen",
    ]
    limited = run(home, "list", "--limit", "1", "-o", "json")
    assert len(json.loads(limited.stdout)) == 1
    assert "1 of 3 alerts shown" in limited.stderr
    bad = run(home, "list", "--status", "open")
    assert bad.exit_code == 1 and "unknown alert status 'open'" in bad.stderr


def test_ack_assign_close_and_show(home, workspace):
    ids = raise_three(workspace)
    acked = run(home, "ack", str(ids[0]), str(ids[1]))
    assert acked.exit_code == 0, acked.output
    assert f"alert {ids[0]} acknowledged" in acked.stderr

    assigned = run(home, "assign", str(ids[0]), "--user", "kim", "--team", "IT operations")
    assert assigned.exit_code == 0, assigned.output
    mine = json.loads(run(home, "list", "--assignee", "kim", "-o", "json").stdout)
    assert [(a["id"], a["assignee"], a["team"]) for a in mine] == [(ids[0], "kim", "IT operations")]
    nobody = run(home, "assign", str(ids[0]), "--user", "zed")
    assert nobody.exit_code == 1 and "no user 'zed'" in nobody.stderr
    neither = run(home, "assign", str(ids[0]))
    assert neither.exit_code == 1 and "--user NAME, --team NAME" in neither.stderr

    closed = run(
        home, "close", str(ids[0]), str(ids[1]), "-c", "false_positive", "--comment", "lab test"
    )
    assert closed.exit_code == 0, closed.output
    statuses = {a["id"]: a["status"] for a in json.loads(run(home, "list", "-o", "json").stdout)}
    assert statuses[ids[0]] == statuses[ids[1]] == "closed (false_positive)"
    assert statuses[ids[2]] == "new"
    again = run(home, "close", str(ids[0]), str(ids[2]), "-c", "duplicate")
    assert again.exit_code == 1  # one of the two was already closed
    assert f"alert {ids[0]}: alert {ids[0]} is already closed" in again.stderr
    assert f"alert {ids[2]} closed" in again.stderr
    wrong = run(home, "close", str(ids[2]), "-c", "maybe")
    assert wrong.exit_code == 1 and "unknown classification 'maybe'" in wrong.stderr

    shown = json.loads(run(home, "show", str(ids[0]), "-o", "json").stdout)
    assert shown["assignee_name"] == "kim" and shown["close_comment"] == "lab test"
    assert shown["event_ids"] == ["ev-1", "ev-2"]
    actions = [(h["action"], h["field"]) for h in shown["history"]]
    assert actions[:3] == [("create", None), ("update", "status"), ("update", "assignee_id")]
    assert shown["history"][1]["actor"].startswith("local:")

    text = run(home, "show", str(ids[0]), "-o", "table")
    assert text.exit_code == 0, text.output
    for expected in (
        f"Alert #{ids[0]}: Encoded PowerShell",
        "closed (false_positive)",
        "CommandLine: CommandLine=*-enc* (1.0)",
        "host: ws-7",
        "ev-2",
        "status: 'acknowledged' -> 'closed'",
    ):
        assert expected in text.stdout
    missing = run(home, "show", "9999")
    assert missing.exit_code == 1 and "no alert 9999" in missing.stderr


def test_unassign_with_a_dash(home, workspace):
    (first, *_rest) = raise_three(workspace)
    run(home, "assign", str(first), "--user", "lee")
    assert workspace.alerts.get(Principal.local(), first).assignee_name == "lee"
    assert run(home, "assign", str(first), "--user", "-").exit_code == 0
    assert workspace.alerts.get(Principal.local(), first).assignee_id is None
