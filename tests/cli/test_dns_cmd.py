"""``tocsin dns hunt|top|score`` through the real command line, on a lake the test fills."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from tests.dns.traffic import browsing, record, tunnel, write_zeek
from tocsin.cli import app
from tocsin.core.settings import Settings
from tocsin.ingest.service import IngestService

runner = CliRunner()
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture
def home(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path / "home")
    rng = random.Random(11)
    records = browsing(rng, ["10.2.0.1", "10.2.0.2"], NOW - timedelta(minutes=40), 30)
    records += tunnel(rng, "10.2.0.9", NOW - timedelta(minutes=30), "exfil-cdn.net", b"x" * 2000)
    records += [
        record(NOW - timedelta(minutes=3), "10.2.0.2", f"gone{i}.example.org", rcode="NXDOMAIN")
        for i in range(7)
    ]
    path = write_zeek(tmp_path / "in" / "dns.log", records)
    IngestService(settings, detection=False).ingest([path])
    monkeypatch.setenv("TOCSIN_HOME", str(settings.home))
    return settings


def test_hunt_prints_findings_as_json_and_raises_alerts(home):
    result = runner.invoke(app, ["dns", "hunt", "--since", "-2h", "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["detector"], r["client"], r["domain"]) for r in rows] == [
        ("dns.tunnel", "10.2.0.9", "exfil-cdn.net")
    ]
    assert "1 new alerts" in result.stderr
    listed = runner.invoke(app, ["alerts", "list", "--output", "json"])
    assert [a["rule_id"] for a in json.loads(listed.stdout)] == ["dns.tunnel"]


def test_hunt_without_alerts_and_with_a_bad_detector(home):
    result = runner.invoke(app, ["dns", "hunt", "--since", "-2h", "--no-alerts", "-o", "json"])
    assert result.exit_code == 0 and "0 new alerts" in result.stderr
    bad = runner.invoke(app, ["dns", "hunt", "--detector", "nope"])
    assert bad.exit_code != 0 and "unknown DNS detector" in bad.output


def test_top_by_clients_and_nxdomain(home):
    result = runner.invoke(app, ["dns", "top", "--since", "-2h", "--by", "clients", "-o", "json"])
    assert result.exit_code == 0, result.output
    clients = {r["client"]: r for r in json.loads(result.stdout)}
    assert set(clients) == {"10.2.0.1", "10.2.0.2", "10.2.0.9"}
    assert clients["10.2.0.9"]["domains"] == 1
    nx = runner.invoke(app, ["dns", "top", "--since", "-2h", "--by", "nxdomain", "-o", "json"])
    top_nx = json.loads(nx.stdout)[0]
    assert top_nx["domain"] == "example.org" and top_nx["nx"] >= 7


def test_score_explains_names():
    result = runner.invoke(app, ["dns", "score", "wikipedia.org", "xq7vbz2kw9hj.com", "-o", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["xq7vbz2kw9hj.com"]["score"] > 0.9 > rows["wikipedia.org"]["score"]
    assert rows["xq7vbz2kw9hj.com"]["label"] == "xq7vbz2kw9hj" and rows["xq7vbz2kw9hj.com"]["why"]
