"""The feed refresh job inside ``tocsin serve``: fetch the URL feeds that are due.

It wakes every five minutes while some URL feed has ``refresh_hours`` above zero, and fetches
only the feeds whose copy is older than their ``refresh_hours`` (or that failed more than
``RETRY_AFTER`` ago, or were never fetched), so a feed is asked no more often than configured.
"""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

from tocsin.core.settings import Settings
from tocsin.intel.feeds import due_feeds, feed_specs, refresh_feeds

CHECK_SECONDS = 300.0
logger = logging.getLogger(__name__)


class FeedRefreshJob:
    """Refresh the URL indicator feeds that are due."""

    id: ClassVar[str] = "intel.feeds"

    def __init__(self) -> None:
        """Built with no arguments by the scheduler."""
        self._lock = threading.Lock()

    def interval(self, settings: Settings) -> float | None:
        """Every five minutes while a URL feed refreshes on its own; otherwise off."""
        for spec in feed_specs(settings):
            if spec.is_url and spec.refresh_hours > 0:
                return CHECK_SECONDS
        return None

    def run(self, settings: Settings) -> str:
        """Fetch the feeds that are due; the summary counts what each fetch did."""
        with self._lock:
            names = due_feeds(settings)
            if not names:
                return "no feed due"
            statuses = refresh_feeds(settings, names=names)
        counts: dict[str, int] = {}
        for status in statuses:
            counts[status.result or "failed"] = counts.get(status.result or "failed", 0) + 1
        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        failed = [f"{s.name}: {s.error}" for s in statuses if s.result == "failed"]
        for status in statuses:
            if status.result == "failed":
                logger.warning(
                    "intel feed refresh failed", extra={"feed": status.name, "error": status.error}
                )
        return f"{len(statuses)} feeds refreshed ({summary})" + (
            "; " + "; ".join(failed) if failed else ""
        )
