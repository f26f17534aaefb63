"""Mail and the block lists, on a real workspace: blocking a phish, and the lists in verdicts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.mail import corpus
from tocsin.core.errors import InvalidInputError
from tocsin.core.event import make_event_id
from tocsin.core.settings import Settings
from tocsin.mail.analyze import MailAnalyzer
from tocsin.mail.blocking import block_alert, blockable_domain, drafts_for
from tocsin.mail.policy import build_policy
from tocsin.mail.store import store_analyses
from tocsin.respond.blocklist import BlockLists, EntryDraft
from tocsin.workspace.models import AlertDraft
from tocsin.workspace.permissions import Principal


@pytest.fixture
def home(tmp_path):
    from tocsin.workspace.service import Workspace

    settings = Settings(home=tmp_path / "home", mail_protected_domains=[corpus.ORG])
    workspace = Workspace.open(settings)
    yield settings, workspace
    workspace.close()


def test_shared_domains_are_never_blocked_whole():
    assert blockable_domain("paypa1-secure-login.top")
    for shared in ("gmail.com", "microsoft.com", "docs.google.com", "bit.ly", "corp.example"):
        assert not blockable_domain(shared, protected=[corpus.ORG]), shared
    drafts = drafts_for(
        [("email", "x@gmail.com"), ("domain", "gmail.com"), ("url", "https://evil.example/a")],
        source="alert:1",
        reason="test",
        ttl=timedelta(days=1),
    )
    assert [(d.kind, d.value) for d in drafts] == [
        ("email", "x@gmail.com"),
        ("url", "https://evil.example/a"),
    ]


def test_block_a_phishing_alert_with_provenance_and_expiry(home):
    settings, workspace = home
    analysis = MailAnalyzer(build_policy(settings).policy).analyze_bytes(corpus.brand_phish())
    report = store_analyses(settings, [(analysis, make_event_id("mail:t", 0))], workspace=workspace)
    alert_id = report.stored[0].alert_id
    results = block_alert(workspace, Principal.local(), alert_id, ttl=timedelta(days=30))
    entries = {(r.entry.kind.value, r.entry.value): r.entry for r in results}
    assert ("email", "service@mail-notice.top") in entries
    assert ("domain", "paypa1-secure-login.top") in entries
    assert ("url", "http://paypa1-secure-login.top/verify") in entries
    entry = entries[("email", "service@mail-notice.top")]
    assert entry.source == f"alert:{alert_id}" and entry.expires_at is not None
    # a second analysis of the same phish now meets the block list
    again = MailAnalyzer(build_policy(settings).policy).analyze_bytes(corpus.brand_phish())
    checks = {r.check for r in again.scored.reasons}
    assert {"blocklist.sender", "blocklist.url"} <= checks


def test_only_mail_alerts_can_be_blocked_this_way(home):
    _settings, workspace = home
    other = workspace.raise_alert(AlertDraft("some.rule", "x", "low"))
    with pytest.raises(InvalidInputError, match="not a mail.phishing alert"):
        block_alert(workspace, Principal.local(), other, ttl=None)


def test_allowed_sender_lowers_the_score(home):
    settings, workspace = home
    raw = corpus.bec()
    before = MailAnalyzer(build_policy(settings).policy).analyze_bytes(raw)
    BlockLists(workspace.db).add(
        Principal.local(), [EntryDraft("dana.whitfield.ceo@gmail.com", list="allow")]
    )
    after = MailAnalyzer(build_policy(settings).policy).analyze_bytes(raw)
    assert "allowlist.sender" in {r.check for r in after.scored.reasons}
    assert after.scored.score < before.scored.score


def test_auto_block_on_phishing(tmp_path):
    from tocsin.workspace.service import Workspace

    settings = Settings(home=tmp_path / "home", mail_auto_block=True, mail_block_days=7)
    workspace = Workspace.open(settings)
    try:
        analysis = MailAnalyzer(build_policy(settings).policy).analyze_bytes(corpus.brand_phish())
        report = store_analyses(
            settings, [(analysis, make_event_id("mail:t", 1))], workspace=workspace
        )
        assert report.blocked >= 3
        snapshot = BlockLists(workspace.db).snapshot(Principal.local())
        assert snapshot.is_blocked("email", "service@mail-notice.top")
    finally:
        workspace.close()


def test_offline_analysis_does_not_create_a_workspace(tmp_path):
    settings = Settings(home=tmp_path / "nothing-here")
    loaded = build_policy(settings)
    assert loaded.policy.lists is None
    assert not (tmp_path / "nothing-here").exists()


def test_first_contact_once_the_lake_knows_senders(home):
    settings, workspace = home
    # no mail in the lake yet: no first-contact reason (every sender would be new)
    assert build_policy(settings).policy.known_senders is None
    analysis = MailAnalyzer(build_policy(settings).policy).analyze_bytes(corpus.internal())
    store_analyses(settings, [(analysis, make_event_id("mail:t", 9))], workspace=workspace)
    policy = build_policy(settings).policy
    assert policy.known_senders == frozenset({f"s.patel@{corpus.ORG}"})
    analyzer = MailAnalyzer(policy)
    assert "sender.first_contact" not in {
        r.check for r in analyzer.analyze_bytes(corpus.internal()).scored.reasons
    }
    assert "sender.first_contact" in {
        r.check for r in analyzer.analyze_bytes(corpus.newsletter()).scored.reasons
    }
