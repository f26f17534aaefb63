"""What the console shows about rules: every rule of the home, enabled or not, by id.

Built from the compiled-rule cache (fast after the first load) and rebuilt when a rule file,
a pack or the switches change (a file rewritten in place is seen within a few seconds).
Beside the catalogue: how often each rule fired (alerts and events per rule in a window, with
the noise ratio the metrics define), and rules tried on the events the lake holds, through the
detector the hunts use, so a test shows what a hunt would find.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import Settings
from tocsin.detect.authoring import SelectionResult, check_rule
from tocsin.detect.engine import CompiledRule, Engine
from tocsin.detect.hunt import batched, hunt_datasets, lake_events
from tocsin.detect.rules import LoadedRule, RuleIssue
from tocsin.detect.rulesets import (
    default_rule_paths,
    home_engine,
    rules_signature,
    walk_rule_tree,
)
from tocsin.detect.runner import Detection, Detector
from tocsin.detect.store import RuleStore
from tocsin.lake.layout import list_datasets
from tocsin.lake.reader import LakeReader
from tocsin.workspace.metrics import RuleCount
from tocsin.workspace.models import AlertStatus
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import Alert

if TYPE_CHECKING:
    from tocsin.detect.correlation import CorrelationFiring
    from tocsin.workspace.service import Workspace

FILES_CHECK_SECONDS = 5.0
"""How long the catalogue trusts its view of the rule files when no folder changed."""
MAX_SOURCE_BYTES = 512 * 1024
"""A rule file larger than this is shown cut (a rule is a few KB; a pack file may hold many)."""
MAX_PASTED_BYTES = 256 * 1024
"""The largest pasted rule text tried."""
TRIAL_LIMIT = 50
"""Matching events (and correlation firings) kept to show."""
MAX_TRIAL_EVENTS = 2_000_000
"""Events a trial reads at most before it stops and says so (a page must come back)."""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """One rule as the console lists it."""

    rule: LoadedRule
    pack: str
    enabled: bool

    @property
    def id(self) -> str:
        """The rule's id."""
        return self.rule.id

    @property
    def attack(self) -> list[str]:
        """The rule's ATT&CK tags (``attack.t1059.001``, ``attack.execution``)."""
        return [t for t in self.rule.tags if t.lower().startswith("attack.")]

    def matches_text(self, text: str) -> bool:
        """True when ``text`` is in the title, id, a tag or the description (any case)."""
        needle = text.strip().lower()
        rule = self.rule
        haystack = (rule.title, rule.id, rule.description or "", *rule.tags)
        return any(needle in part.lower() for part in haystack)


def _files(settings: Settings) -> tuple[object, ...]:
    """Every rule file's size and mtime (a file rewritten in place changes no folder)."""
    return tuple(
        entry for root in default_rule_paths(settings) for entry in walk_rule_tree(root, True)
    )


class RuleCatalog:
    """Every rule of a home by id, reloaded when the packs or switches change."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._signature: tuple[object, ...] | None = None
        self._folders: tuple[object, ...] | None = None
        self._files: tuple[object, ...] = ()
        self._files_checked = 0.0
        self._rules: dict[str, RuleInfo] = {}
        self._engine = Engine([])
        self._issues: list[RuleIssue] = []

    def rules(self) -> list[RuleInfo]:
        """Every rule, by title."""
        return sorted(self._load().values(), key=lambda r: (r.rule.title.lower(), r.id))

    def get(self, rule_id: str) -> RuleInfo | None:
        """One rule by id (None when no installed rule has it)."""
        return self._load().get(rule_id)

    def packs(self) -> list[str]:
        """The names of the packs that hold at least one rule, the starter pack first."""
        names = {info.pack for info in self._load().values()}
        roots = [p.name for p in default_rule_paths(self.settings)]
        return [n for n in roots if n in names] + sorted(names - set(roots))

    def issues(self) -> list[RuleIssue]:
        """Problems met while loading the rules (a rule with an error is not listed)."""
        self._load()
        return list(self._issues)

    def source(self, rule_id: str) -> str | None:
        """The text of the file the rule was loaded from (cut past ``MAX_SOURCE_BYTES``)."""
        info = self.get(rule_id)
        if info is None:
            return None
        try:
            with info.rule.path.open("rb") as handle:
                data = handle.read(MAX_SOURCE_BYTES + 1)
        except OSError:
            return None
        text = data[:MAX_SOURCE_BYTES].decode("utf-8", errors="replace")
        return text + "\n# ... (cut)\n" if len(data) > MAX_SOURCE_BYTES else text

    def engine_for(self, rule_id: str) -> Engine | None:
        """An engine running only this rule (a correlation with the rules it names).

        None when no installed rule has the id. Disabled rules are included: trying a rule
        before switching it on is the point.
        """
        self._load()
        with self._lock:
            engine = self._engine
        compiled = {c.rule.id: c for c in engine.compiled}
        if rule_id in compiled:
            return Engine([compiled[rule_id]])
        correlation = next((r for r in engine.correlations if r.id == rule_id), None)
        if correlation is None:
            return None
        return _correlation_engine(correlation, engine)

    def _current(self) -> tuple[object, ...]:
        """The signature of the rules now; file stats are re-read at most every few seconds.

        Stat-ing every file of a large pack costs tens of milliseconds, too much for every
        page that looks a rule up; folders and the switches are checked on every call.
        """
        folders = rules_signature(self.settings)
        now = time.monotonic()
        if folders != self._folders or now - self._files_checked >= FILES_CHECK_SECONDS:
            self._files = _files(self.settings)
            self._files_checked = now
            self._folders = folders
        return (folders, self._files)

    def _load(self) -> dict[str, RuleInfo]:
        with self._lock:
            signature = self._current()
            if signature != self._signature:
                self._build()
                self._signature = signature
            return self._rules

    def _build(self) -> None:
        settings = self.settings
        paths = default_rule_paths(settings)
        engine = home_engine(settings, paths).engine  # explicit paths: disabled rules too
        store = RuleStore(settings.rules_dir) if settings.home.is_dir() else None
        everything = [*engine.rules, *engine.correlations]
        running = store.enabled_ids(everything) if store else {r.id for r in everything}
        self._rules = {
            r.id: RuleInfo(r, _pack_of(r.path, paths), r.id in running) for r in everything
        }
        self._engine = engine
        self._issues = list(engine.issues)


def _pack_of(path: Path, roots: list[Path]) -> str:
    for root in roots:
        if path == root or root in path.parents:
            return root.name
    return path.parent.name


def _correlation_engine(correlation: LoadedRule, engine: Engine) -> Engine:
    """The correlation with the detection rules it names (by id or name), recursively."""
    by_key: dict[str, CompiledRule] = {}
    for compiled in engine.compiled:
        by_key[compiled.rule.id] = compiled
        if compiled.rule.name:
            by_key[compiled.rule.name] = compiled
    correlations = {r.id: r for r in engine.correlations}
    correlations.update({r.name: r for r in engine.correlations if r.name})
    chosen: dict[str, CompiledRule] = {}
    wanted: dict[str, LoadedRule] = {}
    pending = [correlation]
    while pending:
        current = pending.pop()
        if current.id in wanted:
            continue
        wanted[current.id] = current
        for ref in current.rule_refs:
            if ref in by_key:
                chosen[by_key[ref].rule.id] = by_key[ref]
            elif ref in correlations:
                pending.append(correlations[ref])
    order = {r.id: i for i, r in enumerate(engine.correlations)}
    return Engine(
        [c for c in engine.compiled if c.rule.id in chosen],
        sorted(wanted.values(), key=lambda r: order.get(r.id, 0)),
    )


# -- how often rules fire --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RuleHits:
    """Alerts of one rule created in a window: the metrics' counts, plus the events they hold."""

    counts: RuleCount
    events: int

    @property
    def alerts(self) -> int:
        """Alerts raised."""
        return self.counts.total

    @property
    def noise_ratio(self) -> float | None:
        """False and benign positives among the closed alerts (None when none is closed)."""
        return self.counts.noise_ratio

    @property
    def noise(self) -> int:
        """Closed alerts classified false or benign positive."""
        ratio = self.counts.noise_ratio
        return round(ratio * self.counts.closed) if ratio is not None else 0


def rule_hits(
    workspace: Workspace, actor: Principal, *, since: datetime, until: datetime
) -> dict[str, RuleHits]:
    """Per rule id, the alerts created in ``[since, until)`` and the events they counted.

    One grouped query (the rules page lists thousands of rules), giving the same counts and
    noise ratio as ``MetricsService.compute(...).rules`` for the same window.
    """
    actor.require(Permission.ALERT_READ)
    if until <= since:
        raise InvalidInputError(
            f"until {until.isoformat()!r} must be after since {since.isoformat()!r}"
        )
    query = (
        select(
            Alert.rule_id,
            Alert.status,
            Alert.classification,
            func.count(Alert.id),
            func.coalesce(func.sum(Alert.count), 0),
        )
        .where(Alert.created_at >= since, Alert.created_at < until)
        .group_by(Alert.rule_id, Alert.status, Alert.classification)
    )
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    classes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with workspace.db.session() as session:
        rows = session.execute(query).all()
    for rule_id, status, classification, alerts, events in rows:
        counts = totals[rule_id]
        counts["total"] += int(alerts)
        counts["events"] += int(events)
        if status == AlertStatus.CLOSED.value:
            counts["closed"] += int(alerts)
            classes[rule_id][classification or "unclassified"] += int(alerts)
        else:
            counts["open"] += int(alerts)
    return {
        rule_id: RuleHits(
            RuleCount(
                rule_id,
                c["total"],
                c["open"],
                c["closed"],
                dict(sorted(classes[rule_id].items())),
            ),
            c["events"],
        )
        for rule_id, c in totals.items()
    }


# -- a rule tried on the lake ----------------------------------------------------------------
@dataclass(slots=True)
class TrialMatch:
    """One event a rule matched, with each of the rule's selections on it."""

    rule: LoadedRule
    event: dict[str, Any]
    selections: list[SelectionResult]


@dataclass(slots=True)
class LakeTrial:
    """Rules run over the lake's events of a window: counts, and the first matches."""

    since: datetime
    until: datetime
    datasets: list[str]
    events_read: int = 0
    matched: int = 0
    fired: int = 0
    truncated: bool = False
    matches: list[TrialMatch] = field(default_factory=list)
    firings: list[CorrelationFiring] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Matching events and correlation firings."""
        return self.matched + self.fired


def try_on_lake(
    engine: Engine,
    reader: LakeReader,
    *,
    since: datetime,
    until: datetime,
    limit: int = TRIAL_LIMIT,
    max_events: int = MAX_TRIAL_EVENTS,
) -> LakeTrial:
    """Run the engine over the lake's events in ``[since, until)``, as a hunt would.

    Counts every match and correlation firing, keeps the first ``limit`` of each with the
    rule's selections evaluated on the event, and stops (``truncated``) after ``max_events``.
    """
    trial = LakeTrial(since, until, hunt_datasets(engine, list_datasets(reader.lake_dir)))
    compiled = {c.rule.id: c for c in engine.compiled}
    detector = Detector(engine)
    stream = lake_events(reader, trial.datasets, since=since, until=until)
    try:
        for chunk in batched(stream):
            trial.events_read += len(chunk)
            _keep(trial, detector.run(chunk), compiled, limit)
            if trial.events_read >= max_events:
                trial.truncated = True
                break
    finally:
        _close(stream)
    if not trial.truncated:
        _keep(trial, detector.finish(), compiled, limit)
    return trial


def _keep(
    trial: LakeTrial, detection: Detection, compiled: dict[str, CompiledRule], limit: int
) -> None:
    trial.matched += len(detection.matches)
    trial.fired += len(detection.firings)
    for match in detection.matches[: max(0, limit - len(trial.matches))]:
        event = dict(match.event)
        rule = compiled.get(match.rule.id)
        selections = check_rule(rule, [event]).results[0].selections if rule else []
        trial.matches.append(TrialMatch(match.rule, event, selections))
    trial.firings.extend(detection.firings[: max(0, limit - len(trial.firings))])


def _close(stream: Iterable[Any]) -> None:
    """Close a generator left early, so its DuckDB connections are released now."""
    close = getattr(stream, "close", None)
    if callable(close):
        close()


@dataclass(slots=True)
class PastedRules:
    """Rule text given by hand: the engine of what compiled, and every problem found."""

    engine: Engine | None
    rules: list[LoadedRule]
    errors: list[str]
    warnings: list[str]


def load_pasted(text: str, *, placeholders: dict[str, list[str]] | None = None) -> PastedRules:
    """Load and compile rule YAML given as text, as the loader would load it from a pack.

    Problems are data: the messages of the loader's and compiler's issues (``line N: ...``)
    are returned, and ``engine`` is None when no detection or correlation rule compiled.
    """
    if not text.strip():
        return PastedRules(None, [], ["paste a rule: the text is empty"], [])
    if len(text.encode()) > MAX_PASTED_BYTES:
        return PastedRules(
            None, [], [f"the text is too long: {MAX_PASTED_BYTES // 1024} KB at most"], []
        )
    with tempfile.TemporaryDirectory(prefix="tocsin-rule-") as folder:
        path = Path(folder) / "pasted.yml"
        path.write_text(text, encoding="utf-8")
        engine = Engine.load([path], placeholders=placeholders)
    errors = [_issue_text(i) for i in engine.issues if i.severity == "error"]
    warnings = [_issue_text(i) for i in engine.issues if i.severity == "warning"]
    rules = [*engine.rules, *engine.correlations]
    if not rules and not errors:
        errors.append("no detection or correlation rule in the text")
    return PastedRules(engine if rules else None, rules, errors, warnings)


def _issue_text(issue: RuleIssue) -> str:
    return f"{issue.rule_id}: {issue.message}" if issue.rule_id else issue.message
