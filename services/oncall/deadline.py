"""``ticketcore oncall deadline``: the SLA deadline of a request, as the service computes it.

Input (JSON): ``submitted_at`` (ISO 8601 with offset), ``priority``, optional ``state``
(German federal state for public holidays; nationwide holidays without), ``company_holidays``
(dates), ``reaction_minutes`` (priority; default 240) and ``accepted_at`` (a customer without
SLA: the clock starts at acceptance). Output: ``{"deadline": ..., "clock": ...}``, the
deadline in Europe/Berlin time with its offset (+01:00 or +02:00).

A normal clock is the first response within 540 Business-Time minutes (DOMAIN 5.1): it ends
at the instant the 540th BT minute ends, so a clock that runs out at 18:00 ends at 18:00, not
at 09:00 the next business day. A priority clock is real elapsed minutes (5.2). The calendar
is the one the oncall service uses (shared.domain.calendar.BusinessCalendar).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from shared.domain.calendar import BERLIN, BusinessCalendar, NotAnInstant, parse_instant

FIRST_RESPONSE_BT_MINUTES = 540
DEFAULT_REACTION_MINUTES = 240
FIELDS = {"submitted_at", "priority", "state", "company_holidays", "reaction_minutes",
          "accepted_at"}


class DeadlineInputError(ValueError):
    """The request cannot be answered exactly; the message says why."""


def deadline_of(text: str) -> dict[str, str]:
    """The answer to one JSON request (raises :class:`DeadlineInputError`)."""
    request = _object(text)
    submitted = _instant(request, "submitted_at")
    start = submitted
    if request.get("accepted_at") is not None:
        start = _instant(request, "accepted_at")
        if start < submitted:
            raise DeadlineInputError("accepted_at: before submitted_at")
    if _flag(request, "priority"):
        minutes = _minutes(request, "reaction_minutes", DEFAULT_REACTION_MINUTES)
        end = start + timedelta(minutes=minutes)
        return {"deadline": end.astimezone(BERLIN).isoformat(), "clock": "reaction"}
    calendar = _calendar(request)
    end = calendar.add_window_minutes(start, FIRST_RESPONSE_BT_MINUTES, "BT")
    return {"deadline": end.astimezone(BERLIN).isoformat(), "clock": "first_response"}


def _object(text: str) -> dict[str, Any]:
    try:
        request = json.loads(text)
    except json.JSONDecodeError as error:
        raise DeadlineInputError(f"not JSON: {error}") from None
    if not isinstance(request, dict):
        raise DeadlineInputError("give a JSON object")
    unknown = set(request) - FIELDS
    if unknown:
        raise DeadlineInputError(f"unknown field(s): {', '.join(sorted(unknown))}")
    return request


def _instant(request: dict[str, Any], name: str) -> datetime:
    try:
        return parse_instant(request.get(name), name)
    except NotAnInstant as error:
        raise DeadlineInputError(str(error)) from None


def _flag(request: dict[str, Any], name: str) -> bool:
    value = request.get(name, False)
    if not isinstance(value, bool):
        raise DeadlineInputError(f"{name}: true or false")
    return value


def _minutes(request: dict[str, Any], name: str, default: int) -> int:
    value = request.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DeadlineInputError(f"{name}: a whole number of minutes")
    if value < 0:
        raise DeadlineInputError(f"{name}: must not be negative")
    return value


def _calendar(request: dict[str, Any]) -> BusinessCalendar:
    days = request.get("company_holidays") or []
    if not isinstance(days, list):
        raise DeadlineInputError("company_holidays: a list of dates (YYYY-MM-DD)")
    try:
        holidays = [date.fromisoformat(day) for day in days]
    except (TypeError, ValueError):
        raise DeadlineInputError("company_holidays: dates as YYYY-MM-DD") from None
    try:
        return BusinessCalendar(request.get("state"), holidays)
    except ValueError as error:
        raise DeadlineInputError(f"state: {error}") from None
