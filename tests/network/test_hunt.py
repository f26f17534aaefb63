"""The network detectors over a lake the tests fill: flows from Zeek-shaped events and from
captures the tests write and import, with known beacons, scans, long connections, exfiltration,
rare fingerprints and indicators, and ordinary traffic that must not be flagged."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.core.errors import InvalidInputError
from tocsin.core.home import init_home
from tocsin.core.settings import Settings, load_settings
from tocsin.lake.writer import LakeWriter
from tocsin.network.hunt import hunt_net, net_principal
from tocsin.network.jobs import NetHuntJob
from tocsin.pcap import synth
from tocsin.pcap.importer import import_capture
from tocsin.pcap.writer import write_pcap
from tocsin.respond.blocklist import BlockLists, EntryDraft
from tocsin.respond.values import ListName
from tocsin.workspace.db import Database
from tocsin.workspace.service import Workspace

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
WINDOW = (NOW - timedelta(hours=24), NOW + timedelta(minutes=1))
C2, JITTER_C2, WEB = "198.51.100.23", "198.51.100.24", "192.0.2.80"


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    settings = load_settings(home=tmp_path / "home")
    init_home(settings)
    Workspace.open(settings).close()
    return settings


def conn(
    ts: datetime,
    src: str,
    dst: str,
    dport: int,
    *,
    sbytes: int = 300,
    dbytes: int = 200,
    duration: float = 0.5,
    state: str = "SF",
    sport: int | None = None,
    proto: str = "tcp",
) -> dict[str, object]:
    """One Zeek-shaped conn event."""
    return {
        "@timestamp": ts,
        "source.ip": src,
        "source.port": sport if sport is not None else 40000 + int(ts.timestamp()) % 20000,
        "destination.ip": dst,
        "destination.port": dport,
        "network.transport": proto,
        "source.bytes": sbytes,
        "destination.bytes": dbytes,
        "event.duration": int(duration * 1e9),
        "conn_state": state,
    }


def write(settings: Settings, events: list[dict[str, object]], dataset: str = "zeek.conn") -> None:
    writer = LakeWriter(settings.lake_dir)
    now = datetime.now(UTC)
    for i, event in enumerate(events):
        event.setdefault("event.id", f"{dataset}-{i}-{random.random()}")
        event["event.dataset"] = dataset
        event["event.ingested"] = now
    writer.add(events)
    writer.flush()
    writer.close()


def beacon_events(
    src: str,
    dst: str,
    *,
    period: float,
    jitter: float,
    size_jitter: int,
    seed: int,
    hours: float = 20,
) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out, when = [], NOW - timedelta(hours=hours)
    while when < NOW:
        out.append(conn(when, src, dst, 443, sbytes=400 + rng.randint(-size_jitter, size_jitter)))
        when += timedelta(seconds=period + rng.uniform(-jitter, jitter))
    return out


def browsing(src: str, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out, when = [], NOW - timedelta(hours=20)
    while when < NOW:
        out.append(conn(when, src, WEB, 443, sbytes=rng.randint(300, 60000)))
        when += timedelta(seconds=rng.expovariate(1 / 300))
    return out


def test_beacons_are_ranked_and_only_beacons_flagged(home: Settings) -> None:
    write(
        home,
        beacon_events("10.0.0.5", C2, period=300, jitter=0, size_jitter=0, seed=1)
        + beacon_events("10.0.0.6", JITTER_C2, period=300, jitter=45, size_jitter=20, seed=2)
        + browsing("10.0.0.7", 3),
    )
    from tocsin.lake.reader import LakeReader
    from tocsin.network.detectors import NetContext, beacon_scores, merge_thresholds
    from tocsin.network.source import flow_files, load_flows

    reader = LakeReader(home.lake_dir)
    with reader.connect() as con:
        load_flows(
            con,
            reader,
            since=WINDOW[0],
            until=WINDOW[1],
            files=flow_files(reader, since=WINDOW[0], until=WINDOW[1]),
        )
        from tocsin.network.hunt import internal_networks

        ctx = NetContext(
            con,
            *WINDOW,
            merge_thresholds({}),
            internal_networks(home),
            allowed=lambda _a: False,
        )
        scores = {s.dst: s.score for s in beacon_scores(ctx)}
    assert scores[C2] > scores[JITTER_C2] > scores[WEB]
    assert scores[WEB] < 0.8
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["beacon"])
    flagged = {f.dst: f for f in report.findings}
    assert set(flagged) == {C2, JITTER_C2}
    perfect = flagged[C2]
    assert perfect.severity == "high"
    assert "median interval 300.0 s" in perfect.reasons[0].detail
    assert len(perfect.event_ids) == 50  # evidence capped
    assert report.alerts_new == 2


def test_internal_pairs_are_left_unless_asked(home: Settings) -> None:
    write(home, beacon_events("10.0.0.5", "10.0.9.9", period=120, jitter=0, size_jitter=0, seed=4))
    assert hunt_net(home, since=WINDOW[0], until=WINDOW[1], alerts=False).findings == []
    wide = Settings(home=home.home, net_thresholds={"beacon.internal": 1})
    found = hunt_net(wide, since=WINDOW[0], until=WINDOW[1], alerts=False).findings
    assert [f.detector for f in found] == ["net.beacon"]


def test_scans_from_a_capture(home: Settings, tmp_path: Path) -> None:
    start = int((NOW - timedelta(hours=2)).timestamp() * 1e9)
    frames = synth.merge(
        synth.syn_scan("10.0.0.66", "10.0.0.10", range(1, 301), start_ns=start, open_ports=[22]),
        synth.syn_scan("10.0.0.67", "10.0.0.11", range(1, 51), start_ns=start),  # too few ports
        synth.host_sweep(
            "10.0.0.68",
            [f"10.0.1.{i}" for i in range(1, 80)],
            3389,
            start_ns=start,
            answering=["10.0.1.5"],
        ),
    )
    path = tmp_path / "scan.pcap"
    write_pcap(path, frames, synth.LINKTYPE_ETHERNET)
    import_capture(home, path, detection=False)
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["scan"])
    found = {(f.src, f.dst): f for f in report.findings}
    assert set(found) == {("10.0.0.66", "10.0.0.10"), ("10.0.0.68", None)}
    vertical = found[("10.0.0.66", "10.0.0.10")]
    assert vertical.score == 299  # 300 ports, one of them open
    assert vertical.community_ids and vertical.event_ids
    assert "78 hosts probed on port 3389" in found[("10.0.0.68", None)].reasons[0].detail


def test_long_connections(home: Settings) -> None:
    write(
        home,
        [
            conn(NOW - timedelta(hours=5), "10.0.0.5", "203.0.113.7", 22, duration=3 * 3600),
            conn(NOW - timedelta(hours=5), "10.0.0.6", "203.0.113.8", 22, duration=600),
        ],
    )
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["long_connection"])
    assert [(f.src, f.dst, f.score) for f in report.findings] == [("10.0.0.5", "203.0.113.7", 3.0)]


def test_exfiltration_against_the_hosts_own_baseline(home: Settings) -> None:
    past = []
    for day in range(1, 8):
        when = NOW - timedelta(days=day, hours=3)
        past.append(conn(when, "10.0.0.7", "192.0.2.10", 443, sbytes=2_000_000))
        past.append(conn(when, "10.0.0.8", "192.0.2.10", 443, sbytes=2_000_000))
    busy = [
        conn(NOW - timedelta(hours=h), f"10.0.3.{h}", "192.0.2.99", 443, sbytes=1000)
        for h in range(1, 6)
    ]
    window = [
        conn(NOW - timedelta(hours=2), "10.0.0.7", "203.0.113.99", 443, sbytes=600_000_000),
        conn(NOW - timedelta(hours=2), "10.0.0.8", "192.0.2.99", 443, sbytes=600_000_000),
    ]
    write(home, past + busy + window)
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["exfiltration"])
    assert [(f.src, f.dst) for f in report.findings] == [("10.0.0.7", "203.0.113.99")]
    detail = report.findings[0].reasons[0].detail
    assert "600.0 MB" in detail and "usual" in detail


def test_rare_fingerprints_are_new_and_few(home: Settings) -> None:
    common = "e7d705a3286e19ea42f587b344ee6865"
    rare = "0123456789abcdef0123456789abcdef"
    past = [
        {
            "@timestamp": NOW - timedelta(days=2),
            "source.ip": f"10.0.0.{i}",
            "destination.ip": WEB,
            "tls.client.ja3": common,
        }
        for i in range(1, 6)
    ]
    now = [
        {
            "@timestamp": NOW - timedelta(hours=1),
            "source.ip": "10.0.0.1",
            "destination.ip": WEB,
            "tls.client.ja3": common,
        },
        {
            "@timestamp": NOW - timedelta(hours=1),
            "source.ip": "10.0.0.9",
            "destination.ip": C2,
            "tls.client.ja3": rare,
        },
    ]
    write(home, past + now, dataset="pcap.tls")
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["rare_fingerprint"])
    assert [(f.src, f.fields.get("net.ja3")) for f in report.findings] == [("10.0.0.9", rare)]
    draft = report.findings[0].to_draft()
    assert ("ja3", rare) in {(o.type, o.value) for o in draft.observables}


def test_block_list_address_is_an_indicator_and_allow_closes_past_alerts(home: Settings) -> None:
    write(
        home,
        beacon_events("10.0.0.5", C2, period=300, jitter=0, size_jitter=0, seed=1)
        + [conn(NOW - timedelta(hours=1), "10.0.0.9", "203.0.113.66", 8443)],
    )
    db = Database(home.workspace_url)
    lists = BlockLists(db)
    lists.add(net_principal(), [EntryDraft("203.0.113.66", reason="c2 feed")])
    first = hunt_net(home, since=WINDOW[0], until=WINDOW[1])
    detectors = first.by_detector()
    assert detectors["net.indicator"] == 1 and detectors["net.beacon"] == 1
    lists.add(net_principal(), [EntryDraft(C2, list=ListName.ALLOW, reason="our backup SaaS")])
    db.close()
    second = hunt_net(home, since=WINDOW[0], until=WINDOW[1])
    assert "net.beacon" not in second.by_detector()
    assert second.alerts_closed == 1
    ws = Workspace.open(home)
    try:
        (closed,) = ws.alerts.list(net_principal(), rule_id="net.beacon", limit=5).items
        assert closed.status == "closed" and closed.classification == "benign_positive"
        assert "allow list" in (closed.close_comment or "")
    finally:
        ws.close()


def test_settings_errors_name_what_is_known(home: Settings) -> None:
    with pytest.raises(InvalidInputError, match="unknown network detector"):
        hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["vibes"])
    bad = Settings(home=home.home, net_thresholds={"beacon.nope": 1})
    with pytest.raises(InvalidInputError, match="known: beacon.internal"):
        hunt_net(bad, since=WINDOW[0], until=WINDOW[1])
    with pytest.raises(InvalidInputError, match="window is empty"):
        hunt_net(home, since=WINDOW[1], until=WINDOW[0])


def test_cli_and_job(home: Settings, monkeypatch) -> None:
    write(home, beacon_events("10.0.0.5", C2, period=300, jitter=0, size_jitter=0, seed=1))
    monkeypatch.setenv("TOCSIN_HOME", str(home.home))
    runner = CliRunner()
    result = runner.invoke(app, ["net", "hunt", "--since", "-24h", "--output", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["destination"] == C2
    ranked = runner.invoke(app, ["net", "beacons", "--output", "json"])
    assert json.loads(ranked.stdout)[0]["destination"] == C2
    top = runner.invoke(app, ["net", "top", "--output", "json"])
    assert {r["table"] for r in json.loads(top.stdout)} >= {"talkers", "ports"}
    job = NetHuntJob()
    assert job.interval(home) == home.net_hunt_interval_minutes * 60
    assert job.interval(Settings(home=home.home, net_hunt_interval_minutes=0)) is None
    assert "net.beacon 1" in job.run(home)


def test_rita_sample_day_from_the_shared_zeek_logs(shared_data: Path, tmp_path: Path) -> None:
    """RITA's own test data: a host beaconing over HTTP every 200-350 s with a one-off user
    agent, and an SSH session open the whole time (Zeek's open_conn log)."""
    import glob

    from tocsin.ingest.service import IngestService

    day = shared_data / "zeek" / "test_data" / "missing_host" / "2024-04-20"
    if not day.is_dir():
        pytest.skip("the RITA sample logs are not in ../shared/data/zeek")
    settings = Settings(home=tmp_path / "rita", net_internal_networks=["73.54.23.0/24"])
    init_home(settings)
    files = [
        Path(p)
        for pattern in ("conn.*", "open_conn.*", "http.*")
        for p in sorted(glob.glob(str(day / pattern)))
    ]
    IngestService(settings, detection=False).ingest(files)
    report = hunt_net(
        settings,
        since=datetime(2024, 4, 20, tzinfo=UTC),
        until=datetime(2024, 4, 21, tzinfo=UTC),
        alerts=False,
    )
    found = {(f.detector, f.src, f.dst) for f in report.findings}
    pair = ("73.54.23.243", "64.225.56.201")
    assert ("net.beacon", *pair) in found
    assert ("net.long_connection", *pair) in found
    beacon = next(f for f in report.findings if f.detector == "net.beacon")
    assert beacon.score > 0.85
    assert "median interval 27" in beacon.reasons[0].detail
    ssh = next(f for f in report.findings if f.detector == "net.long_connection")
    assert ssh.score >= 24
    # the sensor's inbound internet noise is a scan at most, never a beacon of ours
    assert {f.src for f in report.findings if f.detector == "net.beacon"} == {pair[0]}


def test_sources_without_states_count_probes_by_bytes_back(home: Settings) -> None:
    """Suricata's flow records have no Zeek state: a flow with nothing back is a probe."""
    events = []
    for port in range(1, 151):
        event = conn(
            NOW - timedelta(minutes=30),
            "10.0.0.99",
            "10.0.5.5",
            port,
            sbytes=60,
            dbytes=0,
            sport=50000,
        )
        event.pop("conn_state")
        events.append(event)
    answered = conn(NOW - timedelta(minutes=30), "10.0.0.98", "10.0.5.5", 443, dbytes=900)
    answered.pop("conn_state")
    write(home, [*events, answered], dataset="suricata.flow")
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["scan"], alerts=False)
    assert [(f.src, f.dst, f.score) for f in report.findings] == [("10.0.0.99", "10.0.5.5", 150.0)]


def test_steady_sizes_at_random_times_are_not_a_beacon(home: Settings) -> None:
    rng = random.Random(9)
    events, when = [], WINDOW[0] + timedelta(seconds=5)
    while when < NOW:  # a monitoring agent all day long: always 400 bytes, whenever it likes
        events.append(conn(when, "10.0.0.40", "203.0.113.40", 443, sbytes=400))
        when += timedelta(seconds=rng.expovariate(1 / 200))
    write(home, events)
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["beacon"], alerts=False)
    assert report.findings == []


def test_few_connections_at_random_times_are_not_beacons_by_chance(home: Settings) -> None:
    """Twenty-odd same-size connections at random times: their intervals' quartiles look
    symmetric by chance for about one pair in twenty. The small-sample correction keeps them
    out and still finds an hourly beacon with as few connections."""
    rng = random.Random(21)
    events, noise = [], set()
    for i in range(200):
        dst = f"203.0.113.{i + 1}" if i < 100 else f"198.51.100.{i - 99}"
        noise.add(dst)
        count = 20 + i % 11
        for when in sorted(rng.uniform(0, 23.5 * 3600) for _ in range(count)):
            events.append(conn(WINDOW[0] + timedelta(seconds=when), f"10.0.8.{i}", dst, 443))
    hourly = WINDOW[0] + timedelta(minutes=10)
    for hour in range(23):  # 23 connections, +-6 minutes of jitter
        when = hourly + timedelta(hours=hour, seconds=rng.uniform(-360, 360))
        events.append(conn(when, "10.0.9.1", C2, 443, sbytes=400 + rng.randint(-20, 20)))
    write(home, events)
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["beacon"], alerts=False)
    assert [f.dst for f in report.findings] == [C2]
    raw = Settings(home=home.home, net_thresholds={"beacon.prior_intervals": 0})
    chance = hunt_net(raw, since=WINDOW[0], until=WINDOW[1], detectors=["beacon"], alerts=False)
    assert len({f.dst for f in chance.findings} & noise) >= 5


def tls(when: datetime, src: str, ja3: str, dst: str = WEB) -> dict[str, object]:
    """One TLS client hello event with a JA3."""
    return {"@timestamp": when, "source.ip": src, "destination.ip": dst, "tls.client.ja3": ja3}


def test_fingerprint_history_is_kept_in_the_home_not_reread(home: Settings) -> None:
    common, tool = "e7d705a3286e19ea42f587b344ee6865", "0123456789abcdef0123456789abcdef"
    day1 = (NOW - timedelta(days=3), NOW - timedelta(days=2))
    day2 = (NOW - timedelta(days=2), NOW - timedelta(days=1))
    write(home, [tls(day1[0] + timedelta(hours=1), "10.0.0.1", common)], dataset="pcap.tls")
    first = hunt_net(home, since=day1[0], until=day1[1], detectors=["rare_fingerprint"])
    assert first.findings == [] and first.learning  # nothing before the window yet
    state = home.state_dir / "net" / "fingerprints.parquet"
    assert first.history_fingerprints == 1 and state.is_file()
    # the lake forgets the first day (retention): the history in the home still knows it
    for path in home.lake_dir.rglob("*.parquet"):
        path.unlink()
    write(
        home,
        [
            tls(day2[0] + timedelta(hours=1), "10.0.0.1", common),
            tls(day2[0] + timedelta(hours=2), "10.0.0.9", tool, dst=C2),
        ],
        dataset="pcap.tls",
    )
    second = hunt_net(home, since=day2[0], until=day2[1], detectors=["rare_fingerprint"])
    assert [f.fields["net.ja3"] for f in second.findings] == [tool]
    assert second.learning is None and second.history_fingerprints == 2
    kept = pq.read_table(state, columns=["value", "hosts"]).to_pylist()
    expected = [(tool, ["10.0.0.9"]), (common, ["10.0.0.1"])]
    assert [(r["value"], r["hosts"]) for r in kept] == expected
    # a later window: the tool is known now; after rare.history_days unseen it is new again
    later = hunt_net(home, since=day2[1], until=NOW, detectors=["rare_fingerprint"])
    assert later.findings == []
    write(home, [tls(NOW + timedelta(days=5), "10.0.0.1", common)], dataset="pcap.tls")
    hunt_net(home, since=NOW + timedelta(days=4), until=NOW + timedelta(days=6), alerts=False)
    write(home, [tls(NOW + timedelta(days=9), "10.0.0.9", tool)], dataset="pcap.tls")
    back = hunt_net(
        home,
        since=NOW + timedelta(days=8, hours=12),
        until=NOW + timedelta(days=9, hours=12),
        detectors=["rare_fingerprint"],
    )
    assert [f.fields["net.ja3"] for f in back.findings] == [tool]


def test_an_unreadable_fingerprint_history_is_rebuilt_from_the_lake(home: Settings) -> None:
    common = "e7d705a3286e19ea42f587b344ee6865"
    write(
        home,
        [
            tls(NOW - timedelta(days=2), "10.0.0.1", common),
            tls(NOW - timedelta(hours=1), "10.0.0.2", common),
        ],
        dataset="pcap.tls",
    )
    state = home.state_dir / "net" / "fingerprints.parquet"
    state.parent.mkdir(parents=True)
    state.write_bytes(b"not parquet")
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["rare_fingerprint"])
    assert report.findings == [] and report.learning is None  # known from the day before
    assert report.history_fingerprints == 1
    assert state.read_bytes()[:4] == b"PAR1"


def test_a_feed_of_addresses_and_bare_ja3_digests(home: Settings, tmp_path: Path) -> None:
    """A plain feed reads a bare 32-digit JA3 as an md5: the JA3 still matches."""
    bad_ja3 = "6734f37431670b3ab4292b8f60f29984"
    feed = tmp_path / "bad.txt"
    feed.write_text(f"# bad things\n203.0.113.66\n{bad_ja3}\n")
    write(home, [conn(NOW - timedelta(hours=1), "10.0.0.9", "203.0.113.66", 8443)])
    write(home, [tls(NOW - timedelta(hours=2), "10.0.0.4", bad_ja3, dst=C2)], dataset="pcap.tls")
    fed = Settings(
        home=home.home, intel_feeds=[{"name": "local-bad", "source": str(feed), "format": "plain"}]
    )
    report = hunt_net(fed, since=WINDOW[0], until=WINDOW[1], detectors=["indicator"])
    found = {(f.src, f.dst): f for f in report.findings}
    assert set(found) == {("10.0.0.9", "203.0.113.66"), ("10.0.0.4", None)}
    assert "local-bad" in found[("10.0.0.9", "203.0.113.66")].reasons[0].detail
    ja3 = found[("10.0.0.4", None)]
    assert ja3.reasons[0].detail == f"ja3 {bad_ja3} (listed as md5) from local-bad"
    assert ("ja3", bad_ja3) in {(o.type, o.value) for o in ja3.to_draft().observables}
    assert ja3.severity == "high"


def test_alerts_fold_on_the_next_run_and_carry_their_evidence(home: Settings) -> None:
    write(home, beacon_events("10.0.0.5", C2, period=300, jitter=0, size_jitter=0, seed=1))
    first = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["beacon"])
    assert first.alerts_new == 1
    again = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["beacon"])
    assert again.alerts_new == 0 and again.alerts_updated == 1
    ws = Workspace.open(home)
    try:
        (alert,) = ws.alerts.list(net_principal(), rule_id="net.beacon", limit=5).items
    finally:
        ws.close()
    assert alert.dedup_key == f"net.beacon:10.0.0.5:{C2}"
    assert {("ip", "10.0.0.5"), ("ip", C2)} <= {(o["type"], o["value"]) for o in alert.observables}
    assert {"attack.t1071", "attack.t1573"} <= set(alert.tags)
    assert (alert.fields["source.ip"], alert.fields["destination.ip"]) == ("10.0.0.5", C2)
    assert alert.fields["net.beacon"]["connections"] == 240  # every 5 min for 20 h
    assert len(alert.event_ids) == 50 and alert.first_seen is not None


def test_a_connection_open_since_before_the_window(home: Settings) -> None:
    start = WINDOW[0] - timedelta(hours=30)
    write(
        home,
        [
            conn(start, "10.4.0.1", "198.51.100.77", 22, duration=40 * 3600, sport=40404),
            conn(start, "10.4.0.2", "198.51.100.78", 22, duration=2 * 3600, sport=40405),
        ],
    )
    report = hunt_net(home, since=WINDOW[0], until=WINDOW[1], detectors=["long_connection"])
    assert [(f.src, f.score, f.severity) for f in report.findings] == [("10.4.0.1", 40.0, "medium")]


def test_thresholds_silence_what_they_raise(home: Settings) -> None:
    past = [
        conn(NOW - timedelta(days=d, hours=3), "10.0.0.7", "192.0.2.10", 443, sbytes=2_000_000)
        for d in range(1, 8)
    ]
    burst = conn(NOW - timedelta(hours=2), "10.0.0.7", "203.0.113.99", 443, sbytes=600_000_000)
    probes = [
        conn(NOW - timedelta(minutes=30), "10.0.0.66", "10.0.5.5", p, state="S0", dbytes=0)
        for p in range(1, 121)
    ]
    write(home, [*past, burst, *probes])
    found = hunt_net(home, since=WINDOW[0], until=WINDOW[1], alerts=False).by_detector()
    assert found == {"net.exfiltration": 1, "net.scan": 1}
    strict = Settings(
        home=home.home,
        net_thresholds={"exfil.baseline_multiple": 1000, "scan.vertical_ports": 121},
    )
    assert hunt_net(strict, since=WINDOW[0], until=WINDOW[1], alerts=False).findings == []


def test_an_empty_window_reads_nothing_and_touches_nothing(home: Settings) -> None:
    write(home, beacon_events("10.0.0.5", C2, period=300, jitter=0, size_jitter=0, seed=1))
    later = (NOW + timedelta(days=30), NOW + timedelta(days=31))
    report = hunt_net(home, since=later[0], until=later[1])
    assert (report.flows, report.findings, report.alerts_new) == (0, [], 0)
    assert not (home.state_dir / "net" / "fingerprints.parquet").exists()
