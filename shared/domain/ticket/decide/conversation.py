"""The technicians' side of the conversation: answers, internal notes, and the record of
the mails to the customer (sent, or refused for good)."""

from __future__ import annotations

from shared.domain import events as ev
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide.base import (
    ACTIVE,
    decide,
    require,
    require_ticket,
)
from shared.domain.ticket.state import TicketState


@decide.register
def _(command: c.Respond, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    require(state.status != "awaiting_acceptance", "not_accepted",
            "accept the ticket before responding")
    require(state.status in ACTIVE, "not_active",
            f"a {state.status} ticket takes no response")
    return [ev.TechnicianResponded(at=command.at, technician=command.technician,
                                   message=command.message, first_name=command.first_name,
                                   attachments=command.attachments)]


@decide.register
def _(command: c.AddInternalNote, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    text = command.text.strip()
    require(bool(text), "note_required", "an internal note needs a text")
    return [ev.InternalNoteAdded(at=command.at, technician=command.technician, text=text)]


@decide.register
def _(command: c.RecordCustomerMail, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if command.source_event_id in state.mailed_sources:
        return []  # a second replica, or a redelivery after the record landed
    return [ev.CustomerMailed(at=command.at, kind=command.kind,
                              source_event_id=command.source_event_id,
                              message_id=command.message_id)]


@decide.register
def _(command: c.RecordCustomerMailFailure, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if command.source_event_id in state.mailed_sources or any(
            f.source_event_id == command.source_event_id for f in state.mail_failures):
        return []  # sent after all, or recorded by another replica
    return [ev.CustomerMailFailed(at=command.at, kind=command.kind,
                                  source_event_id=command.source_event_id,
                                  error=command.error)]
