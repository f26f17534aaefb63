from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.errors import InvalidInputError
from tocsin.core.timeutil import parse_time_bound, parse_timestamp

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (1704164645, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (1704164645000, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("1704164645.5", datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        (1704164645000000000, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("not a time", None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_timestamp(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-24h", NOW - timedelta(hours=24)),
        ("15m", NOW - timedelta(minutes=15)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("now", NOW),
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_time_bound(text, expected):
    assert parse_time_bound(text, now=NOW) == expected


def test_parse_time_bound_error_says_what_to_type():
    with pytest.raises(InvalidInputError, match="-24h"):
        parse_time_bound("yesterday-ish", now=NOW)
