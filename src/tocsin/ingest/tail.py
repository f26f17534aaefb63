"""Tail mode: follow growing files and resume after a restart from the last offset.

Offsets are saved in ``<home>/state/tail.json`` only after the lake has the events read up to
them, so a restart never skips a line; the lines read again after a crash carry the same
``event.id`` (file identity + byte offset) and are dropped as duplicates. A file replaced by
rotation (new inode) or truncated is read again from its start. Only complete lines are read:
a line still being written waits for its newline.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import Settings
from tocsin.ingest.base import ParseContext, Parser
from tocsin.ingest.pipeline import Pipeline
from tocsin.ingest.quarantine import Quarantine
from tocsin.ingest.registry import ParserSet
from tocsin.lake.writer import LakeWriter

logger = logging.getLogger(__name__)

READ_CHUNK = 8 * 1024 * 1024
HEAD_FOR_IDENTITY = 256


@dataclass(slots=True)
class TailState:
    """Where one followed file stands."""

    path: str
    device: int
    inode: int
    head: str
    offset: int
    format: str | None = None
    head_len: int = 0
    generation: int = 0
    """Counts replacements (rotation, truncation) of the file at this path: part of the ids."""


def _leading_lines(path: Path, marker: bytes) -> bytes:
    """The lines at the start of a file that begin with ``marker`` (a header), at most 1 MiB."""
    with path.open("rb") as handle:
        head = handle.read(1024 * 1024)
    end = 0
    for line in head.splitlines(keepends=True):
        if not line.startswith(marker) or not line.endswith(b"\n"):
            break
        end += len(line)
    return head[:end]


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


class Tailer:
    """Follow files (and the files of folders) into the lake."""

    def __init__(
        self,
        settings: Settings,
        paths: list[Path],
        *,
        format: str = "auto",
        dataset: str | None = None,
        parsers: ParserSet | None = None,
        poll_seconds: float = 0.5,
    ) -> None:
        self.settings = settings
        self.paths = paths
        self.format = format
        self.dataset = dataset
        self.parsers = parsers or ParserSet()
        self.poll_seconds = poll_seconds
        self.state_file = settings.state_dir / "tail.json"
        self.states: dict[str, TailState] = self._load()
        self.writer = LakeWriter(settings.lake_dir)
        self.pipeline = Pipeline(
            self.writer,
            Quarantine(settings.quarantine_dir),
            registry=self.parsers.registry,
            settings=settings,
        )
        self.total = 0
        self._running = True

    def _load(self) -> dict[str, TailState]:
        if not self.state_file.is_file():
            return {}
        try:
            raw = orjson.loads(self.state_file.read_bytes())
            return {key: TailState(**value) for key, value in raw.items()}
        except (orjson.JSONDecodeError, TypeError):
            logger.error("tail state unreadable; starting files from the beginning")
            return {}

    def _save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        data = {key: asdict(state) for key, state in self.states.items()}
        temp = self.state_file.with_suffix(".tmp")
        temp.write_bytes(orjson.dumps(data))
        os.replace(temp, self.state_file)

    def files(self) -> list[Path]:
        """The files followed now (folders are listed again on each poll)."""
        out: list[Path] = []
        for path in self.paths:
            if path.is_dir():
                out.extend(
                    sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
                )
            elif path.is_file():
                out.append(path)
        return out

    def poll(self) -> int:
        """Read what the files gained since the last poll; flush; save offsets."""
        read = 0
        for path in self.files():
            try:
                read += self._poll_file(path)
            except OSError as exc:
                logger.warning(
                    "cannot read followed file", extra={"path": str(path), "error": str(exc)}
                )
        if read:
            self.writer.flush()
            self._save()  # only now: the lake has every event before these offsets
        self.total += read
        return read

    def _poll_file(self, path: Path) -> int:
        key = str(path.resolve())
        stat = path.stat()
        state = self.states.get(key)
        with path.open("rb") as handle:
            replaced = state is None or state.inode != stat.st_ino or state.device != stat.st_dev
            if state is not None and not replaced:
                # truncated, or rewritten in place: the bytes we identified it by changed
                head_now = _hash(handle.read(state.head_len))
                replaced = stat.st_size < state.offset or head_now != state.head
            if state is None or replaced:
                generation = state.generation + 1 if state is not None else 0
                state = TailState(
                    key,
                    stat.st_dev,
                    stat.st_ino,
                    "",
                    0,
                    state.format if state else None,
                    0,
                    generation,
                )
                self.states[key] = state
            if state.head_len < HEAD_FOR_IDENTITY:
                handle.seek(0)
                first = handle.read(HEAD_FOR_IDENTITY)
                state.head, state.head_len = _hash(first), len(first)
            if stat.st_size <= state.offset:
                return 0
            handle.seek(state.offset)
            data = handle.read(READ_CHUNK)
        cut = data.rfind(b"\n")
        if cut < 0:
            return 0
        data = data[: cut + 1]
        parser = self._parser(state, data)
        header = b""
        marker = getattr(parser, "resume_header", None)
        if state.offset and isinstance(marker, bytes):
            # a format whose lines need the file's header (Zeek's #fields): feed it again
            header = _leading_lines(path, marker)
        ctx = ParseContext(
            source=str(path),
            identity=f"tail:{state.device}:{state.inode}:{state.generation}",
            dataset=self.dataset,
            received=datetime.now(UTC),
            base_offset=state.offset - len(header),
        )
        data = header + data
        before = self.pipeline.stats.total
        for batch in parser.parse_stream(io.BufferedReader(io.BytesIO(data)), ctx):
            self.pipeline.process(batch, ctx)
        state.offset += len(data)
        return self.pipeline.stats.total - before

    def _parser(self, state: TailState, data: bytes) -> Parser:
        if self.format != "auto":
            return self.parsers.get(self.format)
        if state.format:
            return self.parsers.get(state.format)
        try:
            parser = self.parsers.detect(data[:65536], source=state.path)
        except InvalidInputError:
            parser = (
                self.parsers.get("syslog")
                if "syslog" in self.parsers.all()
                else self.parsers.get("json")
            )
        state.format = parser.id
        return parser

    def run(self) -> None:
        """Poll until :meth:`stop` (or Ctrl-C)."""
        while self._running:
            self.poll()
            time.sleep(self.poll_seconds)

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._running = False

    def close(self) -> None:
        """Flush and save."""
        self.writer.flush()
        self._save()
