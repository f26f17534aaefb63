"""Business hours: when an SLA clock runs, and exact working time between two instants.

A ``BusinessCalendar`` says which local days are working days (weekdays minus holidays) and the
working hours of each (``09:00``-``17:00`` by default, ``24:00`` as end means midnight). Every
working day becomes one interval of real instants: the local start and end times are turned
into UTC on that day, so a DST change moves the interval, and a working day of ``00:00``-``24:00``
lasts 23 or 25 hours on the days the clocks change. Sums are exact (whole intervals, never
sampling). A local time that does not exist (in a spring-forward gap) or exists twice (in a
fall-back overlap) is read with the offset in force before the change (``fold=0``).

Stored as JSON in ``SlaPolicy.business_hours``; ``None`` there means 24x7.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.core.errors import InvalidInputError

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIDNIGHT = time(0, 0)
_ONE_DAY = timedelta(days=1)
_MAX_DAYS = 366 * 100  # add() gives up after a century without enough working time
_UTC_NAMES = frozenset({"utc", "etc/utc", "z", "gmt", "etc/gmt"})
_KEYS = frozenset({"timezone", "weekdays", "start", "end", "holidays"})


@lru_cache(maxsize=64)
def resolve_zone(name: str) -> tzinfo:
    """The time zone called ``name``; UTC works even without a time zone database.

    Raises:
        InvalidInputError: when the zone is unknown (or no zone database is installed).
    """
    if name.strip().lower() in _UTC_NAMES:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC' "
            "(if the name is right, this system lacks a time zone database: "
            "pip install tzdata)"
        ) from None


_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = {name: i for names in (WEEKDAY_NAMES, _FULL_NAMES) for i, name in enumerate(names)}


def _parse_weekday(value: object) -> int:
    day = _WEEKDAYS.get(value.strip().lower()) if isinstance(value, str) else None
    if day is None:
        raise InvalidInputError(
            f"unknown weekday {value!r}: use mon, tue, wed, thu, fri, sat or sun"
        )
    return day


def _parse_time(value: object, what: str) -> time:
    text = value.isoformat("minutes") if isinstance(value, time) else str(value).strip()
    if what == "end" and text in ("24:00", "24:00:00"):
        return MIDNIGHT
    try:
        parsed = time.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"cannot read {what} time {value!r}: use HH:MM such as '09:00'"
        ) from None
    if parsed.tzinfo is not None:
        raise InvalidInputError(
            f"{what} time {value!r} must not carry an offset: set 'timezone' instead"
        )
    return parsed


def _parse_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInputError(
            f"cannot read holiday {value!r}: use an ISO date such as '2026-12-25'"
        ) from None


def _utc(instant: datetime) -> datetime:
    # Naive times are UTC everywhere in tocsin (the database hands back aware UTC anyway).
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Working days and hours in one time zone; SLA clocks run only inside them.

    ``weekdays`` counts Monday as 0; ``end`` of ``00:00`` means midnight at the end of the day
    (written ``24:00``). ``holidays`` are local dates without working time.
    """

    timezone: str = "UTC"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: time = time(9, 0)
    end: time = time(17, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        resolve_zone(self.timezone)
        if not self.weekdays:
            raise InvalidInputError("business hours need at least one working weekday")
        if any(not 0 <= d <= 6 for d in self.weekdays):
            raise InvalidInputError(f"weekdays {self.weekdays!r} must be 0 (Monday) to 6")
        object.__setattr__(self, "weekdays", tuple(sorted(set(self.weekdays))))
        if self.end != MIDNIGHT and self.end <= self.start:
            raise InvalidInputError(
                f"business hours end {self.end.isoformat('minutes')!r} must be after their "
                f"start {self.start.isoformat('minutes')!r} (use 24:00 for midnight)"
            )
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise InvalidInputError("start and end are local times: set 'timezone' instead")

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BusinessCalendar:
        """Parse the stored form (every key optional; defaults Mon-Fri 09:00-17:00 UTC).

        Raises:
            InvalidInputError: on an unknown key, zone, weekday, time or date.
        """
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            known = ", ".join(sorted(_KEYS))
            raise InvalidInputError(f"unknown business hours keys {unknown!r}: use {known}")
        timezone = data.get("timezone", "UTC")
        if not isinstance(timezone, str):
            raise InvalidInputError(f"timezone {timezone!r} must be a zone name")
        weekdays_raw = data.get("weekdays", WEEKDAY_NAMES[:5])
        if isinstance(weekdays_raw, str) or not isinstance(weekdays_raw, list | tuple):
            raise InvalidInputError(f"weekdays {weekdays_raw!r} must be a list such as ['mon']")
        holidays_raw = data.get("holidays", ())
        if isinstance(holidays_raw, str) or not isinstance(holidays_raw, list | tuple):
            raise InvalidInputError(f"holidays {holidays_raw!r} must be a list of ISO dates")
        return cls(
            timezone=timezone,
            weekdays=tuple(_parse_weekday(d) for d in weekdays_raw),
            start=_parse_time(data.get("start", "09:00"), "start"),
            end=_parse_time(data.get("end", "17:00"), "end"),
            holidays=frozenset(_parse_date(d) for d in holidays_raw),
        )

    def to_dict(self) -> dict[str, object]:
        """The stored (JSON) form."""
        return {
            "timezone": self.timezone,
            "weekdays": [WEEKDAY_NAMES[d] for d in self.weekdays],
            "start": self.start.isoformat("minutes"),
            "end": "24:00" if self.end == MIDNIGHT else self.end.isoformat("minutes"),
            "holidays": [d.isoformat() for d in sorted(self.holidays)],
        }

    @property
    def zone(self) -> tzinfo:
        """The calendar's time zone."""
        return resolve_zone(self.timezone)

    def is_working_day(self, day: date) -> bool:
        """True when the local date ``day`` has working hours."""
        return day.weekday() in self.weekdays and day not in self.holidays

    def day_interval(self, day: date) -> tuple[datetime, datetime] | None:
        """The working interval of local date ``day`` in UTC, or None on a day off."""
        if not self.is_working_day(day):
            return None
        zone = self.zone
        begin = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
        if self.end == MIDNIGHT:
            finish = datetime.combine(day + _ONE_DAY, MIDNIGHT, tzinfo=zone).astimezone(UTC)
        else:
            finish = datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)
        return (begin, finish) if finish > begin else None

    def _intervals_from(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        for offset in range(_MAX_DAYS):
            interval = self.day_interval(day + timedelta(days=offset))
            if interval is not None:
                yield interval

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two instants (zero when ``end`` is not after ``start``)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        # A day's interval never begins before its local date, so the day before the start is
        # the earliest one that can reach past ``start`` (when hours end at 24:00).
        day = self._local_date(start) - _ONE_DAY
        last = self._local_date(end)
        while day <= last:
            interval = self.day_interval(day)
            if interval is not None:
                begin, finish = max(interval[0], start), min(interval[1], end)
                if finish > begin:
                    total += finish - begin
            day += _ONE_DAY
        return total

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of working time has passed since ``start``.

        A zero duration gives ``start`` itself; otherwise the result lies inside working hours
        (the end of an interval when the duration runs out exactly there).

        Raises:
            InvalidInputError: for a negative duration.
        """
        start = _utc(start)
        if duration < timedelta(0):
            raise InvalidInputError(f"cannot add a negative duration {duration!r}")
        if duration == timedelta(0):
            return start
        left = duration
        for begin, finish in self._intervals_from(self._local_date(start) - _ONE_DAY):
            begin = max(begin, start)
            if finish <= begin:
                continue
            available = finish - begin
            if available >= left:
                return begin + left
            left -= available
        raise InvalidInputError(  # pragma: no cover - needs a century of holidays
            "business hours leave no working time in a century"
        )


def working_elapsed(calendar: BusinessCalendar | None, start: datetime, end: datetime) -> timedelta:
    """Working time between two instants; round the clock (24x7) when ``calendar`` is None."""
    if calendar is None:
        return max(_utc(end) - _utc(start), timedelta(0))
    return calendar.elapsed(start, end)


def working_add(
    calendar: BusinessCalendar | None, start: datetime, duration: timedelta
) -> datetime:
    """``start`` plus ``duration`` of working time; plain addition when ``calendar`` is None."""
    if calendar is None:
        return _utc(start) + duration
    return calendar.add(start, duration)
