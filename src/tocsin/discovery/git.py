"""Git: the lines each commit added (history), or the lines a change adds (diff).

Both read ``git``'s own patch output (``-U0``: added and removed lines only, no context), so a
line is scanned once, in the commit that added it, and renamed files are not scanned again.
Each hunk's added lines are consecutive lines of the new file, so a hunk is scanned as one
text starting at its first line number. The git command-line tool is the reader: every system
that has a repository has it, and it reads every repository format and pack.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tocsin.core.errors import TocsinError

COMMIT_MARK = "\x00\x01commit\x00"
_FORMAT = (
    "--format="
    + COMMIT_MARK.replace("\x00", "%x00").replace("\x01", "%x01")
    + ("%H%x00%an <%ae>%x00%aI")
)
_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class GitError(TocsinError):
    """git failed, or the folder is not a repository."""


@dataclass(frozen=True, slots=True)
class Hunk:
    """Lines a change added to one file: where they start, and the commit if there is one."""

    path: str
    first_line: int
    text: str
    commit: str | None = None
    author: str | None = None
    date: str | None = None


def _git(repo: Path, *args: str) -> list[str]:
    return ["git", "-C", str(repo), "-c", "core.quotepath=off", *args]


def repo_root(path: Path) -> Path:
    """The top folder of the repository that holds ``path``."""
    try:
        out = subprocess.run(  # noqa: S603 - git with arguments, no shell
            _git(path if path.is_dir() else path.parent, "rev-parse", "--show-toplevel"),
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (needed to scan repositories)") from None
    if out.returncode != 0:
        raise GitError(f"{path}: not a git repository ({out.stderr.strip()})")
    return Path(out.stdout.strip())


def is_repo(path: Path) -> bool:
    """Whether ``path`` is the top of a git repository."""
    return (path / ".git").exists()


def commit_count(repo: Path, revs: Sequence[str]) -> int:
    """How many commits ``revs`` name (for progress)."""
    out = subprocess.run(  # noqa: S603 - git with arguments, no shell
        _git(repo, "rev-list", "--count", *revs), capture_output=True, text=True, check=False
    )
    return int(out.stdout.strip() or 0) if out.returncode == 0 else 0


def _unquote(path: str) -> str:
    if len(path) >= 2 and path[0] == '"' and path[-1] == '"':
        raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1", "replace").decode("utf-8", "replace")
    return path


def parse_patch(lines: Iterator[str]) -> Iterator[Hunk]:
    """Hunks of added lines from ``git log -p -U0`` or ``git diff -U0`` output."""
    commit = author = date = None
    path: str | None = None
    for line in lines:
        if line.startswith(COMMIT_MARK):
            fields = line[len(COMMIT_MARK) :].rstrip("\n").split("\x00")
            commit, author, date = (fields + [None, None, None])[:3]
            path = None
            continue
        if line.startswith("diff --git "):
            path = None
            continue
        if line.startswith("+++ "):
            target = line[4:].rstrip("\n")
            if target == "/dev/null":
                path = None
            else:
                target = _unquote(target)
                path = target[2:] if target.startswith("b/") else target
            continue
        m = _HUNK.match(line)
        if m is None:
            continue
        removed = 1 if m.group(1) is None else int(m.group(1))
        added = 1 if m.group(3) is None else int(m.group(3))
        first = int(m.group(2))
        taken: list[str] = []
        # With -U0 a hunk is exactly its removed lines then its added lines: counting them
        # tells content that starts with "+++" from a file header.
        while removed or added:
            body = next(lines, None)
            if body is None:
                break
            if body.startswith("\\"):
                continue  # "\ No newline at end of file"
            if body.startswith("-") and removed:
                removed -= 1
            elif body.startswith("+") and added:
                added -= 1
                taken.append(body[1:].rstrip("\n").rstrip("\r"))
            else:
                break
        if taken and path is not None:
            yield Hunk(path, first, "\n".join(taken), commit, author, date)


def _stream(cmd: list[str]) -> Iterator[str]:
    # stderr goes to a file: a pipe nobody reads while stdout streams could fill and block git
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(  # noqa: S603 - git with arguments, no shell
                cmd,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except FileNotFoundError:
            raise GitError("git is not installed (needed to scan repositories)") from None
        with proc:
            assert proc.stdout is not None  # noqa: S101 - PIPE was asked for
            yield from proc.stdout
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip()
            raise GitError(f"git {cmd[5]}: {message or f'exit {code}'}")


def history_hunks(
    repo: Path, revs: Sequence[str] = ("--all",), *, max_count: int | None = None
) -> Iterator[Hunk]:
    """Added lines of every commit that ``revs`` name (all branches and tags by default)."""
    args = ["log", "-p", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", _FORMAT]
    if max_count:
        args.append(f"--max-count={max_count}")
    yield from parse_patch(_stream(_git(repo, *args, *revs, "--")))


def diff_hunks(repo: Path, rev: str | None = None, *, staged: bool = False) -> Iterator[Hunk]:
    """Added lines of a change: staged (pre-commit), or against ``rev`` (``main...HEAD``)."""
    args = ["diff", "-U0", "--no-color", "--no-ext-diff", "--no-textconv"]
    if staged:
        args.append("--cached")
    if rev:
        args.append(rev)
    yield from parse_patch(_stream(_git(repo, *args, "--")))
