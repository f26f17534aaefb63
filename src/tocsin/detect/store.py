"""Rule packs in the home, the built-in starter pack, and which rules are switched off.

Layout under ``<home>/rules``::

    packs/<name>/...            the rule files of an installed pack (YAML only)
    packs/<name>/pack.json      its manifest: source, installed at, sha256, rule count
    state.json                  the switches: disabled selectors and enabled exceptions

``install`` takes a folder, a ``.zip`` (such as SigmaHQ's release zips, whose rules sit in
sub-folders) or an http(s) URL to one; only a URL goes to the network. Zips are extracted
safely: no absolute or ``..`` paths, no links, bounds on members and on unpacked bytes. A pack
is unpacked into a hidden staging folder and renamed into place, so a reinstall (``force``)
swaps the old pack for the new one whole. A pack is installed even when some of its rules are
bad: those are reported and left out when loading.

Switches: a selector is a rule id, a title glob (``*Mimikatz*``) or a tag glob
(``attack.t1059*``), all matched without regard to case. ``disable`` adds selectors;
``enable`` removes a disabled selector, or else records it as an exception that wins over the
disabled ones, so ``enable <id>`` brings back one rule that a broader tag switched off.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import orjson

from tocsin.core.errors import (
    ConflictError,
    ExternalServiceError,
    InvalidInputError,
    NotFoundError,
)
from tocsin.detect.rules import RULE_SUFFIXES, LoadedRule, RuleIssue, RuleSet

__all__ = [
    "MAX_DOWNLOAD_BYTES",
    "MAX_UNPACKED_BYTES",
    "MAX_ZIP_MEMBERS",
    "STARTER",
    "InstalledPack",
    "Progress",
    "RuleStore",
    "pack_name",
    "selects",
    "starter_pack_path",
]

STARTER = "starter"
"""The reserved name of the built-in pack."""
MANIFEST = "pack.json"
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
"""Rule bytes allowed from one pack (SigmaHQ's whole release unpacks to about 20 MB)."""
MAX_ZIP_MEMBERS = 100_000
"""Members allowed in one zip."""
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
"""Bytes allowed in one download."""
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")

Progress = Callable[[str, int, int | None], None]
"""``progress(phase, done, total)``: ``download`` counts bytes, ``extract`` files and
``validate`` loaded rules (``total`` None while unknown)."""


def starter_pack_path() -> Path:
    """The project's own rules, shipped inside the package."""
    return Path(__file__).parent / "starter"


@dataclass(frozen=True, slots=True)
class InstalledPack:
    """One pack in the home, as its manifest describes it."""

    name: str
    source: str
    installed_at: str
    sha256: str
    rules: int
    path: Path
    issues: tuple[RuleIssue, ...] = field(default=(), compare=False)
    """Problems found while validating the pack (only filled by ``install``)."""

    @property
    def errors(self) -> list[RuleIssue]:
        """Issues that keep a rule from loading."""
        return [i for i in self.issues if i.severity == "error"]

    def to_row(self) -> dict[str, object]:
        """The pack as a CLI row."""
        return {
            "name": self.name,
            "rules": self.rules,
            "source": self.source,
            "installed_at": self.installed_at,
            "sha256": self.sha256,
            "path": str(self.path),
        }


def pack_name(source: str) -> str:
    """A pack name from a source: the last path part without ``.zip``, lowercased and safe."""
    last = source.split("?", 1)[0].rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    if last.lower().endswith(".zip"):
        last = last[:-4]
    cleaned = "".join(c if c in _NAME_CHARS else "_" for c in last.lower()).strip("._-")
    return cleaned or "pack"


def _check_name(name: str) -> None:
    if (
        not name
        or name == STARTER
        or name.startswith((".", "-"))
        or not set(name) <= _NAME_CHARS
        or len(name) > 100
    ):
        raise InvalidInputError(
            f"{name!r} cannot be a pack name: use lowercase letters, digits, '.', '_' and '-' "
            f"(and not {STARTER!r})"
        )


@dataclass(frozen=True, slots=True)
class _Switches:
    disabled: tuple[str, ...] = ()
    enabled: tuple[str, ...] = ()


class RuleStore:
    """The rule packs and switches of one home (``<home>/rules``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.packs_dir = root / "packs"
        self.state_file = root / "state.json"
        self._cached: tuple[tuple[int, int], _Switches] | None = None

    # -- packs ------------------------------------------------------------------------------
    def packs(self) -> list[InstalledPack]:
        """Installed packs, by name (a folder without a readable manifest is skipped)."""
        found: list[InstalledPack] = []
        if not self.packs_dir.is_dir():
            return found
        for folder in sorted(self.packs_dir.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            try:
                data = orjson.loads((folder / MANIFEST).read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            found.append(
                InstalledPack(
                    folder.name,
                    str(data.get("source", "")),
                    str(data.get("installed_at", "")),
                    str(data.get("sha256", "")),
                    int(data.get("rules", 0)),
                    folder,
                )
            )
        return found

    def install(
        self,
        source: str,
        *,
        name: str | None = None,
        force: bool = False,
        progress: Progress | None = None,
    ) -> InstalledPack:
        """Install a folder, a zip or an http(s) URL of a zip as a pack; validate its rules.

        The pack is installed even when some rules fail to load; ``issues`` of the result lists
        them. Only a URL source makes a network request.

        Raises:
            ConflictError: a pack of that name is installed and ``force`` is not given.
            InvalidInputError: the name is not allowed, or the source is not a folder or zip,
                holds an unsafe or oversized member, or holds no rule file.
            NotFoundError: a local source does not exist.
            ExternalServiceError: the download failed.
        """
        is_url = source.lower().startswith(("http://", "https://"))
        if not is_url:
            source = str(Path(source).expanduser().resolve())
        chosen = name if name is not None else pack_name(source)
        _check_name(chosen)
        target = self.packs_dir / chosen
        if target.exists() and not force:
            raise ConflictError(f"pack {chosen!r} is installed: pass --force to replace it")
        self.packs_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{chosen}-", dir=self.packs_dir))
        try:
            digest = self._fetch_into(source, staging, progress)
            if not any(p.suffix.lower() in RULE_SUFFIXES for p in staging.rglob("*")):
                raise InvalidInputError("no .yml or .yaml rule file in it", source=source)
            from tocsin.detect.loader import load_rules

            if progress is not None:
                progress("validate", 0, None)
            loaded = load_rules([staging])
            if progress is not None:
                progress("validate", len(loaded.rules), len(loaded.rules))
            installed_at = datetime.now(UTC).isoformat(timespec="seconds")
            manifest = {
                "source": source,
                "installed_at": installed_at,
                "sha256": digest,
                "rules": len(loaded.rules),
                "errors": len(loaded.errors),
            }
            (staging / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
            _swap_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        issues = tuple(
            RuleIssue(_moved(i.path, staging, target), i.rule_id, i.severity, i.message)
            for i in loaded.issues
        )
        return InstalledPack(
            chosen, source, installed_at, digest, len(loaded.rules), target, issues
        )

    def remove(self, name: str) -> InstalledPack:
        """Remove an installed pack; returns what was removed.

        Raises:
            NotFoundError: no pack of that name is installed.
        """
        pack = next((p for p in self.packs() if p.name == name), None)
        if pack is None:
            raise NotFoundError(f"no installed pack {name!r}: see `tocsin rules packs`")
        # rename first, so a half-deleted pack is never loaded
        trash = Path(tempfile.mkdtemp(prefix=f".{name}-removed-", dir=self.packs_dir))
        os.replace(pack.path, trash / name)
        shutil.rmtree(trash, ignore_errors=True)
        return pack

    def enabled_paths(self) -> list[Path]:
        """The folders to load: the starter pack first, then the installed packs by name."""
        return [starter_pack_path(), *(p.path for p in self.packs())]

    # -- switches ---------------------------------------------------------------------------
    def disabled(self) -> list[str]:
        """The selectors that switch rules off."""
        return list(self._switches().disabled)

    def enabled_exceptions(self) -> list[str]:
        """Selectors enabled on purpose while broader disabled selectors remain."""
        return list(self._switches().enabled)

    def disable(self, selectors: Sequence[str]) -> list[str]:
        """Switch rules off by id, title glob or tag glob; returns the disabled selectors."""
        current = self._switches()
        disabled, enabled = list(current.disabled), list(current.enabled)
        for selector in _clean(selectors):
            if selector in enabled:
                enabled.remove(selector)
            if selector not in disabled:
                disabled.append(selector)
        self._save(_Switches(tuple(disabled), tuple(enabled)))
        return disabled

    def enable(self, selectors: Sequence[str]) -> list[str]:
        """Switch rules back on; returns the disabled selectors that remain.

        A selector that was disabled is removed (an undo). Any other selector becomes an
        exception that wins over the disabled ones, so ``enable <id>`` after ``disable
        attack.t1059*`` brings back that one rule.
        """
        current = self._switches()
        disabled, enabled = list(current.disabled), list(current.enabled)
        for selector in _clean(selectors):
            if selector in disabled:
                disabled.remove(selector)
            elif selector not in enabled:
                enabled.append(selector)
        self._save(_Switches(tuple(disabled), tuple(enabled) if disabled else ()))
        return disabled

    def is_enabled(self, rule: LoadedRule) -> bool:
        """True unless a disabled selector names the rule and no enabled exception does."""
        switches = self._switches()
        if not switches.disabled:
            return True
        if any(selects(s, rule) for s in switches.enabled):
            return True
        return not any(selects(s, rule) for s in switches.disabled)

    def enabled_ids(self, rules: Iterable[LoadedRule]) -> set[str]:
        """Ids of the rules that run, given every loaded rule.

        Besides the switches: a correlation whose rules are not all running is left out (it
        could never fire), and a rule that only fed correlations now left out is left out too,
        so switching a correlation off does not turn its quiet base rules into alerts.
        """
        everything = list(rules)
        running = {r.id for r in everything if self.is_enabled(r)}
        keys = _keys(everything)

        def refs(rule: LoadedRule) -> set[str]:
            return {keys[ref].id for ref in rule.rule_refs if ref in keys}

        correlations = [r for r in everything if r.kind == "correlation"]
        quiet_before = _quiet(correlations, refs, {r.id for r in correlations})
        changed = True
        while changed:
            changed = False
            for rule in correlations:
                if rule.id in running and not refs(rule) <= running:
                    running.discard(rule.id)
                    changed = True
            quiet_now = _quiet(correlations, refs, running)
            # quiet before, not now: every correlation it fed is off
            for rule_id in (quiet_before - quiet_now) & running:
                running.discard(rule_id)
                changed = True
        return running

    def filter(self, ruleset: RuleSet) -> RuleSet:
        """The rule set without the rules that do not run (see :meth:`enabled_ids`)."""
        running = self.enabled_ids(ruleset.rules)
        return RuleSet(
            rules=[r for r in ruleset.rules if r.id in running], issues=list(ruleset.issues)
        )

    def _switches(self) -> _Switches:
        try:
            info = self.state_file.stat()
        except OSError:
            return _Switches()
        key = (info.st_mtime_ns, info.st_size)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        try:
            data = orjson.loads(self.state_file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InvalidInputError(
                f"cannot read the rule switches: {exc}", source=str(self.state_file)
            ) from exc
        switches = _Switches(
            tuple(str(s) for s in data.get("disabled", [])),
            tuple(str(s) for s in data.get("enabled", [])),
        )
        self._cached = (key, switches)
        return switches

    def _save(self, switches: _Switches) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        body = {"disabled": list(switches.disabled), "enabled": list(switches.enabled)}
        tmp = self.state_file.with_name(f".{self.state_file.name}.tmp")
        tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.state_file)
        self._cached = None

    # -- fetching ---------------------------------------------------------------------------
    def _fetch_into(self, source: str, target: Path, progress: Progress | None) -> str:
        """Copy the rule files of ``source`` into ``target``; return the source's sha256."""
        if source.lower().startswith(("http://", "https://")):
            data = _download(source, progress)
            _extract_zip(io.BytesIO(data), target, source, progress)
            return hashlib.sha256(data).hexdigest()
        path = Path(source).expanduser()
        if not path.exists():
            raise NotFoundError(f"no such file or folder: {source!r}")
        if path.is_dir():
            return _copy_folder(path, target, progress, skip=self.root)
        if not zipfile.is_zipfile(path):
            raise InvalidInputError("not a folder or a zip file", source=source)
        with path.open("rb") as handle:
            _extract_zip(handle, target, source, progress)
            handle.seek(0)
            digest = hashlib.sha256()
            while block := handle.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()


def _clean(selectors: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for selector in selectors:
        text = selector.strip()
        if not text:
            raise InvalidInputError("an empty selector selects nothing")
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


def selects(selector: str, rule: LoadedRule) -> bool:
    """True when ``selector`` is the rule's id, or a glob matching its title or one of its tags."""
    lowered = selector.lower()
    if lowered == rule.id.lower():
        return True
    if fnmatch.fnmatchcase(rule.title.lower(), lowered):
        return True
    return any(fnmatch.fnmatchcase(tag.lower(), lowered) for tag in rule.tags)


def _keys(rules: Sequence[LoadedRule]) -> dict[str, LoadedRule]:
    keys = {r.name: r for r in rules if r.name}
    keys.update({r.id: r for r in rules})
    return keys


def _quiet(
    correlations: Sequence[LoadedRule],
    refs: Callable[[LoadedRule], set[str]],
    running: set[str],
) -> set[str]:
    """Rules referenced by running correlations, none of which has ``generate: true``."""
    referenced: set[str] = set()
    loud: set[str] = set()
    for rule in correlations:
        if rule.id not in running:
            continue
        targets = refs(rule)
        referenced |= targets
        if bool(getattr(rule.sigma, "generate", False)):
            loud |= targets
    return referenced - loud


def _moved(path: Path, staging: Path, target: Path) -> Path:
    return target / path.relative_to(staging) if path.is_relative_to(staging) else path


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is moved aside, then deleted."""
    if not target.exists():
        os.replace(staging, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    os.replace(target, aside / target.name)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(aside / target.name, target)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def _copy_folder(folder: Path, target: Path, progress: Progress | None, *, skip: Path) -> str:
    """Copy the rule files under ``folder`` (no links, no hidden folders); return a digest.

    ``skip`` (the store itself) is left out, should the folder hold the home.
    """
    digest = hashlib.sha256()
    total = copied = 0
    skipped = skip.resolve()
    for root, dirs, files in os.walk(folder, followlinks=False):
        if Path(root).resolve() == skipped:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            source = Path(root) / name
            if source.suffix.lower() not in RULE_SUFFIXES or source.is_symlink():
                continue
            relative = source.relative_to(folder)
            data = source.read_bytes()
            total += len(data)
            if total > MAX_UNPACKED_BYTES:
                raise InvalidInputError("the folder holds too many rule bytes", source=str(folder))
            digest.update(relative.as_posix().encode() + b"\0" + data + b"\0")
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            copied += 1
            if progress is not None:
                progress("extract", copied, None)
    return digest.hexdigest()


def _download(url: str, progress: Progress | None) -> bytes:
    import httpx

    chunks: list[bytes] = []
    received = 0
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response:
            response.raise_for_status()
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > MAX_DOWNLOAD_BYTES:
                raise InvalidInputError(f"the download is too large ({total} bytes)", source=url)
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise InvalidInputError("the download is too large", source=url)
                chunks.append(chunk)
                if progress is not None:
                    progress("download", received, total)
    except httpx.HTTPError as exc:
        raise ExternalServiceError(f"cannot download the pack: {exc}", source=url) from exc
    return b"".join(chunks)


def _member_path(name: str, source: str) -> PurePosixPath:
    """The relative path of a zip member; raises on absolute, drive or ``..`` paths."""
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or ":" in normalised or ".." in path.parts:
        raise InvalidInputError(f"unsafe path in the zip: {name!r}", source=source)
    return path


def _extract_zip(
    handle: BinaryIO | io.BytesIO, target: Path, source: str, progress: Progress | None
) -> None:
    """Unpack the rule files of a zip; every member's path is checked before any is written."""
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInputError(f"not a zip file: {exc}", source=source) from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise InvalidInputError(f"the zip has too many members ({len(members)})", source=source)
        chosen: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        declared = 0
        for member in members:
            path = _member_path(member.filename, source)
            if stat.S_ISLNK(member.external_attr >> 16):
                raise InvalidInputError(f"link in the zip: {member.filename!r}", source=source)
            if member.is_dir() or path.suffix.lower() not in RULE_SUFFIXES:
                continue
            if any(part.startswith(".") for part in path.parts):
                continue
            declared += member.file_size
            if declared > MAX_UNPACKED_BYTES:
                raise InvalidInputError("the zip unpacks to too many bytes", source=source)
            chosen.append((member, path))
        written = 0
        for count, (member, path) in enumerate(chosen, start=1):
            out = target.joinpath(*path.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(member) as data, out.open("wb") as sink:
                    # count what is really inflated: the sizes in the headers may lie
                    while block := data.read(1 << 20):
                        written += len(block)
                        if written > MAX_UNPACKED_BYTES:
                            raise InvalidInputError(
                                "the zip unpacks to too many bytes", source=source
                            )
                        sink.write(block)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise InvalidInputError(
                    f"cannot unpack {member.filename!r}: {exc}", source=source
                ) from exc
            if progress is not None:
                progress("extract", count, len(chosen))
