"""Technician actions on a ticket: accept, decline, respond, acknowledge a page, resolve.

Plain async functions shared by the HTTP API, the acknowledge link and the technician
console. Each loads the ticket, lets the decider judge the command and appends what it
decides (retrying on concurrent writers). Refusals raise :class:`DomainError` with a stable
``code`` (``unknown_ticket``, ``invalid_case_number``, ``not_awaiting_acceptance``,
``reason_required``, ``not_paged_person``, ...); an empty ``Handled.events`` means the
action had already been done (e.g. a second acknowledgement) and nothing was stored.

Side effects (the decline mail to the customer) are not sent here: the oncall service sends
them once from the stored event, whoever appended it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.application.handling import EventIdFor, Handled, execute
from shared.domain.casenumber import is_valid_case_number
from shared.domain.ticket import DomainError
from shared.domain.ticket import commands as c
from shared.runtime.context import Runtime


def _now() -> datetime:
    return datetime.now(UTC)


def check_case(case: str) -> str:
    """``case`` if it is a well-formed case number with a matching check digit."""
    if not is_valid_case_number(case):
        raise DomainError("invalid_case_number", f"{case!r} is not a valid case number")
    return case


def _fixed(event_id: str) -> EventIdFor:
    return lambda event: f"{event_id}-{type(event).__name__}"


def _random(prefix: str) -> EventIdFor:
    token = uuid.uuid4().hex
    return lambda event: f"{prefix}-{token}-{type(event).__name__}"


async def accept(runtime: Runtime, case: str, technician: str, *,
                 at: datetime | None = None) -> Handled:
    """Accept a ticket of a customer without SLA (``TicketAccepted``)."""
    check_case(case)
    return await execute(runtime.store, case,
                         lambda s: c.AcceptTicket(at=at or _now(), technician=technician),
                         _fixed(f"accept-{case}"))


async def decline(runtime: Runtime, case: str, technician: str, reason: str, *,
                  at: datetime | None = None) -> Handled:
    """Decline a ticket of a customer without SLA (``TicketDeclined``); a reason is required
    and is mailed to the customer once by the oncall service."""
    check_case(case)
    if not reason.strip():
        raise DomainError("reason_required", "a decline needs a reason")
    return await execute(runtime.store, case,
                         lambda s: c.DeclineTicket(at=at or _now(), technician=technician,
                                                   reason=reason),
                         _fixed(f"decline-{case}"))


async def respond(runtime: Runtime, case: str, technician: str, message: str = "", *,
                  at: datetime | None = None, request_id: str | None = None) -> Handled:
    """Record a technician's response (``TechnicianResponded``); the first one stops the
    reaction and first-response clocks. ``request_id`` makes a retried call store once."""
    check_case(case)
    ids = _fixed(f"respond-{case}-{request_id}") if request_id else _random(f"respond-{case}")
    return await execute(runtime.store, case,
                         lambda s: c.Respond(at=at or _now(), technician=technician,
                                             message=message), ids)


async def acknowledge(runtime: Runtime, case: str, technician: str, *,
                      at: datetime | None = None) -> Handled:
    """The paged technician takes the page (``OnCallAcknowledged``): re-notification and
    escalation stop. Only the currently paged person may; a second time stores nothing."""
    check_case(case)
    return await execute(runtime.store, case,
                         lambda s: c.AcknowledgePage(at=at or _now(), technician=technician),
                         _fixed(f"page-ack-{case}"))


async def resolve(runtime: Runtime, case: str, technician: str, resolution: str = "", *,
                  at: datetime | None = None) -> Handled:
    """Resolve the ticket (``TicketResolved``); pending timers then do nothing."""
    check_case(case)
    return await execute(runtime.store, case,
                         lambda s: c.ResolveTicket(at=at or _now(), technician=technician,
                                                   resolution=resolution),
                         _random(f"resolve-{case}"))

