"""Which events a rule sees: the one table from Sigma logsources to tocsin datasets.

A Sigma rule names a logsource (``product``, ``category``, ``service``); tocsin stores events by
``event.dataset`` (ARCHITECTURE.md section 3). Each row of :data:`TABLE` says which events a
complete logsource stands for: a dataset, and for Sysmon and PowerShell categories the EventIDs
that the Sigma Sysmon and Windows pipelines define (``process_creation`` is Sysmon event 1,
``ps_script`` is PowerShell event 4104, ...). A rule matches every row whose attributes agree
with the ones the rule gives, so ``product: windows, service: sysmon`` sees every Sysmon event and
``product: windows, category: process_creation`` only Sysmon event 1.

A rule whose logsource matches no row is loaded but sees no events; ``tocsin rules list`` shows it
as unrouted. Known departures, on purpose: Windows Security 4688 is not mapped to
``process_creation`` (its field names differ and SigmaHQ writes those rules for Sysmon), and the
Linux services (``auth``, ``sshd``, ``sudo``, ``cron``...) all read the syslog and journald
datasets, whose rules then decide by their own conditions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tocsin.ingest.parsers.windows import windows_dataset


@dataclass(frozen=True, slots=True)
class Route:
    """Events of one dataset, optionally only those whose ``field`` is in ``values``."""

    dataset: str
    field: str | None = None
    values: frozenset[object] | None = None

    def covers_dataset(self, dataset: str) -> bool:
        """True when some events of ``dataset`` belong here."""
        if self.dataset.endswith("*"):
            return dataset.startswith(self.dataset[:-1])
        return dataset == self.dataset

    def covers(self, dataset: str, value: object) -> bool:
        """True when an event of ``dataset`` whose routing field is ``value`` belongs here."""
        if self.dataset.endswith("*"):
            if not dataset.startswith(self.dataset[:-1]):
                return False
        elif dataset != self.dataset:
            return False
        return self.values is None or value in self.values


@dataclass(frozen=True, slots=True)
class Logsource:
    """One row: a complete logsource and the events it stands for."""

    product: str | None
    category: str | None
    service: str | None
    routes: tuple[Route, ...]


EVENT_ID = "EventID"

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
LINUX_SYSMON_CHANNEL = "Linux-Sysmon/Operational"

# service -> channel, as the Sigma Windows pipelines define them
WINDOWS_SERVICES: dict[str, tuple[str, ...]] = {
    "security": ("Security",),
    "system": ("System",),
    "application": ("Application",),
    "sysmon": (SYSMON_CHANNEL,),
    "powershell": ("Microsoft-Windows-PowerShell/Operational",),
    "powershell-classic": ("Windows PowerShell",),
    "taskscheduler": ("Microsoft-Windows-TaskScheduler/Operational",),
    "wmi": ("Microsoft-Windows-WMI-Activity/Operational",),
    "dns-server": ("DNS Server",),
    "dns-server-analytic": ("Microsoft-Windows-DNS-Server/Analytical",),
    "dns-server-audit": ("Microsoft-Windows-DNS-Server/Audit",),
    "driver-framework": ("Microsoft-Windows-DriverFrameworks-UserMode/Operational",),
    "ntlm": ("Microsoft-Windows-NTLM/Operational",),
    "applocker": (
        "Microsoft-Windows-AppLocker/MSI and Script",
        "Microsoft-Windows-AppLocker/EXE and DLL",
        "Microsoft-Windows-AppLocker/Packaged app-Deployment",
        "Microsoft-Windows-AppLocker/Packaged app-Execution",
    ),
    "msexchange-management": ("MSExchange Management",),
    "printservice-admin": ("Microsoft-Windows-PrintService/Admin",),
    "printservice-operational": ("Microsoft-Windows-PrintService/Operational",),
    "smbclient-security": ("Microsoft-Windows-SmbClient/Security",),
    "smbclient-connectivity": ("Microsoft-Windows-SmbClient/Connectivity",),
    "smbserver-connectivity": ("Microsoft-Windows-SMBServer/Connectivity",),
    "codeintegrity-operational": ("Microsoft-Windows-CodeIntegrity/Operational",),
    "firewall-as": ("Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",),
    "bits-client": ("Microsoft-Windows-Bits-Client/Operational",),
    "windefend": ("Microsoft-Windows-Windows Defender/Operational",),
    "security-mitigations": (
        "Microsoft-Windows-Security-Mitigations/Kernel Mode",
        "Microsoft-Windows-Security-Mitigations/User Mode",
    ),
    "diagnosis-scripted": ("Microsoft-Windows-Diagnosis-Scripted/Operational",),
    "shell-core": ("Microsoft-Windows-Shell-Core/Operational",),
    "openssh": ("OpenSSH/Operational",),
    "ldap": ("Microsoft-Windows-LDAP-Client/Debug",),
    "ldap_debug": ("Microsoft-Windows-LDAP-Client/Debug",),
    "lsa-server": ("Microsoft-Windows-LSA/Operational",),
    "appxdeployment-server": ("Microsoft-Windows-AppXDeploymentServer/Operational",),
    "appxpackaging-om": ("Microsoft-Windows-AppxPackaging/Operational",),
    "appmodel-runtime": ("Microsoft-Windows-AppModel-Runtime/Admin",),
    "capi2": ("Microsoft-Windows-CAPI2/Operational",),
    "certificateservicesclient-lifecycle-system": (
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational",
    ),
    "dns-client": ("Microsoft-Windows-DNS Client Events/Operational",),
    "microsoft-servicebus-client": ("Microsoft-ServiceBus-Client",),
    "terminalservices-localsessionmanager": (
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
    ),
    "iis-configuration": ("Microsoft-IIS-Configuration/Operational",),
    "vhdmp": ("Microsoft-Windows-VHDMP/Operational",),
    "kernel-shimengine": ("Microsoft-Windows-Kernel-ShimEngine/Operational",),
    "hyper-v-worker": ("Microsoft-Windows-Hyper-V-Worker",),
}

# category -> Sysmon EventIDs
SYSMON_CATEGORIES: dict[str, tuple[int, ...]] = {
    "process_creation": (1,),
    "file_change": (2,),
    "network_connection": (3,),
    "sysmon_status": (4, 16),
    "process_termination": (5,),
    "driver_load": (6,),
    "image_load": (7,),
    "create_remote_thread": (8,),
    "raw_access_thread": (9,),
    "process_access": (10,),
    "file_event": (11,),
    "registry_add": (12,),
    "registry_delete": (12,),
    "registry_set": (13,),
    "registry_rename": (14,),
    "registry_event": (12, 13, 14),
    "create_stream_hash": (15,),
    "pipe_created": (17, 18),
    "wmi_event": (19, 20, 21),
    "dns_query": (22,),
    "file_delete": (23, 26),
    "clipboard_change": (24,),
    "process_tampering": (25,),
    "file_block_executable": (27,),
    "file_block_shredding": (28,),
    "file_executable_detected": (29,),
    "sysmon_error": (255,),
}

LINUX_SYSMON_CATEGORIES = ("process_creation", "network_connection", "file_event", "file_delete")

# category -> (channel, EventIDs) for the PowerShell categories
POWERSHELL_CATEGORIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "ps_module": ("Microsoft-Windows-PowerShell/Operational", (4103,)),
    "ps_script": ("Microsoft-Windows-PowerShell/Operational", (4104,)),
    "ps_classic_start": ("Windows PowerShell", (400,)),
    "ps_classic_provider_start": ("Windows PowerShell", (600,)),
    "ps_classic_script": ("Windows PowerShell", (800,)),
}

LINUX_SERVICES = ("auth", "sshd", "sudo", "cron", "syslog", "guacamole", "clamav", "vsftpd")
LINUX_TEXT_DATASETS = ("syslog", "linux.journald")

ZEEK_SERVICES = (
    "conn",
    "dns",
    "http",
    "ssl",
    "x509",
    "files",
    "smb_files",
    "smb_mapping",
    "dce_rpc",
    "rdp",
    "kerberos",
    "ntlm",
    "smtp",
    "ssh",
    "notice",
    "weird",
)


def _ids(channel: str, ids: Iterable[int]) -> Route:
    return Route(windows_dataset(channel), EVENT_ID, frozenset(ids))


def _build() -> tuple[Logsource, ...]:
    rows: list[Logsource] = []
    for service, channels in WINDOWS_SERVICES.items():
        routes = tuple(Route(windows_dataset(c)) for c in channels)
        rows.append(Logsource("windows", None, service, routes))
    for category, ids in SYSMON_CATEGORIES.items():
        rows.append(Logsource("windows", category, "sysmon", (_ids(SYSMON_CHANNEL, ids),)))
    for category, (channel, ids) in POWERSHELL_CATEGORIES.items():
        service = "powershell" if channel.startswith("Microsoft") else "powershell-classic"
        rows.append(Logsource("windows", category, service, (_ids(channel, ids),)))
    rows.append(Logsource("windows", None, None, (Route("windows.*"),)))
    for category in LINUX_SYSMON_CATEGORIES:
        ids = SYSMON_CATEGORIES[category]
        rows.append(Logsource("linux", category, "sysmon", (_ids(LINUX_SYSMON_CHANNEL, ids),)))
    rows.append(Logsource("linux", None, "auditd", (Route("linux.auditd"),)))
    text_routes = tuple(Route(d) for d in LINUX_TEXT_DATASETS)
    for service in LINUX_SERVICES:
        rows.append(Logsource("linux", None, service, text_routes))
    rows.append(Logsource("linux", None, None, (Route("linux.*"), *text_routes)))
    for service in ZEEK_SERVICES:
        rows.append(Logsource("zeek", None, service, (Route(f"zeek.{service}"),)))
    rows.append(
        Logsource(
            None,
            "dns",
            None,
            (
                Route("zeek.dns"),
                Route("pcap.dns"),
                Route("dns.bind"),
                Route("dns.windows"),
                Route("dns.dnsmasq"),
                Route("dns.unbound"),
            ),
        )
    )
    rows.append(Logsource("aws", None, "cloudtrail", (Route("cloudtrail"),)))
    return tuple(rows)


TABLE: tuple[Logsource, ...] = _build()

ROUTING_FIELDS: dict[str, str] = {
    route.dataset: route.field
    for row in TABLE
    for route in row.routes
    if route.field is not None and not route.dataset.endswith("*")
}
"""Datasets whose events are told apart by a field (EventID) when routing."""


def routes_for(product: str | None, category: str | None, service: str | None) -> list[Route]:
    """The routes of every table row that agrees with the attributes a rule gives.

    An attribute the rule leaves out matches anything; a rule with no attribute at all sees
    nothing (a logsource must say something). Matching ignores case.
    """
    wanted = [
        (index, value.lower())
        for index, value in enumerate((product, category, service))
        if value is not None
    ]
    if not wanted:
        return []
    found: list[Route] = []
    for row in TABLE:
        attributes = (row.product, row.category, row.service)
        if all(attributes[i] == value for i, value in wanted):
            for route in row.routes:
                if route not in found:
                    found.append(route)
    return found
