"""The fingerprint history: which JA3, JA4 and user agents this organisation's traffic already has.

The history is one Parquet file in the home (``state/net/fingerprints.parquet``): per kind and
value, when it was first and last seen and a few of the hosts that used it. Each hunt that runs
the rare-fingerprint detector reads it, compares its window with it, and merges the window in; a
value nobody used for ``rare.history_days`` is forgotten, so it counts as new again when it comes
back. A hunt therefore reads only its own window from the lake, not the days before it.

The first run has no file: it builds the history from the lake's fingerprints of the
``rare.history_days`` before the window (what every hunt read before the file existed). A file
that cannot be read is rebuilt the same way, with a warning.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tocsin.core.settings import Settings
from tocsin.lake.reader import LakeReader
from tocsin.network.source import fingerprint_files, load_fingerprints

logger = logging.getLogger(__name__)

TABLE = "print_history"
"""The temporary table the history is loaded into (the detector queries it)."""

_COLUMNS = (
    "kind VARCHAR, value VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ, hosts VARCHAR[]"
)


@dataclass(frozen=True, slots=True)
class FingerprintHistory:
    """Where the history is kept, and whether this run built it from the lake."""

    path: Path
    rebuilt: bool


def history_path(settings: Settings) -> Path:
    """The fingerprint history file of this home."""
    return settings.state_dir / "net" / "fingerprints.parquet"


def load_history(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    reader: LakeReader,
    *,
    since: datetime,
    days: int,
    keep_hosts: int,
) -> FingerprintHistory:
    """Load the history into ``print_history``; build it from the lake when there is none."""
    path = history_path(settings)
    con.execute(f"DROP TABLE IF EXISTS {TABLE}")
    if path.is_file():
        try:
            con.execute(
                f"CREATE TEMP TABLE {TABLE} AS SELECT kind, value, first_seen, last_seen, "  # noqa: S608 - our names
                "hosts FROM read_parquet($path)",
                {"path": str(path)},
            )
            return FingerprintHistory(path, rebuilt=False)
        except duckdb.Error as exc:
            logger.warning(
                "fingerprint history unreadable, rebuilt from the lake",
                extra={"path": str(path), "error": type(exc).__name__},
            )
            con.execute(f"DROP TABLE IF EXISTS {TABLE}")
    con.execute(f"CREATE TEMP TABLE {TABLE} ({_COLUMNS})")
    start = since - timedelta(days=days)
    files = fingerprint_files(reader, since=start, until=since)
    if load_fingerprints(con, reader, since=start, until=since, files=files, table="past_prints"):
        con.execute(
            f"INSERT INTO {TABLE} SELECT kind, value, min(ts), max(ts), "  # noqa: S608 - our names
            "list_sort(list_distinct(list(src)))[1:$keep] FROM past_prints GROUP BY kind, value",
            {"keep": keep_hosts},
        )
    con.execute("DROP TABLE IF EXISTS past_prints")
    return FingerprintHistory(path, rebuilt=True)


def known_count(con: duckdb.DuckDBPyConnection, *, since: datetime, forget: datetime) -> int:
    """How many fingerprints the history knows from before the window (0: still learning)."""
    rows = con.execute(
        f"SELECT count(*) FROM {TABLE} WHERE first_seen < $since AND last_seen >= $forget",  # noqa: S608 - our name
        {"since": since, "forget": forget},
    ).fetchall()
    return int(rows[0][0])


def save_history(
    con: duckdb.DuckDBPyConnection,
    history: FingerprintHistory,
    *,
    forget: datetime,
    keep_hosts: int,
    window: str = "prints",
) -> int:
    """Merge the window's fingerprints in, forget the stale ones, write the file; its rows."""
    history.path.parent.mkdir(parents=True, exist_ok=True)
    merged: pa.Table = con.sql(
        "WITH w AS (SELECT kind, value, min(ts) AS first_seen, max(ts) AS last_seen, "  # noqa: S608 - our names
        f"list_sort(list_distinct(list(src)))[1:$keep] AS hosts FROM {window} "
        "GROUP BY kind, value) "
        "SELECT coalesce(h.kind, w.kind) AS kind, coalesce(h.value, w.value) AS value, "
        "CASE WHEN h.value IS NULL OR h.last_seen < $forget THEN w.first_seen "
        "WHEN w.value IS NULL THEN h.first_seen "
        "ELSE least(h.first_seen, w.first_seen) END AS first_seen, "
        "greatest(h.last_seen, w.last_seen) AS last_seen, "
        "list_sort(list_distinct(list_concat(coalesce(h.hosts, []), "
        "coalesce(w.hosts, []))))[1:$keep] AS hosts "
        f"FROM {TABLE} h FULL OUTER JOIN w ON h.kind = w.kind AND h.value = w.value "
        "WHERE greatest(h.last_seen, w.last_seen) >= $forget ORDER BY kind, value",
        params={"forget": forget, "keep": keep_hosts},
    ).to_arrow_table()
    tmp = history.path.with_name(f".{history.path.name}.{os.getpid()}.tmp")
    pq.write_table(merged, tmp)
    os.replace(tmp, history.path)  # atomic: a concurrent hunt reads the old file or the new
    return int(merged.num_rows)
