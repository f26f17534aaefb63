"""Where messages come from: .eml files, folders of them, mbox files and Outlook .msg files.

Each message comes out with its source and position (the mbox index, 0 for a single file), so
an event id made from them is the same on every import. A .msg file comes out rebuilt as an
RFC 822 message (``tocsin.mail.msg``). What cannot be read is reported as an ``IntakeIssue``
(what, where) and the rest goes on.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tocsin.core.errors import TocsinError
from tocsin.core.event import make_event_id
from tocsin.ingest.files import expand_paths
from tocsin.mail.msg import MsgError, read_msg

MAX_MESSAGE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawMessage:
    """The bytes of one message and where they were found."""

    source: Path
    position: int
    raw: bytes

    @property
    def event_id(self) -> str:
        """A stable id: the same file and position always give the same id."""
        return make_event_id(f"mail:{self.source.resolve()}", self.position)


@dataclass(frozen=True, slots=True)
class IntakeIssue:
    """A message or file that could not be read, and why."""

    source: Path
    position: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}" + (
            f" (message {self.position})" if self.position is not None else ""
        )
        return f"{where}: {self.message}"


def is_mbox(path: Path) -> bool:
    """An mbox file starts with a ``From `` line; an .eml file starts with a header."""
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"From "
    except OSError:
        return False


def read_messages(paths: Iterable[Path]) -> Iterator[RawMessage | IntakeIssue]:
    """Every message in the files and folders named, in order, with problems as issues."""
    for path in _files(paths):
        if isinstance(path, IntakeIssue):
            yield path
            continue
        if path.suffix.lower() == ".msg":
            yield _outlook(path)
            continue
        if is_mbox(path):
            yield from _mbox(path)
            continue
        try:
            size = path.stat().st_size
            if size > MAX_MESSAGE_BYTES:
                yield IntakeIssue(
                    path, 0, f"{size:,} bytes is over the {MAX_MESSAGE_BYTES:,} limit"
                )
                continue
            yield RawMessage(path, 0, path.read_bytes())
        except OSError as exc:
            yield IntakeIssue(path, None, f"cannot read: {exc.strerror or exc}")


def _files(paths: Iterable[Path]) -> Iterator[Path | IntakeIssue]:
    for named in paths:
        try:
            yield from expand_paths([named])
        except TocsinError as exc:
            yield IntakeIssue(named, None, exc.message)


def _outlook(path: Path) -> RawMessage | IntakeIssue:
    try:
        size = path.stat().st_size
        if size > MAX_MESSAGE_BYTES:
            return IntakeIssue(path, 0, f"{size:,} bytes is over the {MAX_MESSAGE_BYTES:,} limit")
        return RawMessage(path, 0, read_msg(path.read_bytes()))
    except OSError as exc:
        return IntakeIssue(path, None, f"cannot read: {exc.strerror or exc}")
    except MsgError as exc:
        return IntakeIssue(path, None, f"not a readable Outlook .msg file: {exc.reason}")


def _mbox(path: Path) -> Iterator[RawMessage | IntakeIssue]:
    try:
        box = mailbox.mbox(path, create=False)
        keys = list(box.keys())
    except (OSError, mailbox.Error) as exc:
        yield IntakeIssue(path, None, f"not a readable mbox: {exc}")
        return
    try:
        for position, key in enumerate(keys):
            try:
                raw = box.get_bytes(key)
            except (OSError, mailbox.Error, KeyError) as exc:
                yield IntakeIssue(path, position, f"cannot read the message: {exc}")
                continue
            if len(raw) > MAX_MESSAGE_BYTES:
                yield IntakeIssue(path, position, f"{len(raw):,} bytes is over the limit")
                continue
            yield RawMessage(path, position, raw)
    finally:
        box.close()
