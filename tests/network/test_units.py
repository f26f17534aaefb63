"""The network package's parts on their own: address classes, the probe rule, which rows are
flows, and the beacon statistics."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import Settings
from tocsin.lake.reader import LakeReader
from tocsin.lake.writer import LakeWriter
from tocsin.network.detectors import NetContext, _bowley, _madm, merge_thresholds, shrink
from tocsin.network.hunt import AllowList, internal_networks
from tocsin.network.source import flow_files, load_flows

START = datetime(2026, 11, 19, tzinfo=UTC)
END = START + timedelta(days=1)


def context(networks: list[str]) -> NetContext:
    return NetContext(
        duckdb.connect(),
        START,
        END,
        merge_thresholds({}),
        internal_networks(Settings(net_internal_networks=networks)),
        allowed=lambda _address: False,
    )


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("10.1.2.3", True),
        ("192.168.1.200", True),
        ("192.168.2.1", False),  # outside the /24
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("fd12:3456::1", True),  # unique local
        ("fe80::1%eth0", True),  # link-local with a scope
        ("2001:db8::1", False),
        ("::ffff:10.1.2.3", False),  # a mapped IPv4 address is IPv6 to ipaddress
        ("not-an-ip", False),
        ("", False),
        (None, False),
        ("999.1.1.1", False),
    ],
)
def test_internal_addresses(address: str | None, internal: bool) -> None:
    ctx = context(["10.0.0.0/8", "172.16.0.0/12", "192.168.1.0/24", "fc00::/7", "fe80::/10"])
    assert ctx.is_internal(address) is internal


def test_a_bad_internal_network_is_refused_by_name() -> None:
    assert [str(n) for n in internal_networks(Settings(net_internal_networks=[" 10.0.0.1 "]))] == [
        "10.0.0.1/32"
    ]
    with pytest.raises(InvalidInputError, match="'10.0.0.0/33'"):
        internal_networks(Settings(net_internal_networks=["10.0.0.0/8", "10.0.0.0/33"]))


def test_allow_list_names_the_entry_that_covers_an_address() -> None:
    allow = AllowList(
        (
            (ipaddress.ip_network("198.51.100.7/32"), "net_allow: 198.51.100.7"),
            (ipaddress.ip_network("2001:db8::/32"), "allow list: 2001:db8::/32"),
        )
    )
    assert allow.match("198.51.100.7") == "net_allow: 198.51.100.7"
    assert allow.match("2001:db8::42") == "allow list: 2001:db8::/32"
    assert allow.match("198.51.100.8") is None
    assert allow.match("::ffff:198.51.100.7") is None
    assert allow.match("backup.example.com") is None and allow.match(None) is None


# --- which rows are flows, and which are probes -----------------------------------------------

ZEEK = [
    # proto, state, bytes back, probe
    ("tcp", "S0", 0, True),
    ("tcp", "REJ", 0, True),
    ("tcp", "RSTOS0", 0, True),
    ("tcp", "RSTRH", 40, True),
    ("tcp", "SH", 0, True),
    ("tcp", "SHR", 0, True),
    ("tcp", "OTH", 120, True),
    ("tcp", "SF", 900, False),
    ("tcp", "S1", 900, False),
    ("tcp", "RSTO", 0, False),  # answered, then reset by the client
    ("udp", "S0", 0, True),
    ("udp", "SF", 40, False),
    ("icmp", "OTH", 0, False),  # not TCP or UDP: never a probe
]
NO_STATE = [("tcp", None, 0, True), ("tcp", None, 60, False), ("udp", None, 0, True)]


def flow(i: int, proto: str, state: str | None, back: int, dataset: str) -> dict[str, object]:
    event: dict[str, object] = {
        "@timestamp": START + timedelta(minutes=i),
        "event.id": f"{dataset}-{i}",
        "event.dataset": dataset,
        "event.ingested": END,
        "source.ip": "10.0.0.1",
        "source.port": 40000 + i,
        "destination.ip": "10.0.0.2",
        "destination.port": 1000 + i,
        "network.transport": proto,
        "source.bytes": 60,
        "destination.bytes": back,
        "event.duration": 1_000_000_000,
    }
    if state is not None:
        event["conn_state"] = state
    return event


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One lake with every case of the probe table, and rows that are not flows."""
    root = tmp_path_factory.mktemp("lake")
    writer = LakeWriter(root)
    writer.add([flow(i, *case[:3], "zeek.conn") for i, case in enumerate(ZEEK)])
    writer.add([flow(100 + i, *case[:3], "suricata.flow") for i, case in enumerate(NO_STATE)])
    not_flows = [
        # an HTTP event has addresses but no byte counts: not a flow file
        {"@timestamp": START, "event.id": "h1", "event.dataset": "zeek.http",
         "event.ingested": END, "source.ip": "10.0.0.1", "destination.ip": "10.0.0.2"},
    ]  # fmt: skip
    writer.add(not_flows)
    no_destination = flow(200, "tcp", "SF", 10, "cef.fw")
    no_destination.pop("destination.ip")
    outside = flow(201, "tcp", "SF", 10, "cef.fw")
    outside["@timestamp"] = END + timedelta(hours=1)
    twice = [flow(202, "tcp", "SF", 10, "cef.fw"), flow(202, "tcp", "SF", 10, "cef.fw")]
    twice[1]["event.id"] = "second-sensor"
    twice[1]["event.duration"] = 5_000_000_000
    writer.add([no_destination, outside, *twice])
    writer.flush()
    writer.close()
    return root


def read(lake: Path) -> list[tuple[object, ...]]:
    reader = LakeReader(lake)
    with reader.connect() as con:
        files = flow_files(reader, since=START, until=END)
        load_flows(con, reader, since=START, until=END, files=files)
        return con.execute(
            "SELECT dataset, dport, probe, duration, id FROM flows ORDER BY dport"
        ).fetchall()


@pytest.mark.parametrize(("index", "case"), list(enumerate(ZEEK)))
def test_the_probe_rule_with_zeek_states(lake: Path, index: int, case: tuple) -> None:
    rows = {r[1]: r for r in read(lake)}
    assert rows[1000 + index][2] is case[3]


@pytest.mark.parametrize(("index", "case"), list(enumerate(NO_STATE)))
def test_the_probe_rule_without_states_counts_bytes_back(lake: Path, index: int, case) -> None:
    rows = {r[1]: r for r in read(lake)}
    assert rows[1100 + index][2] is case[3]


def test_only_whole_flows_in_the_window_count_once(lake: Path) -> None:
    rows = read(lake)
    assert {r[0] for r in rows} == {"zeek.conn", "suricata.flow", "cef.fw"}  # no zeek.http
    assert len(rows) == len(ZEEK) + len(NO_STATE) + 1
    # two sensors saw one flow: kept once, with the longer duration
    (kept,) = [r for r in rows if r[0] == "cef.fw"]
    assert (kept[1], kept[3], kept[4]) == (1202, 5.0, "second-sensor")


# --- beacon statistics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "skew"),
    [
        ([10, 20, 30, 40, 50], 0.0),  # symmetric
        ([60, 60, 60, 60], 0.0),  # no spread: no shape
        ([1, 2, 3, 4, 100], 0.0),  # an outlier beyond the quartiles does not count
        ([0, 1, 2, 5, 6], 0.5),  # the median near the lower quartile: skewed right
        ([0, 1, 4, 5, 6], -0.5),
        ([1, 9, 10, 10, 11], -1.0),  # the median on the upper quartile
    ],
)
def test_bowley_skewness(values: list[float], skew: float) -> None:
    assert _bowley(np.array(values, dtype=float)) == pytest.approx(skew)


def test_madm_and_the_shrink_toward_undecided() -> None:
    assert _madm(np.array([60.0, 60, 60, 60])) == 0.0
    assert _madm(np.array([54.0, 60, 60, 66, 300])) == 6.0  # robust to the outlier
    assert shrink(1.0, 20, 20) == 0.75  # twenty samples keep half their evidence
    assert shrink(0.0, 20, 20) == 0.25
    assert shrink(1.0, 980, 20) == pytest.approx(0.99)
    assert shrink(0.3, 5, 0) == 0.3  # a prior of 0 turns it off
