import json

import pytest
from typer.testing import CliRunner

from tocsin.cli import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("TOCSIN_HOME", str(path))
    return path


def run(*args):
    return runner.invoke(app, list(args))


def test_init_creates_the_home(home):
    result = run("init")
    assert result.exit_code == 0, result.output
    assert (home / "lake").is_dir()
    assert (home / "workspace.db").is_file()
    assert (home / "tocsin.toml").is_file()


def test_ingest_summary_quarantine_and_ledger(home, tmp_path):
    data = tmp_path / "app.ndjson"
    data.write_text('{"msg": "one"}\n{"msg": \n{"msg": "three"}\n')
    result = run("ingest", str(data), "--dataset", "app")
    assert result.exit_code == 0, result.output
    assert "2 events from 1 files" in result.output
    assert "1 quarantined" in result.output
    assert f"quarantined {data}:2" in result.output

    again = run("ingest", str(data))
    assert again.exit_code == 0
    assert "1 already imported" in again.output

    stats = run("lake", "stats", "--output", "json")
    rows = json.loads(stats.stdout)
    assert [(r["dataset"], r["events"]) for r in rows] == [("app", 2)]

    listed = run("quarantine", "list", "--output", "ndjson")
    assert listed.exit_code == 0
    row = json.loads(listed.stdout.splitlines()[0])
    assert row["where"] == f"{data}:2"
    assert row["parser"] == "json"


def test_ingest_force_reimports_without_duplicates_after_compaction(home, tmp_path):
    data = tmp_path / "app.ndjson"
    data.write_text('{"msg": "one"}\n{"msg": "two"}\n')
    assert run("ingest", str(data)).exit_code == 0
    result = run("ingest", str(data), "--force")
    assert "2 events from 1 files" in result.output
    assert run("lake", "compact").exit_code == 0
    rows = json.loads(run("lake", "stats", "-o", "json").stdout)
    assert rows[0]["events"] == 2


def test_missing_input_exits_1_and_usage_error_exits_2(home, tmp_path):
    missing = run("ingest", str(tmp_path / "nope.log"))
    assert missing.exit_code == 1
    assert "no such file" in missing.output
    assert run("ingest", "--no-such-option").exit_code == 2
    unknown = run("ingest", str(tmp_path), "--format", "klingon")
    assert unknown.exit_code == 1
    assert "unknown format" in unknown.output


def test_token_lifecycle(home):
    created = run("token", "create", "--scope", "ingest", "--name", "vector")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("tcn_")
    listed = json.loads(run("token", "list", "-o", "json").stdout)
    assert listed[0]["name"] == "vector"
    assert listed[0]["active"] is True
    assert token not in json.dumps(listed)
    assert run("token", "revoke", listed[0]["prefix"]).exit_code == 0
    listed = json.loads(run("token", "list", "-o", "json").stdout)
    assert listed[0]["active"] is False
    assert run("token", "create", "--scope", "root").exit_code == 1


def test_plugins_lists_builtins(home):
    result = run("plugins", "--output", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    ids = {(r["group"], r["id"]) for r in rows}
    assert ("tocsin.parsers", "json") in ids
    assert ("tocsin.jobs", "lake.compact") in ids
    assert all(r["error"] == "" for r in rows)


def test_parallel_ingest_matches_serial(home, tmp_path):
    from tocsin.core.settings import load_settings
    from tocsin.ingest.service import IngestService

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for i in range(4):
        (inputs / f"f{i}.ndjson").write_text(
            "".join(f'{{"file": {i}, "n": {n}}}\n' for n in range(50)) + "{broken\n"
        )
    serial = IngestService(load_settings(home=tmp_path / "a")).ingest([inputs], workers=1)
    parallel = IngestService(load_settings(home=tmp_path / "b")).ingest([inputs], workers=2)
    assert serial.accepted == parallel.accepted == {"json": 200}
    assert serial.quarantined == parallel.quarantined == 4
    assert [f.path for f in parallel.files] == [f.path for f in serial.files]
    again = IngestService(load_settings(home=tmp_path / "b")).ingest([inputs], workers=2)
    assert all(f.skipped for f in again.files)  # the parent wrote the ledger


def test_quarantine_retry_with_another_format_recovers_records(home, tmp_path):
    log = tmp_path / "auth.log"
    log.write_text(
        "Nov 27 14:03:01 bastion sshd[2211]: Failed password for root from 203.0.113.50 "
        "port 40022 ssh2\n"
        "Nov 27 14:03:05 bastion sshd[2211]: Accepted password for deploy from 203.0.113.50 "
        "port 40023 ssh2\n"
    )
    result = run("ingest", str(log), "--format", "json")  # the wrong parser: all quarantined
    assert "2 quarantined" in result.output
    retried = run("quarantine", "retry", "--format", "syslog")
    assert retried.exit_code == 0, retried.output
    assert "2 recovered, 0 still failing" in retried.output
    assert "0 records in quarantine" in run("quarantine", "list").output
    stats = json.loads(run("lake", "stats", "-o", "json").stdout)
    assert [(r["dataset"], r["events"]) for r in stats] == [("syslog", 2)]
    found = run("search", "user.name:deploy", "-o", "json")
    assert json.loads(found.stdout)[0]["source.ip"] == "203.0.113.50"
    # a retry that still fails keeps the record
    bad = tmp_path / "bad.ndjson"
    bad.write_text("{not json\n")
    run("ingest", str(bad), "--format", "json")
    again = run("quarantine", "retry")
    assert "0 recovered, 1 still failing" in again.output
    assert "1 records in quarantine" in run("quarantine", "list").output


def test_search_outputs_and_time_bounds(home, tmp_path):
    data = tmp_path / "events.ndjson"
    data.write_text(
        '{"@timestamp": "2024-01-01T00:00:00Z", "CommandLine": "certutil -urlcache x"}\n'
        '{"@timestamp": "2024-01-02T00:00:00Z", "CommandLine": "chrome.exe"}\n'
        '{"@timestamp": "2024-01-03T00:00:00Z", "CommandLine": "CERTUTIL -decode y"}\n'
    )
    run("ingest", str(data))
    hits = json.loads(run("search", "CommandLine:*certutil*", "-o", "json").stdout)
    assert [h["CommandLine"] for h in hits] == ["CERTUTIL -decode y", "certutil -urlcache x"]
    assert run("search", "CommandLine:*certutil*", "--count").stdout.strip() == "2"
    bounded = run(
        "search", "", "--since", "2024-01-02", "--until", "2024-01-02T12:00", "-o", "ndjson"
    )
    assert [json.loads(line)["CommandLine"] for line in bounded.stdout.splitlines()] == [
        "chrome.exe"
    ]
    csv_out = run("search", "certutil", "-o", "csv", "--fields", "CommandLine", "-n", "1")
    assert csv_out.stdout.splitlines() == ["CommandLine", "CERTUTIL -decode y"]
    sql = run("search", "--sql", "SELECT count(*) AS n FROM events", "-o", "json")
    assert json.loads(sql.stdout) == [{"n": 3}]
    broken = run("search", "CommandLine:(certutil")
    assert broken.exit_code == 1
    assert "column 13" in broken.output


def test_lake_retention_command(home, tmp_path):
    from datetime import UTC, datetime, timedelta

    from tocsin.lake.writer import LakeWriter

    old = datetime.now(UTC) - timedelta(days=40)
    writer = LakeWriter(home / "lake")
    writer.add(
        [
            {
                "event.id": "a",
                "@timestamp": old,
                "event.ingested": old,
                "event.dataset": "app",
                "event.original": "x",
            }
        ]
    )
    writer.flush()
    assert "nothing to remove" in run("lake", "retention", "--days", "60").output
    result = run("lake", "retention", "--days", "30")
    assert result.exit_code == 0
    assert f"app: removed {old.date().isoformat()}" in result.output
    assert json.loads(run("lake", "stats", "-o", "json").stdout) == []
