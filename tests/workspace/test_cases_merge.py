"""Merging cases: everything moves, nothing is duplicated, sources close as duplicates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.workspace.case_helpers import add_alert, alert_case_id, history
from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.core.settings import Settings
from tocsin.workspace.cases import CaseService

SHARED = "Contain the host, collect triage data, then eradicate."


@pytest.fixture
def cases(db, tmp_path):
    return CaseService(db, Settings(home=tmp_path / "home"))


def test_merge_moves_everything_into_the_target(db, cases, analyst):
    a1 = add_alert(db, "Beacon from ws1", "high", observables=(("ip", "198.51.100.9"),))
    a2 = add_alert(db, "Beacon from ws2", "medium", observables=(("ip", "198.51.100.9"),))
    target = cases.create_from_alerts(analyst, [a1], tags=["c2"], techniques=["T1071"])
    source = cases.create_from_alerts(
        analyst, [a2], tags=["c2", "ws2"], techniques=["T1071.001"], description="ws2 beacons"
    )
    task = cases.add_task(analyst, source.id, "Isolate ws2")
    cases.add_task(analyst, target.id, "Isolate ws1")
    cases.add_comment(analyst, source.id, "seen on ws2 too")
    att = cases.add_attachment(analyst, source.id, "pcap.txt", "text/plain", b"pcap")
    cases.add_timeline_entry(analyst, source.id, datetime.now(UTC), "ws2 first contact")
    # The same observable in both: one survives, with the stricter TLP and PAP.
    target_obs = cases.list_observables(analyst, target.id).items[0]
    source_obs = cases.list_observables(analyst, source.id).items[0]
    assert (target_obs.value, source_obs.value) == ("198.51.100.9", "198.51.100.9")
    cases.add_observable(analyst, source.id, "domain", "c2.example", tlp="red", pap="clear")
    cases.add_observable(analyst, target.id, "domain", "c2.example", tlp="green", pap="red")
    cases.add_observable(analyst, source.id, "host", "ws2", ioc=True)

    merged = cases.merge(analyst, target.id, [source.id])

    assert merged.counts == {
        "tasks": 2,
        "observables": 3,
        "alerts": 2,
        "comments": 1,
        "attachments": 1,
    }
    assert merged.tags == ["c2", "ws2"]
    assert merged.techniques == ["T1071", "T1071.001"]
    assert merged.description == f"Merged from case #{source.id}: Beacon from ws2\n\nws2 beacons"
    assert alert_case_id(db, a2) == target.id
    obs = {(o.type, o.value): o for o in cases.list_observables(analyst, target.id).items}
    assert (obs[("domain", "c2.example")].tlp, obs[("domain", "c2.example")].pap) == (
        "red",
        "red",
    )
    assert obs[("host", "ws2")].ioc is True
    tasks = cases.list_tasks(analyst, target.id).items
    assert [(t.title, t.position) for t in tasks] == [("Isolate ws1", 0), ("Isolate ws2", 1)]
    assert cases.list_attachments(analyst, target.id).items[0].id == att.id
    timeline_titles = [i.title for i in cases.timeline(analyst, target.id)]
    assert "ws2 first contact" in timeline_titles
    assert f"Case #{source.id} merged into this case" in timeline_titles

    closed = cases.get(analyst, source.id)
    assert (closed.status, closed.classification, closed.merged_into_id) == (
        "closed",
        "duplicate",
        target.id,
    )
    assert closed.counts == dict.fromkeys(closed.counts, 0)
    source_records = [(r.action, r.field, r.after) for r in history(db, "case", source.id)]
    assert ("merge", None, {"into": target.id}) in source_records
    assert ("update", "status", "closed") in source_records
    assert ("update", "classification", "duplicate") in source_records
    target_records = [(r.action, r.field, r.after) for r in history(db, "case", target.id)]
    assert ("merge", None, {"from": source.id}) in target_records
    assert any(a == "update" and f == "description" for a, f, _ in target_records)
    task_moves = [(r.field, r.before, r.after) for r in history(db, "task", task.id)][1:]
    assert task_moves == [("case_id", source.id, target.id)]
    alert_links = [(r.before, r.after) for r in history(db, "alert", a2) if r.action == "link"]
    assert alert_links == [(None, source.id), (source.id, target.id)]


def test_merge_never_duplicates_a_template_description(cases, analyst):
    cases.create_template(analyst, "ir", "Incident", "high", description=SHARED)
    target = cases.create(analyst, template="ir", title="Host A")
    source = cases.create(analyst, template="ir", title="Host B")
    merged = cases.merge(analyst, target.id, [source.id])
    assert merged.description == SHARED


def test_merging_twice_the_same_text_adds_it_once(cases, analyst):
    target = cases.create(analyst, title="A", severity="low", description="Root cause unknown.")
    b = cases.create(analyst, title="B", severity="low", description="Mail relay abused.")
    c = cases.create(analyst, title="C", severity="low", description="  Mail relay abused.\n")
    d = cases.create(analyst, title="D", severity="low", description="Mail relay abused.")
    first = cases.merge(analyst, target.id, [b.id])
    assert first.description == (
        f"Root cause unknown.\n\nMerged from case #{b.id}: B\n\nMail relay abused."
    )
    second = cases.merge(analyst, target.id, [c.id])
    assert second.description == first.description
    assert second.description.count("Mail relay abused.") == 1
    # Two sources with the same text in one merge: once too.
    e = cases.create(analyst, title="E", severity="low", description="Patch missing.")
    third = cases.merge(analyst, target.id, [d.id, e.id])
    assert third.description.count("Mail relay abused.") == 1
    assert third.description.count("Patch missing.") == 1
    assert third.description.endswith(f"Merged from case #{e.id}: E\n\nPatch missing.")


def test_merge_refusals(cases, analyst, responder):
    a = cases.create(analyst, title="A", severity="low")
    b = cases.create(analyst, title="B", severity="low")
    c = cases.create(analyst, title="C", severity="low")
    with pytest.raises(InvalidInputError, match="into itself"):
        cases.merge(analyst, a.id, [a.id])
    with pytest.raises(InvalidInputError, match="at least one"):
        cases.merge(analyst, a.id, [])
    with pytest.raises(NotFoundError, match="no case #4242"):
        cases.merge(analyst, a.id, [4242])
    cases.merge(analyst, a.id, [b.id])
    with pytest.raises(ConflictError, match=f"case #{b.id} was already merged into case #{a.id}"):
        cases.merge(analyst, c.id, [b.id])
    with pytest.raises(ConflictError, match="merged into"):
        cases.merge(analyst, b.id, [c.id])
    with pytest.raises(ConflictError, match="work in that case"):
        cases.reopen(analyst, b.id)
    cases.close(analyst, c.id, classification="false_positive")
    with pytest.raises(ConflictError, match="reopen it before merging"):
        cases.merge(analyst, c.id, [a.id])
    # The refused merges changed nothing.
    assert cases.get(analyst, a.id).status == "new"
    assert cases.get(analyst, a.id).merged_into_id is None


def test_merge_after_a_concurrent_edit_of_the_target_still_keeps_both(cases, analyst):
    target = cases.create(analyst, title="T", severity="low")
    source = cases.create(analyst, title="S", severity="high", description="from S")
    edited = cases.update(analyst, target.id, version=target.version, summary="in progress")
    merged = cases.merge(analyst, target.id, [source.id])
    assert merged.summary == "in progress"
    assert merged.version > edited.version
    with pytest.raises(ConflictError):
        cases.update(analyst, target.id, version=edited.version, title="stale")
