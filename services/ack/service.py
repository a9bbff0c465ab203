"""The ack service: the receipt mail with the case number, exactly once per ticket, and
the notice that credentials were removed from a customer reply, exactly once per reply.

Consumes ``RequestSubmitted`` (durable ``ack-receipts``), sends the receipt through SMTP
and appends ``AckSent``; failures become ``AckFailed`` / ``ReceiptOverdue``. Consumes
``CustomerReplied`` (durable ``ack-notices``) and mails a notice for redacted replies.
Consumes ``TechnicianResponded``, ``TicketAccepted`` and ``TicketResolved`` (durable
``ack-conversation``) and mails each answer and notification to the customer once,
recording ``CustomerMailed``; on ``TicketDeclined`` (the same durable) it mails the reason
once. Every mail to a customer comes from this service. Without a
configured SMTP server it runs the embedded mail catcher and shows its mails on
``/outbox``. How "exactly once" holds is explained in docs/ack.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from services.ack.conversation import CustomerMailHandler
from services.ack.decline import DeclineMailHandler
from services.ack.handler import ReceiptHandler
from services.ack.notice import RedactionNoticeHandler
from services.ack.outbox import outbox_router
from shared.adapters.claims import ClaimStore
from shared.adapters.consumer import ConsumerSpec
from shared.adapters.eventstore import RecordedEvent
from shared.adapters.mailcatcher import MailCatcher
from shared.application.sending import SendOnce, StepHook
from shared.domain import events as ev
from shared.runtime.runtime import Runtime

DURABLE = "ack-receipts"
NOTICES_DURABLE = "ack-notices"
CONVERSATION_DURABLE = "ack-conversation"
# Never give up on a receipt: with the backoff's last step repeating, this is years.
MAX_DELIVER = 1_000_000


class AckService:
    """Receipts, notices and the conversation's mails; built with its collaborators by
    services.ack.bootstrap."""

    name = "ack"

    def __init__(self, runtime: Runtime, *, claims: ClaimStore, notice_claims: ClaimStore,
                 handler: ReceiptHandler, notices: RedactionNoticeHandler,
                 conversation_claims: ClaimStore,
                 conversation: CustomerMailHandler, declines: DeclineMailHandler) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.claims = claims
        self.notice_claims = notice_claims
        self.handler = handler
        self.notices = notices
        self.conversation_claims = conversation_claims
        self.conversation = conversation
        self.declines = declines
        self.catcher: MailCatcher | None = None

    @property
    def outbox_dir(self) -> Path:
        return self.settings.data_dir / "outbox"

    def set_step_hook(self, hook: StepHook) -> None:
        """Tests: run ``hook(step)`` after each step of a receipt's send (to inject
        crashes)."""
        self.handler.once.step_hook = hook

    @property
    def mailers(self) -> list[SendOnce]:
        """Every handler's send-once protocol (they share the process's mailer)."""
        return [self.handler.once, self.notices.once, self.conversation.once,
                self.declines.once]

    async def on_conversation(self, recorded: RecordedEvent) -> None:
        """The conversation's durable: answers and notifications, and the decline mail."""
        if isinstance(recorded.event, ev.TicketDeclined):
            await self.declines(recorded)
        else:
            await self.conversation(recorded)

    def consumers(self) -> list[ConsumerSpec]:
        ack = self.settings.ack
        return [ConsumerSpec(
            DURABLE, ["tickets.*.RequestSubmitted"], self.handler,
            max_deliver=MAX_DELIVER, backoff_s=ack.retry_backoff_s,
            # A send may take up to half the claim timeout; redelivery meanwhile only
            # finds the claim busy, so ack_wait is about crashed replicas, not slow ones.
            ack_wait_s=ack.ack_wait_s, batch=16),
            ConsumerSpec(NOTICES_DURABLE, ["tickets.*.CustomerReplied"], self.notices,
                         max_deliver=MAX_DELIVER, backoff_s=ack.retry_backoff_s,
                         ack_wait_s=ack.ack_wait_s, batch=16),
            ConsumerSpec(CONVERSATION_DURABLE,
                         ["tickets.*.TechnicianResponded", "tickets.*.TicketAccepted",
                          "tickets.*.TicketResolved", "tickets.*.TicketDeclined"],
                         self.on_conversation,
                         max_deliver=MAX_DELIVER, backoff_s=ack.retry_backoff_s,
                         ack_wait_s=ack.ack_wait_s, batch=16)]

    def router(self) -> APIRouter | None:
        return outbox_router(lambda: self.outbox_dir if self.catcher is not None else None)

    async def start(self) -> None:
        await self.claims.ensure_bucket(self.settings.nats.replicas)
        await self.notice_claims.ensure_bucket(self.settings.nats.replicas)
        await self.conversation_claims.ensure_bucket(self.settings.nats.replicas)
        if self.settings.smtp.host is None:
            self.catcher = await self.runtime.local_mail.catcher_started()
        mailer = await self.runtime.local_mail.mailer()
        for once in self.mailers:
            once.mailer = mailer

    async def stop(self) -> None:
        for mailer in {id(once.mailer): once.mailer for once in self.mailers}.values():
            await mailer.close()
        self.catcher = None  # the process's catcher is stopped by the runtime

    async def health(self) -> dict[str, object]:
        """Nothing beyond its consumers' lag."""
        return {}

    def announce(self) -> list[str]:
        if self.catcher is None:
            return [f"receipts via SMTP:     {self.settings.smtp.host}:"
                    f"{self.settings.smtp.port}"]
        return [f"receipts (mail catcher):  {self.runtime.public_url}/outbox"]
