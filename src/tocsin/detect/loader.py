"""Load folders of Sigma rules with pySigma, reporting every problem per rule and going on.

Parsing and validation are pySigma's; tocsin keeps a flat, typed view of each rule (``LoadedRule``)
next to the pySigma object that the matcher compiles later.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ValueListPlaceholderTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import Placeholder, SigmaRegularExpression, SigmaString
from sigma.validation import SigmaValidator
from sigma.validators.core.condition import (
    AllOfThemConditionValidator,
    DanglingDetectionValidator,
    ThemConditionWithSingleDetectionValidator,
)
from sigma.validators.core.modifiers import InvalidModifierCombinationsValidator
from sigma.validators.core.tags import (
    DuplicateTagValidator,
    TagFormatValidator,
)
from sigma.validators.core.values import (
    ControlCharacterValidator,
    DoubleWildcardValidator,
    EscapedWildcardValidator,
)

from tocsin.detect.rules import (
    RULE_SUFFIXES,
    IssueSeverity,
    LoadedRule,
    RuleIssue,
    RuleKind,
    RuleSet,
    iter_rule_files,
)
from tocsin.workspace.models import Severity

__all__ = [
    "RULE_SUFFIXES",
    "IssueSeverity",
    "LoadedRule",
    "RuleIssue",
    "RuleKind",
    "RuleSet",
    "iter_rule_files",
    "load_rules",
]

logger = logging.getLogger(__name__)

SigmaObject = SigmaRule | SigmaCorrelationRule | SigmaFilter


# libyaml parses about 8x faster than the pure-Python loader that SigmaCollection.from_yaml uses;
# the documents are then handed to pySigma exactly as from_yaml would.
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Checks that find real mistakes in community rules without flooding the report; the
# uniqueness and existence checks are done by the loader itself (duplicates are errors here).
# ATTACKTagValidator is left out on purpose: it downloads MITRE ATT&CK data on first use.
VALIDATORS = (
    DanglingDetectionValidator,
    AllOfThemConditionValidator,
    ThemConditionWithSingleDetectionValidator,
    InvalidModifierCombinationsValidator,
    TagFormatValidator,
    DuplicateTagValidator,
    DoubleWildcardValidator,
    ControlCharacterValidator,
    EscapedWildcardValidator,
)


def load_rules(
    paths: Sequence[Path], *, placeholders: Mapping[str, Sequence[str]] | None = None
) -> RuleSet:
    """Load every rule under ``paths``; one bad rule or file never stops the rest."""
    loader = _Loader(dict(placeholders or {}))
    for path in iter_rule_files(paths):
        loader.load_file(path)
    loader.check_references()
    return RuleSet(rules=loader.rules, issues=loader.issues)


class _Loader:
    def __init__(self, placeholders: dict[str, Sequence[str]]) -> None:
        self.rules: list[LoadedRule] = []
        self.issues: list[RuleIssue] = []
        self.by_id: dict[str, LoadedRule] = {}
        self.pipeline = _placeholder_pipeline(placeholders)
        self.validator = SigmaValidator(VALIDATORS)

    def issue(self, path: Path, rule_id: str | None, severity: IssueSeverity, msg: str) -> None:
        self.issues.append(RuleIssue(path, rule_id, severity, msg))

    def load_file(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.issue(path, None, "error", f"cannot read the file: {exc}")
            return
        try:
            documents = list(yaml.load_all(text, Loader=_YamlLoader))
            collection = SigmaCollection.from_dicts(
                documents,
                collect_errors=True,
                source=SigmaRuleLocation(path),
                collect_filters=True,
                resolve_references=False,
            )
        except yaml.YAMLError as exc:
            self.issue(path, None, "error", f"invalid YAML: {_yaml_message(exc)}")
            return
        except SigmaError as exc:
            self.issue(path, None, "error", _sigma_message(exc))
            return
        except Exception as exc:  # pySigma raises plain exceptions on some odd input
            self.issue(path, None, "error", f"{type(exc).__name__}: {exc}")
            return
        attached = {id(e) for r in [*collection.rules, *collection.filters] for e in r.errors}
        for error in collection.errors:
            if id(error) not in attached:
                self.issue(path, None, "error", _sigma_message(error))
        objects: list[SigmaObject] = [*collection.rules, *collection.filters]
        for obj in objects:
            self.load_object(path, obj)

    def load_object(self, path: Path, obj: SigmaObject) -> None:
        rule_id = str(obj.id) if obj.id is not None else None
        if obj.errors:
            for error in obj.errors:
                self.issue(path, rule_id, "error", _sigma_message(error))
            return
        if rule_id is None:
            rule_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{path.as_posix()}#{obj.title}"))
            self.issue(path, rule_id, "warning", "rule has no id: derived one from path and title")
        if isinstance(obj, SigmaRule):
            problem = self.prepare_detection(obj)
            if problem is not None:
                self.issue(path, rule_id, "error", problem)
                return
        if obj.level is None:
            level = Severity.MEDIUM
            if not isinstance(obj, SigmaFilter):
                self.issue(path, rule_id, "warning", "rule has no level: using medium")
        else:
            level = Severity.parse(str(obj.level))
        first = self.by_id.get(rule_id)
        if first is not None:
            self.issue(
                path,
                rule_id,
                "error",
                f"duplicate rule id {rule_id!r}: already loaded from {first.path}",
            )
            return
        if isinstance(obj, SigmaRule):
            for warning in self.validate(obj):
                self.issue(path, rule_id, "warning", warning)
        loaded = _to_loaded(obj, rule_id, level, path)
        self.by_id[rule_id] = loaded
        self.rules.append(loaded)

    def prepare_detection(self, rule: SigmaRule) -> str | None:
        """Resolve placeholders and parse conditions; a message when the rule cannot be used."""
        try:
            if self.pipeline is not None:
                self.pipeline.apply(rule)
            for condition in rule.detection.parsed_condition:
                condition.parse()
        except SigmaError as exc:
            return _sigma_message(exc)
        missing = sorted(set(_placeholder_names(rule)))
        if missing:
            return "unresolved placeholder " + ", ".join(f"%{name}%" for name in missing)
        return None

    def validate(self, rule: SigmaRule) -> list[str]:
        try:
            found = self.validator.validate_rule(rule)
        except Exception as exc:  # a validator crash is not the rule's fault
            logger.debug("validator failed", extra={"rule": str(rule.id), "error": str(exc)})
            return []
        return [f"{type(i).__name__}: {i.description}" for i in found]

    def check_references(self) -> None:
        """Correlations must name rules that loaded (by id or name); drop those that do not."""
        names = {r.name: r for r in self.rules if r.name is not None}
        kept: list[LoadedRule] = []
        for rule in self.rules:
            if rule.kind == "correlation":
                unknown = [
                    ref for ref in rule.rule_refs if ref not in self.by_id and ref not in names
                ]
                if unknown:
                    listed = ", ".join(repr(u) for u in unknown)
                    self.issue(
                        rule.path,
                        rule.id,
                        "error",
                        f"correlation refers to unknown rules: {listed}",
                    )
                    del self.by_id[rule.id]
                    continue
            kept.append(rule)
        self.rules = kept


def _placeholder_pipeline(placeholders: dict[str, Sequence[str]]) -> ProcessingPipeline | None:
    if not placeholders:
        return None
    transformation = ValueListPlaceholderTransformation(include=list(placeholders))
    return ProcessingPipeline(
        items=[ProcessingItem(transformation, identifier="tocsin_placeholders")],
        vars={name: list(values) for name, values in placeholders.items()},
    )


def _placeholder_names(rule: SigmaRule) -> Iterator[str]:
    for detection in rule.detection.detections.values():
        yield from _detection_placeholders(detection)


def _detection_placeholders(detection: SigmaDetection) -> Iterator[str]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _detection_placeholders(item)
        elif isinstance(item, SigmaDetectionItem):
            for value in item.value:
                string = value.regexp if isinstance(value, SigmaRegularExpression) else value
                if isinstance(string, SigmaString):
                    yield from (p.name for p in string.s if isinstance(p, Placeholder))


def _to_loaded(obj: SigmaObject, rule_id: str, level: Severity, path: Path) -> LoadedRule:
    kind: RuleKind
    refs: tuple[str, ...] = ()
    logsource = None
    if isinstance(obj, SigmaCorrelationRule):
        kind = "correlation"
        refs = tuple(r.reference for r in obj.rules or [])
    elif isinstance(obj, SigmaFilter):
        kind = "filter"
        logsource = obj.logsource
        targets = obj.filter.rules
        refs = (targets,) if isinstance(targets, str) else tuple(r.reference for r in targets)
    else:
        kind = "detection"
        logsource = obj.logsource
    return LoadedRule(
        id=rule_id,
        title=obj.title,
        level=level,
        status=str(obj.status) if obj.status is not None else None,
        kind=kind,
        tags=tuple(str(t) for t in obj.tags),
        product=logsource.product if logsource is not None else None,
        category=logsource.category if logsource is not None else None,
        service=logsource.service if logsource is not None else None,
        path=path,
        description=obj.description,
        references=tuple(obj.references),
        falsepositives=tuple(obj.falsepositives),
        sigma=obj,
        name=obj.name,
        rule_refs=refs,
    )


def _sigma_message(error: SigmaError) -> str:
    # pySigma appends " in <absolute path>[:line]"; the issue has the path, keep only the line.
    message = str(error.args[0]) if error.args else type(error).__name__
    source = error.source
    if source is not None and source.line is not None:
        message = f"line {source.line}: {message}"
    return message


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)
