"""A new ticket opened by a technician from a held or quarantined mail (docs/console.md,
"Held mail").

The technician completes the request form, checked by the customer's rules
(``shared.domain.requestform``); the case number comes from the one allocator intake uses
too (``shared.adapters.casenumbers``: the day's shared counter), so numbers stay unique
and dated without oncall asking intake. The order makes a form sent twice, or a crash
midway, open one ticket:

1. the number is bound to the mail on its holder (``MailOpenedAsTicket`` naming the
   technician; the decider records it once per mail, a second form finds it there);
2. the new ticket is appended at version 0: ``RequestSubmitted`` (channel ``mail``), its
   ``AwaitingAcceptance`` for a customer without SLA, and the mail as the customer's first
   reply (``CustomerReplied`` with ``released_by``), with event ids derived from the mail.

A retry after step 1 finds the number and finishes step 2. The ack service sends the
receipt as for any ticket: it reacts to ``RequestSubmitted``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from services.oncall.heldmail import check_mail, mail_decision
from shared.adapters.casenumbers import COUNTER_BUCKET, CaseNumberAllocator
from shared.adapters.eventstore import ConcurrencyConflict, TicketHistory
from shared.adapters.provision import ensure_kv
from shared.application.handling import Cause, execute
from shared.domain import events as ev
from shared.domain.requestform import SupportRequest
from shared.domain.ticket import DomainError
from shared.domain.ticket import commands as c
from shared.domain.ticket.state import mail_id_of
from shared.runtime.context import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Opened:
    """The ticket of a mail; ``created`` False: an earlier form had opened it already."""

    case_number: str
    created: bool


class MailTickets:
    """Opens tickets from held mail; numbers from the shared case-number counter."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # One number at a time: a technician opens few tickets, blocks would leave gaps.
        self.allocator = CaseNumberAllocator(runtime.js, node_id=runtime.settings.intake.node_id,
                                             block_size=1)
        self._ready = False

    async def _next_number(self) -> str:
        if not self._ready:  # intake creates the counter bucket too; whoever starts first
            await ensure_kv(self.runtime.js, COUNTER_BUCKET,
                            replicas=self.runtime.settings.nats.replicas)
            self._ready = True
        return await self.allocator.next_number()

    async def open_ticket(self, holder: str, mail_id: str, technician: str,
                          request: SupportRequest, language: ev.intake.Language) -> Opened:
        """Open the ticket of ``request`` from the mail ``mail_id`` held on ``holder``."""
        check_mail(holder, mail_id)
        store = self.runtime.store
        history = await store.load(holder)
        mail = _mail(history, mail_id)
        case = _opened_case(history, mail_id)
        if case is None:
            if history.state.pending_mail(mail_id) is None:
                raise DomainError("mail_decided", "this mail was already released or discarded")
            number = await self._next_number()
            bound = await execute(
                store, holder,
                c.OpenTicketFromMail(at=_now(), technician=technician, mail_id=mail_id,
                                     case_number=number),
                cause=mail_decision(mail_id), history=history)
            case = number if bound.changed else _opened_case(bound.history, mail_id)
            if case is None:  # another technician released or discarded it meanwhile
                raise DomainError("mail_decided", "this mail was already released or discarded")
        assert mail is not None
        created = await self._create(case, holder, mail, technician, request, language)
        if created:
            log.info("ticket %s opened from mail %s on %s by %s", case, mail_id, holder,
                     technician)
        return Opened(case, created)

    async def _create(self, case: str, holder: str, mail: ev.PendingMail, technician: str,
                      request: SupportRequest, language: ev.intake.Language) -> bool:
        at = _now()
        submit = c.SubmitRequest(at=at, case_number=case, form=request, language=language,
                                 channel="mail",
                                 terms=self.runtime.settings.intake.service_terms())
        base = "from-mail-" + hashlib.sha256(
            f"{holder}/{mail_id_of(mail)}".encode()).hexdigest()[:32]
        try:
            await execute(self.runtime.store, case,
                          [submit, c.AttachMail(at=at, technician=technician, mail=mail)],
                          cause=Cause(base), new_ticket=True)
        except ConcurrencyConflict:
            # The ticket exists: opened by the first form, or (after a lost counter) the
            # number belongs to another ticket, which must not receive this mail.
            existing = await self.runtime.store.load(case)
            if existing.has_event_id(f"{base}-RequestSubmitted"):
                return False
            raise DomainError("case_number_taken",
                              f"case number {case} belongs to another ticket") from None
        return True


def _mail(history: TicketHistory, mail_id: str) -> ev.PendingMail | None:
    """The held or quarantined mail ``mail_id`` as it arrived (pending or decided)."""
    for recorded in history.events:
        event = recorded.event
        if isinstance(event, ev.ReplyHeld | ev.ReplyQuarantined) and mail_id_of(event) == mail_id:
            return event
    return None


def _opened_case(history: TicketHistory, mail_id: str) -> str | None:
    """The case number a ticket was opened under from this mail (None: not opened)."""
    for recorded in history.events:
        event = recorded.event
        if isinstance(event, ev.MailOpenedAsTicket) and event.mail_id == mail_id:
            return event.case_number
    return None


def _now() -> datetime:
    return datetime.now(UTC)
