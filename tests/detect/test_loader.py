"""Rule loading: which rules load, which issues are reported, and that the rest still load."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

from sigma.correlations import SigmaCorrelationRule
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from tocsin.detect.loader import RuleIssue, iter_rule_files, load_rules
from tocsin.workspace.models import Severity

DATA = Path(__file__).resolve().parents[1] / "data" / "sigma"
GOOD = DATA / "good"
BAD = DATA / "bad"
PLACEHOLDER = DATA / "placeholder"

WHOAMI = "0b4c1d2e-0001-4a00-8000-000000000001"
SHELL_WIN = "0b4c1d2e-0002-4a00-8000-000000000002"
SHELL_LINUX = "0b4c1d2e-0003-4a00-8000-000000000003"
CORRELATION = "0b4c1d2e-0004-4a00-8000-000000000004"
FILTER = "0b4c1d2e-0005-4a00-8000-000000000005"
NO_ID_DERIVED = str(
    uuid.uuid5(
        uuid.NAMESPACE_URL, f"{(BAD / 'no_id_no_level.yml').as_posix()}#Tocsin Test No Id No Level"
    )
)


def test_good_rules_load_one_per_kind():
    ruleset = load_rules([GOOD])
    assert ruleset.issues == []
    by_id = {r.id: r for r in ruleset.rules}
    assert sorted(by_id) == sorted([WHOAMI, SHELL_WIN, SHELL_LINUX, CORRELATION, FILTER])

    whoami = by_id[WHOAMI]
    assert whoami.kind == "detection"
    assert isinstance(whoami.sigma, SigmaRule)
    assert whoami.title == "Tocsin Test Whoami Execution"
    assert whoami.level is Severity.HIGH
    assert whoami.status == "test"
    assert whoami.tags == ("attack.discovery", "attack.t1033")
    assert (whoami.product, whoami.category, whoami.service) == (
        "windows",
        "process_creation",
        None,
    )
    assert whoami.references == ("https://example.invalid/whoami",)
    assert whoami.falsepositives == ("Administrators",)
    assert whoami.path == GOOD / "proc_whoami.yml"
    assert whoami.to_row()["tags"] == "attack.discovery,attack.t1033"

    # action: global merges into each following document
    win, linux = by_id[SHELL_WIN], by_id[SHELL_LINUX]
    assert win.title == linux.title == "Tocsin Test Suspicious Shell Start"
    assert win.level is linux.level is Severity.MEDIUM
    assert win.status == "experimental"
    assert (win.product, win.category) == ("windows", "process_creation")
    assert (linux.product, linux.service) == ("linux", "auditd")
    assert win.path == linux.path == GOOD / "collection_global.yml"

    correlation = by_id[CORRELATION]
    assert correlation.kind == "correlation"
    assert isinstance(correlation.sigma, SigmaCorrelationRule)
    assert correlation.level is Severity.CRITICAL
    assert correlation.rule_refs == ("tocsin_test_whoami",)

    filt = by_id[FILTER]
    assert filt.kind == "filter"
    assert isinstance(filt.sigma, SigmaFilter)
    assert filt.rule_refs == (WHOAMI,)


def test_bad_rules_are_reported_and_the_rest_still_load():
    ruleset = load_rules([GOOD, BAD])
    loaded = {r.id for r in ruleset.rules}
    assert loaded == {WHOAMI, SHELL_WIN, SHELL_LINUX, CORRELATION, FILTER, NO_ID_DERIVED}
    got = sorted((i.path.name, i.rule_id, i.severity) for i in ruleset.issues)
    assert got == sorted(
        [
            ("bad_modifier.yml", "0b4c1d2e-0011-4a00-8000-000000000011", "error"),
            ("corr_unknown.yml", "0b4c1d2e-0012-4a00-8000-000000000012", "error"),
            ("duplicate.yml", WHOAMI, "error"),
            ("malformed.yml", None, "error"),
            ("no_id_no_level.yml", NO_ID_DERIVED, "warning"),
            ("no_id_no_level.yml", NO_ID_DERIVED, "warning"),
        ]
    )
    messages = {i.path.name + "/" + i.message for i in ruleset.issues}
    assert "bad_modifier.yml/Unknown modifier 'endswiths'" in messages
    assert "corr_unknown.yml/correlation refers to unknown rules: 'no_such_rule'" in messages
    malformed = next(i for i in ruleset.issues if i.path.name == "malformed.yml")
    assert malformed.message.startswith("invalid YAML: line 6, column 14:")
    duplicate = next(i for i in ruleset.issues if i.path.name == "duplicate.yml")
    assert duplicate.message == (
        f"duplicate rule id {WHOAMI!r}: already loaded from {GOOD / 'proc_whoami.yml'}"
    )
    # the first of the duplicates is the one kept
    assert next(r for r in ruleset.rules if r.id == WHOAMI).path == GOOD / "proc_whoami.yml"
    no_id = next(r for r in ruleset.rules if r.id == NO_ID_DERIVED)
    assert no_id.level is Severity.MEDIUM
    assert sorted(i.message for i in ruleset.issues if i.rule_id == NO_ID_DERIVED) == [
        "rule has no id: derived one from path and title",
        "rule has no level: using medium",
    ]
    assert len(ruleset.errors) == 4
    assert len(ruleset.warnings) == 2


def test_derived_id_is_deterministic():
    first = {r.id for r in load_rules([BAD]).rules}
    second = {r.id for r in load_rules([BAD]).rules}
    assert first == second == {WHOAMI, NO_ID_DERIVED}  # bad/duplicate.yml alone is no duplicate


def test_placeholders_resolved_with_values():
    ruleset = load_rules([PLACEHOLDER], placeholders={"admin_hosts": ["ADMIN01", "ADMIN02"]})
    assert ruleset.issues == []
    (rule,) = ruleset.rules
    assert isinstance(rule.sigma, SigmaRule)
    item = rule.sigma.detection.detections["selection"].detection_items[1]
    assert item.field == "WorkstationName"
    assert [str(v) for v in item.value] == ["ADMIN01", "ADMIN02"]


def test_missing_placeholder_is_an_error_and_others_still_load():
    ruleset = load_rules([PLACEHOLDER, GOOD], placeholders={"other": ["x"]})
    assert ruleset.issues == [
        RuleIssue(
            PLACEHOLDER / "admin_hosts.yml",
            "0b4c1d2e-0020-4a00-8000-000000000020",
            "error",
            "unresolved placeholder %admin_hosts%",
        )
    ]
    assert len(ruleset.rules) == 5
    assert len(load_rules([PLACEHOLDER]).errors) == 1


def test_iter_rule_files_finds_yml_and_yaml_sorted():
    names = [p.name for p in iter_rule_files([GOOD])]
    assert names == [
        "collection_global.yml",
        "corr_many_whoami.yml",
        "filter_admin.yaml",
        "proc_whoami.yml",
    ]


def test_unreadable_path_is_an_issue(tmp_path):
    missing = tmp_path / "nope.yml"
    ruleset = load_rules([missing])
    assert ruleset.rules == []
    assert [(i.path, i.severity) for i in ruleset.issues] == [(missing, "error")]


def test_sigmahq_windows_rules_load(shared_data):
    folder = shared_data / "sigma" / "rules" / "windows"
    started = time.perf_counter()
    ruleset = load_rules([folder])
    elapsed = time.perf_counter() - started
    kinds = Counter(r.kind for r in ruleset.rules)
    print(
        f"\nSigmaHQ windows: {len(ruleset.rules)} loaded {dict(kinds)}, "
        f"{len(ruleset.errors)} errors, {len(ruleset.warnings)} warnings in {elapsed:.1f}s"
    )
    for issue in ruleset.errors[:20]:
        print(issue)
    assert len(ruleset.rules) > 2000
    assert len(ruleset.errors) < 0.02 * (len(ruleset.rules) + len(ruleset.errors))
