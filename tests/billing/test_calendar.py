"""The business calendar: windows, holidays, DST and deadlines counted in a window."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.domain.calendar import BusinessCalendar
from shared.settings.billing import BillingSettings


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("instant", "window"), [
    ("2026-11-25T07:29:59+01:00", "OT"),  # Wednesday
    ("2026-11-25T07:30:00+01:00", "ST"),
    ("2026-11-25T08:59:59+01:00", "ST"),
    ("2026-11-25T09:00:00+01:00", "BT"),
    ("2026-11-25T17:59:59+01:00", "BT"),
    ("2026-11-25T18:00:00+01:00", "ST"),
    ("2026-11-25T19:59:59+01:00", "ST"),
    ("2026-11-25T20:00:00+01:00", "OT"),
    ("2026-11-25T08:00:00Z", "BT"),  # 09:00 in Berlin
    ("2026-11-28T08:59:00+01:00", "OT"),  # Saturday
    ("2026-11-28T09:00:00+01:00", "ST"),
    ("2026-11-28T18:00:00+01:00", "OT"),
    ("2026-12-25T08:00:00+01:00", "OT"),  # Christmas Day (Friday), nationwide
    ("2026-12-25T10:00:00+01:00", "ST"),
    ("2026-03-30T08:59:00+02:00", "ST"),  # Monday after the spring DST change
    ("2026-03-30T07:00:00Z", "BT"),  # 09:00 CEST
    ("2026-10-26T08:30:00Z", "BT"),  # 09:30 CET, Monday after the autumn change
])
def test_window_at(instant: str, window: str) -> None:
    assert BusinessCalendar().window_at(at(instant)) == window


def test_a_holiday_of_one_state_is_a_workday_in_another() -> None:
    epiphany = at("2026-01-06T10:00:00+01:00")
    assert BusinessCalendar("BY").window_at(epiphany) == "ST"
    assert BusinessCalendar("BE").window_at(epiphany) == "BT"
    assert BusinessCalendar().window_at(epiphany) == "BT"  # nationwide only
    assert BusinessCalendar("BY").is_public_holiday(date(2026, 1, 6))
    assert not BusinessCalendar("BE").is_public_holiday(date(2026, 1, 6))


def test_catholic_holidays_are_optional() -> None:
    assumption = date(2026, 8, 15)  # a Saturday in 2026; check the holiday itself
    assert not BusinessCalendar("BY").is_public_holiday(assumption)
    assert BusinessCalendar("BY", catholic=True).is_public_holiday(assumption)


def test_company_holidays_end_business_time_but_keep_service_time() -> None:
    calendar = BusinessCalendar(company_holidays=[date(2026, 12, 23)])
    assert calendar.window_at(at("2026-12-23T10:00:00+01:00")) == "ST"
    assert calendar.window_at(at("2026-12-23T08:00:00+01:00")) == "ST"
    assert calendar.window_at(at("2026-12-23T19:30:00+01:00")) == "ST"
    assert calendar.window_at(at("2026-12-22T10:00:00+01:00")) == "BT"


def test_version_names_package_region_and_company_holidays() -> None:
    plain = BusinessCalendar("BY").version
    assert plain.startswith("holidays-") and ":BY:" in plain
    assert BusinessCalendar("BY", [date(2026, 12, 24)]).version != plain
    assert BusinessCalendar("BY", catholic=True).version != plain
    assert BusinessCalendar("BY").version == plain


def test_naive_instants_and_unknown_states_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        BusinessCalendar().window_at(datetime(2026, 11, 25, 10))
    with pytest.raises(ValueError, match="federal state"):
        BusinessCalendar("XX")


@pytest.mark.parametrize(("start", "minutes", "window", "expected"), [
    # Nine BT hours from Friday 17:00 end on Monday 17:00 (16:00 UTC).
    ("2026-11-27T17:00:00+01:00", 540, "BT", "2026-11-30T16:00:00+00:00"),
    # Starting outside BT: the clock starts at the next opening.
    ("2026-11-25T20:30:00+01:00", 60, "BT", "2026-11-26T09:00:00+00:00"),
    # Exactly at the end of a window: the deadline is the close itself.
    ("2026-11-25T09:00:00+01:00", 540, "BT", "2026-11-25T17:00:00+00:00"),
    # OT is elapsed time, across the spring DST change (4 real hours).
    ("2026-03-29T00:30:00+01:00", 240, "OT", "2026-03-29T03:30:00+00:00"),
    # ST on the DST Sunday: Saturday 17:00-18:00, then Sunday 09:00 CEST + 1 h.
    ("2026-03-28T17:00:00+01:00", 120, "ST", "2026-03-29T08:00:00+00:00"),
    # Autumn change: BT Friday before, Monday after (CET again).
    ("2026-10-23T17:30:00+02:00", 60, "BT", "2026-10-26T08:30:00+00:00"),
    ("2026-11-25T10:00:00+01:00", 0, "BT", "2026-11-25T09:00:00+00:00"),
])
def test_add_window_minutes(start: str, minutes: int, window: str, expected: str) -> None:
    result = BusinessCalendar().add_window_minutes(at(start), minutes, window)  # type: ignore[arg-type]
    assert result == at(expected)
    assert result.tzinfo == UTC


def test_add_window_minutes_skips_holidays() -> None:
    calendar = BusinessCalendar("BY", company_holidays=[date(2026, 12, 28)])
    # Wed 23.12 17:00 + 120 BT: 1 h on the 23rd, then 24th (a normal workday) 09:00-10:00.
    assert calendar.add_window_minutes(at("2026-12-23T17:00:00+01:00"), 120, "BT") == \
        at("2026-12-24T10:00:00+01:00")
    # Thu 24.12 17:30 + 60: 25./26. holidays, weekend, 28. company holiday -> Tue 29th 09:30.
    assert calendar.add_window_minutes(at("2026-12-24T17:30:00+01:00"), 60, "BT") == \
        at("2026-12-29T09:30:00+01:00")


def test_the_calendar_the_settings_configure() -> None:
    settings = BillingSettings(federal_state="SN", company_holidays=[date(2026, 12, 24)])
    calendar = settings.calendar()
    assert calendar.is_public_holiday(date(2026, 11, 18))  # Buß- und Bettag in Saxony
    assert calendar.window_at(at("2026-12-24T10:00:00+01:00")) == "ST"
