"""The DNS hunt end to end: generated traffic ingested into a real lake, detectors, alerts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.settings import Settings
from tocsin.dns.dgagen import generate
from tocsin.dns.hunt import hunt_dns
from tocsin.dns.jobs import DnsHuntJob
from tocsin.ingest.service import IngestService
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

from .traffic import browsing, dga_host, record, tunnel, write_zeek

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
START = NOW - timedelta(hours=2)
OFFICE = [f"10.1.0.{i}" for i in range(10, 30)]
DGA_CLIENT = "10.1.9.66"
TUNNEL_CLIENT = "10.1.9.77"
TUNNEL_DOMAIN = "sync-cdn-status.net"


def _ingest(settings: Settings, records: list[dict[str, object]], name: str = "dns.log") -> None:
    path = write_zeek(settings.home.parent / "input" / name, records)
    report = IngestService(settings, detection=False).ingest([path], force=True)
    assert report.total == len(records), report.issues[:3]


EVENTS: dict[str, int] = {}


@pytest.fixture
def office(tmp_path) -> Settings:
    """Two hours of an office's lookups with one DGA host and one tunnel, in a real lake."""
    settings = Settings(home=tmp_path / "home", dns_learning_days=0)
    rng = random.Random(7)
    records = browsing(rng, OFFICE, START, 120)
    records += browsing(rng, [DGA_CLIENT, TUNNEL_CLIENT], START, 120)
    names = generate("cryptolocker", NOW.date(), 60)
    records += dga_host(rng, DGA_CLIENT, START + timedelta(minutes=30), names)
    payload = bytes(rng.getrandbits(8) for _ in range(4000))
    records += tunnel(rng, TUNNEL_CLIENT, START + timedelta(minutes=50), TUNNEL_DOMAIN, payload)
    _ingest(settings, records)
    EVENTS[str(settings.home)] = len(records)
    return settings


def test_hunt_finds_the_dga_host_and_the_tunnel_and_nobody_else(office):
    report = hunt_dns(office, since=START, until=NOW, detectors=["dga", "tunnel"])
    by = {(f.detector, f.client) for f in report.findings}
    assert ("dns.dga", DGA_CLIENT) in by
    assert ("dns.tunnel", TUNNEL_CLIENT) in by
    assert {client for _d, client in by} == {DGA_CLIENT, TUNNEL_CLIENT}
    tunnel_finding = next(f for f in report.findings if f.detector == "dns.tunnel")
    assert tunnel_finding.domain == TUNNEL_DOMAIN
    checks = {r.check for r in tunnel_finding.reasons}
    assert {"dns.tunnel.unique_names", "dns.tunnel.length", "dns.tunnel.entropy"} <= checks
    assert "dns.tunnel.record_types" in checks  # every question was TXT
    assert tunnel_finding.event_ids and tunnel_finding.first_seen is not None
    dga_finding = next(f for f in report.findings if f.detector == "dns.dga")
    assert any("NXDOMAIN" in r.detail or "nx" in r.check.lower() for r in dga_finding.reasons)
    assert dga_finding.names and set(dga_finding.names) <= set(
        generate("cryptolocker", NOW.date(), 60)
    )
    assert report.events == EVENTS[str(office.home)]
    assert report.clients == len(OFFICE) + 2


def test_alerts_are_raised_once_and_fold_on_the_next_run(office):
    first = hunt_dns(office, since=START, until=NOW, detectors=["dga", "tunnel"])
    assert first.alerts_new == 2
    again = hunt_dns(office, since=START, until=NOW, detectors=["dga", "tunnel"])
    assert again.alerts_new == 0 and again.alerts_updated == 2
    ws = Workspace.open(office)
    try:
        alerts = ws.alerts.list(Principal.system(), limit=10).items
    finally:
        ws.close()
    rules = sorted(a.rule_id for a in alerts)
    assert rules == ["dns.dga", "dns.tunnel"]
    tunnel_alert = next(a for a in alerts if a.rule_id == "dns.tunnel")
    observed = {(o["type"], o["value"]) for o in tunnel_alert.observables}
    assert ("ip", TUNNEL_CLIENT) in observed and ("domain", TUNNEL_DOMAIN) in observed
    assert "attack.t1071.004" in tunnel_alert.tags


def test_no_alerts_flag_and_an_empty_window(office):
    report = hunt_dns(office, since=START, until=NOW, alerts=False, detectors=["tunnel"])
    assert report.findings and report.alerts_new == 0
    empty = hunt_dns(office, since=NOW + timedelta(days=1), until=NOW + timedelta(days=2))
    assert empty.events == 0 and not empty.findings


def test_allow_list_silences_a_domain(office):
    office.dns_allow_domains = [TUNNEL_DOMAIN]
    report = hunt_dns(office, since=START, until=NOW, alerts=False, detectors=["tunnel"])
    assert not report.findings


def test_thresholds_override_and_unknown_ones_are_refused(office):
    office.dns_thresholds = {"tunnel.min_names": 100_000}
    report = hunt_dns(office, since=START, until=NOW, alerts=False, detectors=["tunnel"])
    assert not report.findings
    office.dns_thresholds = {"tunnel.nonsense": 1}
    with pytest.raises(Exception, match="unknown threshold"):
        hunt_dns(office, since=START, until=NOW, alerts=False)


def test_lookalike_of_a_protected_domain(tmp_path):
    settings = Settings(home=tmp_path / "home", protected_domains=["example-corp.com"])
    rng = random.Random(3)
    records = browsing(rng, OFFICE[:3], START, 30)
    records.append(record(NOW - timedelta(minutes=5), OFFICE[0], "login.examp1e-corp.com",
                          answers=["198.51.100.9"]))  # fmt: skip
    _ingest(settings, records)
    report = hunt_dns(settings, since=START, until=NOW, alerts=False, detectors=["lookalike"])
    assert len(report.findings) == 1
    finding = report.findings[0]
    assert finding.client == OFFICE[0] and finding.names == ("login.examp1e-corp.com",)
    assert finding.fields["dns.protected_domain"] == "example-corp.com"
    assert finding.severity == "high"


def test_indicator_from_a_feed_and_from_the_block_list(tmp_path):
    feed = tmp_path / "bad.txt"
    feed.write_text("# bad domains\nevil-updates.biz\n")
    settings = Settings(
        home=tmp_path / "home",
        intel_feeds=[{"name": "local-bad", "source": str(feed), "format": "plain",
                      "kind": "domain"}],
    )  # fmt: skip
    from tocsin.respond.blocklist import BlockLists, EntryDraft

    ws = Workspace.open(settings)
    try:
        BlockLists(ws.db).add(
            Principal.system("ana"), [EntryDraft("phish-login.top", reason="case 12 phishing")]
        )
        BlockLists(ws.db).add(Principal.system("ana"), [EntryDraft("allowed-but-blocked.org")])
        BlockLists(ws.db).add(
            Principal.system("ana"), [EntryDraft("allowed-but-blocked.org", list="allow")]
        )
    finally:
        ws.close()
    when = NOW - timedelta(minutes=10)
    records = [
        record(when, OFFICE[1], "cdn.evil-updates.biz", answers=["198.51.100.1"]),
        record(when, OFFICE[2], "phish-login.top", answers=["198.51.100.2"]),
        record(when, OFFICE[3], "allowed-but-blocked.org", answers=["198.51.100.3"]),
        record(when, OFFICE[4], "www.python.org", answers=["198.51.100.4"]),
    ]
    _ingest(settings, records)
    report = hunt_dns(settings, since=START, until=NOW, alerts=False, detectors=["indicator"])
    found = {(f.client, f.domain): f for f in report.findings}
    assert set(found) == {(OFFICE[1], "cdn.evil-updates.biz"), (OFFICE[2], "phish-login.top")}
    feed_reason = found[(OFFICE[1], "cdn.evil-updates.biz")].reasons[0].detail
    assert "local-bad" in feed_reason and "evil-updates.biz" in feed_reason
    block_reason = found[(OFFICE[2], "phish-login.top")].reasons[0].detail
    assert "block list" in block_reason and "case 12 phishing" in block_reason


def test_newly_observed_domains_after_learning(tmp_path):
    settings = Settings(home=tmp_path / "home", dns_learning_days=3, dns_new_domain_days=30)
    rng = random.Random(5)
    old = browsing(rng, OFFICE[:5], NOW - timedelta(days=5), 60, per_minute=0.5)
    recent = browsing(rng, OFFICE[:5], START, 120, per_minute=0.5)
    recent.append(record(NOW - timedelta(minutes=20), OFFICE[2], "fresh-domain-xyz.info",
                         answers=["198.51.100.5"]))  # fmt: skip
    _ingest(settings, old + recent)
    report = hunt_dns(settings, since=START, until=NOW, alerts=False, detectors=["new_domain"])
    new = [f for f in report.findings if f.detector == "dns.new_domain"]
    assert [f.domain for f in new] == ["fresh-domain-xyz.info"]
    assert new[0].client == OFFICE[2] and report.learning is None
    assert report.history_domains > 10
    # the next run knows it: a domain is new once
    later = hunt_dns(
        settings, since=NOW, until=NOW + timedelta(hours=1), alerts=False, detectors=["new_domain"]
    )
    assert not later.findings


def test_learning_period_mutes_new_domains(tmp_path):
    settings = Settings(home=tmp_path / "home", dns_learning_days=3)
    rng = random.Random(6)
    _ingest(settings, browsing(rng, OFFICE[:3], START, 60))
    report = hunt_dns(settings, since=START, until=NOW, alerts=False, detectors=["new_domain"])
    assert not report.findings
    assert report.learning and "learning" in report.learning


def test_unknown_detector_and_empty_window_are_refused(office):
    with pytest.raises(Exception, match="unknown DNS detector"):
        hunt_dns(office, since=START, until=NOW, detectors=["nope"])
    with pytest.raises(Exception, match="window is empty"):
        hunt_dns(office, since=NOW, until=START)


def test_the_scheduled_job(office):
    job = DnsHuntJob()
    assert job.interval(office) == office.dns_hunt_interval_minutes * 60
    office.dns_hunt_interval_minutes = 0
    assert job.interval(office) is None
    summary = job.run(office)  # the last hour of the real clock: no lookups there
    assert "0 DNS events" in summary


def test_real_zeek_dnscat_tunnel_is_found(shared_data, tmp_path):
    settings = Settings(home=tmp_path / "home")
    path = shared_data / "zeek" / "test_data" / "json_with_all_fields" / "dns.log"
    IngestService(settings, detection=False).ingest([path])
    report = hunt_dns(
        settings,
        since=datetime(2018, 1, 1, tzinfo=UTC),
        until=datetime(2019, 1, 1, tzinfo=UTC),
        alerts=False,
        detectors=["tunnel", "dga"],
    )
    tunnels = [f for f in report.findings if f.detector == "dns.tunnel"]
    assert [(f.client, f.domain) for f in tunnels] == [("192.168.88.2", "r-1x.com")]
    assert not [f for f in report.findings if f.detector == "dns.dga"]
