"""Detection in the home: hunts that raise alerts, the ingest stage, the scheduled hunt job.

Alerts go through ``Workspace.raise_alerts`` as the ``sigma`` system principal, so dedup and
suppression apply as for every other detector.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from tocsin.core.event import Event
from tocsin.core.settings import Settings
from tocsin.detect.alerting import drafts
from tocsin.detect.hunt import HuntReport, run_hunt
from tocsin.detect.rulesets import home_engine, rules_signature
from tocsin.detect.runner import Detection, Detector
from tocsin.lake.reader import LakeReader
from tocsin.workspace.permissions import Principal
from tocsin.workspace.service import Workspace

logger = logging.getLogger(__name__)

PRINCIPAL_NAME = "sigma"
CORRELATION_STATE = "correlation.json"


def sigma_principal() -> Principal:
    """The system principal Sigma alerts are raised as."""
    return Principal.system(PRINCIPAL_NAME)


@dataclass(slots=True)
class HuntOutcome:
    """A hunt's report and how many alerts it raised or folded into existing ones."""

    report: HuntReport
    alerts_new: int = 0
    alerts_updated: int = 0


def hunt_home(
    settings: Settings,
    rules: list[Path] | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    alerts: bool = True,
    on_batch: Callable[[int], None] | None = None,
    on_detection: Callable[[Detection], None] | None = None,
) -> HuntOutcome:
    """Hunt the home's lake with its enabled rules (or ``rules``); raise alerts if asked."""
    engine = home_engine(settings, rules).engine
    reader = LakeReader(
        settings.lake_dir,
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
    )
    outcome = HuntOutcome(HuntReport())
    workspace = Workspace.open(settings) if alerts else None
    try:

        def handle(detection: Detection) -> None:
            if on_detection is not None:
                on_detection(detection)
            if workspace is None:
                return
            batch = drafts(engine, detection.matches, detection.firings)
            if batch:
                result = workspace.raise_alerts(batch, actor=sigma_principal())
                outcome.alerts_new += len(result.created)
                outcome.alerts_updated += len(result.updated)

        outcome.report = run_hunt(
            engine, reader, since=since, until=until, on_detection=handle, on_batch=on_batch
        )
    finally:
        if workspace is not None:
            workspace.close()
    return outcome


class SigmaStage:
    """The ingest detector (``tocsin.detectors`` entry ``sigma``): rules on every batch.

    Runs the home's enabled rules on each batch before it is stored, raises alerts for the
    matches and correlation firings, and keeps the correlation state in the home's state
    folder after every batch that touched it, so a restart continues the windows. Without a
    home (no ``bind``) it passes batches through untouched. A failure is logged and the batch
    goes on to storage: detection never loses events.
    """

    id: ClassVar[str] = "sigma"
    reload_check_seconds: ClassVar[float] = 5.0
    """How often a batch checks whether rules were installed, removed, enabled or disabled."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self._detector: Detector | None = None
        self._workspace: Workspace | None = None
        self._failed = False
        self._signature: tuple[object, ...] | None = None
        self._checked = 0.0

    def bind(self, settings: Settings) -> None:
        """Use this home's rules, state and workspace; load the rules now, not on a batch."""
        self.settings = settings
        self._ready()

    def _ready(self) -> Detector | None:
        if self._detector is not None or self._failed or self.settings is None:
            return self._detector
        settings = self.settings
        try:
            self._signature = rules_signature(settings)
            self._checked = time.monotonic()
            self._detector = self._new_detector(settings)
            self._workspace = Workspace.open(settings)
        except Exception:
            logger.exception("Sigma detection is off: the rules could not be loaded")
            self._failed = True
        return self._detector

    @staticmethod
    def _new_detector(settings: Settings) -> Detector:
        engine = home_engine(settings).engine
        lateness = timedelta(seconds=settings.correlation_lateness_seconds)
        state = settings.state_dir / CORRELATION_STATE
        return Detector(engine, lateness=lateness, state_path=state)

    def _reload_if_changed(self) -> None:
        """Pick up rules installed, removed, enabled or disabled since the last load.

        The console and ``tocsin rules`` change the packs and the switch file while ingest
        runs; without this, a disabled rule would keep alerting until a restart. The
        correlation state is saved first, so the new detector continues its windows.
        """
        now = time.monotonic()
        if self.settings is None or now - self._checked < self.reload_check_seconds:
            return
        self._checked = now
        signature = rules_signature(self.settings)
        if signature == self._signature:
            return
        self._signature = signature
        try:
            if self._detector is not None:
                self._detector.save()
            self._detector = self._new_detector(self.settings)
            logger.info("Sigma rules reloaded", extra={"rules": len(self._detector.engine.rules)})
        except Exception:
            logger.exception("Sigma rules changed but could not be reloaded; the old ones run")

    def sees(self, dataset: str) -> bool:
        """True when some enabled rule reads this dataset (else bulk ingest may skip us)."""
        detector = self._ready()
        if detector is None:
            return False
        return any(
            route.covers_dataset(dataset)
            for rule in detector.engine.plan.rules
            for route in rule.routes
        )

    def process(self, events: list[Event]) -> list[Event]:
        """Match a batch, raise its alerts, pass it on unchanged."""
        self._reload_if_changed()
        detector = self._ready()
        if detector is None or not events:
            return events
        try:
            detection = detector.run(events)
            if detection.firings or detection.matches and detector.correlation is not None:
                detector.save()
            if detection and self._workspace is not None:
                batch = drafts(detector.engine, detection.matches, detection.firings)
                self._workspace.raise_alerts(batch, actor=sigma_principal())
        except Exception:
            logger.exception("Sigma detection failed on a batch; the events are stored anyway")
        return events

    def close(self) -> None:
        """Save the correlation state and release the workspace."""
        if self._detector is not None:
            self._detector.save()
        if self._workspace is not None:
            self._workspace.close()
            self._workspace = None


class HuntJob:
    """The scheduled hunt (``tocsin.jobs`` entry ``detect.hunt``) run by ``tocsin serve``."""

    id: ClassVar[str] = "detect.hunt"

    def interval(self, settings: Settings) -> float | None:
        """Every ``hunt_interval_minutes`` (0, the default, turns scheduled hunts off)."""
        minutes = settings.hunt_interval_minutes
        return minutes * 60 if minutes > 0 else None

    def run(self, settings: Settings) -> str:
        """Hunt the last ``hunt_lookback_minutes`` of events."""
        now = datetime.now(UTC)
        since = now - timedelta(minutes=settings.hunt_lookback_minutes)
        outcome = hunt_home(settings, since=since, until=now)
        report = outcome.report
        return (
            f"{report.events} events, {report.matches} matches, {report.firings} correlations, "
            f"{outcome.alerts_new} new alerts"
        )


def describe(outcome: HuntOutcome) -> dict[str, Any]:
    """The hunt's figures as one row."""
    report = outcome.report
    return {
        "events": report.events,
        "datasets": len(report.datasets),
        "matches": report.matches,
        "correlations": report.firings,
        "alerts_new": outcome.alerts_new,
        "alerts_updated": outcome.alerts_updated,
        **{f"matches_{k}": v for k, v in sorted(report.by_severity.items())},
    }
