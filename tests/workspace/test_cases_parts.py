"""Case parts: tasks, observables, comments, attachments, timeline entries, templates."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from tests.workspace.case_helpers import add_alert, add_user, history
from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.core.settings import Settings
from tocsin.workspace.attachments import AttachmentTooLargeError
from tocsin.workspace.cases import CaseService


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path / "home", attachment_max_bytes=1000)


@pytest.fixture
def cases(db, settings):
    return CaseService(db, settings)


@pytest.fixture
def case(cases, analyst):
    return cases.create(analyst, title="Incident", severity="high")


def test_tasks_status_assignee_and_history(db, cases, case, analyst, responder):
    bob = add_user(db, "bob")
    due = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    first = cases.add_task(analyst, case.id, "Isolate host", assignee_id=bob, due_at=due)
    second = cases.add_task(responder, case.id, "Collect memory", description="winpmem")
    assert (first.position, second.position) == (0, 1)
    assert (first.status, first.assignee_id, first.due_at) == ("open", bob, due)
    started = cases.update_task(responder, first.id, version=first.version, status="in_progress")
    assert started.completed_at is None
    done = cases.update_task(responder, first.id, version=started.version, status="DONE")
    assert done.status == "done"
    assert done.completed_at is not None
    reopened = cases.update_task(analyst, first.id, version=done.version, status="open")
    assert reopened.completed_at is None
    records = [
        (r.action, r.field, r.before, r.after, r.actor) for r in history(db, "task", first.id)
    ]
    assert records[0][0] == "create"
    assert records[1:] == [
        ("update", "status", "open", "in_progress", "rex"),
        ("update", "status", "in_progress", "done", "rex"),
        ("update", "status", "done", "open", "ana"),
    ]
    with pytest.raises(ConflictError, match="task #"):
        cases.update_task(analyst, first.id, version=first.version, title="stale")
    with pytest.raises(InvalidInputError, match="unknown task status"):
        cases.update_task(analyst, first.id, version=reopened.version, status="blocked")
    with pytest.raises(InvalidInputError, match="cannot change case_id"):
        cases.update_task(analyst, first.id, version=reopened.version, case_id=2)
    with pytest.raises(InvalidInputError, match="no active user"):
        cases.add_task(analyst, case.id, "x", assignee_id=4242)
    with pytest.raises(NotFoundError):
        cases.update_task(analyst, 4242, version=1, title="x")
    naive = cases.update_task(
        analyst, first.id, version=reopened.version, due_at=datetime(2031, 6, 1, 8, 0)
    )
    assert naive.due_at == datetime(2031, 6, 1, 8, 0, tzinfo=UTC)
    titles = [t.title for t in cases.list_tasks(analyst, case.id).items]
    assert titles == ["Isolate host", "Collect memory"]
    assert cases.get(analyst, case.id).counts["tasks"] == 2
    # Adding parts leaves the case version alone: nobody's case edit conflicts with it.
    assert cases.get(analyst, case.id).version == case.version
    # The case history view includes its tasks' records.
    assert {e.entity_type for e in cases.history(analyst, case.id)} == {"case", "task"}


def test_observables_typed_unique_and_deletable(db, cases, case, analyst):
    ip = cases.add_observable(
        analyst, case.id, "IP", " 203.0.113.7 ", tlp="red", pap="green", ioc=True, tags=["c2"]
    )
    assert (ip.type, ip.value, ip.tlp, ip.pap, ip.ioc, ip.tags) == (
        "ip",
        "203.0.113.7",
        "red",
        "green",
        True,
        ["c2"],
    )
    with pytest.raises(ConflictError, match="already has the ip observable '203.0.113.7'"):
        cases.add_observable(analyst, case.id, "ip", "203.0.113.7")
    with pytest.raises(InvalidInputError, match="unknown observable type"):
        cases.add_observable(analyst, case.id, "phone", "555")
    with pytest.raises(InvalidInputError, match="unknown PAP"):
        cases.add_observable(analyst, case.id, "domain", "x.example", pap="amber+strict")
    cases.add_observable(analyst, case.id, "domain", "evil.example")
    assert [o.value for o in cases.list_observables(analyst, case.id).items] == [
        "203.0.113.7",
        "evil.example",
    ]
    cases.delete_observable(analyst, case.id, ip.id)
    assert [o.value for o in cases.list_observables(analyst, case.id).items] == ["evil.example"]
    with pytest.raises(NotFoundError):
        cases.delete_observable(analyst, case.id, ip.id)
    actions = [(r.action, r.before or r.after) for r in history(db, "case", case.id)[1:]]
    assert actions[0] == ("add_observable", {"id": ip.id, "type": "ip", "value": "203.0.113.7"})
    assert actions[-1] == ("delete_observable", {"id": ip.id, "type": "ip", "value": "203.0.113.7"})


def test_comments_are_append_only_and_bounded(db, cases, case, responder):
    comment = cases.add_comment(responder, case.id, "  Host isolated at 10:02  ")
    assert (comment.body, comment.author) == ("Host isolated at 10:02", "rex")
    with pytest.raises(InvalidInputError, match="must not be empty"):
        cases.add_comment(responder, case.id, "   ")
    cases.add_comment(responder, case.id, "x" * 100_000)
    with pytest.raises(InvalidInputError, match="the limit is 100000"):
        cases.add_comment(responder, case.id, "x" * 100_001)
    page = cases.list_comments(responder, case.id)
    assert page.total == 2
    assert page.items[0] == comment
    [record] = [r for r in history(db, "case", case.id) if r.action == "comment"][:1]
    assert record.after == {"comment_id": comment.id}
    assert not hasattr(cases, "update_comment")
    assert not hasattr(cases, "delete_comment")
    with pytest.raises(NotFoundError):
        cases.add_comment(responder, 4242, "x")


def test_attachments_are_content_addressed_and_private(db, cases, case, analyst, settings):
    data = b"MZ\x90\x00 sample"
    first = cases.add_attachment(analyst, case.id, "../../etc/passwd", "text/plain", data)
    second = cases.add_attachment(
        analyst, case.id, "C:\\Users\\bob\\evil\x00\x1b[31m.exe", "text/html; charset=x", data
    )
    sha = hashlib.sha256(data).hexdigest()
    assert (first.filename, first.size, first.sha256) == ("passwd", len(data), sha)
    assert second.filename == "evil[31m.exe"
    assert second.content_type == "text/html"
    stored = settings.attachments_dir / sha
    assert stored.read_bytes() == data
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert sorted(p.name for p in settings.attachments_dir.iterdir()) == [sha]  # stored once
    read, path = cases.open_attachment(analyst, first.id)
    assert (read, path) == (first, stored)
    assert [a.id for a in cases.list_attachments(analyst, case.id).items] == [first.id, second.id]
    record = [r for r in history(db, "case", case.id) if r.action == "attach"][0]
    assert record.after["sha256"] == sha
    with pytest.raises(NotFoundError):
        cases.open_attachment(analyst, 4242)


def test_attachment_size_limit_for_bytes_and_streams(cases, case, analyst, settings):
    exact = cases.add_attachment(analyst, case.id, "ok.bin", None, b"a" * 1000)
    assert exact.size == 1000
    with pytest.raises(InvalidInputError, match="limit of 1000 bytes"):
        cases.add_attachment(analyst, case.id, "big.bin", None, b"a" * 1001)

    class Endless(io.RawIOBase):
        """An upload that never ends; counts what was read."""

        read_bytes = 0

        def read(self, size=-1):
            size = 4096 if size is None or size < 0 else size
            self.read_bytes += size
            return b"z" * size

    stream = Endless()
    with pytest.raises(AttachmentTooLargeError) as info:
        cases.add_attachment(analyst, case.id, "endless.bin", None, stream)
    assert info.value.limit == 1000
    assert stream.read_bytes == 1001  # stopped one byte past the limit
    streamed = cases.add_attachment(analyst, case.id, "s.bin", None, io.BytesIO(b"b" * 999))
    assert streamed.size == 999
    leftovers = [p.name for p in settings.attachments_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert cases.get(analyst, case.id).counts["attachments"] == 2


def test_attachment_with_missing_bytes_is_not_found(cases, case, analyst, settings):
    att = cases.add_attachment(analyst, case.id, "a.txt", "text/plain", b"gone")
    (settings.attachments_dir / att.sha256).unlink()
    with pytest.raises(NotFoundError, match="missing"):
        cases.open_attachment(analyst, att.id)


def test_timeline_merges_every_source_in_time_order(db, cases, analyst, responder):
    alert = add_alert(db, "Malware beacon", "high", seen_minutes_ago=120)
    case = cases.create_from_alerts(analyst, [alert])
    when = datetime.now(UTC) - timedelta(minutes=60)
    entry = cases.add_timeline_entry(
        responder, case.id, when, "User opened the attachment", "per interview"
    )
    assert (entry.kind, entry.at, entry.actor) == ("entry", when, "rex")
    task = cases.add_task(analyst, case.id, "Reimage laptop")
    cases.update_task(responder, task.id, version=task.version, status="done")
    cases.add_comment(responder, case.id, "Reimaged\nsecond line")
    cases.update(analyst, case.id, version=case.version, status="in_progress")
    items = cases.timeline(analyst, case.id)
    kinds = [i.kind for i in items]
    assert kinds[:2] == ["alert", "entry"]
    assert items[0].title == f"Alert #{alert}: Malware beacon"
    assert items[0].ref["alert_id"] == alert
    assert "task_done" in kinds and "comment" in kinds
    done = next(i for i in items if i.kind == "task_done")
    assert (done.title, done.actor) == ("Task done: Reimage laptop", "rex")
    comment = next(i for i in items if i.kind == "comment")
    assert (comment.title, comment.description) == ("Reimaged", "Reimaged\nsecond line")
    titles = [i.title for i in items if i.kind == "history"]
    assert "Case created" in titles
    assert "status: new \u2192 in_progress" in titles
    assert f"Alerts linked: #{alert}" in titles
    # Comments and manual entries appear once, not again as history records.
    assert not any(i.ref.get("action") in {"comment", "timeline"} for i in items)
    assert [i.at for i in items] == sorted(i.at for i in items)
    with pytest.raises(InvalidInputError):
        cases.add_timeline_entry(responder, case.id, "yesterday", "x")


def test_templates_crud(cases, analyst, reader):
    tpl = cases.create_template(
        analyst,
        "malware",
        "Malware infection",
        "high",
        tags=["malware"],
        tasks=["Isolate", {"title": "Scan", "description": "full scan"}],
    )
    assert tpl.tasks == [
        {"title": "Isolate", "description": ""},
        {"title": "Scan", "description": "full scan"},
    ]
    with pytest.raises(ConflictError, match="exists already"):
        cases.create_template(analyst, "malware", "Other", "low")
    with pytest.raises(InvalidInputError, match="task title"):
        cases.create_template(analyst, "bad", "Bad", "low", tasks=[{"description": "no title"}])
    assert [t.name for t in cases.list_templates(reader)] == ["malware"]
    assert cases.get_template(reader, "malware") == tpl
    assert cases.get_template(reader, tpl.id) == tpl
    case = cases.create(analyst, template="malware")
    cases.delete_template(analyst, tpl.id)
    assert cases.list_templates(reader) == []
    assert cases.get(analyst, case.id).template_id is None
    assert cases.get(analyst, case.id).counts["tasks"] == 2  # copied, not referenced
    with pytest.raises(NotFoundError):
        cases.delete_template(analyst, "malware")
