"""The offline event reader (tocsin.detect.reader): the events ``tocsin ingest`` would store.

The small inputs are written here, after the formats' documentation (evtx_dump's JSON, Zeek's
TSV and JSON logs, Suricata's EVE); the EVTX file comes from the shared data set. The main
check reads an input with :class:`EventReader` and ingests it into a temporary home, then
compares event by event (ids, field names, values and their types) with what the lake holds.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tocsin.core.errors import NotFoundError
from tocsin.core.event import make_event_id
from tocsin.core.settings import Settings
from tocsin.detect.reader import EventReader, ReadBatch, ReadIssue, store_form
from tocsin.ingest.files import identify
from tocsin.ingest.service import IngestService
from tocsin.lake.layout import list_files

SHARED_EVTX = "evtx/DeepBlueCLI/mimikatz-privesc-hashdump.evtx"


# ----------------------------------------------------------------------------- inputs


def sysmon_record(number: int, image: str, command_line: str) -> dict[str, Any]:
    """A Sysmon process creation record in the ``evtx_dump -o json`` form."""
    return {
        "Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {
                    "#attributes": {
                        "Name": "Microsoft-Windows-Sysmon",
                        "Guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
                    }
                },
                "EventID": 1,
                "Version": 5,
                "Level": 4,
                "Task": 1,
                "Opcode": 0,
                "Keywords": "0x8000000000000000",
                "TimeCreated": {"#attributes": {"SystemTime": f"2024-03-01T10:00:0{number}.5Z"}},
                "EventRecordID": 4000 + number,
                "Correlation": None,
                "Execution": {"#attributes": {"ProcessID": 3000, "ThreadID": 3100}},
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "ws01.corp.example",
                "Security": {"#attributes": {"UserID": "S-1-5-18"}},
            },
            "EventData": {
                "RuleName": "-",
                "UtcTime": f"2024-03-01 10:00:0{number}.500",
                "ProcessGuid": "{a1b2c3d4-0000-0000-0000-000000000001}",
                "ProcessId": 6000 + number,
                "Image": image,
                "CommandLine": command_line,
                "CurrentDirectory": "C:\\Users\\eve\\",
                "User": "CORP\\eve",
                "IntegrityLevel": "Medium",
                "Hashes": "SHA256=0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C4B5A69788796A5B4C3D2E1F0",
                "ParentProcessId": 5000,
                "ParentImage": "C:\\Windows\\explorer.exe",
                "ParentCommandLine": "C:\\Windows\\explorer.exe",
            },
        }
    }


def write_evtx_json(path: Path) -> Path:
    """Three records pretty-printed and concatenated, as ``evtx_dump -o json`` writes them."""
    records = [
        sysmon_record(1, "C:\\Windows\\System32\\whoami.exe", "whoami /all"),
        sysmon_record(2, "C:\\Windows\\System32\\net.exe", "net user /domain"),
        sysmon_record(3, "C:\\Windows\\System32\\cmd.exe", 'cmd.exe /c "echo hi"'),
    ]
    path.write_text("".join(json.dumps(r, indent=2) + "\n" for r in records))
    return path


NDJSON_LINES = [
    {
        "@timestamp": "2024-03-01T10:00:00Z",
        "host": {"name": "web01", "ip": "10.0.0.8"},
        "action": "login",
        "ok": True,
        "attempts": 3,
        "ratio": 0.5,
        "ports": [22, 443],
        "roles": ["admin", "ops"],
        "user": {"name": "alice"},
    },
    {
        "@timestamp": "2024-03-01T10:00:01.250+01:00",
        "host": {"name": "web02", "ip": "10.0.0.9"},
        "action": "logout",
        "ok": False,
        "attempts": 1,
        "ratio": 1.5,
        "ports": [80],
        "roles": ["ops"],
        "user": {"name": "bob"},
    },
    {"@timestamp": "2024-03-01T10:00:02Z", "action": "noop", "attempts": 7},
]


def write_ndjson(path: Path, lines: list[dict[str, Any]] = NDJSON_LINES) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def zeek_header(path: str, fields: str, types: str) -> str:
    return "\n".join(
        [
            "#separator \\x09",
            "#set_separator\t,",
            "#empty_field\t(empty)",
            "#unset_field\t-",
            f"#path\t{path}",
            "#open\t2024-03-01-10-00-00",
            "#fields\t" + "\t".join(fields.split()),
            "#types\t" + "\t".join(types.split()),
        ]
    )


def write_zeek_conn(path: Path) -> Path:
    fields = (
        "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
        "resp_bytes conn_state history orig_pkts resp_pkts"
    )
    types = (
        "time string addr port addr port enum string interval count count string string count count"
    )
    rows = [
        "1709287200.123456\tC1a\t10.0.0.5\t51515\t203.0.113.7\t443\ttcp\tssl\t1.5\t100\t2000\tSF\tShADadFf\t5\t6",
        "1709287201.000000\tC2b\t10.0.0.6\t53001\t203.0.113.8\t53\tudp\tdns\t0.01\t40\t80\tSF\tDd\t1\t1",
        "1709287202.000000\tC3c\t10.0.0.7\t40000\t203.0.113.9\t22\ttcp\t-\t-\t-\t-\tS0\tS\t1\t0",
    ]
    path.write_text(zeek_header("conn", fields, types) + "\n" + "\n".join(rows) + "\n#close\tx\n")
    return path


def write_zeek_json(path: Path) -> Path:
    lines = [
        {
            "_path": "dns",
            "ts": 1709287200.5,
            "uid": "CdnsA",
            "id.orig_h": "10.0.0.5",
            "id.orig_p": 53000,
            "id.resp_h": "10.0.0.53",
            "id.resp_p": 53,
            "proto": "udp",
            "trans_id": 4242,
            "query": "evil.example.com",
            "qtype_name": "A",
            "rcode_name": "NOERROR",
            "answers": ["198.51.100.7"],
            "TTLs": [300.0],
        },
        {
            "_path": "dns",
            "ts": 1709287201.5,
            "uid": "CdnsB",
            "id.orig_h": "10.0.0.6",
            "id.orig_p": 53001,
            "id.resp_h": "10.0.0.53",
            "id.resp_p": 53,
            "proto": "udp",
            "trans_id": 4243,
            "query": "good.example.org",
            "qtype_name": "AAAA",
            "rcode_name": "NXDOMAIN",
        },
    ]
    return write_ndjson(path, lines)


def write_eve(path: Path) -> Path:
    common = {
        "flow_id": 1676750115612680,
        "in_iface": "eth0",
        "src_ip": "10.0.0.5",
        "src_port": 51515,
        "dest_ip": "203.0.113.7",
        "dest_port": 80,
        "proto": "TCP",
    }
    lines = [
        {
            "timestamp": "2024-03-01T10:00:00.123456+0000",
            "event_type": "alert",
            **common,
            "alert": {
                "action": "allowed",
                "gid": 1,
                "signature_id": 2100498,
                "rev": 7,
                "signature": "GPL ATTACK_RESPONSE id check returned root",
                "category": "Potentially Bad Traffic",
                "severity": 2,
            },
        },
        {
            "timestamp": "2024-03-01T10:00:01.000000+0000",
            "event_type": "http",
            **common,
            "http": {
                "hostname": "www.example.com",
                "url": "/index.html",
                "http_user_agent": "curl/8.0",
                "http_method": "GET",
                "status": 200,
                "length": 512,
            },
        },
    ]
    return write_ndjson(path, lines)


# ----------------------------------------------------------------------------- helpers


def read_all(reader: EventReader, paths: list[Path]) -> list[dict[str, Any]]:
    return [event for batch in reader.read(paths) for event in batch.events]


def comparable(event: dict[str, Any]) -> dict[str, tuple[type, Any]]:
    """Field -> (type, value), without nulls and the ingest time (it differs by design)."""
    return {
        name: (type(value), value)
        for name, value in event.items()
        if value is not None and name != "event.ingested"
    }


def ingested(tmp_path: Path, source: Path) -> dict[str, dict[str, tuple[type, Any]]]:
    """Ingest ``source`` into a new home; its lake's events by id."""
    settings = Settings(home=tmp_path / f"home-{source.name}")
    report = IngestService(settings, detection=False).ingest([source], workers=1)
    assert report.failed == []
    rows: dict[str, dict[str, tuple[type, Any]]] = {}
    for lake_file in list_files(settings.lake_dir):
        for row in pq.read_table(lake_file.path).to_pylist():
            rows[row["event.id"]] = comparable(row)
    return rows


def assert_same_as_ingest(tmp_path: Path, source: Path) -> list[dict[str, Any]]:
    reader = EventReader()
    events = read_all(reader, [source])
    assert events and reader.files_failed == [] and reader.issues == []
    stored = ingested(tmp_path, source)
    read = {event["event.id"]: comparable(event) for event in events}
    assert sorted(read) == sorted(stored)
    for event_id, fields in read.items():
        assert fields == stored[event_id], event_id
    return events


# ----------------------------------------------------------------------------- same as ingest


def test_evtx_json_events_are_those_the_ingest_stores(tmp_path: Path) -> None:
    source = write_evtx_json(tmp_path / "sysmon.json")
    events = assert_same_as_ingest(tmp_path, source)
    assert [e["event.dataset"] for e in events] == ["windows.sysmon"] * 3
    first = events[0]
    assert first["EventID"] == 1 and first["ProcessId"] == 6001
    assert first["Image"] == "C:\\Windows\\System32\\whoami.exe"
    assert first["CommandLine"] == "whoami /all"
    assert first["Channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert first["@timestamp"] == datetime(2024, 3, 1, 10, 0, 1, 500000, tzinfo=UTC)
    assert isinstance(first["event.original"], str) and "whoami /all" in first["event.original"]


def test_ndjson_events_are_those_the_ingest_stores(tmp_path: Path) -> None:
    # detection is off in the home, so the ingest takes its bulk Arrow path for this file:
    # the reader's per-line events must come out the same
    source = write_ndjson(tmp_path / "app.ndjson")
    events = assert_same_as_ingest(tmp_path, source)
    first = events[0]
    assert first["event.dataset"] == "json"
    assert first["host.name"] == "web01" and first["user.name"] == "alice"
    assert first["ports"] == ["22", "443"]  # lists of values are lists of strings
    assert first["roles"] == ["admin", "ops"]
    assert first["ok"] is True and first["attempts"] == 3 and first["ratio"] == 0.5
    assert events[1]["@timestamp"] == datetime(2024, 3, 1, 9, 0, 1, 250000, tzinfo=UTC)
    assert first["event.original"] == json.dumps(NDJSON_LINES[0])
    # without the lake's types the parser's values are left as they are
    raw = read_all(EventReader(lake_types=False), [source])
    assert raw[0]["ports"] == [22, 443]
    assert [e["event.id"] for e in raw] == [e["event.id"] for e in events]


@pytest.mark.parametrize(
    ("writer", "name", "dataset"),
    [
        (write_zeek_conn, "conn.log", "zeek.conn"),
        (write_zeek_json, "dns.json", "zeek.dns"),
        (write_eve, "eve.json", None),
    ],
)
def test_network_logs_are_those_the_ingest_stores(
    tmp_path: Path, writer: Any, name: str, dataset: str | None
) -> None:
    events = assert_same_as_ingest(tmp_path, writer(tmp_path / name))
    if dataset is not None:
        assert {e["event.dataset"] for e in events} == {dataset}


def test_evtx_file_is_read_as_the_ingest_stores_it(tmp_path: Path, shared_data: Path) -> None:
    source = shared_data / SHARED_EVTX
    if not source.is_file():
        pytest.skip(f"{SHARED_EVTX} is not in the shared data set")
    events = assert_same_as_ingest(tmp_path, source)
    assert {e["event.dataset"] for e in events} == {"windows.security"}
    assert all(isinstance(e["EventID"], int) for e in events)
    assert all(e["Channel"] == "Security" for e in events)


# ----------------------------------------------------------------------------- formats


def test_zeek_tsv_is_read_with_types_and_ecs_fields(tmp_path: Path) -> None:
    events = read_all(EventReader(), [write_zeek_conn(tmp_path / "conn.log")])
    assert [e["uid"] for e in events] == ["C1a", "C2b", "C3c"]
    first = events[0]
    assert first["id.orig_h"] == first["source.ip"] == "10.0.0.5"
    assert first["id.resp_p"] == first["destination.port"] == 443
    assert first["@timestamp"] == datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert "service" not in events[2]  # an unset field is absent


def test_suricata_eve_datasets_follow_the_event_type(tmp_path: Path) -> None:
    events = read_all(EventReader(), [write_eve(tmp_path / "eve.json")])
    assert [e["event.dataset"] for e in events] == ["suricata.alert", "suricata.http"]
    assert events[0]["alert.signature_id"] == 2100498
    assert events[0]["source.ip"] == "10.0.0.5" and events[0]["destination.port"] == 80
    assert events[1]["http.response.status_code"] == 200


def test_gzip_input_reads_like_the_plain_file(tmp_path: Path) -> None:
    plain = write_ndjson(tmp_path / "app.ndjson")
    packed = tmp_path / "app.ndjson.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    def without_id(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in e.items() if k not in ("event.id", "event.ingested")} for e in events
        ]

    assert without_id(read_all(EventReader(), [packed])) == without_id(
        read_all(EventReader(), [plain])
    )


def test_forced_format_and_dataset(tmp_path: Path) -> None:
    source = write_zeek_json(tmp_path / "dns.json")
    events = read_all(EventReader(format="json", dataset="custom.dns"), [source])
    assert [e["event.dataset"] for e in events] == ["custom.dns", "custom.dns"]
    assert "dns.question.name" not in events[0]  # read as plain JSON, not as Zeek
    with pytest.raises(NotFoundError, match="unknown format"):
        EventReader(format="no_such_format")


# ----------------------------------------------------------------------------- ids and batches


def test_event_ids_are_the_ingest_ids_and_stable(tmp_path: Path) -> None:
    source = write_ndjson(tmp_path / "app.ndjson")
    events = read_all(EventReader(), [source])
    key = identify(source).key
    second_line = len(json.dumps(NDJSON_LINES[0])) + 1
    assert [e["event.id"] for e in events][:2] == [
        make_event_id(key, 0),
        make_event_id(key, second_line),
    ]
    again = read_all(EventReader(), [source])
    assert [e["event.id"] for e in again] == [e["event.id"] for e in events]


def test_batches_keep_file_order_and_size(tmp_path: Path) -> None:
    lines = [{"n": i, "@timestamp": "2024-03-01T10:00:00Z"} for i in range(25)]
    write_ndjson(tmp_path / "a.ndjson", lines)
    write_ndjson(tmp_path / "b.ndjson", lines[:3])
    reader = EventReader(batch_size=10)
    batches = list(reader.read([tmp_path]))
    assert [(b.path.name, len(b.events)) for b in batches] == [
        ("a.ndjson", 10),
        ("a.ndjson", 10),
        ("a.ndjson", 5),
        ("b.ndjson", 3),
    ]
    assert [e["n"] for b in batches[:3] for e in b.events] == list(range(25))
    assert reader.events_read == 28 and reader.files_read == 2
    assert all(isinstance(b, ReadBatch) for b in batches)
    with pytest.raises(ValueError, match="batch_size"):
        EventReader(batch_size=0)


def test_progress_reports_every_byte(tmp_path: Path) -> None:
    files = [
        write_ndjson(tmp_path / "app.ndjson"),
        write_zeek_conn(tmp_path / "conn.log"),
        write_evtx_json(tmp_path / "sysmon.json"),
    ]
    (tmp_path / "notes.txt").write_text("no format here\n")
    seen: list[int] = []
    list(EventReader().read([tmp_path], progress=seen.append))
    assert all(step >= 0 for step in seen)
    assert sum(seen) == sum(f.stat().st_size for f in files) + len("no format here\n")


# ----------------------------------------------------------------------------- bad input


def test_a_malformed_line_is_an_issue_and_the_rest_is_read(tmp_path: Path) -> None:
    source = tmp_path / "app.ndjson"
    good = json.dumps({"n": 1})
    source.write_text(f'{good}\n{{"n": 2,\n{json.dumps({"n": 3})}\n')
    reader = EventReader()
    events = read_all(reader, [source])
    assert [e["n"] for e in events] == [1, 3]
    assert len(reader.issues) == reader.issue_count == 1
    issue = reader.issues[0]
    assert isinstance(issue, ReadIssue)
    assert (issue.path, issue.line, issue.offset) == (source, 2, len(good) + 1)
    assert issue.reason
    assert reader.files_failed == [] and reader.files_read == 1


def test_unknown_missing_and_truncated_files_fail_alone(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_ndjson(folder / "a.ndjson")
    (folder / "b.bin").write_bytes(bytes(range(256)) * 4)
    data = gzip.compress(
        b"".join(json.dumps({"n": i, "pad": "x" * 64}).encode() + b"\n" for i in range(2000))
    )
    (folder / "c.ndjson.gz").write_bytes(data[: len(data) // 2])
    write_zeek_conn(folder / "d.log")
    missing = tmp_path / "gone.json"

    reader = EventReader()
    batches = list(reader.read([folder, missing]))
    by_file: dict[str, int] = {}
    for batch in batches:
        by_file[batch.path.name] = by_file.get(batch.path.name, 0) + len(batch.events)
    failed = {path.name: reason for path, reason in reader.files_failed}
    assert set(failed) == {"b.bin", "c.ndjson.gz", "gone.json"}
    assert "cannot tell the format" in failed["b.bin"]
    assert "gzip" in failed["c.ndjson.gz"]
    assert "no such file" in failed["gone.json"]
    # the files around the failures are read whole; the truncated one keeps what it had
    assert by_file["a.ndjson"] == 3 and by_file["d.log"] == 3
    assert 0 < by_file["c.ndjson.gz"] < 2000
    assert reader.files_read == 3  # a, the readable part of c, and d


def test_a_damaged_evtx_is_an_issue_not_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "broken.evtx"
    broken.write_bytes(b"ElfFile\x00" + bytes(4088) + b"not a chunk" * 100)
    write_ndjson(tmp_path / "ok.ndjson")
    reader = EventReader()
    events = read_all(reader, [broken, tmp_path / "ok.ndjson"])
    assert len(events) == 3
    assert reader.issue_count >= 1 and reader.issues[0].path == broken


# ----------------------------------------------------------------------------- workers


def test_workers_give_the_same_batches_in_file_order(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "a.ndjson", [{"n": i} for i in range(12)])
    write_zeek_conn(tmp_path / "b.log")
    write_evtx_json(tmp_path / "c.json")
    (tmp_path / "d.bin").write_bytes(bytes(range(256)))
    (tmp_path / "e.ndjson").write_text('{"n": 1}\n{"n": \n')

    def run(workers: int) -> tuple[list[tuple[str, list[Any]]], EventReader, list[int]]:
        seen: list[int] = []
        reader = EventReader(workers=workers, batch_size=5)
        batches = [
            (b.path.name, [(e["event.id"], e.get("n")) for e in b.events])
            for b in reader.read([tmp_path], progress=seen.append)
        ]
        return batches, reader, seen

    serial, one, seen_one = run(1)
    parallel, two, seen_two = run(2)
    assert parallel == serial
    assert [name for name, _ in serial][:3] == ["a.ndjson"] * 3
    assert (two.events_read, two.files_read) == (one.events_read, one.files_read) == (19, 4)
    assert two.files_failed == one.files_failed and len(one.files_failed) == 1
    assert two.issues == one.issues and two.issue_count == 1
    assert sum(seen_two) == sum(seen_one) == sum(p.stat().st_size for p in tmp_path.iterdir())


# ----------------------------------------------------------------------------- storage form


def test_store_form_gives_the_lake_types() -> None:
    paris = timezone(timedelta(hours=1))
    event: dict[str, Any] = {
        "@timestamp": datetime(2024, 3, 1, 11, 0, tzinfo=paris),
        "seen": datetime(2024, 3, 1, 10, 0),  # naive: UTC
        "source.port": "8080",
        "destination.port": "http",  # not a number: the lake stores nothing
        "event.category": "process",
        "event.code": 4688,
        "ports": [1, 2],
        "names": ("a", None),
        "nested": {"k": [1, "x"]},
        "blob": b"raw",
        "huge": 2**64,
        "plain": "text",
        "count": 5,
    }
    store_form([event])
    assert event == {
        "@timestamp": datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
        "seen": datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
        "source.port": 8080,
        "event.category": ["process"],
        "event.code": "4688",
        "ports": ["1", "2"],
        "names": ["a", None],
        "nested": '{"k":[1,"x"]}',
        "blob": "raw",
        "huge": "18446744073709551616",
        "plain": "text",
        "count": 5,
    }
    assert event["@timestamp"].tzinfo is UTC
