"""What a team has decided not to hear about again: allow-lists and baselines.

An **allow-list** (YAML) skips paths, turns rules off, allows values (by regex or stopword)
and allows single findings by fingerprint::

    paths: ['^vendor/', '\\.min\\.js$']     # regexes on the path: not scanned at all
    rules: [pii-ip-address]                 # rules turned off
    regexes: ['^AKIA[A-Z2-7]{12}TEST$']     # values allowed wherever they are
    stopwords: [localhost]
    fingerprints:                           # single findings, with why
      - fingerprint: 3f2a...
        reason: test key of the sandbox account

A **baseline** (JSON) lists the findings that were there when a team started (or accepted):
only findings not in it are new. A repository keeps both in ``.tocsin/`` at its root
(``discovery-allow.yaml`` and ``discovery-baseline.json``), which ``discovery diff`` reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import yaml

from tocsin.discovery.findings import Finding
from tocsin.discovery.rules import Allow, RuleError, RuleSet

REPO_DIR = ".tocsin"
ALLOW_FILE = "discovery-allow.yaml"
BASELINE_FILE = "discovery-baseline.json"


@dataclass(frozen=True, slots=True)
class AllowList:
    """A user's allow-list, compiled."""

    paths: tuple[re.Pattern[str], ...] = ()
    rules: frozenset[str] = frozenset()
    values: Allow | None = None
    fingerprints: frozenset[str] = frozenset()

    def skips_path(self, path: str) -> bool:
        """Whether a path is not to be scanned at all."""
        return any(p.search(path) is not None for p in self.paths)

    def applied_to(self, ruleset: RuleSet) -> RuleSet:
        """The rule set without the rules turned off and with the allowed values."""
        out = ruleset.without(self.rules)
        if self.values is not None:
            out = RuleSet(out.rules, out.allow + (self.values,))
        return out

    def keeps(self, finding: Finding) -> bool:
        """Whether a finding survives its fingerprint allowance."""
        return finding.fingerprint not in self.fingerprints

    def merged(self, other: AllowList) -> AllowList:
        """Both lists at once."""
        values = tuple(v for v in (self.values, other.values) if v is not None)
        joined = None
        if values:
            joined = Allow(
                regexes=tuple(r for v in values for r in v.regexes),
                stopwords=tuple(s for v in values for s in v.stopwords),
            )
        return AllowList(
            self.paths + other.paths,
            self.rules | other.rules,
            joined,
            self.fingerprints | other.fingerprints,
        )


def parse_allow_list(text: str, origin: str) -> AllowList:
    """An allow-list from its YAML text (``origin`` names it in errors)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RuleError(f"{origin}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RuleError(f"{origin}: expected a mapping (paths, rules, regexes, fingerprints)")
    unknown = set(data) - {"paths", "rules", "regexes", "stopwords", "fingerprints"}
    if unknown:
        raise RuleError(f"{origin}: unknown keys {sorted(unknown)}")

    def strings(key: str) -> list[str]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RuleError(f"{origin}: {key} must be a list of strings")
        return value

    def compiled(key: str) -> tuple[re.Pattern[str], ...]:
        out = []
        for pattern in strings(key):
            try:
                out.append(re.compile(pattern))
            except re.error as exc:
                raise RuleError(f"{origin}: {key}: bad regex {pattern!r}: {exc}") from None
        return tuple(out)

    prints: set[str] = set()
    for item in data.get("fingerprints") or []:
        if isinstance(item, str):
            prints.add(item)
        elif isinstance(item, dict) and isinstance(item.get("fingerprint"), str):
            prints.add(item["fingerprint"])
        else:
            raise RuleError(f"{origin}: fingerprints: each is a string or has a 'fingerprint'")
    regexes = compiled("regexes")
    stopwords = tuple(w.lower() for w in strings("stopwords"))
    return AllowList(
        paths=compiled("paths"),
        rules=frozenset(strings("rules")),
        values=Allow(regexes=regexes, stopwords=stopwords) if regexes or stopwords else None,
        fingerprints=frozenset(prints),
    )


def read_allow_list(path: Path) -> AllowList:
    """The allow-list in a file (an absent file allows nothing)."""
    if not path.exists():
        return AllowList()
    try:
        return parse_allow_list(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from None


@dataclass(frozen=True, slots=True)
class Baseline:
    """Fingerprints of accepted findings."""

    fingerprints: frozenset[str] = frozenset()

    def is_new(self, finding: Finding) -> bool:
        """Whether a finding was not in the baseline."""
        return finding.fingerprint not in self.fingerprints


def read_baseline(path: Path) -> Baseline:
    """A baseline file (an absent file is an empty baseline)."""
    if not path.exists():
        return Baseline()
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RuleError(f"{path}: not a baseline: {exc}") from None
    items = data.get("findings", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise RuleError(f"{path}: a baseline is an object with a 'findings' list")
    prints = {i["fingerprint"] for i in items if isinstance(i, dict) and "fingerprint" in i}
    return Baseline(frozenset(prints))


def write_baseline(path: Path, findings: Sequence[Finding]) -> int:
    """Write the findings' fingerprints (with masked values, for review); how many."""
    seen: dict[str, dict[str, object]] = {}
    for f in findings:
        seen.setdefault(
            f.fingerprint,
            {
                "fingerprint": f.fingerprint,
                "rule": f.rule_id,
                "path": f.location.path,
                "line": f.location.line,
                "masked": f.masked,
            },
        )
    body = {
        "tool": "tocsin discovery",
        "version": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "findings": sorted(seen.values(), key=lambda d: (str(d["path"]), str(d["rule"]))),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
    return len(seen)


def repo_settings(root: Path) -> tuple[AllowList, Baseline]:
    """A repository's own allow-list and baseline from ``.tocsin/`` at its root."""
    folder = root / REPO_DIR
    return read_allow_list(folder / ALLOW_FILE), read_baseline(folder / BASELINE_FILE)


def filter_findings(
    findings: Iterable[Finding], allow: AllowList, baseline: Baseline | None = None
) -> tuple[list[Finding], int, int]:
    """Findings left after the allow-list and baseline; how many each removed."""
    out = []
    allowed = known = 0
    for f in findings:
        if not allow.keeps(f):
            allowed += 1
        elif baseline is not None and not baseline.is_new(f):
            known += 1
        else:
            out.append(f)
    return out, allowed, known
