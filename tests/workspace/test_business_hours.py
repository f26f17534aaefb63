from datetime import UTC, date, datetime, time, timedelta

import pytest

from tocsin.core.errors import InvalidInputError
from tocsin.workspace.business_hours import (
    BusinessCalendar,
    resolve_zone,
    working_add,
    working_elapsed,
)

# 2026-11-27 is a Friday, 2026-11-30 a Monday.
OFFICE = BusinessCalendar()  # Mon-Fri 09:00-17:00 UTC
BERLIN = BusinessCalendar(timezone="Europe/Berlin")
BERLIN_ALL_DAY = BusinessCalendar.from_dict(
    {
        "timezone": "Europe/Berlin",
        "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "00:00",
        "end": "24:00",
    }
)
TUESDAY_OFF = BusinessCalendar(holidays=frozenset({date(2026, 12, 1)}))
NIGHT_SHIFT = BusinessCalendar(start=time(0, 0), end=time(0, 0))  # Mon-Fri all day


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def hours(h, m=0):
    return timedelta(hours=h, minutes=m)


@pytest.mark.parametrize(
    ("calendar", "start", "end", "expected"),
    [
        (OFFICE, utc(2026, 11, 30, 10), utc(2026, 11, 30, 12, 30), hours(2, 30)),
        (OFFICE, utc(2026, 11, 30, 7), utc(2026, 11, 30, 10), hours(1)),  # starts before hours
        (OFFICE, utc(2026, 11, 30, 18), utc(2026, 12, 1, 9, 15), hours(0, 15)),  # overnight
        (OFFICE, utc(2026, 11, 27, 16), utc(2026, 11, 30, 10), hours(2)),  # over a weekend
        (OFFICE, utc(2026, 11, 28, 12), utc(2026, 11, 30, 9, 30), hours(0, 30)),  # from Saturday
        (OFFICE, utc(2026, 11, 28, 0), utc(2026, 11, 29, 23), hours(0)),  # weekend only
        (OFFICE, utc(2026, 11, 30, 0), utc(2026, 12, 7, 0), hours(40)),  # a whole week
        (OFFICE, utc(2026, 11, 30, 12), utc(2026, 11, 30, 11), hours(0)),  # end before start
        (TUESDAY_OFF, utc(2026, 11, 30, 16), utc(2026, 12, 2, 10), hours(2)),  # over a holiday
        (NIGHT_SHIFT, utc(2026, 11, 27, 23), utc(2026, 11, 30, 1), hours(2)),  # 24:00 end
        # Berlin business hours: 08:00-16:00 UTC in winter, 07:00-15:00 UTC after 2026-03-29.
        (BERLIN, utc(2026, 3, 27, 15), utc(2026, 3, 30, 8), hours(2)),
        (BERLIN, utc(2026, 10, 23, 14), utc(2026, 10, 26, 9), hours(2)),
        # The local days of the DST changes last 23 and 25 hours.
        (BERLIN_ALL_DAY, utc(2026, 3, 27, 23), utc(2026, 3, 29, 22), hours(47)),
        (BERLIN_ALL_DAY, utc(2026, 10, 23, 22), utc(2026, 10, 25, 23), hours(49)),
    ],
)
def test_elapsed_counts_working_time_only(calendar, start, end, expected):
    assert calendar.elapsed(start, end) == expected


@pytest.mark.parametrize(
    ("calendar", "start", "duration", "expected"),
    [
        (OFFICE, utc(2026, 11, 30, 10), hours(3), utc(2026, 11, 30, 13)),
        (OFFICE, utc(2026, 11, 27, 16), hours(2), utc(2026, 11, 30, 10)),  # over a weekend
        (OFFICE, utc(2026, 11, 28, 12), hours(1), utc(2026, 11, 30, 10)),  # from Saturday
        (OFFICE, utc(2026, 11, 30, 17), hours(8), utc(2026, 12, 1, 17)),  # ends at closing
        (OFFICE, utc(2026, 11, 30, 6), hours(0, 1), utc(2026, 11, 30, 9, 1)),  # before opening
        (OFFICE, utc(2026, 11, 28, 12), hours(0), utc(2026, 11, 28, 12)),  # nothing to add
        (OFFICE, utc(2026, 11, 30, 9), hours(80), utc(2026, 12, 11, 17)),  # two weeks
        (TUESDAY_OFF, utc(2026, 11, 30, 16), hours(2), utc(2026, 12, 2, 10)),
        (NIGHT_SHIFT, utc(2026, 11, 27, 23), hours(2), utc(2026, 11, 30, 1)),
        # Friday 16:00 CET + 4 h: 1 h on Friday, 3 h on Monday until 12:00 CEST (10:00 UTC).
        (BERLIN, utc(2026, 3, 27, 15), hours(4), utc(2026, 3, 30, 10)),
        # Friday 16:00 CEST + 2 h: Monday 10:00 CET (09:00 UTC).
        (BERLIN, utc(2026, 10, 23, 14), hours(2), utc(2026, 10, 26, 9)),
        (BERLIN_ALL_DAY, utc(2026, 3, 28, 23), hours(24), utc(2026, 3, 29, 23)),
    ],
)
def test_add_finds_the_instant_the_working_time_runs_out(calendar, start, duration, expected):
    assert calendar.add(start, duration) == expected
    assert calendar.elapsed(start, expected) == duration


def test_naive_times_are_taken_as_utc():
    assert OFFICE.elapsed(datetime(2026, 11, 30, 10), datetime(2026, 11, 30, 11)) == hours(1)
    assert OFFICE.add(datetime(2026, 11, 27, 16), hours(2)) == utc(2026, 11, 30, 10)


def test_twenty_four_seven_without_a_calendar():
    start = utc(2026, 11, 28, 12)
    assert working_elapsed(None, start, utc(2026, 11, 29, 13)) == hours(25)
    assert working_elapsed(None, start, utc(2026, 11, 27)) == hours(0)
    assert working_add(None, start, hours(25)) == utc(2026, 11, 29, 13)
    assert working_elapsed(OFFICE, start, utc(2026, 11, 30, 10)) == hours(1)
    assert working_add(OFFICE, start, hours(1)) == utc(2026, 11, 30, 10)


def test_negative_durations_are_refused():
    with pytest.raises(InvalidInputError, match="negative"):
        OFFICE.add(utc(2026, 11, 30, 10), timedelta(minutes=-1))


def test_dict_round_trip_and_defaults():
    assert BusinessCalendar.from_dict({}) == OFFICE
    data = {
        "timezone": "Europe/Berlin",
        "weekdays": ["Sunday", "mon", "TUE", "mon"],
        "start": "08:30",
        "end": "24:00",
        "holidays": ["2026-12-25", "2026-12-24"],
    }
    calendar = BusinessCalendar.from_dict(data)
    assert calendar.weekdays == (0, 1, 6)
    assert calendar.end == time(0, 0)
    assert calendar.to_dict() == {
        "timezone": "Europe/Berlin",
        "weekdays": ["mon", "tue", "sun"],
        "start": "08:30",
        "end": "24:00",
        "holidays": ["2026-12-24", "2026-12-25"],
    }
    assert BusinessCalendar.from_dict(calendar.to_dict()) == calendar
    assert calendar.is_working_day(date(2026, 12, 6))  # a Sunday
    assert not calendar.is_working_day(date(2026, 12, 24))  # a Thursday holiday


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
        ({"weekdays": ["mon", "funday"]}, "unknown weekday 'funday'"),
        ({"weekdays": "mon"}, "must be a list"),
        ({"weekdays": []}, "at least one working weekday"),
        ({"start": "17:00", "end": "09:00"}, "must be after their start"),
        ({"start": "9 o'clock"}, "cannot read start time"),
        ({"start": "09:00+02:00"}, "must not carry an offset"),
        ({"holidays": ["25/12/2026"]}, "cannot read holiday '25/12/2026'"),
        ({"hours": "9-5"}, "unknown business hours keys \\['hours'\\]"),
    ],
)
def test_bad_business_hours_are_refused(data, message):
    with pytest.raises(InvalidInputError, match=message):
        BusinessCalendar.from_dict(data)


def test_utc_needs_no_time_zone_database():
    assert resolve_zone("UTC") is UTC
    assert resolve_zone("Etc/UTC") is UTC
    assert BusinessCalendar(timezone="utc").zone is UTC
