"""Scan a target: files and folders (archives and documents included), a git repository's
history, a database, or the lake. The CLI and the API call these functions.

Every target goes through the same scanner; what differs is how text is read and how a
finding's location is named. Whatever cannot be read is reported as a problem (what and
where) and the rest is still scanned.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tocsin.discovery.allow import AllowList, Baseline, filter_findings
from tocsin.discovery.engine import Scanner
from tocsin.discovery.findings import DEFAULT_HASH_KEY, Finding, Location
from tocsin.discovery.rules import RuleSet, load_rules

if TYPE_CHECKING:
    from tocsin.discovery.extract import Limits

Progress = Callable[[int], None]
"""Called with the number of bytes just scanned."""


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What to look for and what to leave out."""

    rule_files: tuple[Path, ...] = ()
    builtin_rules: bool = True
    categories: tuple[str, ...] = ("secret", "pii")
    min_confidence: float = 0.3
    limits: Limits | None = None
    """Size and depth limits of archives and documents (None: the defaults)."""
    allow: AllowList = field(default_factory=AllowList)
    baseline: Baseline | None = None
    hash_key: bytes = DEFAULT_HASH_KEY
    max_rows: int = 1000
    """Rows sampled per table (databases) or events per dataset (lake)."""
    max_total_rows: int = 100_000


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that could not be scanned, and why."""

    where: str
    reason: str


@dataclass(slots=True)
class ScanReport:
    """What a scan found and what it could not read."""

    target: str
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    parts: int = 0
    bytes: int = 0
    allowed: int = 0
    known: int = 0
    seconds: float = 0.0

    def merge(self, other: ScanReport) -> None:
        """Add another report's results to this one."""
        self.findings.extend(other.findings)
        self.problems.extend(other.problems)
        self.parts += other.parts
        self.bytes += other.bytes
        self.allowed += other.allowed
        self.known += other.known
        self.seconds += other.seconds


def build_scanner(options: ScanOptions, ruleset: RuleSet | None = None) -> Scanner:
    """The scanner for these options (rules loaded once)."""
    rules = ruleset or load_rules(options.rule_files, builtin=options.builtin_rules)
    return Scanner(
        options.allow.applied_to(rules),
        min_confidence=options.min_confidence,
        categories=options.categories,
        hash_key=options.hash_key,
    )


def _owner(path: Path) -> str | None:
    try:
        uid = path.stat().st_uid
    except OSError:
        return None
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def tree_size(paths: Sequence[Path]) -> int:
    """Bytes under the paths (for a progress bar's total)."""
    total = 0
    for root in paths:
        if root.is_file():
            total += root.stat().st_size
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != ".git"]
            for name in files:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_size
                except OSError:
                    continue
    return total


@dataclass(slots=True)
class _FileResult:
    findings: list[Finding]
    problems: list[Problem]
    parts: int = 0
    bytes: int = 0
    allowed: int = 0
    known: int = 0
    size: int = 0


def _scan_file(
    path: Path, display: str, options: ScanOptions, scanner: Scanner, owner: str | None
) -> _FileResult:
    """One file's parts (documents and archives opened), scanned."""
    from tocsin.discovery.extract import Limits, Skipped, iter_parts

    result = _FileResult([], [])
    for part in iter_parts(path, options.limits or Limits(), display=display):
        if isinstance(part, Skipped):
            result.problems.append(Problem(part.path, part.reason))
            continue
        if options.allow.skips_path(part.path):
            continue
        where = Location(source="file", path=part.path, owner=owner)
        found = scanner.scan_text(part.text, part.path, where=where)
        found.extend(scanner.scan_path_name(part.path, where))
        kept, allowed, known = filter_findings(found, options.allow, options.baseline)
        result.findings.extend(kept)
        result.allowed += allowed
        result.known += known
        result.parts += 1
        result.bytes += part.size
    try:
        result.size = path.stat().st_size
    except OSError:
        result.size = 0
    return result


_WORKER: tuple[ScanOptions, Scanner] | None = None


def _worker_init(options: ScanOptions) -> None:
    global _WORKER  # noqa: PLW0603 - one scanner per worker process, built once
    _WORKER = (options, build_scanner(options))


def _worker_scan(job: tuple[Path, str]) -> _FileResult:
    assert _WORKER is not None  # noqa: S101 - set by the pool's initializer
    options, scanner = _WORKER
    return _scan_file(job[0], job[1], options, scanner, _owner(job[0]))


def _files(
    paths: Sequence[Path], options: ScanOptions, report: ScanReport
) -> Iterator[tuple[Path, str]]:
    from tocsin.discovery.extract import Skipped, iter_files

    for root in paths:
        if not root.exists():
            report.problems.append(Problem(str(root), "no such file or folder"))
        elif root.is_dir():
            for item in iter_files(root, options.allow.skips_path):
                if isinstance(item, Skipped):
                    report.problems.append(Problem(item.path, item.reason))
                else:
                    yield item[1], item[0]
        else:
            yield root, root.name


def scan_files(
    paths: Sequence[Path],
    options: ScanOptions,
    *,
    scanner: Scanner | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> ScanReport:
    """Scan files and folders: text, and the text inside documents and archives.

    With ``workers`` above 1, files are shared out to that many processes (each builds its
    own scanner once); results come back in the files' order, and at most a few files per
    worker are in flight, so memory stays bounded.
    """
    report = ScanReport(", ".join(str(p) for p in paths))
    started = time.perf_counter()

    def add(result: _FileResult) -> None:
        report.findings.extend(result.findings)
        report.problems.extend(result.problems)
        report.parts += result.parts
        report.bytes += result.bytes
        report.allowed += result.allowed
        report.known += result.known
        if progress is not None:
            progress(result.size)

    jobs = _files(paths, options, report)
    if workers <= 1:
        scanner = scanner or build_scanner(options)
        for path, display in jobs:
            add(_scan_file(path, display, options, scanner, _owner(path)))
    else:
        import multiprocessing
        from collections import deque
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_init, initargs=(options,)
        ) as pool:
            pending: deque[Any] = deque()
            for job in jobs:
                pending.append(pool.submit(_worker_scan, job))
                if len(pending) >= workers * 8:
                    add(pending.popleft().result())
            while pending:
                add(pending.popleft().result())
    report.seconds = time.perf_counter() - started
    return report


def scan_texts(
    items: Iterable[tuple[str, Location]],
    options: ScanOptions,
    scanner: Scanner,
    report: ScanReport,
    *,
    first_lines: Iterable[int] | None = None,
) -> None:
    """Scan texts that come with their locations (git hunks, table cells, events)."""
    lines = iter(first_lines) if first_lines is not None else None
    for text, where in items:
        first = next(lines) if lines is not None else 1
        found = scanner.scan_text(text, where.path, where=where, first_line=first)
        kept, allowed, known = filter_findings(found, options.allow, options.baseline)
        report.findings.extend(kept)
        report.allowed += allowed
        report.known += known
        report.parts += 1
        report.bytes += len(text)


def scan_batch(
    items: Sequence[tuple[str, Location]],
    base: Location,
    options: ScanOptions,
    scanner: Scanner,
    report: ScanReport,
) -> None:
    """Scan many short records of one place (a table column, a dataset) as one text.

    Records are joined one per line (their own line breaks become spaces, which keeps their
    length), so the scanner's fixed cost is paid once; a finding's line names its record.
    """
    if not items:
        return
    text = "\n".join(t.replace("\n", " ").replace("\r", " ") for t, _ in items)
    found = scanner.scan_text(text, base.path, where=base)
    located = []
    for f in found:
        record = items[f.location.line - 1][1]
        located.append(
            replace(
                f,
                location=replace(
                    record,
                    column=f.location.column,
                    end_column=f.location.end_column,
                    line=0 if record.table or record.dataset else record.line,
                ),
            )
        )
    kept, allowed, known = filter_findings(located, options.allow, options.baseline)
    report.findings.extend(kept)
    report.allowed += allowed
    report.known += known
    report.parts += len(items)
    report.bytes += len(text)


def scan_database(
    url: str,
    options: ScanOptions,
    *,
    scanner: Scanner | None = None,
    progress: Progress | None = None,
) -> ScanReport:
    """Sample every table of a database and scan its text columns."""
    from tocsin.discovery.db import Cell, iter_cells, redacted_url

    scanner = scanner or build_scanner(options)
    shown = redacted_url(url)
    report = ScanReport(shown)
    started = time.perf_counter()
    pending: dict[tuple[str, str], list[tuple[str, Location]]] = {}
    for item in iter_cells(url, max_rows=options.max_rows, max_total_rows=options.max_total_rows):
        if isinstance(item, Cell):
            where = Location(
                source="database",
                path=shown,
                table=item.table,
                column_name=item.column,
                row=item.row,
            )
            pending.setdefault((item.table, item.column), []).append(
                (f"{item.column}: {item.text}", where)
            )
            continue
        if item.note and item.rows == 0:
            report.problems.append(Problem(f"{shown} {item.table}", item.note))
        for (table, column), cells in list(pending.items()):
            if table != item.table:
                continue
            base = Location(source="database", path=shown, table=table, column_name=column)
            before = report.bytes
            scan_batch(cells, base, options, scanner, report)
            if progress is not None:
                progress(report.bytes - before)
            del pending[(table, column)]
    report.seconds = time.perf_counter() - started
    return report


def scan_git_history(
    repo: Path,
    options: ScanOptions,
    *,
    revs: Sequence[str] = ("--all",),
    scanner: Scanner | None = None,
    progress: Progress | None = None,
) -> ScanReport:
    """Scan the lines every commit added (a secret deleted since is still in history)."""
    from tocsin.discovery.git import history_hunks

    return _scan_hunks(
        history_hunks(repo, revs), "git", str(repo), options, scanner, progress, commits=True
    )


def scan_diff(
    repo: Path,
    options: ScanOptions,
    *,
    rev: str | None = None,
    staged: bool = False,
    scanner: Scanner | None = None,
) -> ScanReport:
    """Scan only the lines a change adds (staged changes, or the diff against ``rev``)."""
    from tocsin.discovery.git import diff_hunks

    return _scan_hunks(diff_hunks(repo, rev, staged=staged), "diff", str(repo), options, scanner)


def _scan_hunks(
    hunks: Iterable[object],
    source: str,
    target: str,
    options: ScanOptions,
    scanner: Scanner | None,
    progress: Progress | None = None,
    *,
    commits: bool = False,
) -> ScanReport:
    from tocsin.discovery.git import Hunk

    scanner = scanner or build_scanner(options)
    report = ScanReport(target)
    started = time.perf_counter()
    last_commit = None
    for hunk in hunks:
        assert isinstance(hunk, Hunk)  # noqa: S101 - the generators above yield hunks
        if options.allow.skips_path(hunk.path):
            continue
        where = Location(
            source=source,
            path=hunk.path,
            commit=hunk.commit,
            author=hunk.author,
            date=hunk.date,
        )
        scan_texts([(hunk.text, where)], options, scanner, report, first_lines=[hunk.first_line])
        if progress is not None and commits and hunk.commit != last_commit:
            if last_commit is not None:
                progress(1)
            last_commit = hunk.commit
    if progress is not None and last_commit is not None:
        progress(1)
    report.seconds = time.perf_counter() - started
    return report


def scan_lake(
    lake_dir: Path,
    options: ScanOptions,
    *,
    datasets: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    scanner: Scanner | None = None,
    progress: Progress | None = None,
) -> ScanReport:
    """Scan recent events of every dataset (or those named) for leaked secrets and PII."""
    from tocsin.discovery.lake import iter_lake_records

    scanner = scanner or build_scanner(options)
    report = ScanReport(f"lake {', '.join(datasets) if datasets else '(all datasets)'}")
    started = time.perf_counter()
    groups: dict[tuple[str, str], list[tuple[str, Location]]] = {}
    for record in iter_lake_records(
        lake_dir, datasets=datasets, since=since, until=until, max_rows=options.max_rows
    ):
        where = Location(
            source="lake",
            path=f"lake/{record.dataset}",
            dataset=record.dataset,
            event_id=record.event_id,
            column_name=record.field,
        )
        text = record.text if record.field == "event.original" else f"{record.field}: {record.text}"
        groups.setdefault((record.dataset, record.field), []).append((text, where))
    for (dataset, fld), items in groups.items():
        base = Location(source="lake", path=f"lake/{dataset}", dataset=dataset, column_name=fld)
        before = report.bytes
        scan_batch(items, base, options, scanner, report)
        if progress is not None:
            progress(report.bytes - before)
    report.seconds = time.perf_counter() - started
    return report
