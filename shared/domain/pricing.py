"""Pure pricing of logged time (docs/domain.md 6): entries -> invoice lines, net, VAT, gross.

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

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.calendar import (
    EPOCH,
    WINDOWS,
    BusinessCalendar,
    Window,
    berlin_date,
    day_number,
)
from shared.domain.events.invoicing import InvoiceIssued, InvoiceLine, Seller, TimeKind
from shared.domain.money import ZERO, format_amount, to_cents

if TYPE_CHECKING:
    from shared.domain.ticket.state import TicketState

BLOCK = timedelta(minutes=10)
BLOCK_MINUTES = 10
BLOCK_US = BLOCK_MINUTES * 60 * 1_000_000
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
    """Billed minutes per (kind, multiplier).

    The hot path of every quote: instants become integer microseconds, blocks are counted
    per (kind, window) against the calendar's precomputed window runs, and Decimal only
    appears once per line (docs/billing.md, "Quote speed").
    """
    spans = _spans(entries)
    if not priority:
        return _unsurcharged_minutes(spans)
    counts = [0] * (len(KINDS) * len(WINDOWS))
    starts, codes = calendar.window_runs(_days_touched(spans))
    for kind_index, start, end in spans:
        _count_blocks(counts, kind_index * len(WINDOWS), start, end, starts, codes)
    return {(KINDS[slot // len(WINDOWS)], SURCHARGE[WINDOWS[slot % len(WINDOWS)]]):
            count * BLOCK_MINUTES for slot, count in enumerate(counts) if count}


def _spans(entries: Iterable[TimeSpan]) -> list[tuple[int, int, int]]:
    """(kind index, start, end) per entry, instants in epoch microseconds (exact).

    ``micros`` inlined: this loop runs once per entry of every quote.
    """
    spans = []
    # Keyed by any text: an entry's kind is checked here, not trusted.
    kind_index: dict[str, int] = {kind: index for index, kind in enumerate(KINDS)}
    for entry in entries:
        index = kind_index.get(entry.kind)
        if index is None:
            raise ValueError(f"unknown kind {entry.kind!r}: use 'work' or 'travel'")
        start, end = entry.start, entry.end
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("time entries must be timezone-aware")
        since, until = start - EPOCH, end - EPOCH
        spans.append((index,
                      (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds,
                      (until.days * 86_400 + until.seconds) * 1_000_000 + until.microseconds))
    return spans


def _unsurcharged_minutes(spans: list[tuple[int, int, int]]) -> dict[tuple[str, Decimal], int]:
    blocks = [0] * len(KINDS)
    seen = [False] * len(KINDS)
    for kind_index, start, end in spans:
        seen[kind_index] = True  # an entry of the kind gives its line, even with 0 blocks
        if end > start:
            blocks[kind_index] += -((start - end) // BLOCK_US)
    return {(kind, NO_SURCHARGE): blocks[i] * BLOCK_MINUTES
            for i, kind in enumerate(KINDS) if seen[i]}


def _days_touched(spans: list[tuple[int, int, int]]) -> Iterable[int]:
    """Sorted local days (days since 1970-01-01) in which some block may start.

    Berlin is ahead of UTC, so an instant's local date is its UTC date or the day after.
    Entries close together (the usual case) take the whole range at once; widely scattered
    ones only their own days, so a stray old entry cannot make the table huge.
    """
    billed = [(start, end) for _, start, end in spans if end > start]
    if not billed:
        return ()
    first = day_number(min(start for start, _ in billed))
    last = day_number(max(end for _, end in billed) - 1) + 1
    if last - first <= 4 * len(billed) + 62:
        return range(first, last + 1)
    days: set[int] = set()
    for start, end in billed:
        days.update(range(day_number(start), day_number(end - 1) + 2))
    return sorted(days)


def _count_blocks(counts: list[int], offset: int, start: int, end: int, starts: list[int],
                  codes: list[int]) -> None:
    """Add the entry's blocks to ``counts[offset + window code]``, one run at a time: all
    blocks starting before the next window change share a window."""
    if end <= start:
        return
    blocks = -((start - end) // BLOCK_US)
    run_index = bisect_right(starts, start) - 1
    done, block_start = 0, start
    while done < blocks:
        while starts[run_index + 1] <= block_start:
            run_index += 1
        # ceil((run end - block start) / block): blocks starting in this run.
        run = min(blocks - done, -((block_start - starts[run_index + 1]) // BLOCK_US))
        counts[offset + codes[run_index]] += run
        done += run
        block_start = start + done * BLOCK_US


def hourly_price(kind: str, multiplier: Decimal, hourly_rate: Decimal) -> Decimal:
    """Price per 60 minutes: rate x surcharge, halved for travel, rounded to the cent."""
    price = hourly_rate * multiplier
    if kind == "travel":
        price *= TRAVEL_SHARE
    return to_cents(price)


def price(entries: Iterable[TimeSpan], calendar: BusinessCalendar, *, priority: bool,
          hourly_rate: Decimal, vat_rate: Decimal) -> Quote:
    """Price ``entries`` (docs/domain.md 6). Lines are ordered work first, then by multiplier."""
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


@dataclass(frozen=True)
class Tariff:
    """What an hour costs: the base rate, the rates agreed with single customers, and the
    VAT rate."""

    hourly_rate: Decimal
    vat_rate: Decimal
    customer_rates: Mapping[str, Decimal] = field(default_factory=dict)

    def rate_for(self, customer_id: str) -> Decimal:
        """The customer's hourly rate: an agreed rate, else the base rate."""
        return Decimal(self.customer_rates.get(customer_id, self.hourly_rate))


@dataclass(frozen=True)
class InvoiceTerms:
    """What an invoice is issued under: the tariff, the calendar that decides the windows,
    who sells, and the days until payment is due."""

    tariff: Tariff
    calendar: BusinessCalendar
    seller: Seller
    payment_days: int


def running_total(state: TicketState, tariff: Tariff, calendar: BusinessCalendar) -> Quote:
    """What would be billed now for the ticket's uninvoiced time entries."""
    customer = state.request.customer_id if state.request else ""
    return price(state.uninvoiced_entries, calendar, priority=state.priority,
                 hourly_rate=tariff.rate_for(customer), vat_rate=tariff.vat_rate)


def build_invoice(state: TicketState, terms: InvoiceTerms, *, number: str, issue_date: date,
                  at: datetime, issued_by: str) -> InvoiceIssued:
    """The invoice of the ticket's uninvoiced time (a pure function of its inputs); the
    service period runs over the German dates the entries touch."""
    assert state.request is not None, "only a submitted ticket is invoiced"
    entries = state.uninvoiced_entries
    quote = running_total(state, terms.tariff, terms.calendar)
    days = [berlin_date(e.start) for e in entries] + [berlin_date(e.end) for e in entries]
    return InvoiceIssued(
        at=at, invoice_number=number, invoice_date=issue_date,
        due_date=issue_date + timedelta(days=terms.payment_days),
        service_period_start=min(days, default=issue_date),
        service_period_end=max(days, default=issue_date),
        seller=terms.seller, buyer=state.request.contract_party, lines=quote.lines,
        net=quote.net, vat_rate=quote.vat_rate, vat=quote.vat, gross=quote.gross,
        entry_ids=tuple(sorted(e.entry_id for e in entries)),
        calendar_version=quote.calendar_version, issued_by=issued_by)
