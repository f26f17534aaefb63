"""The Windows hosts and their Winlogbeat documents: Sysmon, Security and System channels.

The model (images, accounts, hosts, processes) comes first, then the builders that turn it into
event data, and last the writer of the Winlogbeat NDJSON files.

The event dictionaries and tables keep one field after another on a line (``# fmt: skip``): a
Sysmon event has two dozen fields, and one field a line would make the story hard to follow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import orjson

from tocsin.demo.common import (
    DOMAIN,
    DOMAIN_SID,
    NETBIOS_DOMAIN,
    VICTIM_HOST,
    VICTIM_USER,
    _Address,
    _Base,
    _iso_ms,
    _sort_key,
    _utc_time,
    _write,
)

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

# (when, sequence, host, event id, event data)
_WinRecord = tuple[datetime, int, _WinHost, int, dict[str, str]]
_FIRST_NAMES = (
    "Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas", "Kate",
    "Liam", "Maya", "Noah", "Olga", "Paul", "Rosa", "Sam", "Tara", "Victor", "Wendy", "Yusuf",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Martin", "Garcia", "Nguyen", "Khan", "Rossi", "Novak", "Silva", "Meyer", "Dubois",
    "Larsen", "Kowalski", "Ito", "Okafor", "Brown", "Lopez",
)  # fmt: skip
_DEPARTMENTS = ("IT", "HR", "SALES", "ENG", "MKT", "ACCT", "OPS", "LEGAL")


class _WindowsLog(_Base):
    """Builds the Windows hosts and their events, and writes the Winlogbeat files."""

    win: dict[str, list[_WinRecord]]
    dc: _WinHost
    victim: _WinHost
    hosts: list[_WinHost]
    victim_session: dict[str, _Proc]

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
