"""Windows flattening and ECS mapping (tocsin.ingest.parsers.windows).

The records written here follow the JSON the ``evtx`` package renders (checked against the
shared samples): attributes under ``#attributes``, named ``<Data>`` as ``"Name": value``,
unnamed ``<Data>`` as ``"Data": {"#text": [...]}``.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from evtx import PyEvtxParser

from tocsin.ingest.parsers import windows
from tocsin.ingest.parsers.windows import (
    ECS_RULES,
    as_int,
    dns_answers,
    event_timestamp,
    flatten_evtx_json,
    flatten_windows,
    map_ecs,
    record_position,
    windows_dataset,
    windows_event,
)

SYSMON_GUID = "5770385F-C22A-43E0-BF4C-06F5698FFBD9"
SECURITY_GUID = "54849625-5478-4994-A5BA-3E3B0328C30D"


def record(
    event_id: object,
    event_data: object = None,
    *,
    channel: str = "Microsoft-Windows-Sysmon/Operational",
    provider: str = "Microsoft-Windows-Sysmon",
    guid: str = SYSMON_GUID,
    keywords: str = "0x8000000000000000",
    user_data: object = None,
    security: object = None,
) -> dict[str, object]:
    """An evtx-JSON record of a manifest provider, as the evtx package renders it."""
    event: dict[str, object] = {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": provider, "Guid": guid}},
            "EventID": event_id,
            "Version": 5,
            "Level": 4,
            "Task": 1,
            "Opcode": 0,
            "Keywords": keywords,
            "TimeCreated": {"#attributes": {"SystemTime": "2025-11-27T07:40:10.165324Z"}},
            "EventRecordID": 571146,
            "Correlation": None,
            "Execution": {"#attributes": {"ProcessID": 3544, "ThreadID": 4272}},
            "Channel": channel,
            "Computer": "ws01.example.org",
            "Security": security,
        },
    }
    if event_data is not None:
        event["EventData"] = event_data
    if user_data is not None:
        event["UserData"] = user_data
    return {"Event": event}


def security(
    event_id: int,
    event_data: dict[str, object] | None,
    *,
    keywords: str = "0x8020000000000000",
    user_data: object = None,
) -> dict[str, object]:
    """A Security-channel record (Audit Success unless ``keywords`` says otherwise)."""
    return record(
        event_id,
        event_data,
        channel="Security",
        provider="Microsoft-Windows-Security-Auditing",
        guid=SECURITY_GUID,
        keywords=keywords,
        user_data=user_data,
    )


PROCESS_CREATE = {
    "RuleName": "-",
    "UtcTime": "2025-11-27 07:40:10.132",
    "ProcessGuid": "0197231E-005A-6928-A50B-000000000D00",
    "ProcessId": 4460,
    "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    "CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgA",
    "CurrentDirectory": "C:\\Users\\alice\\",
    "User": "EXAMPLE\\alice",
    "Hashes": "SHA1=5E4F2C53,MD5=FAB4B30C,SHA256=1B48A4F8,IMPHASH=C324AAAC",
    "ParentProcessGuid": "0197231E-A1BD-6925-C705-000000000D00",
    "ParentProcessId": 7972,
    "ParentImage": "C:\\Windows\\System32\\cmd.exe",
    "ParentCommandLine": '"C:\\WINDOWS\\system32\\cmd.exe" ',
}


def test_sysmon_process_create_gives_exactly_these_fields() -> None:
    event = windows_event(
        record(1, PROCESS_CREATE, security={"#attributes": {"UserID": "S-1-5-18"}})
    )
    assert event == {
        # System, under Sigma's names
        "EventID": 1,
        "Provider_Name": "Microsoft-Windows-Sysmon",
        "Provider_Guid": SYSMON_GUID,
        "Version": 5,
        "Level": 4,
        "Task": 1,
        "Opcode": 0,
        "Keywords": "0x8000000000000000",
        "TimeCreated": "2025-11-27T07:40:10.165324Z",
        "EventRecordID": 571146,
        "Execution_ProcessID": 3544,
        "Execution_ThreadID": 4272,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "ws01.example.org",
        "SecurityUserID": "S-1-5-18",
        # EventData by name, JSON types kept
        **PROCESS_CREATE,
        # envelope and ECS
        "@timestamp": datetime(2025, 11, 27, 7, 40, 10, 165324, tzinfo=UTC),
        "event.dataset": "windows.sysmon",
        "event.kind": "event",
        "event.code": "1",
        "event.provider": "Microsoft-Windows-Sysmon",
        "event.category": ["process"],
        "event.type": ["start"],
        "event.action": "process-created",
        "host.name": "ws01.example.org",
        "log.level": "information",
        "process.pid": 4460,
        "process.entity_id": "0197231E-005A-6928-A50B-000000000D00",
        "process.executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "process.name": "powershell.exe",
        "process.command_line": "powershell.exe -nop -w hidden -enc SQBFAFgA",
        "process.working_directory": "C:\\Users\\alice\\",
        "process.parent.pid": 7972,
        "process.parent.entity_id": "0197231E-A1BD-6925-C705-000000000D00",
        "process.parent.executable": "C:\\Windows\\System32\\cmd.exe",
        "process.parent.name": "cmd.exe",
        "process.parent.command_line": '"C:\\WINDOWS\\system32\\cmd.exe" ',
        "process.hash.sha1": "5e4f2c53",
        "process.hash.md5": "fab4b30c",
        "process.hash.sha256": "1b48a4f8",
        "user.name": "alice",
        "user.domain": "EXAMPLE",
    }


CLASSIC_SYSTEM = {
    "Provider": {"#attributes": {"Name": "MSSQL$RADAR"}},
    "EventID": {"#attributes": {"Qualifiers": 49152}, "#text": 18456},
    "Level": 0,
    "Task": 4,
    "Keywords": "0x90000000000000",
    "TimeCreated": {"#attributes": {"SystemTime": "2020-07-15T11:31:15.673796Z"}},
    "EventRecordID": 58848,
    "Channel": "Application",
    "Computer": "mssql01.offsec.lan",
    "Security": None,
}

STRING_SYSTEM = {
    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing", "Guid": "{5484}"}},
    "EventID": "4656",
    "Version": "1",
    "Level": "0",
    "Task": "12804",
    "Opcode": "0",
    "Keywords": "0x8020000000000000",
    "TimeCreated": {"#attributes": {"SystemTime": "2022-01-26T09:16:25.3232236Z"}},
    "EventRecordID": "7068010",
    "Correlation": None,
    "Execution": {"#attributes": {"ProcessID": "4", "ThreadID": "4344"}},
    "Channel": "Security",
    "Computer": "win10-02.offsec.lan",
    "Security": None,
}

SEPARATE_ATTRIBUTES_SYSTEM = {  # evtx_dump --separate-json-attributes
    "Provider": "",
    "Provider_attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": SYSMON_GUID},
    "EventID": 3,
    "TimeCreated": "",
    "TimeCreated_attributes": {"SystemTime": "2021-11-30T22:05:44.846Z"},
    "EventRecordID": 9,
    "Execution": "",
    "Execution_attributes": {"ProcessID": 1048, "ThreadID": 1680},
    "Channel": "Microsoft-Windows-Sysmon/Operational",
    "Computer": "fs03",
}

LOG_CLEARED = {
    "LogFileCleared": {
        "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2004/08/windows/eventlog"},
        "SubjectUserName": "admmig",
        "SubjectDomainName": "OFFSEC",
        "Channel": "System",
        "BackupPath": None,
    }
}

CAPI_USER_DATA = {
    "CryptAcquireCertificatePrivateKey": {
        "Certificate": {"#attributes": {"fileRef": "3CD6.cer", "subjectName": "wec02"}},
        "Flags": {"#attributes": {"value": "10000"}},
        "EventAuxInfo": {"#attributes": {"ProcessName": "mimikatz.exe"}},
        "Result": {"#attributes": {"value": "0"}, "#text": "done"},
    }
}


@pytest.mark.parametrize(
    ("event", "expected", "absent"),
    [
        pytest.param(
            {
                "System": CLASSIC_SYSTEM,
                "EventData": {"Data": {"#text": ["bob", 7, None, True]}, "Binary": "1848"},
            },
            {
                "EventID": 18456,
                "Provider_Name": "MSSQL$RADAR",
                "Level": 0,
                "Data": ["bob", "7", "", "true"],
                "Binary": "1848",
                "Channel": "Application",
            },
            ("Provider_Guid", "Version", "Opcode", "Execution_ProcessID", "SecurityUserID"),
            id="classic-qualifiers-and-unnamed-data",
        ),
        pytest.param(
            {"System": CLASSIC_SYSTEM, "EventData": {"Data": {"#text": "one value"}}},
            {"Data": ["one value"]},
            (),
            id="single-unnamed-data",
        ),
        pytest.param(
            {"System": STRING_SYSTEM, "EventData": {"ProcessId": "0x668"}},
            {
                "EventID": 4656,
                "Version": 1,
                "Level": 0,
                "Task": 12804,
                "Opcode": 0,
                "EventRecordID": 7068010,
                "Execution_ProcessID": 4,
                "Execution_ThreadID": 4344,
                "ProcessId": "0x668",
                "Provider_Guid": "{5484}",
            },
            ("SecurityUserID",),
            id="system-numbers-as-strings",
        ),
        pytest.param(
            {"System": SEPARATE_ATTRIBUTES_SYSTEM, "EventData": {"SourcePort": 62095}},
            {
                "Provider_Name": "Microsoft-Windows-Sysmon",
                "Provider_Guid": SYSMON_GUID,
                "TimeCreated": "2021-11-30T22:05:44.846Z",
                "Execution_ProcessID": 1048,
                "Execution_ThreadID": 1680,
                "SourcePort": 62095,
            },
            (),
            id="separate-json-attributes",
        ),
        pytest.param(
            {"System": {**CLASSIC_SYSTEM, "Channel": "System"}, "UserData": LOG_CLEARED},
            {
                "Channel": "System",
                "SubjectUserName": "admmig",
                "SubjectDomainName": "OFFSEC",
                "LogFileCleared_Channel": "System",
                "BackupPath": None,
            },
            ("xmlns",),
            id="userdata-leaves-and-clash-with-system",
        ),
        pytest.param(
            {"System": CLASSIC_SYSTEM, "UserData": CAPI_USER_DATA},
            {
                "fileRef": "3CD6.cer",
                "subjectName": "wec02",
                "value": "10000",
                "ProcessName": "mimikatz.exe",
                "Result_value": "0",
                "Result": "done",
            },
            (),
            id="userdata-attributes-become-leaves",
        ),
        pytest.param(
            {"System": CLASSIC_SYSTEM, "EventData": {"Channel": "Security", "param1": "x"}},
            {"Channel": "Application", "EventData_Channel": "Security", "param1": "x"},
            (),
            id="eventdata-clash-with-system",
        ),
        pytest.param(
            {
                "System": CLASSIC_SYSTEM,
                "EventData": {
                    "#attributes": {"Name": "DNS_EVENT_BAD_ZONE"},
                    "param1": "10.0.0.9",
                    "Binary": None,
                },
            },
            {"param1": "10.0.0.9", "Binary": None},
            ("#attributes", "Name"),
            id="eventdata-template-name-dropped",
        ),
        pytest.param(
            {
                "System": CLASSIC_SYSTEM,
                "EventData": {
                    "Rule": {"#attributes": {"Id": "7"}, "Action": "block"},
                    "Ports": [80, 443],
                },
            },
            {"Id": "7", "Action": "block", "Ports": [80, 443]},
            ("Rule",),
            id="eventdata-nested-values",
        ),
        pytest.param(
            {
                "System": CLASSIC_SYSTEM,
                "EventData": None,
                "RenderingInfo": {"Message": "The service started."},
            },
            {"message": "The service started."},
            ("EventData",),
            id="rendering-info-message",
        ),
    ],
)
def test_flatten_shapes(
    event: dict[str, object], expected: dict[str, object], absent: tuple[str, ...]
) -> None:
    flat = flatten_evtx_json({"Event": event})
    assert {name: flat.get(name, "<absent>") for name in expected} == expected
    for name in absent:
        assert name not in flat


@pytest.mark.parametrize(
    ("channel", "dataset"),
    [
        ("Security", "windows.security"),
        ("System", "windows.system"),
        ("Application", "windows.application"),
        ("Microsoft-Windows-Sysmon/Operational", "windows.sysmon"),
        ("Microsoft-Windows-PowerShell/Operational", "windows.powershell"),
        ("Windows PowerShell", "windows.powershell_classic"),
        ("security", "windows.security"),
        (
            "Microsoft-Windows-Windows Defender/Operational",
            "windows.microsoft_windows_windows_defender_operational",
        ),
        (
            "Microsoft-Windows-TaskScheduler/Operational",
            "windows.microsoft_windows_taskscheduler_operational",
        ),
        ("DNS Server", "windows.dns_server"),
        ("OpenSSH/Operational", "windows.openssh_operational"),
        ("Odd:Channel%4Name", "windows.odd_channel_4name"),
        (None, "windows.unknown"),
        ("  ", "windows.unknown"),
    ],
)
def test_windows_dataset(channel: object, dataset: str) -> None:
    assert windows_dataset(channel) == dataset


def test_forced_dataset_wins() -> None:
    assert windows_event(record(1, PROCESS_CREATE), "custom")["event.dataset"] == "custom"


ECS_CASES = [
    pytest.param(
        record(
            3,
            {
                "ProcessGuid": "G",
                "ProcessId": 2668,
                "Image": "C:\\x\\p.exe",
                "User": "OFFSEC\\admmig",
                "Protocol": "tcp",
                "Initiated": True,
                "SourceIp": "10.23.42.38",
                "SourceHostname": "-",
                "SourcePort": 62095,
                "DestinationIp": "10.23.123.11",
                "DestinationHostname": "srv.example.org",
                "DestinationPort": 443,
            },
        ),
        {
            "event.category": ["network"],
            "event.type": ["connection", "start"],
            "source.ip": "10.23.42.38",
            "source.port": 62095,
            "destination.ip": "10.23.123.11",
            "destination.port": 443,
            "destination.domain": "srv.example.org",
            "network.transport": "tcp",
            "network.direction": "egress",
            "process.pid": 2668,
            "process.name": "p.exe",
            "user.name": "admmig",
            "user.domain": "OFFSEC",
        },
        ("source.domain",),
        id="sysmon-3-network",
    ),
    pytest.param(
        record(
            3, {"Protocol": "UDP", "Initiated": "false", "SourcePort": "53", "DestinationPort": "x"}
        ),
        {"network.transport": "udp", "network.direction": "ingress", "source.port": 53},
        ("destination.port",),
        id="sysmon-3-winlogbeat-strings",
    ),
    pytest.param(
        record(
            22,
            {
                "ProcessId": 2124,
                "Image": "C:\\TOOLS\\PsExec64.exe",
                "QueryName": "cdn.example.org",
                "QueryStatus": "0",
                "QueryResults": "type:  5 edge.example.net;::ffff:192.0.2.10;192.0.2.11;",
            },
        ),
        {
            "event.category": ["network"],
            "event.type": ["protocol", "info"],
            "dns.question.name": "cdn.example.org",
            "dns.answers.data": ["edge.example.net", "192.0.2.10", "192.0.2.11"],
            "dns.response_code": "NOERROR",
            "network.protocol": "dns",
            "process.pid": 2124,
            "process.name": "PsExec64.exe",
        },
        (),
        id="sysmon-22-dns",
    ),
    pytest.param(
        record(22, {"QueryName": "nope.example.org", "QueryStatus": "9003", "QueryResults": "-"}),
        {
            "dns.question.name": "nope.example.org",
            "dns.response_code": "NXDOMAIN",
            "dns.answers.data": [],
        },
        (),
        id="sysmon-22-nxdomain",
    ),
    pytest.param(
        record(
            13,
            {
                "EventType": "SetValue",
                "Image": "C:\\reg.exe",
                "TargetObject": "HKLM\\System\\CurrentControlSet\\Services\\evil\\ImagePath",
                "Details": "C:\\evil.exe",
            },
        ),
        {
            "event.category": ["registry"],
            "event.type": ["change"],
            "registry.path": "HKLM\\System\\CurrentControlSet\\Services\\evil\\ImagePath",
            "registry.key": "System\\CurrentControlSet\\Services\\evil",
            "registry.value": "ImagePath",
            "registry.data.strings": ["C:\\evil.exe"],
        },
        (),
        id="sysmon-13-registry-value",
    ),
    pytest.param(
        record(12, {"EventType": "CreateKey", "TargetObject": "HKU\\S-1-5\\Software\\Run"}),
        {"registry.path": "HKU\\S-1-5\\Software\\Run", "registry.key": "S-1-5\\Software\\Run"},
        ("registry.value", "registry.data.strings"),
        id="sysmon-12-registry-key",
    ),
    pytest.param(
        record(
            11, {"Image": "C:\\TOOLS\\PsExec64.exe", "TargetFilename": "C:\\Windows\\PSEXESVC.EXE"}
        ),
        {
            "event.category": ["file"],
            "event.type": ["creation"],
            "file.path": "C:\\Windows\\PSEXESVC.EXE",
            "file.name": "PSEXESVC.EXE",
            "file.directory": "C:\\Windows",
            "file.extension": "exe",
        },
        (),
        id="sysmon-11-file-create",
    ),
    pytest.param(
        record(
            7,
            {
                "Image": "C:\\w.exe",
                "ImageLoaded": "C:\\Windows\\System32\\dbgcore.dll",
                "Hashes": "MD5=AA,SHA256=BB",
            },
        ),
        {
            "event.category": ["library"],
            "file.path": "C:\\Windows\\System32\\dbgcore.dll",
            "file.name": "dbgcore.dll",
            "file.hash.md5": "aa",
            "file.hash.sha256": "bb",
        },
        ("process.hash.md5",),
        id="sysmon-7-image-load",
    ),
    pytest.param(
        record(17, {"Image": "C:\\p.exe", "PipeName": "\\PSEXESVC"}),
        {"event.category": ["file"], "event.type": ["creation"], "file.name": "\\PSEXESVC"},
        (),
        id="sysmon-17-pipe",
    ),
    pytest.param(
        security(
            4624,
            {
                "TargetUserName": "alice",
                "TargetDomainName": "EXAMPLE",
                "TargetUserSid": "S-1-5-21-1",
                "LogonType": 3,
                "ProcessId": "0x1f4",
                "ProcessName": "C:\\Windows\\System32\\lsass.exe",
                "IpAddress": "::ffff:10.0.0.5",
                "IpPort": "0",
            },
        ),
        {
            "event.category": ["authentication"],
            "event.type": ["start"],
            "event.outcome": "success",
            "user.name": "alice",
            "user.domain": "EXAMPLE",
            "user.id": "S-1-5-21-1",
            "source.ip": "10.0.0.5",
            "process.pid": 500,
            "process.name": "lsass.exe",
        },
        ("source.port",),
        id="security-4624-logon",
    ),
    pytest.param(
        security(
            4625,
            {"TargetUserName": "bob", "IpAddress": "-", "IpPort": "-", "ProcessName": "-"},
            keywords="0x8010000000000000",
        ),
        {"event.outcome": "failure", "event.action": "logon-failed", "user.name": "bob"},
        ("source.ip", "source.port", "process.executable", "process.name"),
        id="security-4625-failure",
    ),
    pytest.param(
        security(4624, {"TargetUserName": "carol", "IpAddress": "WORKSTATION7", "IpPort": "445"}),
        {"user.name": "carol", "source.port": 445},
        ("source.ip",),
        id="security-4624-not-an-ip",
    ),
    pytest.param(
        security(
            4688,
            {
                "SubjectUserName": "IE10WIN7$",
                "SubjectDomainName": "WORKGROUP",
                "NewProcessId": "0xea0",
                "NewProcessName": "C:\\Windows\\duKh.exe",
                "ProcessId": "0x1e8",
                "CommandLine": "duKh.exe /s",
                "ParentProcessName": "C:\\Windows\\services.exe",
            },
        ),
        {
            "event.category": ["process"],
            "event.type": ["start"],
            "process.pid": 3744,
            "process.parent.pid": 488,
            "process.executable": "C:\\Windows\\duKh.exe",
            "process.name": "duKh.exe",
            "process.command_line": "duKh.exe /s",
            "process.parent.name": "services.exe",
            "user.name": "IE10WIN7$",
        },
        (),
        id="security-4688-process",
    ),
    pytest.param(
        security(4720, {"SubjectUserName": "admin", "TargetUserName": "newbie"}),
        {
            "event.category": ["iam"],
            "event.type": ["user", "creation"],
            "user.name": "admin",
            "user.target.name": "newbie",
        },
        (),
        id="security-4720-user-created",
    ),
    pytest.param(
        security(
            4732,
            {
                "SubjectUserName": "admin",
                "TargetUserName": "Administrators",
                "TargetDomainName": "Builtin",
                "TargetSid": "S-1-5-32-544",
            },
        ),
        {
            "event.type": ["group", "change"],
            "group.name": "Administrators",
            "group.domain": "Builtin",
            "group.id": "S-1-5-32-544",
        },
        (),
        id="security-4732-group-member-added",
    ),
    pytest.param(
        security(
            5145,
            {
                "SubjectUserName": "admmig",
                "IpAddress": "10.23.123.11",
                "IpPort": "41747",
                "ShareLocalPath": "\\??\\C:\\",
                "RelativeTargetName": "Windows\\Temp\\x.exe",
            },
        ),
        {
            "event.category": ["network", "file"],
            "source.ip": "10.23.123.11",
            "source.port": 41747,
            "file.path": "\\??\\C:\\Windows\\Temp\\x.exe",
            "file.name": "x.exe",
        },
        (),
        id="security-5145-share",
    ),
    pytest.param(
        security(
            1102,
            None,
            user_data={
                "LogFileCleared": {"SubjectUserName": "admmig", "SubjectDomainName": "OFFSEC"}
            },
        ),
        {"event.action": "audit-log-cleared", "user.name": "admmig", "user.domain": "OFFSEC"},
        (),
        id="security-1102-log-cleared",
    ),
    pytest.param(
        record(
            4103,
            {
                "ContextInfo": "        Host Application = powershell.exe -enc AAA\r\n"
                "        User = OFFSEC\\admmig\r\n",
                "Payload": "x",
            },
            channel="Microsoft-Windows-PowerShell/Operational",
            provider="Microsoft-Windows-PowerShell",
        ),
        {
            "event.dataset": "windows.powershell",
            "event.category": ["process"],
            "process.command_line": "powershell.exe -enc AAA",
            "user.name": "admmig",
        },
        (),
        id="powershell-4103",
    ),
    pytest.param(
        record(
            4104,
            {"ScriptBlockText": "iex $x", "Path": "C:\\s\\a.ps1"},
            channel="Microsoft-Windows-PowerShell/Operational",
            provider="Microsoft-Windows-PowerShell",
        ),
        {
            "event.action": "execute-script-block",
            "ScriptBlockText": "iex $x",
            "file.path": "C:\\s\\a.ps1",
            "file.name": "a.ps1",
        },
        (),
        id="powershell-4104",
    ),
    pytest.param(
        {
            "Event": {
                "System": {
                    **CLASSIC_SYSTEM,
                    "Channel": "Windows PowerShell",
                    "Provider": {"#attributes": {"Name": "PowerShell"}},
                    "EventID": {"#attributes": {"Qualifiers": 0}, "#text": 400},
                },
                "EventData": {
                    "Data": {
                        "#text": [
                            "Available",
                            "None",
                            "\tNewEngineState=Available\r\n"
                            "\tHostApplication=powershell -nop -c x\r\n",
                        ]
                    }
                },
            }
        },
        {
            "event.dataset": "windows.powershell_classic",
            "event.type": ["start"],
            "process.command_line": "powershell -nop -c x",
        },
        (),
        id="powershell-classic-400",
    ),
    pytest.param(
        {
            "Event": {
                "System": {
                    **CLASSIC_SYSTEM,
                    "Channel": "System",
                    "Provider": {"#attributes": {"Name": "Service Control Manager"}},
                    "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
                },
                "EventData": {"ServiceName": "KgXIts", "ImagePath": "%systemroot%\\x.exe"},
            }
        },
        {
            "event.dataset": "windows.system",
            "event.code": "7045",
            "service.name": "KgXIts",
            "event.category": ["iam", "configuration"],
        },
        (),
        id="system-7045-service",
    ),
    pytest.param(
        record(255, {"Image": "C:\\x.exe"}),
        {"event.code": "255", "event.kind": "event"},
        ("event.category", "event.type", "process.executable"),
        id="unmapped-event",
    ),
]


@pytest.mark.parametrize(("source", "expected", "absent"), ECS_CASES)
def test_ecs_mapping(
    source: dict[str, object], expected: dict[str, object], absent: tuple[str, ...]
) -> None:
    event = windows_event(source)
    assert {name: event.get(name, "<absent>") for name in expected} == expected
    for name in absent:
        assert name not in event


@pytest.mark.parametrize(("source", "expected", "absent"), ECS_CASES)
def test_usual_and_general_paths_agree(
    source: dict[str, object], expected: object, absent: object
) -> None:
    general = map_ecs(flatten_evtx_json(copy.deepcopy(source)))
    assert windows_event(copy.deepcopy(source)) == general


def test_ecs_rules_name_known_categories() -> None:
    allowed = {
        "authentication",
        "configuration",
        "driver",
        "file",
        "iam",
        "library",
        "network",
        "process",
        "registry",
    }
    for rule in ECS_RULES.values():
        assert set(rule.category) <= allowed
        assert rule.type


@pytest.mark.parametrize(
    ("results", "answers"),
    [
        ("10.23.42.38;", ["10.23.42.38"]),
        ("type:  5 edge.example.net;::ffff:192.0.2.1;", ["edge.example.net", "192.0.2.1"]),
        ("::1;fe80::1;", ["::1", "fe80::1"]),
        ("-", []),
        ("", []),
    ],
)
def test_dns_answers(results: str, answers: list[str]) -> None:
    assert dns_answers(results) == answers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-27T07:40:10.165324Z", datetime(2025, 11, 27, 7, 40, 10, 165324, tzinfo=UTC)),
        ("2022-01-26T09:16:25.3232236Z", datetime(2022, 1, 26, 9, 16, 25, 323223, tzinfo=UTC)),
        ("2022-01-26T09:16:25.419006100Z", datetime(2022, 1, 26, 9, 16, 25, 419006, tzinfo=UTC)),
        ("2019-03-18T18:57:38.636+02:00", datetime(2019, 3, 18, 16, 57, 38, 636000, tzinfo=UTC)),
        ("2019-03-18 16:57:38", datetime(2019, 3, 18, 16, 57, 38, tzinfo=UTC)),
        ("not a time", None),
        (None, None),
    ],
)
def test_event_timestamp(text: object, expected: datetime | None) -> None:
    stamp = event_timestamp(text)
    assert stamp == expected
    if stamp is not None:
        assert stamp.utcoffset() is not None and not stamp.utcoffset()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12, 12), ("12", 12), (" 0x1f4 ", 500), ("0X10", 16), ("-", "-"), (None, None), (True, True)],
)
def test_as_int(value: object, expected: object) -> None:
    assert as_int(value) == expected


def test_record_position() -> None:
    flat = windows_event(record(1, PROCESS_CREATE))
    assert (
        record_position(flat, 17) == "ws01.example.org/Microsoft-Windows-Sysmon/Operational/571146"
    )
    assert record_position({"EventID": 1}, 17) == 17


def test_plan_cache_does_not_mix_channels() -> None:
    sysmon = windows_event(record(1, PROCESS_CREATE))
    other = windows_event(record(1, PROCESS_CREATE, channel="Microsoft-Windows-Other/Operational"))
    assert sysmon["event.category"] == ["process"]
    assert "event.category" not in other
    assert other["event.dataset"] == "windows.microsoft_windows_other_operational"


def test_category_lists_are_not_shared() -> None:
    first = windows_event(record(1, PROCESS_CREATE))
    second = windows_event(record(1, PROCESS_CREATE))
    assert first["event.category"] == second["event.category"]
    assert first["event.category"] is not second["event.category"]


# ----------------------------------------------------------------------------- real records

REAL_RECORDS = [
    pytest.param(
        "sigma/regression_data/rules-emerging-threats/2025/Malware/Grixba/"
        "proc_creation_win_malware_grixba_recon/af688c76-4ce4-4309-bfdd-e896f01acf27.evtx",
        142649,
        {
            "EventID": 1,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Image": "C:\\Users\\xodih\\Downloads\\GRB_NET.exe",
            "CommandLine": "GRB_NET.exe  -m:scan -i:f -d:list.txt",
            "ProcessId": 10116,
            "ParentImage": "C:\\Windows\\System32\\cmd.exe",
            "event.dataset": "windows.sysmon",
            "process.pid": 10116,
            "process.executable": "C:\\Users\\xodih\\Downloads\\GRB_NET.exe",
            "process.name": "GRB_NET.exe",
            "process.command_line": "GRB_NET.exe  -m:scan -i:f -d:list.txt",
            "process.parent.pid": 7972,
            "process.parent.name": "cmd.exe",
            "process.parent.command_line": '"C:\\WINDOWS\\system32\\cmd.exe" ',
            "process.hash.md5": "88df27b6e794e3fd5f93f28b1ca1d3d0",
            "process.hash.sha256": (
                "f8810179ab033a9b79cd7006c1a74fbcde6ed0451c92fbb8c7ce15b52499353a"
            ),
            "user.name": "xodih",
            "user.domain": "swachchhanda",
            "host.name": "swachchhanda",
            "@timestamp": datetime(2025, 11, 26, 5, 11, 27, 927693, tzinfo=UTC),
        },
        id="sysmon-1-grixba",
    ),
    pytest.param(
        "evtx/EVTX-to-MITRE-Attack/TA0002-Execution/T1047-Windows Management Instrumentation/"
        "ID3-7-10-Suspicious DLL loaded (CME+Mimikatz).evtx",
        48104,
        {
            "EventID": 3,
            "SourceIp": "10.23.42.38",
            "Initiated": True,
            "source.ip": "10.23.42.38",
            "source.port": 62095,
            "destination.ip": "10.23.123.11",
            "destination.port": 443,
            "network.transport": "tcp",
            "network.direction": "egress",
            "process.pid": 2668,
            "process.name": "powershell.exe",
            "event.type": ["connection", "start"],
        },
        id="sysmon-3",
    ),
    pytest.param(
        "evtx/EVTX-to-MITRE-Attack/EVTX_full_APT_attack_steps/"
        "ID11,13,17,18-PSexec as system execution.evtx",
        48607,
        {
            "EventID": 22,
            "QueryName": "fs03vuln",
            "dns.question.name": "fs03vuln",
            "dns.answers.data": ["10.23.42.38"],
            "dns.response_code": "NOERROR",
            "process.executable": "C:\\TOOLS\\PsExec64.exe",
            "process.pid": 2124,
        },
        id="sysmon-22",
    ),
    pytest.param(
        "evtx/DeepBlueCLI/metasploit-psexec-pwshpayload.evtx",
        23135,
        {
            "EventID": 4624,
            "LogonType": 3,
            "TargetUserName": "tbt570",
            "event.category": ["authentication"],
            "event.outcome": "success",
            "user.name": "tbt570",
            "user.domain": "SANS-TBT570",
            "source.ip": "127.0.0.1",
            "source.port": 1557,
            "ActivityID": "3FA8B6E1-01C3-0000-1BB7-A83FC301D501",
        },
        id="security-4624",
    ),
    pytest.param(
        "evtx/DeepBlueCLI/metasploit-psexec-native-target-security.evtx",
        13678,
        {
            "EventID": 4688,
            "NewProcessName": "C:\\Windows\\duKhLYUX.exe",
            "process.pid": 3744,
            "process.parent.pid": 488,
            "process.name": "duKhLYUX.exe",
            "user.name": "IE10WIN7$",
        },
        id="security-4688",
    ),
    pytest.param(
        "evtx/DeepBlueCLI/metasploit-psexec-native-target-system.evtx",
        8623,
        {
            "EventID": 7045,
            "Provider_Name": "Service Control Manager",
            "ServiceName": "KgXItsbKgTJzdzwl",
            "service.name": "KgXItsbKgTJzdzwl",
            "event.dataset": "windows.system",
        },
        id="system-7045",
    ),
]


def read_record(path: str, record_id: int) -> dict[str, object]:
    """The evtx-JSON record with System EventRecordID ``record_id`` of a shared file."""
    for item in PyEvtxParser(path).records_json():
        value: dict[str, Any] = orjson.loads(item["data"]) if item else {}
        if value["Event"]["System"]["EventRecordID"] == record_id:
            return value
    raise AssertionError(f"no record {record_id} in {path}")


@pytest.mark.parametrize(("relative", "record_id", "expected"), REAL_RECORDS)
def test_real_records(
    shared_data: Path, relative: str, record_id: int, expected: dict[str, object]
) -> None:
    event = windows_event(read_record(str(shared_data / relative), record_id))
    assert {name: event.get(name, "<absent>") for name in expected} == expected


def test_usual_path_matches_general_path_on_every_shared_record(shared_data: Path) -> None:
    """The straight-line path must give exactly what the general path gives."""
    usual = 0
    count = 0
    for path in sorted((shared_data / "evtx").rglob("*.evtx")):
        for item in PyEvtxParser(str(path)).records_json():
            assert item is not None
            value = orjson.loads(item["data"])
            general = map_ecs(flatten_evtx_json(value))
            count += 1
            try:
                fast = windows._usual_event(value["Event"], None)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            usual += 1
            assert fast == general, (path.name, item["event_record_id"])
    assert count > 10000
    assert usual > count * 0.8  # the usual shape really is the usual case


def test_spaces_are_taken_out_of_field_names() -> None:
    """Sigma names source fields without their spaces (Defender's ``Threat Name``)."""
    flat = flatten_windows(
        {"EventID": 1119, "Channel": "Microsoft-Windows-Windows Defender/Operational"},
        {"Threat Name": "Virus:DOS/EICAR_Test_File", "Path": "C:\\x.exe", "Source Name": "RTP"},
    )
    assert flat["ThreatName"] == "Virus:DOS/EICAR_Test_File"
    assert flat["SourceName"] == "RTP"
    assert flat["Path"] == "C:\\x.exe"
    assert not any(" " in name for name in flat)
