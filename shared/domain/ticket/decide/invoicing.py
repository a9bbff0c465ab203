"""Time and invoices: time entries logged and voided, invoices issued and cancelled."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from shared.domain import events as ev
from shared.domain.pricing import build_invoice
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide.base import (
    MAX_FUTURE_ENTRY,
    TIME_LOGGABLE,
    DomainError,
    decide,
    require,
    require_ticket,
)
from shared.domain.ticket.state import TicketState


class OtherEntry(Protocol):
    """A technician's entry on any ticket (the billing service's read model keeps them)."""

    @property
    def ticket(self) -> str: ...
    @property
    def entry_id(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...


def overlaps(start: datetime, end: datetime, other_start: datetime,
             other_end: datetime) -> bool:
    """Whether two intervals ``[start, end)`` share time (entries that touch do not)."""
    return start < other_end and other_start < end


def require_no_overlap(start: datetime, end: datetime, others: Iterable[OtherEntry]) -> None:
    """A technician cannot work on two tickets at once (docs/domain.md 6.1): ``others`` are
    their entries on other tickets, which the decider of one ticket cannot see."""
    for other in others:
        require(not overlaps(start, end, other.start, other.end), "overlapping_entry",
                f"overlaps entry {other.entry_id} of the same technician on ticket "
                f"{other.ticket} ({other.start.isoformat()} to {other.end.isoformat()})")


def require_room(count: int, limit: int, month: str) -> None:
    """At most ``limit`` entries of one technician in a month (``count``: theirs so far)."""
    require(count < limit, "too_many_entries",
            f"the technician already has {count} time entries in {month}: at most "
            f"{limit} a month")


@decide.register
def _(command: c.LogTime, state: TicketState) -> list[ev.Event]:
    for name, value in (("start", command.start), ("end", command.end)):
        require(value.tzinfo is not None, "naive_timestamp",
                f"{name}: give a UTC offset, e.g. +01:00")
    require_ticket(state)
    logged = state.entry(command.entry_id)
    if logged is not None:
        # The same technician's retry is a no-op; another's entry is never theirs to claim.
        require(logged.technician == command.technician, "entry_id_taken",
                f"entry id {command.entry_id} belongs to another technician's entry: "
                "choose a new one")
        return []
    require(command.entry_id not in state.voided_entry_ids, "unknown_entry",
            f"entry {command.entry_id} is no longer active")
    require(state.status in TIME_LOGGABLE, "ticket_not_open_for_time",
            f"time cannot be logged on a {state.status.replace('_', ' ')} ticket")
    require(command.kind in ("work", "travel"), "unknown_kind",
            f"unknown kind {command.kind!r}: use 'work' or 'travel'")
    require(command.end > command.start, "end_not_after_start", "end must be after start")
    require(command.end <= command.at + MAX_FUTURE_ENTRY, "entry_in_future",
            "the entry ends in the future")
    for other in state.time_entries:
        require(other.technician != command.technician or not overlaps(
            command.start, command.end, other.start, other.end), "overlapping_entry",
            f"overlaps entry {other.entry_id} of the same technician")
    return [ev.TimeLogged(at=command.at, entry_id=command.entry_id,
                          technician=command.technician, start=command.start.astimezone(UTC),
                          end=command.end.astimezone(UTC),
                          kind=command.kind,  # type: ignore[arg-type]
                          note=command.note)]


@decide.register
def _(command: c.VoidTimeEntry, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    entry = state.entry(command.entry_id)
    require(entry is not None, "unknown_entry", f"no active time entry {command.entry_id}")
    assert entry is not None
    require(command.entry_id not in state.invoiced_entry_ids, "entry_invoiced",
            "the entry is invoiced: cancel the invoice first")
    # A technician's time is their own; a lead may correct anyone's, and the event says so.
    as_lead = entry.technician != command.technician
    require(not as_lead or command.lead, "not_your_entry",
            f"entry {command.entry_id} is {entry.technician}'s: only they or a lead may "
            "void it")
    return [ev.TimeEntryVoided(at=command.at, entry_id=command.entry_id,
                               technician=command.technician, reason=command.reason,
                               as_lead=as_lead)]



@decide.register
def _(command: c.IssueInvoice, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if command.invoice_number in state.issued_invoice_numbers:
        return []  # a retried issuance: the number is issued once
    require(state.status in {"resolved", "closed"}, "not_billable",
            "invoices are issued for resolved or closed tickets")
    require(bool(state.uninvoiced_entries), "nothing_to_invoice",
            "no logged time left to invoice")
    return [build_invoice(state, command.terms, number=command.invoice_number,
                          issue_date=command.invoice_date, at=command.at,
                          issued_by=command.issued_by)]


@decide.register
def _(command: c.CancelInvoice, state: TicketState) -> list[ev.Event]:
    # No ticket: no invoice either (an invoice is cancelled by its number).
    require(any(i.invoice_number == command.invoice_number for i in state.active_invoices),
            "unknown_invoice", f"no active invoice {command.invoice_number} on this ticket")
    require(bool(command.reason.strip()), "reason_required", "a cancellation needs a reason")
    return [ev.InvoiceCancelled(at=command.at, invoice_number=command.invoice_number,
                                credit_note_number=command.credit_note_number,
                                reason=command.reason, issued_by=command.by)]


def invoice_document(events: Iterable[ev.Event], number: str
                     ) -> tuple[ev.InvoiceIssued, ev.InvoiceCancelled | None]:
    """The document ``number`` among a ticket's events: an invoice (and None), or a credit
    note (the invoice it cancels, and the cancellation)."""
    invoices: dict[str, ev.InvoiceIssued] = {}
    for event in events:
        if isinstance(event, ev.InvoiceIssued):
            invoices[event.invoice_number] = event
            if event.invoice_number == number:
                return event, None
        elif isinstance(event, ev.InvoiceCancelled) and event.credit_note_number == number:
            return invoices[event.invoice_number], event
    raise DomainError("unknown_invoice", f"there is no invoice {number}")
