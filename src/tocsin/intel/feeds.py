"""Indicator feeds: the configured files and URLs, mail's lists and the home's ``intel/`` files.

Every sensor matches the same indicators, so they are gathered here once:

* ``intel_feeds`` (``[[intel_feeds]]`` in ``tocsin.toml``): a local path (a relative one is
  read from the home) is read in place; an ``http(s)://`` URL is fetched only because it is
  configured there, by ``tocsin intel refresh`` or the ``intel.feeds`` job of ``tocsin serve``,
  and kept in ``<home>/intel/feeds/<name>.data`` with ``<name>.meta.json`` beside it (source,
  times, ETag, Last-Modified, SHA-256, size, counts, last error);
* ``mail_intel_feeds`` paths and the feed files in ``<home>/intel/`` (as the mail sensor has
  always read them), each named by its file name.

A download is streamed to a temporary file with ``intel_feed_max_bytes`` enforced on the
decoded bytes (gzip transfer encoding and ``.gz`` bodies are fine), asks again conditionally
(ETag, If-Modified-Since), and replaces the copy only once it is whole and readable: a failed
fetch keeps the last good copy and records the error, so nothing already loaded is lost.

``load_indicators`` gives every feed's indicators with the feed's name as provenance and its
tags; loads are cached in the process and redone only for files whose size or mtime changed.
Problems are reported (``load_feeds(...).issues``, ``FeedStatus.error``), never raised.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal, cast
from urllib.parse import urlsplit

import httpx
import orjson

from tocsin import __version__
from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import IntelFeed, Settings
from tocsin.intel.indicators import (
    FORMATS,
    KINDS,
    FeedFormat,
    FeedLoad,
    IndicatorKind,
    IndicatorSet,
    parse_feed,
)

logger = logging.getLogger(__name__)

FEED_SUFFIXES = (".txt", ".csv", ".json", ".jsonl", ".list", ".hosts", ".rpz", ".zone", ".stix")
"""Files of ``<home>/intel/`` read as feeds (mail's suffixes plus RPZ zones and STIX)."""
RETRY_AFTER = timedelta(minutes=30)  # a failed fetch is tried again after this, at the soonest
TIMEOUT = httpx.Timeout(60.0, connect=15.0)
MAX_ISSUES_SHOWN = 20  # issues reported per feed; the count says how many there were
_CHUNK = 64 * 1024
NOT_FETCHED = "not fetched yet: run `tocsin intel refresh`"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_GZIP_MAGIC = b"\x1f\x8b"

Origin = Literal["url", "file", "mail", "home", "extra"]
Outcome = Literal["fetched", "unchanged", "failed", "local"]
Progress = Callable[[str, int, int | None], None]
"""Called as (feed name, bytes received, bytes expected or None) while a feed downloads."""


# -- the feeds -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed to read: where from, how, and where its data sits on disk."""

    name: str
    source: str
    origin: Origin
    format: FeedFormat | None = None
    kind: IndicatorKind | None = None
    tags: tuple[str, ...] = ()
    refresh_hours: float = 0.0
    path: Path | None = None
    error: str | None = None

    @property
    def is_url(self) -> bool:
        """Whether the feed is downloaded (its data is a copy in the home)."""
        return self.origin == "url"


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """How a feed stands: what it holds, when it was fetched, whether it is due, what failed.

    ``kind`` is the indicator kind the feed forces (None: told from each value); ``origin``
    says where it is configured (url, file, mail, home); ``result`` is set by a refresh only.
    """

    name: str
    source: str
    format: str
    kind: str | None
    count: int
    fetched_at: datetime | None
    age: timedelta | None
    due: bool
    error: str | None
    issues: int
    origin: Origin = "file"
    passthru: int = 0
    result: Outcome | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON form (age in whole seconds)."""
        return {
            "name": self.name,
            "origin": self.origin,
            "source": self.source,
            "format": self.format,
            "kind": self.kind,
            "count": self.count,
            "issues": self.issues,
            "passthru": self.passthru,
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "age": int(self.age.total_seconds()) if self.age is not None else None,
            "due": self.due,
            "error": self.error,
            "result": self.result,
        }


@dataclass(frozen=True, slots=True)
class FeedSetLoad:
    """Every feed's indicators in one set, each feed's status, and the issues worth showing.

    The set is shared by every caller until a feed changes: read it, never add to it.
    """

    indicators: IndicatorSet
    feeds: tuple[FeedStatus, ...]
    issues: tuple[str, ...]


def feeds_dir(settings: Settings) -> Path:
    """Where downloaded feeds are kept: ``<home>/intel/feeds``."""
    return settings.home / "intel" / "feeds"


def check_feed_name(name: str) -> str:
    """The name when it is safe as a file name; raises InvalidInputError otherwise."""
    if not _SAFE_NAME.match(name):
        raise InvalidInputError(
            f"feed name {name!r} is not a safe file name: use up to 100 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit"
        )
    return name


def display_source(source: str) -> str:
    """A feed's source fit to show and log: a URL without its user, password and query."""
    if "://" not in source:
        return source
    try:
        parts = urlsplit(source)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    query = "?..." if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{query}"


def _configured(settings: Settings, feed: IntelFeed, taken: set[str]) -> FeedSpec:
    problems: list[str] = []
    try:
        check_feed_name(feed.name)
    except InvalidInputError as exc:
        problems.append(exc.message)
    if feed.name in taken:
        problems.append(f"a second feed is named {feed.name!r}: names must be unique")
    chosen = (feed.format or "auto").strip().lower()
    if chosen != "auto" and chosen not in FORMATS:
        problems.append(f"unknown format {feed.format!r}: use auto or one of {sorted(FORMATS)}")
    kind = feed.kind.strip().lower() if feed.kind else None
    if kind is not None and kind not in KINDS:
        problems.append(f"unknown kind {feed.kind!r}: use one of {sorted(KINDS)}")
    source = feed.source.strip()
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    origin: Origin = "url" if scheme in ("http", "https") else "file"
    path: Path | None = None
    if origin == "url":
        if not problems:
            path = feeds_dir(settings) / f"{feed.name}.data"
    elif scheme == "file":
        path = Path(urlsplit(source).path)
    elif scheme:
        problems.append(f"source {display_source(source)!r}: use an http(s):// URL or a path")
    else:
        local = Path(source).expanduser()
        path = local if local.is_absolute() else settings.home / local
    return FeedSpec(
        name=feed.name,
        source=source,
        origin=origin,
        format=cast(FeedFormat, chosen) if chosen in FORMATS else None,
        kind=cast(IndicatorKind, kind) if kind in KINDS else None,
        tags=tuple(feed.tags),
        refresh_hours=feed.refresh_hours,
        path=path,
        error="; ".join(problems) or None,
    )


def feed_specs(settings: Settings, extra: Sequence[Path] = ()) -> list[FeedSpec]:
    """Every feed: ``intel_feeds``, then ``mail_intel_feeds``, ``extra`` and ``<home>/intel/``."""
    specs: list[FeedSpec] = []
    taken: set[str] = set()
    for feed in settings.intel_feeds:
        spec = _configured(settings, feed, taken)
        taken.add(feed.name)
        specs.append(spec)
    seen = {s.path.resolve() for s in specs if s.path is not None}
    folder = settings.home / "intel"
    home_files: list[Path] = []
    if folder.is_dir():
        home_files = sorted(
            p for p in folder.iterdir() if p.suffix.lower() in FEED_SUFFIXES and p.is_file()
        )
    groups: list[tuple[Origin, Iterable[Path]]] = [
        ("mail", settings.mail_intel_feeds),
        ("extra", extra),
        ("home", home_files),
    ]
    for origin, paths in groups:
        for path in paths:
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            specs.append(FeedSpec(name=path.name, source=str(path), origin=origin, path=path))
    return specs


# -- loading ---------------------------------------------------------------------------

_FileKey = tuple[str, int, int, str | None, str | None, tuple[str, ...], str]
_lock = threading.RLock()
_loads: dict[_FileKey, FeedLoad] = {}
_sets: dict[tuple[_FileKey | None, ...], IndicatorSet] = {}
_MAX_CACHED_LOADS = 256
_MAX_CACHED_SETS = 4


def _file_key(spec: FeedSpec) -> _FileKey | None:
    if spec.path is None or spec.error:
        return None
    try:
        stat = spec.path.stat()
    except OSError:
        return None
    return (
        str(spec.path),
        stat.st_mtime_ns,
        stat.st_size,
        spec.format,
        spec.kind,
        spec.tags,
        spec.name,
    )


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    cache[key] = value
    while len(cache) > limit:
        cache.pop(next(iter(cache)))  # the oldest entry first: dicts keep insertion order


def _read(spec: FeedSpec) -> FeedLoad:
    assert spec.path is not None  # noqa: S101 - a key exists only for a path
    text = spec.path.read_bytes().decode("utf-8", errors="replace")
    return parse_feed(
        text,
        kind=spec.kind,
        source=spec.name,
        format=spec.format,
        name=spec.name if spec.is_url else str(spec.path),
        tags=spec.tags,
    )


def _load(spec: FeedSpec) -> tuple[FeedLoad | None, str | None]:
    """A feed's load (cached by file identity) or why there is none."""
    if spec.error:
        return None, spec.error
    key = _file_key(spec)
    if key is None:
        if spec.is_url:
            return None, None  # not fetched yet: its status says so
        return None, f"cannot read {str(spec.path)!r}: no such file or not readable"
    with _lock:
        cached = _loads.get(key)
        if cached is not None:
            return cached, None
        try:
            loaded = _read(spec)
        except OSError as exc:
            return None, f"cannot read {str(spec.path)!r}: {exc.strerror or exc}"
        except InvalidInputError as exc:
            return None, exc.message
        _remember(_loads, key, loaded, _MAX_CACHED_LOADS)
        return loaded, None


def load_feeds(
    settings: Settings, *, extra: Sequence[Path] = (), now: datetime | None = None
) -> FeedSetLoad:
    """Every feed's indicators (one shared set), statuses and issues; never raises for a feed."""
    moment = now or datetime.now(UTC)
    specs = feed_specs(settings, extra)
    loads = [_load(spec) for spec in specs]
    signature = tuple(_file_key(spec) for spec in specs)
    with _lock:
        indicators = _sets.get(signature)
        rebuilt = indicators is None
        if indicators is None:
            indicators = IndicatorSet()
            for loaded, _ in loads:
                if loaded is not None:
                    indicators.extend(loaded.indicators)
            _remember(_sets, signature, indicators, _MAX_CACHED_SETS)
    issues: list[str] = []
    statuses: list[FeedStatus] = []
    for spec, (loaded, error) in zip(specs, loads, strict=True):
        status = _status(settings, spec, loaded, error, moment)
        statuses.append(status)
        if status.error and status.error != NOT_FETCHED:
            issues.append(f"{spec.name}: {status.error}")
        if loaded is not None and loaded.issues:
            issues.extend(str(i) for i in loaded.issues[:MAX_ISSUES_SHOWN])
            if len(loaded.issues) > MAX_ISSUES_SHOWN:
                more = len(loaded.issues) - MAX_ISSUES_SHOWN
                issues.append(f"{spec.name}: and {more} more lines not read")
    if rebuilt and issues:
        # once per change of the feeds, not at every lookup of a cached set
        logger.info(
            "some indicator feeds could not be read in full",
            extra={"issues": len(issues), "first": issues[0]},
        )
    return FeedSetLoad(indicators, tuple(statuses), tuple(issues))


def load_indicators(settings: Settings) -> IndicatorSet:
    """Every feed's indicators, provenance the feed's name; cached until a feed file changes."""
    return load_feeds(settings).indicators


def feed_statuses(settings: Settings, *, now: datetime | None = None) -> list[FeedStatus]:
    """The status of every feed, URL and local."""
    return list(load_feeds(settings, now=now).feeds)


# -- status ----------------------------------------------------------------------------


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _meta_path(settings: Settings, name: str) -> Path:
    return feeds_dir(settings) / f"{name}.meta.json"


def read_meta(settings: Settings, name: str) -> dict[str, Any]:
    """A downloaded feed's metadata (empty when never fetched or unreadable)."""
    try:
        found = orjson.loads(_meta_path(settings, name).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def is_due(spec: FeedSpec, meta: dict[str, Any], has_copy: bool, now: datetime) -> bool:
    """Whether a URL feed should be fetched now (see ``refresh_hours`` and ``RETRY_AFTER``)."""
    if not spec.is_url or spec.error:
        return False
    same = meta.get("source") == spec.source
    checked = _time(meta.get("checked_at")) if same else None
    if checked is None:
        return True
    since = now - checked
    if not has_copy or meta.get("fetched_at") is None:
        return since >= RETRY_AFTER
    if spec.refresh_hours <= 0:
        return False
    every = timedelta(hours=spec.refresh_hours)
    if meta.get("error"):
        return since >= min(every, RETRY_AFTER)
    return since >= every


def _status(
    settings: Settings,
    spec: FeedSpec,
    loaded: FeedLoad | None,
    error: str | None,
    now: datetime,
) -> FeedStatus:
    fetched: datetime | None = None
    due = False
    if spec.is_url and not spec.error:
        meta = read_meta(settings, spec.name)
        has_copy = spec.path is not None and spec.path.is_file()
        if meta.get("source") == spec.source:
            fetched = _time(meta.get("fetched_at"))
            error = error or meta.get("error")
        elif has_copy:
            error = error or "the source changed: the copy is of the old source until a refresh"
        if not has_copy and error is None:
            error = NOT_FETCHED
        due = is_due(spec, meta, has_copy, now)
    elif spec.path is not None and loaded is not None:
        try:
            fetched = datetime.fromtimestamp(spec.path.stat().st_mtime, UTC)
        except OSError:
            fetched = None
    return FeedStatus(
        name=spec.name,
        source=display_source(spec.source),
        format=loaded.format if loaded is not None else (spec.format or "auto"),
        kind=spec.kind,
        count=len(loaded.indicators) if loaded is not None else 0,
        fetched_at=fetched,
        age=(now - fetched) if fetched is not None else None,
        due=due,
        error=error,
        issues=len(loaded.issues) if loaded is not None else 0,
        origin=spec.origin,
        passthru=loaded.passthru if loaded is not None else 0,
    )


# -- fetching --------------------------------------------------------------------------


class FeedFetchError(Exception):
    """A download that gave no usable copy; the message says why."""


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _write_meta(settings: Settings, name: str, meta: dict[str, Any]) -> None:
    _write_atomically(_meta_path(settings, name), orjson.dumps(meta, option=orjson.OPT_INDENT_2))


def _stream(
    response: httpx.Response,
    out: IO[bytes],
    limit: int,
    name: str,
    progress: Progress | None,
) -> int:
    """Copy the decoded body to ``out``; refuse it as soon as it passes ``limit`` bytes."""
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    declared = response.headers.get("content-length", "")
    total = int(declared) if declared.isdigit() and not encoded else None
    if total is not None and total > limit:
        raise FeedFetchError(f"the feed is {total} bytes: more than intel_feed_max_bytes={limit}")
    received = 0
    for chunk in response.iter_bytes(_CHUNK):
        received += len(chunk)
        if received > limit:
            raise FeedFetchError(f"the feed passed intel_feed_max_bytes={limit}: refused")
        out.write(chunk)
        if progress is not None:
            progress(name, received, total)
    return received


def _gunzip(path: Path, limit: int) -> None:
    """Decompress a ``.gz`` body in place, within ``limit`` bytes of output."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".gunzip")
    try:
        written = 0
        with path.open("rb") as source, os.fdopen(handle, "wb") as out:
            while block := source.read(_CHUNK):
                data = inflater.decompress(block, limit + 1 - written)
                while True:
                    written += len(data)
                    if written > limit:
                        raise FeedFetchError(
                            f"the feed unpacks to more than intel_feed_max_bytes={limit}: refused"
                        )
                    out.write(data)
                    if not inflater.unconsumed_tail:
                        break
                    data = inflater.decompress(inflater.unconsumed_tail, limit + 1 - written)
            rest = inflater.flush()
            if written + len(rest) > limit:
                raise FeedFetchError(
                    f"the feed unpacks to more than intel_feed_max_bytes={limit}: refused"
                )
            out.write(rest)
        os.replace(temp, path)
    except zlib.error as exc:
        Path(temp).unlink(missing_ok=True)
        raise FeedFetchError(f"the feed is not valid gzip ({exc})") from exc
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _fetch(
    settings: Settings,
    spec: FeedSpec,
    client: httpx.Client,
    *,
    force: bool,
    progress: Progress | None,
    now: datetime,
) -> tuple[Outcome, str | None]:
    """Download one URL feed; returns its outcome and the error, if any."""
    assert spec.path is not None  # noqa: S101 - set for every valid URL feed
    folder = feeds_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    meta = read_meta(settings, spec.name)
    same = meta.get("source") == spec.source
    has_copy = spec.path.is_file()
    headers: dict[str, str] = {}
    if same and has_copy and not force:
        if isinstance(meta.get("etag"), str):
            headers["If-None-Match"] = meta["etag"]
        if isinstance(meta.get("last_modified"), str):
            headers["If-Modified-Since"] = meta["last_modified"]
    limit = settings.intel_feed_max_bytes
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{spec.name}.", suffix=".part")
    temp = Path(temp_name)
    stamp = now.isoformat()
    try:
        with os.fdopen(handle, "wb") as out:
            with client.stream("GET", spec.source, headers=headers) as response:
                if response.status_code == 304 and headers:
                    meta.update(checked_at=stamp, fetched_at=stamp, error=None)
                    _write_meta(settings, spec.name, meta)
                    return "unchanged", None
                if response.status_code != 200:
                    phrase = response.reason_phrase or ""
                    raise FeedFetchError(f"HTTP {response.status_code} {phrase}".strip())
                size = _stream(response, out, limit, spec.name, progress)
                etag = response.headers.get("etag")
                last_modified = response.headers.get("last-modified")
        with temp.open("rb") as check:
            packed = check.read(2) == _GZIP_MAGIC
        if packed:
            _gunzip(temp, limit)
            size = temp.stat().st_size
        data = temp.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        loaded = parse_feed(
            data.decode("utf-8", errors="replace"),
            kind=spec.kind,
            source=spec.name,
            format=spec.format,
            name=spec.name,
            tags=spec.tags,
        )
        if not loaded.indicators and loaded.issues:
            raise FeedFetchError(
                f"the download holds no indicators ({len(loaded.issues)} lines not read, first: "
                f"{loaded.issues[0].reason[:120]}); the previous copy is kept"
            )
        unchanged = same and has_copy and meta.get("sha256") == digest
        os.replace(temp, spec.path)
        meta = {
            "source": spec.source,
            "fetched_at": stamp,
            "checked_at": stamp,
            "changed_at": meta.get("changed_at") if unchanged else stamp,
            "etag": etag,
            "last_modified": last_modified,
            "sha256": digest,
            "bytes": size,
            "format": loaded.format,
            "count": len(loaded.indicators),
            "issues": len(loaded.issues),
            "passthru": loaded.passthru,
            "error": None,
        }
        _write_meta(settings, spec.name, meta)
        key = _file_key(spec)
        if key is not None:
            with _lock:
                _remember(_loads, key, loaded, _MAX_CACHED_LOADS)
        return ("unchanged" if unchanged else "fetched"), None
    except (httpx.HTTPError, FeedFetchError, OSError, InvalidInputError) as exc:
        message = _describe_error(exc)
        meta.update(checked_at=stamp, error=message, error_at=stamp)
        if not same:
            meta["source"] = spec.source
            meta.pop("fetched_at", None)
        try:
            _write_meta(settings, spec.name, meta)
        except OSError:
            logger.warning("intel feed metadata not written", extra={"feed": spec.name})
        # the status and the job's summary carry the error; the job warns about it
        logger.info("intel feed refresh failed", extra={"feed": spec.name, "error": message})
        return "failed", message
    finally:
        temp.unlink(missing_ok=True)


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, OSError):
        return f"cannot write the copy: {exc.strerror or exc}"
    if isinstance(exc, InvalidInputError):
        return exc.message
    return str(exc)


def make_client() -> httpx.Client:
    """The HTTP client feeds are fetched with: timeouts, redirects, ``tocsin/<version>``."""
    return httpx.Client(
        timeout=TIMEOUT,
        follow_redirects=True,
        headers={"User-Agent": f"tocsin/{__version__}"},
    )


def refresh_feeds(
    settings: Settings,
    *,
    names: Sequence[str] | None = None,
    force: bool = False,
    client: httpx.Client | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> list[FeedStatus]:
    """Fetch the URL feeds (all, or those named) and return their statuses with a ``result``.

    A fetch is conditional (ETag, If-Modified-Since) unless ``force``; a failure is recorded in
    the feed's metadata and status, never raised. Raises InvalidInputError for an unknown name.
    """
    specs = feed_specs(settings)
    by_name = {spec.name: spec for spec in specs}
    if names:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            known = ", ".join(sorted(by_name)) or "none"
            raise InvalidInputError(f"no feed named {unknown[0]!r} (feeds: {known})")
        chosen = [by_name[n] for n in dict.fromkeys(names)]
    else:
        chosen = [spec for spec in specs if spec.is_url]
    results: dict[str, Outcome] = {}
    own = client is None
    http = client or make_client()
    try:
        for spec in chosen:
            if not spec.is_url:
                results[spec.name] = "local"
                continue
            if spec.error:
                results[spec.name] = "failed"
                continue
            moment = now or datetime.now(UTC)
            results[spec.name], _ = _fetch(
                settings, spec, http, force=force, progress=progress, now=moment
            )
    finally:
        if own:
            http.close()
    statuses = {s.name: s for s in feed_statuses(settings, now=now)}
    return [replace(statuses[spec.name], result=results[spec.name]) for spec in chosen]


def due_feeds(settings: Settings, *, now: datetime | None = None) -> list[str]:
    """The names of the URL feeds due for a fetch."""
    return [s.name for s in feed_statuses(settings, now=now) if s.due]
