"""The detection engine: loaded rules, compiled into one plan, matched batch by batch.

``Engine.load(paths)`` loads and compiles rules (filters applied to the rules they name);
``engine.match(events)`` returns the matches of a batch in event order; ``engine.explain`` gives
the reasons of a match (which selection, field and value). Correlation rules are kept for the
correlation engine, which consumes the matches.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tocsin.core.event import Reason
from tocsin.detect.evaluate import explain
from tocsin.detect.ir import CompiledDetection
from tocsin.detect.logsources import Route, routes_for
from tocsin.detect.plan import Anchor, Plan, PlanRule, anchor_groups
from tocsin.detect.rules import LoadedRule, RuleIssue, RuleSet

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Match:
    """One event that satisfied one detection rule."""

    rule: LoadedRule
    event: Mapping[str, Any]
    position: int
    """Index of the event in the batch given to ``match``."""


@dataclass(slots=True)
class CompiledRule:
    """A detection rule with its plan: the rule, its compiled detection and its routes."""

    rule: LoadedRule
    detection: CompiledDetection
    routes: tuple[Route, ...]
    anchors: list[list[Anchor]] | None = None
    anchors_known: bool = False


@dataclass(slots=True)
class Engine:
    """Compiled detection rules and the plan that matches them."""

    compiled: list[CompiledRule]
    correlations: list[LoadedRule] = field(default_factory=list)
    issues: list[RuleIssue] = field(default_factory=list)
    plan: Plan = field(init=False)
    _index: dict[str, CompiledRule] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.plan = Plan(
            [
                PlanRule(index, c.detection.condition, c.routes, c.anchors, c.anchors_known)
                for index, c in enumerate(self.compiled)
            ]
        )

    @classmethod
    def load(
        cls, paths: Sequence[Path], *, placeholders: Mapping[str, Sequence[str]] | None = None
    ) -> Engine:
        """Load and compile every rule under ``paths``."""
        from tocsin.detect.loader import load_rules

        return cls.from_ruleset(load_rules(paths, placeholders=placeholders))

    @classmethod
    def from_ruleset(cls, ruleset: RuleSet) -> Engine:
        """Compile the detection rules of a loaded set; a rule that fails is reported, not fatal."""
        from sigma.rule import SigmaRule

        from tocsin.detect.compiler import compile_rule

        issues = list(ruleset.issues)
        filters = [r for r in ruleset.rules if r.kind == "filter"]
        compiled: list[CompiledRule] = []
        correlations: list[LoadedRule] = []
        for rule in ruleset.rules:
            if rule.kind == "correlation":
                correlations.append(rule)
                continue
            if rule.kind != "detection" or not isinstance(rule.sigma, SigmaRule):
                continue
            try:
                sigma = _with_filters(rule.sigma, filters)
                detection = compile_rule(sigma)
            except Exception as exc:  # one rule never stops the rest (CompileError and pySigma's)
                issues.append(RuleIssue(rule.path, rule.id, "error", f"cannot compile: {exc}"))
                continue
            routes = tuple(routes_for(rule.product, rule.category, rule.service))
            found = anchor_groups(detection.condition)
            compiled.append(CompiledRule(rule, detection, routes, found, True))
        return cls(compiled, correlations, issues)

    @property
    def rules(self) -> list[LoadedRule]:
        """The compiled detection rules, in plan order."""
        return [c.rule for c in self.compiled]

    @property
    def unrouted(self) -> list[LoadedRule]:
        """Detection rules whose logsource maps to no dataset (they can never match)."""
        return [c.rule for c in self.compiled if not c.routes]

    def match(self, events: Sequence[Mapping[str, Any]]) -> list[Match]:
        """Every match in a batch, in event order then rule order."""
        compiled = self.compiled
        return [
            Match(compiled[rule_index].rule, events[position], position)
            for position, rule_index in self.plan.match(events)
        ]

    def explain(self, match: Match) -> list[Reason]:
        """Why a match matched: one reason per satisfied named selection."""
        compiled = self._by_id().get(match.rule.id)
        if compiled is None:
            return []
        return [
            Reason(check=f"sigma:{name}", detail=detail, weight=1.0)
            for name, detail in explain(compiled.detection.selections, match.event)
        ]

    def _by_id(self) -> dict[str, CompiledRule]:
        if self._index is None:
            self._index = {c.rule.id: c for c in self.compiled}
        return self._index


def _with_filters(rule: Any, filters: Sequence[LoadedRule]) -> Any:
    """The rule with every matching Sigma filter applied (on a copy: pySigma edits in place)."""
    from sigma.filters import SigmaFilter

    applicable = [
        f.sigma
        for f in filters
        if isinstance(f.sigma, SigmaFilter) and f.sigma._should_apply_on_rule(rule)
    ]
    if not applicable:
        return rule
    copied = copy.deepcopy(rule)
    for sigma_filter in applicable:
        sigma_filter.apply_on_rule(copied)
    return copied
