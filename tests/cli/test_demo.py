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
        "pcap.flow",
    } <= datasets
    # the tap's capture: its flows in the lake, its packets in the store
    assert "Packets:" in result.output
    assert (home / "pcap" / "catalogue.json").is_file()
    # a second run starts from a fresh demo home; a folder that is not one is refused
    assert CliRunner().invoke(app, ["demo", "--no-serve"]).exit_code == 0
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path))
    refused = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert refused.exit_code == 1
    assert "not a demo home" in refused.output


@pytest.mark.integration
def test_demo_sets_up_a_working_team(tmp_path, monkeypatch):
    from tocsin.core.settings import load_settings
    from tocsin.workspace.permissions import Principal
    from tocsin.workspace.service import Workspace

    home = tmp_path / "demo-home"
    monkeypatch.setenv("TOCSIN_HOME", str(home))
    result = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "one-time password" in result.output
    ws = Workspace.open(load_settings(home=home))
    try:
        actor = Principal.local()
        assert {t.name for t in ws.users.list_teams(actor)} == {"Security", "IT operations"}
        alerts = ws.alerts.list(actor, limit=1000).items
        rules = {a.rule_id for a in alerts}
        from tocsin.demo.operations import starter_rule_ids

        starter = starter_rule_ids()
        # the Sigma starter rules raised the story's alerts during ingest
        expected = {
            "proc_office_spawns_shell",
            "proc_powershell_encoded",
            "proc_certutil_download",
            "proc_lsass_dump_comsvcs",
            "proc_access_lsass",
            "proc_ntdsutil_ifm",
            "win_system_psexec_service",
            "win_security_scheduled_task_created",
            "reg_run_key_set",
            "corr_ssh_brute_force",
            "lnx_auditd_user_added",
            "lnx_sudo_curl_pipe_shell",
        }
        assert {starter[stem] for stem in expected} <= rules
        assert all(a.team_id is not None for a in alerts)
        sigma = [a for a in alerts if a.source == "sigma"]
        assert sigma and all(a.reasons for a in sigma)
        # every alert links to the events that caused it
        assert all(a.event_ids for a in alerts)
        # the phishing campaign of step 1: one alert per recipient, from the lookalike domain
        phish = [a for a in alerts if a.rule_id == "mail.phishing"]
        assert len(phish) == 3
        checks = {r["check"] for r in phish[0].reasons}
        assert {"sender.lookalike_domain", "attachment.office_macro"} <= checks
        # the DNS part: the DGA workstation, web01's tunnel, the lookalike lookups
        dns = {(a.rule_id, a.fields.get("client"), a.fields.get("dns.registered_domain"))
               for a in alerts if a.rule_id.startswith("dns.")}  # fmt: skip
        from tocsin.demo.common import LOOKALIKE_DOMAIN, TUNNEL_DOMAIN, WEB_IP

        assert ("dns.tunnel", WEB_IP, TUNNEL_DOMAIN) in dns
        assert len([d for d in dns if d[0] == "dns.dga"]) == 1
        assert ("dns.lookalike", "10.10.20.57", LOOKALIKE_DOMAIN) in dns
        # the tap's capture: the workstation's beacon to the C2 server, the foothold's scans
        from tocsin.demo.packets import BEACON_SOURCE, BEACON_TARGET, SCAN_SOURCE, SCAN_TARGET

        net = {(a.rule_id, a.fields.get("source.ip"), a.fields.get("destination.ip"))
               for a in alerts if a.rule_id.startswith("net.")}  # fmt: skip
        assert ("net.beacon", BEACON_SOURCE, BEACON_TARGET) in net
        assert ("net.scan", SCAN_SOURCE, SCAN_TARGET) in net
        assert ("net.scan", SCAN_SOURCE, None) in net  # the sweep of port 445
        # the file share: the web app's backup leaks an AWS key, the deploy script a token
        secrets = {(a.rule_id, a.fields.get("tocsin.discovery.kind")) for a in alerts
                   if a.rule_id == "discovery.secret"}  # fmt: skip
        assert {("discovery.secret", "AWS_ACCESS_KEY_ID"), ("discovery.secret", "GITHUB_PAT")} <= (
            secrets
        )
        from tocsin.discovery.inventory import inventory

        places = inventory(ws, actor, by="folder").rows
        assert places["HR/"] == {"EMAIL": 24, "US_SSN": 24}
        assert places[f"sqlite:///{home / 'demo-share' / 'crm.db'} customers"]["PHONE"] == 24
        reader = LakeReader(home / "lake")
        assert reader.count("event.dataset:mail.message") == 8
        assert reader.count("tocsin.mail.verdict:phishing") == 3
        cases = {c.title: c for c in ws.cases.list(actor, limit=10).items}
        # a few cases at different stages
        intrusion = cases["Phishing document led to PowerShell and a certutil download"]
        assert intrusion.status == "new" and intrusion.counts["alerts"] >= 3
        assert cases["Regular beacon to an unknown host on the internet"].status == "on_hold"
        assert cases["A lookalike of our domain was looked up"].assignee_id is None
        noise = cases["SSH password guessing against the bastion"]
        assert (noise.status, noise.classification) == ("closed", "benign_positive")
        closed = [a for a in alerts if a.status == "closed"]
        assert closed and {a.classification for a in closed} == {"benign_positive"}
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        report = ws.metrics.compute(actor, since=now - timedelta(days=1), until=now).to_dict()
        assert report
    finally:
        ws.close()
