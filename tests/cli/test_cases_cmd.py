"""``tocsin cases`` against a real home (SQLite workspace in tmp_path)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from tests.workspace.case_helpers import add_alert, history
from tocsin.cli import app
from tocsin.core.settings import load_settings
from tocsin.workspace.db import Database

runner = CliRunner()


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    assert runner.invoke(app, ["--home", str(path), "init"]).exit_code == 0
    return path


@pytest.fixture
def db(home):
    database = Database(load_settings(home=home).workspace_url)
    yield database
    database.close()


def run(home, *args):
    return runner.invoke(app, ["--home", str(home), "cases", *args])


def test_create_list_comment_close(home, db):
    made = run(
        home,
        "create",
        "--title",
        "Ransomware on FS01",
        "--severity",
        "critical",
        "--description",
        "Files encrypted",
        "--tag",
        "ransomware",
    )
    assert made.exit_code == 0, made.output
    case_id = int(made.stdout.strip())
    assert f"case #{case_id} created (critical" in made.stderr
    run(home, "create", "--title", "Printer jam", "--severity", "low")

    listed = json.loads(run(home, "list", "-o", "json").stdout)
    assert [(c["id"], c["severity"], c["status"]) for c in listed] == [
        (case_id + 1, "low", "new"),
        (case_id, "critical", "new"),
    ]
    limited = run(home, "list", "--limit", "1", "-o", "ndjson")
    assert len(limited.stdout.splitlines()) == 1
    assert "1 of 2 cases shown" in limited.stderr
    table = run(home, "list", "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert rows[1]["title"] == "Ransomware on FS01"

    commented = run(home, "comment", str(case_id), "Backups verified")
    assert commented.exit_code == 0, commented.output
    assert f"added to case #{case_id}" in commented.stderr
    closed = run(
        home,
        "close",
        str(case_id),
        "--classification",
        "true_positive",
        "--summary",
        "Restored from backup",
    )
    assert closed.exit_code == 0, closed.output
    assert "closed as true_positive" in closed.stderr
    open_only = json.loads(run(home, "list", "--status", "open", "-o", "json").stdout)
    assert [c["id"] for c in open_only] == [case_id + 1]
    actors = {r.actor for r in history(db, "case", case_id)}
    assert len(actors) == 1 and actors.pop().startswith("local:")


def test_create_from_alerts_and_template_then_show(home, db):
    alert = add_alert(
        db,
        "Mimikatz on dc1",
        "critical",
        tags=("attack.t1003.001",),
        observables=(("host", "dc1"),),
    )
    from tocsin.workspace.cases import CaseService
    from tocsin.workspace.permissions import Principal

    CaseService(db, load_settings(home=home)).create_template(
        Principal.local(),
        "credential-theft",
        "Credential theft",
        "high",
        tasks=[{"title": "Reset krbtgt twice"}],
    )
    made = run(home, "create", "--template", "credential-theft", "--alert", str(alert))
    assert made.exit_code == 0, made.output
    case_id = int(made.stdout.strip())
    run(home, "comment", str(case_id), "[red]not markup[/red]")

    shown = json.loads(run(home, "show", str(case_id), "-o", "json").stdout)
    assert (shown["title"], shown["severity"]) == ("Credential theft", "critical")
    assert shown["techniques"] == ["T1003.001"]
    assert [t["title"] for t in shown["tasks"]] == ["Reset krbtgt twice"]
    assert [(o["type"], o["value"]) for o in shown["observables"]] == [("host", "dc1")]
    assert [a["id"] for a in shown["alerts"]] == [alert]
    assert [c["body"] for c in shown["comments"]] == ["[red]not markup[/red]"]

    table = run(home, "show", str(case_id), "-o", "table")
    assert table.exit_code == 0, table.output
    for text in (
        "Case #",
        "Credential theft",
        "Tasks",
        "Reset krbtgt twice",
        "Observables",
        "dc1",
        "Alerts",
        "Mimikatz on dc1",
        "[red]not markup[/red]",
        "T1003.001",
    ):
        assert text in table.stdout, text


def test_errors_exit_1_with_a_message(home):
    missing = run(home, "show", "4242")
    assert missing.exit_code == 1
    assert "no case #4242" in missing.stderr
    no_title = run(home, "create", "--severity", "low")
    assert no_title.exit_code == 1
    assert "needs a title" in no_title.stderr
    bad = run(home, "close", "1", "--classification", "maybe")
    assert bad.exit_code == 1
    usage = run(home, "close", "1")
    assert usage.exit_code == 2  # --classification is required
