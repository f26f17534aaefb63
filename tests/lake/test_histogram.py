"""Hits over time: the buckets cover the range, start on round times and add up to the count."""

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.errors import QuerySyntaxError
from tocsin.lake.histogram import bucket_width, histogram
from tocsin.lake.reader import LakeReader
from tocsin.lake.writer import LakeWriter

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def make(i, dataset, minutes, **fields):
    return {
        "event.id": f"{dataset}-{i}",
        "@timestamp": T0 + timedelta(minutes=minutes),
        "event.ingested": T0,
        "event.dataset": dataset,
        "event.original": f"{dataset} record {i}",
        **fields,
    }


@pytest.fixture
def lake(tmp_path):
    writer = LakeWriter(tmp_path)
    # sysmon: one event every 10 minutes for 10 hours; every third one runs certutil
    writer.add(
        [
            make(
                i,
                "windows.sysmon",
                10 * i,
                EventID=1,
                CommandLine="certutil -urlcache" if i % 3 == 0 else f"chrome --id={i}",
            )
            for i in range(60)
        ]
    )
    writer.flush()
    # syslog: a different dataset (other columns) in another file
    writer.add([make(i, "syslog", 15 * i, message=f"certutil seen {i}") for i in range(40)])
    writer.flush()
    writer.close()
    return tmp_path


def test_the_buckets_add_up_to_the_count_per_dataset_and_query(lake):
    reader = LakeReader(lake)
    since, until = T0, T0 + timedelta(hours=10)
    for query in ("", "certutil", "CommandLine:*certutil*", "NOT EventID:1"):
        found = histogram(reader, query, since, until)
        assert found.total == reader.count(query, since=since, until=until), query
    assert histogram(reader, "CommandLine:*certutil*", since, until).total == 20


def test_the_buckets_are_round_contiguous_and_hold_the_right_hits(lake):
    reader = LakeReader(lake)
    since, until = T0, T0 + timedelta(hours=10)
    found = histogram(reader, "event.dataset:windows.sysmon", since, until, buckets=10)
    assert found.width == timedelta(hours=1)
    assert found.starts[0] == T0
    assert all(b - a == found.width for a, b in zip(found.starts, found.starts[1:], strict=False))
    # six sysmon events an hour; `until` itself (10:00, inclusive) opens an eleventh bucket
    assert found.counts == [6] * 10 + [0]
    assert len(found.starts) == len(found.counts) == 11


def test_an_open_range_starts_at_the_oldest_file_and_counts_everything(lake):
    reader = LakeReader(lake)
    found = histogram(reader, "", None, None)
    assert found.total == reader.count("") == 100
    assert found.starts[0] <= T0 < found.starts[1]
    assert found.starts[-1] <= datetime.now(UTC) < found.starts[-1] + found.width
    assert len(found.counts) <= 61


def test_a_range_outside_the_events_is_all_empty_buckets(lake):
    reader = LakeReader(lake)
    since = T0 + timedelta(days=30)
    found = histogram(reader, "", since, since + timedelta(hours=1), buckets=12)
    assert found.total == 0
    assert found.width == timedelta(minutes=5)
    assert len(found.counts) == 13


def test_an_empty_lake_and_a_bad_query(tmp_path):
    reader = LakeReader(tmp_path)
    assert histogram(reader, "", None, None).total == 0
    with pytest.raises(QuerySyntaxError):
        histogram(reader, "a:(b", None, None)


@pytest.mark.parametrize(
    ("span", "buckets", "width"),
    [
        (timedelta(minutes=15), 60, timedelta(seconds=30)),
        (timedelta(hours=1), 60, timedelta(minutes=1)),
        (timedelta(hours=24), 60, timedelta(minutes=30)),
        (timedelta(days=7), 60, timedelta(hours=3)),
        (timedelta(days=30), 60, timedelta(hours=12)),
        (timedelta(days=90), 60, timedelta(days=7)),
        (timedelta(days=3650), 60, timedelta(days=365)),
    ],
)
def test_bucket_widths_are_round(span, buckets, width):
    assert bucket_width(int(span.total_seconds() * 1e6), buckets) == int(
        width.total_seconds() * 1e6
    )
