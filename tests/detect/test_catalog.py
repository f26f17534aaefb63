"""The rule catalogue of a home: packs, switches, hit counts, and rules tried on the lake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.settings import Settings
from tocsin.detect import catalog as catalog_module
from tocsin.detect.catalog import RuleCatalog, load_pasted, rule_hits, try_on_lake
from tocsin.detect.store import STARTER, RuleStore, starter_pack_path
from tocsin.lake.reader import LakeReader
from tocsin.lake.writer import LakeWriter
from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

WHOAMI = "50739c3c-52ef-4c20-9aed-6033c9b78071"
SSH_FAILED = "cadcf3e7-d740-4af2-91bb-b55eec6b0fd1"  # named lnx_sshd_failed_password
SSH_BRUTE_FORCE = "80339f02-8412-4f1c-8988-4cbf19a57310"
NOW = datetime.now(UTC)
R_LOCAL_1 = "11111111-1111-4111-8111-111111111111"
R_A = "22222222-2222-4222-8222-222222222222"
R_B = "33333333-3333-4333-8333-333333333333"
R_PROBE = "44444444-4444-4444-8444-444444444444"


def rule_yaml(rule_id: str, title: str, marker: str, level: str = "high") -> str:
    return f"""\
title: {title}
id: {rule_id}
status: test
logsource:
  product: linux
detection:
  selection:
    message|contains: '{marker}'
  condition: selection
level: {level}
"""


@pytest.fixture
def settings(tmp_path):
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    return settings


@pytest.fixture
def workspace(settings):
    workspace = Workspace.open(settings)
    yield workspace
    workspace.close()


def install(settings, tmp_path, name: str, files: dict[str, str]):
    folder = tmp_path / f"src-{name}"
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return RuleStore(settings.rules_dir).install(str(folder), name=name)


def write_events(settings, events) -> None:
    writer = LakeWriter(settings.lake_dir)
    writer.add(events)
    writer.flush()
    writer.close()


def syslog(event_id: str, at: datetime, message: str, ip: str = "203.0.113.50") -> dict:
    return {
        "event.id": event_id,
        "@timestamp": at,
        "event.ingested": at,
        "event.dataset": "syslog",
        "event.original": message,
        "message": message,
        "host.name": "bastion",
        "source.ip": ip,
    }


def test_the_catalogue_lists_the_starter_pack_and_installed_packs(settings, tmp_path):
    install(settings, tmp_path, "local", {"a.yml": rule_yaml(R_LOCAL_1, "Local one", "one")})
    catalog = RuleCatalog(settings)
    rules = catalog.rules()
    starter = [r for r in rules if r.pack == STARTER]
    assert len(starter) == len([r for r in rules if starter_pack_path() in r.rule.path.parents])
    assert {r.id for r in rules if r.pack == "local"} == {R_LOCAL_1}
    assert catalog.packs() == [STARTER, "local"]
    whoami = catalog.get(WHOAMI)
    assert whoami is not None and whoami.enabled and whoami.pack == STARTER
    assert whoami.attack == ["attack.discovery", "attack.t1033"]
    assert whoami.matches_text("T1033") and whoami.matches_text("whoami")
    assert not whoami.matches_text("mimikatz")
    assert "Image|endswith: '\\whoami.exe'" in catalog.source(WHOAMI)
    assert catalog.get("no-such-rule") is None and catalog.source("no-such-rule") is None


def test_the_catalogue_follows_switches_new_files_and_edits(settings, tmp_path, monkeypatch):
    install(settings, tmp_path, "local", {"sub/a.yml": rule_yaml(R_A, "Rule A", "a")})
    catalog = RuleCatalog(settings)
    assert catalog.get(R_A).rule.title == "Rule A"
    store = RuleStore(settings.rules_dir)
    store.disable([R_A, WHOAMI])
    assert catalog.get(R_A).enabled is False and catalog.get(WHOAMI).enabled is False
    store.enable([WHOAMI])
    assert catalog.get(WHOAMI).enabled is True and catalog.get(R_A).enabled is False

    # a rule saved into a pack's sub-folder shows at once (its folder changed)
    folder = settings.rules_dir / "packs" / "local" / "sub"
    (folder / "b.yml").write_text(rule_yaml(R_B, "Rule B", "b"))
    assert catalog.get(R_B).rule.title == "Rule B"
    # a file rewritten in place is seen when the files are next checked
    monkeypatch.setattr(catalog_module, "FILES_CHECK_SECONDS", 0.0)
    (folder / "b.yml").write_text(rule_yaml(R_B, "Rule B, renamed", "b"))
    assert catalog.get(R_B).rule.title == "Rule B, renamed"


def test_hits_are_the_metrics_rule_counts_plus_the_events(settings, workspace):
    system = Principal.system("test")

    def draft(rule_id: str, host: str) -> AlertDraft:
        return AlertDraft(rule_id, "t", "high", observables=[Observable.of("host", host)])

    workspace.raise_alerts(
        [draft(WHOAMI, "a"), draft(WHOAMI, "a"), draft(WHOAMI, "a"), draft(WHOAMI, "b")]
        + [draft("net.scan", "c"), draft("net.scan", "d")],
        actor=system,
    )
    alerts = {
        (a.rule_id, a.observables[0]["value"]): a for a in workspace.alerts.list(system).items
    }
    workspace.alerts.close(system, alerts[(WHOAMI, "a")].id, "benign_positive")
    workspace.alerts.close(system, alerts[("net.scan", "c")].id, "true_positive")
    workspace.alerts.close(system, alerts[("net.scan", "d")].id, "false_positive")

    since, until = NOW - timedelta(days=1), datetime.now(UTC) + timedelta(seconds=1)
    hits = rule_hits(workspace, system, since=since, until=until)
    report = workspace.metrics.compute(system, since=since, until=until)
    assert {r.rule_id: r for r in report.rules} == {k: h.counts for k, h in hits.items()}
    assert (hits[WHOAMI].alerts, hits[WHOAMI].events) == (2, 4)
    assert (hits[WHOAMI].noise, hits[WHOAMI].noise_ratio) == (1, 1.0)
    assert (hits["net.scan"].noise, hits["net.scan"].noise_ratio) == (1, 0.5)
    assert rule_hits(workspace, system, since=NOW - timedelta(days=3), until=since) == {}


def test_an_installed_rule_is_tried_on_the_lake_as_a_hunt_would(settings, tmp_path):
    install(settings, tmp_path, "local", {"a.yml": rule_yaml(R_PROBE, "Probe", "probe-x")})
    write_events(
        settings,
        [syslog(f"ev-{i}", NOW - timedelta(minutes=10 - i), f"probe-x {i}") for i in range(5)]
        + [syslog("ev-other", NOW - timedelta(minutes=3), "nothing here")]
        + [syslog("ev-old", NOW - timedelta(days=2), "probe-x old")],
    )
    RuleStore(settings.rules_dir).disable([R_PROBE])  # trying a switched-off rule works
    catalog = RuleCatalog(settings)
    engine = catalog.engine_for(R_PROBE)
    assert [c.rule.id for c in engine.compiled] == [R_PROBE]
    reader = LakeReader(settings.lake_dir)
    trial = try_on_lake(engine, reader, since=NOW - timedelta(hours=1), until=NOW, limit=2)
    assert (trial.events_read, trial.matched, trial.count) == (6, 5, 5)
    assert [m.event["event.id"] for m in trial.matches] == ["ev-0", "ev-1"]
    assert trial.datasets == ["syslog"] and not trial.truncated
    first = trial.matches[0].selections
    assert [(s.name, s.matched) for s in first] == [("selection", True)]
    assert "probe-x" in first[0].evidence

    stopped = try_on_lake(
        engine, reader, since=NOW - timedelta(days=3), until=NOW, max_events=3, limit=50
    )
    assert stopped.truncated and stopped.events_read >= 3
    assert catalog.engine_for("no-such-rule") is None


def test_a_correlation_is_tried_with_the_rules_it_counts(settings):
    failures = [
        syslog(
            f"ssh-{i}",
            NOW - timedelta(minutes=5, seconds=-10 * i),
            f"Failed password for root from 203.0.113.50 port {4000 + i} ssh2",
        )
        for i in range(11)
    ]
    write_events(settings, failures)
    engine = RuleCatalog(settings).engine_for(SSH_BRUTE_FORCE)
    assert [r.id for r in engine.correlations] == [SSH_BRUTE_FORCE]
    assert [c.rule.id for c in engine.compiled] == [SSH_FAILED]
    trial = try_on_lake(
        engine, LakeReader(settings.lake_dir), since=NOW - timedelta(hours=1), until=NOW
    )
    assert trial.fired == 1
    firing = trial.firings[0]
    assert firing.rule.id == SSH_BRUTE_FORCE and firing.value >= 10
    assert firing.group == {"source.ip": "203.0.113.50", "host.name": "bastion"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "paste a rule: the text is empty"),
        ("title: x\ndetection: [unclosed\n", "invalid YAML: line 3, column 1"),
        ("title: only a title\n", "Sigma rule"),
        ("x" * (catalog_module.MAX_PASTED_BYTES + 1), "the text is too long"),
    ],
)
def test_pasted_text_that_is_no_rule_gives_the_loader_s_message(text, error):
    pasted = load_pasted(text)
    assert pasted.engine is None and pasted.rules == []
    assert any(e.startswith(error) or error in e for e in pasted.errors), pasted.errors


def test_a_pasted_rule_compiles_with_its_warnings():
    text = rule_yaml("r-pasted", "Pasted", "m").replace("id: r-pasted\n", "")
    pasted = load_pasted(text)
    assert pasted.errors == []
    assert [r.title for r in pasted.rules] == ["Pasted"]
    assert pasted.engine is not None and len(pasted.engine.compiled) == 1
    assert any("rule has no id" in w for w in pasted.warnings)
