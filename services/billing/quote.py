"""The quote interface: a JSON request in, the priced lines out (see docs/billing.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.domain.calendar import BusinessCalendar, NotAnInstant, parse_instant
from shared.domain.money import parse_amount
from shared.domain.pricing import KINDS, Entry, Quote, price

# Longer entries are typos (or abuse: each block costs a calendar look-up).
MAX_ENTRY = timedelta(days=31)
FIELDS = {"priority", "state", "company_holidays", "catholic", "hourly_rate", "vat_rate",
          "entries"}
ENTRY_FIELDS = {"start", "end", "kind", "note"}


class QuoteInputError(ValueError):
    """The quote request is wrong; the message names the field."""


@dataclass(frozen=True)
class QuoteRequest:
    priority: bool
    calendar: BusinessCalendar
    hourly_rate: Decimal
    vat_rate: Decimal
    entries: tuple[Entry, ...]

    def quote(self) -> Quote:
        return price(self.entries, self.calendar, priority=self.priority,
                     hourly_rate=self.hourly_rate, vat_rate=self.vat_rate)


def parse_quote_request(text: str | bytes, *, default_rate: Decimal = Decimal("130.00"),
                        default_vat: Decimal = Decimal("0.19")) -> QuoteRequest:
    """Check and read a quote request; QuoteInputError names the first problem."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise QuoteInputError(f"input is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise QuoteInputError("input must be a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise QuoteInputError(f"unknown field(s): {', '.join(unknown)}")
    priority = data.get("priority")
    if not isinstance(priority, bool):
        raise QuoteInputError("priority: required, true or false")
    catholic = data.get("catholic", False)
    if not isinstance(catholic, bool):
        raise QuoteInputError("catholic: must be true or false")
    state, holidays = _state(data.get("state")), _dates(data.get("company_holidays", []))
    try:
        calendar = BusinessCalendar(state, holidays, catholic)
    except ValueError as error:
        raise QuoteInputError(f"state: {error}") from None
    rate = _amount(data.get("hourly_rate", default_rate), "hourly_rate")
    if rate <= 0:
        raise QuoteInputError("hourly_rate: must be greater than 0")
    vat = _amount(data.get("vat_rate", default_vat), "vat_rate")
    if not Decimal(0) <= vat < 1:
        raise QuoteInputError("vat_rate: must be at least 0 and below 1 (0.19 is 19 %)")
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise QuoteInputError("entries: required, a list of {start, end, kind}")
    return QuoteRequest(priority, calendar, rate, vat,
                        tuple(_entry(item, f"entries[{i}]") for i, item in enumerate(entries)))


def _state(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise QuoteInputError("state: must be a federal state code such as \"BY\"")
    return value.strip().upper() or None


def _dates(value: Any) -> list[date]:
    if not isinstance(value, list):
        raise QuoteInputError("company_holidays: must be a list of dates (YYYY-MM-DD)")
    days = []
    for i, item in enumerate(value):
        try:
            days.append(date.fromisoformat(item))
        except (TypeError, ValueError):
            raise QuoteInputError(f"company_holidays[{i}]: {item!r} is not a date "
                                  "(YYYY-MM-DD)") from None
    return days


def _amount(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise QuoteInputError(f"{name}: must be a decimal string such as \"130.00\"")
    try:
        return parse_amount(value, name)
    except ValueError as error:
        raise QuoteInputError(str(error)) from None


def _entry(item: Any, where: str) -> Entry:
    if not isinstance(item, dict):
        raise QuoteInputError(f"{where}: must be an object with start, end and kind")
    unknown = sorted(set(item) - ENTRY_FIELDS)
    if unknown:
        raise QuoteInputError(f"{where}: unknown field(s): {', '.join(unknown)}")
    start = _instant(item.get("start"), f"{where}.start")
    end = _instant(item.get("end"), f"{where}.end")
    kind = item.get("kind")
    if kind not in KINDS:
        raise QuoteInputError(f"{where}.kind: {kind!r} is unknown; use 'work' or 'travel'")
    if end <= start:
        raise QuoteInputError(f"{where}: end must be after start")
    if end - start > MAX_ENTRY:
        raise QuoteInputError(f"{where}: an entry longer than {MAX_ENTRY.days} days is refused")
    return Entry(start=start, end=end, kind=kind)


def _instant(value: Any, where: str) -> datetime:
    try:
        return parse_instant(value, where)
    except NotAnInstant as error:
        raise QuoteInputError(str(error)) from None
