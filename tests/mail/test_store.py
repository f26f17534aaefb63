"""Keeping verdicts: events in a real Parquet lake, alerts in a real workspace, the campaign
search over them, and the reporter's answer in the outbox."""

from __future__ import annotations

import pytest

from tests.mail import corpus
from tocsin.core.event import make_event_id
from tocsin.core.settings import Settings
from tocsin.lake.reader import LakeReader
from tocsin.mail.analyze import MailAnalyzer, MailPolicy
from tocsin.mail.answer import EVENT, queue_answer, render_answer
from tocsin.mail.campaign import campaign_query, find_campaign, pivots_from
from tocsin.mail.store import RULE_ID, store_analyses
from tocsin.respond.delivery import build_message
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace
from tocsin.workspace.tables import Notification


@pytest.fixture
def home(tmp_path):
    settings = Settings(home=tmp_path / "home")
    workspace = Workspace.open(settings)
    yield settings, workspace
    workspace.close()


def analyse_all(raws):
    analyzer = MailAnalyzer(MailPolicy(protected_domains=(corpus.ORG,)))
    return [
        (analyzer.analyze_bytes(raw, source=f"m{i}.eml"), make_event_id("mail:test", i))
        for i, raw in enumerate(raws)
    ]


def campaign_copies(n: int) -> list[bytes]:
    """The same macro invoice sent to n people (one attachment hash, one sender)."""
    copies = []
    for i in range(n):
        raw = corpus.macro_attachment().replace(
            b"To: j.doe@corp.example", f"To: user{i}@corp.example".encode()
        )
        copies.append(raw.replace(b"@test.example>", f"-{i}@test.example>".encode()))
    return copies


def test_events_land_in_the_lake_and_phishing_raises_one_alert_each(home):
    settings, workspace = home
    items = analyse_all([corpus.internal(), corpus.brand_phish(), corpus.newsletter()])
    report = store_analyses(settings, items, workspace=workspace)
    assert report.alerts_new == 1
    reader = LakeReader(settings.lake_dir)
    events = reader.search("event.dataset:mail.message", limit=10).events
    assert len(events) == 3
    verdicts = sorted(str(e["tocsin.mail.verdict"]) for e in events)
    assert verdicts == ["clean", "clean", "phishing"]
    alert_id = report.stored[1].alert_id
    assert alert_id is not None and report.stored[0].alert_id is None
    alert = workspace.alerts.get(Principal.local(), alert_id)
    assert alert.rule_id == RULE_ID
    assert "attack.t1566.002" in alert.tags  # a link phish
    assert {"type": "email", "value": "service@mail-notice.top"} in alert.observables
    assert alert.reasons and alert.reasons[0]["weight"] > 0


def test_storing_twice_keeps_one_event_and_one_alert(home):
    settings, workspace = home
    items = analyse_all([corpus.brand_phish()])
    first = store_analyses(settings, items, workspace=workspace)
    again = store_analyses(settings, items, workspace=workspace)
    assert (first.alerts_new, first.already_stored) == (1, 0)
    assert (again.alerts_new, again.alerts_updated, again.already_stored) == (0, 0, 1)
    reader = LakeReader(settings.lake_dir)
    assert reader.count("event.dataset:mail.message") == 1


def test_suspicious_alerts_only_when_asked(home):
    settings, workspace = home
    items = analyse_all([corpus.bec()])
    assert items[0][0].verdict.value == "suspicious"
    assert store_analyses(settings, items, workspace=workspace).alerts_new == 0
    again = [(items[0][0], make_event_id("mail:test", "again"))]
    report = store_analyses(settings, again, workspace=workspace, alert_suspicious=True)
    assert report.alerts_new == 1


def test_find_the_campaign_by_shared_attachment_and_sender(home):
    settings, workspace = home
    items = analyse_all([*campaign_copies(3), corpus.internal()])
    store_analyses(settings, items, workspace=workspace)
    analysis = items[0][0]
    pivots = pivots_from(
        ((o.type, o.value) for o in analysis.observables), analysis.message.subject
    )
    found = find_campaign(LakeReader(settings.lake_dir), pivots)
    assert len(found.messages) == 3  # the internal note shares nothing
    assert sorted(found.recipients) == [f"user{i}@corp.example" for i in range(3)]
    assert all({"sender", "attachment"} <= set(m.shared) for m in found.messages)


def test_campaign_query_skips_freemail_and_brand_domains():
    pivots = pivots_from(
        [("domain", "gmail.com"), ("domain", "microsoft.com"), ("domain", "evil.example")]
    )
    query = campaign_query(pivots)
    assert '"evil.example"' in query
    assert "gmail.com" not in query and "microsoft.com" not in query
    with pytest.raises(ValueError, match="nothing to look for"):
        campaign_query(pivots_from([("domain", "gmail.com")]))


def test_quotes_in_values_cannot_break_the_query(home):
    settings, _workspace = home
    pivots = pivots_from([("email", 'x" OR event.dataset:mail.message OR "@evil.example')])
    found = find_campaign(LakeReader(settings.lake_dir), pivots)
    assert found.messages == []


def test_reporter_answer_is_rendered_and_queued(home):
    settings, workspace = home
    analysis, _event_id = analyse_all([corpus.brand_phish()])[0]
    text = render_answer(
        "phishing",
        subject=analysis.message.subject,
        sender=analysis.message.from_address,
        reasons=analysis.scored.reasons,
        alert_id=42,
    )
    assert "PHISHING" in text and "service@mail-notice.top" in text
    assert "pretends to be a company" in text and "alert 42" in text
    channel = workspace.channels.create_channel(
        Principal.local(),
        "mail out",
        "email",
        {"host": "127.0.0.1", "port": 2525, "from_address": "soc@corp.example"},
    )
    note_id = queue_answer(
        workspace.db, channel.id, "j.doe@corp.example", analysis.message.subject, text
    )
    with workspace.db.session() as session:
        row = session.get(Notification, note_id)
        assert row.event == EVENT and row.recipients == ["j.doe@corp.example"]
        message = build_message(row.event, row.subject, row.payload, row.recipients)
    assert message.text == text  # sent as written, no console details for the reporter
    assert message.subject.startswith("Re: Your account has been limited")


def test_home_template_overrides_the_builtin(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "answer_clean.txt").write_text("Safe: {{ subject }}\n")
    text = render_answer("clean", subject="Hi", sender=None, reasons=[], template_dir=folder)
    assert text == "Safe: Hi\n"
