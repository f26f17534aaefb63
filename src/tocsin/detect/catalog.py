"""What the console shows about rules: every rule of the home, enabled or not, by id.

Built from the compiled-rule cache (fast after the first load) and rebuilt when the packs or
their switches change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from tocsin.core.settings import Settings
from tocsin.detect.rules import LoadedRule
from tocsin.detect.rulesets import default_rule_paths, home_engine
from tocsin.detect.store import RuleStore


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


def _signature(settings: Settings) -> tuple[object, ...]:
    """What the catalogue depends on: the rule folders and the switch file, with mtimes."""
    parts: list[object] = []
    for path in default_rule_paths(settings):
        try:
            parts.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            parts.append((str(path), None))
    state = settings.rules_dir / "state.json"
    parts.append(state.stat().st_mtime_ns if state.exists() else None)
    return tuple(parts)


class RuleCatalog:
    """Every rule of a home by id, reloaded when the packs or switches change."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._signature: tuple[object, ...] | None = None
        self._rules: dict[str, RuleInfo] = {}

    def rules(self) -> list[RuleInfo]:
        """Every rule, by title."""
        return sorted(self._load().values(), key=lambda r: (r.rule.title.lower(), r.id))

    def get(self, rule_id: str) -> RuleInfo | None:
        """One rule by id (None when no installed rule has it)."""
        return self._load().get(rule_id)

    def _load(self) -> dict[str, RuleInfo]:
        signature = _signature(self.settings)
        with self._lock:
            if signature != self._signature:
                self._rules = self._build()
                self._signature = signature
            return self._rules

    def _build(self) -> dict[str, RuleInfo]:
        settings = self.settings
        paths = default_rule_paths(settings)
        engine = home_engine(settings, paths).engine  # explicit paths: disabled rules too
        store = RuleStore(settings.rules_dir) if settings.home.is_dir() else None
        everything = [*engine.rules, *engine.correlations]
        running = store.enabled_ids(everything) if store else {r.id for r in everything}
        return {r.id: RuleInfo(r, _pack_of(r.path, paths), r.id in running) for r in everything}


def _pack_of(path: Path, roots: list[Path]) -> str:
    for root in roots:
        if path == root or root in path.parents:
            return root.name
    return path.parent.name
