"""Hits of a search over time: counts per time bucket, for the console's histogram.

The same files and the same WHERE clause as :meth:`LakeReader.count` (the reader compiles the
query per dataset), grouped by DuckDB's ``time_bucket``; so with a bounded range the buckets add
up to the count. The bucket width is the smallest "round" width (1 s, 5 s, ... 1 h, 3 h, 1 d,
7 d, 30 d) that fits the range into ``buckets`` bars, and buckets start at a multiple of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tocsin.lake.layout import LakeFile, list_files
from tocsin.lake.querylang import parse_query
from tocsin.lake.reader import LakeReader

__all__ = ["WIDTHS", "Histogram", "bucket_width", "histogram"]

_S = 1_000_000  # microseconds per second
WIDTHS: tuple[int, ...] = tuple(
    seconds * _S
    for seconds in (
        1,
        5,
        10,
        30,
        60,
        5 * 60,
        10 * 60,
        15 * 60,
        30 * 60,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86400,
        7 * 86400,
        30 * 86400,
        365 * 86400,
    )
)
"""The bucket widths to choose from, in microseconds."""


@dataclass(frozen=True, slots=True)
class Histogram:
    """Hits per bucket: ``starts[i]`` is the start of bucket ``i``, ``counts[i]`` its hits."""

    starts: list[datetime]
    counts: list[int]
    width: timedelta

    @property
    def total(self) -> int:
        """Every hit in the buckets."""
        return sum(self.counts)


def bucket_width(span_us: int, buckets: int) -> int:
    """The smallest width of :data:`WIDTHS` that covers ``span_us`` in ``buckets`` bars."""
    wanted = max(1, math.ceil(span_us / max(1, buckets)))
    for width in WIDTHS:
        if width >= wanted:
            return width
    # beyond a year a bar: whole years, still a round number
    return math.ceil(wanted / WIDTHS[-1]) * WIDTHS[-1]


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * _S)


def histogram(
    reader: LakeReader,
    q: str,
    since: datetime | None,
    until: datetime | None,
    buckets: int = 60,
    *,
    datasets: list[str] | None = None,
) -> Histogram:
    """Count the events matching ``q`` per time bucket between ``since`` and ``until``.

    An open start begins at the oldest file that could match; an open end at now (or at the
    newest file, if that is later). The result holds every bucket of the range, empty ones too.

    Raises:
        QuerySyntaxError: when the query does not parse.
    """
    node = parse_query(q)
    files = list_files(reader.lake_dir, datasets=datasets, since=since, until=until)
    now = datetime.now(UTC)
    high = _to_us(until) if until else max([_to_us(now), *(f.max_us for f in files)])
    if since is not None:
        low = _to_us(since)
    elif files:
        low = min(f.min_us for f in files)
    else:
        low = high - 3600 * _S
    low = min(low, high)
    width = bucket_width(high - low, buckets)
    origin = low - low % width
    count = (high - origin) // width + 1
    counts = [0] * count
    by_dataset: dict[str, list[LakeFile]] = {}
    for lake_file in files:
        by_dataset.setdefault(lake_file.dataset, []).append(lake_file)
    # Both numbers are integers computed here, never input, so they are safe to inline; they
    # cannot be parameters, as the reader puts the file list first among the parameters.
    bucket = (
        f'epoch_us(time_bucket(to_microseconds({int(width)}::BIGINT), "@timestamp", '
        f"make_timestamptz({int(origin)}::BIGINT)))"
    )
    what = f"{bucket} AS b, count(*) AS n"
    with reader.connect() as con:
        for dataset_files in by_dataset.values():
            # the reader's own SELECT (files, compiled query, time bounds), so the buckets
            # count exactly what LakeReader.count counts
            sql, params = reader._select(node, dataset_files, since, until, what, now)
            if sql is None:
                continue
            rows = reader._execute(con, sql + " GROUP BY b", params).fetchall()
            for start, hits in rows:
                if start is None:
                    continue
                index = (int(start) - origin) // width
                if 0 <= index < count:
                    counts[index] += int(hits)
    starts = [datetime.fromtimestamp((origin + i * width) / _S, UTC) for i in range(count)]
    return Histogram(starts, counts, timedelta(microseconds=width))
