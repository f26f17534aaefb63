"""The rules a home runs: the built-in starter pack, the installed packs, minus disabled rules.

Every place that runs the home's rules (the ingest stage, ``tocsin hunt``, scheduled hunts,
``tocsin rules list``) gets them here, through the compiled-rule cache.
"""

from __future__ import annotations

from pathlib import Path

from tocsin.core.settings import Settings
from tocsin.detect.cache import LoadResult, load_engine
from tocsin.detect.engine import Engine
from tocsin.detect.store import RuleStore, starter_pack_path


def default_rule_paths(settings: Settings | None) -> list[Path]:
    """The starter pack, then the packs installed in the home (when there is one)."""
    if settings is None or not settings.home.is_dir():
        return [starter_pack_path()]
    return RuleStore(settings.rules_dir).enabled_paths()


def home_cache_dir(settings: Settings) -> Path | None:
    """Where the home keeps compiled rules (None without a home: the user cache is used)."""
    return settings.cache_dir / "rules" if settings.home.is_dir() else None


def home_engine(
    settings: Settings, paths: list[Path] | None = None, *, use_cache: bool = True
) -> LoadResult:
    """The compiled enabled rules of the home (or of ``paths``), disabled ones left out."""
    chosen = paths or default_rule_paths(settings)
    result = load_engine(
        chosen,
        placeholders=settings.sigma_placeholders,
        cache_dir=home_cache_dir(settings),
        use_cache=use_cache,
    )
    if paths is None and settings.home.is_dir():
        store = RuleStore(settings.rules_dir)
        result.engine = enabled_only(result.engine, store)
    return result


def enabled_only(engine: Engine, store: RuleStore) -> Engine:
    """The engine without the rules the store says do not run (switches, orphaned correlations)."""
    running = store.enabled_ids([*engine.rules, *engine.correlations])
    compiled = [c for c in engine.compiled if c.rule.id in running]
    correlations = [r for r in engine.correlations if r.id in running]
    if len(compiled) == len(engine.compiled) and len(correlations) == len(engine.correlations):
        return engine
    return Engine(compiled, correlations, list(engine.issues))
