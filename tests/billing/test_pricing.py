"""Pricing (docs/domain.md 6): the worked example, a table of cases and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.calendar import BERLIN, BusinessCalendar
from shared.domain.money import to_cents
from shared.domain.pricing import Entry, block_minutes, price, started_blocks

RATE, VAT = Decimal("130.00"), Decimal("0.19")


def entry(start: str, end: str, kind: str = "work") -> Entry:
    return Entry(datetime.fromisoformat(start), datetime.fromisoformat(end), kind)  # type: ignore[arg-type]


def lines_of(entries: list[Entry], *, priority: bool = True,
             calendar: BusinessCalendar | None = None,
             rate: Decimal = RATE, vat: Decimal = VAT) -> list[tuple[str, str, int, str, str]]:
    quote = price(entries, calendar or BusinessCalendar(), priority=priority, hourly_rate=rate,
                  vat_rate=vat)
    return [(line.kind, str(line.multiplier), line.minutes, f"{line.hourly_price}",
             f"{line.net}") for line in quote.lines]


def test_worked_example() -> None:
    entries = [entry("2026-11-25T17:50:00+01:00", "2026-11-25T18:20:00+01:00")]
    priority = price(entries, BusinessCalendar(), priority=True, hourly_rate=RATE, vat_rate=VAT)
    assert priority.to_json() == {
        "lines": [
            {"kind": "work", "multiplier": "1.0", "minutes": 10, "hourly_price": "130.00",
             "net": "21.67"},
            {"kind": "work", "multiplier": "1.5", "minutes": 20, "hourly_price": "195.00",
             "net": "65.00"}],
        "net": "86.67", "vat": "16.47", "gross": "103.14"}
    normal = price(entries, BusinessCalendar(), priority=False, hourly_rate=RATE, vat_rate=VAT)
    assert normal.to_json()["lines"] == [{"kind": "work", "multiplier": "1.0", "minutes": 30,
                                          "hourly_price": "130.00", "net": "65.00"}]
    assert (normal.net, normal.vat, normal.gross) == (
        Decimal("65.00"), Decimal("12.35"), Decimal("77.35"))


W = "work"
CASES = [
    # Saturday: all ST.
    ("saturday", [entry("2026-11-28T10:00:00+01:00", "2026-11-28T10:30:00+01:00")],
     {}, [(W, "1.5", 30, "195.00", "97.50")]),
    ("edge 07:30", [entry("2026-11-25T07:20:00+01:00", "2026-11-25T07:40:00+01:00")],
     {}, [(W, "1.5", 10, "195.00", "32.50"), (W, "2.0", 10, "260.00", "43.33")]),
    ("edge 09:00", [entry("2026-11-25T08:55:00+01:00", "2026-11-25T09:06:00+01:00")],
     {}, [(W, "1.0", 10, "130.00", "21.67"), (W, "1.5", 10, "195.00", "32.50")]),
    ("exactly one block before 09:00",
     [entry("2026-11-25T08:50:00+01:00", "2026-11-25T09:00:00+01:00")],
     {}, [(W, "1.5", 10, "195.00", "32.50")]),
    ("edge 18:00", [entry("2026-11-25T17:59:00+01:00", "2026-11-25T18:01:00+01:00")],
     {}, [(W, "1.0", 10, "130.00", "21.67")]),
    ("edge 20:00", [entry("2026-11-25T19:50:00+01:00", "2026-11-25T20:10:00+01:00")],
     {}, [(W, "1.5", 10, "195.00", "32.50"), (W, "2.0", 10, "260.00", "43.33")]),
    ("across midnight", [entry("2026-11-25T23:50:00+01:00", "2026-11-26T00:20:00+01:00")],
     {}, [(W, "2.0", 30, "260.00", "130.00")]),
    ("Friday night into Saturday",
     [entry("2026-11-27T23:55:00+01:00", "2026-11-28T00:15:00+01:00")],
     {}, [(W, "2.0", 20, "260.00", "86.67")]),
    ("Sunday evening into Monday morning",
     [entry("2026-11-29T17:50:00+01:00", "2026-11-30T09:10:00+01:00")],
     {}, [(W, "1.0", 10, "130.00", "21.67"), (W, "1.5", 100, "195.00", "325.00"),
          (W, "2.0", 810, "260.00", "3510.00")]),
    ("Epiphany in Bavaria", [entry("2026-01-06T10:00:00+01:00", "2026-01-06T11:00:00+01:00")],
     {"calendar": BusinessCalendar("BY")}, [(W, "1.5", 60, "195.00", "195.00")]),
    ("Epiphany in Berlin", [entry("2026-01-06T10:00:00+01:00", "2026-01-06T11:00:00+01:00")],
     {"calendar": BusinessCalendar("BE")}, [(W, "1.0", 60, "130.00", "130.00")]),
    ("Buß- und Bettag in Saxony",
     [entry("2026-11-18T10:00:00+01:00", "2026-11-18T10:20:00+01:00")],
     {"calendar": BusinessCalendar("SN")}, [(W, "1.5", 20, "195.00", "65.00")]),
    ("company holiday", [entry("2026-12-23T10:00:00+01:00", "2026-12-23T10:30:00+01:00")],
     {"calendar": BusinessCalendar(company_holidays=[date(2026, 12, 23)])},
     [(W, "1.5", 30, "195.00", "97.50")]),
    ("company holiday evening stays ST",
     [entry("2026-12-23T19:30:00+01:00", "2026-12-23T20:00:00+01:00")],
     {"calendar": BusinessCalendar(company_holidays=[date(2026, 12, 23)])},
     [(W, "1.5", 30, "195.00", "97.50")]),
    # Spring DST: 01:50 CET to 03:10 CEST is 20 real minutes.
    ("spring DST", [entry("2026-03-29T01:50:00+01:00", "2026-03-29T03:10:00+02:00")],
     {}, [(W, "2.0", 20, "260.00", "86.67")]),
    # Autumn DST: 02:50 CEST to 02:10 CET is 20 real minutes (the end looks earlier).
    ("autumn DST", [entry("2026-10-25T02:50:00+02:00", "2026-10-25T02:10:00+01:00")],
     {}, [(W, "2.0", 20, "260.00", "86.67")]),
    ("Monday after spring DST",
     [entry("2026-03-30T08:55:00+02:00", "2026-03-30T09:05:00+02:00")],
     {}, [(W, "1.5", 10, "195.00", "32.50")]),
    ("travel in BT, ST and OT",
     [entry("2026-11-25T10:00:00+01:00", "2026-11-25T10:30:00+01:00", "travel"),
      entry("2026-11-25T18:00:00+01:00", "2026-11-25T19:00:00+01:00", "travel"),
      entry("2026-11-25T21:00:00+01:00", "2026-11-25T21:10:00+01:00", "travel"),
      entry("2026-11-25T11:00:00+01:00", "2026-11-25T11:10:00+01:00")],
     {}, [(W, "1.0", 10, "130.00", "21.67"), ("travel", "1.0", 30, "65.00", "32.50"),
          ("travel", "1.5", 60, "97.50", "97.50"), ("travel", "2.0", 10, "130.00", "21.67")]),
    ("custom rate: hourly price rounded to the cent",
     [entry("2026-11-25T18:00:00+01:00", "2026-11-25T18:10:00+01:00")],
     {"rate": Decimal("99.99")}, [(W, "1.5", 10, "149.99", "25.00")]),
    ("many short entries round once per line",
     [entry(f"2026-11-25T10:{m:02d}:00+01:00", f"2026-11-25T10:{m + 1:02d}:00+01:00")
      for m in range(0, 60, 20)],
     {}, [(W, "1.0", 30, "130.00", "65.00")]),  # not 3 x 21.67 = 65.01
]


@pytest.mark.parametrize(("entries", "options", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_priority_cases(entries: list[Entry], options: dict, expected: list) -> None:
    assert lines_of(entries, **options) == expected


def test_custom_rate_and_vat_on_normal_priority() -> None:
    quote = price([entry("2026-11-28T22:00:00+01:00", "2026-11-28T22:25:00+01:00")],
                  BusinessCalendar(), priority=False, hourly_rate=Decimal("100"),
                  vat_rate=Decimal("0.07"))
    assert quote.to_json() == {
        "lines": [{"kind": "work", "multiplier": "1.0", "minutes": 30, "hourly_price": "100.00",
                   "net": "50.00"}], "net": "50.00", "vat": "3.50", "gross": "53.50"}


def test_vat_is_rounded_half_up_once() -> None:
    quote = price([entry("2026-11-28T10:00:00+01:00", "2026-11-28T10:30:00+01:00")],
                  BusinessCalendar(), priority=True, hourly_rate=RATE, vat_rate=VAT)
    assert (quote.net, quote.vat, quote.gross) == (
        Decimal("97.50"), Decimal("18.53"), Decimal("116.03"))  # 18.525 -> 18.53


def test_started_blocks() -> None:
    start = datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert [started_blocks(start, start + timedelta(seconds=s))
            for s in (0, 1, 599, 600, 601, 1200)] == [0, 1, 1, 1, 2, 2]


# -- properties ---------------------------------------------------------------------------

CALENDARS = [BusinessCalendar(), BusinessCalendar("BY"),
             BusinessCalendar("SN", [date(2026, 12, 23), date(2027, 1, 4)])]
starts = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                      timezones=st.just(UTC))
spans = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=30))
kinds = st.sampled_from(["work", "travel"])
entries_st = st.lists(st.builds(lambda s, d, k: Entry(s, s + d, k), starts, spans, kinds),
                      max_size=8)
rates = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("500.00"), places=2)


@settings(max_examples=150, deadline=None)
@given(entries_st, rates)
def test_normal_priority_is_minutes_times_rate(entries: list[Entry], rate: Decimal) -> None:
    quote = price(entries, CALENDARS[1], priority=False, hourly_rate=rate,
                  vat_rate=VAT)
    for line in quote.lines:
        share = Decimal("0.5") if line.kind == "travel" else Decimal("1")
        assert line.multiplier == Decimal("1.0")
        assert line.minutes == 10 * sum(started_blocks(e.start, e.end)
                                        for e in entries if e.kind == line.kind)
        assert line.net == to_cents(line.minutes * to_cents(rate * share) / 60)
    assert quote.net == sum((line.net for line in quote.lines), Decimal("0.00"))
    assert quote.gross == quote.net + to_cents(quote.net * VAT)


@settings(max_examples=150, deadline=None)
@given(starts, st.integers(min_value=2, max_value=200), st.data(), kinds,
       st.sampled_from(CALENDARS), st.booleans())
def test_cutting_at_a_block_boundary_keeps_the_total(start: datetime, blocks: int,
                                                     data: st.DataObject, kind: str,
                                                     calendar: BusinessCalendar,
                                                     priority: bool) -> None:
    tail = data.draw(st.timedeltas(min_value=timedelta(seconds=1),
                                   max_value=timedelta(minutes=10)))
    end = start + timedelta(minutes=10 * (blocks - 1)) + tail
    cut = start + timedelta(minutes=10 * data.draw(st.integers(1, blocks - 1)))
    whole = price([Entry(start, end, kind)], calendar, priority=priority,  # type: ignore[arg-type]
                  hourly_rate=RATE, vat_rate=VAT)
    parts = price([Entry(start, cut, kind), Entry(cut, end, kind)],  # type: ignore[arg-type]
                  calendar, priority=priority, hourly_rate=RATE, vat_rate=VAT)
    assert parts == whole


@settings(max_examples=150, deadline=None)
@given(entries_st.filter(bool), st.timedeltas(min_value=timedelta(0),
                                              max_value=timedelta(hours=12)),
       st.sampled_from(CALENDARS), st.booleans())
def test_the_total_never_decreases_when_an_entry_ends_later(
        entries: list[Entry], growth: timedelta, calendar: BusinessCalendar,
        priority: bool) -> None:
    grown = [Entry(entries[0].start, entries[0].end + growth, entries[0].kind), *entries[1:]]
    before = price(entries, calendar, priority=priority, hourly_rate=RATE, vat_rate=VAT)
    after = price(grown, calendar, priority=priority, hourly_rate=RATE, vat_rate=VAT)
    assert after.gross >= before.gross


def test_moving_the_start_earlier_can_lower_the_total() -> None:
    """Why the growth property extends the end: block starts shift with the start."""
    late = lines_of([entry("2026-11-25T20:00:00+01:00", "2026-11-25T20:15:00+01:00")])
    early = lines_of([entry("2026-11-25T19:59:00+01:00", "2026-11-25T20:15:00+01:00")])
    assert late == [(W, "2.0", 20, "260.00", "86.67")]
    assert early == [(W, "1.5", 10, "195.00", "32.50"), (W, "2.0", 10, "260.00", "43.33")]


def reference_minutes(entries: list[Entry], calendar: BusinessCalendar,
                      priority: bool) -> dict[tuple[str, Decimal], int]:
    """The definition, block by block: the fast path must give exactly this."""
    surcharge = {"BT": Decimal("1.0"), "ST": Decimal("1.5"), "OT": Decimal("2.0")}
    minutes: dict[tuple[str, Decimal], int] = {}
    for item in entries:
        start, end = item.start.astimezone(UTC), item.end.astimezone(UTC)  # elapsed time
        for index in range(started_blocks(start, end)):
            window = calendar.window_at(start + index * timedelta(minutes=10))
            key = (item.kind, surcharge[window] if priority else Decimal("1.0"))
            minutes[key] = minutes.get(key, 0) + 10
    return minutes


@settings(max_examples=150, deadline=None)
@given(st.lists(st.builds(lambda s, d, k: Entry(s, s + d, k),
                          st.datetimes(min_value=datetime(2025, 12, 30),
                                       max_value=datetime(2027, 1, 2),
                                       timezones=st.sampled_from([UTC, BERLIN])),
                          st.timedeltas(min_value=timedelta(microseconds=1),
                                        max_value=timedelta(days=3)), kinds),
                min_size=1, max_size=6),
       st.sampled_from(CALENDARS))
def test_the_fast_block_count_equals_the_block_by_block_definition(
        entries: list[Entry], calendar: BusinessCalendar) -> None:
    fast = block_minutes(entries, calendar, priority=True)
    assert {k: v for k, v in fast.items() if v} == reference_minutes(entries, calendar, True)


def test_scattered_entries_price_like_close_ones() -> None:
    """Entries years apart use a per-day window table, not one spanning the years."""
    far = [entry("2016-03-27T01:55:00+01:00", "2016-03-27T03:20:00+02:00"),
           entry("2026-10-25T02:30:00+02:00", "2026-10-25T02:50:00+01:00", "travel")]
    assert block_minutes(far, CALENDARS[1], priority=True) == {
        k: v for k, v in reference_minutes(far, CALENDARS[1], True).items() if v}
