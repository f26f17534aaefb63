"""Every starter rule against its hand-written cases (tests/data/sigma/starter_cases)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tocsin.detect.correlation import CorrelationEngine
from tocsin.detect.engine import Engine
from tocsin.detect.store import starter_pack_path

CASES = Path(__file__).parent.parent / "data" / "sigma" / "starter_cases"


@pytest.fixture(scope="module")
def engine() -> Engine:
    loaded = Engine.load([starter_pack_path()])
    assert not [i for i in loaded.issues if i.severity == "error"]
    return loaded


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.yml"))


def fires(engine: Engine, rule_id: str, events: list[dict[str, Any]]) -> list[bool]:
    by_id = {m.position for m in engine.match(events) if m.rule.id == rule_id}
    return [i in by_id for i in range(len(events))]


def test_every_starter_rule_has_cases() -> None:
    stems = {p.stem for p in starter_pack_path().rglob("*.yml")}
    assert stems and stems == {p.stem for p in case_files()}


@pytest.mark.parametrize("path", case_files(), ids=lambda p: p.stem)
def test_starter_rule_case(engine: Engine, path: Path) -> None:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule_id, kind = str(case["rule"]), case["kind"]
    match, no_match = case.get("match") or [], case.get("no_match") or []
    assert match and no_match, "a case needs events that fire and events that do not"
    if kind == "detection":
        assert all(fires(engine, rule_id, match)), case["match_description"]
        assert not any(fires(engine, rule_id, no_match)), case["no_match_description"]
    elif kind == "correlation":
        for events, expected in ((match, True), (no_match, False)):
            correlation = CorrelationEngine(
                engine.correlations, engine.rules, lateness=timedelta(minutes=5)
            )
            hits = [(m.rule, m.event) for m in engine.match(events)]
            firings = correlation.feed(hits) + correlation.flush()
            assert any(f.rule.id == rule_id for f in firings) is expected, path.stem
    elif kind == "filter":
        from tocsin.detect.loader import load_rules

        [meta] = [r for r in load_rules([starter_pack_path()]).rules if r.id == rule_id]
        targets = set(meta.rule_refs)
        others = [p for p in starter_pack_path().rglob("*.yml") if p != meta.path]
        unfiltered = Engine.load(others)
        for event in match:  # the filter removes these matches of its target rules
            assert {m.rule.id for m in unfiltered.match([event])} & targets
            assert not {m.rule.id for m in engine.match([event])} & targets
        for event in no_match:  # and keeps these
            assert {m.rule.id for m in engine.match([event])} & targets
    else:
        pytest.fail(f"unknown kind {kind!r}")
