"""The stage contract: settings reach stages that ask; bulk only when no stage needs it."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import ClassVar

import pytest

from tocsin.core import plugins
from tocsin.core.event import Event
from tocsin.core.plugins import Registry
from tocsin.core.settings import Settings
from tocsin.ingest.pipeline import Pipeline, load_stages
from tocsin.ingest.quarantine import Quarantine
from tocsin.lake.writer import LakeWriter


class BoundStage:
    """A plugin author's stage that needs the home and reads only windows.* events."""

    id: ClassVar[str] = "bound"
    seen: ClassVar[list[Settings]] = []

    def bind(self, settings: Settings) -> None:
        BoundStage.seen.append(settings)

    def sees(self, dataset: str) -> bool:
        return dataset.startswith("windows.")

    def process(self, events: list[Event]) -> list[Event]:
        return events


class PlainStage:
    """A stage with neither bind nor sees: it sees every dataset."""

    id: ClassVar[str] = "plain"

    def process(self, events: list[Event]) -> list[Event]:
        return events


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    entries = [EntryPoint("bound", f"{__name__}:BoundStage", "tocsin.detectors")]

    def lookup(group: str) -> list[EntryPoint]:
        return [e for e in entries if e.group == group]

    monkeypatch.setattr(plugins, "entry_points", lookup)
    BoundStage.seen.clear()
    return Registry(strict=True)


def test_stages_with_bind_get_the_settings(registry: Registry, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    stages = load_stages(registry, settings=settings)
    assert [type(s).__name__ for s in stages] == ["BoundStage"]
    assert BoundStage.seen == [settings]


def test_detection_off_loads_no_detector(registry: Registry) -> None:
    assert load_stages(registry, detection=False) == []


def test_bulk_is_allowed_only_for_datasets_no_stage_reads(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path / "lake")
    quarantine = Quarantine(tmp_path / "quarantine")
    only_windows = Pipeline(writer, quarantine, stages=[BoundStage()])
    assert only_windows.is_bulk_capable_for("json")
    assert not only_windows.is_bulk_capable_for("windows.sysmon")
    everything = Pipeline(writer, quarantine, stages=[BoundStage(), PlainStage()])
    assert not everything.is_bulk_capable_for("json")
    assert Pipeline(writer, quarantine, stages=[]).is_bulk_capable_for("json")
