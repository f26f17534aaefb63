"""Weighing reasons into a score, a verdict and a severity."""

from __future__ import annotations

from tocsin.core.event import Reason
from tocsin.mail.scoring import WEIGHTS, Thresholds, Verdict, score


def r(check: str) -> Reason:
    return Reason(check, "evidence", 0.0)


def test_weights_come_from_the_table_and_sum():
    scored = score([r("link.shortener"), r("content.urgency")])
    assert scored.score == WEIGHTS["link.shortener"] + WEIGHTS["content.urgency"]
    assert [x.weight for x in scored.reasons] == sorted(
        (WEIGHTS["link.shortener"], WEIGHTS["content.urgency"]), reverse=True
    )


def test_unknown_checks_score_nothing_and_overrides_win():
    assert score([r("something.new")]).score == 0
    assert score([r("something.new")], weights={"something.new": 2.5}).score == 2.5


def test_verdict_and_severity_bands():
    t = Thresholds(suspicious=4, phishing=8, high=15, critical=25)
    assert score([], thresholds=t).verdict is Verdict.CLEAN
    assert score([], thresholds=t).severity is None
    four = score([r("x")], weights={"x": 4}, thresholds=t)
    assert (four.verdict, four.severity) == (Verdict.SUSPICIOUS, "low")
    assert score([r("x")], weights={"x": 8}, thresholds=t).severity == "medium"
    assert score([r("x")], weights={"x": 15}, thresholds=t).severity == "high"
    assert score([r("x")], weights={"x": 30}, thresholds=t).severity == "critical"


def test_a_check_counts_once_however_often_it_fired():
    fired = [Reason("attachment.executable", f"file{i}.exe", 0.0) for i in range(5)]
    scored = score(fired)
    assert scored.score == WEIGHTS["attachment.executable"]
    (reason,) = scored.reasons
    assert reason.detail == "file0.exe; file1.exe; file2.exe (+2 more)"
