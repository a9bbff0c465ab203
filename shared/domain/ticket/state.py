"""A ticket's state, folded from its events. ``evolve`` never refuses: events are facts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import singledispatch
from typing import Literal

import msgspec
from msgspec.structs import replace

from shared.domain import events as ev

Status = Literal[
    "new",                  # no event yet
    "submitted",            # request received, nobody has responded yet
    "awaiting_acceptance",  # customer without SLA: a technician must accept or decline
    "declined",
    "open",                 # accepted (or has an SLA) and waiting for a first response
    "in_progress",          # a technician responded
    "resolved",
    "closed",
    "invoiced",
]


# A ticket being worked on.
ACTIVE: frozenset[Status] = frozenset({"submitted", "open", "in_progress"})


class TicketState(msgspec.Struct, frozen=True, kw_only=True):
    status: Status = "new"
    case_number: str = ""
    request: ev.RequestSubmitted | None = None
    known_addresses: frozenset[str] = frozenset()
    # Receipt mail
    receipt_message_id: str | None = None
    receipt_attempts: int = 0
    receipt_failed_permanently: bool = False
    receipt_overdue: bool = False
    # Priority, paging and SLA clocks
    paged_technician: str | None = None
    escalation_level: int = 0
    renotify_count: int = 0
    # The latest page (first page, reminder or escalation): when and why it went out.
    last_page: ev.PriorityEscalated | ev.OnCallReNotified | ev.OnCallEscalated | None = None
    page_acknowledged_by: str | None = None
    reaction_deadline: datetime | None = None
    response_deadline: datetime | None = None
    first_response_at: datetime | None = None
    breached_clocks: frozenset[str] = frozenset()
    # Customer mail
    reply_count: int = 0
    # Message-IDs of the mails sent for this ticket: a reply naming one answers us.
    sent_message_ids: frozenset[str] = frozenset()
    # Held and quarantined mail waiting for a technician, and the mails already decided.
    pending_mails: tuple[ev.PendingMail, ...] = ()
    settled_mail_ids: frozenset[str] = frozenset()
    # (mail id, case number) of each mail a technician opened a new ticket from.
    opened_from_mail: tuple[tuple[str, str], ...] = ()
    # When the ticket was last resolved (None while it is not resolved).
    resolved_at: datetime | None = None
    # Event ids of the answers and notifications mailed to the customer (CustomerMailed).
    mailed_sources: frozenset[str] = frozenset()
    # Mails to the customer the mail server refused for good (CustomerMailFailed).
    mail_failures: tuple[ev.CustomerMailFailed, ...] = ()
    # Time and invoices
    time_entries: tuple[ev.TimeLogged, ...] = ()
    voided_entry_ids: frozenset[str] = frozenset()
    active_invoices: tuple[ev.InvoiceIssued, ...] = ()
    invoiced_entry_ids: frozenset[str] = frozenset()
    issued_invoice_numbers: frozenset[str] = frozenset()  # cancelled ones too
    status_before_invoice: Status = "resolved"
    personal_data_erased: bool = False

    @property
    def priority(self) -> bool:
        return bool(self.request and self.request.priority)

    @property
    def receipt_sent(self) -> bool:
        return self.receipt_message_id is not None

    @property
    def is_escalated(self) -> bool:
        return self.paged_technician is not None

    @property
    def page_open(self) -> bool:
        """The on-call page still waits for someone: not acknowledged, no response yet,
        the ticket active."""
        return (self.is_escalated and self.page_acknowledged_by is None
                and self.first_response_at is None and self.status in ACTIVE)

    @property
    def uninvoiced_entries(self) -> tuple[ev.TimeLogged, ...]:
        return tuple(e for e in self.time_entries if e.entry_id not in self.invoiced_entry_ids)

    def pending_mail(self, mail_id: str) -> ev.PendingMail | None:
        return next((m for m in self.pending_mails if mail_id_of(m) == mail_id), None)

    def ticket_opened_from(self, mail_id: str) -> str | None:
        """The case number of the ticket opened from the mail ``mail_id`` (None: none)."""
        return next((case for mail, case in self.opened_from_mail if mail == mail_id), None)

    def entry(self, entry_id: str) -> ev.TimeLogged | None:
        return next((e for e in self.time_entries if e.entry_id == entry_id), None)


def mail_id_of(mail: ev.PendingMail) -> str:
    """How technicians name a pending mail (quarantined before mail ids: its Message-ID)."""
    return mail.mail_id or mail.message_id


INITIAL_STATE = TicketState()


def evolve(state: TicketState, event: ev.Event) -> TicketState:
    """The state after ``event``: each event type has its rule below, or is one of
    ``IGNORED`` (facts kept for people that no rule reads)."""
    return apply_event(event, state)


# Events that change nothing the rules read: an automatic reply is kept for technicians,
# an internal note too. tests/core/test_decider_rules.py checks that every event type has
# a rule or is listed here.
IGNORED: frozenset[type[ev.Event]] = frozenset({ev.AutoReplyRecorded, ev.InternalNoteAdded})


@singledispatch
def apply_event(event: ev.Event, state: TicketState) -> TicketState:
    return state


def fold(events: Iterable[ev.Event], state: TicketState = INITIAL_STATE) -> TicketState:
    for event in events:
        state = evolve(state, event)
    return state


@apply_event.register
def _(event: ev.RequestSubmitted, state: TicketState) -> TicketState:
    return replace(state, status="open" if event.has_sla else "submitted",
                   case_number=event.case_number, request=event,
                   known_addresses=frozenset({event.contact.email.lower()}))


@apply_event.register
def _(event: ev.AwaitingAcceptance, state: TicketState) -> TicketState:
    return replace(state, status="awaiting_acceptance")


@apply_event.register
def _(event: ev.TicketAccepted, state: TicketState) -> TicketState:
    return replace(state, status="open")


@apply_event.register
def _(event: ev.TicketDeclined, state: TicketState) -> TicketState:
    return replace(state, status="declined")


@apply_event.register
def _(event: ev.AckSent, state: TicketState) -> TicketState:
    return replace(state, receipt_message_id=event.message_id,
                   sent_message_ids=state.sent_message_ids | {event.message_id})


@apply_event.register
def _(event: ev.AckFailed, state: TicketState) -> TicketState:
    return replace(state, receipt_attempts=max(state.receipt_attempts, event.attempt),
                   receipt_failed_permanently=state.receipt_failed_permanently or event.permanent)


@apply_event.register
def _(event: ev.ReceiptOverdue, state: TicketState) -> TicketState:
    return replace(state, receipt_overdue=True)


@apply_event.register
def _(event: ev.PriorityEscalated, state: TicketState) -> TicketState:
    return replace(state, paged_technician=event.technician, escalation_level=event.level,
                   reaction_deadline=event.reaction_deadline, last_page=event)


@apply_event.register
def _(event: ev.ResponseDeadlineSet, state: TicketState) -> TicketState:
    return replace(state, response_deadline=event.deadline)


@apply_event.register
def _(event: ev.OnCallReNotified, state: TicketState) -> TicketState:
    return replace(state, renotify_count=state.renotify_count + 1, last_page=event)


@apply_event.register
def _(event: ev.OnCallEscalated, state: TicketState) -> TicketState:
    return replace(state, paged_technician=event.technician, escalation_level=event.level,
                   renotify_count=0, last_page=event)


@apply_event.register
def _(event: ev.OnCallAcknowledged, state: TicketState) -> TicketState:
    return replace(state, page_acknowledged_by=event.technician)


@apply_event.register
def _(event: ev.TechnicianResponded, state: TicketState) -> TicketState:
    return replace(state, status="in_progress",
                   first_response_at=state.first_response_at or event.at)


@apply_event.register
def _(event: ev.SlaBreached, state: TicketState) -> TicketState:
    return replace(state, breached_clocks=state.breached_clocks | {event.clock})


@apply_event.register
def _(event: ev.CustomerReplied, state: TicketState) -> TicketState:
    return replace(state, reply_count=state.reply_count + 1)


@apply_event.register
def _(event: ev.ReplyHeld, state: TicketState) -> TicketState:
    return _pending(state, event)


@apply_event.register
def _(event: ev.ReplyQuarantined, state: TicketState) -> TicketState:
    return _pending(state, event)


def _pending(state: TicketState, mail: ev.PendingMail) -> TicketState:
    if mail_id_of(mail) in state.settled_mail_ids or state.pending_mail(mail_id_of(mail)):
        return state
    return replace(state, pending_mails=(*state.pending_mails, mail))


def _settled(state: TicketState, mail_id: str) -> TicketState:
    kept = tuple(m for m in state.pending_mails if mail_id_of(m) != mail_id)
    return replace(state, pending_mails=kept,
                   settled_mail_ids=state.settled_mail_ids | {mail_id})


@apply_event.register
def _(event: ev.MailReleased, state: TicketState) -> TicketState:
    return _settled(state, event.mail_id)


@apply_event.register
def _(event: ev.MailDiscarded, state: TicketState) -> TicketState:
    return _settled(state, event.mail_id)


@apply_event.register
def _(event: ev.MailOpenedAsTicket, state: TicketState) -> TicketState:
    return replace(_settled(state, event.mail_id), opened_from_mail=(
        *state.opened_from_mail, (event.mail_id, event.case_number)))


@apply_event.register
def _(event: ev.TimeLogged, state: TicketState) -> TicketState:
    return replace(state, time_entries=(*state.time_entries, event))


@apply_event.register
def _(event: ev.TimeEntryVoided, state: TicketState) -> TicketState:
    kept = tuple(e for e in state.time_entries if e.entry_id != event.entry_id)
    return replace(state, time_entries=kept,
                   voided_entry_ids=state.voided_entry_ids | {event.entry_id})


@apply_event.register
def _(event: ev.TicketResolved, state: TicketState) -> TicketState:
    return replace(state, status="resolved", resolved_at=event.at)


@apply_event.register
def _(event: ev.TicketReopened, state: TicketState) -> TicketState:
    return replace(state, status="in_progress", resolved_at=None)


@apply_event.register
def _(event: ev.CustomerMailed, state: TicketState) -> TicketState:
    return replace(state, mailed_sources=state.mailed_sources | {event.source_event_id},
                   sent_message_ids=state.sent_message_ids | {event.message_id})


@apply_event.register
def _(event: ev.CustomerMailFailed, state: TicketState) -> TicketState:
    return replace(state, mail_failures=(*state.mail_failures, event))


@apply_event.register
def _(event: ev.TicketClosed, state: TicketState) -> TicketState:
    return replace(state, status="closed")


@apply_event.register
def _(event: ev.InvoiceIssued, state: TicketState) -> TicketState:
    return replace(state, status="invoiced", status_before_invoice=state.status,
                   active_invoices=(*state.active_invoices, event),
                   invoiced_entry_ids=state.invoiced_entry_ids | set(event.entry_ids),
                   issued_invoice_numbers=state.issued_invoice_numbers | {event.invoice_number})


@apply_event.register
def _(event: ev.InvoiceCancelled, state: TicketState) -> TicketState:
    cancelled = next((i for i in state.active_invoices
                      if i.invoice_number == event.invoice_number), None)
    if cancelled is None:
        return state
    remaining = tuple(i for i in state.active_invoices if i is not cancelled)
    return replace(state, active_invoices=remaining,
                   status="invoiced" if remaining else state.status_before_invoice,
                   invoiced_entry_ids=state.invoiced_entry_ids - set(cancelled.entry_ids))


@apply_event.register
def _(event: ev.PersonalDataErased, state: TicketState) -> TicketState:
    return replace(state, personal_data_erased=True)
