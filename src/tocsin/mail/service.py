"""Analyse many messages, on every core when there are many: what the CLI and the API call.

Worker processes each build their own analyzer from the settings (the tables take a fraction
of a second), take messages in chunks, and send back slim results: the verdict, the reasons
and the message's headers, without attachment bytes or bodies.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from tocsin.core.settings import Settings
from tocsin.mail.analyze import Analysis, MailAnalyzer
from tocsin.mail.intake import IntakeIssue, RawMessage, read_messages
from tocsin.mail.policy import build_policy

PARALLEL_FROM = 64  # messages: below this, starting processes costs more than it saves
CHUNK = 16


@dataclass(frozen=True, slots=True)
class Options:
    """What a command line adds to the settings' policy."""

    protected_domains: tuple[str, ...] = ()
    vips: tuple[str, ...] = ()
    intel: tuple[Path, ...] = ()
    verify_auth: bool | None = None
    known_senders: frozenset[str] | None = None


@dataclass(slots=True)
class Analysed:
    """One message's analysis and the id its event gets when stored."""

    analysis: Analysis
    event_id: str


@dataclass(slots=True)
class Batch:
    """Everything one run produced, in input order."""

    results: list[Analysed] = field(default_factory=list)
    issues: list[IntakeIssue] = field(default_factory=list)
    policy_issues: list[str] = field(default_factory=list)


def label(message: RawMessage) -> str:
    """How a message is named in output: its file, and its position inside an mbox."""
    return str(message.source) if message.position == 0 else f"{message.source}#{message.position}"


def make_analyzer(settings: Settings, options: Options) -> tuple[MailAnalyzer, list[str]]:
    """An analyzer for these settings and options, and the policy's problems."""
    loaded = build_policy(
        settings,
        protected_domains=options.protected_domains,
        vips=options.vips,
        intel=options.intel,
        verify_auth=options.verify_auth,
        known_senders=options.known_senders,
    )
    return MailAnalyzer(loaded.policy), loaded.issues


def slim(analysis: Analysis) -> Analysis:
    """The analysis without attachment bytes and bodies (what crosses a process boundary)."""
    msg = analysis.message
    lighter = replace(
        msg,
        text="",
        html="",
        attachments=[replace(a, payload=b"") for a in msg.attachments],
        attached_messages=[],
    )
    return replace(analysis, message=lighter)


_WORKER: MailAnalyzer | None = None


def _init_worker(settings: Settings, options: Options) -> None:
    global _WORKER  # noqa: PLW0603 - one analyzer per worker process, built once
    _WORKER, _issues = make_analyzer(settings, options)


def _work(item: tuple[bytes, str, str]) -> Analysed:
    raw, source, event_id = item
    assert _WORKER is not None  # noqa: S101 - set by the pool initializer
    return Analysed(slim(_WORKER.analyze_bytes(raw, source=source)), event_id)


def analyze_messages(
    settings: Settings,
    paths: Iterable[Path],
    options: Options = Options(),
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Batch:
    """Read and analyse every message under ``paths``; unreadable ones become issues."""
    batch = Batch()
    messages: list[RawMessage] = []
    for item in read_messages(paths):
        if isinstance(item, IntakeIssue):
            batch.issues.append(item)
        else:
            messages.append(item)
    analyzed = analyze_raw(settings, messages, options, workers=workers, progress=progress)
    batch.results, batch.policy_issues = analyzed.results, analyzed.policy_issues
    return batch


def analyze_raw(
    settings: Settings,
    messages: Sequence[RawMessage],
    options: Options = Options(),
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Batch:
    """Analyse messages already read, in worker processes when there are many."""
    batch = Batch()
    count = workers if workers is not None else (os.cpu_count() or 1)
    analyzer, batch.policy_issues = make_analyzer(settings, options)
    if count <= 1 or len(messages) < PARALLEL_FROM:
        for message in messages:
            analysis = analyzer.analyze_bytes(message.raw, source=label(message))
            batch.results.append(Analysed(slim(analysis), message.event_id))
            if progress:
                progress(1)
        return batch
    work = [(m.raw, label(m), m.event_id) for m in messages]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=count,
        mp_context=context,
        initializer=_init_worker,
        initargs=(settings, options),
    ) as pool:
        for result in pool.map(_work, work, chunksize=CHUNK):
            batch.results.append(result)
            if progress:
                progress(1)
    return batch
