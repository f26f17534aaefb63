"""The compiled-rule cache: a second start with the same rules skips YAML and pySigma.

The cache key covers everything the compiled plan depends on: tocsin's, pySigma's and Python's
versions, the placeholders, and the path, size and modification time of every rule file. A hit
unpickles the compiled rules (plain tuples, and the pySigma objects of correlation rules only);
anything unexpected (a truncated or foreign file) is a miss, never an error. Old entries for the
same rule paths are removed when a new one is written.

The cache lives in the home (``<home>/cache/rules``) or, without a home, in the user's cache
folder (platformdirs), as ARCHITECTURE.md section 6 says.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import orjson
import platformdirs

from tocsin import __version__
from tocsin.detect.engine import CompiledRule, Engine
from tocsin.detect.rules import LoadedRule, RuleIssue, iter_rule_files

logger = logging.getLogger(__name__)

FORMAT = 2


def default_cache_dir(home: Path | None = None) -> Path:
    """``<home>/cache/rules`` for a home that exists, else the user's cache folder."""
    if home is not None and home.is_dir():
        return home / "cache" / "rules"
    return Path(platformdirs.user_cache_dir("tocsin")) / "rules"


def _pysigma_version() -> str:
    try:
        return version("pysigma")
    except PackageNotFoundError:  # pragma: no cover - pySigma is a dependency
        return "unknown"


def cache_key(
    paths: Sequence[Path], placeholders: Mapping[str, Sequence[str]] | None
) -> tuple[str, str]:
    """(key of the rule paths alone, key of everything): the first names the cache family."""
    roots = sorted(str(p.resolve()) for p in paths)
    family = hashlib.sha256(orjson.dumps(roots)).hexdigest()[:16]
    digest = hashlib.sha256()
    header = [FORMAT, __version__, _pysigma_version(), sys.version, roots]
    header.append(sorted((k, list(v)) for k, v in (placeholders or {}).items()))
    digest.update(orjson.dumps(header))
    for path in iter_rule_files(paths):
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return family, digest.hexdigest()[:32]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many long-lived objects.

    Loading thousands of rules creates millions of objects that all stay alive; each full
    collection on the way would walk them all again (loading is about a third faster without).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclasses.dataclass(slots=True)
class LoadResult:
    """The engine and how it was obtained."""

    engine: Engine
    from_cache: bool
    cache_path: Path | None


def load_engine(
    paths: Sequence[Path],
    *,
    placeholders: Mapping[str, Sequence[str]] | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> LoadResult:
    """Load and compile the rules under ``paths``, through the cache when it can."""
    if not use_cache:
        with gc_paused():
            return LoadResult(Engine.load(paths, placeholders=placeholders), False, None)
    folder = cache_dir or default_cache_dir()
    family, key = cache_key(paths, placeholders)
    path = folder / f"{family}-{key}.pickle"
    with gc_paused():
        cached = _read(path)
        if cached is not None:
            return LoadResult(cached, True, path)
        engine = Engine.load(paths, placeholders=placeholders)
    _write(path, engine, family)
    return LoadResult(engine, False, path)


def _slim(rule: LoadedRule) -> LoadedRule:
    """Drop the pySigma object of detection rules: the compiled plan replaces it."""
    if rule.kind == "correlation":
        return rule
    return dataclasses.replace(rule, sigma=None)


def _write(path: Path, engine: Engine, family: str) -> None:
    payload = {
        "format": FORMAT,
        "compiled": [CompiledRule(_slim(c.rule), c.detection, c.routes) for c in engine.compiled],
        "correlations": engine.correlations,
        "issues": engine.issues,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
        for old in path.parent.glob(f"{family}-*.pickle"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("cannot write the rule cache", extra={"path": str(path), "error": str(exc)})


def _read(path: Path) -> Engine | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        # the cache is written by this program into the user's own home or cache folder
        payload = pickle.loads(data)  # noqa: S301
        if payload.get("format") != FORMAT:
            return None
        compiled: list[CompiledRule] = payload["compiled"]
        correlations: list[LoadedRule] = payload["correlations"]
        issues: list[RuleIssue] = payload["issues"]
    except Exception as exc:  # a damaged cache is a miss
        logger.info("ignoring a damaged rule cache", extra={"path": str(path), "error": str(exc)})
        return None
    return Engine(compiled, correlations, issues)
