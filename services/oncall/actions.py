"""Technician actions on a ticket: accept, decline, respond, acknowledge a page, resolve.

Plain async functions shared by the HTTP API, the acknowledge link and the technician
console. Each loads the ticket, lets the decider judge the command and appends what it
decides (retrying on concurrent writers). Refusals raise :class:`DomainError` with a stable
``code`` (``unknown_ticket``, ``invalid_case_number``, ``not_awaiting_acceptance``,
``reason_required``, ``not_paged_person``, ...); an empty ``Handled.events`` means the
action had already been done (e.g. a second acknowledgement) and nothing was stored.

Side effects (the mails to the customer: an answer, the acceptance, the decline's reason)
are not sent here: the ack service sends each once from the stored event, whoever
appended it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.oncall.answers import Upload, store_uploads
from shared.adapters.attachments import AttachmentStore
from shared.application.handling import Cause, Handled, execute, prepare
from shared.domain import events as ev
from shared.domain.ticket import commands as c
from shared.domain.ticket import require_case_number
from shared.runtime.runtime import Runtime


def _request(prefix: str, request_id: str | None = None) -> Cause:
    """A client's request: named by its id, so a retried call stores once; without one,
    every call is a new request."""
    return Cause(f"{prefix}-{request_id or uuid.uuid4().hex}")


async def accept(runtime: Runtime, case: str, technician: str, *,
                 at: datetime | None = None) -> Handled:
    """Accept a ticket of a customer without SLA (``TicketAccepted``)."""
    require_case_number(case)
    return await execute(runtime.store, case,
                         c.AcceptTicket(at=at or runtime.clock(), technician=technician),
                         cause=Cause(f"accept-{case}"))


async def decline(runtime: Runtime, case: str, technician: str, reason: str, *,
                  at: datetime | None = None) -> Handled:
    """Decline a ticket of a customer without SLA (``TicketDeclined``); a reason is required
    and is mailed to the customer once by the oncall service."""
    require_case_number(case)
    return await execute(runtime.store, case,
                         c.DeclineTicket(at=at or runtime.clock(), technician=technician,
                                         reason=reason),
                         cause=Cause(f"decline-{case}"))


async def respond(runtime: Runtime, case: str, technician: str, message: str = "", *,
                  at: datetime | None = None, request_id: str | None = None,
                  files: list[Upload] | None = None) -> Handled:
    """Record a technician's answer (``TechnicianResponded``); the first one stops the
    reaction and first-response clocks, and the ack service mails each one to the customer
    with its ``files`` (checked, then stored; FileRefused stores nothing). ``request_id``
    makes a retried call store once."""
    require_case_number(case)
    attachments: tuple[ev.AttachmentRef, ...] = ()
    history = None
    if files:
        # Refusals first (no ticket, not active, a file too large): then nothing is stored.
        respond = c.Respond(at=at or runtime.clock(), technician=technician)
        history = (await prepare(runtime.store, case, respond)).history
        attachments = await store_uploads(_attachments(runtime), files, runtime.settings)
    return await execute(runtime.store, case,
                         c.Respond(at=at or runtime.clock(), technician=technician, message=message,
                                   first_name=first_name(runtime, technician),
                                   attachments=attachments),
                         cause=_request(f"respond-{case}", request_id), history=history)


async def note(runtime: Runtime, case: str, technician: str, text: str, *,
               at: datetime | None = None, request_id: str | None = None) -> Handled:
    """Record an internal note (``InternalNoteAdded``): for technicians only, never mailed
    and never on the status page."""
    require_case_number(case)
    return await execute(runtime.store, case,
                         c.AddInternalNote(at=at or runtime.clock(), technician=technician,
                                           text=text),
                         cause=_request(f"note-{case}", request_id))


def first_name(runtime: Runtime, technician: str) -> str:
    """All the customer learns of a technician: the first word of the account's name."""
    account = runtime.accounts.technicians.get(technician)
    name = account.name if account is not None else ""
    return (name.split() or [""])[0]


def _attachments(runtime: Runtime) -> AttachmentStore:
    return AttachmentStore(runtime.js, runtime.settings.inbound_mail.attachments_bucket)


async def acknowledge(runtime: Runtime, case: str, technician: str, *,
                      at: datetime | None = None) -> Handled:
    """The paged technician takes the page (``OnCallAcknowledged``): re-notification and
    escalation stop. Only the currently paged person may; a second time stores nothing."""
    require_case_number(case)
    return await execute(runtime.store, case,
                         c.AcknowledgePage(at=at or runtime.clock(), technician=technician),
                         cause=Cause(f"page-ack-{case}"))


async def resolve(runtime: Runtime, case: str, technician: str, resolution: str = "", *,
                  at: datetime | None = None) -> Handled:
    """Resolve the ticket (``TicketResolved``); pending timers then do nothing."""
    require_case_number(case)
    return await execute(runtime.store, case,
                         c.ResolveTicket(at=at or runtime.clock(), technician=technician,
                                         resolution=resolution),
                         cause=_request(f"resolve-{case}"))

