"""The bulk NDJSON path: whole chunks of lines to Arrow tables, without a dict per event.

Used by file ingest when no enricher or detector needs to see events one by one. Each chunk
(lines up to ``chunk_bytes``) is parsed by Arrow's multi-threaded JSON reader, nested objects
become dotted columns, and the envelope columns are built for the whole chunk at once. The
result is the same as the per-line path of :class:`~tocsin.ingest.parsers.jsonfmt.JsonParser`
(same ``event.id``, ``@timestamp``, ``event.original``); a chunk Arrow cannot read as it is
(a malformed line, blank lines, a field that changes type) goes through that per-line path, so
bad lines are still quarantined one by one.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from tocsin.core import event as ev
from tocsin.core.event import id_prefix
from tocsin.core.schema import field_type, resolve_name_clashes, to_text
from tocsin.core.timeutil import parse_timestamp
from tocsin.ingest.base import ParseBatch, ParseContext, ParseIssue
from tocsin.ingest.parsers.jsonfmt import TIMESTAMP_KEYS, JsonParser
from tocsin.lake.convert import ARROW_TYPES, TIMESTAMP_TYPE, coerce_value

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024 * 1024
_BLOCK_BYTES = 4 << 20


@dataclass(slots=True)
class TableBatch:
    """A chunk of events as one Arrow table (envelope included), with the issues met."""

    table: pa.Table
    dataset: str
    issues: list[ParseIssue]
    end_offset: int


def is_bulk_candidate(head: bytes) -> bool:
    """True when the input looks like NDJSON (one object per line), the bulk path's shape."""
    first_line = head.split(b"\n", 1)[0].strip()
    if not first_line.startswith(b"{"):
        return False
    try:
        return isinstance(orjson.loads(first_line), dict)
    except orjson.JSONDecodeError:
        return False


def read_ndjson_tables(
    stream: BinaryIO, ctx: ParseContext, *, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[TableBatch | ParseBatch]:
    """Yield a TableBatch per chunk, or the per-line ParseBatches of a chunk Arrow refused."""
    prefix = id_prefix(ctx.identity) + "-"
    dataset = ctx.dataset or "json"
    offset = 0
    lines_before = 0
    carry = b""
    while True:
        data = stream.read(chunk_bytes)
        eof = not data
        chunk = carry + data
        if not eof:
            cut = chunk.rfind(b"\n")
            if cut < 0:
                carry = chunk
                continue
            chunk, carry = chunk[: cut + 1], chunk[cut + 1 :]
        else:
            carry = b""
        if chunk:
            table = _chunk_table(chunk, ctx, prefix, offset)
            if table is None:
                sub = replace(ctx, base_offset=ctx.base_offset + offset)
                for batch in JsonParser().parse_ndjson(io.BytesIO(chunk), sub):
                    batch.issues = [_shift(i, offset, lines_before) for i in batch.issues]
                    batch.end_offset += offset
                    yield batch
                lines_before += chunk.count(b"\n")
            else:
                yield TableBatch(table, dataset, [], offset + len(chunk))
                lines_before += table.num_rows
            offset += len(chunk)
        if eof:
            return


def _shift(issue: ParseIssue, offset: int, lines_before: int) -> ParseIssue:
    """An issue of a chunk, placed in the whole input."""
    line = None if issue.line is None else issue.line + lines_before
    return replace(issue, offset=issue.offset + offset, line=line)


def _chunk_table(chunk: bytes, ctx: ParseContext, prefix: str, offset: int) -> pa.Table | None:
    if chunk.startswith(b"\n") or b"\n\n" in chunk or b"\r" in chunk:
        return None
    newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 0x0A)
    rows = len(newlines)
    if rows == 0 or newlines[-1] != len(chunk) - 1:
        return None
    try:
        table = pj.read_json(
            io.BytesIO(chunk),
            read_options=pj.ReadOptions(block_size=_BLOCK_BYTES, use_threads=True),
            parse_options=pj.ParseOptions(newlines_in_values=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != rows:
        return None
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    # Each line as it was, without its newline: one view of the chunk, then one vectorised cut.
    bounds = np.empty(rows + 1, dtype=np.int64)
    bounds[0] = 0
    bounds[1:] = newlines + 1
    with_newline = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), rows, [None, pa.py_buffer(bounds), pa.py_buffer(chunk)]
    )
    try:
        original = pc.binary_slice(with_newline, 0, -1).cast(pa.large_string()).cast(pa.string())
    except pa.ArrowInvalid:
        return None  # invalid UTF-8: the per-line path replaces it
    starts = bounds[:-1] + (offset + ctx.base_offset)
    columns: dict[str, pa.ChunkedArray | pa.Array] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        columns[name] = _storable(name, column)
    stamp = _timestamp_column(columns, ctx)
    envelope = {
        ev.ID: pc.binary_join_element_wise(
            pa.scalar(prefix), pa.array(starts).cast(pa.string()), ""
        ),
        ev.TIMESTAMP: stamp,
        ev.DATASET: pa.repeat(pa.scalar(ctx.dataset or "json"), rows),
        ev.ORIGINAL: original,
        ev.INGESTED: pa.repeat(pa.scalar(ctx.received, type=TIMESTAMP_TYPE), rows),
    }
    if ev.KIND not in columns:
        envelope[ev.KIND] = pa.repeat(pa.scalar("event"), rows)
    columns.update(envelope)
    names = list(columns)
    arrays = [columns[n] for n in names]
    return pa.Table.from_arrays(arrays, names=resolve_name_clashes(names))


def _storable(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Cast a column to its fixed type (ECS) or to a type the lake stores (native)."""
    ftype = field_type(name)
    dtype = column.type
    if ftype is not None:
        wanted = ARROW_TYPES[ftype]
        if dtype == wanted:
            return column
        try:
            return column.cast(wanted)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.array([coerce_value(v, ftype) for v in column.to_pylist()], type=wanted)
    if pa.types.is_null(dtype):
        return column.cast(pa.string())
    if pa.types.is_timestamp(dtype):
        return (
            column.cast(TIMESTAMP_TYPE)
            if dtype.tz
            else column.cast(pa.timestamp("us")).cast(TIMESTAMP_TYPE)
        )
    if pa.types.is_list(dtype):
        value_type = dtype.value_type
        if pa.types.is_string(value_type):
            return column
        if (
            pa.types.is_integer(value_type)
            or pa.types.is_floating(value_type)
            or pa.types.is_boolean(value_type)
            or pa.types.is_null(value_type)
        ):
            values = column.to_pylist()
            return pa.array(
                [None if v is None else [to_text(x) for x in v] for v in values],
                type=pa.list_(pa.string()),
            )
        values = column.to_pylist()
        return pa.array(
            [None if v is None else orjson.dumps(v).decode() for v in values], type=pa.string()
        )
    return column


def _timestamp_column(
    columns: dict[str, pa.ChunkedArray | pa.Array], ctx: ParseContext
) -> pa.Array:
    """The event time: the first timestamp field that parses, else the time of receipt."""
    rows = len(next(iter(columns.values()))) if columns else 0
    received = pa.scalar(ctx.received, type=TIMESTAMP_TYPE)
    result: pa.Array | pa.ChunkedArray | None = None
    for key in TIMESTAMP_KEYS:
        column = columns.get(key)
        if column is None:
            continue
        parsed = _parse_times(column)
        result = parsed if result is None else pc.coalesce(result, parsed)
        if result.null_count == 0:
            break
    if result is None:
        return pa.repeat(received, rows)
    return pc.coalesce(result, received)


def _parse_times(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    dtype = column.type
    if pa.types.is_timestamp(dtype):
        return (
            column.cast(TIMESTAMP_TYPE)
            if dtype.tz
            else column.cast(pa.timestamp("us")).cast(TIMESTAMP_TYPE)
        )
    if pa.types.is_string(dtype):
        try:
            return column.cast(TIMESTAMP_TYPE)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    values = column.to_pylist()
    return pa.array([parse_timestamp(v) for v in values], type=TIMESTAMP_TYPE)
