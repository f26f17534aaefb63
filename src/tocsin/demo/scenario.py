"""The demo scenario: one intrusion at Example Corp, hidden in a day of ordinary activity.

:func:`write_scenario` writes the logs a SOC would collect over the 24 hours before ``end``, each
in its native format: Winlogbeat JSON for the Sysmon, Security and System channels; ``auth.log``
and ``syslog`` lines (RFC 3164 without PRI) and raw ``audit.log`` records from the Linux
servers; Zeek ``conn.log`` and ``dns.log`` (TSV) and Suricata EVE JSON from the network sensor.

Everything is drawn from one ``random.Random(seed)``, so a seed and an end time always give the
same bytes. Addresses outside the organisation come from the documentation ranges of RFC 5737:
192.0.2.0/24 is the benign internet, 198.51.100.0/24 and 203.0.113.0/24 the attacker.

This module is the entry point; the builders live next to it: :mod:`~tocsin.demo.windows`,
:mod:`~tocsin.demo.linux` and :mod:`~tocsin.demo.network` for each source's records,
:mod:`~tocsin.demo.story` for the intrusion, :mod:`~tocsin.demo.background` for the ordinary
day, and :mod:`~tocsin.demo.common` for what they share.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from tocsin.demo.background import _Background
from tocsin.demo.common import (
    _TEXT_FILES,
    ATTACKER_IP,
    BACKDOOR_USER,
    BASTION_IP,
    C2_IP,
    DC_HOST,
    DC_IP,
    DGA_IP,
    DOMAIN,
    DOMAIN_SID,
    LOOKALIKE_DOMAIN,
    MGMT_IP,
    NETBIOS_DOMAIN,
    TUNNEL_DOMAIN,
    VICTIM_HOST,
    VICTIM_IP,
    VICTIM_USER,
    WEB_IP,
    WINDOW,
    _sort_key,
    _write,
)
from tocsin.demo.dnsthreats import _DnsThreats
from tocsin.demo.network import _zeek_header
from tocsin.demo.story import _Story
from tocsin.demo.windows import _CHANNELS, _user

__all__ = [
    "ATTACKER_IP",
    "BACKDOOR_USER",
    "BASTION_IP",
    "C2_IP",
    "DC_HOST",
    "DC_IP",
    "DGA_IP",
    "DOMAIN",
    "DOMAIN_SID",
    "LOOKALIKE_DOMAIN",
    "MGMT_IP",
    "NETBIOS_DOMAIN",
    "SCENARIO_SUMMARY",
    "TUNNEL_DOMAIN",
    "VICTIM_HOST",
    "VICTIM_IP",
    "VICTIM_USER",
    "WEB_IP",
    "WINDOW",
    "expected_markers",
    "write_scenario",
]

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
 6. web01 sends a database dump out over DNS: TXT questions under {TUNNEL_DOMAIN}.
 7. Another workstation's malware walks a DGA: bursts of random .com/.net names, NXDOMAIN.
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
        "DNS tunnel": f"dns.question.name:*.{TUNNEL_DOMAIN}",
        "DGA lookups (NXDOMAIN)": "dns.response_code:NXDOMAIN",
    }


class _Scenario(_Story, _Background, _DnsThreats):
    """Builds every record of the scenario in memory, then writes the files."""

    def __init__(self, end: datetime, seed: int, background_hosts: int) -> None:
        # A seeded PRNG makes reproducible fake logs; nothing here is a secret.
        self.rng = random.Random(seed)  # noqa: S311
        self.end = end
        self.start = end - WINDOW
        self.seq = 0
        self.win = {key: [] for key in _CHANNELS}
        self.text = {key: [] for key in _TEXT_FILES}
        self.linux_pid = {"bastion": 2000, "web01": 3000}
        self.audit_serial = {"bastion": 4100, "web01": 8800}
        self.audit_session = {"bastion": 40, "web01": 300}
        self.dc = self._win_host(DC_HOST, DC_IP, None)
        self.victim = self._win_host(VICTIM_HOST, VICTIM_IP, _user(VICTIM_USER, 1107))
        self.hosts = [self.victim, *self._background_hosts(background_hosts)]
        self.admin_ip = self.hosts[1].ip if len(self.hosts) > 1 else VICTIM_IP
        self.victim_session = {}

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
        self.dns_tunnel(self._after(story, 175 * 60, 180 * 60))
        if len(self.hosts) > 2:
            self.dga_outbreak(self.hosts[2].ip, self._after(story, 60 * 60, 70 * 60))

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


def scenario_anchor(end: datetime, *, seed: int = 7, background_hosts: int = 12) -> datetime:
    """When j.doe opens the attachment in the scenario of these arguments (the mail's time)."""
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    return _Scenario(end, seed, background_hosts).anchor()
