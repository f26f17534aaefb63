from datetime import UTC, date, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from tocsin.core.errors import InvalidInputError
from tocsin.lake.layout import list_datasets, list_files
from tocsin.lake.writer import LakeWriter

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
INGESTED = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def event(i, dataset="test", **fields):
    return {
        "event.id": f"id-{i}",
        "@timestamp": T0 + timedelta(seconds=i),
        "event.ingested": INGESTED,
        "event.dataset": dataset,
        "event.original": f"line {i}",
        **fields,
    }


def test_files_are_partitioned_and_named_with_their_span(tmp_path):
    writer = LakeWriter(tmp_path)
    writer.add([event(i) for i in (5, 1, 3)] + [event(9, dataset="other")])
    assert writer.flush() == 4
    assert list_datasets(tmp_path) == ["other", "test"]
    files = list_files(tmp_path, datasets=["test"])
    assert len(files) == 1
    lake_file = files[0]
    assert lake_file.day == date(2026, 11, 28)  # the ingest day, not the event day
    assert lake_file.path.parent.name == "day=2026-11-28"
    assert lake_file.rows == 3
    assert lake_file.min_time == T0 + timedelta(seconds=1)
    assert lake_file.max_time == T0 + timedelta(seconds=5)
    table = pq.read_table(lake_file.path)
    # sorted by time inside the file
    assert table.column("event.original").to_pylist() == ["line 1", "line 3", "line 5"]
    meta = table.schema.metadata
    assert meta[b"tocsin.dataset"] == b"test"
    assert not list(tmp_path.rglob("*.tmp"))


def test_time_range_listing_skips_files(tmp_path):
    writer = LakeWriter(tmp_path)
    writer.add([event(i) for i in range(10)])
    writer.flush()
    writer.add([event(i) for i in range(1000, 1010)])
    writer.flush()
    assert len(list_files(tmp_path)) == 2
    assert len(list_files(tmp_path, since=T0 + timedelta(seconds=500))) == 1
    assert len(list_files(tmp_path, until=T0 + timedelta(seconds=500))) == 1
    assert len(list_files(tmp_path, since=T0 + timedelta(days=1))) == 0


def test_duplicate_ids_in_the_recent_window_are_dropped(tmp_path):
    writer = LakeWriter(tmp_path)
    assert writer.add([event(1), event(2)]) == 2
    writer.flush()
    assert writer.add([event(2), event(3)]) == 1
    writer.flush()
    assert writer.stats.duplicates == 1
    assert sum(f.rows for f in list_files(tmp_path)) == 3


def test_buffer_flushes_itself_when_full(tmp_path):
    writer = LakeWriter(tmp_path, flush_events=10)
    writer.add([event(i) for i in range(25)])
    assert len(list_files(tmp_path)) == 2
    assert writer.buffered == 5


def test_types_are_fixed_for_ecs_and_mixed_native_fields_become_strings(tmp_path):
    writer = LakeWriter(tmp_path)
    writer.add(
        [
            event(
                1,
                **{
                    "source.port": "443",
                    "event.category": "network",
                    "Mixed": 5,
                    "Count": 1,
                    "Flag": True,
                    "Tags": ["a", 1],
                },
            ),
            event(
                2,
                **{
                    "source.port": 80,
                    "event.category": ["network", "dns"],
                    "Mixed": "five",
                    "Count": 2,
                    "Flag": False,
                },
            ),
        ]
    )
    writer.flush()
    schema = pq.read_schema(list_files(tmp_path)[0].path)
    assert str(schema.field("source.port").type) == "int64"
    assert str(schema.field("event.category").type) == "list<element: string>"
    assert str(schema.field("Mixed").type) == "string"
    assert str(schema.field("Count").type) == "int64"
    assert str(schema.field("Flag").type) == "bool"
    assert str(schema.field("@timestamp").type) == "timestamp[us, tz=UTC]"
    rows = pq.read_table(list_files(tmp_path)[0].path).to_pylist()
    assert [r["Mixed"] for r in rows] == ["5", "five"]
    assert rows[0]["Tags"] == ["a", "1"]
    assert rows[0]["event.category"] == ["network"]


def test_invalid_dataset_name_is_refused(tmp_path):
    writer = LakeWriter(tmp_path)
    writer.add([event(1, dataset="../escape")])
    with pytest.raises(InvalidInputError, match="dataset"):
        writer.flush()


def test_fields_that_mix_types_stay_text_in_later_batches(tmp_path):
    writer = LakeWriter(tmp_path)
    writer.add([event(1, ProcessId=500), event(2, ProcessId="0x1f4")])
    writer.flush()
    writer.add([event(3, ProcessId=7)])  # alone it would be a number column
    writer.flush()
    types = {str(pq.read_schema(f.path).field("ProcessId").type) for f in list_files(tmp_path)}
    assert types == {"string"}
