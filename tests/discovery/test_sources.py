"""Where discovery looks: git history and diffs, databases, and events in the lake."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, PG_MISSING
from tocsin.discovery.git import diff_hunks, history_hunks, parse_patch
from tocsin.discovery.scan import (
    ScanOptions,
    scan_database,
    scan_diff,
    scan_git_history,
    scan_lake,
)
from tocsin.testing import secrets as fakes

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git (Debian: git)")


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev One",
        "GIT_AUTHOR_EMAIL": "dev@example.org",
        "GIT_COMMITTER_NAME": "Dev One",
        "GIT_COMMITTER_EMAIL": "dev@example.org",
    }
    out = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


def test_parse_patch_counts_lines_so_plus_plus_content_is_content() -> None:
    patch = [
        "\x00\x01commit\x00abc123\x00Dev <d@x>\x002026-01-01T00:00:00+00:00\n",
        "diff --git a/a.txt b/a.txt\n",
        "--- a/a.txt\n",
        "+++ b/a.txt\n",
        "@@ -1 +1,2 @@\n",
        "-old\n",
        "+++ looks like a header\n",
        "+second\n",
        "\\ No newline at end of file\n",
    ]
    hunks = list(parse_patch(iter(patch)))
    assert len(hunks) == 1
    h = hunks[0]
    assert (h.path, h.first_line, h.commit) == ("a.txt", 1, "abc123")
    assert h.text == "++ looks like a header\nsecond"


@needs_git
def test_history_finds_a_secret_deleted_since(repo: Path) -> None:
    rng = random.Random(1)
    pat = fakes.github_pat(rng)
    (repo / "app.py").write_text("print('hello')\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    (repo / "app.py").write_text(f"print('hello')\nTOKEN = '{pat}'\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "oops")
    leaked = git(repo, "rev-parse", "HEAD")
    (repo / "app.py").write_text("print('hello')\n")
    git(repo, "commit", "-qam", "remove it")
    # a rename does not bring the file's lines back as new
    git(repo, "mv", "app.py", "main.py")
    git(repo, "commit", "-qm", "rename")

    hunks = list(history_hunks(repo))
    assert all(h.author == "Dev One <dev@example.org>" for h in hunks)
    report = scan_git_history(repo, ScanOptions(categories=("secret",)))
    assert [(f.rule_id, f.location.commit, f.location.line) for f in report.findings] == [
        ("github-pat", leaked, 2)
    ]
    assert report.findings[0].location.path == "app.py"
    assert pat not in repr(report.findings[0].to_dict())


@needs_git
def test_diff_scans_only_added_lines_staged_or_against_a_revision(repo: Path) -> None:
    rng = random.Random(2)
    old, new = fakes.github_pat(rng), fakes.github_pat(rng)
    (repo / "config.env").write_text(f"OLD={old}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    (repo / "config.env").write_text(f"OLD={old}\nNEW={new}\n")
    git(repo, "add", ".")
    staged = scan_diff(repo, ScanOptions(), staged=True)
    assert [(f.location.line, f.location.source) for f in staged.findings] == [(2, "diff")]
    git(repo, "commit", "-qm", "more")
    assert [h.first_line for h in diff_hunks(repo, "HEAD~1")] == [2]
    against = scan_diff(repo, ScanOptions(), rev="HEAD~1...HEAD")
    assert [f.location.line for f in against.findings] == [2]
    assert scan_diff(repo, ScanOptions(), staged=True).findings == []


def _people_db(path: Path) -> None:
    rng = random.Random(3)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, ssn TEXT)")
    con.execute("CREATE TABLE settings (key TEXT, value TEXT)")  # no primary key: rowid
    con.execute("CREATE TABLE counters (n INTEGER)")  # no text column
    for i in range(1, 51):
        con.execute(
            "INSERT INTO customers VALUES (?, ?, ?, ?)",
            (i, f"Customer {i}", f"c{i}@example.org", f"{100 + i:03d}-45-{6700 + i:04d}"),
        )
    con.execute("INSERT INTO settings VALUES (?, ?)", ("github", fakes.github_pat(rng)))
    con.commit()
    con.close()


def test_sqlite_tables_are_sampled_with_a_row_budget(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _people_db(path)
    report = scan_database(f"sqlite:///{path}", ScanOptions(max_rows=20))
    by_table: dict[str, set[str]] = {}
    for f in report.findings:
        by_table.setdefault(f"{f.location.table}.{f.location.column_name}", set()).add(f.kind)
    assert by_table["customers.email"] == {"EMAIL"}
    # the column name is context: a bare 9-digit SSN in a column called ssn counts
    assert by_table["customers.ssn"] == {"US_SSN"}
    assert "GITHUB_PAT" in by_table["settings.value"]
    emails = [f for f in report.findings if f.kind == "EMAIL"]
    assert len(emails) == 20  # the row budget, spread over the table
    assert {f.location.row for f in emails} <= {str(i) for i in range(1, 51)}
    assert any("counters" in p.where and "no text" in p.reason for p in report.problems)


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    from tocsin.discovery.db import DatabaseError

    with pytest.raises(DatabaseError, match="cannot connect") as info:
        scan_database("postgresql+psycopg://u:hunter2@127.0.0.1:1/x", ScanOptions())
    assert "hunter2" not in str(info.value)


@pytest.mark.skipif(not PG_ADMIN_URL, reason=PG_MISSING)
def test_postgresql_tables_are_scanned() -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"tocsin_disc_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE SCHEMA crm"))
            conn.execute(text("CREATE TABLE crm.leads (id serial PRIMARY KEY, note text)"))
            conn.execute(
                text("INSERT INTO crm.leads (note) VALUES (:a), (:b)"),
                {"a": "call me on +44 20 7946 0958", "b": "card 4111-1111-1111-1112 no"},
            )
        engine.dispose()
        report = scan_database(url, ScanOptions())
        assert {(f.location.table, f.kind) for f in report.findings} == {("crm.leads", "PHONE")}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_lake_events_with_leaked_secrets(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tocsin.lake.writer import LakeWriter

    rng = random.Random(4)
    key = fakes.aws_key_id(rng)
    lake = tmp_path / "lake"
    writer = LakeWriter(lake)
    now = datetime.now(UTC)
    writer.add(
        [
            {
                "event.id": f"e{i}",
                "@timestamp": now,
                "event.dataset": "linux.auditd",
                "event.original": f"cmd=aws configure set aws_access_key_id {key}"
                if i == 7
                else f"cmd=ls -la /tmp/{i}",
            }
            for i in range(20)
        ]
    )
    writer.add(
        [
            {
                "event.id": "f1",
                "@timestamp": now,
                "event.dataset": "discovery.finding",
                "event.original": f"masked {key}",
            }
        ]
    )
    writer.flush()
    writer.close()
    report = scan_lake(lake, ScanOptions(categories=("secret",)))
    assert [(f.location.dataset, f.location.event_id, f.rule_id) for f in report.findings] == [
        ("linux.auditd", "e7", "aws-access-key-id")
    ]
