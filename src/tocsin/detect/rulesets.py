"""The rules a home runs: the built-in starter pack, the installed packs, minus disabled rules.

Every place that runs the home's rules (the ingest stage, ``tocsin hunt``, scheduled hunts,
``tocsin rules list``) gets them here, through the compiled-rule cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from tocsin.core.settings import Settings
from tocsin.detect.cache import LoadResult, load_engine
from tocsin.detect.engine import Engine
from tocsin.detect.rules import RULE_SUFFIXES
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


def walk_rule_tree(root: Path, files: bool) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of every folder under ``root`` (and every rule file, if asked)."""
    found: list[tuple[str, int, int]] = []
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        try:
            info = os.stat(folder)
            entries = list(os.scandir(folder))
        except OSError:
            continue
        found.append((folder, 0, info.st_mtime_ns))
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif files and entry.name.lower().endswith(RULE_SUFFIXES):
                    stat = entry.stat()
                    found.append((entry.path, stat.st_size, stat.st_mtime_ns))
            except OSError:
                continue
    found.sort()
    return found


def rules_signature(settings: Settings) -> tuple[object, ...]:
    """What the home's rules depend on, cheaply: every rule folder and the switch file.

    A rule file added, removed or replaced (written then renamed, as the store and editors
    do) changes its folder's mtime.
    """
    parts: list[object] = []
    for root in default_rule_paths(settings):
        parts.append(str(root))
        parts.extend(walk_rule_tree(root, files=False))
    state = settings.rules_dir / "state.json"
    try:
        info = state.stat()
        # the store replaces the file on every change: a new inode even within one mtime tick
        parts.append((info.st_mtime_ns, info.st_size, info.st_ino))
    except OSError:
        parts.append(None)
    return tuple(parts)
