"""Builds the ack service and its collaborators from the process's Runtime."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from services.ack.conversation import CONVERSATION_BUCKET, CustomerMailHandler
from services.ack.decline import DeclineMailHandler
from services.ack.handler import RECEIPT_BUCKET, Clock, ReceiptHandler
from services.ack.notice import NOTICE_BUCKET, RedactionNoticeHandler
from services.ack.receipt import ReceiptSender
from services.ack.service import AckService
from shared.adapters.attachments import AttachmentStore
from shared.adapters.claims import ClaimStore
from shared.adapters.mailer import Mailer
from shared.application.sending import SendOnce
from shared.runtime.runtime import Runtime


def bootstrap(runtime: Runtime, *, clock: Clock | None = None) -> AckService:
    """The ack service: receipt and notice handlers on their send-once claims. Each
    replica has its own name in the claims (who holds a send, who may take it over)."""
    settings = runtime.settings
    clock = clock or runtime.clock  # tests give a fixed one
    replica = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    claim_timeout = timedelta(seconds=settings.ack.claim_timeout_s)
    claims = ClaimStore(runtime.js, RECEIPT_BUCKET, claim_timeout, replica=replica)
    # Notice claims are kept for good: no event records a notice (docs/ack.md).
    notice_claims = ClaimStore(runtime.js, NOTICE_BUCKET, claim_timeout, replica=replica,
                               ttl_s=None)
    # CustomerMailed is the lasting record of a conversation mail: its claims may expire.
    conversation_claims = ClaimStore(runtime.js, CONVERSATION_BUCKET, claim_timeout,
                                     replica=replica)
    sender = ReceiptSender(
        address=settings.smtp.sender, name=settings.smtp.sender_name,
        reply_to=settings.inbound_mail.support_address,
        public_url=runtime.public_url, secret_key=settings.secret_key)
    # One send attempt is cut off after half the claim timeout, so a live holder never
    # outlasts its claim. The mailer is replaced at start by the process's (SMTP or the
    # mail catcher).
    mailer = Mailer(settings.smtp)
    send_timeout_s = settings.ack.claim_timeout_s / 2

    def once(claims: ClaimStore) -> SendOnce:
        return SendOnce(claims, mailer, clock, send_timeout_s)

    answer_max_age = timedelta(hours=settings.ack.answer_max_age_hours)
    handler = ReceiptHandler(
        store=runtime.store, once=once(claims), sender=sender,
        overdue_after=timedelta(minutes=settings.ack.overdue_after_minutes), clock=clock)
    notices = RedactionNoticeHandler(
        store=runtime.store, once=once(notice_claims), sender=sender,
        max_age=timedelta(hours=settings.ack.notice_max_age_hours), clock=clock)
    conversation = CustomerMailHandler(
        store=runtime.store, once=once(conversation_claims),
        attachments=AttachmentStore(runtime.js, settings.inbound_mail.attachments_bucket),
        sender=sender, max_age=answer_max_age, reopen_days=settings.inbound_mail.reopen_days,
        clock=clock)
    declines = DeclineMailHandler(store=runtime.store, once=once(conversation_claims),
                                  sender=sender, max_age=answer_max_age, clock=clock)
    return AckService(runtime, claims=claims, notice_claims=notice_claims, handler=handler,
                      notices=notices, conversation_claims=conversation_claims,
                      conversation=conversation, declines=declines)
