"""Send once, then record: the one protocol of every mail that must leave exactly once (the
receipt, the conversation's mails, the notices, the decline mail, on-call's pages).

1. Claim the mail's key in KV (:mod:`shared.adapters.claims`): one replica sends at a
   time. A finished claim means the mail left (``sent``: record it, send nothing) or was
   refused for good (``refused``: record that); a recent claim of another replica raises
   ClaimBusy (retried later); a ``sending`` claim older than the timeout belongs to a
   crashed replica and is taken over, after asking whether the mail was recorded
   meanwhile.
2. Send, bounded by ``timeout_s`` (half the claim timeout, so a live holder never outlasts
   its claim). A temporary error gives the claim back and raises ``deferred`` (the consumer
   retries with backoff); a permanent one marks the claim ``refused`` and records the
   refusal, unless the caller retries refusals too (a page must reach somebody).
3. Right after the server took the mail, record it (e.g. append ``AckSent``) in one attempt
   on the history loaded before sending: the first durable record closes the window in
   which a crash means a resend. Only if that did not land is the claim marked ``sent``
   first and the record retried with reloads until it lands. A mail without an event of
   its own (a notice, a page) has its finished claim as its record.

The one crash window left: the server took the mail and the process died before anything
was recorded; then the mail goes out again, with the same Message-ID, so mail clients
show it once (docs/ack.md measures it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from shared.adapters.claims import ClaimStore
from shared.adapters.eventstore import UNANSWERED, ConcurrencyConflict
from shared.adapters.mailer import Mailer, OutgoingMail, PermanentMailError, TemporaryMailError

log = logging.getLogger(__name__)

Mail = EmailMessage | OutgoingMail
# Records that the mail with this Message-ID left. ``at_once``: one attempt on the history
# loaded before sending (a conflict reaches the protocol); otherwise retried until it lands.
Record = Callable[[str, bool], Awaitable[None]]
# Records that the mail server refused the mail for good (with its answer).
RecordRefusal = Callable[[str], Awaitable[None]]
# Test seam: awaited after each step ("claimed", "accepted", "marked") to inject crashes;
# "marked" only on the way where the record did not land at once.
StepHook = Callable[[str], Awaitable[None]]


class SendDeferred(Exception):
    """A temporary failure: the consumer retries with backoff."""


async def _no_hook(step: str) -> None:
    return None


@dataclass
class Outgoing:
    """One mail to send once. ``key``: its claim; ``message_id``: its Message-ID, the same
    on every resend; ``build``: the mail, built only by the replica that sends it;
    ``what``: how logs name it."""

    key: str
    message_id: str
    build: Callable[[], Awaitable[Mail]]
    what: str
    record: Record | None = None
    refused: RecordRefusal | None = None
    # Temporary failure (its reason): recorded before the retry (the receipt's AckFailed).
    failed: RecordRefusal | None = None
    # Asked when a crashed replica's claim is taken over: was the mail recorded meanwhile?
    recorded_meanwhile: Callable[[], Awaitable[bool]] | None = None
    deferred: type[Exception] = SendDeferred
    retry_refusals: bool = False


@dataclass
class SendOnce:
    """The protocol's collaborators: the claims, the mailer, the clock."""

    claims: ClaimStore
    mailer: Mailer
    clock: Callable[[], datetime]
    timeout_s: float | None = None
    step_hook: StepHook = field(default=_no_hook)

    async def send_then_record(self, mail: Outgoing) -> bool:
        """Send ``mail`` unless it left already, then record it; True if this call sent
        it. Raises ClaimBusy while another replica is at it, ``mail.deferred`` after a
        temporary failure."""
        claim = await self.claims.claim(mail.key, self.clock())
        if claim.record.state == "sent":  # crashed after the server took the mail
            if mail.record is not None:
                log.info("%s: already accepted by SMTP, recording it", mail.what)
                await mail.record(claim.record.message_id or mail.message_id, False)
            return False
        if claim.record.state == "refused":  # crashed before the refusal was recorded?
            if mail.refused is not None:
                await mail.refused("refused by the mail server")
            return False
        if claim.taken_over_from is not None:
            if mail.recorded_meanwhile is not None and await mail.recorded_meanwhile():
                log.info("%s: recorded meanwhile, nothing to resend", mail.what)
                return False
            log.warning("%s: resending (same Message-ID) after %s stopped mid-send",
                        mail.what, claim.taken_over_from.replica)
        await self.step_hook("claimed")
        try:
            message = await mail.build()
        except BaseException:
            await self.claims.release(claim)  # nothing was sent
            raise
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.mailer.send(message)
        except PermanentMailError as error:
            if mail.retry_refusals:
                await self.claims.release(claim)
                raise
            log.error("%s refused for good: %s", mail.what, error)
            await self.claims.mark_sent_retrying(claim, self.clock(), state="refused",
                                                 message_id=mail.message_id)
            if mail.refused is not None:
                await mail.refused(str(error))
            return False
        except (TemporaryMailError, TimeoutError) as error:
            reason = str(error) or "SMTP send timed out"
            await self.claims.release(claim)
            log.debug("%s: temporary failure, retrying: %s", mail.what, reason)
            if mail.failed is not None:
                await mail.failed(reason)
            raise mail.deferred(f"{mail.what}: {reason}") from error
        await self.step_hook("accepted")
        if mail.record is not None and await self._recorded_at_once(mail):
            return True
        # No event records it, or the record did not land: the claim says "sent" before
        # anything else, so a takeover never sends again.
        await self.claims.mark_sent_retrying(claim, self.clock(), message_id=mail.message_id)
        if mail.record is not None:
            await self.step_hook("marked")
            await mail.record(mail.message_id, False)
        return True

    async def _recorded_at_once(self, mail: Outgoing) -> bool:
        assert mail.record is not None
        try:
            await mail.record(mail.message_id, True)
            return True
        except ConcurrencyConflict:  # routine: a technician or a reply came first
            log.debug("%s: the ticket changed while sending; recording again", mail.what)
        except UNANSWERED as error:
            # NATS did not answer or refused: the append may or may not be in the log.
            log.warning("%s: not recorded at once (%r)", mail.what, error)
        except Exception as error:
            # Whatever else failed, the mail has left: a claim left "sending" would be
            # taken over later and the mail sent twice, so the claim must say "sent" first.
            log.error("%s: recording failed (%r); marking the claim sent", mail.what, error)
        return False
