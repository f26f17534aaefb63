"""The Linux servers' records: ``auth.log`` and ``syslog`` lines and raw ``audit.log`` records.

Lines are RFC 3164 without PRI; audit records carry auditd's ``msg=audit(time:serial)`` stamp.
An SSH login also leaves its Zeek flow, so the Linux builders sit on top of the network ones.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypedDict

from tocsin.demo.common import BASTION_IP, WEB_IP, _bsd_time, _micros
from tocsin.demo.network import _NetworkLog

_PAM_ACCOUNT = (("USER_ACCT", "PAM:accounting"), ("CRED_ACQ", "PAM:setcred"))
_UNSET_ID = 4294967295  # auditd's "unset" auid and ses: (uint32)-1


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


def _audit_value(text: str) -> str:
    """Quote a value as auditd does, or hex-encode it when it holds spaces, quotes or controls."""
    if any(char in ' "' or not 0x21 <= ord(char) <= 0x7E for char in text):
        return text.encode().hex().upper()
    return f'"{text}"'


class _LinuxLog(_NetworkLog):
    """Builds syslog lines and audit records for bastion and web01."""

    linux_pid: dict[str, int]
    audit_serial: dict[str, int]
    audit_session: dict[str, int]

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
