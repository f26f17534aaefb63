"""The case list, the new-case form and the case page, over a real workspace."""

from __future__ import annotations

import itertools
import re

import pytest

from tocsin.workspace.models import AlertDraft, Observable
from tocsin.workspace.permissions import Principal, Role

pytestmark = pytest.mark.anyio

PAYLOAD = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
SYSTEM = Principal.system("test")
RULE_NUMBERS = itertools.count()


def open_case(ws_api, title, severity="medium", **kwargs):
    return ws_api.workspace.cases.create(SYSTEM, title=title, severity=severity, **kwargs)


def get_case(ws_api, case_id):
    return ws_api.workspace.cases.get(SYSTEM, case_id)


def raise_alert(ws_api, title, **kwargs):
    kwargs.setdefault("observables", [Observable.of("host", "WS-01")])
    # a rule of its own, so that a second alert is not taken as a sighting of the first
    draft = AlertDraft(
        rule_id=f"test.rule{next(RULE_NUMBERS)}", title=title, severity="high", **kwargs
    )
    return ws_api.workspace.alerts.get(SYSTEM, ws_api.workspace.raise_alert(draft, SYSTEM))


def row_titles(html: str) -> list[str]:
    return re.findall(r'<td><a href="/cases/\d+">([^<]*)</a>', html)


async def follow(browser, response):
    """The page a form's redirect leads to (where its note is shown)."""
    assert response.status_code == 303, response.text[:500]
    return await browser.get(response.headers["location"])


async def test_the_list_shows_open_cases_and_filters_them(console, ws_api):
    rex = ws_api.user_ids[Role.RESPONDER]
    security = ws_api.team_ids["Security"]
    open_case(ws_api, "Phishing wave", "high", team_id=security)
    open_case(ws_api, "Lost laptop", "low", assignee_id=rex)
    closed = open_case(ws_api, "Old incident", "critical")
    ws_api.workspace.cases.close(SYSTEM, closed.id, classification="true_positive")
    browser = await console(Role.READ_ONLY)
    page = await browser.get("/cases")
    assert page.status_code == 200
    assert row_titles(page.text) == ["Lost laptop", "Phishing wave"]  # open ones, newest first
    assert "data-nav-rows" in page.text and 'data-href="/cases/' in page.text
    assert '<span class="sev sev-high"><span class="sev-mark" aria-hidden="true">' in page.text
    # a read-only user is not offered a new case
    assert 'href="/cases/new"' not in page.text
    assert row_titles((await browser.get("/cases?status=all")).text) == [
        "Old incident",
        "Lost laptop",
        "Phishing wave",
    ]
    assert row_titles((await browser.get("/cases?status=closed")).text) == ["Old incident"]
    assert row_titles((await browser.get("/cases?severity=high")).text) == ["Phishing wave"]
    assert row_titles((await browser.get(f"/cases?team={security}")).text) == ["Phishing wave"]
    assert row_titles((await browser.get(f"/cases?assignee={rex}")).text) == ["Lost laptop"]
    assert row_titles((await browser.get("/cases?q=LAPTOP")).text) == ["Lost laptop"]
    by_severity = await browser.get("/cases?status=all&sort=-severity,-created_at")
    assert row_titles(by_severity.text) == ["Old incident", "Phishing wave", "Lost laptop"]
    # the team and the assignee show by name
    assert "rex" in page.text and "Security" in page.text


async def test_the_list_and_the_case_show_the_case_sla(console, ws_api):
    ws_api.workspace.sla.create_policy(
        SYSTEM, "high cases", "case", "high", acknowledge_minutes=30, resolve_minutes=240
    )
    case = open_case(ws_api, "On the clock", "high")
    browser = await console(Role.READ_ONLY)
    for url in ("/cases", f"/cases/{case.id}"):
        html = (await browser.get(url)).text
        assert 'class="sla sla-ok"' in html, url
        assert re.search(r'data-sla-due="\d{4}-\d\d-\d\dT[^"]+Z"', html), url
        assert "left</span>" in html, url


async def test_the_list_pages(console, ws_api):
    for i in range(55):
        open_case(ws_api, f"case {i:02d}")
    browser = await console(Role.ANALYST)
    first = await browser.get("/cases")
    assert len(row_titles(first.text)) == 50
    assert "1–50 of 55" in first.text
    older = re.search(r'rel="next" href="([^"]+)"', first.text)[1].replace("&amp;", "&")
    second = await browser.get(older)
    assert len(row_titles(second.text)) == 5
    assert set(row_titles(first.text)).isdisjoint(row_titles(second.text))


async def test_a_case_is_created_from_the_form(console, ws_api):
    browser = await console(Role.ANALYST)
    form = await browser.get("/cases/new")
    assert form.status_code == 200
    assert 'action="/cases"' in form.text and 'name="csrf_token"' in form.text
    security = ws_api.team_ids["Security"]
    created = await browser.post(
        "/cases",
        {
            "title": "Suspicious VPN logins",
            "severity": "high",
            "description": "Logins from two countries\nwithin an hour.",
            "team_id": security,
            "assignee_id": ws_api.user_ids[Role.ANALYST],
            "tags": "vpn, identity",
            "tlp": "amber",
            "pap": "green",
        },
    )
    page = await follow(browser, created)
    case_id = int(created.headers["location"].rsplit("/", 1)[1])
    case = get_case(ws_api, case_id)
    assert (case.title, case.severity, case.status) == ("Suspicious VPN logins", "high", "new")
    assert (case.team_id, case.assignee_id) == (security, ws_api.user_ids[Role.ANALYST])
    assert (case.tags, case.pap) == (["vpn", "identity"], "green")
    assert f"Case #{case_id} opened." in page.text
    assert "Suspicious VPN logins" in page.text and "Logins from two countries" in page.text
    assert '<span class="sev sev-high">' in page.text
    # a case without a title (and no template or alert to take it from) is refused, and the
    # form comes back saying why
    await browser.get("/cases/new")
    refused = await browser.post("/cases", {"title": " ", "severity": "low"})
    assert refused.headers["location"] == "/cases/new"
    assert "a case needs a title" in (await follow(browser, refused)).text


async def test_a_case_opened_from_an_alert_links_it(console, ws_api):
    alert = raise_alert(ws_api, "Beacon to rare domain")
    browser = await console(Role.ANALYST)
    await browser.get(f"/alerts/{alert.id}")
    opened = await browser.post(f"/alerts/{alert.id}/case", {"title": "C2 investigation"})
    page = await follow(browser, opened)
    assert page.status_code == 200
    assert "C2 investigation" in page.text
    assert f'<a href="/alerts/{alert.id}">#{alert.id} Beacon to rare domain</a>' in page.text
    # the alert's observable came along
    assert "WS-01" in page.text
    case_id = int(opened.headers["location"].rsplit("/", 1)[1])
    # another alert is linked from the case page
    other = raise_alert(ws_api, "Second beacon")
    linked = await browser.post(f"/cases/{case_id}/alerts", {"alert_ids": f"#{other.id}"})
    assert "1 alert(s) linked." in (await follow(browser, linked)).text
    ids = {a.id for a in ws_api.workspace.cases.list_alerts(SYSTEM, case_id)}
    assert ids == {alert.id, other.id}


async def test_edit_and_assign_need_the_version_read(console, ws_api):
    case = open_case(ws_api, "Typo in titel")
    browser = await console(Role.RESPONDER)
    page = await browser.get(f"/cases/{case.id}")
    assert f'name="version" value="{case.version}"' in page.text
    edited = await browser.post(
        f"/cases/{case.id}/edit",
        {
            "version": case.version,
            "title": "Typo in title",
            "severity": "critical",
            "status": "in_progress",
            "description": "Fixed.",
            "tags": "a, b",
        },
    )
    assert "Case updated." in (await follow(browser, edited)).text
    now = get_case(ws_api, case.id)
    assert (now.title, now.severity, now.status, now.description, now.tags) == (
        "Typo in title",
        "critical",
        "in_progress",
        "Fixed.",
        ["a", "b"],
    )
    # the form read before that edit is now stale: refused, nothing changes
    stale = await browser.post(
        f"/cases/{case.id}/assign",
        {"version": case.version, "assignee_id": ws_api.user_ids[Role.RESPONDER]},
    )
    assert "changed by someone else" in (await follow(browser, stale)).text
    assert get_case(ws_api, case.id).assignee_id is None
    team = ws_api.team_ids["IT operations"]
    assigned = await browser.post(
        f"/cases/{case.id}/assign",
        {"version": now.version, "assignee_id": ws_api.user_ids[Role.RESPONDER], "team_id": team},
    )
    page = await follow(browser, assigned)
    after = get_case(ws_api, case.id)
    assert (after.assignee_id, after.team_id) == (ws_api.user_ids[Role.RESPONDER], team)
    # the history shows who changed what, with names
    assert "severity: medium → critical" in page.text
    assert "assignee: none → rex" in page.text


async def test_a_task_is_added_and_completed(console, ws_api):
    case = open_case(ws_api, "With tasks")
    browser = await console(Role.RESPONDER)
    await browser.get(f"/cases/{case.id}")
    added = await browser.post(
        f"/cases/{case.id}/tasks",
        {"title": "Collect the mailbox", "assignee_id": ws_api.user_ids[Role.RESPONDER]},
    )
    assert added.headers["location"] == f"/cases/{case.id}#tasks"
    page = await follow(browser, added)
    assert "Collect the mailbox" in page.text and "0 of 1 done" in page.text
    task = ws_api.workspace.cases.list_tasks(SYSTEM, case.id).items[0]
    done = await browser.post(
        f"/cases/{case.id}/tasks/{task.id}", {"status": "done", "version": task.version}
    )
    page = await follow(browser, done)
    finished = ws_api.workspace.cases.list_tasks(SYSTEM, case.id).items[0]
    assert finished.status == "done" and finished.completed_at is not None
    assert "1 of 1 done" in page.text
    assert "Task done: Collect the mailbox" in page.text  # on the timeline
    # a task of another case is not reachable through this case
    other = open_case(ws_api, "Other")
    wrong = await browser.post(f"/cases/{other.id}/tasks/{task.id}", {"status": "open"})
    assert "has no task" in (await follow(browser, wrong)).text


async def test_an_observable_is_added_and_removed(console, ws_api):
    case = open_case(ws_api, "With observables")
    browser = await console(Role.RESPONDER)
    await browser.get(f"/cases/{case.id}")
    added = await browser.post(
        f"/cases/{case.id}/observables",
        {"type": "ip", "value": "203.0.113.9", "tlp": "red", "pap": "amber", "ioc": "1"},
    )
    page = await follow(browser, added)
    assert "203.0.113.9" in page.text and "IOC" in page.text
    [observable] = ws_api.workspace.cases.list_observables(SYSTEM, case.id).items
    assert (observable.type, observable.tlp, observable.ioc) == ("ip", "red", True)
    twice = await browser.post(
        f"/cases/{case.id}/observables", {"type": "ip", "value": "203.0.113.9"}
    )
    assert "already has the ip observable" in (await follow(browser, twice)).text
    removed = await browser.post(f"/cases/{case.id}/observables/{observable.id}/delete")
    page = await follow(browser, removed)
    assert ws_api.workspace.cases.list_observables(SYSTEM, case.id).items == []
    assert "Observable removed: ip 203.0.113.9" in page.text  # the history keeps it


async def test_comments_and_timeline_entries(console, ws_api):
    case = open_case(ws_api, "Talk about it")
    browser = await console(Role.RESPONDER)
    await browser.get(f"/cases/{case.id}")
    commented = await browser.post(f"/cases/{case.id}/comments", {"body": "First look:\nnothing"})
    page = await follow(browser, commented)
    [comment] = ws_api.workspace.cases.list_comments(SYSTEM, case.id).items
    assert (comment.author, comment.body) == ("rex", "First look:\nnothing")
    assert "First look:\nnothing" in page.text
    entry = await browser.post(
        f"/cases/{case.id}/timeline",
        {"occurred_at": "2026-01-05T09:30", "title": "User clicked the link", "description": ""},
    )
    page = await follow(browser, entry)
    items = ws_api.workspace.cases.timeline(SYSTEM, case.id)
    [manual] = [i for i in items if i.kind == "entry"]
    assert manual.title == "User clicked the link"
    assert manual.at.isoformat().startswith("2026-01-05T09:30")
    assert "User clicked the link" in page.text and "2026-01-05 09:30:00Z" in page.text
    bad = await browser.post(f"/cases/{case.id}/timeline", {"occurred_at": "soon", "title": "x"})
    assert "cannot read" in (await follow(browser, bad)).text


async def test_an_attachment_is_uploaded_and_downloaded_as_the_same_bytes(console, ws_api):
    case = open_case(ws_api, "With files")
    browser = await console(Role.RESPONDER)
    page = await browser.get(f"/cases/{case.id}")
    assert 'enctype="multipart/form-data"' in page.text
    content = b"<html><script>alert(1)</script></html>\x00\xff binary tail"
    uploaded = await browser.post(
        f"/cases/{case.id}/attachments",
        files={"file": ("../../evil page.html", content, "text/html")},
    )
    page = await follow(browser, uploaded)
    assert "Attached evil page.html." in page.text
    [attachment] = ws_api.workspace.cases.list_attachments(SYSTEM, case.id).items
    link = f"/cases/{case.id}/attachments/{attachment.id}"
    assert f'href="{link}"' in page.text
    reader = await console(Role.READ_ONLY)
    download = await reader.get(link)
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "evil%20page.html" in download.headers["content-disposition"]
    assert download.headers["x-content-type-options"] == "nosniff"
    # through another case's address it is not found
    other = open_case(ws_api, "Other")
    assert (await reader.get(f"/cases/{other.id}/attachments/{attachment.id}")).status_code == 404
    # no file chosen: refused with a note
    empty = await browser.post(
        f"/cases/{case.id}/attachments", files={"file": ("", b"", "text/plain")}
    )
    assert "choose a file" in (await follow(browser, empty)).text


async def test_an_upload_over_the_limit_is_refused_before_it_is_stored(console, ws_api):
    ws_api.settings.attachment_max_bytes = 1000
    case = open_case(ws_api, "Small files only")
    browser = await console(Role.RESPONDER)
    await browser.get(f"/cases/{case.id}")
    big = await browser.post(
        f"/cases/{case.id}/attachments", files={"file": ("big.bin", b"x" * 1001)}
    )
    assert "larger than the limit of 1000 bytes" in (await follow(browser, big)).text
    huge = await browser.post(
        f"/cases/{case.id}/attachments", files={"file": ("huge.bin", b"x" * 200_000)}
    )
    assert "larger than the limit" in (await follow(browser, huge)).text
    assert ws_api.workspace.cases.list_attachments(SYSTEM, case.id).items == []


async def test_two_cases_are_merged(console, ws_api):
    target = open_case(ws_api, "Main case", description="Main text")
    source = open_case(ws_api, "Duplicate report", description="Reported by HR")
    third = open_case(ws_api, "Also the same")
    ws_api.workspace.cases.add_comment(SYSTEM, source.id, "from the duplicate")
    browser = await console(Role.ANALYST)
    page = await browser.get(f"/cases/{target.id}")
    assert f'<option value="{source.id}">#{source.id} ' in page.text  # offered for merging
    assert f'<option value="{target.id}">#{target.id} ' not in page.text  # never itself
    merged = await browser.post(
        f"/cases/{target.id}/merge", {"source_ids": [source.id], "more_ids": f"#{third.id}"}
    )
    page = await follow(browser, merged)
    assert f"Merged #{source.id}, #{third.id} into this case." in page.text
    for ident in (source.id, third.id):
        gone = get_case(ws_api, ident)
        assert (gone.status, gone.merged_into_id) == ("closed", target.id)
    assert "Reported by HR" in get_case(ws_api, target.id).description
    assert "from the duplicate" in page.text
    # the merged case points to its target and offers no more changes
    old = await browser.get(f"/cases/{source.id}")
    assert f'<a href="/cases/{target.id}">case #{target.id}</a>' in old.text
    assert f'action="/cases/{source.id}/comments"' not in old.text
    assert f'action="/cases/{source.id}/reopen"' not in old.text


async def test_close_with_a_classification_then_reopen(console, ws_api):
    case = open_case(ws_api, "To close")
    browser = await console(Role.ANALYST)
    page = await browser.get(f"/cases/{case.id}")
    assert f'action="/cases/{case.id}/close"' in page.text
    closed = await browser.post(
        f"/cases/{case.id}/close",
        {"version": case.version, "classification": "false_positive", "summary": "Pen test."},
    )
    page = await follow(browser, closed)
    now = get_case(ws_api, case.id)
    assert (now.status, now.classification, now.summary) == (
        "closed",
        "false_positive",
        "Pen test.",
    )
    assert "Case closed." in page.text and "Pen test." in page.text
    assert f'action="/cases/{case.id}/reopen"' in page.text
    reopened = await browser.post(f"/cases/{case.id}/reopen", {"version": now.version})
    page = await follow(browser, reopened)
    again = get_case(ws_api, case.id)
    assert (again.status, again.classification) == ("in_progress", None)
    assert "Case reopened" in page.text
    unknown = await browser.post(
        f"/cases/{case.id}/close", {"version": again.version, "classification": "maybe"}
    )
    assert "unknown classification" in (await follow(browser, unknown)).text


async def test_a_responder_may_work_a_case_but_not_close_it(console, ws_api):
    case = open_case(ws_api, "Responder case")
    browser = await console(Role.RESPONDER)
    page = await browser.get(f"/cases/{case.id}")
    assert f'action="/cases/{case.id}/close"' not in page.text
    assert f'action="/cases/{case.id}/merge"' not in page.text
    assert f'action="/cases/{case.id}/comments"' in page.text
    refused = await browser.post(
        f"/cases/{case.id}/close", {"version": case.version, "classification": "true_positive"}
    )
    assert refused.status_code == 403
    assert "Not allowed" in refused.text
    assert get_case(ws_api, case.id).status == "new"
    assert (await browser.get("/cases/new")).status_code == 403
    # a read-only user sees the case without any form that changes it
    reader = await console(Role.READ_ONLY)
    page = await reader.get(f"/cases/{case.id}")
    assert page.status_code == 200
    assert 'method="post" action="/cases/' not in page.text
    refused = await reader.post(f"/cases/{case.id}/comments", {"body": "hi"})
    assert refused.status_code == 403


async def test_a_missing_case_is_a_not_found_page(console):
    browser = await console(Role.ANALYST)
    missing = await browser.get("/cases/424242")
    assert missing.status_code == 404
    assert "there is no case #424242" in missing.text


async def test_attacker_controlled_values_are_escaped(console, ws_api):
    alert = raise_alert(ws_api, PAYLOAD, observables=[Observable.of("user", PAYLOAD)])
    case = ws_api.workspace.cases.create(
        SYSTEM, title=PAYLOAD, description=PAYLOAD, tags=[PAYLOAD], alert_ids=[alert.id]
    )
    ws_api.workspace.cases.add_comment(SYSTEM, case.id, PAYLOAD)
    ws_api.workspace.cases.add_task(SYSTEM, case.id, PAYLOAD, PAYLOAD)
    ws_api.workspace.cases.add_attachment(SYSTEM, case.id, PAYLOAD, "text/html", b"x")
    browser = await console(Role.ANALYST)
    for url in ("/cases", f"/cases/{case.id}", f"/cases?q={PAYLOAD[:10]}"):
        html = (await browser.get(url)).text
        assert "<script>alert(2)" not in html, url
        assert "<img src=x" not in html, url
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html, url
