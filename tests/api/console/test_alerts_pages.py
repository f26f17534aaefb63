"""The alert queue and the alert detail page, over a real workspace and lake."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.event import Reason
from tocsin.demo.operations import starter_rule_ids
from tocsin.lake.writer import LakeWriter
from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC)
PAYLOAD = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def write_events(settings, events):
    writer = LakeWriter(settings.lake_dir)
    writer.add(events)
    writer.flush()
    writer.close()


def lake_event(i, **fields):
    return {
        "event.id": f"ev-{i}",
        "@timestamp": NOW - timedelta(minutes=i),
        "event.ingested": NOW,
        "event.dataset": "windows.sysmon",
        "event.original": f"line {i}",
        "host.name": "WS-01",
        **fields,
    }


def raise_alerts(ws_api, *drafts):
    system = Principal.system("test")
    ws_api.workspace.raise_alerts(list(drafts), actor=system)
    return {a.title: a for a in ws_api.workspace.alerts.list(system, limit=100).items}


def draft(title, severity="high", rule_id="test.rule", **kwargs):
    kwargs.setdefault("observables", [Observable.of("host", title)])
    return AlertDraft(rule_id=rule_id, title=title, severity=severity, **kwargs)


def row_titles(html: str) -> list[str]:
    return re.findall(r'<a href="/alerts/\d+">([^<]*)</a>', html)


async def test_the_queue_lists_open_alerts_newest_first_and_filters(console, ws_api):
    alerts = raise_alerts(
        ws_api,
        draft("low one", "low"),
        draft("critical one", "critical", rule_id="other.rule"),
        draft("high one", "high", team="Security"),
    )
    browser = await console(Role.ANALYST)
    page = await browser.get("/alerts")
    assert page.status_code == 200
    assert row_titles(page.text) == ["high one", "critical one", "low one"]
    # severity is a word and a shape, not a colour alone
    assert '<span class="sev sev-critical"><span class="sev-mark" aria-hidden="true">' in page.text
    assert "critical</span>" in page.text
    by_severity = await browser.get("/alerts?severity=critical&severity=low")
    assert row_titles(by_severity.text) == ["critical one", "low one"]
    by_rule = await browser.get("/alerts?rule=other.*")
    assert row_titles(by_rule.text) == ["critical one"]
    team = ws_api.team_ids["Security"]
    by_team = await browser.get(f"/alerts?team={team}")
    assert row_titles(by_team.text) == ["high one"]
    by_text = await browser.get("/alerts?q=LOW")
    assert row_titles(by_text.text) == ["low one"]
    sorted_by_severity = await browser.get("/alerts?sort=-severity,-created_at")
    assert row_titles(sorted_by_severity.text) == ["critical one", "high one", "low one"]
    # closed alerts leave the default (open) view but show with status=all
    ws_api.workspace.alerts.close(
        Principal.system("t"), alerts["low one"].id, "false_positive", None
    )
    assert "low one" not in row_titles((await browser.get("/alerts")).text)
    assert "low one" in row_titles((await browser.get("/alerts?status=all")).text)
    assert row_titles((await browser.get("/alerts?status=closed")).text) == ["low one"]


async def test_the_queue_pages_through_many_alerts(console, ws_api):
    raise_alerts(ws_api, *(draft(f"alert {i:03d}") for i in range(60)))
    browser = await console(Role.READ_ONLY)
    first = await browser.get("/alerts")
    assert len(row_titles(first.text)) == 50
    assert "1–50 of 60" in first.text
    older = re.search(r'rel="next" href="([^"]+)"', first.text)[1].replace("&amp;", "&")
    second = await browser.get(older)
    assert len(row_titles(second.text)) == 10
    assert set(row_titles(first.text)).isdisjoint(row_titles(second.text))


async def test_bulk_acknowledge_assign_and_close(console, ws_api):
    alerts = raise_alerts(ws_api, draft("a"), draft("b"), draft("c"))
    ids = [alerts[t].id for t in ("a", "b")]
    browser = await console(Role.ANALYST)
    done = await browser.post("/alerts/bulk", {"ids": ids, "action": "ack"})
    assert done.status_code == 303
    actor = Principal.system("t")
    get = ws_api.workspace.alerts.get
    assert [get(actor, i).status for i in ids] == ["acknowledged", "acknowledged"]
    assert get(actor, alerts["c"].id).status == "new"
    # the next page says what happened
    note = await browser.get(done.headers["location"])
    assert "ack: 2 done" in note.text
    rex = ws_api.user_ids[Role.RESPONDER]
    await browser.post("/alerts/bulk", {"ids": ids, "action": "assign", "user_id": rex})
    assert {get(actor, i).assignee_name for i in ids} == {"rex"}
    await browser.post(
        "/alerts/bulk", {"ids": ids, "action": "close", "classification": "true_positive"}
    )
    assert {get(actor, i).classification for i in ids} == {"true_positive"}
    # a responder may triage but not close: the whole request is refused, nothing changes
    responder = await console(Role.RESPONDER)
    refused = await responder.post(
        "/alerts/bulk",
        {"ids": [alerts["c"].id], "action": "close", "classification": "false_positive"},
    )
    assert refused.status_code == 403
    assert get(actor, alerts["c"].id).status == "new"


async def test_live_rows_bring_only_newer_alerts_with_the_filters(console, ws_api):
    first = raise_alerts(ws_api, draft("old"))
    browser = await console(Role.ANALYST)
    page = await browser.get("/alerts")
    newest = int(re.search(r'data-live-after="(\d+)"', page.text)[1])
    assert newest == first["old"].id
    none_yet = await browser.get(f"/alerts/rows?after={newest}")
    assert none_yet.text.strip() == ""
    assert none_yet.headers["x-tocsin-newest"] == str(newest)
    raise_alerts(ws_api, draft("new critical", "critical"), draft("new low", "low"))
    fresh = await browser.get(f"/alerts/rows?after={newest}")
    assert row_titles(fresh.text) == ["new low", "new critical"]
    assert int(fresh.headers["x-tocsin-newest"]) > newest
    only_critical = await browser.get(f"/alerts/rows?after={newest}&severity=critical")
    assert row_titles(only_critical.text) == ["new critical"]


async def test_the_detail_shows_events_reasons_rule_observables_and_related(console, ws_api):
    write_events(
        ws_api.settings,
        [lake_event(1, CommandLine="certutil -urlcache -f http://x/a.exe"), lake_event(2)],
    )
    starter = starter_rule_ids()
    rule_id = starter["proc_certutil_download"]
    alerts = raise_alerts(
        ws_api,
        draft(
            "certutil on WS-01",
            rule_id=rule_id,
            event_ids=["ev-1"],
            reasons=[Reason("sigma", "CommandLine contains urlcache", 1.0)],
            observables=[Observable.of("host", "WS-01"), Observable.of("ip", "10.1.1.1")],
            fields={"host.name": "WS-01"},
        ),
        draft("certutil on WS-02", rule_id=rule_id, observables=[Observable.of("host", "WS-02")]),
    )
    alert = alerts["certutil on WS-01"]
    browser = await console(Role.ANALYST)
    page = await browser.get(f"/alerts/{alert.id}")
    assert page.status_code == 200
    html = page.text
    assert "certutil -urlcache -f http://x/a.exe" in html  # the event, as fields
    assert '<th scope="row">CommandLine</th>' in html
    assert "CommandLine contains urlcache" in html  # the reasons
    assert "ATT&amp;CK" in html and "t1105" in html.lower()  # the rule, from the catalogue
    assert "10.1.1.1" in html  # observables
    assert "certutil on WS-02" in html  # related: same rule
    assert "/search?q=host.name" in html  # pivot to search


async def test_acknowledge_comment_assign_close_and_reopen_from_the_detail(console, ws_api):
    alert = raise_alerts(ws_api, draft("work me"))["work me"]
    browser = await console(Role.ANALYST)
    await browser.get(f"/alerts/{alert.id}")
    url = f"/alerts/{alert.id}/action"
    actor = Principal.system("t")
    get = ws_api.workspace.alerts.get
    assert (await browser.post(url, {"action": "ack", "version": alert.version})).status_code == 303
    assert get(actor, alert.id).status == "acknowledged"
    # a stale version is refused and the page says why
    stale = await browser.post(url, {"action": "start", "version": alert.version})
    assert stale.status_code == 303
    assert "changed by someone else" in (await browser.get(stale.headers["location"])).text
    await browser.post(url, {"action": "comment", "body": "looked at it"})
    await browser.post(url, {"action": "assign", "user_id": ws_api.user_ids[Role.ANALYST]})
    assert get(actor, alert.id).assignee_name == "ana"
    await browser.post(url, {"action": "close", "classification": "benign_positive"})
    closed = get(actor, alert.id)
    assert (closed.status, closed.classification) == ("closed", "benign_positive")
    page = await browser.get(f"/alerts/{alert.id}")
    assert "looked at it" in page.text
    await browser.post(url, {"action": "reopen"})
    assert get(actor, alert.id).status != "closed"


async def test_a_case_is_opened_from_an_alert_and_another_is_added_to_it(console, ws_api):
    alerts = raise_alerts(ws_api, draft("first"), draft("second"))
    browser = await console(Role.ANALYST)
    opened = await browser.post(f"/alerts/{alerts['first'].id}/case", {"title": "Our case"})
    assert opened.status_code == 303
    case_id = int(opened.headers["location"].rsplit("/", 1)[1])
    actor = Principal.system("t")
    assert ws_api.workspace.cases.get(actor, case_id).title == "Our case"
    added = await browser.post(f"/alerts/{alerts['second'].id}/add-to-case", {"case_id": case_id})
    assert added.status_code == 303
    linked = {a.id for a in ws_api.workspace.cases.list_alerts(actor, case_id)}
    assert linked == {alerts["first"].id, alerts["second"].id}


async def test_attacker_controlled_values_are_escaped_everywhere(console, ws_api):
    write_events(ws_api.settings, [lake_event(1, CommandLine=PAYLOAD, **{"user.name": PAYLOAD})])
    alert = raise_alerts(
        ws_api,
        draft(
            PAYLOAD,
            event_ids=["ev-1"],
            observables=[Observable.of("user", PAYLOAD)],
            reasons=[Reason("sigma", PAYLOAD, 1.0)],
            fields={"user.name": PAYLOAD},
        ),
    )[PAYLOAD]
    browser = await console(Role.ANALYST)
    for url in ("/alerts", f"/alerts/{alert.id}", "/alerts/rows?after=0"):
        html = (await browser.get(url)).text
        assert "<script>alert(2)" not in html, url
        assert "<img src=x" not in html, url
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html, url
