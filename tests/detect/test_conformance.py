"""Conformance with SigmaHQ's regression samples (runs when ../shared is present).

Every sample whose ``info.yml`` has an EVTX test must fire its own rule when scanned with the
SigmaHQ rule sets, from the EVTX and from its JSON form alike. How many also give exactly the
stated ``match_count`` is reported (printed), not asserted: several samples hold more events of
the same kind than the count says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tocsin.detect.engine import Engine
from tocsin.detect.reader import EventReader

RULE_SETS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


@dataclass(frozen=True)
class Sample:
    name: str
    rule_ids: tuple[str, ...]
    evtx: Path
    match_count: int | None


def samples(sigma: Path) -> Iterator[Sample]:
    for info in sorted((sigma / "regression_data").rglob("info.yml")):
        data = yaml.safe_load(info.read_text(encoding="utf-8")) or {}
        ids = tuple(str(m["id"]) for m in data.get("rule_metadata", []) if "id" in m)
        for test in data.get("regression_tests_info", []) or []:
            if test.get("type") != "evtx":
                continue
            yield Sample(info.parent.name, ids, sigma / test["path"], test.get("match_count"))


@pytest.fixture(scope="module")
def sigma_dir(shared_data: Path) -> Path:
    folder = shared_data / "sigma"
    if not (folder / "regression_data").is_dir():
        pytest.skip("../shared/data/sigma/regression_data is not here")
    return folder


@pytest.fixture(scope="module")
def engine(sigma_dir: Path) -> Engine:
    return Engine.load([sigma_dir / name for name in RULE_SETS])


def test_every_regression_sample_fires_its_rule(sigma_dir: Path, engine: Engine) -> None:
    found = list(samples(sigma_dir))
    assert len(found) > 150
    missed: list[str] = []
    exact = 0
    for sample in found:
        for path in (sample.evtx, sample.evtx.with_suffix(".json")):
            reader = EventReader()
            events = [e for batch in reader.read([path]) for e in batch.events]
            assert events, f"{path} gave no events: {reader.files_failed or reader.issues}"
            hits = [m for m in engine.match(events) if m.rule.id in sample.rule_ids]
            if not hits:
                missed.append(f"{sample.name} ({path.suffix})")
            if sample.match_count is not None and len(hits) == sample.match_count:
                exact += 1
    print(f"\n{len(found)} samples x 2 forms; {exact} give exactly their match_count")
    assert not missed, f"rules that did not fire on their own sample: {missed}"


def test_the_prefilter_never_hides_a_match(shared_data: Path, sigma_dir: Path) -> None:
    """Plan matches equal a plain evaluation of every routed rule on every event."""
    from tocsin.detect.evaluate import build
    from tocsin.detect.plan import routing_field

    engine = Engine.load([sigma_dir / "rules" / "windows"])
    reader = EventReader()
    events = [e for b in reader.read([shared_data / "evtx"]) for e in b.events]
    assert len(events) > 10_000
    predicates = [build(c.detection.condition) for c in engine.compiled]
    expected: list[tuple[int, int]] = []
    for position, event in enumerate(events):
        dataset = event["event.dataset"]
        field = routing_field(dataset)
        value = event.get(field) if field is not None else None
        for index, compiled in enumerate(engine.compiled):
            if any(r.covers(dataset, value) for r in compiled.routes) and predicates[index](event):
                expected.append((position, index))
    assert engine.plan.match(events) == expected
    assert len(expected) > 1000
