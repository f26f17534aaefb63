"""The loaded view of Sigma rules: plain dataclasses, no pySigma import.

:mod:`tocsin.detect.loader` fills them from YAML through pySigma; the compiled-rule cache
keeps them, so a start from the cache never imports pySigma for detection rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tocsin.workspace.models import Severity

RuleKind = Literal["detection", "correlation", "filter"]
IssueSeverity = Literal["error", "warning"]

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True, slots=True)
class RuleIssue:
    """A problem found while loading a rule file: an error drops the rule, a warning keeps it."""

    path: Path
    rule_id: str | None
    severity: IssueSeverity
    message: str

    def to_row(self) -> dict[str, object]:
        """The issue as a CLI row."""
        return {
            "path": str(self.path),
            "rule_id": self.rule_id,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class LoadedRule:
    """One parsed Sigma rule, correlation or filter, with the pySigma object kept in ``sigma``."""

    id: str
    title: str
    level: Severity
    status: str | None
    kind: RuleKind
    tags: tuple[str, ...]
    product: str | None
    category: str | None
    service: str | None
    path: Path
    description: str | None
    references: tuple[str, ...]
    falsepositives: tuple[str, ...]
    sigma: Any = field(repr=False, compare=False)
    """The pySigma object (rule, correlation or filter); None once compiled and cached."""
    name: str | None = None
    rule_refs: tuple[str, ...] = ()

    def to_row(self) -> dict[str, object]:
        """The rule as a CLI row."""
        return {
            "id": self.id,
            "title": self.title,
            "level": self.level.value,
            "status": self.status,
            "kind": self.kind,
            "product": self.product,
            "category": self.category,
            "service": self.service,
            "tags": ",".join(self.tags),
            "path": str(self.path),
        }


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules that loaded and every issue found on the way."""

    rules: list[LoadedRule]
    issues: list[RuleIssue]

    @property
    def errors(self) -> list[RuleIssue]:
        """Issues that kept a rule (or a file) from loading."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[RuleIssue]:
        """Issues that did not keep a rule from loading."""
        return [i for i in self.issues if i.severity == "warning"]


def iter_rule_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Files given directly, and ``*.yml``/``*.yaml`` under folders (recursively, sorted)."""
    for path in paths:
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.suffix.lower() in RULE_SUFFIXES)
            yield from sorted(p for p in found if p.is_file())
        else:
            yield path
