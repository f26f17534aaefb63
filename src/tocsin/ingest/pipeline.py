"""The pipeline after parsing: normalise, enrichers, detectors, then the lake writer.

The stages come from the plugin registry (``tocsin.enrichers`` then ``tocsin.detectors``);
ingest imports none of them, so imports keep pointing one way. Issues go to the quarantine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tocsin.core.event import Event
from tocsin.core.plugins import PluginLoadError, Registry, default_registry
from tocsin.core.settings import Settings
from tocsin.ingest.base import ParseBatch, ParseContext, ParseIssue, Stage
from tocsin.ingest.normalise import normalise
from tocsin.ingest.parsers.bulkjson import TableBatch
from tocsin.ingest.quarantine import Quarantine
from tocsin.lake.writer import LakeWriter

logger = logging.getLogger(__name__)

MAX_KEPT_ISSUES = 1000


@dataclass(slots=True)
class PipelineStats:
    """Counts of what went through: events per dataset, and quarantined records."""

    accepted: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    issues: list[ParseIssue] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Events accepted in all datasets."""
        return sum(self.accepted.values())


def load_stages(
    registry: Registry, *, detection: bool = True, settings: Settings | None = None
) -> list[Stage]:
    """Instantiate the registered enrichers, then the detectors (unless detection is off).

    A stage with a ``bind(settings)`` method gets the home's settings once, before any batch.
    """
    groups = ["tocsin.enrichers"] + (["tocsin.detectors"] if detection else [])
    stages: list[Stage] = []
    for group in groups:
        for plugin_id in registry.ids(group):
            try:
                stage = registry.load(group, plugin_id)()
            except PluginLoadError:
                if registry.strict:
                    raise
                logger.warning("stage failed to load", extra={"group": group, "plugin": plugin_id})
                continue
            bind = getattr(stage, "bind", None)
            if settings is not None and callable(bind):
                bind(settings)
            stages.append(stage)
    return stages


class Pipeline:
    """Run parsed batches through the stages into the lake; quarantine the issues."""

    def __init__(
        self,
        writer: LakeWriter,
        quarantine: Quarantine,
        *,
        registry: Registry | None = None,
        detection: bool = True,
        stages: list[Stage] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.writer = writer
        self.quarantine = quarantine
        self.stages = (
            stages
            if stages is not None
            else load_stages(registry or default_registry(), detection=detection, settings=settings)
        )
        self.stats = PipelineStats()

    def close(self) -> None:
        """Let the stages save their state and release what they hold (a workspace, say)."""
        for stage in self.stages:
            close = getattr(stage, "close", None)
            if callable(close):
                close()

    @property
    def is_bulk_capable(self) -> bool:
        """True when no stage needs events one by one, so whole tables may go to the lake."""
        return not self.stages

    def is_bulk_capable_for(self, dataset: str) -> bool:
        """True when no stage needs this dataset's events one by one.

        A stage with a ``sees(dataset)`` method may say it has nothing to do with a dataset
        (no Sigma rule reads plain ``json`` events, say); a stage without one sees everything.
        """
        for stage in self.stages:
            sees = getattr(stage, "sees", None)
            if not callable(sees) or sees(dataset):
                return False
        return True

    def process_table(self, batch: TableBatch, ctx: ParseContext) -> int:
        """Write a bulk table (envelope included) straight to the lake."""
        self._quarantine(batch.issues, ctx)
        rows = int(batch.table.num_rows)
        if rows:
            self.writer.write_table_async(batch.dataset, ctx.received.date(), batch.table)
            accepted = self.stats.accepted
            accepted[batch.dataset] = accepted.get(batch.dataset, 0) + rows
        return rows

    def _quarantine(self, issues: list[ParseIssue], ctx: ParseContext) -> None:
        if not issues:
            return
        self.quarantine.add(issues, identity=ctx.identity, dataset=ctx.dataset)
        self.stats.quarantined += len(issues)
        room = MAX_KEPT_ISSUES - len(self.stats.issues)
        if room > 0:
            self.stats.issues.extend(issues[:room])

    def process(self, batch: ParseBatch, ctx: ParseContext) -> int:
        """Process one parsed batch; returns the number of events kept."""
        self._quarantine(batch.issues, ctx)
        if not batch.events:
            return 0
        events = normalise(batch.events, ctx)
        for stage in self.stages:
            events = stage.process(events)
        kept = self.writer.add(events)
        accepted = self.stats.accepted
        for event in events:
            dataset = str(event["event.dataset"])
            accepted[dataset] = accepted.get(dataset, 0) + 1
        return kept


def prepare_export(
    events: list[Event], settings: Settings, registry: Registry | None = None
) -> list[Event]:
    """Events as an export should show them: every registered enricher with an
    ``export(events)`` method (redaction) gets its say. The stored events are not changed."""
    for stage in load_stages(registry or default_registry(), detection=False, settings=settings):
        export = getattr(stage, "export", None)
        if callable(export):
            events = export(events)
    return events
