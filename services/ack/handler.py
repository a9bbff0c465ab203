"""On ``RequestSubmitted``: send the receipt once, then append ``AckSent``.

The receipt goes through the one send-once protocol (:mod:`shared.application.sending`,
reasoning in docs/ack.md) under the claim ``ack_receipts/<case>``: loaded first, nothing is
sent for a receipt already recorded (or refused for good); ``AckSent`` is appended right
after the SMTP server took the mail, on the history loaded before sending. A crashed
replica's claim is taken over only after the stream's leader confirms that ``AckSent`` is
not in the log.

Temporary SMTP errors release the claim, append ``AckFailed`` (and ``ReceiptOverdue`` once
the promise is at risk) and raise, so the consumer redelivers with backoff; permanent
errors append ``AckFailed(permanent=True)`` and end the retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.ack.receipt import ReceiptSender, receipt_mail, receipt_message_id
from shared.adapters.eventstore import EventStore, RecordedEvent, TicketHistory
from shared.adapters.metrics import RECEIPT_DELAY
from shared.application.handling import Cause, execute
from shared.application.sending import Mail, Outgoing, SendDeferred, SendOnce
from shared.domain import events as ev
from shared.domain.ticket.commands import (
    Command,
    FlagReceiptOverdue,
    RecordReceipt,
    RecordReceiptFailure,
)

log = logging.getLogger(__name__)

# Receipt claims, key: the case number. They expire: AckSent is the lasting record.
RECEIPT_BUCKET = "ack_receipts"

Clock = Callable[[], datetime]


class ReceiptSendFailed(SendDeferred):
    """A temporary SMTP error: the consumer retries with backoff."""


@dataclass(kw_only=True)
class AckHandler:
    """What each of the ack service's handlers works with: the log, the send-once protocol,
    who its mails come from, the clock (plugged in by the service), and how old an event
    may be to be mailed about (None: any age)."""

    store: EventStore
    once: SendOnce
    sender: ReceiptSender
    clock: Clock
    max_age: timedelta | None = None

    def too_old(self, recorded: RecordedEvent, what: str) -> bool:
        """Whether the event is too old to mail about (e.g. a consumer created on a log
        with old events): the customer would only be confused."""
        if self.max_age is None or self.clock() - recorded.event.at <= self.max_age:
            return False
        log.warning("%s for %s (%s) skipped: the event is too old", what,
                    recorded.ticket_id, recorded.event_id)
        return True


@dataclass(kw_only=True)
class ReceiptHandler(AckHandler):
    """Sends one ticket's receipt, however late (a receipt is never too old)."""

    overdue_after: timedelta

    async def __call__(self, recorded: RecordedEvent) -> None:
        case, request = recorded.ticket_id, recorded.event
        if not isinstance(request, ev.RequestSubmitted):
            return
        # Never decide on a history without the event being handled: a replica that has not
        # applied it yet would say "no such ticket" after the mail went out.
        history = await self.store.load(case, min_seq=recorded.seq)
        state = history.state
        if state.receipt_sent or state.receipt_failed_permanently:
            return  # redelivery after the work was done
        if await self.once.send_then_record(self._receipt(recorded, request, history)):
            RECEIPT_DELAY.observe(max(0.0, (self.clock() - request.at).total_seconds()))

    def _receipt(self, recorded: RecordedEvent, request: ev.RequestSubmitted,
                 history: TicketHistory) -> Outgoing:
        case = recorded.ticket_id
        # The recipient comes from the request: the claim keeps no e-mail address (claims
        # outlive an erasure, the log's copy is encrypted).
        recipient = request.contact.email
        cause = Cause.answering(recorded, f"receipt-{case}")  # named after the ticket

        async def build() -> Mail:
            return receipt_mail(request, self.sender, self.clock())

        async def record(message_id: str, at_once: bool) -> None:
            command = RecordReceipt(at=self.clock(), message_id=message_id,
                                    recipient=recipient)
            await execute(self.store, case, command, cause=cause,
                          history=history if at_once else None, retry=not at_once)

        async def record_failure(error: str, permanent: bool) -> None:
            await execute(self.store, case, self._failure(request, error, permanent),
                          cause=cause)

        async def recorded_meanwhile() -> bool:
            # The load may have come from a lagging replica, and a claim stays "sending"
            # when AckSent was recorded at once: ask the stream's leader before resending.
            return await self.store.recorded_on_leader(case, "AckSent")

        return Outgoing(
            key=case, what=f"receipt {case}", build=build, record=record,
            message_id=receipt_message_id(case, self.sender.reply_to, self.sender.secret_key),
            refused=lambda error: record_failure(error, True),
            failed=lambda error: record_failure(error, False),
            recorded_meanwhile=recorded_meanwhile, deferred=ReceiptSendFailed)

    def _failure(self, request: ev.RequestSubmitted, error: str,
                 permanent: bool) -> list[Command]:
        now = self.clock()
        failed: list[Command] = [RecordReceiptFailure(at=now, error=error[:500],
                                                      permanent=permanent)]
        late = now - request.at
        if late <= self.overdue_after:
            return failed
        return [*failed, FlagReceiptOverdue(
            at=now, minutes_since_submission=int(late.total_seconds() // 60))]
