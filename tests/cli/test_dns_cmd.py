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
    records.append(record(NOW - timedelta(minutes=2), "10.2.0.1", "odd-place.info", answers=["1"]))
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
    rare = runner.invoke(app, ["dns", "top", "--since", "-2h", "--by", "rare", "-o", "json"])
    rows = {r["domain"]: r for r in json.loads(rare.stdout)}
    assert rows["odd-place.info"]["asked_by"] == ["10.2.0.1"]
    assert rows["odd-place.info"]["clients"] == 1
    assert "example.org" not in rows  # only NXDOMAIN: it never resolved
    assert "exfil-cdn.net" in rows


def test_score_explains_names():
    result = runner.invoke(app, ["dns", "score", "wikipedia.org", "xq7vbz2kw9hj.com", "-o", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["xq7vbz2kw9hj.com"]["score"] > 0.9 > rows["wikipedia.org"]["score"]
    assert rows["xq7vbz2kw9hj.com"]["label"] == "xq7vbz2kw9hj" and rows["xq7vbz2kw9hj.com"]["why"]


def test_block_puts_the_tunnel_domain_on_the_block_list_and_rpz(home):
    runner.invoke(app, ["dns", "hunt", "--since", "-2h", "-o", "json"])
    alert = json.loads(runner.invoke(app, ["alerts", "list", "-o", "json"]).stdout)[0]
    result = runner.invoke(app, ["dns", "block", str(alert["id"]), "-o", "json"])
    assert result.exit_code == 0, result.output
    assert [(r["value"], r["outcome"]) for r in json.loads(result.stdout)] == [
        ("exfil-cdn.net", "added")
    ]
    listed = json.loads(runner.invoke(app, ["blocklist", "list", "-o", "json"]).stdout)
    assert [(e["value"], e["source"]) for e in listed] == [
        ("exfil-cdn.net", f"alert:{alert['id']}")
    ]
    zone = runner.invoke(app, ["blocklist", "export", "--format", "rpz"]).stdout
    assert "exfil-cdn.net CNAME ." in zone and "*.exfil-cdn.net CNAME ." in zone


def test_block_refuses_what_it_must_not_block(home):
    from tocsin.core.event import Reason
    from tocsin.workspace.models import AlertDraft, Observable
    from tocsin.workspace.permissions import Principal
    from tocsin.workspace.service import Workspace

    ws = Workspace.open(home)
    try:
        result = ws.raise_alerts(
            [
                AlertDraft(
                    "dns.dga", "DGA host", "high", observables=[Observable("ip", "10.0.0.9")]
                ),
                AlertDraft(
                    "dns.new_domain",
                    "new",
                    "low",
                    observables=[Observable("domain", "d1.cloudfront.net")],
                    reasons=[Reason("x", "y")],
                ),
                AlertDraft("sigma-rule", "other", "low"),
            ],
            Principal.system(),
        )
    finally:
        ws.close()
    dga, cdn, other = result.created
    refused = runner.invoke(app, ["dns", "block", str(dga)])
    assert refused.exit_code == 1 and "isolate the host" in refused.output
    refused = runner.invoke(app, ["dns", "block", str(cdn)])
    assert refused.exit_code == 1 and "common infrastructure" in refused.output
    refused = runner.invoke(app, ["dns", "block", str(other)])
    assert refused.exit_code == 1 and "not a DNS alert" in refused.output
