"""The scheduler inside ``tocsin serve``: runs periodic jobs in a background thread.

Jobs register through the ``tocsin.jobs`` entry-point group (lake compaction and retention are
the first; hunts and sensor analytics come later). A job that fails is logged and runs again at
its next interval; one slow job never runs twice at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from tocsin.core.settings import Settings

logger = logging.getLogger(__name__)


@runtime_checkable
class Job(Protocol):
    """A periodic job, registered in ``tocsin.jobs``.

    Contract: built with no arguments; ``interval(settings)`` gives seconds between runs (None
    or 0 disables the job); ``run(settings)`` does one run and returns a short summary.
    """

    id: ClassVar[str]

    def interval(self, settings: Settings) -> float | None:
        """Seconds between runs, or None when disabled."""
        ...

    def run(self, settings: Settings) -> str:
        """Do one run; return a one-line summary."""
        ...


@dataclass(slots=True)
class JobState:
    """When a job last ran and how it went."""

    job: Job
    interval: float
    next_run: float
    runs: int = 0
    failures: int = 0
    last_summary: str = ""
    last_error: str | None = None
    last_duration: float = 0.0


@dataclass
class Scheduler:
    """Run jobs at their intervals in one daemon thread."""

    settings: Settings
    states: dict[str, JobState] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def add(self, job: Job, *, first_delay: float | None = None) -> None:
        """Schedule ``job`` (skipped when its interval is None or 0)."""
        interval = job.interval(self.settings)
        if not interval:
            return
        delay = interval if first_delay is None else first_delay
        self.states[job.id] = JobState(job, interval, time.monotonic() + delay)

    def run_due(self) -> list[str]:
        """Run every job that is due now; returns their ids."""
        ran: list[str] = []
        now = time.monotonic()
        for job_id, state in self.states.items():
            if state.next_run > now:
                continue
            started = time.monotonic()
            try:
                state.last_summary = state.job.run(self.settings)
                state.last_error = None
            except Exception as exc:  # a failing job runs again next time
                state.failures += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("scheduled job failed", extra={"job": job_id})
            state.runs += 1
            state.last_duration = time.monotonic() - started
            state.next_run = time.monotonic() + state.interval
            ran.append(job_id)
        return ran

    def start(self) -> None:
        """Start the scheduler thread."""
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            upcoming = min((s.next_run for s in self.states.values()), default=None)
            wait = 1.0 if upcoming is None else max(0.05, min(1.0, upcoming - time.monotonic()))
            self._stop.wait(wait)

    def stop(self) -> None:
        """Stop the thread (a running job finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
