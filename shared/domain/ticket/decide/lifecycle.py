"""The end of a ticket's work: resolved, reopened, closed, its personal data erased."""

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
def _(command: c.ResolveTicket, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    require(state.status in ACTIVE, "not_active",
            f"a {state.status.replace('_', ' ')} ticket cannot be resolved")
    return [ev.TicketResolved(at=command.at, technician=command.technician,
                              resolution=command.resolution)]


@decide.register
def _(command: c.ReopenTicket, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    require(state.status == "resolved", "not_resolved", "only a resolved ticket is reopened")
    return [ev.TicketReopened(at=command.at, by=command.by, reason=command.reason)]


@decide.register
def _(command: c.CloseTicket, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if state.status == "closed":
        return []
    require(state.status in {"resolved", "declined", "invoiced"}, "not_resolved",
            "resolve the ticket before closing it")
    return [ev.TicketClosed(at=command.at, by=command.by)]


@decide.register
def _(command: c.RecordErasure, state: TicketState) -> list[ev.Event]:
    # No ticket check: a quarantine entry holds personal data too.
    if state.personal_data_erased:
        return []
    return [ev.PersonalDataErased(at=command.at, by=command.by, reason=command.reason)]
