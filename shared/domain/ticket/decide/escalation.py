"""Priority and SLA: the on-call page, its reminders and escalation, its acknowledgement,
the first-response deadline and its breach."""

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
def _(command: c.EscalatePriority, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    require(state.priority, "not_priority", "only priority tickets are escalated")
    if state.is_escalated:
        return []
    return [ev.PriorityEscalated(at=command.at, technician=command.technician,
                                 level=command.level,
                                 reaction_deadline=command.reaction_deadline)]


@decide.register
def _(command: c.SetResponseDeadline, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if state.response_deadline is not None:
        return []
    return [ev.ResponseDeadlineSet(at=command.at, deadline=command.deadline,
                                   calendar_version=command.calendar_version)]


@decide.register
def _(command: c.ReNotifyOnCall, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if not state.page_open or command.attempt <= state.renotify_count:
        return []
    return [ev.OnCallReNotified(at=command.at, technician=command.technician,
                                attempt=command.attempt)]


@decide.register
def _(command: c.EscalateOnCallLevel, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if not state.page_open or command.level <= state.escalation_level:
        return []
    return [ev.OnCallEscalated(at=command.at, technician=command.technician,
                               level=command.level)]


@decide.register
def _(command: c.AcknowledgePage, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    require(state.is_escalated, "not_paged", "this ticket has no page to acknowledge")
    if state.page_acknowledged_by is not None:
        return []  # acknowledging twice is harmless
    require(command.technician == state.paged_technician, "not_paged_person",
            "only the paged technician can acknowledge this page")
    return [ev.OnCallAcknowledged(at=command.at, technician=command.technician)]



@decide.register
def _(command: c.RecordSlaBreach, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if (command.clock in state.breached_clocks or state.first_response_at is not None
            or state.status not in ACTIVE | {"awaiting_acceptance"}):
        return []  # a timer firing for a ticket that no longer needs it does nothing
    return [ev.SlaBreached(at=command.at, clock=command.clock, deadline=command.deadline)]
