"""The scheduled DNS hunt inside ``tocsin serve``.

Every ``dns_hunt_interval_minutes`` it runs the DNS detectors over the last
``dns_hunt_lookback_minutes``. The windows overlap on purpose (a lookup may reach the lake a
little late, and a tunnel or a DGA burst may straddle two windows); a finding's dedup key folds
a repeat into the alert already open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from tocsin.core.settings import Settings
from tocsin.dns.hunt import hunt_dns


class DnsHuntJob:
    """The ``dns.hunt`` job (``tocsin.jobs`` entry point)."""

    id: ClassVar[str] = "dns.hunt"

    def interval(self, settings: Settings) -> float | None:
        """Every ``dns_hunt_interval_minutes`` (0 turns the job off)."""
        minutes = settings.dns_hunt_interval_minutes
        return minutes * 60 if minutes > 0 else None

    def run(self, settings: Settings) -> str:
        """Hunt the last ``dns_hunt_lookback_minutes``."""
        until = datetime.now(UTC)
        since = until - timedelta(minutes=settings.dns_hunt_lookback_minutes)
        return hunt_dns(settings, since=since, until=until).summary()
