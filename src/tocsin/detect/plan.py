"""The match plan: route each event to the rules of its logsource, prefilter, then evaluate.

For every rule the plan keeps a set of *anchors*, a necessary condition taken from its
compiled condition: the rule can only be true if one of its anchors hits. An anchor is either an
exact value of a field (looked up in a dict) or a substring of a field (found by one
Aho-Corasick automaton per field). Rules without an anchor (only negations, only
numeric comparisons, regular expressions without a literal...) are evaluated for every event
of their logsource.

Routing groups are built lazily, one per (dataset, routing value) actually seen, e.g.
``("windows.sysmon", 1)``: only the rules whose logsource covers that key are in it, with their
own automata. An event therefore meets only the rules that could match it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ahocorasick_rs

from tocsin.detect.evaluate import Predicate, build, keyword_text, text_of
from tocsin.detect.ir import FALSE, KEYWORD_FIELD, Node, regex_literals, simplify
from tocsin.detect.logsources import EVENT_ID, Route

Anchor = tuple[str, str, str]
"""(kind, field, literal): kind ``eq`` (whole value, lowered) or ``sub`` (substring, lowered)."""

MIN_SUBSTRING = 3
"""Shorter literals hit too often to be worth an automaton entry (unless they are rare)."""


def _usable(literal: str) -> bool:
    """Long enough to be selective, or holding a character rarely seen in logs (non-ASCII:
    the emoji, homoglyph and right-to-left-override rules look for single such characters)."""
    return len(literal) >= MIN_SUBSTRING or (bool(literal) and not literal.isascii())


# fields whose values say little about a rule (many rules share them)
LOW_SELECTIVITY = frozenset(
    {
        "EventID",
        "Channel",
        "Provider_Name",
        "Level",
        "Task",
        "Opcode",
        "Version",
        "LogonType",
        "EventType",
        "Type",
        "type",
        "IntegrityLevel",
        "Status",
        "ObjectType",
        "AccessMask",
    }
)


@dataclass(slots=True)
class PlanRule:
    """What the plan needs of one compiled detection rule."""

    index: int
    condition: Node
    routes: tuple[Route, ...]
    anchors: list[list[Anchor]] | None = None
    anchors_known: bool = False
    """True when ``anchors`` was computed already (the compiled-rule cache keeps it)."""


def anchors(node: Node) -> list[Anchor] | None:
    """A set of anchors one of which must hit whenever ``node`` is true; None if there is none."""
    kind = node[0]
    if kind == "const":
        return None if node[1] else []
    if kind == "not":
        return None
    if kind == "or":
        found: list[Anchor] = []
        for child in node[1]:
            child_anchors = anchors(child)
            if child_anchors is None:
                return None
            found.extend(child_anchors)
        return found
    if kind == "and":
        best: list[Anchor] | None = None
        best_cost = 0.0
        for child in node[1]:
            child_anchors = anchors(child)
            if child_anchors is None:
                continue
            child_cost = cost(child_anchors)
            if best is None or child_cost < best_cost:
                best, best_cost = child_anchors, child_cost
        return best
    if kind == "kw":
        return _test_anchors(KEYWORD_FIELD, node[1], keyword=True)
    if kind == "field":
        return _test_anchors(node[1], node[2], keyword=False)
    return None


def anchor_groups(node: Node) -> list[list[Anchor]] | None:
    """Up to two anchor sets that must *both* hit whenever ``node`` is true; None if none.

    For a conjunction the two most selective children give one set each, so a rule such as
    ``Image|endswith: powershell.exe`` and ``CommandLine|contains: -enc`` is only evaluated on
    events that have both; any other node gives its single set.
    """
    if node[0] == "and":
        scored: list[tuple[float, int, list[Anchor]]] = []
        for position, child in enumerate(node[1]):
            child_anchors = anchors(child)
            if child_anchors is not None:
                scored.append((cost(child_anchors), position, child_anchors))
        if not scored:
            return None
        scored.sort(key=lambda item: (item[0], item[1]))
        return [found for _, _, found in scored[:2]]
    single = anchors(node)
    return None if single is None else [single]


def _test_anchors(name: str, test: tuple[Any, ...], *, keyword: bool) -> list[Anchor] | None:
    kind = test[0]
    if kind == "str":
        mode, text = test[1], test[2].lower()
        if mode == "any":
            return None
        if mode == "eq" and not keyword:
            return [("eq", name, text)]
        return [("sub", name, text)] if _usable(text) else None
    if kind == "strs":
        mode, texts = test[1], [t.lower() for t in test[2]]
        if mode == "eq" and not keyword:
            return [("eq", name, t) for t in texts]
        if not all(_usable(t) for t in texts):
            return None
        return [("sub", name, t) for t in texts]
    if kind in ("glob", "re"):
        flags = test[2] if kind == "re" else 0
        literals = regex_literals(test[1], flags)
        if literals is None or not all(_usable(lit) for lit in literals):
            return None
        return [("sub", name, lit) for lit in literals]
    if kind == "num" and not keyword:
        return [("eq", name, str(test[1]).lower())]
    return None


def cost(found: Sequence[Anchor]) -> float:
    """A rough guess of how often one of the anchors hits (lower is more selective)."""
    total = 0.0
    for kind, name, literal in found:
        if kind == "eq":
            total += 0.5 if name in LOW_SELECTIVITY else 0.02
        else:
            total += min(1.0, 2.0 / (len(literal) ** 1.5))
    return total


SMALL_SCAN = 4
"""A field with at most this many substring literals is scanned with ``in`` (fast two-way
search in C); more literals go into one Aho-Corasick automaton for the field."""


@dataclass(slots=True)
class RouteGroup:
    """The rules of one routing key, specialised to it, with their prefilter indexes.

    Rules are *specialised* to the key: a test on the routing field (``EventID``) is decided
    once for the group, so a rule for event 4625 is not in the group of 4624 at all, and its
    remaining condition yields better anchors. Exact anchors are looked up in one dict per
    field; substring anchors are searched per field, with ``in`` when there are few and with an
    Aho-Corasick automaton when there are many.
    """

    rules: list[int] = field(default_factory=list)
    conditions: list[Node] = field(default_factory=list)
    predicates: list[Predicate | None] = field(default_factory=list)
    """Built on a rule's first evaluation: most rules of a group never become candidates."""
    always: list[int] = field(default_factory=list)
    pairs: bytearray = field(default_factory=bytearray)
    """1 for a rule whose two anchor sets must both hit (slots 2i and 2i+1), else 0."""
    exact: list[tuple[str, dict[str, tuple[int, ...]]]] = field(default_factory=list)
    scans: list[tuple[str, Any, tuple[tuple[str, tuple[int, ...]], ...]]] = field(
        default_factory=list
    )


def specialise(node: Node, decided: Mapping[Node, Node]) -> Node:
    """``node`` with the leaves in ``decided`` replaced by their constants."""
    replaced = decided.get(node)
    if replaced is not None:
        return replaced
    kind = node[0]
    if kind in ("and", "or"):
        return (kind, tuple(specialise(c, decided) for c in node[1]))
    if kind == "not":
        return ("not", specialise(node[1], decided))
    return node


def _collect_leaves(node: Node, name: str, out: list[Node]) -> None:
    kind = node[0]
    if kind == "field":
        if node[1] == name:
            out.append(node)
    elif kind in ("and", "or"):
        for child in node[1]:
            _collect_leaves(child, name, out)
    elif kind == "not":
        _collect_leaves(node[1], name, out)


def routing_field(dataset: Any) -> str | None:
    """The field that splits a dataset's events into route groups (EventID for Windows)."""
    if isinstance(dataset, str) and dataset.startswith("windows."):
        return EVENT_ID
    return None


class Plan:
    """Evaluate batches of events against compiled rules."""

    def __init__(self, rules: Sequence[PlanRule]) -> None:
        self.rules = list(rules)
        self.groups: dict[tuple[Any, Any], RouteGroup] = {}
        # rules by the dataset of their routes; routes with a wildcard dataset apart
        self._by_dataset: dict[str, list[PlanRule]] = {}
        self._wildcard: list[PlanRule] = []
        for rule in self.rules:
            datasets = {route.dataset for route in rule.routes}
            if any(d.endswith("*") for d in datasets):
                self._wildcard.append(rule)
                continue
            for dataset in datasets:
                self._by_dataset.setdefault(dataset, []).append(rule)
        # predicate and anchors of a rule that needs no specialising, made once
        self._predicates: dict[Node, Predicate] = {}
        self._shared: dict[tuple[Any, tuple[int, ...]], RouteGroup] = {}
        self._plain: dict[int, tuple[Node, list[list[Anchor]] | None]] = {}
        self._routing_leaves: dict[int, list[tuple[Node, Predicate]]] = {}
        self._specialised: dict[
            tuple[int, tuple[bool, ...]], tuple[Node, list[list[Anchor]] | None] | None
        ] = {}

    def _candidate_rules(self, dataset: str) -> list[PlanRule]:
        rules = self._by_dataset.get(dataset, []) + [
            r for r in self._wildcard if any(route.covers_dataset(dataset) for route in r.routes)
        ]
        rules.sort(key=lambda r: r.index)
        return rules

    def _prepared(
        self, rule: PlanRule, routing: str | None, value: Any
    ) -> tuple[Node, list[list[Anchor]] | None] | None:
        """The rule's condition and anchors for a routing value; None when it cannot match.

        A rule that tests the routing field is specialised to the value; the result depends only
        on which of its routing-field tests the value passes, so it is cached by that pattern.
        """
        if routing is None:
            return self._plain_of(rule)
        leaves = self._routing_leaves.get(rule.index)
        if leaves is None:
            found_leaves: list[Node] = []
            _collect_leaves(rule.condition, routing, found_leaves)
            leaves = [(leaf, build(leaf)) for leaf in dict.fromkeys(found_leaves)]
            self._routing_leaves[rule.index] = leaves
        if not leaves:
            return self._plain_of(rule)
        probe = {routing: value}
        outcome = tuple(test(probe) for _, test in leaves)
        key = (rule.index, outcome)
        if key not in self._specialised:
            decided = {
                leaf: ("const", result) for (leaf, _), result in zip(leaves, outcome, strict=True)
            }
            condition = simplify(specialise(rule.condition, decided))
            self._specialised[key] = (
                None if condition == FALSE else (condition, anchor_groups(condition))
            )
        return self._specialised[key]

    def _plain_of(self, rule: PlanRule) -> tuple[Node, list[list[Anchor]] | None]:
        # one tuple per rule: group sharing compares these by identity
        plain = self._plain.get(rule.index)
        if plain is None:
            if not rule.anchors_known:
                rule.anchors = anchor_groups(rule.condition)
                rule.anchors_known = True
            plain = self._plain[rule.index] = (rule.condition, rule.anchors)
        return plain

    def predicate(self, condition: Node) -> Predicate:
        """The predicate of a condition, built once per distinct condition."""
        found = self._predicates.get(condition)
        if found is None:
            found = self._predicates[condition] = build(condition)
        return found

    def group(self, dataset: Any, value: Any) -> RouteGroup:
        """The route group of a key, built on first use.

        Keys whose rules specialise to the same conditions share one group: every EventID no
        rule names (most of an Application log, say) gets the same, often empty, group.
        """
        key = (dataset, value)
        found = self.groups.get(key)
        if found is None:
            entries = self._entries(dataset, value)
            signature = (dataset, tuple(id(entry[1]) for entry in entries))
            found = self._shared.get(signature)
            if found is None:
                found = self._build_group(entries)
                self._shared[signature] = found
            self.groups[key] = found
        return found

    def _entries(
        self, dataset: Any, value: Any
    ) -> list[tuple[PlanRule, tuple[Node, list[list[Anchor]] | None]]]:
        """The rules that can see a key, each with its (specialised) condition and anchors."""
        if not isinstance(dataset, str):
            return []
        routing = routing_field(dataset)
        entries = []
        for rule in self._candidate_rules(dataset):
            if not any(route.covers(dataset, value) for route in rule.routes):
                continue
            prepared = self._prepared(rule, routing, value)
            if prepared is not None:
                entries.append((rule, prepared))
        return entries

    def _build_group(
        self, entries: list[tuple[PlanRule, tuple[Node, list[list[Anchor]] | None]]]
    ) -> RouteGroup:
        group = RouteGroup()
        exact: dict[str, dict[str, set[int]]] = {}
        substrings: dict[str, dict[str, set[int]]] = {}
        for rule, (condition, found) in entries:
            local = len(group.rules)
            group.rules.append(rule.index)
            group.conditions.append(condition)
            group.predicates.append(None)
            group.pairs.append(1 if found is not None and len(found) == 2 else 0)
            if found is None:
                group.always.append(local)
                continue
            for bit, anchor_set in enumerate(found):
                slot = 2 * local + bit
                for kind, name, literal in anchor_set:
                    target = exact if kind == "eq" else substrings
                    target.setdefault(name, {}).setdefault(literal, set()).add(slot)
        for name, values in sorted(exact.items()):
            group.exact.append((name, {k: tuple(sorted(v)) for k, v in values.items()}))
        for name, literals in sorted(substrings.items()):
            pairs = tuple((k, tuple(sorted(v))) for k, v in sorted(literals.items()))
            automaton = None
            if len(pairs) > SMALL_SCAN:
                automaton = (
                    ahocorasick_rs.AhoCorasick([literal for literal, _ in pairs]),
                    [indexes for _, indexes in pairs],
                )
                pairs = ()
            group.scans.append((name, automaton, pairs))
        return group

    def match_event(self, event: Mapping[str, Any]) -> list[int]:
        """Indexes of the rules that match one event, in rule order."""
        dataset = event.get("event.dataset")
        routing = routing_field(dataset)
        group = self.group(dataset, event.get(routing) if routing is not None else None)
        if not group.rules:
            return []
        predicates = group.predicates
        matched: list[int] = []
        for local in group.always:
            check = predicates[local]
            if check is None:
                check = predicates[local] = self.predicate(group.conditions[local])
            if check(event):
                matched.append(local)
        get = event.get
        hits: set[int] = set()
        for name, index in group.exact:
            v = get(name)
            if v is None:
                continue
            if v.__class__ is list:
                for x in v:
                    if x is not None:
                        found = index.get((x if x.__class__ is str else text_of(x)).lower())
                        if found:
                            hits.update(found)
                continue
            found = index.get((v if v.__class__ is str else text_of(v)).lower())
            if found:
                hits.update(found)
        for name, automaton, pairs in group.scans:
            v = keyword_text(event) if name == KEYWORD_FIELD else get(name)
            if v is None:
                continue
            if v.__class__ is list:
                text = "\x1f".join(
                    (x if x.__class__ is str else text_of(x)).lower() for x in v if x is not None
                )
            else:
                text = (v if v.__class__ is str else text_of(v)).lower()
            if automaton is not None:
                searcher, payloads = automaton
                for pattern, _, _ in searcher.find_matches_as_indexes(text, overlapping=True):
                    hits.update(payloads[pattern])
            else:
                for literal, found in pairs:
                    if literal in text:
                        hits.update(found)
        if hits:
            two = group.pairs
            for slot in hits:
                if slot & 1:
                    continue
                local = slot >> 1
                if two[local] and slot + 1 not in hits:
                    continue
                check = predicates[local]
                if check is None:
                    check = predicates[local] = self.predicate(group.conditions[local])
                if check(event):
                    matched.append(local)
        if not matched:
            return matched
        rules = group.rules
        if len(matched) == 1:
            return [rules[matched[0]]]
        return sorted(rules[i] for i in matched)

    def match(self, events: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
        """(event index, rule index) of every match in a batch, in event then rule order."""
        out: list[tuple[int, int]] = []
        match_event = self.match_event
        for position, event in enumerate(events):
            for rule_index in match_event(event):
                out.append((position, rule_index))
        return out
