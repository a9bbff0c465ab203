"""Pure pricing of logged time (DOMAIN.md 6): entries -> invoice lines, net, VAT, gross.

Used by the quote command, invoices and the running total, so all three agree to the cent.

- Each entry is billed in started 10-minute blocks counted from its start in elapsed (UTC)
  time; block *i* starts at ``start + 10 i min`` and is priced by the window it starts in.
- Priority tickets: BT x1.0, ST outside BT x1.5, outside ST x2.0. Normal priority: x1.0.
- Travel costs half the work price, after the surcharge.
- One line per (kind, multiplier): quantity in minutes, price per 60 minutes rounded to the
  cent (so the printed numbers reproduce the line), line net = minutes x price / 60 rounded
  half-up; VAT once on the net total, rounded half-up; gross = net + VAT.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from shared.calendar import BusinessCalendar, Window, calendar_from_settings
from shared.events.billing import InvoiceLine, TimeKind
from shared.money import ZERO, format_amount, to_cents

if TYPE_CHECKING:
    from shared.ticket.state import TicketState

BLOCK = timedelta(minutes=10)
BLOCK_MINUTES = 10
KINDS: tuple[TimeKind, ...] = ("work", "travel")
SURCHARGE: dict[Window, Decimal] = {"BT": Decimal("1.0"), "ST": Decimal("1.5"),
                                    "OT": Decimal("2.0")}
NO_SURCHARGE = Decimal("1.0")
TRAVEL_SHARE = Decimal("0.5")


class TimeSpan(Protocol):
    """Anything with a start, an end and a kind (a TimeLogged event, a quote entry)."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class Entry:
    """A time entry to price."""

    start: datetime
    end: datetime
    kind: TimeKind


@dataclass(frozen=True)
class Quote:
    """What the entries cost: lines, net total, VAT and gross, and the calendar used."""

    lines: tuple[InvoiceLine, ...]
    net: Decimal
    vat_rate: Decimal
    vat: Decimal
    gross: Decimal
    calendar_version: str

    def to_json(self) -> dict[str, Any]:
        """The quote interface's JSON shape: amounts as decimal strings."""
        return {
            "lines": [{"kind": line.kind, "multiplier": str(line.multiplier),
                       "minutes": line.minutes, "hourly_price": format_amount(line.hourly_price),
                       "net": format_amount(line.net)} for line in self.lines],
            "net": format_amount(self.net), "vat": format_amount(self.vat),
            "gross": format_amount(self.gross),
        }


def started_blocks(start: datetime, end: datetime) -> int:
    """How many 10-minute blocks the entry has started: ceil(elapsed / 10 min)."""
    elapsed = end - start
    if elapsed <= timedelta(0):
        return 0
    return -(-elapsed // BLOCK)


def block_minutes(entries: Iterable[TimeSpan], calendar: BusinessCalendar,
                  priority: bool) -> dict[tuple[str, Decimal], int]:
    """Billed minutes per (kind, multiplier)."""
    minutes: dict[tuple[str, Decimal], int] = {}
    for entry in entries:
        if entry.kind not in KINDS:
            raise ValueError(f"unknown kind {entry.kind!r}: use 'work' or 'travel'")
        blocks = started_blocks(entry.start, entry.end)
        if not priority:
            key = (entry.kind, NO_SURCHARGE)
            minutes[key] = minutes.get(key, 0) + blocks * BLOCK_MINUTES
            continue
        index, start = 0, entry.start.astimezone(UTC)  # UTC compares fastest
        while index < blocks:
            # All blocks starting before the next window edge share the window.
            block_start = start + index * BLOCK
            window, changes_at = calendar.window_span(block_start)
            run = min(blocks - index, -(-(changes_at - block_start) // BLOCK))
            key = (entry.kind, SURCHARGE[window])
            minutes[key] = minutes.get(key, 0) + run * BLOCK_MINUTES
            index += run
    return minutes


def hourly_price(kind: str, multiplier: Decimal, hourly_rate: Decimal) -> Decimal:
    """Price per 60 minutes: rate x surcharge, halved for travel, rounded to the cent."""
    price = hourly_rate * multiplier
    if kind == "travel":
        price *= TRAVEL_SHARE
    return to_cents(price)


def price(entries: Iterable[TimeSpan], calendar: BusinessCalendar, *, priority: bool,
          hourly_rate: Decimal, vat_rate: Decimal) -> Quote:
    """Price ``entries`` (DOMAIN.md 6). Lines are ordered work first, then by multiplier."""
    minutes = block_minutes(entries, calendar, priority)
    lines = []
    for kind, multiplier in sorted(minutes, key=lambda k: (KINDS.index(k[0]), k[1])):
        quantity = minutes[(kind, multiplier)]
        unit = hourly_price(kind, multiplier, hourly_rate)
        lines.append(InvoiceLine(kind=kind,  # type: ignore[arg-type]
                                 multiplier=multiplier, minutes=quantity, hourly_price=unit,
                                 net=to_cents(quantity * unit / 60)))
    net = sum((line.net for line in lines), ZERO)
    vat = to_cents(net * vat_rate)
    return Quote(lines=tuple(lines), net=net, vat_rate=vat_rate, vat=vat, gross=net + vat,
                 calendar_version=calendar.version)


def hourly_rate_for(billing_settings: Any, customer_id: str) -> Decimal:
    """The customer's hourly rate: a configured per-customer rate, else the base rate."""
    rates = getattr(billing_settings, "customer_rates", {}) or {}
    return Decimal(rates.get(customer_id, billing_settings.hourly_rate))


def running_total(state: TicketState, settings: Any,
                  calendar: BusinessCalendar | None = None) -> Quote:
    """What would be billed now for the ticket's uninvoiced time entries."""
    billing = settings.billing
    customer = state.request.customer_id if state.request else ""
    return price(state.uninvoiced_entries, calendar or calendar_from_settings(billing),
                 priority=state.priority, hourly_rate=hourly_rate_for(billing, customer),
                 vat_rate=billing.vat_rate)
