"""The business calendar: Business, Service and Operating Time in Europe/Berlin (docs/domain.md 5).

Windows are decided in local time; durations are measured in real elapsed time (UTC), so a
DST change never adds or loses an hour. The window edges (07:30, 09:00, 18:00, 20:00) never
fall into a DST gap or fold (those are at 02:00-03:00), so every edge maps to one instant.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

BERLIN = ZoneInfo("Europe/Berlin")
Window = Literal["BT", "ST", "OT"]
WINDOWS: tuple[Window, ...] = ("BT", "ST", "OT")

# The window hours in local time (the terms on the form print these very values).
BUSINESS_HOURS = (time(9, 0), time(18, 0))          # Mon-Fri, not on any holiday
SERVICE_HOURS_WORKDAY = (time(7, 30), time(20, 0))  # Mon-Fri
SERVICE_HOURS_OFF_DAY = (time(9, 0), time(18, 0))   # Sat, Sun and public holidays


def _second_of_day(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60


# Seconds since local midnight of each window edge.
_BT_OPEN, _BT_CLOSE = map(_second_of_day, BUSINESS_HOURS)
_ST_WEEKDAY_OPEN, _ST_WEEKDAY_CLOSE = map(_second_of_day, SERVICE_HOURS_WORKDAY)
_ST_HOLIDAY_OPEN, _ST_HOLIDAY_CLOSE = map(_second_of_day, SERVICE_HOURS_OFF_DAY)
# A window search that finds nothing in this many days has a configuration error (e.g.
# company holidays covering years); stop instead of looping forever.
_MAX_SEARCH_DAYS = 3 * 366

_DAY_BT, _DAY_ST = 0, 1  # indexes into the per-day (BT, ST) interval tuple

# Integer window codes for the pricing hot path (index into WINDOWS).
BT_CODE, ST_CODE, OT_CODE = 0, 1, 2
DAY_US = 86_400 * 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)


def micros(instant: datetime) -> int:
    """Microseconds since the Unix epoch, exact (integer arithmetic, no float rounding)."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    delta = instant - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def day_number(instant_us: int) -> int:
    """The UTC day (days since 1970-01-01) of an instant in epoch microseconds."""
    return instant_us // DAY_US


class BusinessCalendar:
    """Which window an instant is in, and deadlines counted in a window."""

    def __init__(self, federal_state: str | None = None,
                 company_holidays: Iterable[date] = (), catholic: bool = False) -> None:
        self.federal_state = federal_state or None
        self.company_holidays = frozenset(company_holidays)
        self.catholic = catholic
        if self.federal_state and self.federal_state not in _subdivisions():
            raise ValueError(f"unknown German federal state {federal_state!r}; "
                             f"use one of {', '.join(sorted(_subdivisions()))}")
        self.version = self._version()
        self._holiday_years: dict[int, frozenset[date]] = {}
        # Per local date: ((BT open, BT close), (ST open, ST close)) in seconds of the day.
        self._day_windows: dict[date, tuple[tuple[int, int] | None, tuple[int, int]]] = {}
        self._day_edges: dict[date, list[datetime]] = {}
        # Per local day (days since 1970-01-01): where each window run starts (epoch us).
        self._day_runs: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def _version(self) -> str:
        company = ",".join(d.isoformat() for d in sorted(self.company_holidays))
        digest = hashlib.sha256(company.encode()).hexdigest()[:12]
        region = (self.federal_state or "DE") + ("+catholic" if self.catholic else "")
        return f"holidays-{holidays.__version__}:{region}:{digest}"

    def is_public_holiday(self, day: date) -> bool:
        """Whether ``day`` is a statutory public holiday in the configured state."""
        year = self._holiday_years.get(day.year)
        if year is None:
            categories = ("public", "catholic") if self.catholic else ("public",)
            found = holidays.country_holidays("DE", subdiv=self.federal_state,
                                              years=day.year, categories=categories)
            year = self._holiday_years[day.year] = frozenset(found.keys())
        return day in year

    def is_company_holiday(self, day: date) -> bool:
        return day in self.company_holidays

    def windows_of_day(self, day: date) -> tuple[tuple[int, int] | None, tuple[int, int]]:
        """The BT interval (None if no BT that day) and the ST interval, in local seconds."""
        known = self._day_windows.get(day)
        if known is not None:
            return known
        public_holiday = self.is_public_holiday(day)
        workday = day.weekday() < 5 and not public_holiday
        business = (_BT_OPEN, _BT_CLOSE) if workday and not self.is_company_holiday(day) else None
        service = ((_ST_WEEKDAY_OPEN, _ST_WEEKDAY_CLOSE) if workday
                   else (_ST_HOLIDAY_OPEN, _ST_HOLIDAY_CLOSE))
        known = self._day_windows[day] = (business, service)
        return known

    def window_at(self, instant: datetime) -> Window:
        """The narrowest window containing ``instant``: BT, else ST, else OT."""
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        return self._window_of_local(instant.astimezone(BERLIN))

    def _window_of_local(self, local: datetime) -> Window:
        business, service = self.windows_of_day(local.date())
        second = local.hour * 3600 + local.minute * 60 + local.second
        if business is not None and business[0] <= second < business[1]:
            return "BT"
        if service[0] <= second < service[1]:
            return "ST"
        return "OT"

    def window_span(self, instant: datetime) -> tuple[Window, datetime]:
        """The window at ``instant`` and the next instant (UTC) at which it may change.

        Lets pricing classify a run of blocks with one look-up instead of one per block.
        """
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        local = instant.astimezone(BERLIN)
        edges = self._edges_of_day(local.date())
        return self._window_of_local(local), edges[bisect_right(edges, instant)]

    def _edges_of_day(self, day: date) -> list[datetime]:
        """Every instant (UTC) of the local day at which a window opens or closes, plus the
        next local midnight."""
        known = self._day_edges.get(day)
        if known is None:
            business, service = self.windows_of_day(day)
            seconds = sorted({*service, *(business or ())})
            known = [_utc(day, second) for second in seconds]
            known.append(datetime.combine(day + timedelta(days=1), time(), BERLIN)
                         .astimezone(UTC))
            self._day_edges[day] = known
        return known

    def window_runs(self, day_numbers: Iterable[int]) -> tuple[list[int], list[int]]:
        """The window runs of the given local days as two parallel lists for a bisect:
        ``starts[i]`` (epoch microseconds) where run *i* begins and ``codes[i]`` its window
        (``BT_CODE``, ``ST_CODE``, ``OT_CODE``); run *i* ends at ``starts[i + 1]``.

        ``day_numbers`` (days since 1970-01-01, read as local dates) must be sorted. A gap
        between days gets one filler run (OT) and the list ends with the midnight after the
        last day, so every instant of the given days falls into exactly one run. Pricing
        uses this to classify blocks with integer comparisons only.
        """
        starts: list[int] = []
        codes: list[int] = []
        previous: int | None = None
        for number in day_numbers:
            if previous is not None and number != previous + 1:
                starts.append(self._midnight_us(previous + 1))
                codes.append(OT_CODE)
            day_starts, day_codes = self._runs_of_day(number)
            starts.extend(day_starts)
            codes.extend(day_codes)
            previous = number
        if previous is not None:
            starts.append(self._midnight_us(previous + 1))
            codes.append(OT_CODE)
        return starts, codes

    def _runs_of_day(self, number: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        known = self._day_runs.get(number)
        if known is None:
            day = _EPOCH_DAY + timedelta(days=number)
            business, service = self.windows_of_day(day)
            marks = [(service[0], ST_CODE)]
            if business is not None:  # BT always lies inside weekday ST
                marks += [(business[0], BT_CODE), (business[1], ST_CODE)]
            marks.append((service[1], OT_CODE))
            starts = (self._midnight_us(number),
                      *(micros(_utc(day, second)) for second, _ in marks))
            known = self._day_runs[number] = (starts, (OT_CODE, *(code for _, code in marks)))
        return known

    @staticmethod
    def _midnight_us(number: int) -> int:
        day = _EPOCH_DAY + timedelta(days=number)
        return micros(datetime.combine(day, time(), BERLIN))

    def add_window_minutes(self, start: datetime, minutes: int, window: Window) -> datetime:
        """The instant when ``minutes`` minutes inside ``window`` have elapsed after ``start``.

        OT is plain elapsed time. Returns an aware UTC datetime.
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}: use BT, ST or OT")
        cursor = start.astimezone(UTC)
        remaining = timedelta(minutes=minutes)
        if window == "OT" or not remaining:
            return cursor + remaining
        for opens, closes in self._intervals(cursor, window):
            begin = max(opens, cursor)
            if begin >= closes:
                continue
            if begin + remaining <= closes:
                return begin + remaining
            remaining -= closes - begin
        raise ValueError(f"no {window} time within {_MAX_SEARCH_DAYS} days of {start}")

    def _intervals(self, after: datetime, window: Window) -> Iterator[tuple[datetime, datetime]]:
        """The window's intervals (UTC) day by day, starting with the local day of ``after``."""
        day = after.astimezone(BERLIN).date()
        index = _DAY_BT if window == "BT" else _DAY_ST
        for offset in range(_MAX_SEARCH_DAYS):
            current = day + timedelta(days=offset)
            interval = self.windows_of_day(current)[index]
            if interval is not None:
                yield _utc(current, interval[0]), _utc(current, interval[1])


def _utc(day: date, second_of_day: int) -> datetime:
    local_time = time(second_of_day // 3600, second_of_day % 3600 // 60)
    return datetime.combine(day, local_time, tzinfo=BERLIN).astimezone(UTC)


def _subdivisions() -> tuple[str, ...]:
    return tuple(s for s in holidays.country_holidays("DE").subdivisions if len(s) == 2)


def berlin_date(moment: datetime) -> date:
    """The calendar date in Europe/Berlin: the date of a case number, an invoice, a form."""
    return moment.astimezone(BERLIN).date()


class NotAnInstant(ValueError):
    """Text that is no ISO 8601 time with a UTC offset; the message says what is wrong."""


def parse_instant(text: object, where: str = "") -> datetime:
    """An instant as people and programs write it to us: ISO 8601 with its UTC offset
    (``2026-11-27T17:00:00+01:00``, ``...Z``). A time without an offset is refused: it could
    be any of 24 instants. ``where``: what the value is, to begin the error message."""
    prefix = f"{where}: " if where else ""
    if not isinstance(text, str):
        raise NotAnInstant(f"{prefix}required, an ISO 8601 time with offset")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise NotAnInstant(f"{prefix}{text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise NotAnInstant(f"{prefix}{text!r} has no UTC offset (e.g. +01:00 or Z)")
    return moment
