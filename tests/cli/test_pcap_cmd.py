"""``tocsin pcap flows|import|extract|captures|prune`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.pcap import synth
from tocsin.pcap.capture import CaptureReader
from tocsin.pcap.writer import write_pcap

runner = CliRunner()
T0 = 1_764_000_000 * 10**9


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    frames = synth.merge(
        synth.tcp_session(
            "10.0.0.5", "192.0.2.80", 50123, 80, [(b"GET /", b"x" * 3000)], start_ns=T0
        ),
        synth.syn_scan("10.0.0.66", "10.0.0.10", range(20, 30), start_ns=T0),
    )
    path = tmp_path / "mixed.pcap"
    write_pcap(path, frames, synth.LINKTYPE_ETHERNET)
    return path


def test_flows_work_offline_without_a_home(capture: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path / "nowhere"))
    result = runner.invoke(app, ["pcap", "flows", str(capture), "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 11
    assert {r["destination.port"] for r in rows} == {80, *range(20, 30)}
    assert not (tmp_path / "nowhere").exists()
    ndjson = runner.invoke(app, ["pcap", "flows", str(capture), "--output", "ndjson"])
    assert len(ndjson.stdout.splitlines()) == 11
    csv = runner.invoke(app, ["pcap", "flows", str(capture), "--output", "csv"])
    assert csv.stdout.splitlines()[0].startswith("@timestamp,network.transport,source.ip")


def test_import_extract_captures(capture: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path / "home"))
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, ["pcap", "import", str(capture), "--output", "json"])
    assert result.exit_code == 0, result.output
    imported = json.loads(result.stdout)[0]
    assert imported["flows"] == 11 and not imported["skipped"]
    again = runner.invoke(app, ["pcap", "import", str(capture), "--output", "json"])
    assert json.loads(again.stdout)[0]["skipped"] is True
    listed = runner.invoke(app, ["pcap", "captures", "--output", "json"])
    assert json.loads(listed.stdout)[0]["capture"] == imported["capture"]
    out = tmp_path / "scan.pcap"
    cut = runner.invoke(app, ["pcap", "extract", "--filter", "dst port 25", "--out", str(out)])
    assert cut.exit_code == 0, cut.output
    assert sum(len(b) for b in CaptureReader(out)) == 1
    flow = runner.invoke(
        app, ["pcap", "extract", "--flow", f"{imported['capture']}-0", "--out", str(out)]
    )
    assert flow.exit_code == 0, flow.output
    assert sum(len(b) for b in CaptureReader(out)) > 5  # the web session came first


def test_usage_errors(capture: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path / "home"))
    missing = runner.invoke(app, ["pcap", "flows", str(tmp_path / "nope.pcap")])
    assert missing.exit_code == 2
    assert "no such capture file" in missing.output
    both = runner.invoke(app, ["pcap", "extract", "--out", "x.pcap"])
    assert both.exit_code == 2
    bad = runner.invoke(
        app,
        [
            "pcap",
            "extract",
            "--filter",
            "port 99999",
            "--capture",
            str(capture),
            "--out",
            str(tmp_path / "o.pcap"),
        ],
    )
    assert bad.exit_code in (1, 2)
    assert "not a port" in bad.output


def test_a_folder_stands_for_its_captures(capture: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path / "home"))
    folder = tmp_path / "taps" / "day1"
    folder.mkdir(parents=True)
    (folder / "a.pcap").write_bytes(capture.read_bytes())
    (folder / "notes.txt").write_text("not a capture")
    result = runner.invoke(app, ["pcap", "flows", str(tmp_path / "taps"), "--output", "json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 11
