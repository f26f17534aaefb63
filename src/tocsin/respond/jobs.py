"""The scheduled job that empties the notification outbox inside ``tocsin serve``."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import ClassVar

from tocsin.core.settings import Settings
from tocsin.respond.base import Notifier
from tocsin.respond.delivery import Deliverer
from tocsin.workspace.db import Database

MAX_ROUNDS = 10  # passes per run when the outbox is full; the rest waits for the next run
BATCH = 100


class NotifyJob:
    """Deliver queued notifications every ``notify_interval_seconds``."""

    id: ClassVar[str] = "respond.notify"

    def __init__(self, notifiers: Mapping[str, Notifier] | None = None) -> None:
        """Built with no arguments by the scheduler; ``notifiers`` replaces the plugin lookup."""
        self._notifiers = notifiers
        self._lock = threading.Lock()
        self._db: Database | None = None
        self._deliverer: Deliverer | None = None

    def interval(self, settings: Settings) -> float | None:
        """Every ``notify_interval_seconds`` (0 disables delivery)."""
        return settings.notify_interval_seconds

    def run(self, settings: Settings) -> str:
        """Deliver what is due, in batches, until the outbox has nothing more due."""
        deliverer = self._deliverer_for(settings)
        sent = failed = retried = deferred = 0
        for _ in range(MAX_ROUNDS):
            report = deliverer.deliver_pending(limit=BATCH)
            sent += report.sent
            failed += report.failed
            retried += report.retried
            deferred += report.deferred
            if report.claimed < BATCH:
                break
        return f"{sent} sent, {retried} to retry, {failed} failed, {deferred} deferred"

    def _deliverer_for(self, settings: Settings) -> Deliverer:
        # one engine for the life of the job: migrating and connecting on every run is waste
        with self._lock:
            if self._db is None or self._db.url != settings.workspace_url:
                if self._db is not None:
                    self._db.close()
                self._db = Database(settings.workspace_url)
                self._deliverer = None
            if self._deliverer is None or self._deliverer.settings is not settings:
                self._deliverer = Deliverer(self._db, settings, self._notifiers)
            return self._deliverer

    def close(self) -> None:
        """Release the job's database connections."""
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db = None
            self._deliverer = None
