"""Discovery rules as data: our YAML rule files, and gitleaks-format TOML files.

A rule is a pattern with what makes a match believable: keywords (the scanner runs a rule only
where one of its keywords occurs, found for all rules at once by an Aho-Corasick automaton),
an entropy floor for the secret part, a validator (checksum or format), context words that
must or may stand near it, and its own allow-list. Our rules ship in ``discovery/rules/*.yaml``;
users add files of either format through ``discovery_rules`` or ``--rules``.

gitleaks rules are written for Go's RE2, so they are compiled with RE2 (google-re2), which keeps
their meaning exactly; a pattern RE2 cannot take falls back to Python's ``re``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from tocsin.core.errors import TocsinError
from tocsin.discovery.validators import VALIDATORS

CATEGORIES = ("secret", "pii")
SEVERITIES = ("informational", "low", "medium", "high", "critical")


class Pattern(Protocol):
    """What the scanner needs of a compiled pattern (``re`` and ``re2`` both fit)."""

    @property
    def pattern(self) -> str: ...

    def finditer(self, string: str, pos: int = ..., endpos: int = ...) -> Iterable[Any]: ...

    def search(self, string: str, pos: int = ..., endpos: int = ...) -> Any: ...


class RuleError(TocsinError):
    """A rule file that cannot be read: names the file and the rule."""


@dataclass(frozen=True, slots=True)
class Allow:
    """Matches a rule (or every rule) must not report.

    ``regexes`` are tried on the secret, the whole match or the line (``target``); a
    ``stopword`` allows a secret that contains it; ``paths`` are regexes on the location's path.
    With ``condition`` AND, every kind given must agree (gitleaks' semantics).
    """

    regexes: tuple[Pattern, ...] = ()
    target: str = "secret"
    stopwords: tuple[str, ...] = ()
    paths: tuple[Pattern, ...] = ()
    condition: str = "OR"
    rules: tuple[str, ...] = ()
    description: str = ""

    def allows(self, secret: str, match: str, line: str, path: str) -> bool:
        """Whether this entry allows the finding."""
        text = {"secret": secret, "match": match, "line": line}.get(self.target, secret)
        checks: list[bool] = []
        if self.regexes:
            checks.append(any(p.search(text) is not None for p in self.regexes))
        if self.stopwords:
            low = secret.lower()
            checks.append(any(word in low for word in self.stopwords))
        if self.paths:
            checks.append(any(p.search(path) is not None for p in self.paths))
        if not checks:
            return False
        return all(checks) if self.condition == "AND" else any(checks)


@dataclass(frozen=True, slots=True)
class Rule:
    """One detector: what to look for and what makes a match believable."""

    id: str
    title: str
    category: str = "secret"
    entity: str = ""
    regex: Pattern | None = None
    secret_group: int = 0
    keywords: tuple[str, ...] = ()
    entropy: float = 0.0
    validator: str | None = None
    confidence: float = 0.6
    severity: str = "high"
    context: tuple[str, ...] = ()
    context_required: bool | str = False
    context_negative: tuple[str, ...] = ()
    window: int = 0
    min_digits: int = 4
    pad: int = 16
    path: Pattern | None = None
    allow: tuple[Allow, ...] = ()
    tags: tuple[str, ...] = ()
    origin: str = ""

    @property
    def kind(self) -> str:
        """The data type the rule finds (``EMAIL``, ``AWS_ACCESS_KEY``...)."""
        return self.entity or self.id.upper().replace("-", "_")


def _compile(pattern: str, where: str, *, engine: str = "re", ignore_case: bool = False) -> Pattern:
    if engine == "re2":
        try:
            import re2

            options = re2.Options()
            options.case_sensitive = not ignore_case
            options.max_mem = 64 << 20
            compiled: Pattern = re2.compile(pattern, options)
        except Exception:  # noqa: BLE001 - RE2 refused it: Python's re may take it
            pattern = _go_to_python(pattern)
        else:
            return compiled
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise RuleError(f"{where}: bad regex {pattern!r}: {exc}") from None


_POSIX = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "lower": "a-z",
    "upper": "A-Z",
    "space": r"\s",
    "xdigit": "0-9A-Fa-f",
    "punct": r"!-/:-@\[-`{-~",
    "word": r"\w",
}


def _go_to_python(pattern: str) -> str:
    """The few RE2 spellings Python's ``re`` lacks: ``\\z``, POSIX classes, late flags."""
    out = pattern.replace(r"\z", r"\Z")
    out = re.sub(r"\[:(\w+):\]", lambda m: _POSIX.get(m.group(1), m.group(0)), out)
    late = out.find("(?i)", 1)
    if late > 0:
        out = out[:late] + "(?i:" + out[late + 4 :] + ")"
    return out


def _strings(value: object, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RuleError(f"{where}: {key} must be a list of strings")


def _allow(raw: dict[str, Any], where: str, engine: str) -> Allow:
    target = str(raw.get("regexTarget", raw.get("target", "secret")))
    if target not in ("secret", "match", "line"):
        raise RuleError(f"{where}: allow target must be secret, match or line, not {target!r}")
    condition = str(raw.get("condition", "OR")).upper()
    regexes = _strings(raw.get("regexes"), where, "regexes")
    return Allow(
        regexes=tuple(_compile(p, where, engine=engine) for p in regexes),
        target=target,
        stopwords=tuple(w.lower() for w in _strings(raw.get("stopwords"), where, "stopwords")),
        paths=tuple(
            _compile(p, where, engine=engine) for p in _strings(raw.get("paths"), where, "paths")
        ),
        condition="AND" if condition == "AND" else "OR",
        rules=_strings(raw.get("targetRules", raw.get("rules")), where, "rules"),
        description=str(raw.get("description", "")),
    )


def _context_required(value: object, where: str) -> bool | str:
    if value is True or value is False:
        return value
    if value == "unless_valid":
        return "unless_valid"
    raise RuleError(f"{where}: context_required must be true, false or unless_valid")


_RULE_KEYS = {
    "id", "title", "description", "category", "entity", "regex", "secret_group", "keywords",
    "entropy", "validator", "confidence", "severity", "context", "context_required", "window",
    "path", "allow", "tags", "ignore_case", "min_digits", "context_negative", "pad",
}  # fmt: skip


def rule_from_dict(raw: dict[str, Any], origin: str) -> Rule:
    """A rule from our YAML form (see docs/discovery.md for every key)."""
    rid = raw.get("id")
    if not isinstance(rid, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", rid):
        raise RuleError(f"{origin}: a rule needs an id of lowercase letters, digits, . _ -")
    where = f"{origin}: rule {rid}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
    category = raw.get("category", "secret")
    if category not in CATEGORIES:
        raise RuleError(f"{where}: category must be secret or pii")
    severity = raw.get("severity", "high" if category == "secret" else "medium")
    if severity not in SEVERITIES:
        raise RuleError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    validator = raw.get("validator")
    if validator is not None and validator not in VALIDATORS:
        raise RuleError(f"{where}: unknown validator {validator!r}")
    regex = raw.get("regex")
    path = raw.get("path")
    if not regex and not path:
        raise RuleError(f"{where}: needs a regex or a path")
    ignore_case = bool(raw.get("ignore_case", False))
    confidence = float(raw.get("confidence", 0.6))
    if not 0 < confidence <= 1:
        raise RuleError(f"{where}: confidence must be in (0, 1]")
    allow_raw = raw.get("allow") or []
    allows = allow_raw if isinstance(allow_raw, list) else [allow_raw]
    return Rule(
        id=rid,
        title=str(raw.get("title") or raw.get("description") or rid),
        category=category,
        entity=str(raw.get("entity", "")),
        regex=_compile(regex, where, ignore_case=ignore_case) if regex else None,
        secret_group=int(raw.get("secret_group", 0)),
        keywords=tuple(k.lower() for k in _strings(raw.get("keywords"), where, "keywords")),
        entropy=float(raw.get("entropy", 0.0)),
        validator=validator,
        confidence=confidence,
        severity=severity,
        context=tuple(c.lower() for c in _strings(raw.get("context"), where, "context")),
        context_required=_context_required(raw.get("context_required", False), where),
        context_negative=tuple(
            c.lower() for c in _strings(raw.get("context_negative"), where, "context_negative")
        ),
        window=int(raw.get("window", 0)),
        min_digits=int(raw.get("min_digits", 4)),
        pad=max(0, min(int(raw.get("pad", 16)), 16)),
        path=_compile(path, where) if path else None,
        allow=tuple(_allow(a, where, "re") for a in allows),
        tags=_strings(raw.get("tags"), where, "tags"),
        origin=origin,
    )


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Rules plus the allow-list entries that apply to all of them (or to the rules they name)."""

    rules: tuple[Rule, ...]
    allow: tuple[Allow, ...] = ()

    def merged(self, other: RuleSet) -> RuleSet:
        """Rules of ``other`` replace ours with the same id; allow entries add up."""
        theirs = {r.id for r in other.rules}
        return RuleSet(
            tuple(r for r in self.rules if r.id not in theirs) + other.rules,
            self.allow + other.allow,
        )

    def without(self, disabled: Iterable[str]) -> RuleSet:
        """This set minus the rules named."""
        off = set(disabled)
        return replace(self, rules=tuple(r for r in self.rules if r.id not in off))


def load_yaml_rules(text: str, origin: str) -> RuleSet:
    """Our format: ``rules:`` (a list of rules) and an optional global ``allow:``."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RuleError(f"{origin}: not YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
        raise RuleError(f"{origin}: expected a mapping with a 'rules' list")
    rules = tuple(rule_from_dict(r, origin) for r in data.get("rules", []))
    allow_raw = data.get("allow") or []
    allows = allow_raw if isinstance(allow_raw, list) else [allow_raw]
    return RuleSet(rules, tuple(_allow(a, f"{origin}: allow", "re") for a in allows))


def load_gitleaks_rules(text: str, origin: str) -> tuple[RuleSet, bool]:
    """A gitleaks configuration (TOML), and whether it extends the default rules.

    Read: ``[[rules]]`` with id, description, regex, secretGroup, entropy, keywords, path,
    tags, ``[rules.allowlist]`` / ``[[rules.allowlists]]``; the global ``[allowlist]`` and
    ``[[allowlists]]`` with ``targetRules``; ``[extend] useDefault`` and ``disabledRules``.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{origin}: not TOML: {exc}") from None
    rules: list[Rule] = []
    for raw in data.get("rules", []):
        rid = str(raw.get("id", "")).strip()
        if not rid:
            raise RuleError(f"{origin}: a rule without an id")
        where = f"{origin}: rule {rid}"
        regex, path = raw.get("regex"), raw.get("path")
        if not regex and not path:
            raise RuleError(f"{where}: needs a regex or a path")
        allows = list(raw.get("allowlists", []))
        if "allowlist" in raw:
            allows.append(raw["allowlist"])
        rules.append(
            Rule(
                id=rid.lower(),
                title=str(raw.get("description") or rid),
                category="secret",
                regex=_compile(regex, where, engine="re2") if regex else None,
                secret_group=int(raw.get("secretGroup", 0)),
                keywords=tuple(k.lower() for k in raw.get("keywords", [])),
                entropy=float(raw.get("entropy", 0.0)),
                confidence=0.7,
                severity="high",
                path=_compile(path, where, engine="re2") if path else None,
                allow=tuple(_allow(a, where, "re2") for a in allows),
                tags=tuple(raw.get("tags", [])),
                origin=origin,
            )
        )
    allows = list(data.get("allowlists", []))
    if "allowlist" in data:
        allows.append(data["allowlist"])
    extend = data.get("extend", {})
    ruleset = RuleSet(tuple(rules), tuple(_allow(a, f"{origin}: allowlist", "re2") for a in allows))
    disabled = extend.get("disabledRules", [])
    if disabled:
        ruleset = RuleSet(ruleset.rules, ruleset.allow + (Allow(rules=tuple(disabled)),))
    return ruleset, bool(extend.get("useDefault", False))


def load_rule_file(path: Path) -> tuple[RuleSet, bool]:
    """A rule file of either format (TOML by its suffix or content), and whether it extends."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from None
    if path.suffix == ".toml" or re.search(r"^\s*\[\[rules\]\]", text, re.M):
        return load_gitleaks_rules(text, str(path))
    return load_yaml_rules(text, str(path)), True


def default_rules() -> RuleSet:
    """The rules that ship with tocsin."""
    out = RuleSet(())
    folder = resources.files("tocsin.discovery") / "rules"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".yaml"):
            out = out.merged(load_yaml_rules(item.read_text("utf-8"), f"builtin:{item.name}"))
    return out


def load_rules(paths: Sequence[Path] = (), *, builtin: bool = True) -> RuleSet:
    """The built-in rules (unless a file asks not to extend them) with the files' rules."""
    extra = RuleSet(())
    extend = True
    for path in paths:
        ruleset, extends = load_rule_file(path)
        extend = extend and extends
        extra = extra.merged(ruleset)
    base = default_rules() if builtin and extend else RuleSet(())
    merged = base.merged(extra)
    off = [r for a in merged.allow if not (a.regexes or a.stopwords or a.paths) for r in a.rules]
    return merged.without(off) if off else merged
