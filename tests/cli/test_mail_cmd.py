"""``tocsin mail analyze`` through the real command line, on files the tests write."""

from __future__ import annotations

import csv
import io
import json
import mailbox

from typer.testing import CliRunner

from tests.mail import corpus
from tocsin.cli import app
from tocsin.core.settings import load_settings
from tocsin.lake.reader import LakeReader
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

runner = CliRunner()


def write_inbox(folder):
    folder.mkdir()
    (folder / "a-internal.eml").write_bytes(corpus.internal())
    (folder / "b-phish.eml").write_bytes(corpus.brand_phish())
    (folder / "c-broken.eml").write_bytes(b"\x00\x01 not a message at all \xff")
    return folder


def test_json_output_offline_without_a_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inbox = write_inbox(tmp_path / "inbox")
    result = runner.invoke(app, ["mail", "analyze", str(inbox), "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["file"].rsplit("/", 1)[-1] for r in rows] == [
        "a-internal.eml",
        "b-phish.eml",
        "c-broken.eml",
    ]
    assert [r["verdict"] for r in rows[:2]] == ["clean", "phishing"]
    assert set(rows[1]) >= {"file", "message_id", "verdict", "score", "reasons", "observables"}
    # offline analysis writes nothing: no home was created
    assert not (tmp_path / "tocsin-data").exists()


def test_ndjson_and_csv(tmp_path):
    path = tmp_path / "p.eml"
    path.write_bytes(corpus.brand_phish())
    nd = runner.invoke(app, ["mail", "analyze", str(path), "-o", "ndjson"])
    assert json.loads(nd.stdout.splitlines()[0])["verdict"] == "phishing"
    out = runner.invoke(app, ["mail", "analyze", str(path), "-o", "csv"])
    row = next(csv.DictReader(io.StringIO(out.stdout)))
    assert row["verdict"] == "phishing"
    assert json.loads(row["reasons"])[0]["weight"] > 0  # nested values as JSON in a cell


def test_table_shows_reasons(tmp_path):
    path = tmp_path / "p.eml"
    path.write_bytes(corpus.brand_phish())
    result = runner.invoke(app, ["mail", "analyze", str(path), "-o", "table"])
    assert "phishing" in result.stdout
    assert "sender.brand_impersonation" in result.stdout


def test_mbox_messages_are_numbered(tmp_path):
    box = mailbox.mbox(tmp_path / "box.mbox")
    for raw in (corpus.internal(), corpus.bec()):
        box.add(raw)
    box.close()
    result = runner.invoke(app, ["mail", "analyze", str(tmp_path / "box.mbox"), "-o", "json"])
    rows = json.loads(result.stdout)
    assert [r["file"].rsplit("/", 1)[-1] for r in rows] == ["box.mbox", "box.mbox#1"]
    assert rows[1]["verdict"] == "suspicious"


def test_protected_domain_option_and_fail_on(tmp_path):
    path = tmp_path / "l.eml"
    path.write_bytes(corpus.lookalike_sender())
    plain = runner.invoke(
        app, ["mail", "analyze", str(path), "-o", "json", "--fail-on", "phishing"]
    )
    assert plain.exit_code == 0
    guarded = runner.invoke(
        app,
        ["mail", "analyze", str(path), "-o", "json", "--protected-domain", corpus.ORG,
         "--fail-on", "phishing"],
    )  # fmt: skip
    assert guarded.exit_code == 1
    assert json.loads(guarded.stdout)[0]["verdict"] == "phishing"


def test_missing_file_is_an_error(tmp_path):
    result = runner.invoke(app, ["mail", "analyze", str(tmp_path / "nope.eml")])
    assert result.exit_code == 1
    assert "nope.eml" in result.stderr


def test_intel_list_matches_a_link(tmp_path):
    feed = tmp_path / "bad.txt"
    feed.write_text("# our blocklist\npaypa1-secure-login.top\n")
    path = tmp_path / "p.eml"
    path.write_bytes(corpus.brand_phish())
    result = runner.invoke(app, ["mail", "analyze", str(path), "-o", "json", "--intel", str(feed)])
    checks = [r["check"] for r in json.loads(result.stdout)[0]["reasons"]]
    assert "link.intel_match" in checks


def test_store_writes_events_and_alerts(tmp_path):
    home = tmp_path / "home"
    assert runner.invoke(app, ["--home", str(home), "init"]).exit_code == 0
    inbox = write_inbox(tmp_path / "inbox")
    result = runner.invoke(app, ["--home", str(home), "mail", "analyze", str(inbox), "--store"])
    assert result.exit_code == 0, result.output
    assert "alerts: 1 new" in result.stderr
    settings = load_settings(home=home)
    assert LakeReader(settings.lake_dir).count("event.dataset:mail.message") == 3
    workspace = Workspace.open(settings)
    try:
        page = workspace.alerts.list(Principal.local(), limit=10)
        assert [a.rule_id for a in page.items] == ["mail.phishing"]
    finally:
        workspace.close()
