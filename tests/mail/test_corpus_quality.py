"""The verdicts on the real mail of ../shared/data/mail: the issue's targets as a regression
test (at least 95% of phishing flagged, at most 2% of ham flagged). Skips without ../shared."""

from __future__ import annotations

from tocsin.mail.analyze import MailAnalyzer, MailPolicy


def verdicts(folder) -> list[str]:
    analyzer = MailAnalyzer(MailPolicy())
    return [
        analyzer.analyze_bytes(path.read_bytes(), source=path.name).verdict.value
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix.lower() not in (".md", ".json")
    ]


def test_phishing_is_flagged_and_ham_is_not(shared_data):
    mail = shared_data / "mail"
    phish = verdicts(mail / "phish") + verdicts(mail / "curated")
    ham = verdicts(mail / "ham")
    assert len(phish) >= 40 and len(ham) >= 20
    flagged = sum(v != "clean" for v in phish) / len(phish)
    false_alarms = sum(v != "clean" for v in ham) / len(ham)
    assert flagged >= 0.95, f"{flagged:.1%} of phishing flagged"
    assert false_alarms <= 0.02, f"{false_alarms:.1%} of ham flagged"


def test_the_budget_stops_a_slow_analysis_and_says_so():
    from tests.mail import corpus

    analyzer = MailAnalyzer(MailPolicy(time_budget=0.0))
    analysis = analyzer.analyze_bytes(corpus.macro_attachment())
    assert "message.budget_exceeded" in {r.check for r in analysis.scored.reasons}
    assert any("time budget" in issue for issue in analysis.issues)
