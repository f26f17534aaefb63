"""The analyzer end to end on messages the tests build: verdicts, reasons, observables."""

from __future__ import annotations

import pytest

from tests.mail import corpus
from tocsin.intel.names import Impersonated
from tocsin.mail.analyze import MailAnalyzer, MailPolicy
from tocsin.mail.scoring import Thresholds, Verdict


@pytest.fixture(scope="module")
def analyzer() -> MailAnalyzer:
    return MailAnalyzer(MailPolicy(protected_domains=(corpus.ORG,)))


def checks(analysis) -> set[str]:
    return {r.check for r in analysis.scored.reasons if r.weight > 0}


@pytest.mark.parametrize("kind", sorted(corpus.KINDS))
def test_each_kind_gets_its_verdict(analyzer, kind):
    build, expected = corpus.KINDS[kind]
    analysis = analyzer.analyze_bytes(build(), source=f"{kind}.eml")
    assert analysis.verdict.value == expected, analysis.to_dict()["reasons"]
    # the score is the sum of the listed weights: the verdict explains itself
    assert analysis.scored.score == pytest.approx(sum(r.weight for r in analysis.scored.reasons))


def test_brand_phish_names_its_evidence(analyzer):
    analysis = analyzer.analyze_bytes(corpus.brand_phish())
    found = checks(analysis)
    assert {"sender.brand_impersonation", "link.text_mismatch"} <= found
    mismatch = next(r for r in analysis.scored.reasons if r.check == "link.text_mismatch")
    assert "paypa1-secure-login.top" in mismatch.detail
    assert {"type": "url", "value": "http://paypa1-secure-login.top/verify"} in [
        o.to_dict() for o in analysis.observables
    ]


def test_lookalike_of_our_domain_is_named(analyzer):
    analysis = analyzer.analyze_bytes(corpus.lookalike_sender())
    reason = next(r for r in analysis.scored.reasons if r.check == "sender.lookalike_domain")
    assert "corp.example" in reason.detail and "corp-examp1e.com" in reason.detail


def test_without_the_protected_domain_the_lookalike_is_not_flagged():
    plain = MailAnalyzer(MailPolicy())
    analysis = plain.analyze_bytes(corpus.lookalike_sender())
    assert "sender.lookalike_domain" not in checks(analysis)


def test_bec_signs(analyzer):
    found = checks(analyzer.analyze_bytes(corpus.bec()))
    assert "sender.reply_to_freemail" in found
    assert "content.payment_request" in found


def test_vip_impersonation_needs_the_vip():
    vip = Impersonated("Dana Whitfield", "vip", (f"dana.whitfield@{corpus.ORG}",), ())
    with_vip = MailAnalyzer(MailPolicy(protected_domains=(corpus.ORG,), vips=(vip,)))
    analysis = with_vip.analyze_bytes(corpus.bec())
    assert "sender.vip_impersonation" in checks(analysis)
    assert analysis.verdict is Verdict.PHISHING
    # the real Dana writing from her real address is not an impostor
    real = corpus._msg(f"Dana Whitfield <dana.whitfield@{corpus.ORG}>", "Board pack", "See you.")
    assert "sender.vip_impersonation" not in checks(with_vip.analyze_bytes(real.as_bytes()))


def test_macro_attachment_and_password_form(analyzer):
    assert "attachment.office_macro" in checks(analyzer.analyze_bytes(corpus.macro_attachment()))
    found = checks(analyzer.analyze_bytes(corpus.password_form()))
    assert "content.password_form" in found
    assert "link.ip_literal" in found


def test_thresholds_and_weights_are_configurable():
    raw = corpus.bec()
    strict = MailAnalyzer(MailPolicy(thresholds=Thresholds(suspicious=1.0, phishing=2.0)))
    assert strict.analyze_bytes(raw).verdict is Verdict.PHISHING
    muted = MailAnalyzer(
        MailPolicy(weights={"sender.reply_to_freemail": 0.0, "content.payment_request": 0.0})
    )
    analysis = muted.analyze_bytes(raw)
    assert "sender.reply_to_freemail" not in checks(analysis)
    assert analysis.verdict is Verdict.CLEAN


def test_output_row_shape(analyzer):
    row = analyzer.analyze_bytes(corpus.brand_phish(), source="a.eml").to_dict()
    assert row["file"] == "a.eml"
    assert row["verdict"] == "phishing"
    assert row["message_id"].endswith("@test.example>")
    assert all(set(r) == {"check", "detail", "weight"} for r in row["reasons"])
    # reasons come strongest first
    weights = [r["weight"] for r in row["reasons"]]
    assert weights == sorted(weights, reverse=True)


def test_event_carries_the_verdict_and_pivots(analyzer):
    event = analyzer.analyze_bytes(corpus.macro_attachment(), source="m.eml").to_event()
    assert event["event.dataset"] == "mail.message"
    assert event["tocsin.mail.verdict"] == "phishing"
    assert len(event["tocsin.mail.hashes"]) == 1
    assert event["email.from.address"] == ["billing@northwind-invoices.example"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 1000,
        b"From: <<<>>>\nSubject: =?bogus?q?x?=\nContent-Type: multipart/mixed\n\nno boundary",
        b"Content-Type: multipart/mixed; boundary=a\n\n" + b"--a\nContent-Type: multipart/mixed;"
        b" boundary=a\n\n" * 400,
        b"Subject: " + b"A" * 2_000_000 + b"\n\nbody",
    ],
    ids=["empty", "binary", "broken-headers", "deep-nesting", "huge-header"],
)
def test_hostile_input_gets_a_verdict(analyzer, raw):
    # a crash fails the test, a hang trips pytest-timeout; either way nothing is lost
    analysis = analyzer.analyze_bytes(raw)
    assert analysis.verdict in set(Verdict)
    assert analysis.to_dict()["file"] == "-"
