"""Every network flow in the lake, whatever sensor wrote it, as one DuckDB table.

A lake file is a flow source when it has ``source.ip``, ``destination.ip`` and a byte count
(``source.bytes`` or ``network.bytes``): ``pcap.flow``, Zeek ``conn.log``, Suricata ``flow`` and
``netflow``, firewalls through CEF or LEEF. Protocol events (``pcap.http``, ``zeek.dns``...) have
addresses but no byte counts, so they are not counted as flows twice.

The temporary table ``flows`` has one row per flow: ``ts``, ``src``, ``sport``, ``dst``, ``dport``,
``proto``, ``sbytes``, ``dbytes`` (bytes each way as the source counts them), ``duration``
(seconds), ``state`` (Zeek's ``conn_state`` where the source has one), ``probe`` (a connection
attempt that carried nothing: the unit of a scan), ``cid`` (Community ID), ``id`` and ``dataset``.
A flow that two sensors saw (same 5-tuple, same second) is kept once, with its longest
duration: Zeek's ``open_conn`` log repeats a connection still open every hour. A connection that
began before the window but was still open in it is part of the window (the caller reads files
from ``OPEN_LOOKBACK`` before it).

``probe`` is one documented rule for every source: a TCP or UDP flow whose state says it was not
answered or was refused (S0, REJ, RSTOS0, RSTRH, SH, SHR, OTH) or, when the source has no state
(Suricata, firewalls), a flow with no bytes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from tocsin.lake.layout import LakeFile, list_files
from tocsin.lake.reader import LakeReader

OPEN_LOOKBACK_DAYS = 2  # how far back a connection still open in the window may have begun
FAILED_STATES = ("S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR", "OTH")
FINGERPRINT_COLUMNS = ("tls.client.ja3", "tls.client.ja4", "user_agent.original")


def flow_files(
    reader: LakeReader, *, since: datetime | None = None, until: datetime | None = None
) -> list[LakeFile]:
    """The lake files of the window that hold flows."""
    found = []
    for lake_file in list_files(reader.lake_dir, since=since, until=until):
        schema = reader.file_schema(lake_file.path)
        if (
            "source.ip" in schema
            and "destination.ip" in schema
            and ("source.bytes" in schema or "network.bytes" in schema)
        ):
            found.append(lake_file)
    return found


def fingerprint_files(
    reader: LakeReader, *, since: datetime | None = None, until: datetime | None = None
) -> list[LakeFile]:
    """The lake files of the window with a JA3, JA4 or user agent column."""
    return [
        f
        for f in list_files(reader.lake_dir, since=since, until=until)
        if any(c in reader.file_schema(f.path) for c in FINGERPRINT_COLUMNS)
        and "source.ip" in reader.file_schema(f.path)
    ]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _col(columns: dict[str, str], name: str, cast: str, default: str = "NULL") -> str:
    return f"TRY_CAST({_q(name)} AS {cast})" if name in columns else default


def load_flows(
    con: duckdb.DuckDBPyConnection,
    reader: LakeReader,
    *,
    since: datetime,
    until: datetime,
    files: Sequence[LakeFile],
    table: str = "flows",
) -> int:
    """Read the window's flows into the temporary table ``table``; returns its rows."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} (ts TIMESTAMPTZ, src VARCHAR, sport BIGINT, "
        "dst VARCHAR, dport BIGINT, proto VARCHAR, sbytes BIGINT, dbytes BIGINT, "
        "duration DOUBLE, state VARCHAR, probe BOOLEAN, cid VARCHAR, id VARCHAR, dataset VARCHAR)"
    )
    if not files:
        return 0
    columns = reader.columns(files)
    sbytes = _col(columns, "source.bytes", "BIGINT")
    dbytes = _col(columns, "destination.bytes", "BIGINT")
    if "source.bytes" not in columns and "network.bytes" in columns:
        sbytes = _col(columns, "network.bytes", "BIGINT")
    state = _col(columns, "conn_state", "VARCHAR")
    proto = _col(columns, "network.transport", "VARCHAR", "'tcp'")
    duration = (
        f"TRY_CAST({_q('event.duration')} AS DOUBLE) / 1e9"
        if "event.duration" in columns
        else "NULL"
    )
    failed = ", ".join(f"'{s}'" for s in FAILED_STATES)
    select = (
        f'SELECT "@timestamp", CAST("source.ip" AS VARCHAR), '  # noqa: S608 - our column names
        f'{_col(columns, "source.port", "BIGINT")}, CAST("destination.ip" AS VARCHAR), '
        f"{_col(columns, 'destination.port', 'BIGINT')}, lower({proto}), "
        f"coalesce({sbytes}, 0), coalesce({dbytes}, 0), {duration}, {state}, "
        # never NULL: ``NOT probe`` must hold for every answered flow
        f"coalesce(lower({proto}) IN ('tcp', 'udp') AND ("
        f"{state} IN ({failed}) OR ({state} IS NULL AND coalesce({dbytes}, 0) = 0)), false), "
        f"{_col(columns, 'network.community_id', 'VARCHAR')}, "
        f"{_col(columns, 'event.id', 'VARCHAR')}, {_col(columns, 'event.dataset', 'VARCHAR')} "
        "FROM read_parquet($files, union_by_name = true) "
        'WHERE "source.ip" IS NOT NULL AND "destination.ip" IS NOT NULL '
        f'AND "@timestamp" < $until AND ("@timestamp" >= $since OR '
        f'epoch("@timestamp") + coalesce({duration}, 0) >= epoch($since))'
    )
    con.execute(
        f"INSERT INTO {table} {select}",
        {"files": [str(f.path) for f in files], "since": since, "until": until},
    )
    # one flow seen by two sensors (a tap's pcap and Zeek on the same link) counts once
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {table} "  # noqa: S608 - our name
        "QUALIFY row_number() OVER (PARTITION BY src, sport, dst, dport, proto, "
        "date_trunc('second', ts) ORDER BY duration DESC NULLS LAST, dataset) = 1"
    )
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()  # noqa: S608 - our name
    return int(rows[0][0])


def load_fingerprints(
    con: duckdb.DuckDBPyConnection,
    reader: LakeReader,
    *,
    since: datetime,
    until: datetime,
    files: Sequence[LakeFile],
    table: str = "prints",
) -> int:
    """JA3, JA4 and user agents of the window: (ts, src, dst, kind, value, id, cid)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} (ts TIMESTAMPTZ, src VARCHAR, dst VARCHAR, "
        "kind VARCHAR, value VARCHAR, id VARCHAR, cid VARCHAR)"
    )
    if not files:
        return 0
    columns = reader.columns(files)
    parts = []
    for column, kind in zip(FINGERPRINT_COLUMNS, ("ja3", "ja4", "user_agent"), strict=True):
        if column in columns:
            parts.append(
                f'SELECT "@timestamp", CAST("source.ip" AS VARCHAR), '  # noqa: S608 - our names
                f"{_col(columns, 'destination.ip', 'VARCHAR')}, '{kind}', "
                f"CAST({_q(column)} AS VARCHAR), {_col(columns, 'event.id', 'VARCHAR')}, "
                f"{_col(columns, 'network.community_id', 'VARCHAR')} "
                "FROM read_parquet($files, union_by_name = true) "
                f'WHERE {_q(column)} IS NOT NULL AND "@timestamp" >= $since '
                'AND "@timestamp" < $until'
            )
    if not parts:
        return 0
    con.execute(
        f"INSERT INTO {table} " + " UNION ALL ".join(parts),
        {"files": [str(f.path) for f in files], "since": since, "until": until},
    )
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()  # noqa: S608 - our name
    return int(rows[0][0])
