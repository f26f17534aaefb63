"""The demo scenario: deterministic, well-formed in each native format, and telling its story."""

from __future__ import annotations

import base64
import importlib
import re
import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tocsin.demo.scenario import (
    ATTACKER_IP,
    BACKDOOR_USER,
    C2_IP,
    DC_HOST,
    LOOKALIKE_DOMAIN,
    SCENARIO_SUMMARY,
    VICTIM_HOST,
    VICTIM_IP,
    VICTIM_USER,
    expected_markers,
    write_scenario,
)
from tocsin.ingest.base import ParseContext

END = datetime(2024, 11, 27, 15, 0, tzinfo=UTC)
START = END - timedelta(hours=24)
FILES = {
    "windows/sysmon.ndjson",
    "windows/security.ndjson",
    "windows/system.ndjson",
    "linux/auth.log",
    "linux/syslog.log",
    "linux/audit.log",
    "network/conn.log",
    "network/dns.log",
    "network/eve.json",
}
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
RFC3164 = re.compile(rf"({MONTHS}) ([ \d]\d) (\d\d:\d\d:\d\d) ([\w.-]+) ([^\s\[:]+)(\[\d+\])?: .+")
AUDIT = re.compile(r"node=(\w+) type=([A-Z_]+) msg=audit\((\d+)\.(\d{3}):(\d+)\): \S.*")
SYSMON_1_FIELDS = [
    "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion", "Description",
    "Product", "Company", "OriginalFileName", "CommandLine", "CurrentDirectory", "User",
    "LogonGuid", "LogonId", "TerminalSessionId", "IntegrityLevel", "Hashes", "ParentProcessGuid",
    "ParentProcessId", "ParentImage", "ParentCommandLine", "ParentUser",
]  # fmt: skip
SECURITY_4688_FIELDS = [
    "SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId", "NewProcessId",
    "NewProcessName", "TokenElevationType", "ProcessId", "CommandLine", "TargetUserSid",
    "TargetUserName", "TargetDomainName", "TargetLogonId", "ParentProcessName", "MandatoryLabel",
]  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario, written once for the module's tests."""
    root = tmp_path_factory.mktemp("scenario")
    write_scenario(root, end=END)
    return root


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def windows(folder: Path, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in lines(folder / "windows" / f"{name}.ndjson")]


def by_id(documents: list[dict[str, Any]], event_id: int) -> list[dict[str, Any]]:
    """The event data of the documents with this event id, in file order."""
    code = str(event_id)
    return [doc["winlog"]["event_data"] for doc in documents if doc["winlog"]["event_id"] == code]


def zeek(folder: Path, name: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header lines and the rows (as field -> value) of a Zeek TSV log."""
    text = lines(folder / "network" / f"{name}.log")
    header = [line for line in text if line.startswith("#")]
    fields = next(line for line in header if line.startswith("#fields\t")).split("\t")[1:]
    rows = [dict(zip(fields, line.split("\t"), strict=True)) for line in text if line[:1] != "#"]
    return header, rows


def audit_records(folder: Path) -> Iterator[tuple[str, str, datetime, int, str]]:
    """(node, type, time, serial, line) of each audit.log line."""
    for line in lines(folder / "linux" / "audit.log"):
        match = AUDIT.fullmatch(line)
        assert match is not None, line
        node, kind, seconds, millis, serial = match.groups()
        when = datetime.fromtimestamp(int(seconds), UTC) + timedelta(milliseconds=int(millis))
        yield node, kind, when, int(serial), line


def bsd_time(line: str) -> datetime:
    """The time of an auth.log or syslog line, in the year of END (the window spans no new year)."""
    stamp = datetime.strptime(f"{END.year} {line[:15]}", "%Y %b %d %H:%M:%S")
    return stamp.replace(tzinfo=UTC)


# ----------------------------------------------------------------------------- the files


def test_writes_every_file_and_returns_the_paths(tmp_path: Path) -> None:
    paths = write_scenario(tmp_path, end=END)
    assert {path.relative_to(tmp_path).as_posix() for path in paths} == FILES
    assert all(path.is_file() and path.stat().st_size > 0 for path in paths)


def test_same_seed_and_end_give_the_same_bytes(tmp_path: Path) -> None:
    first = write_scenario(tmp_path / "a", end=END, seed=11)
    second = write_scenario(tmp_path / "b", end=END, seed=11)
    other = write_scenario(tmp_path / "c", end=END, seed=12)
    assert [path.read_bytes() for path in first] == [path.read_bytes() for path in second]
    assert [path.read_bytes() for path in first] != [path.read_bytes() for path in other]


def test_size(tmp_path: Path) -> None:
    # no timing assertion here: the machines are shared and noisy
    paths = write_scenario(tmp_path, end=END)
    events = sum(1 for path in paths for line in lines(path) if line and line[0] != "#")
    assert 5_000 <= events <= 15_000


def test_more_background_hosts_give_more_events(tmp_path: Path) -> None:
    few = write_scenario(tmp_path / "few", end=END, background_hosts=2)
    many = write_scenario(tmp_path / "many", end=END, background_hosts=20)
    assert sum(len(lines(p)) for p in few) < sum(len(lines(p)) for p in many)
    hosts = {doc["host"]["name"] for doc in windows(tmp_path / "few", "security")}
    assert {VICTIM_HOST, DC_HOST} <= hosts and len(hosts) == 4


@pytest.mark.parametrize("count", [-1, 201])
def test_rejects_an_unreasonable_number_of_hosts(tmp_path: Path, count: int) -> None:
    with pytest.raises(ValueError, match="background_hosts"):
        write_scenario(tmp_path, end=END, background_hosts=count)


def test_a_naive_end_is_utc(tmp_path: Path) -> None:
    naive = write_scenario(tmp_path / "naive", end=END.replace(tzinfo=None))
    aware = write_scenario(tmp_path / "aware", end=END)
    assert [path.read_bytes() for path in naive] == [path.read_bytes() for path in aware]


# ----------------------------------------------------------------------------- the formats


@pytest.mark.parametrize("name", ["sysmon", "security", "system"])
def test_windows_files_are_winlogbeat_documents(folder: Path, name: str) -> None:
    documents = windows(folder, name)
    assert documents
    last_record: dict[str, int] = {}
    for doc in documents:
        winlog = doc["winlog"]
        assert doc["event"]["code"] == winlog["event_id"]
        assert winlog["provider_name"] and winlog["event_data"]
        assert winlog["computer_name"] == f"{doc['host']['name']}.corp.example"
        assert all(isinstance(value, str) for value in winlog["event_data"].values())
        key = winlog["computer_name"]
        assert winlog["record_id"] > last_record.get(key, 0)
        last_record[key] = winlog["record_id"]
    channels = {doc["winlog"]["channel"] for doc in documents}
    expected = {"sysmon": "Microsoft-Windows-Sysmon/Operational", "security": "Security"}
    assert channels == {expected.get(name, "System")}


def test_windows_events_carry_their_real_fields(folder: Path) -> None:
    sysmon, security = windows(folder, "sysmon"), windows(folder, "security")
    assert all(list(data) == SYSMON_1_FIELDS for data in by_id(sysmon, 1))
    assert all(list(data) == SECURITY_4688_FIELDS for data in by_id(security, 4688))
    for data in by_id(security, 4624) + by_id(security, 4625):
        assert {
            "TargetUserName",
            "TargetDomainName",
            "LogonType",
            "IpAddress",
            "IpPort",
            "WorkstationName",
            "LogonProcessName",
            "AuthenticationPackageName",
        } <= set(data)
    for data in by_id(security, 4625):
        assert (data["Status"], data["SubStatus"]) == ("0xc000006d", "0xc000006a")
    for data in by_id(sysmon, 1):
        assert data["UtcTime"].count(":") == 2 and data["ProcessGuid"].startswith("{")


def test_zeek_logs_are_well_formed(folder: Path) -> None:
    for name in ("conn", "dns"):
        text = lines(folder / "network" / f"{name}.log")
        assert text[0] == "#separator \\x09"
        assert [line.split("\t")[0] for line in text[1:8]] == [
            "#set_separator", "#empty_field", "#unset_field", "#path", "#open", "#fields",
            "#types",
        ]  # fmt: skip
        assert text[4] == f"#path\t{name}"
        assert text[-1].startswith("#close\t")
        fields, types = text[6].split("\t")[1:], text[7].split("\t")[1:]
        assert len(fields) == len(types) and fields[:2] == ["ts", "uid"]
        rows = text[8:-1]
        assert rows and all(len(row.split("\t")) == len(fields) for row in rows)
    _header, conns = zeek(folder, "conn")
    _header, queries = zeek(folder, "dns")
    assert {row["uid"] for row in queries} <= {row["uid"] for row in conns}


def test_linux_logs_are_rfc3164_and_auditd(folder: Path) -> None:
    for name in ("auth.log", "syslog.log"):
        for line in lines(folder / "linux" / name):
            assert RFC3164.fullmatch(line), line
    records = list(audit_records(folder))
    serials: dict[tuple[str, int], datetime] = {}
    for node, _kind, when, serial, _line in records:
        assert serials.setdefault((node, serial), when) == when
    kinds: defaultdict[tuple[str, int], set[str]] = defaultdict(set)
    for node, kind, _when, serial, _line in records:
        kinds[(node, serial)].add(kind)
    assert all(
        {"SYSCALL", "CWD", "PATH", "PROCTITLE"} <= found for found in kinds.values()
        if "EXECVE" in found
    )  # fmt: skip


def test_eve_is_suricata_ndjson(folder: Path) -> None:
    events = [orjson.loads(line) for line in lines(folder / "network" / "eve.json")]
    assert {event["event_type"] for event in events} == {"flow", "alert"}
    for event in events:
        assert {"timestamp", "flow_id", "src_ip", "src_port", "dest_ip", "dest_port"} <= set(event)
    flows = {event["flow_id"]: event for event in events if event["event_type"] == "flow"}
    alerts = [event for event in events if event["event_type"] == "alert"]
    assert alerts and all(flows[alert["flow_id"]]["flow"]["alerted"] for alert in alerts)


def test_every_timestamp_is_in_the_window_and_sorted(folder: Path) -> None:
    def eve_time(line: str) -> datetime:
        return datetime.strptime(orjson.loads(line)["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")

    def iso(doc: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(doc["@timestamp"])

    times = {
        "sysmon": [iso(doc) for doc in windows(folder, "sysmon")],
        "security": [iso(doc) for doc in windows(folder, "security")],
        "system": [iso(doc) for doc in windows(folder, "system")],
        "auth": [bsd_time(line) for line in lines(folder / "linux" / "auth.log")],
        "syslog": [bsd_time(line) for line in lines(folder / "linux" / "syslog.log")],
        "audit": [when for _node, _kind, when, _serial, _line in audit_records(folder)],
        "eve": [eve_time(line) for line in lines(folder / "network" / "eve.json")],
    }
    for name in ("conn", "dns"):
        _header, rows = zeek(folder, name)
        times[name] = [datetime.fromtimestamp(float(row["ts"]), UTC) for row in rows]
    for name, stamps in times.items():
        assert stamps, name
        # Text formats print whole seconds: the first line may round below the start.
        assert START - timedelta(seconds=1) <= stamps[0] and stamps[-1] < END, name
        assert stamps == sorted(stamps), name


# ----------------------------------------------------------------------------- the story


def test_phishing_starts_an_encoded_powershell(folder: Path) -> None:
    sysmon = windows(folder, "sysmon")
    starts = by_id(sysmon, 1)
    word = [data for data in starts if data["ParentImage"].endswith("\\WINWORD.EXE")]
    assert len(word) == 1 and word[0]["User"] == f"CORP\\{VICTIM_USER}"
    command = word[0]["CommandLine"].split()
    assert command[:5] == ["powershell.exe", "-nop", "-w", "hidden", "-enc"]
    cradle = base64.b64decode(command[5]).decode("utf-16-le")
    assert "DownloadString" in cradle and LOOKALIKE_DOMAIN in cradle
    queries = {data["QueryName"]: data["QueryResults"] for data in by_id(sysmon, 22)}
    assert queries[LOOKALIKE_DOMAIN] == f"::ffff:{C2_IP};"
    assert any(re.fullmatch(r"[a-z0-9]{12,18}\.top", name) for name in queries)
    connections = by_id(sysmon, 3)
    assert any(
        data["DestinationIp"].startswith(("203.0.113.", "198.51.100."))
        and data["DestinationPort"] == "443" and data["SourceIp"] == VICTIM_IP
        for data in connections
    )  # fmt: skip


def test_certutil_download_and_persistence(folder: Path) -> None:
    sysmon, security = windows(folder, "sysmon"), windows(folder, "security")
    pattern = re.compile(r".*certutil.*-urlcache.*http://198\.51\.100\.23/a\.exe.*")
    sysmon_lines = [d["CommandLine"] for d in by_id(sysmon, 1) if pattern.match(d["CommandLine"])]
    security_lines = [
        d["CommandLine"] for d in by_id(security, 4688) if pattern.match(d["CommandLine"])
    ]
    assert len(sysmon_lines) == 1 and security_lines == sysmon_lines
    tasks = by_id(security, 4698)
    assert len(tasks) == 1 and "a.exe" in tasks[0]["TaskContent"]
    assert any(d["CommandLine"].startswith("schtasks.exe /create") for d in by_id(sysmon, 1))
    run_keys = by_id(sysmon, 13)
    assert len(run_keys) == 1
    assert "\\CurrentVersion\\Run\\" in run_keys[0]["TargetObject"]


def test_lsass_is_read_by_rundll32(folder: Path) -> None:
    sysmon = windows(folder, "sysmon")
    (access,) = by_id(sysmon, 10)
    assert access["TargetImage"].lower().endswith("\\lsass.exe")
    assert access["SourceImage"].endswith("\\rundll32.exe") and access["GrantedAccess"] == "0x1010"
    dumps = [d for d in by_id(sysmon, 1) if "comsvcs.dll, MiniDump" in d["CommandLine"]]
    assert len(dumps) == 1 and dumps[0]["CommandLine"].split()[3] == access["TargetProcessId"]


def test_lateral_movement_to_the_domain_controller(folder: Path) -> None:
    security = windows(folder, "security")
    on_dc = [doc for doc in security if doc["host"]["name"] == DC_HOST]
    story = [
        (doc["winlog"]["event_id"], doc["winlog"]["event_data"]["TargetUserName"])
        for doc in on_dc
        if doc["winlog"]["event_data"].get("IpAddress") == VICTIM_IP
        and doc["winlog"]["event_data"].get("LogonProcessName") == "NtLmSsp "
    ]
    failures = [user for code, user in story if code == "4625"]
    logons = [user for code, user in story if code == "4624"]
    assert len(failures) >= 4 and "svc_backup" in failures
    assert logons == [VICTIM_USER, "svc_backup"]
    assert story.index(("4624", VICTIM_USER)) > max(
        index for index, (code, _user) in enumerate(story) if code == "4625"
    )
    for data in by_id(security, 4624):
        if data["IpAddress"] == VICTIM_IP and data["LogonProcessName"] == "NtLmSsp ":
            assert data["LogonType"] == "3"
    (service,) = by_id(windows(folder, "system"), 7045)
    assert service["ServiceName"] == "PSEXESVC"


def test_ssh_brute_force_then_login_on_bastion(folder: Path) -> None:
    auth = lines(folder / "linux" / "auth.log")
    failed = [i for i, line in enumerate(auth) if "Failed password for" in line
              and f"from {ATTACKER_IP} port" in line]  # fmt: skip
    accepted = [i for i, line in enumerate(auth)
                if f"Accepted password for deploy from {ATTACKER_IP} port" in line]  # fmt: skip
    assert len(failed) >= 20 and len(accepted) == 1
    assert accepted[0] > failed[-1]
    assert all(" bastion sshd[" in auth[i] for i in failed + accepted)
    assert any(" sudo: " in line and "COMMAND=" in line and C2_IP in line for line in auth)
    assert any(f"new user: name={BACKDOOR_USER}" in line for line in auth)


def test_auditd_sees_the_download_and_the_backdoor(folder: Path) -> None:
    records = list(audit_records(folder))
    execve = [line for _n, kind, _w, _s, line in records if kind == "EXECVE"]
    assert any('a0="curl"' in line and f'"http://{C2_IP}/x.sh"' in line for line in execve)
    assert any('a0="useradd"' in line and f'"{BACKDOOR_USER}"' in line for line in execve)
    added = [line for _n, kind, _w, _s, line in records if kind == "ADD_USER"]
    assert len(added) == 1 and f'acct="{BACKDOOR_USER}"' in added[0]
    logins = [line for _n, kind, _w, _s, line in records if kind == "USER_LOGIN"]
    assert sum(f"addr={ATTACKER_IP}" in line and "res=failed" in line for line in logins) >= 20
    assert any(f"addr={ATTACKER_IP}" in line and "res=success" in line for line in logins)


def test_beacon_every_sixty_seconds(folder: Path) -> None:
    _header, rows = zeek(folder, "conn")
    beacon = [
        float(row["ts"]) for row in rows
        if row["id.orig_h"] == VICTIM_IP and row["id.resp_h"] == C2_IP and row["id.resp_p"] == "443"
    ]  # fmt: skip
    assert len(beacon) > 100
    gaps = [later - earlier for earlier, later in zip(beacon[1:], beacon[2:], strict=False)]
    assert 57 <= statistics.median(gaps) <= 63
    assert all(45 <= gap <= 75 for gap in gaps)
    _header, queries = zeek(folder, "dns")
    lookups = [row for row in queries if row["query"] == LOOKALIKE_DOMAIN]
    assert len(lookups) == 1 and lookups[0]["answers"] == C2_IP


def test_background_outnumbers_the_story(folder: Path) -> None:
    security = windows(folder, "security")
    hosts = {doc["host"]["name"] for doc in security}
    assert len(hosts) == 14
    assert {"2", "3", "10"} <= {d["LogonType"] for d in by_id(security, 4624)}
    assert len(by_id(security, 4634)) > 100
    images = {d["Image"].rpartition("\\")[2] for d in by_id(windows(folder, "sysmon"), 1)}
    assert {"chrome.exe", "ms-teams.exe", "svchost.exe", "explorer.exe"} <= images
    auth = lines(folder / "linux" / "auth.log")
    assert sum("Accepted publickey" in line for line in auth) > 10
    assert sum("pam_unix(cron:session)" in line for line in auth) > 100


def test_summary_and_markers() -> None:
    assert VICTIM_HOST in SCENARIO_SUMMARY and C2_IP in SCENARIO_SUMMARY
    markers = expected_markers()
    assert {"certutil download", "ssh brute force", "beacon"} <= set(markers)
    assert all(isinstance(query, str) and query for query in markers.values())
    querylang = pytest.importorskip("tocsin.lake.querylang")
    for query in markers.values():
        querylang.parse_query(query)


# ----------------------------------------------------------------------------- the parsers

PARSED = [
    ("windows/sysmon.ndjson", "tocsin.ingest.parsers.winjson"),
    ("windows/security.ndjson", "tocsin.ingest.parsers.winjson"),
    ("windows/system.ndjson", "tocsin.ingest.parsers.winjson"),
    ("linux/auth.log", "tocsin.ingest.parsers.syslog"),
    ("linux/syslog.log", "tocsin.ingest.parsers.syslog"),
    ("linux/audit.log", "tocsin.ingest.parsers.auditd"),
    ("network/conn.log", "tocsin.ingest.parsers.zeek"),
    ("network/dns.log", "tocsin.ingest.parsers.zeek"),
    ("network/eve.json", "tocsin.ingest.parsers.suricata"),
]


def best_parser(module_name: str, head: bytes) -> Any:
    """The parser class of the module that claims ``head`` with the highest confidence."""
    module = importlib.import_module(module_name)
    candidates = [
        value for value in vars(module).values()
        if isinstance(value, type) and value.__module__ == module_name
        and callable(getattr(value, "parse_stream", None))
        and callable(getattr(value, "sniff", None))
    ]  # fmt: skip
    scored = sorted(((cls().sniff(head), cls.__name__, cls) for cls in candidates), reverse=True)
    assert scored and scored[0][0] > 0, f"no parser in {module_name} claims the file"
    return scored[0][2]()


@pytest.mark.parametrize(("relative", "module_name"), PARSED)
def test_parsers_read_every_record(folder: Path, relative: str, module_name: str) -> None:
    pytest.importorskip(module_name, reason=f"{module_name} is not written yet")
    path = folder / relative
    parser = best_parser(module_name, path.read_bytes()[:65536])
    ctx = ParseContext(str(path), f"demo-{relative}", received=END)
    events, issues = [], []
    with path.open("rb") as stream:
        for batch in parser.parse_stream(stream, ctx):
            events.extend(batch.events)
            issues.extend(batch.issues)
    assert issues == []
    records = [line for line in lines(path) if line and line[0] != "#"]
    assert len(events) == len(records)
    assert all(START <= event["@timestamp"] < END for event in events)
