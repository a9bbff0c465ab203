"""The request and its receipt: the ticket begins, the customer gets the case number,
a request without SLA is accepted or declined."""

from __future__ import annotations

from shared.domain import events as ev
from shared.domain.requestform import request_event
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide.base import (
    decide,
    require,
    require_ticket,
)
from shared.domain.ticket.state import TicketState


@decide.register
def _(command: c.SubmitRequest, state: TicketState) -> list[ev.Event]:
    require(state.status == "new", "already_submitted", "the ticket already exists")
    request = request_event(command.form, case_number=command.case_number,
                            language=command.language, channel=command.channel,
                            terms=command.terms, at=command.at)
    if request.has_sla:
        return [request]
    return [request, ev.AwaitingAcceptance(at=command.at, customer_id=request.customer_id)]


@decide.register
def _(command: c.RecordReceipt, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if state.receipt_sent:
        return []
    return [ev.AckSent(at=command.at, message_id=command.message_id,
                       recipient=command.recipient)]


@decide.register
def _(command: c.RecordReceiptFailure, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if state.receipt_sent:
        return []
    return [ev.AckFailed(at=command.at, attempt=state.receipt_attempts + 1,
                         error=command.error, permanent=command.permanent)]


@decide.register
def _(command: c.FlagReceiptOverdue, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    if state.receipt_sent or state.receipt_overdue:
        return []
    return [ev.ReceiptOverdue(at=command.at,
                              minutes_since_submission=command.minutes_since_submission)]


@decide.register
def _(command: c.AcceptTicket, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    require(state.status == "awaiting_acceptance", "not_awaiting_acceptance",
            "only a ticket awaiting acceptance can be accepted")
    return [ev.TicketAccepted(at=command.at, technician=command.technician)]


@decide.register
def _(command: c.DeclineTicket, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    require(state.status == "awaiting_acceptance", "not_awaiting_acceptance",
            "only a ticket awaiting acceptance can be declined")
    require(bool(command.reason.strip()), "reason_required", "a decline needs a reason")
    return [ev.TicketDeclined(at=command.at, technician=command.technician,
                              reason=command.reason.strip())]
