"""The plugin registry: entry-point groups loaded lazily by id.

tocsin's own parsers, jobs and detectors register through the same entry-point groups as
third-party plugins, so that path is always exercised. Two distributions claiming one id is an
error naming both; a plugin that fails to import is logged and skipped (fatal when strict).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from tocsin.core.errors import ConflictError, NotFoundError, TocsinError

logger = logging.getLogger(__name__)

GROUPS = (
    "tocsin.sources",
    "tocsin.parsers",
    "tocsin.enrichers",
    "tocsin.detectors",
    "tocsin.jobs",
    "tocsin.notifiers",
)


class PluginLoadError(TocsinError):
    """A plugin could not be imported."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered plugin: its group, id, target and the distribution that provides it."""

    group: str
    id: str
    target: str
    distribution: str
    error: str | None = None


class Registry:
    """Entry points of every group, read once and loaded on first use."""

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._entries: dict[str, dict[str, EntryPoint]] = {}
        self._loaded: dict[tuple[str, str], Any] = {}
        self._errors: dict[tuple[str, str], str] = {}

    def _group(self, group: str) -> dict[str, EntryPoint]:
        if group not in self._entries:
            found: dict[str, EntryPoint] = {}
            for entry in entry_points(group=group):
                if entry.name in found and found[entry.name].value != entry.value:
                    raise ConflictError(
                        f"plugin id {entry.name!r} in {group!r} is claimed twice: "
                        f"{_dist_name(found[entry.name])!r} and {_dist_name(entry)!r}"
                    )
                found[entry.name] = entry
            self._entries[group] = found
        return self._entries[group]

    def ids(self, group: str) -> list[str]:
        """Return the ids registered in ``group``, sorted."""
        return sorted(self._group(group))

    def load(self, group: str, plugin_id: str) -> Any:
        """Load and return the object registered as ``plugin_id`` in ``group``.

        Raises:
            NotFoundError: when no plugin has that id.
            PluginLoadError: when it fails to import.
        """
        key = (group, plugin_id)
        if key in self._loaded:
            return self._loaded[key]
        entry = self._group(group).get(plugin_id)
        if entry is None:
            known = ", ".join(self.ids(group)) or "none"
            raise NotFoundError(f"no {group} plugin named {plugin_id!r} (known: {known})")
        try:
            obj = entry.load()
        except Exception as exc:  # a broken plugin must not take the others down
            self._errors[key] = f"{type(exc).__name__}: {exc}"
            raise PluginLoadError(
                f"plugin {plugin_id!r} in {group!r} failed to load: {exc}"
            ) from exc
        self._loaded[key] = obj
        return obj

    def load_all(self, group: str) -> dict[str, Any]:
        """Load every plugin of ``group``; broken ones are logged and skipped unless strict."""
        out: dict[str, Any] = {}
        for plugin_id in self.ids(group):
            try:
                out[plugin_id] = self.load(group, plugin_id)
            except PluginLoadError:
                if self.strict:
                    raise
                logger.warning("plugin failed to load", extra={"group": group, "plugin": plugin_id})
        return out

    def describe(self) -> list[PluginInfo]:
        """List every plugin of every group, loading each to report errors."""
        rows: list[PluginInfo] = []
        for group in GROUPS:
            for plugin_id, entry in sorted(self._group(group).items()):
                error = None
                try:
                    self.load(group, plugin_id)
                except PluginLoadError:
                    error = self._errors.get((group, plugin_id))
                rows.append(PluginInfo(group, plugin_id, entry.value, _dist_name(entry), error))
        return rows


def _dist_name(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else "unknown"


_default: Registry | None = None


def default_registry() -> Registry:
    """Return the process-wide registry."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
