"""The scanner: run every rule over a text, fast, and score what it finds.

Speed comes from not running most rules at all. All keywords of all rules go into one
Aho-Corasick automaton; one pass over the lower-cased text tells which keywords occur and
where, and a rule's regex then runs only over the lines around its keywords (plus the rule's
``window`` for multi-line secrets such as private keys). Rules without keywords (most PII) run
over the whole text; their patterns start with a digit or a letter class that Python's ``re``
skips through in C.

Each match is then scored: the rule's base confidence, raised by a valid checksum, by entropy
above the rule's floor and by context words nearby; lowered in test fixtures and for values
that look like placeholders. A failed checksum, entropy under the floor or a missing required
context drops the match. Overlapping matches keep the most confident one.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import ahocorasick_rs
import numpy as np

from tocsin.core.event import Reason
from tocsin.discovery.findings import (
    DEFAULT_HASH_KEY,
    Finding,
    Location,
    fingerprint,
    keyed_hash,
    mask,
)
from tocsin.discovery.rules import Allow, Rule, RuleSet
from tocsin.discovery.validators import VALIDATORS, shannon_entropy

CONTEXT_BEFORE = 64
CONTEXT_AFTER = 32
"""Characters before and after a match searched for a rule's context words."""
AFTER_PENALTY = 32
"""A context word after a match counts as this many characters further than one before."""
NEAR_SPAN = 48
"""Longest PII value looked for around a required context word."""
DIGIT_MIN = 4
DIGIT_GAP = 3
DIGIT_PAD = 16
"""Digit windows: clusters of at least 4 digits, none more than 3 characters from the next,
widened by 16 characters each side (letters of an IBAN or a NINO, a month's name)."""


def _at_word(low: str, start: int, end: int) -> bool:
    """Whether ``low[start:end]`` is not inside a longer word."""
    return not (start > 0 and low[start - 1].isalnum()) and not (
        end < len(low) and low[end].isalnum()
    )


def _has_word(text: str, word: str) -> bool:
    """Whether ``word`` occurs in ``text`` as a word (not inside a longer one)."""
    at = text.find(word)
    while at >= 0:
        if _at_word(text, at, at + len(word)):
            return True
        at = text.find(word, at + 1)
    return False


def _nearest_word(before: str, after: str, words: tuple[str, ...]) -> tuple[str | None, int]:
    """The context word nearest the match (whole words only), and how far from it it is."""
    best: str | None = None
    best_distance = 1 << 30
    for word in words:
        at = before.rfind(word)
        while at >= 0:
            if _at_word(before, at, at + len(word)):
                distance = len(before) - (at + len(word))
                if distance < best_distance:
                    best, best_distance = word, distance
                break
            at = before.rfind(word, 0, at)
        at = after.find(word)
        while at >= 0:
            if _at_word(after, at, at + len(word)):
                # a label after a value counts as further than one before it ("SSN: ...")
                if at + AFTER_PENALTY < best_distance:
                    best, best_distance = word, at + AFTER_PENALTY
                break
            at = after.find(word, at + 1)
    return best, (best_distance if best is not None else 0)


def digit_windows(text: str) -> list[tuple[int, int, int]]:
    """Merged (start, end, digits) spans of ``text`` around clusters of digits, found with
    numpy; ``digits`` is the size of the largest cluster in the span."""
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), np.uint8)
    else:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
    pos = np.flatnonzero((codes - 48) < 10)  # unsigned: below "0" wraps round to large
    if len(pos) < DIGIT_MIN:
        return []
    cut = np.flatnonzero(np.diff(pos) > DIGIT_GAP)
    first = np.concatenate(([0], cut + 1))
    last = np.concatenate((cut, [len(pos) - 1]))
    keep = last - first + 1 >= DIGIT_MIN
    if not keep.any():
        return []
    lo = np.maximum(pos[first[keep]] - DIGIT_PAD, 0)
    hi = np.minimum(pos[last[keep]] + 1 + DIGIT_PAD, len(text))
    size = (last - first + 1)[keep]
    reach = np.maximum.accumulate(hi)
    new = np.concatenate(([True], lo[1:] > reach[:-1]))
    heads = np.flatnonzero(new)
    starts = lo[new]
    ends = reach[np.concatenate((heads[1:] - 1, [len(hi) - 1]))]
    biggest = np.maximum.reduceat(size, heads)
    return list(zip(starts.tolist(), ends.tolist(), biggest.tolist(), strict=True))


_TEST_PATH = re.compile(
    r"(?:^|[/\\!])(?:tests?|spec|specs|fixtures?|testdata|test_data|mocks?|examples?|samples?)"
    r"(?:[/\\]|$)|(?:^|[/\\])test_[^/\\]*$|_test\.[a-z]+$|\.(?:test|spec)\.[a-z]+$",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(
    r"example|dummy|fake|sample|placeholder|changeme|not[_-]?a[_-]?real|your[_-]|xxxx|1234567|"
    r"abcdef|testtoken|test[_-]?key|redacted|replace[_-]?me",
    re.IGNORECASE,
)
_K8S_VALUE = re.compile(r"^[ \t]+([\w.-]+):[ \t]*([A-Za-z0-9+/]{8,}={0,2})[ \t]*$", re.MULTILINE)
"""A ``key: base64`` line of a Kubernetes Secret's ``data:`` map."""
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def lower_same_length(text: str) -> str:
    """Lower-cased ``text`` whose indexes are indexes in ``text``.

    'İ' (U+0130) is the one character whose lower case is two characters long: it is lowered
    to 'i' first. Should another appear, only ASCII letters are lowered.
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    low = text.replace("\u0130", "i").lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


@dataclass(frozen=True, slots=True)
class Match:
    """A raw match before scoring: the rule, the secret's span and the whole match's span."""

    rule: Rule
    start: int
    end: int
    secret: str
    match_start: int
    match_end: int


class Scanner:
    """Compiled rules, ready to scan texts: build once, scan many."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        min_confidence: float = 0.3,
        categories: Iterable[str] = ("secret", "pii"),
        hash_key: bytes = DEFAULT_HASH_KEY,
    ) -> None:
        wanted = set(categories)
        self.rules: tuple[Rule, ...] = tuple(r for r in ruleset.rules if r.category in wanted)
        self.allow: tuple[Allow, ...] = ruleset.allow
        self.min_confidence = min_confidence
        self.hash_key = hash_key
        self._text_rules = [r for r in self.rules if r.regex is not None]
        self._path_only = [r for r in self.rules if r.regex is None and r.path is not None]
        # Three gates decide where a rule's regex runs: the lines holding one of its keywords;
        # near one of its required context words (whole words only); or, for other PII,
        # around clusters of digits.
        self._always = [
            i
            for i, r in enumerate(self._text_rules)
            if not r.keywords and r.context_required is not True and r.category != "pii"
        ]
        self._digit_rules = [
            i
            for i, r in enumerate(self._text_rules)
            if not r.keywords and r.context_required is not True and r.category == "pii"
        ]
        targets: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        for i, rule in enumerate(self._text_rules):
            if rule.keywords:
                for word in rule.keywords:
                    targets[word].append((i, False))
            elif rule.context_required is True:
                for word in rule.context:
                    targets[word].append((i, True))
        self._keywords = list(targets)
        self._keyword_targets = [targets[w] for w in self._keywords]
        self._any_near = [any(near for _, near in targets[w]) for w in self._keywords]
        self._automaton = (
            ahocorasick_rs.AhoCorasick(
                self._keywords,
                matchkind=ahocorasick_rs.MatchKind.Standard,
                implementation=ahocorasick_rs.Implementation.DFA,  # 3x the default's speed
            )
            if self._keywords
            else None
        )

    # -- finding raw matches -------------------------------------------------------------

    def _keyword_windows(self, text: str, low: str) -> dict[int, list[tuple[int, int]]]:
        """Per rule index, the merged (start, end) windows around its keywords' hits."""
        windows: dict[int, list[tuple[int, int]]] = defaultdict(list)
        if self._automaton is None:
            return windows
        size = len(text)
        line_of: dict[int, tuple[int, int]] = {}
        for kw, start, end in self._automaton.find_matches_as_indexes(low, overlapping=True):
            targets = self._keyword_targets[kw]
            if self._any_near[kw] and not _at_word(low, start, end):
                # a context word must be a word: "sin" in "using" is no SIN
                targets = [t for t in targets if not t[1]]
            for ri, near in targets:
                rule = self._text_rules[ri]
                if near:
                    # A required context word: the match must lie within reach of it.
                    lo = max(0, start - CONTEXT_AFTER - NEAR_SPAN)
                    hi = min(size, end + CONTEXT_BEFORE + NEAR_SPAN)
                else:
                    bounds = line_of.get(start)
                    if bounds is None:
                        line_start = text.rfind("\n", 0, start) + 1
                        line_end = text.find("\n", end)
                        bounds = (line_start, size if line_end < 0 else line_end)
                        line_of[start] = bounds
                    lo, hi = bounds
                    if rule.window:
                        # A multi-line secret may start a little before its keyword (a JSON
                        # key file's "private_key" comes after "type") and run far after it.
                        lo = max(0, lo - rule.window // 4)
                        hi = min(size, hi + rule.window)
                spans = windows[ri]
                if spans and lo <= spans[-1][1] + 1:  # overlapping or the next line
                    if hi > spans[-1][1]:
                        spans[-1] = (spans[-1][0], hi)
                else:
                    spans.append((lo, hi))
        return windows

    def raw_matches(self, text: str, path: str = "", low: str | None = None) -> list[Match]:
        """Every pattern match of every rule that can apply, unscored."""
        out: list[Match] = []
        add = out.append
        low = lower_same_length(text) if low is None else low
        jobs: list[tuple[Rule, list[tuple[int, int]]]] = []
        for ri, spans in self._keyword_windows(text, low).items():
            jobs.append((self._text_rules[ri], spans))
        for ri in self._always:
            jobs.append((self._text_rules[ri], [(0, len(text))]))
        if self._digit_rules:
            size = len(text)
            windows = digit_windows(text)
            shapes: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for ri in self._digit_rules:
                rule = self._text_rules[ri]
                need = rule.min_digits
                cut = DIGIT_PAD - rule.pad  # a rule that needs less room around its digits
                shaped = shapes.get((need, cut))
                if shaped is None:
                    shaped = shapes[(need, cut)] = [
                        (lo + cut if lo else lo, hi - cut if hi < size else hi)
                        for lo, hi, digits in windows
                        if digits >= need
                    ]
                jobs.append((rule, shaped))
        for rule, spans in jobs:
            regex = rule.regex
            if regex is None or (rule.path is not None and rule.path.search(path) is None):
                continue
            group = rule.secret_group
            sliced = type(regex).__module__.startswith("re2")
            for lo, hi in spans:
                # RE2's binding encodes the whole string on every call: give it the window
                # alone (a window starts at a line start, so \b and ^ keep their meaning)
                found = regex.finditer(text[lo:hi]) if sliced else regex.finditer(text, lo, hi)
                shift = lo if sliced else 0
                for m in found:
                    g = group
                    if g == 0 and m.lastindex:
                        g = next((i for i in range(1, m.lastindex + 1) if m.group(i)), 0)
                    secret = m.group(g)
                    if secret:
                        add(
                            Match(
                                rule,
                                m.start(g) + shift,
                                m.end(g) + shift,
                                secret,
                                m.start() + shift,
                                m.end() + shift,
                            )
                        )
        return out

    # -- scoring -------------------------------------------------------------------------

    def _score(
        self, match: Match, text: str, low: str, path: str, line: str
    ) -> tuple[float, list[Reason], float | None] | None:
        rule = match.rule
        secret = match.secret
        confidence = rule.confidence
        reasons = [Reason("pattern", f"{rule.id}: {rule.title}", round(rule.confidence, 3))]
        entropy = None
        verdict: bool | None = None
        before = low[max(0, match.match_start - CONTEXT_BEFORE) : match.match_start]
        after = low[match.match_end : match.match_end + CONTEXT_AFTER]
        word = None
        distance = 0
        if rule.context:
            word, distance = _nearest_word(before, after, rule.context)
            if word is None and rule.context_required is True:
                return None  # before any costlier check
        if rule.validator is not None:
            verdict = VALIDATORS[rule.validator](secret)
            if verdict is False:
                return None
            if verdict:
                gain = (1 - confidence) * 0.75
                confidence += gain
                reasons.append(Reason("checksum", f"{rule.validator} holds", round(gain, 3)))
        if rule.entropy:
            entropy = shannon_entropy(secret)
            if entropy < rule.entropy:
                return None
            gain = (1 - confidence) * min(0.4, (entropy - rule.entropy) / 4)
            confidence += gain
            reasons.append(
                Reason("entropy", f"{entropy:.2f} bits/char >= {rule.entropy}", round(gain, 3))
            )
        if rule.context or rule.context_negative:
            if word is not None:
                # the nearer the word, the more it says (a sentence may name several ids)
                gain = (1 - confidence) * 0.6 * (1 - 0.5 * min(distance, CONTEXT_BEFORE) / 64)
                confidence += gain
                reasons.append(
                    Reason("context", f"'{word}' {distance} characters away", round(gain, 3))
                )
            else:
                if rule.context_required is True or (
                    rule.context_required == "unless_valid" and not verdict
                ):
                    return None
                if any(_has_word(before, w) for w in rule.context_negative):
                    return None
        if rule.category == "secret":
            if _PLACEHOLDER.search(secret):
                loss = confidence * 0.5
                confidence -= loss
                reasons.append(Reason("placeholder", "value looks like a placeholder", -loss))
            if path and _TEST_PATH.search(path):
                loss = confidence * 0.3
                confidence -= loss
                reasons.append(Reason("test-path", "in a test or example path", -round(loss, 3)))
        for entry in rule.allow:
            if entry.allows(secret, text[match.match_start : match.match_end], line, path):
                return None
        for entry in self.allow:
            if entry.rules and rule.id not in entry.rules:
                continue
            if entry.allows(secret, text[match.match_start : match.match_end], line, path):
                return None
        if confidence < self.min_confidence:
            return None
        return confidence, reasons, entropy

    def scan_text(
        self,
        text: str,
        path: str = "",
        *,
        where: Location | None = None,
        first_line: int = 1,
    ) -> list[Finding]:
        """Findings in ``text``; ``where`` gives the location's other fields (source, commit)."""
        if not text:
            return []
        base = where or Location(path=path)
        path = path or base.path
        scored = self._scored(text, path, first_line)
        findings = []
        for match, confidence, reasons, entropy, line_no, col in scored:
            rule = match.rule
            value_hash = keyed_hash(match.secret, self.hash_key)
            location = replace(
                base,
                path=path,
                line=line_no,
                column=col + 1,
                end_line=line_no + match.secret.count("\n"),
                end_column=(
                    col + 1 + len(match.secret)
                    if "\n" not in match.secret
                    else len(match.secret) - match.secret.rfind("\n")
                ),
            )
            findings.append(
                Finding(
                    rule_id=rule.id,
                    title=rule.title,
                    category=rule.category,
                    kind=rule.kind,
                    confidence=round(confidence, 4),
                    reasons=tuple(reasons),
                    location=location,
                    masked=mask(match.secret, rule.kind, rule.category),
                    hash=value_hash,
                    severity=rule.severity,
                    entropy=entropy,
                    tags=rule.tags,
                    fingerprint=fingerprint(rule.id, location, value_hash),
                )
            )
        if "kind: Secret" in text:
            spots, decoded = self._k8s_secret_values(text, path, base, first_line)
            # what a decoded value holds replaces what a generic rule made of its encoding
            findings = [
                f
                for f in findings
                if "generic" not in f.tags or (f.location.line, f.location.column) not in spots
            ]
            held = {(f.location.line, f.location.column) for f in findings}
            findings.extend(f for f in decoded if (f.location.line, f.location.column) not in held)
        return findings

    def _k8s_secret_values(
        self,
        text: str,
        path: str,
        base: Location,
        first_line: int,
    ) -> tuple[set[tuple[int, int]], list[Finding]]:
        """A Kubernetes Secret keeps its values base64-encoded under ``data:``: decode each and
        scan it, and report what it holds at the encoded value's place. Also returns the
        places of every decoded value."""
        spots: set[tuple[int, int]] = set()
        out: list[Finding] = []
        for m in _K8S_VALUE.finditer(text):
            try:
                decoded = base64.b64decode(m.group(2), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
            if not decoded.isprintable() and "\n" not in decoded:
                continue
            # the key's name is context for the decoded value ("password: <value>")
            prefix = f"{m.group(1)}: "
            line_no = first_line + text.count("\n", 0, m.start(2))
            column = m.start(2) - (text.rfind("\n", 0, m.start(2)) + 1) + 1
            spots.add((line_no, column))
            for inner in self.scan_text(prefix + decoded, path):
                if inner.category != "secret":
                    continue
                location = replace(
                    base,
                    path=path,
                    line=line_no,
                    column=column,
                    end_line=line_no,
                    end_column=column + len(m.group(2)),
                )
                out.append(
                    replace(
                        inner,
                        location=location,
                        reasons=(
                            *inner.reasons,
                            Reason("decoded", "base64 value of a Kubernetes Secret", 0.0),
                        ),
                        fingerprint=fingerprint(inner.rule_id, location, inner.hash),
                    )
                )
        return spots, out

    def _scored(
        self, text: str, path: str, first_line: int = 1
    ) -> list[tuple[Match, float, list[Reason], float | None, int, int]]:
        """Matches that survive scoring, overlaps resolved, in text order."""
        low = lower_same_length(text)
        matches = self.raw_matches(text, path, low)
        if not matches:
            return []
        matches.sort(key=lambda m: (m.start, -m.end))
        scored: list[tuple[Match, float, list[Reason], float | None, int, int]] = []
        refuted: list[tuple[int, int]] = []
        line_no = first_line
        pos = 0
        for match in matches:
            line_no += text.count("\n", pos, match.start)
            pos = match.start
            line_start = text.rfind("\n", 0, match.start) + 1
            line_end = text.find("\n", match.start)
            line = text[line_start : len(text) if line_end < 0 else line_end]
            result = self._score(match, text, low, path, line)
            if result is None:
                if match.rule.validator is not None and "generic" not in match.rule.tags:
                    refuted.append((match.start, match.end))
                continue
            confidence, reasons, entropy = result
            scored.append((match, confidence, reasons, entropy, line_no, match.start - line_start))
        if refuted:
            # a value a specific rule checked and refuted (a token whose checksum fails) is
            # not a secret for the generic rules either
            scored = [
                s
                for s in scored
                if "generic" not in s[0].rule.tags
                or not any(a < s[0].end and s[0].start < b for a, b in refuted)
            ]
        return _best_of_overlaps(scored)

    def redact(self, text: str, path: str = "") -> tuple[str, list[tuple[str, str]]]:
        """``text`` with every finding replaced by its masked form, and (rule, kind) of each."""
        scored = self._scored(text, path)
        if not scored:
            return text, []
        out: list[str] = []
        done: list[tuple[str, str]] = []
        pos = 0
        for match, *_ in scored:
            if match.start < pos:
                continue
            rule = match.rule
            out.append(text[pos : match.start])
            out.append(mask(match.secret, rule.kind, rule.category))
            pos = match.end
            done.append((rule.id, rule.kind))
        out.append(text[pos:])
        return "".join(out), done

    def scan_path_name(self, path: str, where: Location | None = None) -> list[Finding]:
        """Findings for rules that flag a file by its name alone (gitleaks ``path`` rules)."""
        out = []
        for rule in self._path_only:
            if rule.path is None or rule.path.search(path) is None:
                continue
            location = replace(where or Location(), path=path)
            value_hash = keyed_hash(path, self.hash_key)
            out.append(
                Finding(
                    rule_id=rule.id,
                    title=rule.title,
                    category=rule.category,
                    kind=rule.kind,
                    confidence=rule.confidence,
                    reasons=(Reason("path", f"{rule.id}: file name matches", rule.confidence),),
                    location=location,
                    masked=path,
                    hash=value_hash,
                    severity=rule.severity,
                    tags=rule.tags,
                    fingerprint=fingerprint(rule.id, location, value_hash),
                )
            )
        return out


def _best_of_overlaps(
    scored: Sequence[tuple[Match, float, list[Reason], float | None, int, int]],
) -> list[tuple[Match, float, list[Reason], float | None, int, int]]:
    """Among overlapping matches of one category keep the most confident; ties go to the
    longer match, then the more specific rule (one with a validator or keywords)."""
    order = sorted(
        range(len(scored)),
        key=lambda i: (
            -scored[i][1],
            -(scored[i][0].end - scored[i][0].start),
            scored[i][0].rule.validator is None,
        ),
    )
    starts: dict[str, list[int]] = defaultdict(list)
    ends: dict[str, list[int]] = defaultdict(list)
    keep: list[int] = []
    for i in order:
        match = scored[i][0]
        s_list, e_list = starts[match.rule.category], ends[match.rule.category]
        # Kept spans do not overlap, so sorted by start they are sorted by end too: only the
        # neighbours of the insertion point can overlap the new one.
        at = bisect.bisect_left(s_list, match.start)
        if at > 0 and e_list[at - 1] > match.start:
            continue
        if at < len(s_list) and s_list[at] < match.end:
            continue
        s_list.insert(at, match.start)
        e_list.insert(at, match.end)
        keep.append(i)
    keep.sort()
    return [scored[i] for i in keep]
