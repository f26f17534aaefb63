"""Every DNS lookup in the lake, whatever its dataset, as one DuckDB table.

Zeek ``dns.log``, Suricata ``dns``, Sysmon event 22, DNS from pcaps and the DNS servers' own
logs all carry the ECS DNS fields (ARCHITECTURE section 3), so the analytics read them the same
way: a file belongs to the DNS source when it has a ``dns.question.name`` column, whatever its
dataset. The lookups of a window are read once into a temporary table, ``lookups``, that every
detector then aggregates in DuckDB (the 10-million-event budget allows one pass over Parquet,
not one per detector).

Columns of ``lookups``:

``ts``
    the event's ``@timestamp``.
``client``
    who asked: ``client.ip`` (DNS server logs), else ``source.ip`` (Zeek, Suricata, pcap),
    else ``host.name`` (Sysmon, where the asking machine is the logging one).
``name``
    the question, lowercased and without its final dot.
``qtype``, ``rcode``
    question type and response code, upper case (NULL when the record does not say).
``is_query``
    False for the answer half of sources that log a query and its answer separately
    (Suricata EVE v2, dnsmasq replies), so counts of lookups do not count a lookup twice;
    ``pcap.dns`` events are whole transactions, each one lookup.
``bytes``
    bytes on the wire when the source counts them, else an estimate from the name and the
    answers (28 bytes of headers and question framing, plus the name, plus the answers' text).
``id``, ``dataset``
    the event's id (alerts cite it) and dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from tocsin.lake.layout import LakeFile, list_files
from tocsin.lake.reader import LakeReader

QUESTION = "dns.question.name"
TABLE = "lookups"
HEADER_BYTES = 28  # DNS header (12) + question type, class and framing: a fair floor per lookup


def dns_files(
    reader: LakeReader, *, since: datetime | None = None, until: datetime | None = None
) -> list[LakeFile]:
    """The lake files of the window that hold DNS questions, whatever their dataset."""
    found: list[LakeFile] = []
    for lake_file in list_files(reader.lake_dir, since=since, until=until):
        try:
            if QUESTION in reader.file_schema(lake_file.path):
                found.append(lake_file)
        except FileNotFoundError:  # compaction or retention removed it meanwhile
            continue
    return found


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first(columns: dict[str, str], names: Sequence[str], cast: str = "VARCHAR") -> str:
    """COALESCE of the columns that exist (NULL when none does), cast to one type."""
    present = [f"CAST({_quote(n)} AS {cast})" for n in names if n in columns]
    if not present:
        return f"CAST(NULL AS {cast})"
    return present[0] if len(present) == 1 else f"coalesce({', '.join(present)})"


def _answers_length(columns: dict[str, str]) -> str:
    kind = columns.get("dns.answers.data")
    if kind is None:
        return "0"
    if kind.endswith("[]"):
        return "coalesce(length(array_to_string(\"dns.answers.data\", '')), 0)"
    return 'coalesce(length(CAST("dns.answers.data" AS VARCHAR)), 0)'


def _bytes(columns: dict[str, str]) -> str:
    estimate = f"length(name_raw) + {HEADER_BYTES} + {_answers_length(columns)}"
    counted = [
        f"coalesce(TRY_CAST({_quote(n)} AS BIGINT), 0)"
        for n in ("source.bytes", "destination.bytes")
        if n in columns
    ]
    if not counted:
        return estimate
    wire = " + ".join(counted)
    return f"CASE WHEN {wire} > 0 THEN {wire} ELSE {estimate} END"


def select_sql(columns: dict[str, str]) -> str:
    """The SELECT that turns the files' native columns into the ``lookups`` columns."""
    client = _first(columns, ("client.ip", "source.ip", "host.name", "host.ip"))
    # pcap.dns events are whole transactions (the query with its answer), one per lookup
    is_query = (
        '"dns.type" IS NULL OR lower(CAST("dns.type" AS VARCHAR)) <> \'answer\' '
        "OR \"event.dataset\" = 'pcap.dns'"
        if "dns.type" in columns
        else "true"
    )
    extra = "".join(", " + _quote(n) for n in _extra_columns(columns))
    inner = (
        f'SELECT "@timestamp" AS ts, {client} AS client, '  # noqa: S608 (see below)
        f"CAST({_quote(QUESTION)} AS VARCHAR) AS name_raw, "
        f"upper({_first(columns, ('dns.question.type',))}) AS qtype, "
        f"upper({_first(columns, ('dns.response_code',))}) AS rcode, "
        f"({is_query}) AS is_query, "
        f"{_first(columns, ('event.id',))} AS id, "
        f"{_first(columns, ('event.dataset',))} AS dataset{extra} FROM src "
        f'WHERE {_quote(QUESTION)} IS NOT NULL AND "@timestamp" >= $since '
        'AND "@timestamp" < $until'
    )
    # Only our own column names (each checked against the files' schema) and SQL of ours are
    # put in the text; the window's bounds are parameters.
    outer = (
        "SELECT ts, client, rtrim(lower(name_raw), '.') AS name, qtype, rcode, is_query, "
        f"CAST({_bytes(columns)} AS BIGINT) AS bytes, id, dataset "
    )
    return outer + f"FROM ({inner}) WHERE name_raw <> ''"  # noqa: S608


def _extra_columns(columns: dict[str, str]) -> list[str]:
    """Native columns the byte estimate reads, carried through the inner SELECT."""
    return [n for n in ("dns.answers.data", "source.bytes", "destination.bytes") if n in columns]


def load_lookups(
    con: duckdb.DuckDBPyConnection,
    reader: LakeReader,
    *,
    since: datetime,
    until: datetime,
    files: Sequence[LakeFile] | None = None,
    table: str = TABLE,
) -> int:
    """Read the window's DNS lookups into a temporary table (``lookups``); returns its rows."""
    chosen = list(files) if files is not None else dns_files(reader, since=since, until=until)
    con.execute(f"DROP TABLE IF EXISTS {table}")
    if not chosen:
        con.execute(
            f"CREATE TEMP TABLE {table} (ts TIMESTAMPTZ, client VARCHAR, name VARCHAR, "
            "qtype VARCHAR, rcode VARCHAR, is_query BOOLEAN, bytes BIGINT, id VARCHAR, "
            "dataset VARCHAR)"
        )
        return 0
    columns = reader.columns(chosen)
    con.read_parquet(
        [str(f.path) for f in chosen], union_by_name=True, hive_partitioning=False
    ).create_view("src")
    con.execute(
        f"CREATE TEMP TABLE {table} AS {select_sql(columns)}",
        {"since": since, "until": until},
    )
    con.execute("DROP VIEW src")
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()  # noqa: S608 (our name)
    return int(rows[0][0])
