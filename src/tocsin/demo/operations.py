"""The demo's team at work: people, SLA policies, alerts from the scenario's hunts, a case.

Detection with Sigma rules arrives with the detection issue; until then the demo raises its
alerts from the scenario's hunts (searches over the lake), through the same ``raise_alerts``
call every detector uses.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tocsin.core.event import Reason
from tocsin.demo.scenario import expected_markers
from tocsin.lake.reader import LakeReader
from tocsin.workspace.models import AlertDraft, Classification, Observable
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

SECURITY = "Security"
IT_OPS = "IT operations"

# label in expected_markers() -> rule id, severity, ATT&CK tags, team
HUNTS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "Word spawns PowerShell": (
        "hunt.office_child_shell",
        "high",
        ("attack.execution", "attack.t1204.002"),
        SECURITY,
    ),
    "encoded PowerShell": (
        "hunt.encoded_powershell",
        "high",
        ("attack.execution", "attack.t1059.001"),
        SECURITY,
    ),
    "certutil download": (
        "hunt.certutil_download",
        "high",
        ("attack.command_and_control", "attack.t1105"),
        SECURITY,
    ),
    "lookalike domain lookup": (
        "hunt.lookalike_domain",
        "medium",
        ("attack.initial_access", "attack.t1566"),
        SECURITY,
    ),
    "scheduled task created": (
        "hunt.scheduled_task",
        "medium",
        ("attack.persistence", "attack.t1053.005"),
        SECURITY,
    ),
    "LSASS memory access": (
        "hunt.lsass_access",
        "critical",
        ("attack.credential_access", "attack.t1003.001"),
        SECURITY,
    ),
    "PsExec service on DC01": (
        "hunt.psexec_service",
        "high",
        ("attack.lateral_movement", "attack.t1021.002"),
        SECURITY,
    ),
    "ssh brute force": (
        "hunt.ssh_brute_force",
        "medium",
        ("attack.credential_access", "attack.t1110"),
        IT_OPS,
    ),
    "backdoor user": (
        "hunt.new_local_user",
        "high",
        ("attack.persistence", "attack.t1136"),
        IT_OPS,
    ),
    "beacon": ("hunt.c2_beacon", "high", ("attack.command_and_control", "attack.t1071"), SECURITY),
}

# name, role, team
PEOPLE = (
    ("ana", "analyst", SECURITY),
    ("rex", "responder", SECURITY),
    ("olga", "analyst", IT_OPS),
    ("ian", "responder", IT_OPS),
)

# severity -> (acknowledge minutes, resolve minutes)
SLA_TARGETS = {"critical": (15, 240), "high": (30, 1440), "medium": (240, 4320)}

_HOST_FIELDS = ("host.name", "Computer", "hostname", "host")
_USER_FIELDS = ("user.name", "User", "SubjectUserName", "TargetUserName", "acct")
_IP_FIELDS = ("source.ip", "destination.ip", "id.resp_h", "IpAddress")


@dataclass(frozen=True, slots=True)
class DemoOperations:
    """What the demo set up in the workspace."""

    admin_password: str | None
    alerts: int
    case_id: int | None


def seed_operations(workspace: Workspace, reader: LakeReader) -> DemoOperations:
    """Create the demo team, SLA policies and alerts from the hunts, and open a case."""
    system = Principal.system("demo")
    users = workspace.users
    admin_password = users.ensure_first_admin()
    for team in (SECURITY, IT_OPS):
        users.create_team(system, team)
    for name, role, team in PEOPLE:
        users.create_user(system, name, role, teams=[team], email=f"{name}@example.org")
    for severity, (ack, resolve) in SLA_TARGETS.items():
        workspace.sla.create_policy(
            system,
            f"{severity} alerts",
            "alert",
            severity,
            acknowledge_minutes=ack,
            resolve_minutes=resolve,
        )
    drafts = [
        d for label, query in expected_markers().items() for d in _drafts(reader, label, query)
    ]
    result = workspace.raise_alerts(drafts, actor=system)
    ana = users.principal_of("ana")
    olga = users.principal_of("olga")
    alerts = workspace.alerts
    by_rule: dict[str, list[int]] = defaultdict(list)
    for alert_id in result.created:
        by_rule[alerts.get(ana, alert_id).rule_id].append(alert_id)
    intrusion = [
        alert_id
        for rule in ("hunt.office_child_shell", "hunt.encoded_powershell", "hunt.certutil_download")
        for alert_id in by_rule.get(rule, [])
    ]
    case_id = None
    if intrusion:
        for alert_id in intrusion:
            alerts.acknowledge(ana, alert_id)
        case = workspace.cases.create_from_alerts(
            ana,
            intrusion,
            title="Phishing document led to PowerShell and a certutil download",
            assignee_id=users.get_user(ana, "ana").id,
            team_id=_team_id(workspace, ana, SECURITY),
        )
        case_id = case.id
        workspace.cases.add_task(ana, case.id, "Isolate the workstation")
        workspace.cases.add_task(ana, case.id, "Collect the document and the dropped file")
        workspace.cases.add_comment(
            ana,
            case.id,
            "Started from the Word macro alert; the user opened an invoice attachment.",
        )
    for alert_id in by_rule.get("hunt.ssh_brute_force", []):
        alerts.acknowledge(olga, alert_id)
        alerts.close(
            olga,
            alert_id,
            Classification.BENIGN_POSITIVE,
            comment="The bastion sees this every day; fail2ban blocks the sources.",
        )
    return DemoOperations(admin_password, len(result.created), case_id)


def _team_id(workspace: Workspace, actor: Principal, name: str) -> int | None:
    return next((t.id for t in workspace.users.list_teams(actor) if t.name == name), None)


def _drafts(reader: LakeReader, label: str, query: str) -> list[AlertDraft]:
    """One draft per host that the hunt's query finds."""
    if label not in HUNTS:
        return []
    rule_id, severity, tags, team = HUNTS[label]
    events = reader.search(query, limit=500).events
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        host = _first(event, _HOST_FIELDS)
        source = _first(event, ("source.ip", "id.orig_h"))
        by_host[host or source or "an unknown host"].append(event)
    drafts = []
    for host, group in sorted(by_host.items()):
        first = group[0]
        observables = {Observable.of("host", host)} if _first(first, _HOST_FIELDS) else set()
        for event in group:
            user = _first(event, _USER_FIELDS)
            if user:
                observables.add(Observable.of("user", user))
            ip = _first(event, _IP_FIELDS)
            if ip:
                observables.add(Observable.of("ip", ip))
        times = [t for t in (_time(e.get("@timestamp")) for e in group) if t is not None]
        drafts.append(
            AlertDraft(
                rule_id=rule_id,
                title=f"{label} on {host}",
                severity=severity,
                event_ids=[str(e["event.id"]) for e in group if e.get("event.id")],
                observables=sorted(observables, key=lambda o: (o.type, o.value))[:20],
                tags=tags,
                reasons=[Reason("hunt", f"{query} matched {len(group)} events", 1.0)],
                event_time=min(times) if times else None,
                team=team,
                source="demo",
            )
        )
    return drafts


def _first(event: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    for name in fields:
        value = event.get(name)
        if value not in (None, "", "-"):
            return str(value)
    return None


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
