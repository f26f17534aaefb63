"""The demo's team at work: people, SLA policies, the alerts routed to teams, a case.

The Sigma starter rules raise the scenario's alerts while it is ingested (the ingest stage).
Two story steps have no Sigma rule yet (a lookalike domain and a C2 beacon belong to the DNS
and network sensors of later issues): the demo raises those from searches over the lake,
through the same ``raise_alerts`` call every detector uses.
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
    "lookalike domain lookup": (
        "hunt.lookalike_domain",
        "medium",
        ("attack.initial_access", "attack.t1566"),
        SECURITY,
    ),
    "beacon": ("hunt.c2_beacon", "high", ("attack.command_and_control", "attack.t1071"), SECURITY),
}

# starter rules (by file name) whose alerts make the intrusion case, and the one the IT team
# closes as expected noise
INTRUSION_RULES = ("proc_office_spawns_shell", "proc_powershell_encoded", "proc_certutil_download")
BENIGN_RULE = "corr_ssh_brute_force"
IT_DATASETS = ("linux.", "syslog")

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
    workspace.raise_alerts(drafts, actor=system)
    ana = users.principal_of("ana")
    olga = users.principal_of("olga")
    alerts = workspace.alerts
    teams = {t.name: t.id for t in users.list_teams(system)}
    starter = starter_rule_ids()
    by_rule: dict[str, list[int]] = defaultdict(list)
    raised = alerts.list(system, limit=1000).items
    for alert in raised:
        by_rule[alert.rule_id].append(alert.id)
        if alert.team_id is None:
            dataset = str(alert.fields.get("event.dataset") or "")
            team = IT_OPS if dataset.startswith(IT_DATASETS) or not dataset else SECURITY
            if alert.rule_id == starter.get(BENIGN_RULE):
                team = IT_OPS
            alerts.assign(system, alert.id, team_id=teams[team])
    intrusion = [
        alert_id for stem in INTRUSION_RULES for alert_id in by_rule.get(starter.get(stem, ""), [])
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
            team_id=teams[SECURITY],
        )
        case_id = case.id
        workspace.cases.add_task(ana, case.id, "Isolate the workstation")
        workspace.cases.add_task(ana, case.id, "Collect the document and the dropped file")
        workspace.cases.add_comment(
            ana,
            case.id,
            "Started from the Word macro alert; the user opened an invoice attachment.",
        )
    benign = by_rule.get(starter.get(BENIGN_RULE, ""), [])
    for alert_id in benign:
        alerts.acknowledge(olga, alert_id)
        alerts.close(
            olga,
            alert_id,
            Classification.BENIGN_POSITIVE,
            comment="The bastion sees this every day; fail2ban blocks the sources.",
        )
    _other_cases(workspace, by_rule, teams, benign)
    total = len(raised)
    return DemoOperations(admin_password, total, case_id)


def _other_cases(
    workspace: Workspace, by_rule: dict[str, list[int]], teams: dict[str, int], benign: list[int]
) -> None:
    """Cases at the other stages: one on hold, one new and unassigned, one closed."""
    users = workspace.users
    cases = workspace.cases
    rex = users.principal_of("rex")
    ana = users.principal_of("ana")
    olga = users.principal_of("olga")
    beacon = by_rule.get(HUNTS["beacon"][0], [])
    if beacon:
        case = cases.create_from_alerts(
            ana,
            beacon,
            title="Regular beacon to an unknown host on the internet",
            assignee_id=users.get_user(ana, "rex").id,
            team_id=teams[SECURITY],
        )
        cases.add_task(rex, case.id, "Ask the ISP who owns the destination")
        cases.add_comment(
            rex, case.id, "Blocked at the firewall; waiting for the ISP's abuse desk to answer."
        )
        current = cases.get(rex, case.id)
        current = cases.update(rex, case.id, version=current.version, status="in_progress")
        cases.update(rex, case.id, version=current.version, status="on_hold")
    lookalike = by_rule.get(HUNTS["lookalike domain lookup"][0], [])
    if lookalike:
        cases.create_from_alerts(
            ana,
            lookalike,
            title="A lookalike of our domain was looked up",
            team_id=teams[SECURITY],
        )
    if benign:
        case = cases.create_from_alerts(
            olga,
            benign,
            title="SSH password guessing against the bastion",
            assignee_id=users.get_user(olga, "olga").id,
            team_id=teams[IT_OPS],
        )
        cases.add_comment(olga, case.id, "Known internet noise; fail2ban bans each source.")
        cases.close(
            olga,
            case.id,
            classification=Classification.BENIGN_POSITIVE,
            summary="Expected noise: the bastion is exposed on purpose and rate-limited.",
        )


def starter_rule_ids() -> dict[str, str]:
    """Rule id of each starter rule, by file name (without ``.yml``)."""
    from tocsin.detect.loader import load_rules
    from tocsin.detect.store import starter_pack_path

    return {rule.path.stem: rule.id for rule in load_rules([starter_pack_path()]).rules}


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
