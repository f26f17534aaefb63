"""``tocsin net hunt|beacons|top`` through the real command line over one lake: twenty hours of
browsing, a beacon and a vertical scan."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.core.home import init_home
from tocsin.core.settings import Settings, load_settings
from tocsin.workspace.service import Workspace

from .test_hunt import NOW, beacon_events, browsing, conn, write

runner = CliRunner()
BEACON = ("10.7.0.9", "198.51.100.44")
SCANNER = ("10.7.0.66", "10.7.0.1")


@pytest.fixture(scope="module")
def lake_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = load_settings(home=tmp_path_factory.mktemp("net-cli") / "home")
    init_home(settings)
    events = beacon_events(*BEACON, period=180, jitter=18, size_jitter=10, seed=12)
    for i, person in enumerate(("10.7.0.10", "10.7.0.11", "10.7.0.12")):
        events += browsing(person, seed=20 + i)
    events += [
        conn(NOW - timedelta(hours=2), *SCANNER, port, state="S0", dbytes=0, sport=50000)
        for port in range(100, 220)
    ]
    write(settings, events)
    return settings.home


@pytest.fixture
def home(lake_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The module's lake with a fresh workspace for each test."""
    settings = Settings(home=lake_home, database_url=f"sqlite:///{tmp_path / 'ws.db'}")
    Workspace.open(settings).close()
    monkeypatch.setenv("TOCSIN_HOME", str(lake_home))
    monkeypatch.setenv("TOCSIN_DATABASE_URL", settings.database_url or "")
    return settings


def test_hunt_prints_findings_as_json_and_raises_alerts(home: Settings) -> None:
    result = runner.invoke(app, ["net", "hunt", "--since", "-24h", "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {(r["detector"], r["source"], r["destination"]) for r in rows} == {
        ("net.beacon", *BEACON),
        ("net.scan", *SCANNER),
    }
    beacon = next(r for r in rows if r["detector"] == "net.beacon")
    assert "net.beacon.timing" in beacon["reasons"] and beacon["flows"] == 50
    assert "2 new alert(s)" in result.stderr


def test_hunt_one_detector_without_alerts(home: Settings) -> None:
    result = runner.invoke(
        app, ["net", "hunt", "--since", "-24h", "--no-alerts", "-d", "scan", "-o", "ndjson"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["detector"], r["score"]) for r in rows] == [("net.scan", 120.0)]
    assert "0 new alert(s)" in result.stderr
    bad = runner.invoke(app, ["net", "hunt", "--detector", "nope"])
    assert bad.exit_code == 1 and "unknown network detector" in bad.stderr


def test_beacons_ranks_every_pair_with_its_subscores(home: Settings) -> None:
    result = runner.invoke(app, ["net", "beacons", "--since", "-24h", "-o", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert (rows[0]["source"], rows[0]["destination"]) == BEACON
    assert {"ts_skew", "ts_madm", "ds_madm", "hist", "coverage"} <= set(rows[0])
    assert rows[0]["median_interval_s"] == pytest.approx(180, abs=5)
    assert len(rows) > 1
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    high = runner.invoke(
        app, ["net", "beacons", "--since", "-24h", "--min-score", "0.8", "-o", "json"]
    )
    assert [(r["source"], r["destination"]) for r in json.loads(high.stdout)] == [BEACON]
    one = runner.invoke(app, ["net", "beacons", "--since", "-24h", "--limit", "1", "-o", "json"])
    assert json.loads(one.stdout) == rows[:1]


def test_top_lists_talkers_and_failed_sources(home: Settings) -> None:
    result = runner.invoke(app, ["net", "top", "--since", "-24h", "-o", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    (failed,) = [r for r in rows if r["table"] == "failed"]
    assert (failed["source"], failed["failed"], failed["ports"]) == (SCANNER[0], 120, 120)
    ports = [r for r in rows if r["table"] == "ports"]
    assert (ports[0]["port"], ports[0]["proto"]) == (443, "tcp")
    table = runner.invoke(app, ["net", "top", "--since", "-24h", "-o", "table"])
    assert table.exit_code == 0 and "Top failed" in table.stdout
