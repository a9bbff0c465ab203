"""On ``RequestSubmitted``: send the receipt once, then append ``AckSent``.

The flow (reasoning in docs/ack.md):

1. Load the ticket. Receipt already recorded (or refused for good): nothing to do.
2. Claim the receipt in KV (``ack_receipts``). A finished claim of another replica means
   the mail left but AckSent is missing: append it, send nothing. A recent claim of
   another replica: retry later. A stale ``sending`` claim: take it over.
3. Send (bounded by half the claim timeout, so a live holder never outlasts its claim).
4. Right after the server accepted the mail, append ``AckSent`` (deterministic event id,
   idempotent) on the history loaded in step 1.
5. Only if that append did not land (another writer came first, NATS did not answer): mark
   the claim ``sent``, then append ``AckSent`` with reloads until it lands.

Temporary SMTP errors release the claim, append ``AckFailed`` (and ``ReceiptOverdue`` once
the promise is at risk) and raise, so the consumer redelivers with backoff; permanent
errors append ``AckFailed(permanent=True)`` and end the retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import nats.errors

from services.ack.receipt import ReceiptSender, receipt_mail, receipt_message_id
from shared.adapters.claims import Claim, ClaimStore
from shared.adapters.eventstore import (
    ConcurrencyConflict,
    EventStore,
    EventStoreError,
    RecordedEvent,
    TicketHistory,
)
from shared.adapters.mailer import Mailer, PermanentMailError, TemporaryMailError
from shared.adapters.metrics import RECEIPT_DELAY
from shared.application.handling import Cause, execute
from shared.domain import events as ev
from shared.domain.ticket import TicketState
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
# Test seam: awaited after each step ("claimed", "accepted", "marked") to inject crashes;
# "marked" only on the way where AckSent did not land at once.
StepHook = Callable[[str], Awaitable[None]]


class ReceiptSendFailed(Exception):
    """A temporary SMTP error: the consumer retries with backoff."""


async def _no_hook(step: str) -> None:
    return None


@dataclass
class ReceiptHandler:
    """Sends one ticket's receipt; collaborators are plugged in by the service."""

    store: EventStore
    claims: ClaimStore
    mailer: Mailer
    sender: ReceiptSender
    overdue_after: timedelta
    send_timeout_s: float
    clock: Clock
    step_hook: StepHook = _no_hook

    async def __call__(self, recorded: RecordedEvent) -> None:
        request = recorded.event
        if not isinstance(request, ev.RequestSubmitted):
            return
        case = recorded.ticket_id
        # Never decide on a history without the event being handled: a replica that has not
        # applied it yet would say "no such ticket" after the mail went out.
        history = await self.store.load(case, min_seq=recorded.seq)
        state = history.state
        if state.receipt_sent or state.receipt_failed_permanently:
            return  # redelivery after the work was done
        claim = await self.claims.claim(case, self.clock())
        if claim.record.state == "sent":  # crashed after the server took the mail
            log.info("receipt %s: already accepted by SMTP, recording AckSent", case)
            # The recipient comes from the request: the claim keeps no e-mail address
            # (claims outlive an erasure, the log's copy is encrypted).
            recipient = state.request.contact.email if state.request else ""
            await self._record_sent(recorded, claim.record.message_id, recipient)
            return
        if claim.taken_over_from is not None:
            # The load may have come from a lagging replica, and a claim stays "sending"
            # when AckSent was recorded at once: ask the stream's leader before resending.
            if await self.store.recorded_on_leader(case, "AckSent"):
                log.info("receipt %s: AckSent is in the log, nothing to resend", case)
                return
            log.warning("receipt %s: resending (same Message-ID) after %s stopped mid-send",
                        case, claim.taken_over_from.replica)
        await self.step_hook("claimed")
        await self._send(claim, recorded, request, history)

    async def _send(self, claim: Claim, recorded: RecordedEvent, request: ev.RequestSubmitted,
                    history: TicketHistory) -> None:
        case = claim.key
        message = receipt_mail(request, self.sender, self.clock())
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await self.mailer.send(message)
        except PermanentMailError as error:
            log.error("receipt %s refused for good: %s", case, error)
            await self._record_failure(recorded, request, str(error), permanent=True)
            return
        except (TemporaryMailError, TimeoutError) as error:
            reason = str(error) or "SMTP send timed out"
            await self.claims.release(claim)
            await self._record_failure(recorded, request, reason, permanent=False)
            raise ReceiptSendFailed(f"receipt {case}: {reason}") from error
        RECEIPT_DELAY.observe(max(0.0, (self.clock() - request.at).total_seconds()))
        await self.step_hook("accepted")
        message_id = receipt_message_id(case, self.sender.reply_to,
                                        self.sender.secret_key)
        recipient = request.contact.email
        # The first durable record right after the 250 closes the window in which a crash
        # means a resend: AckSent itself on the history loaded before sending (usually
        # still current), else the claim marked sent before AckSent is retried.
        try:
            await self._append_sent(recorded, message_id, recipient, history)
            return
        except ConcurrencyConflict:  # routine: a technician or a reply came first
            log.debug("receipt %s: the ticket changed while sending; recording again", case)
        except (nats.errors.Error, TimeoutError, EventStoreError) as error:
            # NATS did not answer or refused: the append may or may not be in the log.
            log.warning("receipt %s: AckSent not appended at once (%r)", case, error)
        except Exception as error:
            # Whatever else failed, the mail has left: a claim left "sending" would be taken
            # over later and the receipt sent twice, so the claim must say "sent" first.
            log.error("receipt %s: recording AckSent failed (%r); marking the claim sent",
                      case, error)
        await self.claims.mark_sent_retrying(claim, self.clock(), message_id=message_id)
        await self.step_hook("marked")
        await self._record_sent(recorded, message_id, recipient)

    async def _append_sent(self, recorded: RecordedEvent, message_id: str, recipient: str,
                           history: TicketHistory) -> None:
        """One attempt on the history loaded before sending; a conflict reaches the caller."""
        await execute(self.store, recorded.ticket_id, self._receipt(message_id, recipient),
                      cause=_cause(recorded), history=history, retry=False)

    async def _record_sent(self, recorded: RecordedEvent, message_id: str,
                           recipient: str) -> None:
        await execute(self.store, recorded.ticket_id, self._receipt(message_id, recipient),
                      cause=_cause(recorded))

    def _receipt(self, message_id: str, recipient: str) -> Command:
        return RecordReceipt(at=self.clock(), message_id=message_id, recipient=recipient)

    async def _record_failure(self, recorded: RecordedEvent, request: ev.RequestSubmitted,
                              error: str, *, permanent: bool) -> None:
        def commands(state: TicketState) -> list[Command]:
            now = self.clock()
            failed: list[Command] = [RecordReceiptFailure(
                at=now, attempt=state.receipt_attempts + 1, error=error[:500],
                permanent=permanent)]
            late = now - request.at
            if late <= self.overdue_after:
                return failed
            return [*failed, FlagReceiptOverdue(
                at=now, minutes_since_submission=int(late.total_seconds() // 60))]

        await execute(self.store, recorded.ticket_id, commands, cause=_cause(recorded))


def _cause(recorded: RecordedEvent) -> Cause:
    # The receipt's events are named after the ticket (handling.event_id): one of each.
    return Cause.answering(recorded, f"receipt-{recorded.ticket_id}")
