import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.demo.scenario import expected_markers
from tocsin.lake.reader import LakeReader


@pytest.mark.integration
def test_demo_loads_the_scenario_and_every_story_step_is_found(tmp_path, monkeypatch):
    home = tmp_path / "demo-home"
    monkeypatch.setenv("TOCSIN_HOME", str(home))
    result = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "0 quarantined" in result.output
    reader = LakeReader(home / "lake")
    for label, query in expected_markers().items():
        assert reader.count(query) > 0, label
    datasets = {
        row["d"]
        for row in reader.sql('SELECT DISTINCT "event.dataset" AS d FROM events').to_pylist()
    }
    assert {
        "windows.sysmon",
        "windows.security",
        "syslog",
        "linux.auditd",
        "zeek.conn",
        "zeek.dns",
        "suricata.alert",
    } <= datasets
    # a second run starts from a fresh demo home; a folder that is not one is refused
    assert CliRunner().invoke(app, ["demo", "--no-serve"]).exit_code == 0
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path))
    refused = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert refused.exit_code == 1
    assert "not a demo home" in refused.output
