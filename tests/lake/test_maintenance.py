from datetime import UTC, date, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from tocsin.lake.layout import list_files
from tocsin.lake.maintenance import (
    CompactionBusyError,
    apply_retention,
    compact,
    compaction_lock,
    lake_stats,
)
from tocsin.lake.writer import LakeWriter

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def event(i, ingested, dataset="test", **fields):
    return {
        "event.id": f"id-{i}",
        "@timestamp": T0 + timedelta(minutes=i),
        "event.ingested": ingested,
        "event.dataset": dataset,
        "event.original": f"e{i}",
        **fields,
    }


def test_compaction_merges_small_files_and_drops_duplicates(tmp_path):
    lake, state = tmp_path / "lake", tmp_path / "state"
    now = datetime.now(UTC)
    for start in range(0, 50, 10):
        # separate writers: their recent windows do not see each other's ids
        writer = LakeWriter(lake)
        writer.add([event(i, now) for i in range(start, start + 12)])
        writer.flush()
    writer = LakeWriter(lake)
    writer.add([event(100, now, Extra=1)])
    writer.flush()
    writer = LakeWriter(lake)
    writer.add([event(101, now, Extra="text")])  # same column, another type
    writer.flush()
    assert len(list_files(lake)) == 7
    codec = pq.ParquetFile(list_files(lake)[0].path).metadata.row_group(0).column(0).compression
    assert codec == "LZ4"  # new files favour speed
    report = compact(lake, state, min_age=0)
    files = list_files(lake)
    assert report.files_in == 7
    assert len(files) == report.files_out == 1
    assert report.duplicates == 8  # ids 10,11,20,21,30,31,40,41 were written twice
    table = pq.read_table(files[0].path)
    metadata = pq.ParquetFile(files[0].path).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"  # compaction makes them small
    ids = table.column("event.id").to_pylist()
    assert len(ids) == len(set(ids)) == 54
    stamps = table.column("@timestamp").to_pylist()
    assert stamps == sorted(stamps)
    assert files[0].min_time == T0
    assert sorted(v for v in table.column("Extra").to_pylist() if v) == ["1", "text"]


def test_compaction_leaves_young_files(tmp_path):
    lake = tmp_path / "lake"
    now = datetime.now(UTC)
    for i in range(3):
        writer = LakeWriter(lake)
        writer.add([event(i, now)])
        writer.flush()
    report = compact(lake, tmp_path / "state", min_age=3600)
    assert report.files_in == 0
    assert len(list_files(lake)) == 3


def test_only_one_compactor_at_a_time(tmp_path):
    with compaction_lock(tmp_path), pytest.raises(CompactionBusyError):
        compact(tmp_path / "lake", tmp_path, min_age=0)


def test_retention_deletes_whole_ingest_days(tmp_path):
    lake = tmp_path / "lake"
    today = date(2026, 11, 28)
    for days_ago in (0, 5, 40):
        ingested = datetime.combine(today - timedelta(days=days_ago), datetime.min.time(), UTC)
        writer = LakeWriter(lake)
        # events from 2019: retention goes by ingest day, so they are not expired at once
        writer.add(
            [
                event(days_ago, ingested, dataset="old.logs"),
                event(days_ago + 100, ingested, dataset="keep.logs"),
            ]
        )
        writer.flush()
    report = apply_retention(lake, {"old.logs": 30}, today=today)
    assert report.removed == {"old.logs": [(today - timedelta(days=40)).isoformat()]}
    assert {f.day for f in list_files(lake, datasets=["old.logs"])} == {
        today,
        today - timedelta(days=5),
    }
    assert len(list_files(lake, datasets=["keep.logs"])) == 3
    report = apply_retention(lake, {"*": 1}, today=today)
    assert set(report.removed) == {"old.logs", "keep.logs"}
    assert {f.day for f in list_files(lake)} == {today}


def test_stats_per_dataset(tmp_path):
    lake = tmp_path / "lake"
    now = datetime.now(UTC)
    writer = LakeWriter(lake)
    writer.add([event(i, now) for i in range(5)] + [event(9, now, dataset="b")])
    writer.flush()
    stats = {s.dataset: s for s in lake_stats(lake)}
    assert stats["test"].events == 5
    assert stats["test"].files == 1
    assert stats["test"].days == 1
    assert stats["test"].first == T0
    assert stats["test"].last == T0 + timedelta(minutes=4)
    assert stats["test"].bytes > 0
    assert stats["b"].events == 1
