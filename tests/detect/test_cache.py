"""The compiled-rule cache: a hit gives the same engine, any change to the rules is a miss."""

from __future__ import annotations

import os
from pathlib import Path

from tocsin.detect.cache import cache_key, load_engine

RULE = """
title: whoami run
id: 4f6f3c9e-2b7a-4a51-9d0e-5a1b2c3d4e5f
logsource:
  category: process_creation
  product: windows
detection:
  sel:
    Image|endswith: '\\whoami.exe'
  condition: sel
level: medium
"""

CORRELATION = """
title: many whoami
id: 4f6f3c9e-2b7a-4a51-9d0e-5a1b2c3d4e60
correlation:
  type: event_count
  rules:
    - 4f6f3c9e-2b7a-4a51-9d0e-5a1b2c3d4e5f
  group-by:
    - Computer
  timespan: 5m
  condition:
    gte: 3
level: high
"""

EVENT = {"event.dataset": "windows.sysmon", "EventID": 1, "Image": "C:\\W\\whoami.exe"}


def write_rules(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "whoami.yml").write_text(RULE, encoding="utf-8")
    (folder / "many.yml").write_text(CORRELATION, encoding="utf-8")
    return folder


def test_second_load_comes_from_the_cache_and_matches_alike(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    cache = tmp_path / "cache"
    first = load_engine([rules], cache_dir=cache)
    second = load_engine([rules], cache_dir=cache)
    assert not first.from_cache
    assert second.from_cache
    assert second.cache_path is not None and second.cache_path.is_file()
    assert [c.rule.id for c in second.engine.compiled] == [c.rule.id for c in first.engine.compiled]
    assert [r.id for r in second.engine.correlations] == [r.id for r in first.engine.correlations]
    assert second.engine.correlations[0].sigma is not None  # correlations keep their pySigma form
    assert second.engine.compiled[0].rule.sigma is None  # detections need only the plan
    assert [m.rule.id for m in second.engine.match([EVENT])] == [
        m.rule.id for m in first.engine.match([EVENT])
    ]
    assert second.engine.explain(second.engine.match([EVENT])[0])


def test_a_changed_rule_file_is_a_miss_and_replaces_the_old_entry(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    cache = tmp_path / "cache"
    first = load_engine([rules], cache_dir=cache)
    path = rules / "whoami.yml"
    path.write_text(RULE.replace("whoami.exe", "hostname.exe"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    second = load_engine([rules], cache_dir=cache)
    assert not second.from_cache
    assert not second.engine.match([EVENT])
    assert first.cache_path is not None and not first.cache_path.exists()
    assert len(list(cache.glob("*.pickle"))) == 1


def test_placeholders_are_part_of_the_key(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    assert cache_key([rules], {"a": ["1"]}) != cache_key([rules], {"a": ["2"]})
    assert cache_key([rules], None)[0] == cache_key([rules], {"a": ["2"]})[0]


def test_a_damaged_cache_is_a_miss(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    cache = tmp_path / "cache"
    first = load_engine([rules], cache_dir=cache)
    assert first.cache_path is not None
    first.cache_path.write_bytes(b"not a pickle")
    again = load_engine([rules], cache_dir=cache)
    assert not again.from_cache
    assert len(again.engine.compiled) == 1


def test_without_cache_nothing_is_written(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    result = load_engine([rules], cache_dir=tmp_path / "cache", use_cache=False)
    assert result.cache_path is None
    assert not (tmp_path / "cache").exists()
