"""Windows JSON parsers (tocsin.ingest.parsers.winjson): the evtx JSON form and Winlogbeat."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, ParseIssue
from tocsin.ingest.parsers.evtx import EvtxParser
from tocsin.ingest.parsers.jsonfmt import JsonRecordParser
from tocsin.ingest.parsers.windows import scalar_text
from tocsin.ingest.parsers.winjson import EvtxJsonParser, WinlogbeatParser

REGRESSION = "sigma/regression_data"


def parse(
    parser: JsonRecordParser | EvtxParser, data: bytes | Path, dataset: str | None = None
) -> tuple[list[Event], list[ParseIssue]]:
    """Every event and issue of one input (bytes, or a file)."""
    ctx = ParseContext(source="input", identity="identity", dataset=dataset)
    events: list[Event] = []
    issues: list[ParseIssue] = []
    if isinstance(data, Path):
        stream = data.open("rb")
    else:
        stream = io.BufferedReader(io.BytesIO(data))
    with stream:
        for batch in parser.parse_stream(stream, ctx):
            events.extend(batch.events)
            issues.extend(batch.issues)
    return events, issues


# ----------------------------------------------------------------------------- evtx JSON

SYSMON_IMAGE_LOAD = {
    "Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {
                "#attributes": {
                    "Name": "Microsoft-Windows-Sysmon",
                    "Guid": "5770385F-C22A-43E0-BF4C-06F5698FFBD9",
                }
            },
            "EventID": 7,
            "Version": 3,
            "Level": 4,
            "Task": 7,
            "Opcode": 0,
            "Keywords": "0x8000000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2025-11-27T07:40:10.165324Z"}},
            "EventRecordID": 571146,
            "Correlation": None,
            "Execution": {"#attributes": {"ProcessID": 3544, "ThreadID": 4272}},
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "ws01",
            "Security": {"#attributes": {"UserID": "S-1-5-18"}},
        },
        "EventData": {
            "ProcessId": 4460,
            "Image": "C:\\Windows\\System32\\WerFaultSecure.exe",
            "ImageLoaded": "C:\\Windows\\System32\\dbgcore.dll",
            "Hashes": "MD5=FAB4B30C,SHA256=1B48A4F8",
            "Signed": "true",
        },
    }
}


@pytest.mark.parametrize(
    ("head", "evtx_json", "winlogbeat"),
    [
        (orjson.dumps(SYSMON_IMAGE_LOAD, option=orjson.OPT_INDENT_2), 60, 0),
        (orjson.dumps(SYSMON_IMAGE_LOAD) + b"\n", 60, 0),
        (b"Record 1\n" + orjson.dumps(SYSMON_IMAGE_LOAD, option=orjson.OPT_INDENT_2), 60, 0),
        (b'{"winlog": {"channel": "Security", "event_id": "4624"}}', 0, 60),
        (b'{"_index": "x", "_source": {"winlog": {"event_id": 4624}}}', 0, 60),
        (b'{"winlog": "not an object"}', 0, 0),
        (b'{"Event": {"EventData": {}}}', 0, 0),
        (b'{"message": "hello"}', 0, 0),
        (b"ElfFile\x00" + bytes(100), 0, 0),
    ],
)
def test_sniff(head: bytes, evtx_json: int, winlogbeat: int) -> None:
    assert EvtxJsonParser().sniff(head) == evtx_json
    assert WinlogbeatParser().sniff(head) == winlogbeat


def test_evtx_json_record() -> None:
    raw = orjson.dumps(SYSMON_IMAGE_LOAD)
    events, issues = parse(EvtxJsonParser(), raw + b"\n")
    assert issues == []
    (event,) = events
    ctx = ParseContext(source="input", identity="identity")
    assert event["event.id"] == ctx.event_id("ws01/Microsoft-Windows-Sysmon/Operational/571146")
    assert event["event.original"] == raw.decode()
    assert event["@timestamp"] == datetime(2025, 11, 27, 7, 40, 10, 165324, tzinfo=UTC)
    assert {
        name: event[name]
        for name in (
            "EventID",
            "Image",
            "ImageLoaded",
            "ProcessId",
            "SecurityUserID",
            "event.dataset",
            "event.category",
            "file.path",
            "file.name",
            "file.hash.md5",
            "process.name",
        )
    } == {
        "EventID": 7,
        "Image": "C:\\Windows\\System32\\WerFaultSecure.exe",
        "ImageLoaded": "C:\\Windows\\System32\\dbgcore.dll",
        "ProcessId": 4460,
        "SecurityUserID": "S-1-5-18",
        "event.dataset": "windows.sysmon",
        "event.category": ["library"],
        "file.path": "C:\\Windows\\System32\\dbgcore.dll",
        "file.name": "dbgcore.dll",
        "file.hash.md5": "fab4b30c",
        "process.name": "WerFaultSecure.exe",
    }


def two_records() -> list[dict[str, object]]:
    second = orjson.loads(orjson.dumps(SYSMON_IMAGE_LOAD))
    second["Event"]["System"]["EventRecordID"] = 571147
    second["Event"]["EventData"]["ImageLoaded"] = "C:\\Windows\\System32\\dbghelp.dll"
    return [SYSMON_IMAGE_LOAD, second]


@pytest.mark.parametrize(
    "layout",
    ["pretty-concatenated", "evtx-dump-record-lines", "jsonl", "array"],
)
def test_evtx_json_layouts_give_the_same_events(layout: str) -> None:
    records = two_records()
    pretty = [orjson.dumps(item, option=orjson.OPT_INDENT_2) for item in records]
    data = {
        "pretty-concatenated": b"\n".join(pretty) + b"\n",
        "evtx-dump-record-lines": b"".join(
            b"Record %d\n" % (index + 1) + text + b"\n" for index, text in enumerate(pretty)
        ),
        "jsonl": b"".join(orjson.dumps(item) + b"\n" for item in records),
        "array": orjson.dumps(records),
    }[layout]
    events, issues = parse(EvtxJsonParser(), data)
    assert issues == []
    expected, _ = parse(EvtxJsonParser(), b"".join(orjson.dumps(r) + b"\n" for r in records))
    assert events == expected
    assert [event["ImageLoaded"] for event in events] == [
        "C:\\Windows\\System32\\dbgcore.dll",
        "C:\\Windows\\System32\\dbghelp.dll",
    ]


def test_evtx_dump_record_lines_keep_offsets_and_lines() -> None:
    pretty = orjson.dumps(SYSMON_IMAGE_LOAD, option=orjson.OPT_INDENT_2)
    data = b"Record 1\n" + pretty + b"\nRecord 2\n{ broken\n"
    events, issues = parse(EvtxJsonParser(), data)
    assert len(events) == 1
    (issue,) = issues
    assert issue.line == pretty.count(b"\n") + 4
    assert issue.offset == len(b"Record 1\n" + pretty + b"\nRecord 2\n")
    assert issue.raw == b"{ broken"


def test_bad_records_become_issues() -> None:
    good = orjson.dumps(SYSMON_IMAGE_LOAD)
    data = good + b"\n{not json\n" + b'{"Event": {"EventData": {}}}\n' + good + b"\n"
    events, issues = parse(EvtxJsonParser(), data)
    assert len(events) == 2
    assert [issue.line for issue in issues] == [2, 3]
    assert "System" in issues[1].reason


def test_forced_dataset() -> None:
    events, _ = parse(EvtxJsonParser(), orjson.dumps(SYSMON_IMAGE_LOAD), dataset="lab")
    assert events[0]["event.dataset"] == "lab"


def regression_pairs(shared_data: Path) -> list[Path]:
    return sorted((shared_data / REGRESSION).rglob("*.evtx"))


# Where a twin's JSON does not hold what its EVTX holds (not a parser matter): here the JSON
# reads ParentCommandLine "C:\Windows\Explorer.exe" where the EVTX has "...Explorer.EXE".
KNOWN_DIFFERENCES = {
    "ad691d92-15f2-4181-9aa4-723c74f9ddc3": {"ParentCommandLine", "process.parent.command_line"},
}


def comparable(event: Event, skipped: set[str] | frozenset[str] = frozenset()) -> dict[str, object]:
    """An event's fields as the twins can agree on them (see the test below)."""
    out: dict[str, object] = {}
    for name, value in event.items():
        if name in ("event.id", "event.original") or name in skipped:
            continue
        if name == "TimeCreated":
            value = event["@timestamp"]
        elif isinstance(value, str):
            value = value.rstrip()
        elif isinstance(value, list):
            value = [item.rstrip() if isinstance(item, str) else item for item in value]
        out[name] = value
    return out


def test_evtx_and_json_twins_give_the_same_fields(shared_data: Path) -> None:
    """Each regression sample's .evtx and its evtx_dump .json twin flatten alike.

    The twins were written by an older evtx_dump, which trimmed trailing spaces from values
    (``ParentCommandLine`` ends ``cmd.exe" `` on Windows) and kept SystemTime to 100 ns: so
    strings are compared without trailing whitespace, and TimeCreated as the parsed time.
    """
    pairs = regression_pairs(shared_data)
    assert len(pairs) > 150
    records = 0
    for path in pairs:
        from_evtx, evtx_issues = parse(EvtxParser(), path)
        from_json, json_issues = parse(EvtxJsonParser(), path.with_suffix(".json"))
        assert evtx_issues == json_issues == []
        assert len(from_evtx) == len(from_json) > 0, path
        skipped = KNOWN_DIFFERENCES.get(path.stem, set())
        for left, right in zip(from_evtx, from_json, strict=True):
            assert comparable(left, skipped) == comparable(right, skipped), path
            records += 1
    assert records > 200


def test_twins_differ_only_in_trailing_whitespace(shared_data: Path) -> None:
    path = next(
        p for p in regression_pairs(shared_data) if p.stem == "af688c76-4ce4-4309-bfdd-e896f01acf27"
    )
    (from_evtx,), _ = parse(EvtxParser(), path)
    (from_json,), _ = parse(EvtxJsonParser(), path.with_suffix(".json"))
    differing = {name for name in from_evtx if from_evtx[name] != from_json.get(name)}
    assert differing == {
        "event.id",
        "event.original",
        "ParentCommandLine",
        "process.parent.command_line",
    }
    assert from_evtx["ParentCommandLine"] == '"C:\\WINDOWS\\system32\\cmd.exe" '


# ----------------------------------------------------------------------------- Winlogbeat

# A Winlogbeat 8 document for the Sysmon record above, laid out as Elastic documents the
# winlog.* fields: event_data values are strings, provider_guid has braces, opcode and task are
# rendered names, and ECS fields sit beside winlog.
WINLOGBEAT_SYSMON = {
    "@timestamp": "2025-11-27T07:40:10.165Z",
    "agent": {"type": "winlogbeat", "version": "8.15.0", "name": "WS01"},
    "ecs": {"version": "8.0.0"},
    "event": {
        "code": "7",
        "kind": "event",
        "provider": "Microsoft-Windows-Sysmon",
        "created": "2025-11-27T07:40:11.002Z",
        "action": "Image loaded (rule: ImageLoad)",
        "original": "<Event xmlns=...>",
    },
    "host": {"name": "ws01", "hostname": "WS01", "os": {"family": "windows"}},
    "log": {"level": "information"},
    "message": "Image loaded:\nRuleName: -\nImage: C:\\Windows\\System32\\WerFaultSecure.exe",
    "winlog": {
        "api": "wineventlog",
        "channel": "Microsoft-Windows-Sysmon/Operational",
        "computer_name": "ws01",
        "event_data": {
            "ProcessId": "4460",
            "Image": "C:\\Windows\\System32\\WerFaultSecure.exe",
            "ImageLoaded": "C:\\Windows\\System32\\dbgcore.dll",
            "Hashes": "MD5=FAB4B30C,SHA256=1B48A4F8",
            "Signed": "true",
        },
        "event_id": "7",
        "opcode": "Info",
        "process": {"pid": 3544, "thread": {"id": 4272}},
        "provider_guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
        "provider_name": "Microsoft-Windows-Sysmon",
        "record_id": "571146",
        "task": "Image loaded (rule: ImageLoad)",
        "user": {"domain": "NT AUTHORITY", "identifier": "S-1-5-18", "name": "SYSTEM"},
        "version": 3,
    },
}


def test_winlogbeat_document() -> None:
    raw = orjson.dumps(WINLOGBEAT_SYSMON)
    (event,), issues = parse(WinlogbeatParser(), raw + b"\n")
    assert issues == []
    ctx = ParseContext(source="input", identity="identity")
    assert event["event.id"] == ctx.event_id("ws01/Microsoft-Windows-Sysmon/Operational/571146")
    assert event["event.original"] == raw.decode()
    native = {name: value for name, value in event.items() if "." not in name and name[0] != "@"}
    assert native == {
        "EventID": 7,
        "Version": 3,
        "EventRecordID": 571146,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "ws01",
        "Provider_Name": "Microsoft-Windows-Sysmon",
        "Provider_Guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
        "TimeCreated": "2025-11-27T07:40:10.165Z",
        "Execution_ProcessID": 3544,
        "Execution_ThreadID": 4272,
        "SecurityUserID": "S-1-5-18",
        "ProcessId": "4460",
        "Image": "C:\\Windows\\System32\\WerFaultSecure.exe",
        "ImageLoaded": "C:\\Windows\\System32\\dbgcore.dll",
        "Hashes": "MD5=FAB4B30C,SHA256=1B48A4F8",
        "Signed": "true",
        "message": WINLOGBEAT_SYSMON["message"],
    }
    assert event["@timestamp"] == datetime(2025, 11, 27, 7, 40, 10, 165000, tzinfo=UTC)
    assert {
        name: event[name]
        for name in (
            "event.dataset",
            "event.kind",
            "event.code",
            "event.provider",
            "event.category",
            "event.type",
            "event.action",
            "host.name",
            "process.pid",
            "process.name",
            "file.path",
            "file.hash.sha256",
            "agent.type",
            "host.hostname",
            "log.level",
            "event.created",
            "ecs.version",
        )
    } == {
        "event.dataset": "windows.sysmon",
        "event.kind": "event",
        "event.code": "7",
        "event.provider": "Microsoft-Windows-Sysmon",
        "event.category": ["library"],
        "event.type": ["start"],
        "event.action": "image-loaded",
        "host.name": "ws01",
        "process.pid": 4460,
        "process.name": "WerFaultSecure.exe",
        "file.path": "C:\\Windows\\System32\\dbgcore.dll",
        "file.hash.sha256": "1b48a4f8",
        "agent.type": "winlogbeat",
        "host.hostname": "WS01",
        "log.level": "information",
        "event.created": "2025-11-27T07:40:11.002Z",
        "ecs.version": "8.0.0",
    }
    assert "winlog.channel" not in event and "winlog.event_data.Image" not in event


def test_winlogbeat_and_evtx_json_agree_on_sigma_fields() -> None:
    """Same record, two sources: the Sigma fields match as Sigma compares them (as text).

    Left out: what Winlogbeat does not carry (Level, Task, Opcode, Keywords), and what it
    renders differently (Provider_Guid with braces, TimeCreated to the millisecond).
    """
    (from_beat,), _ = parse(WinlogbeatParser(), orjson.dumps(WINLOGBEAT_SYSMON))
    (from_evtx,), _ = parse(EvtxJsonParser(), orjson.dumps(SYSMON_IMAGE_LOAD))
    skipped = {"Level", "Task", "Opcode", "Keywords", "Provider_Guid", "TimeCreated", "message"}

    def sigma_fields(event: Event) -> dict[str, str]:
        return {
            name: scalar_text(value)
            for name, value in event.items()
            if "." not in name and name[0] != "@" and name not in skipped
        }

    assert sigma_fields(from_beat) == sigma_fields(from_evtx)
    for name in (
        "process.pid",
        "process.executable",
        "file.path",
        "event.category",
        "event.dataset",
        "host.name",
        "event.code",
    ):
        assert from_beat[name] == from_evtx[name]


@pytest.mark.parametrize(
    ("document", "expected", "absent"),
    [
        pytest.param(
            {
                "@timestamp": "2024-05-02T10:00:00.000Z",
                "event": {"code": "1102", "outcome": "success"},
                "winlog": {
                    "channel": "Security",
                    "event_id": 1102,
                    "computer_name": "dc01",
                    "provider_name": "Microsoft-Windows-Eventlog",
                    "record_id": 77,
                    "user_data": {
                        "xml_name": "LogFileCleared",
                        "SubjectUserName": "admmig",
                        "SubjectDomainName": "OFFSEC",
                    },
                },
            },
            {
                "EventID": 1102,
                "SubjectUserName": "admmig",
                "user.name": "admmig",
                "event.action": "audit-log-cleared",
                "event.outcome": "success",
                "event.dataset": "windows.security",
            },
            ("xml_name", "LogFileCleared"),
            id="security-1102-user-data",
        ),
        pytest.param(
            {
                "@timestamp": "2024-05-02T10:00:00.000Z",
                "winlog": {
                    "channel": "Security",
                    "event_id": "4624",
                    "computer_name": "dc01",
                    "event_data": {
                        "TargetUserName": "alice",
                        "IpAddress": "10.1.2.3",
                        "IpPort": "50123",
                        "LogonType": "3",
                    },
                },
            },
            {
                "EventID": 4624,
                "LogonType": "3",
                "user.name": "alice",
                "source.ip": "10.1.2.3",
                "source.port": 50123,
                "event.category": ["authentication"],
            },
            ("event.outcome", "EventRecordID"),
            id="security-4624-strings",
        ),
        pytest.param(
            {
                "_index": ".ds-logs-windows",
                "_id": "x",
                "_source": {
                    "@timestamp": "2024-05-02T10:00:00Z",
                    "winlog": {
                        "channel": "Windows PowerShell",
                        "event_id": 400,
                        "event_data": {"param1": "Available", "param2": "None"},
                    },
                },
            },
            {
                "EventID": 400,
                "param1": "Available",
                "event.dataset": "windows.powershell_classic",
                "@timestamp": datetime(2024, 5, 2, 10, 0, tzinfo=UTC),
            },
            ("_index", "_source.winlog.channel"),
            id="elasticsearch-hit",
        ),
        pytest.param(
            {
                "@timestamp": "2024-05-02T10:00:00Z",
                "event": {"code": "5156"},
                "host": {"name": "web01"},
                "winlog": {"channel": "Security"},
                "event_category": "x",
            },
            {"EventID": 5156, "Computer": "web01", "host.name": "web01", "event_category": "x"},
            (),
            id="event-code-and-host-fallbacks",
        ),
    ],
)
def test_winlogbeat_documents(
    document: dict[str, object], expected: dict[str, object], absent: tuple[str, ...]
) -> None:
    (event,), issues = parse(WinlogbeatParser(), orjson.dumps(document))
    assert issues == []
    assert {name: event.get(name, "<absent>") for name in expected} == expected
    for name in absent:
        assert name not in event


def test_winlogbeat_id_falls_back_to_the_offset() -> None:
    line = orjson.dumps({"winlog": {"channel": "Security", "event_id": 4634}}) + b"\n"
    events, _ = parse(WinlogbeatParser(), line + line)
    ctx = ParseContext(source="input", identity="identity")
    assert [event["event.id"] for event in events] == [ctx.event_id(0), ctx.event_id(len(line))]
