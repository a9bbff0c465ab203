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

from services.oncall.heldmail import mail_decision
from shared.adapters.casenumbers import COUNTER_BUCKET, CaseNumberAllocator
from shared.adapters.eventstore import TicketHistory
from shared.adapters.provision import ensure_kv
from shared.application.handling import Cause, execute, load
from shared.domain import events as ev
from shared.domain.requestform import SupportRequest
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide import require_mail_id, require_open_mail
from shared.domain.ticket.state import mail_id_of
from shared.runtime.runtime import Runtime

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
                          request: SupportRequest, language: ev.request.Language) -> Opened:
        """Open the ticket of ``request`` from the mail ``mail_id`` held on ``holder``."""
        require_mail_id(holder, mail_id)
        store = self.runtime.store
        history = await load(store, holder)
        mail = _mail(history, mail_id)
        case = history.state.ticket_opened_from(mail_id)
        if case is None:
            require_open_mail(history.state, mail_id)  # refused before a number is taken
            number = await self._next_number()
            bound = await execute(
                store, holder,
                c.OpenTicketFromMail(at=self.runtime.clock(), technician=technician,
                                     mail_id=mail_id, case_number=number),
                cause=mail_decision(mail_id), history=history)
            case = bound.state.ticket_opened_from(mail_id)  # ours, or an earlier form's
            assert case is not None
        assert mail is not None
        created = await self._create(case, holder, mail, technician, request, language)
        if created:
            log.info("ticket %s opened from mail %s on %s by %s", case, mail_id, holder,
                     technician)
        return Opened(case, created)

    async def _create(self, case: str, holder: str, mail: ev.PendingMail, technician: str,
                      request: SupportRequest, language: ev.request.Language) -> bool:
        """Append the new ticket (False: an earlier form did). A number that belongs to
        another ticket (only after a lost counter bucket) is refused by the rules
        (``already_submitted``): that ticket must not receive this mail."""
        at = self.runtime.clock()
        submit = c.SubmitRequest(at=at, case_number=case, form=request, language=language,
                                 channel="mail",
                                 terms=self.runtime.settings.intake.service_terms())
        cause = Cause("from-mail-" + hashlib.sha256(
            f"{holder}/{mail_id_of(mail)}".encode()).hexdigest()[:32])
        existing = await load(self.runtime.store, case)
        if existing.has_event_id(cause.name_for("RequestSubmitted")):
            return False
        await execute(self.runtime.store, case,
                      [submit, c.AttachMail(at=at, technician=technician, mail=mail)],
                      cause=cause, history=existing)
        return True


def _mail(history: TicketHistory, mail_id: str) -> ev.PendingMail | None:
    """The held or quarantined mail ``mail_id`` as it arrived (pending or decided)."""
    for recorded in history.events:
        event = recorded.event
        if isinstance(event, ev.ReplyHeld | ev.ReplyQuarantined) and mail_id_of(event) == mail_id:
            return event
    return None
