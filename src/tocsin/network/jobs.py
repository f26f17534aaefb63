"""The scheduled network hunt inside ``tocsin serve``.

Every ``net_hunt_interval_minutes`` it runs the network detectors over the last
``net_hunt_lookback_hours``: beacons need hours to show their rhythm, so the windows overlap
widely; a finding's dedup key folds a repeat into the alert already open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from tocsin.core.settings import Settings
from tocsin.network.hunt import hunt_net


class NetHuntJob:
    """The ``net.hunt`` job (``tocsin.jobs`` entry point)."""

    id: ClassVar[str] = "net.hunt"

    def interval(self, settings: Settings) -> float | None:
        """Every ``net_hunt_interval_minutes`` (0 turns the job off)."""
        minutes = settings.net_hunt_interval_minutes
        return minutes * 60 if minutes > 0 else None

    def run(self, settings: Settings) -> str:
        """Hunt the last ``net_hunt_lookback_hours``."""
        until = datetime.now(UTC)
        since = until - timedelta(hours=settings.net_hunt_lookback_hours)
        return hunt_net(settings, since=since, until=until).summary()
