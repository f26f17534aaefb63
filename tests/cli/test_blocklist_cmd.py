"""``tocsin blocklist`` end to end through Typer's runner, against a real home (SQLite)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.core.settings import load_settings
from tocsin.workspace.db import Database
from tocsin.workspace.tables import AuditRecord

runner = CliRunner()
GENERATED = re.compile(r"^# generated-at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    assert runner.invoke(app, ["--home", str(path), "init"]).exit_code == 0
    return path


def run(home, *args, **kwargs):
    return runner.invoke(app, ["--home", str(home), "blocklist", *args], **kwargs)


def listed(home, *args):
    result = run(home, "list", "--output", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_add_list_export_and_remove(home, tmp_path):
    added = run(
        home,
        "add",
        "Evil.COM",
        "hxxps://evil[.]com/login",
        "ceo@evil.com",
        "203.0.113.0/24",
        "--reason",
        "phishing kit",
        "--source",
        "alert:12",
        "--expires",
        "30d",
    )
    assert added.exit_code == 0, added.stderr
    assert added.stdout == ""
    assert "added #1 block domain evil.com: until " in added.stderr
    assert "added #2 block url https://evil.com/login" in added.stderr
    assert "4 added, 0 updated, 0 unchanged" in added.stderr

    again = run(home, "add", "evil.com")
    assert again.exit_code == 0
    assert re.search(
        r"updated #1 block domain evil.com: expiry extended from \S+ to never", again.stderr
    )
    allowed = run(home, "add", "safe.evil.com", "--list", "allow", "--kind", "domain")
    assert "added #5 allow domain safe.evil.com: without expiry" in allowed.stderr

    rows = listed(home)
    assert [(r["id"], r["list"], r["kind"], r["value"]) for r in rows] == [
        (5, "allow", "domain", "safe.evil.com"),
        (4, "block", "ip", "203.0.113.0/24"),
        (3, "block", "email", "ceo@evil.com"),
        (2, "block", "url", "https://evil.com/login"),
        (1, "block", "domain", "evil.com"),
    ]
    assert rows[-1]["source"] == "alert:12" and rows[-1]["reason"] == "phishing kit"
    assert rows[-1]["expires_at"] is None and rows[1]["expires_at"] is not None
    assert [r["value"] for r in listed(home, "--kind", "url")] == ["https://evil.com/login"]
    assert [r["id"] for r in listed(home, "--list", "allow")] == [5]

    exported = run(home, "export", "--format", "hosts")
    assert exported.exit_code == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert lines[0] == "# tocsin block list (hosts)"
    assert GENERATED.match(lines[1])
    assert lines[2:] == ["# count: 1", "0.0.0.0 evil.com"]
    assert exported.stderr == ""
    assert run(home, "export", "-f", "ips").stdout == "203.0.113.0/24\n"
    assert run(home, "export", "-f", "plain", "--list", "allow").stdout == "safe.evil.com\n"

    target = tmp_path / "out" / "urls.txt"
    target.parent.mkdir()
    written = run(home, "export", "--format", "urls", "--output-file", str(target))
    assert written.exit_code == 0 and written.stdout == ""
    assert target.read_text() == "https://evil.com/login\n"
    assert "wrote 1 entries to" in written.stderr
    assert [p.name for p in target.parent.iterdir()] == ["urls.txt"]  # no temporary file left

    removed = run(home, "remove", "1", "CEO@evil.com", "--reason", "false positive")
    assert removed.exit_code == 0, removed.stderr
    assert "removed #1 block domain evil.com" in removed.stderr
    assert "removed #3 block email ceo@evil.com" in removed.stderr
    assert [r["id"] for r in listed(home)] == [5, 4, 2]
    everything = {r["id"]: r for r in listed(home, "--all")}
    assert everything[1]["state"] == "removed" and everything[1]["removed_by"].startswith("local:")
    db = Database(load_settings(home=home).workspace_url)
    try:
        with db.session() as session:
            actions = session.scalars(
                select(AuditRecord.action)
                .where(AuditRecord.action.startswith("blocklist."))
                .order_by(AuditRecord.id)
            ).all()
    finally:
        db.close()
    assert (
        actions
        == ["blocklist.add"] * 4 + ["blocklist.update", "blocklist.add"] + ["blocklist.remove"] * 2
    )


def test_values_from_a_file_and_from_stdin(home, tmp_path):
    source = tmp_path / "feed.txt"
    source.write_text(
        "# exported from a hosts file\n"
        "\n"
        "0.0.0.0 ads.example\n"
        "127.0.0.1 tracker.example   # seen in alert 7\n"
        "https://evil.example/a#frag\n"
        "phish.example\n"
    )
    result = run(home, "add", "--from-file", str(source), "--source", "feed:test")
    assert result.exit_code == 0, result.stderr
    assert {r["value"] for r in listed(home)} == {
        "ads.example",
        "tracker.example",
        "https://evil.example/a",
        "phish.example",
    }
    piped = run(home, "add", "--from-file", "-", "--list", "allow", input="good.example\n")
    assert piped.exit_code == 0, piped.stderr
    assert [r["value"] for r in listed(home, "--list", "allow")] == ["good.example"]
    assert {r["source"] for r in listed(home)} == {"feed:test", "manual"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["add", "not a domain", "evil.com"], 1, "'not a domain' is not a domain name"),
        (["add", "10.0.0.1/8"], 1, "did you mean '10.0.0.0/8'?"),
        (["add", "--from-file", "/nonexistent/feed.txt"], 1, "cannot read '/nonexistent/feed.txt'"),
        (["add", "evil.com", "--expires", "soon"], 2, "cannot read 'soon' as an expiry"),
        (["add"], 2, "give one or more values, or --from-file FILE"),
        (["add", "evil.com", "--list", "grey"], 2, "grey"),
        (["add", "evil.com", "--kind", "colour"], 2, "colour"),
        (["remove", "42"], 1, "no block or allow list entry #42"),
        (["remove", "evil.com"], 1, "'evil.com' (domain evil.com) is not on the block or allow"),
        (["export", "--format", "bind9"], 2, "unknown export format 'bind9'"),
        (["export"], 2, "--format"),
    ],
)
def test_errors_and_exit_codes(home, args, code, message):
    result = run(home, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert result.stdout == ""
    assert listed(home) == []  # nothing half-done


def test_list_pages_and_csv(home):
    assert run(home, "add", "a.example", "b.example", "c.example").exit_code == 0
    limited = run(home, "list", "--limit", "2", "--output", "csv")
    assert limited.exit_code == 0
    assert limited.stdout.splitlines()[0] == "id,list,kind,value,state,expires_at,source,reason"
    assert [line.split(",")[3] for line in limited.stdout.splitlines()[1:]] == [
        "c.example",
        "b.example",
    ]
    assert "2 of 3 entries shown" in limited.stderr
    assert [r["value"] for r in listed(home, "--query", "B.EXAMPLE")] == ["b.example"]
