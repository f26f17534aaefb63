"""The workspace's scheduled jobs: the SLA check."""

from __future__ import annotations

from typing import ClassVar

from tocsin.core.settings import Settings
from tocsin.workspace.db import Database
from tocsin.workspace.sla import SlaService


class SlaJob:
    """Turn SLA near-breaches and breaches into history records and notifications."""

    id: ClassVar[str] = "workspace.sla"

    def __init__(self) -> None:
        self._db: Database | None = None

    def interval(self, settings: Settings) -> float | None:
        """Every ``sla_interval_seconds`` (0 disables the check)."""
        return settings.sla_interval_seconds or None

    def run(self, settings: Settings) -> str:
        """Check every open alert and case once."""
        events = SlaService(self._database(settings), settings).check()
        notified = sum(e.notified for e in events)
        return f"{len(events)} SLA state changes, {notified} notified"

    def _database(self, settings: Settings) -> Database:
        # One engine (and one migration check) for the life of the job.
        url = settings.workspace_url
        if self._db is None or self._db.url != url:
            if self._db is not None:
                self._db.close()
            self._db = Database(url)
        return self._db

    def close(self) -> None:
        """Release the database connections."""
        if self._db is not None:
            self._db.close()
            self._db = None
