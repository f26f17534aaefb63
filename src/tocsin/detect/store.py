"""Rule packs in the home, the built-in starter pack, and which rules are switched off.

Layout under ``<home>/rules``::

    packs/<name>/...        the rule files of an installed pack (YAML only)
    packs/<name>.json       its manifest: source, installed at, sha256, rule count
    state.json              disabled selectors (rule ids, title globs, tags)

``install`` takes a folder, a ``.zip`` (such as SigmaHQ's release zips) or an http(s) URL to
one; only a URL goes to the network. Zips are extracted safely: no absolute or ``..`` paths, no
links, a bound on members and on unpacked bytes. A pack is installed even when some of its rules
are bad: those are reported and left out when loading.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import orjson

from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.detect.rules import RULE_SUFFIXES, LoadedRule, RuleIssue

STARTER = "starter"
MAX_ZIP_BYTES = 512 * 1024 * 1024
"""Unpacked bytes allowed from one zip (SigmaHQ's whole release is about 20 MB)."""
MAX_ZIP_MEMBERS = 50_000
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")


def starter_pack_path() -> Path:
    """The project's own rules, shipped inside the package."""
    return Path(__file__).parent / "starter"


@dataclass(frozen=True, slots=True)
class InstalledPack:
    """One pack in the home."""

    name: str
    source: str
    installed_at: str
    sha256: str
    rules: int
    path: Path
    issues: tuple[RuleIssue, ...] = field(default=(), compare=False)

    def to_row(self) -> dict[str, object]:
        """The pack as a CLI row."""
        return {
            "name": self.name,
            "rules": self.rules,
            "source": self.source,
            "installed_at": self.installed_at,
            "sha256": self.sha256[:16],
        }


def pack_name(source: str) -> str:
    """A pack name from a source: the last path part without ``.zip``, lowercased and safe."""
    last = source.rstrip("/").rsplit("/", 1)[-1]
    if last.lower().endswith(".zip"):
        last = last[:-4]
    cleaned = "".join(c if c in _NAME_OK else "_" for c in last.lower()).strip("._")
    return cleaned or "pack"


class RuleStore:
    """The rule packs and switches of one home."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.packs_dir = root / "packs"
        self.state_file = root / "state.json"

    # -- packs ------------------------------------------------------------------------------
    def packs(self) -> list[InstalledPack]:
        """Installed packs, by name."""
        found: list[InstalledPack] = []
        if not self.packs_dir.is_dir():
            return found
        for manifest in sorted(self.packs_dir.glob("*.json")):
            try:
                data = orjson.loads(manifest.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            folder = self.packs_dir / manifest.stem
            if folder.is_dir():
                found.append(
                    InstalledPack(
                        manifest.stem,
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
        progress: Callable[[int, int | None], None] | None = None,
    ) -> InstalledPack:
        """Install a folder, a zip or a URL of a zip as a pack; validate its rules.

        Raises:
            ConflictError: the pack exists and ``force`` is not given.
            InvalidInputError: the source is unreadable, not a zip, unsafe or holds no rule.
            NotFoundError: a local source does not exist.
        """
        chosen = name or pack_name(source)
        if chosen == STARTER or not set(chosen) <= _NAME_OK or chosen.startswith("."):
            raise InvalidInputError(f"{chosen!r} cannot be a pack name", source=source)
        target = self.packs_dir / chosen
        if target.exists() and not force:
            raise ConflictError(f"pack {chosen!r} is installed: pass --force to replace it")
        self.packs_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{chosen}-", dir=self.packs_dir))
        try:
            digest = self._fetch_into(source, staging, progress)
            count = sum(1 for p in staging.rglob("*") if p.suffix.lower() in RULE_SUFFIXES)
            if count == 0:
                raise InvalidInputError("no .yml or .yaml rule in it", source=source)
            from tocsin.detect.loader import load_rules

            loaded = load_rules([staging])
            issues = tuple(
                RuleIssue(
                    target / i.path.relative_to(staging)
                    if i.path.is_relative_to(staging)
                    else i.path,
                    i.rule_id,
                    i.severity,
                    i.message,
                )
                for i in loaded.issues
            )
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        manifest = {
            "source": source,
            "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sha256": digest,
            "rules": len(loaded.rules),
        }
        (self.packs_dir / f"{chosen}.json").write_bytes(orjson.dumps(manifest))
        return InstalledPack(
            chosen,
            source,
            str(manifest["installed_at"]),
            digest,
            len(loaded.rules),
            target,
            issues,
        )

    def remove(self, name: str) -> None:
        """Remove an installed pack.

        Raises:
            NotFoundError: no such pack.
        """
        target = self.packs_dir / name
        manifest = self.packs_dir / f"{name}.json"
        if name == STARTER or not set(name) <= _NAME_OK or not target.is_dir():
            raise NotFoundError(f"no installed pack {name!r}")
        shutil.rmtree(target)
        manifest.unlink(missing_ok=True)

    def enabled_paths(self) -> list[Path]:
        """The folders to load: the starter pack first, then the installed packs."""
        return [starter_pack_path(), *(p.path for p in self.packs())]

    # -- switches ---------------------------------------------------------------------------
    def disabled(self) -> list[str]:
        """The selectors that switch rules off."""
        try:
            data = orjson.loads(self.state_file.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return []
        return [str(s) for s in data.get("disabled", [])]

    def disable(self, selectors: Sequence[str]) -> list[str]:
        """Switch rules off by id, title glob or tag glob; returns the selectors now in force."""
        current = self.disabled()
        for selector in selectors:
            if selector.strip() and selector.strip() not in current:
                current.append(selector.strip())
        self._save(current)
        return current

    def enable(self, selectors: Sequence[str]) -> list[str]:
        """Switch rules back on: removes those selectors (and a rule's id when given one)."""
        wanted = {s.strip() for s in selectors}
        current = [s for s in self.disabled() if s not in wanted]
        self._save(current)
        return current

    def is_enabled(self, rule: LoadedRule, selectors: Sequence[str] | None = None) -> bool:
        """False when a selector names the rule's id, matches its title or one of its tags."""
        chosen = self.disabled() if selectors is None else selectors
        return not any(_selects(s, rule) for s in chosen)

    def _save(self, disabled: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"disabled": disabled}, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.state_file)

    # -- fetching ---------------------------------------------------------------------------
    def _fetch_into(
        self, source: str, target: Path, progress: Callable[[int, int | None], None] | None
    ) -> str:
        if source.startswith(("http://", "https://")):
            data = _download(source, progress)
            _extract_zip(io.BytesIO(data), target, source)
            return hashlib.sha256(data).hexdigest()
        path = Path(source).expanduser()
        if not path.exists():
            raise NotFoundError(f"no such file or folder: {source!r}")
        if path.is_dir():
            digest = hashlib.sha256()
            for file in sorted(path.rglob("*")):
                if (
                    file.is_file()
                    and file.suffix.lower() in RULE_SUFFIXES
                    and not file.is_symlink()
                ):
                    relative = file.relative_to(path)
                    if any(part.startswith(".") for part in relative.parts):
                        continue
                    data = file.read_bytes()
                    digest.update(str(relative).encode() + b"\0" + data)
                    out = target / relative
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(data)
            return digest.hexdigest()
        if not zipfile.is_zipfile(path):
            raise InvalidInputError("not a folder or a zip file", source=source)
        with path.open("rb") as handle:
            _extract_zip(handle, target, source)
        return hashlib.sha256(path.read_bytes()).hexdigest()


def _selects(selector: str, rule: LoadedRule) -> bool:
    lowered = selector.lower()
    if lowered == rule.id.lower():
        return True
    if fnmatch.fnmatchcase(rule.title.lower(), lowered):
        return True
    return any(fnmatch.fnmatchcase(tag.lower(), lowered) for tag in rule.tags)


def _download(url: str, progress: Callable[[int, int | None], None] | None) -> bytes:
    import httpx

    chunks: list[bytes] = []
    received = 0
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response:
            response.raise_for_status()
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise InvalidInputError("the download is too large", source=url)
                chunks.append(chunk)
                if progress is not None:
                    progress(received, total)
    except httpx.HTTPError as exc:
        raise InvalidInputError(f"cannot download: {exc}", source=url) from exc
    return b"".join(chunks)


def _extract_zip(
    handle: io.BufferedIOBase | io.BytesIO | object, target: Path, source: str
) -> None:
    try:
        archive = zipfile.ZipFile(handle)  # type: ignore[arg-type]
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"not a zip file: {exc}", source=source) from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise InvalidInputError("the zip has too many members", source=source)
        total = 0
        for member in members:
            name = PurePosixPath(member.filename)
            if (
                member.filename.startswith(("/", "\\"))
                or ".." in name.parts
                or ":" in member.filename
            ):
                raise InvalidInputError(
                    f"unsafe path in the zip: {member.filename!r}", source=source
                )
            is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
            if is_link:
                raise InvalidInputError(f"link in the zip: {member.filename!r}", source=source)
            if member.is_dir() or name.suffix.lower() not in RULE_SUFFIXES:
                continue
            if any(part.startswith(".") for part in name.parts):
                continue
            total += member.file_size
            if total > MAX_ZIP_BYTES:
                raise InvalidInputError("the zip unpacks to too many bytes", source=source)
            out = target.joinpath(*name.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as data:
                written = 0
                with out.open("wb") as sink:
                    while block := data.read(1 << 20):
                        written += len(block)
                        if written > member.file_size:  # a lying header
                            raise InvalidInputError(
                                "a zip member is larger than it says", source=source
                            )
                        sink.write(block)
