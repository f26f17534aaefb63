"""The rules pages over a real home: the catalogue, hits and noise, switches, rule tests."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.test_route_permissions import declared_permission, flatten
from tests.workspace.history_builder import Story
from tocsin.api.console.pages_alerts import catalog
from tocsin.detect.store import RuleStore
from tocsin.lake.writer import LakeWriter
from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio

WHOAMI = "50739c3c-52ef-4c20-9aed-6033c9b78071"  # starter: Whoami run to list privileges...
WHOAMI_TITLE = "Whoami run to list privileges or groups"
PAYLOAD = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
LOCAL_ID = "7c6d4f1e-2b1a-4c3d-9e8f-0a1b2c3d4e5f"
LOCAL_RULE = f"""\
title: 'Local probe {PAYLOAD}'
id: {LOCAL_ID}
status: experimental
description: 'fires on the probe {PAYLOAD}'
references:
  - 'javascript:alert(3)'
  - https://example.org/probe
logsource:
  product: linux
detection:
  selection:
    message|contains: 'probe-marker'
  condition: selection
falsepositives:
  - 'Testing {PAYLOAD}'
level: high
tags:
  - attack.t1059
"""


def system() -> Principal:
    return Principal.system("test")


def rows_of(page: str) -> dict[str, str]:
    """Each rule row of the list, by rule id (the row's HTML)."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    found = {}
    for row in re.findall(r"<tr data-href=\"/rules/[^\"]+\".*?</tr>", body, re.S):
        rule_id = re.search(r'data-href="/rules/([^"]+)"', row)[1]
        found[rule_id] = row
    return found


def cells(row: str) -> list[str]:
    """The text of a row's cells, tags removed."""
    found = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).split() for c in found]


def hit_cells(row: str) -> tuple[str, str, str]:
    """Alerts, events and noise of a row (its last three cells)."""
    found = cells(row)[-3:]
    return tuple(" ".join(c) for c in found)  # type: ignore[return-value]


def install_local_pack(ws_api, tmp_path) -> None:
    pack = tmp_path / "local-pack"
    pack.mkdir()
    (pack / "probe.yml").write_text(LOCAL_RULE)
    installed = RuleStore(ws_api.settings.rules_dir).install(str(pack), name="local")
    assert installed.rules == 1 and not installed.errors, installed.issues


def write_events(settings, events) -> None:
    writer = LakeWriter(settings.lake_dir)
    writer.add(events)
    writer.flush()
    writer.close()


def sysmon(event_id: str, at: datetime, image: str, command: str) -> dict[str, object]:
    return {
        "event.id": event_id,
        "@timestamp": at,
        "event.ingested": at,
        "event.dataset": "windows.sysmon",
        "event.original": command,
        "EventID": 1,
        "Image": image,
        "CommandLine": command,
        "host.name": "WS-07",
    }


def whoami_draft(host: str) -> AlertDraft:
    return AlertDraft(
        rule_id=WHOAMI,
        title=WHOAMI_TITLE,
        severity="low",
        observables=[Observable.of("host", host)],
    )


async def test_every_rule_is_listed_with_level_pack_status_and_attack(console, ws_api, tmp_path):
    install_local_pack(ws_api, tmp_path)
    browser = await console(Role.ANALYST)
    page = await browser.get("/rules")
    assert page.status_code == 200
    rows = rows_of(page.text)
    expected = {r.id for r in catalog(ws_api.services).rules()}
    assert set(rows) == expected and len(expected) > 40
    whoami = cells(rows[WHOAMI])
    # select box, level, title, pack, status, ATT&CK, switch, alerts, events, noise
    assert whoami[1] == ["▼", "low"]
    assert " ".join(whoami[2]) == WHOAMI_TITLE
    assert whoami[3:5] == [["starter"], ["stable"]]
    assert whoami[5] == ["discovery", "t1033"]
    assert whoami[6] == ["on"]
    assert '<span class="sev sev-low">' in rows[WHOAMI]
    local = cells(rows[LOCAL_ID])
    assert local[3] == ["local"] and local[1] == ["◆", "high"]
    # the payload in the installed rule's title is text
    assert PAYLOAD not in page.text
    assert html.escape(PAYLOAD, quote=False) in page.text or "&lt;script&gt;" in page.text


async def test_the_list_filters_by_text_pack_level_and_enabled(console, ws_api, tmp_path):
    install_local_pack(ws_api, tmp_path)
    browser = await console(Role.ANALYST)
    by_pack = rows_of((await browser.get("/rules?pack=local")).text)
    assert list(by_pack) == [LOCAL_ID]
    by_text = rows_of((await browser.get("/rules?q=WHOAMI")).text)
    assert list(by_text) == [WHOAMI]
    by_tag = rows_of((await browser.get("/rules?q=t1033")).text)
    assert WHOAMI in by_tag
    by_level = rows_of((await browser.get("/rules?level=critical")).text)
    levels = {catalog(ws_api.services).get(i).rule.level.value for i in by_level}
    assert by_level and levels == {"critical"}
    RuleStore(ws_api.settings.rules_dir).disable([WHOAMI])
    off = rows_of((await browser.get("/rules?enabled=off")).text)
    assert list(off) == [WHOAMI]
    on = rows_of((await browser.get("/rules?enabled=on")).text)
    assert WHOAMI not in on and LOCAL_ID in on
    nothing = await browser.get("/rules?q=no-such-rule-anywhere")
    assert rows_of(nothing.text) == {} and "No rule matches these filters." in nothing.text


async def test_hits_events_and_noise_come_from_the_alerts_of_the_window(console, ws_api):
    alerts = ws_api.workspace.alerts
    # three whoami alerts, one of them raised twice (two events), and one alert of another rule
    ws_api.workspace.raise_alerts(
        [whoami_draft("a"), whoami_draft("a"), whoami_draft("b"), whoami_draft("c")],
        actor=system(),
    )
    other = "cd1a6c1e-8b4e-4a51-8c6d-0c2b8a1e3f10"
    ws_api.workspace.raise_alerts(
        [AlertDraft(rule_id=other, title="other", severity="high")], actor=system()
    )
    by_host = {
        a.observables[0]["value"]: a for a in alerts.list(system(), rule_id=WHOAMI, limit=10).items
    }
    assert by_host["a"].count == 2
    alerts.close(system(), by_host["a"].id, "false_positive")
    alerts.close(system(), by_host["b"].id, "true_positive")
    # an old alert counts in the 30-day window only
    Story(ws_api.workspace.db).alert(
        datetime.now(UTC) - timedelta(days=10), rule_id=WHOAMI, severity="low"
    )

    browser = await console(Role.ANALYST)
    rows = rows_of((await browser.get("/rules")).text)
    assert hit_cells(rows[WHOAMI]) == ("3", "4", "50%")
    month = rows_of((await browser.get("/rules?range=30d")).text)
    assert hit_cells(month[WHOAMI]) == ("4", "5", "50%")
    quiet = [i for i in rows if i not in (WHOAMI, other)][0]
    assert hit_cells(rows[quiet]) == ("0", "0", "–")
    # the count links to the rule's alerts
    assert f'href="/alerts?rule={WHOAMI}&amp;status=all&amp;since=7d"' in rows[WHOAMI]

    by_hits = list(rows_of((await browser.get("/rules?sort=-hits")).text))
    assert by_hits[0] == WHOAMI
    by_noise = list(rows_of((await browser.get("/rules?sort=-noise")).text))
    assert by_noise[0] == WHOAMI
    by_events = list(rows_of((await browser.get("/rules?sort=-events")).text))
    assert by_events[0] == WHOAMI

    detail = await browser.get(f"/rules/{WHOAMI}")
    activity = detail.text.split('id="h-activity"', 1)[1].split("</section>", 1)[0]
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", activity)).split())
    assert "Alerts 3 Events 4 Open 1 Closed 2 Noise 50%" in text
    assert "false positive 1" in text and "true positive 1" in text


async def test_disable_and_enable_one_rule_and_in_bulk(console, ws_api):
    store = RuleStore(ws_api.settings.rules_dir)
    rules = catalog(ws_api.services)
    second = next(r.id for r in rules.rules() if r.id != WHOAMI and r.rule.kind == "detection")
    browser = await console(Role.ANALYST)
    await browser.get("/rules")

    off = await browser.post("/rules/switch", {"ids": WHOAMI, "action": "disable"})
    assert off.status_code == 303 and off.headers["location"] == "/rules"
    assert store.disabled() == [WHOAMI]
    assert rules.get(WHOAMI).enabled is False
    page = await browser.get("/rules")
    assert "1 rule(s) disabled." in page.text
    assert cells(rows_of(page.text)[WHOAMI])[6] == ["off"]
    assert 'value="enable" role="switch" aria-checked="false"' in rows_of(page.text)[WHOAMI]

    back = await browser.post(
        "/rules/switch", {"ids": WHOAMI, "action": "enable", "next": f"/rules/{WHOAMI}"}
    )
    assert back.headers["location"] == f"/rules/{WHOAMI}"
    assert store.disabled() == [] and rules.get(WHOAMI).enabled is True

    bulk = await browser.post("/rules/switch", {"ids": [WHOAMI, second], "action": "disable"})
    assert bulk.status_code == 303
    assert sorted(store.disabled()) == sorted([WHOAMI, second])
    assert not rules.get(WHOAMI).enabled and not rules.get(second).enabled
    await browser.post("/rules/switch", {"ids": [WHOAMI, second], "action": "enable"})
    assert store.disabled() == [] and rules.get(second).enabled

    unknown = await browser.post("/rules/switch", {"ids": "no-such-rule", "action": "disable"})
    assert unknown.status_code == 303 and store.disabled() == []


async def test_a_read_only_user_cannot_switch_rules(console, ws_api):
    browser = await console(Role.READ_ONLY)
    page = await browser.get("/rules")
    assert page.status_code == 200
    assert 'action="/rules/switch"' not in page.text  # no switch to press
    refused = await browser.post("/rules/switch", {"ids": WHOAMI, "action": "disable"})
    assert refused.status_code == 403
    assert RuleStore(ws_api.settings.rules_dir).disabled() == []
    assert catalog(ws_api.services).get(WHOAMI).enabled


async def test_the_rule_page_shows_what_it_detects_its_yaml_and_its_alerts(
    console, ws_api, tmp_path
):
    install_local_pack(ws_api, tmp_path)
    ws_api.workspace.raise_alerts([whoami_draft("ws-9")], actor=system())
    browser = await console(Role.ANALYST)
    page = await browser.get(f"/rules/{WHOAMI}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "whoami listed the current privileges or groups" in text  # description
    assert "Administrators checking their own tokens" in text  # false positives
    assert '<a href="https://attack.mitre.org/techniques/T1033/"' in page.text
    assert "process_creation" in text and "windows" in text  # logsource
    assert "Image|endswith: '\\whoami.exe'" in text  # the YAML, read from the file
    assert re.search(r'<a href="/alerts/\d+">#\d+</a>', page.text)  # its recent alert
    assert 'action="/rules/switch"' in page.text

    local = await browser.get(f"/rules/{LOCAL_ID}")
    assert local.status_code == 200
    assert "<script>alert(2)</script>" not in local.text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in local.text
    assert 'href="javascript:' not in local.text  # a reference that is not http(s) stays text
    assert '<a href="https://example.org/probe"' in local.text

    missing = await browser.get("/rules/no-such-rule")
    assert missing.status_code == 404


async def test_testing_a_rule_finds_the_matching_event_and_not_the_others(console, ws_api):
    now = datetime.now(UTC)
    write_events(
        ws_api.settings,
        [
            sysmon(
                "ev-match",
                now - timedelta(minutes=5),
                r"C:\Windows\System32\whoami.exe",
                "whoami /priv",
            ),
            sysmon(
                "ev-notepad", now - timedelta(minutes=4), r"C:\Windows\notepad.exe", "notepad /priv"
            ),
            sysmon(
                "ev-plain", now - timedelta(minutes=3), r"C:\Windows\System32\whoami.exe", "whoami"
            ),
            sysmon(
                "ev-old",
                now - timedelta(hours=3),
                r"C:\Windows\System32\whoami.exe",
                "whoami /groups",
            ),
        ],
    )
    browser = await console(Role.ANALYST)
    page = await browser.get(f"/rules/{WHOAMI}/test?range=1h")
    assert page.status_code == 200
    assert re.search(r"<strong data-trial-count>1</strong> matching event", page.text)
    assert "3 events read" in page.text
    assert "ev-match" in page.text
    for other in ("ev-notepad", "ev-plain", "ev-old"):
        assert other not in page.text
    assert "whoami /priv" in page.text  # the event's fields
    assert '<span class="yes">' in page.text  # the selection evidence

    day = await browser.get(f"/rules/{WHOAMI}/test?range=24h")
    assert re.search(r"<strong data-trial-count>2</strong> matching event", day.text)
    assert "ev-old" in day.text and "ev-notepad" not in day.text

    # a disabled rule can still be tried
    RuleStore(ws_api.settings.rules_dir).disable([WHOAMI])
    off = await browser.get(f"/rules/{WHOAMI}/test?range=1h")
    assert re.search(r"<strong data-trial-count>1</strong> matching event", off.text)


async def test_a_pasted_rule_is_validated_then_run_on_the_lake(console, ws_api):
    now = datetime.now(UTC)
    write_events(
        ws_api.settings,
        [
            sysmon(
                "ev-certutil",
                now - timedelta(minutes=2),
                r"C:\Windows\certutil.exe",
                "certutil -urlcache -f http://x/a.exe",
            ),
            sysmon("ev-calc", now - timedelta(minutes=1), r"C:\Windows\calc.exe", "calc"),
        ],
    )
    browser = await console(Role.ANALYST)
    form = await browser.get("/rules/test")
    assert form.status_code == 200 and 'name="text"' in form.text

    broken = await browser.post("/rules/test", {"text": "title: x\ndetection: [unclosed\n"})
    assert broken.status_code == 200
    assert "The rule is not valid" in broken.text
    assert "invalid YAML: line 3, column 1" in broken.text
    assert "data-trial-count" not in broken.text

    no_condition = await browser.post(
        "/rules/test",
        {
            "text": "title: half a rule\nlogsource:\n  product: windows\n"
            "detection:\n  selection:\n    Image: x\nlevel: low\n"
        },
    )
    assert "The rule is not valid" in no_condition.text
    assert "must contain at least one condition" in no_condition.text

    rule = """\
title: Certutil fetches a file
id: 2a0b8b43-0c59-4b53-9a4e-7c1c7a1d2f11
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    CommandLine|contains: '-urlcache'
  condition: selection
level: medium
"""
    found = await browser.post("/rules/test", {"text": rule, "range": "1h"})
    assert found.status_code == 200
    assert "The rule is not valid" not in found.text
    assert re.search(r"<strong data-trial-count>1</strong> matching event", found.text)
    assert "ev-certutil" in found.text and "ev-calc" not in found.text
    assert "Certutil fetches a file" in found.text
    # the pasted text comes back in the form, escaped
    assert "CommandLine|contains: &#39;-urlcache&#39;" in found.text


def test_each_rules_route_declares_the_permission_its_service_checks(ws_api):
    declared = {
        (method, route.path): declared_permission(route).value
        for route in flatten(ws_api.app().routes)
        if route.path.startswith("/rules")
        for method in route.methods
    }
    assert declared == {
        ("GET", "/rules"): "alert.read",
        ("POST", "/rules/switch"): "rule.manage",
        ("GET", "/rules/test"): "alert.read",
        ("POST", "/rules/test"): "search.read",  # and alert.read, checked in the route
        ("GET", "/rules/{rule_id}"): "alert.read",
        ("GET", "/rules/{rule_id}/test"): "search.read",
    }
