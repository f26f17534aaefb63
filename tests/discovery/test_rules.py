"""Rule files: ours (YAML) and gitleaks' (TOML), allow-lists, baselines and SARIF."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from tocsin.discovery.allow import (
    filter_findings,
    parse_allow_list,
    read_baseline,
    repo_settings,
    write_baseline,
)
from tocsin.discovery.engine import Scanner
from tocsin.discovery.rules import RuleError, load_rules, load_yaml_rules
from tocsin.discovery.sarif import to_sarif
from tocsin.testing import secrets as fakes

GITLEAKS = r"""
title = "team rules"

[extend]
useDefault = true
disabledRules = ["jwt"]

[allowlist]
description = "global"
paths = ['''(?:^|/)vendor/''']

[[rules]]
id = "acme-api-key"
description = "ACME internal API key"
regex = '''\b(acme_[[:alnum:]]{32})\b'''
secretGroup = 1
entropy = 3.0
keywords = ["acme_"]

  [[rules.allowlists]]
  regexes = ['''acme_0{32}''']

[[rules]]
id = "pkcs12-file"
description = "PKCS#12 file"
path = '''\.p12$'''
"""


def test_builtin_rules_load_and_have_unique_ids() -> None:
    rules = load_rules().rules
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids)) and len(ids) >= 50
    assert {r.category for r in rules} == {"secret", "pii"}


def test_gitleaks_toml_rules_run_with_their_allow_lists(tmp_path: Path) -> None:
    path = tmp_path / "gitleaks.toml"
    path.write_text(GITLEAKS)
    rules = load_rules([path])
    ids = {r.id for r in rules.rules}
    assert "acme-api-key" in ids and "github-pat" in ids  # extends the defaults
    assert "jwt" not in ids  # disabledRules
    scanner = Scanner(rules)
    key = "acme_" + fakes.rand(random.Random(1), 32)
    found = scanner.scan_text(f"ACME={key}\n", "src/app.py")
    assert [f.rule_id for f in found] == ["acme-api-key"]
    assert scanner.scan_text("ACME=acme_" + "0" * 32, "src/app.py") == []  # rule allow-list
    assert scanner.scan_text(f"ACME={key}\n", "vendor/lib.py") == []  # global path allow
    assert [f.rule_id for f in scanner.scan_path_name("certs/client.p12")] == ["pkcs12-file"]


def test_gitleaks_file_without_extend_replaces_defaults(tmp_path: Path) -> None:
    path = tmp_path / "only.toml"
    path.write_text(GITLEAKS.replace("useDefault = true", "useDefault = false"))
    assert {r.id for r in load_rules([path]).rules} == {"acme-api-key", "pkcs12-file"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("rules:\n  - id: Bad Id\n    regex: x\n", "needs an id"),
        ("rules:\n  - id: a\n", "needs a regex or a path"),
        ("rules:\n  - id: a\n    regex: '('\n", "bad regex"),
        ("rules:\n  - id: a\n    regex: x\n    validator: nope\n", "unknown validator"),
        ("rules:\n  - id: a\n    regex: x\n    colour: red\n", "unknown keys"),
        ("rules: [\n", "not YAML"),
    ],
)
def test_bad_rule_files_name_the_problem(body: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        load_yaml_rules(body, "team.yaml")


def test_allow_list_paths_rules_values_and_fingerprints() -> None:
    rng = random.Random(2)
    pat = fakes.github_pat(rng)
    text = f"token={pat}\nmail bob@example.com\n"
    base = Scanner(load_rules())
    first = base.scan_text(text, "app/a.py")
    email = next(f for f in first if f.kind == "EMAIL")
    allow = parse_allow_list(
        f"paths: ['^vendor/']\nrules: [pii-ip-address]\nfingerprints:\n"
        f"  - fingerprint: {email.fingerprint}\n    reason: team address\n",
        "allow.yaml",
    )
    assert allow.skips_path("vendor/x.js") and not allow.skips_path("src/vendor.py")
    scanner = Scanner(allow.applied_to(load_rules()))
    kept, allowed, known = filter_findings(scanner.scan_text(text, "app/a.py"), allow)
    assert [f.rule_id for f in kept] == ["github-pat"] and allowed == 1 and known == 0
    by_value = parse_allow_list(f"regexes: ['^{pat[:10]}']\n", "allow.yaml")
    assert not any(
        f.rule_id == "github-pat"
        for f in Scanner(by_value.applied_to(load_rules())).scan_text(text, "app/a.py")
    )
    with pytest.raises(RuleError, match="unknown keys"):
        parse_allow_list("path: []\n", "allow.yaml")


def test_baseline_makes_only_new_findings_count(tmp_path: Path) -> None:
    rng = random.Random(3)
    scanner = Scanner(load_rules())
    old = scanner.scan_text(f"token={fakes.github_pat(rng)}\n", "app/a.py")
    (tmp_path / ".tocsin").mkdir()
    assert write_baseline(tmp_path / ".tocsin" / "discovery-baseline.json", old) == 1
    raw = (tmp_path / ".tocsin" / "discovery-baseline.json").read_text()
    assert "ghp_" in raw and "*" in raw  # masked, for review
    allow, baseline = repo_settings(tmp_path)
    # the same secret moved down two lines is still known; a new one is new
    moved = scanner.scan_text(
        "\n\n" + f"token={fakes.github_pat(random.Random(3))}\n" + f"t2={fakes.github_pat(rng)}",
        "app/a.py",
    )
    kept, _, known = filter_findings(moved, allow, baseline)
    assert known == 1 and len(kept) == 1 and kept[0].location.line == 4
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(RuleError, match="baseline"):
        read_baseline(bad)


def test_sarif_has_rules_regions_and_no_secret() -> None:
    rng = random.Random(4)
    pat = fakes.github_pat(rng)
    findings = Scanner(load_rules()).scan_text(f"\n  token={pat}\n", "src/app.py")
    log = to_sarif(findings)
    raw = orjson.dumps(log).decode()
    assert pat not in raw
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and run["tool"]["driver"]["rules"][0]["id"] == "github-pat"
    result = run["results"][0]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 2, "startColumn": 9, "endLine": 2, "endColumn": 49}
    assert result["level"] == "error"
    assert result["partialFingerprints"]["tocsin/v1"] == findings[0].fingerprint
