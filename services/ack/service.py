"""The ack service: the receipt mail with the case number, exactly once per ticket, and
the notice that credentials were removed from a customer reply, exactly once per reply.

Consumes ``RequestSubmitted`` (durable ``ack-receipts``), sends the receipt through SMTP
and appends ``AckSent``; failures become ``AckFailed`` / ``ReceiptOverdue``. Consumes
``CustomerReplied`` (durable ``ack-notices``) and mails a notice for redacted replies. Without a
configured SMTP server it runs the embedded mail catcher and shows its mails on
``/outbox``. How "exactly once" holds is explained in docs/ack.md.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import APIRouter

from services.ack.handler import RECEIPT_BUCKET, Clock, ReceiptHandler, StepHook
from services.ack.notice import NOTICE_BUCKET, RedactionNoticeHandler
from services.ack.outbox import outbox_router
from services.ack.receipt import ReceiptSender
from shared.adapters.claims import ClaimStore
from shared.adapters.consumer import ConsumerSpec
from shared.adapters.mailcatcher import MailCatcher
from shared.adapters.mailer import Mailer, local_catcher, mailer_for, stop_local_catcher
from shared.runtime.context import Runtime

DURABLE = "ack-receipts"
NOTICES_DURABLE = "ack-notices"
# Never give up on a receipt: with the backoff's last step repeating, this is years.
MAX_DELIVER = 1_000_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AckService:
    name = "ack"

    def __init__(self, runtime: Runtime, *, clock: Clock = _utcnow) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.clock = clock
        self.replica = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.catcher: MailCatcher | None = None
        claim_timeout = timedelta(seconds=self.settings.ack.claim_timeout_s)
        self.claims = ClaimStore(runtime.js, RECEIPT_BUCKET, claim_timeout,
                                 replica=self.replica)
        # Notice claims are kept for good: no event records a notice (docs/ack.md).
        self.notice_claims = ClaimStore(runtime.js, NOTICE_BUCKET, claim_timeout,
                                        replica=self.replica, ttl_s=None)
        sender = ReceiptSender(
            address=self.settings.smtp.sender, name=self.settings.smtp.sender_name,
            reply_to=self.settings.inbound_mail.support_address,
            public_url=runtime.public_url, secret_key=self.settings.secret_key)
        self.handler = ReceiptHandler(
            store=runtime.store, claims=self.claims, mailer=Mailer(self.settings.smtp),
            sender=sender,
            overdue_after=timedelta(minutes=self.settings.ack.overdue_after_minutes),
            send_timeout_s=self.settings.ack.claim_timeout_s / 2,
            clock=clock)
        self.notices = RedactionNoticeHandler(
            store=runtime.store, claims=self.notice_claims, mailer=Mailer(self.settings.smtp),
            sender=sender, max_age=timedelta(hours=self.settings.ack.notice_max_age_hours),
            send_timeout_s=self.settings.ack.claim_timeout_s / 2, clock=clock)

    @property
    def outbox_dir(self) -> Path:
        return self.settings.data_dir / "outbox"

    def set_step_hook(self, hook: StepHook) -> None:
        """Tests: run ``hook(step)`` after each step of a send (to inject crashes)."""
        self.handler.step_hook = hook

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
                         ack_wait_s=ack.ack_wait_s, batch=16)]

    def router(self) -> APIRouter | None:
        return outbox_router(lambda: self.outbox_dir if self.catcher is not None else None)

    async def start(self) -> None:
        await self.claims.ensure_bucket(self.settings.nats.replicas)
        await self.notice_claims.ensure_bucket(self.settings.nats.replicas)
        if self.settings.smtp.host is None:
            self.catcher = await local_catcher(self.runtime)
        self.handler.mailer = self.notices.mailer = await mailer_for(self.runtime)

    async def stop(self) -> None:
        await self.handler.mailer.close()
        if self.notices.mailer is not self.handler.mailer:
            await self.notices.mailer.close()
        if self.catcher is not None:
            await stop_local_catcher(self.runtime)
            self.catcher = None

    def announce(self) -> list[str]:
        if self.catcher is None:
            return [f"receipts via SMTP:     {self.settings.smtp.host}:"
                    f"{self.settings.smtp.port}"]
        return [f"receipts (mail catcher):  {self.runtime.public_url}/outbox"]


def create_service(runtime: Runtime) -> AckService:
    return AckService(runtime)
