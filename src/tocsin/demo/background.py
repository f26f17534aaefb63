"""A day of ordinary work around the intrusion: the background noise it hides in.

Workstation users log on, start their programs and browse; services and scheduled tasks run;
an admin uses RDP on DC01; cron, timers, ansible and admins keep the Linux servers busy; and the
internet visits web01.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from tocsin.demo.common import BASTION_IP, DC_IP, DOMAIN, MGMT_IP, WEB_IP, _domain_ip, _micros
from tocsin.demo.linux import _LinuxLog
from tocsin.demo.windows import _IMAGES, _SYS32, _SYSTEM, _Proc, _WindowsLog, _WinHost

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


class _Background(_WindowsLog, _LinuxLog):
    """Builds the ordinary activity of every host."""

    admin_ip: str

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
