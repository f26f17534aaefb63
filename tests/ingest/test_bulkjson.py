import io
from datetime import UTC, datetime

import pyarrow.parquet as pq

from tocsin.core.settings import load_settings
from tocsin.ingest.base import ParseContext
from tocsin.ingest.normalise import normalise
from tocsin.ingest.parsers.bulkjson import TableBatch, is_bulk_candidate, read_ndjson_tables
from tocsin.ingest.parsers.jsonfmt import JsonParser
from tocsin.ingest.service import IngestService
from tocsin.lake.convert import events_to_table
from tocsin.lake.layout import list_files

RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
SAMPLE = (
    b'{"a":{"b":1},"ts":"2024-01-01T00:00:00Z","x":[1,2],"source":{"port":"80"},"Img":"A"}\n'
    b'{"a":{"b":2},"ts":"2024-01-01T00:00:01.5+01:00","img":"case clash"}\n'
    b'{"a":{"b":3},"timestamp":"2024-01-01 00:00:00.5","ts":null,"deep":{"l":[{"k":1}]}}\n'
)


def rows(table):
    return [{k: v for k, v in r.items() if v is not None} for r in table.to_pylist()]


def test_bulk_and_per_line_paths_store_the_same_events():
    ctx = ParseContext("f.ndjson", "ident", received=RECEIVED)
    batches = list(read_ndjson_tables(io.BytesIO(SAMPLE), ctx))
    assert [type(b) for b in batches] == [TableBatch]
    fast = batches[0].table
    events = [
        e
        for b in JsonParser().parse_stream(io.BufferedReader(io.BytesIO(SAMPLE)), ctx)
        for e in b.events
    ]
    slow = events_to_table(normalise(events, ctx))
    assert sorted(fast.column_names) == sorted(slow.column_names)
    assert rows(fast) == rows(slow.select(fast.column_names))
    assert fast.schema.field("source.port").type == slow.schema.field("source.port").type


def test_chunks_that_arrow_refuses_go_line_by_line_and_keep_ids():
    data = b'{"n": 1}\n{"n": \n{"n": 3}\n'
    ctx = ParseContext("f.ndjson", "ident", received=RECEIVED)
    batches = list(read_ndjson_tables(io.BytesIO(data), ctx, chunk_bytes=9))
    events = [e for b in batches if not isinstance(b, TableBatch) for e in b.events]
    tables = [b.table for b in batches if isinstance(b, TableBatch)]
    issues = [i for b in batches for i in b.issues]
    stored = [r["n"] for t in tables for r in t.to_pylist()] + [e["n"] for e in events]
    assert sorted(stored) == [1, 3]
    assert [(i.raw, i.line, i.offset) for i in issues] == [(b'{"n":', 2, 9)]
    ids = {r["event.id"] for t in tables for r in t.to_pylist()} | {e["event.id"] for e in events}
    assert ids == {ctx.event_id(0), ctx.event_id(16)}


def test_is_bulk_candidate():
    assert is_bulk_candidate(b'{"a": 1}\n{"a": 2}\n')
    assert not is_bulk_candidate(b'{\n  "a": 1\n}\n')
    assert not is_bulk_candidate(b"[1, 2]")


def test_ingest_service_uses_the_bulk_path_without_stages(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_bytes(b"".join(b'{"n": %d, "msg": "m%d"}\n' % (i, i) for i in range(1000)))
    settings = load_settings(home=tmp_path / "home")
    report = IngestService(settings, detection=False).ingest([source])
    assert report.accepted == {"json": 1000}
    files = list_files(settings.lake_dir)
    table = pq.read_table(files[0].path)
    assert sorted(table.column("n").to_pylist()) == list(range(1000))
    originals = set(table.column("event.original").to_pylist())
    assert '{"n": 7, "msg": "m7"}' in originals
