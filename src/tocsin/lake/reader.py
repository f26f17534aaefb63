"""Reading the lake with DuckDB: schemas, search, counts and raw SQL.

The lake is plain Parquet, so any process can read it while writers append. Search reads the
files newest first (their names carry their time span) and stops as soon as no remaining file
can hold a newer hit than the page it has; counts read every candidate file at once.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tocsin.core import event as ev
from tocsin.core.errors import InvalidInputError
from tocsin.lake.layout import LakeFile, list_files
from tocsin.lake.querylang import Node, parse_query
from tocsin.lake.querysql import compile_query

logger = logging.getLogger(__name__)

FIRST_WAVE_ROWS = 1_000_000


def duckdb_type(dtype: pa.DataType) -> str:
    """The DuckDB type name of an Arrow type as the lake stores it."""
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "VARCHAR"
    if pa.types.is_integer(dtype):
        return "BIGINT"
    if pa.types.is_floating(dtype):
        return "DOUBLE"
    if pa.types.is_boolean(dtype):
        return "BOOLEAN"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP WITH TIME ZONE" if dtype.tz else "TIMESTAMP"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return duckdb_type(dtype.value_type) + "[]"
    return "VARCHAR"


@dataclass(slots=True)
class SearchResult:
    """The newest hits of a search, and what it cost."""

    events: list[dict[str, object]]
    elapsed: float
    files_scanned: int
    files_total: int


@dataclass(slots=True)
class _Hit:
    stamp: int
    row: dict[str, object]


@dataclass(slots=True)
class _Plan:
    node: Node
    since: datetime | None
    until: datetime | None
    files: list[LakeFile] = field(default_factory=list)


class LakeReader:
    """Search and query one lake folder."""

    def __init__(
        self, lake_dir: Path, *, threads: int | None = None, memory_limit: str = "4GB"
    ) -> None:
        self.lake_dir = lake_dir
        self.threads = threads
        self.memory_limit = memory_limit
        self.first_wave_rows = FIRST_WAVE_ROWS
        self._schemas: dict[Path, dict[str, str]] = {}
        self._lock = threading.Lock()

    # -- connections and schemas ----------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB connection set up for the lake (no extension downloads)."""
        con = duckdb.connect(
            ":memory:",
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            },
        )
        try:
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            con.execute("SET memory_limit = ?", [self.memory_limit])
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()

    def file_schema(self, path: Path) -> dict[str, str]:
        """Column name to DuckDB type of one file (cached; files never change once written)."""
        with self._lock:
            cached = self._schemas.get(path)
        if cached is not None:
            return cached
        schema = pq.read_schema(path)
        columns = {name: duckdb_type(schema.field(name).type) for name in schema.names}
        with self._lock:
            if len(self._schemas) > 50_000:
                self._schemas.clear()
            self._schemas[path] = columns
        return columns

    def columns(self, files: Sequence[LakeFile]) -> dict[str, str]:
        """The union of the files' columns; a column whose type differs becomes VARCHAR."""
        merged: dict[str, str] = {}
        lowered: dict[str, str] = {}
        for lake_file in files:
            try:
                schema = self.file_schema(lake_file.path)
            except FileNotFoundError:
                continue
            for name, dtype in schema.items():
                known = lowered.get(name.lower())
                if known is None:
                    lowered[name.lower()] = name
                    merged[name] = dtype
                elif merged[known] != dtype:
                    merged[known] = "VARCHAR"
        return merged

    # -- search ------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        datasets: list[str] | None = None,
        oldest_first: bool = False,
    ) -> SearchResult:
        """Return the newest ``limit`` events matching ``query`` (oldest first if asked).

        Raises:
            QuerySyntaxError: when the query does not parse.
        """
        started = time.perf_counter()
        now = datetime.now(UTC)
        node = parse_query(query)
        files = list_files(self.lake_dir, datasets=datasets, since=since, until=until)
        total_files = len(files)
        if oldest_first:
            files.sort(key=lambda f: f.min_us)
        else:
            files.sort(key=lambda f: f.max_us, reverse=True)
        hits: list[_Hit] = []
        scanned = 0
        position = 0
        wave_rows = self.first_wave_rows
        with self.connect() as con:
            while position < len(files):
                if len(hits) >= limit:
                    edge = hits[limit - 1].stamp
                    following = files[position]
                    if (not oldest_first and following.max_us < edge) or (
                        oldest_first and following.min_us > edge
                    ):
                        break
                wave: list[LakeFile] = []
                rows = 0
                while position < len(files) and (not wave or rows < wave_rows):
                    wave.append(files[position])
                    rows += files[position].rows
                    position += 1
                wave_rows *= 4
                scanned += len(wave)
                hits.extend(self._run_wave(now, con, node, wave, since, until, limit, oldest_first))
                hits.sort(key=lambda h: h.stamp, reverse=not oldest_first)
                del hits[limit:]
        return SearchResult(
            events=[h.row for h in hits],
            elapsed=time.perf_counter() - started,
            files_scanned=scanned,
            files_total=total_files,
        )

    def _run_wave(
        self,
        now: datetime,
        con: duckdb.DuckDBPyConnection,
        node: Node,
        wave: list[LakeFile],
        since: datetime | None,
        until: datetime | None,
        limit: int,
        oldest_first: bool,
    ) -> list[_Hit]:
        by_dataset: dict[str, list[LakeFile]] = {}
        for lake_file in wave:
            by_dataset.setdefault(lake_file.dataset, []).append(lake_file)
        hits: list[_Hit] = []
        order = "ASC" if oldest_first else "DESC"
        for dataset_files in by_dataset.values():
            sql, params = self._select(node, dataset_files, since, until, "*", now)
            if sql is None:
                continue
            sql += f' ORDER BY "@timestamp" {order} LIMIT {int(limit)}'
            table: pa.Table = self._execute(con, sql, params).to_arrow_table()
            stamps = table.column(ev.TIMESTAMP).cast(pa.int64()).to_pylist()
            for stamp, row in zip(stamps, table.to_pylist(), strict=True):
                hits.append(_Hit(stamp or 0, {k: v for k, v in row.items() if v is not None}))
        return hits

    def _select(
        self,
        node: Node,
        files: list[LakeFile],
        since: datetime | None,
        until: datetime | None,
        what: str,
        now: datetime,
    ) -> tuple[str | None, list[object]]:
        columns = self.columns(files)
        if not columns:
            return None, []
        where, params = compile_query(node, columns, now=now)
        clauses = [f"({where})"]
        if since is not None:
            clauses.append('"@timestamp" >= ?')
            params.append(since)
        if until is not None:
            clauses.append('"@timestamp" <= ?')
            params.append(until)
        # the file list is the first parameter: nothing but the compiled query is SQL text
        params.insert(0, [str(f.path) for f in files])
        sql = (
            f"SELECT {what} FROM read_parquet(?, union_by_name = true, "  # noqa: S608
            f"hive_partitioning = false) WHERE {' AND '.join(clauses)}"
        )
        return sql, params

    def _execute(
        self, con: duckdb.DuckDBPyConnection, sql: str, params: list[object]
    ) -> duckdb.DuckDBPyRelation:
        try:
            return con.sql(sql, params=params)
        except duckdb.IOException:
            # A file listed may have been merged by compaction meanwhile: one more try after
            # the listing settles is enough, since compaction renames before it deletes.
            time.sleep(0.05)
            return con.sql(sql, params=params)

    def count(
        self,
        query: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        datasets: list[str] | None = None,
    ) -> int:
        """Count every event matching ``query``."""
        node = parse_query(query)
        files = list_files(self.lake_dir, datasets=datasets, since=since, until=until)
        by_dataset: dict[str, list[LakeFile]] = {}
        for lake_file in files:
            by_dataset.setdefault(lake_file.dataset, []).append(lake_file)
        total = 0
        with self.connect() as con:
            for dataset_files in by_dataset.values():
                sql, params = self._select(
                    node, dataset_files, since, until, "count(*)", datetime.now(UTC)
                )
                if sql is None:
                    continue
                rows = self._execute(con, sql, params).fetchall()
                total += int(rows[0][0]) if rows else 0
        return total

    # -- raw SQL -------------------------------------------------------------------------------
    def sql(self, statement: str, *, limit: int | None = None) -> pa.Table:
        """Run a raw DuckDB query over the view ``events`` (every file of the lake).

        Raises:
            InvalidInputError: when DuckDB rejects the statement.
        """
        files = list_files(self.lake_dir)
        with self.connect() as con:
            if files:
                con.read_parquet(
                    [str(f.path) for f in files], union_by_name=True, hive_partitioning=False
                ).create_view("events")
            else:
                con.execute(
                    'CREATE VIEW events AS SELECT NULL::TIMESTAMPTZ AS "@timestamp", '
                    'NULL::VARCHAR AS "event.id" WHERE false'
                )
            try:
                relation = con.sql(statement)
                if relation is None:  # a statement without a result (SET, CREATE ...)
                    return pa.table({})
                table = (
                    relation.to_arrow_table()
                    if limit is None
                    else _take(relation.to_arrow_reader(), limit)
                )
            except duckdb.Error as exc:
                raise InvalidInputError(f"SQL failed: {exc}") from exc
        return table


def _take(reader: pa.RecordBatchReader, limit: int) -> pa.Table:
    batches: list[pa.RecordBatch] = []
    left = limit
    for batch in reader:
        if left <= 0:
            break
        batches.append(batch.slice(0, left))
        left -= batch.num_rows
    return pa.Table.from_batches(batches, schema=reader.schema)


_SAFE_EVENT_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")
EVENT_ID_CHUNK = 100  # event ids per lake query


def events_by_id(
    reader: LakeReader,
    ids: Sequence[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[dict[str, object]], list[str]]:
    """The events with these ids, in the order given, and the ids not found in the lake.

    Ids that are not plain tokens are never put into a query; they are reported missing.
    ``since``/``until`` bound the event times searched, when the caller knows them.
    """
    wanted = [i for i in ids if _SAFE_EVENT_ID.match(i)]
    found: dict[str, dict[str, object]] = {}
    for start in range(0, len(wanted), EVENT_ID_CHUNK):
        chunk = wanted[start : start + EVENT_ID_CHUNK]
        query = "event.id:(" + " OR ".join(f'"{i}"' for i in chunk) + ")"
        found_chunk = reader.search(query, since=since, until=until, limit=2 * len(chunk))
        for event in found_chunk.events:  # room for copies
            found.setdefault(str(event.get("event.id")), event)
    return [found[i] for i in ids if i in found], [i for i in ids if i not in found]
