import gzip
import io
from datetime import UTC, datetime

import pytest

from tocsin.ingest.base import ParseContext
from tocsin.ingest.parsers.jsonfmt import JsonParser, iter_json_records

RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)


def parse(data: bytes, dataset=None):
    ctx = ParseContext("input.json", "ident", dataset=dataset, received=RECEIVED)
    events, issues = [], []
    for batch in JsonParser().parse_stream(io.BufferedReader(io.BytesIO(data)), ctx):
        events.extend(batch.events)
        issues.extend(batch.issues)
    return events, issues


@pytest.mark.parametrize(
    ("shape", "data"),
    [
        ("ndjson", b'{"a": 1}\n{"a": 2}\n{"a": 3}\n'),
        ("ndjson without final newline", b'{"a": 1}\n{"a": 2}\n{"a": 3}'),
        ("array", b'[{"a": 1}, {"a": 2}, {"a": 3}]'),
        ("pretty concatenated", b'{\n  "a": 1\n}\n{\n  "a": 2\n}\n{\n  "a": 3\n}\n'),
        ("concatenated no separator", b'{"a": 1}{"a": 2}{"a": 3}'),
        ("crlf ndjson", b'{"a": 1}\r\n{"a": 2}\r\n{"a": 3}\r\n'),
    ],
)
def test_every_json_shape(shape, data):
    events, issues = parse(data)
    assert issues == []
    assert [e["a"] for e in events] == [1, 2, 3]
    assert all(e["event.dataset"] == "json" for e in events)
    assert len({e["event.id"] for e in events}) == 3


def test_single_object():
    events, issues = parse(b'{"x": {"y": "z"}}')
    assert issues == []
    assert events[0]["x.y"] == "z"
    assert events[0]["event.original"] == '{"x": {"y": "z"}}'


def test_envelope_and_timestamp_fields():
    events, _ = parse(
        b'{"@timestamp": "2024-05-01T10:00:00Z", "m": 1}\n{"ts": 1714557600}\n{"nothing": true}\n',
        dataset="app.logs",
    )
    assert events[0]["@timestamp"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert events[1]["@timestamp"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert events[2]["@timestamp"] == RECEIVED
    assert {e["event.dataset"] for e in events} == {"app.logs"}


def test_malformed_lines_are_reported_with_line_numbers_and_the_rest_goes_in():
    events, issues = parse(b'{"a": 1}\n{"a": \n[1, 2]\n{"a": 4}\n')
    assert [e["a"] for e in events] == [1, 4]
    assert [(i.line, i.raw) for i in issues] == [(2, b'{"a":'), (3, b"[1, 2]")]
    assert "invalid JSON" in issues[0].reason
    assert "expected a JSON object" in issues[1].reason


def test_ids_depend_on_position_not_content():
    first, _ = parse(b'{"a": 1}\n{"a": 1}\n')
    again, _ = parse(b'{"a": 1}\n{"a": 1}\n')
    assert first[0]["event.id"] != first[1]["event.id"]
    assert [e["event.id"] for e in first] == [e["event.id"] for e in again]


def test_truncated_concatenated_input_keeps_complete_objects():
    records = list(
        iter_json_records(io.BufferedReader(io.BytesIO(b'{\n "a": 1\n}\n{\n "a": 2\n}\n{\n "a": ')))
    )
    assert [r.value for r in records[:2]] == [{"a": 1}, {"a": 2}]
    assert records[2].error is not None and "truncated" in records[2].error


def test_large_concatenated_input_crosses_chunks():
    body = b"".join(b'{\n "n": %d, "pad": "%s"\n}\n' % (i, b"\xc3\xa9" * 300) for i in range(5000))
    events, issues = parse(body)
    assert issues == []
    assert [e["n"] for e in events] == list(range(5000))
    assert events[0]["pad"] == "é" * 300


def test_sniff_is_low_for_generic_json():
    assert JsonParser().sniff(b'{"a": 1}\n') == 10
    assert JsonParser().sniff(b"not json") == 0


def test_gzip_is_handled_by_the_file_layer(tmp_path):
    from tocsin.ingest.files import OpenedInput

    path = tmp_path / "x.ndjson.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    with OpenedInput(path) as opened:
        assert opened.compressed
        assert opened.head.startswith(b'{"a": 1}')
        ctx = ParseContext(str(path), "id")
        events = [e for b in JsonParser().parse_stream(opened.stream, ctx) for e in b.events]
    assert [e["a"] for e in events] == [1, 2]


def test_truncated_gzip_yields_what_can_be_read(tmp_path):
    from tocsin.ingest.files import OpenedInput

    body = b"".join(b'{"n": %d}\n' % i for i in range(20000))
    packed = gzip.compress(body)
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with OpenedInput(path) as opened:
        ctx = ParseContext(str(path), "id")
        events = [e for b in JsonParser().parse_stream(opened.stream, ctx) for e in b.events]
        assert opened.error is not None and "truncated" in opened.error
    assert 0 < len(events) < 20000
    assert [e["n"] for e in events] == list(range(len(events)))
