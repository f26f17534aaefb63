"""Databases: sample the rows of every table and scan their text columns.

Any database SQLAlchemy reaches (SQLite and PostgreSQL are tested). Each table gives at most
``max_rows`` rows, spread over the table (SQLite: a random sample of row ids; PostgreSQL:
``TABLESAMPLE SYSTEM`` when the table is large), and the whole scan at most
``max_total_rows``. Each cell is scanned as ``column: value``, so a column's name is context
(``ssn: 123456789``, ``password: ...``). Statements are built by SQLAlchemy from reflected
names: identifiers are quoted by the dialect and values are never put into SQL text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tocsin.core.errors import TocsinError

TEXT_TYPES = (sa.String, sa.Text, sa.JSON, sa.Enum)


class DatabaseError(TocsinError):
    """The database could not be reached or read."""


@dataclass(frozen=True, slots=True)
class Cell:
    """One value to scan, and where it is."""

    table: str
    column: str
    row: str
    text: str


@dataclass(frozen=True, slots=True)
class TableNote:
    """A table that was sampled, skipped or failed."""

    table: str
    rows: int
    note: str = ""


def redacted_url(url: str) -> str:
    """The URL without its password, for messages and locations."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<bad database URL>"


def _is_text(column_type: sa.types.TypeEngine[object]) -> bool:
    if isinstance(column_type, TEXT_TYPES):
        return True
    name = type(column_type).__name__.upper()
    return any(word in name for word in ("CHAR", "TEXT", "JSON", "CLOB", "STRING", "XML"))


def _sampled(
    conn: sa.Connection, table: sa.Table, key: list[sa.ColumnElement[object]], budget: int
) -> Any:  # a Select; its typed form depends on the column count
    cols = [c for c in table.columns if _is_text(c.type)]
    query = sa.select(*key, *cols)
    dialect = conn.dialect.name
    if dialect == "sqlite":
        rowid: sa.ColumnElement[object] = sa.literal_column("rowid")
        ids = sa.select(rowid).select_from(table).order_by(sa.func.random()).limit(budget)
        return query.where(rowid.in_(ids.scalar_subquery()))
    if dialect == "postgresql":
        estimate = conn.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)"),
            {"name": f"{table.schema + '.' if table.schema else ''}{table.name}"},
        ).scalar()
        if estimate and estimate > budget * 4:
            percent = max(0.01, min(100.0, budget * 400.0 / float(estimate)))
            sample = sa.tablesample(table, sa.func.system(percent))
            return (
                sa.select(*[sample.c[c.name] for c in key], *[sample.c[c.name] for c in cols])
                .select_from(sample)
                .limit(budget)
            )
    return query.limit(budget)


def iter_cells(
    url: str, *, max_rows: int = 1000, max_total_rows: int = 100_000
) -> Iterator[Cell | TableNote]:
    """Every text cell of a sample of every table, and a note per table."""
    try:
        engine = sa.create_engine(url)
        conn_cm = engine.connect()
        conn = conn_cm.__enter__()
    except Exception as exc:  # noqa: BLE001 - any driver error is one clear message
        raise DatabaseError(f"{redacted_url(url)}: cannot connect: {exc}") from None
    left = max_total_rows
    try:
        inspector = sa.inspect(conn)
        schemas: list[str | None] = [None]
        if conn.dialect.name == "postgresql":
            schemas = [
                s
                for s in inspector.get_schema_names()
                if s not in ("information_schema",) and not s.startswith("pg_")
            ]
        for schema in schemas:
            for name in inspector.get_table_names(schema=schema):
                label = f"{schema}.{name}" if schema and schema != "public" else name
                if left <= 0:
                    yield TableNote(label, 0, "skipped: total row budget spent")
                    continue
                try:
                    table = sa.Table(name, sa.MetaData(), autoload_with=conn, schema=schema)
                except Exception as exc:  # noqa: BLE001
                    yield TableNote(label, 0, f"cannot read its columns: {exc}")
                    continue
                texts = [c for c in table.columns if _is_text(c.type)]
                if not texts:
                    yield TableNote(label, 0, "no text columns")
                    continue
                pk = list(table.primary_key.columns)
                key: list[sa.ColumnElement[object]] = (
                    list(pk)
                    if pk
                    else ([sa.literal_column("rowid")] if conn.dialect.name == "sqlite" else [])
                )
                budget = min(max_rows, left)
                try:
                    rows = conn.execute(_sampled(conn, table, key, budget)).all()
                except Exception as exc:  # noqa: BLE001
                    conn.rollback()
                    yield TableNote(label, 0, f"cannot read: {exc}")
                    continue
                n_key = len(key)
                for i, row in enumerate(rows):
                    row_id = ",".join(str(v) for v in row[:n_key]) if n_key else f"#{i + 1}"
                    for column, value in zip(texts, row[n_key:], strict=True):
                        if value is None:
                            continue
                        text = value if isinstance(value, str) else str(value)
                        if text:
                            yield Cell(label, column.name, row_id, text)
                left -= len(rows)
                yield TableNote(label, len(rows))
    finally:
        conn_cm.__exit__(None, None, None)
        engine.dispose()
