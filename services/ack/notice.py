"""On ``CustomerReplied`` with ``redacted=True``: tell the customer, once, that credentials
were removed from their reply (docs/domain.md 2.3).

The same claim pattern as the receipt (docs/ack.md), in its own KV bucket ``ack_notices``
with a key derived from the reply's event id. No event is recorded: the finished claim
(kept without expiry) is the record that the notice left, so claims are the only thing
that keeps a redelivery or a second replica from sending it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.ack.handler import Clock
from services.ack.receipt import ReceiptSender, subject_text
from shared.adapters.claims import ClaimStore
from shared.adapters.eventstore import EventStore, RecordedEvent
from shared.adapters.mailer import Mailer, PermanentMailError, TemporaryMailError
from shared.domain import events as ev
from shared.domain.casenumber import subject_token
from shared.runtime.links import status_path

log = logging.getLogger(__name__)

NOTICE_BUCKET = "ack_notices"
# Short: the whole header fits on one line (a folded one can come back with a space).
SUBJECTS = {"de": "Zugangsdaten aus Ihrer Nachricht entfernt",
            "en": "Credentials removed from your message"}

_templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=False,  # plain text only
                         undefined=StrictUndefined, keep_trailing_newline=True,
                         auto_reload=False)


class NoticeSendFailed(Exception):
    """A temporary SMTP error: the consumer retries with backoff."""


def notice_key(case_number: str, reply_event_id: str) -> str:
    """The claim key of one reply's notice: the case and a digest of the event id (any
    text is safe as an event id, not as a KV key)."""
    return f"{case_number}.{hashlib.sha256(reply_event_id.encode()).hexdigest()[:16]}"


def notice_message_id(key: str, support_address: str) -> str:
    """Deterministic, so a resend after a crash carries the same id; short enough that
    the header is never folded (some parsers keep the fold's space in the id)."""
    domain = support_address.rpartition("@")[2] or "localhost"
    return f"<notice.{key}@{domain}>"


def build_notice(reply: ev.CustomerReplied, request: ev.RequestSubmitted, key: str,
                 sender: ReceiptSender, now: datetime) -> EmailMessage:
    """The short notice to the reply's sender, in the ticket's language."""
    case = request.case_number
    language = request.language if request.language in ("de", "en") else "de"
    is_contact = reply.sender.lower() == request.contact.email.lower()
    name = request.contact.full_name if is_contact else ""
    context = {
        "name": name,
        "case_number": case, "subject": subject_text(reply.subject),
        "status_url": sender.public_url.rstrip("/") + status_path(sender.secret_key, case),
        "sender_name": sender.name,
    }
    message = EmailMessage()
    message["From"] = formataddr((sender.name, sender.address))
    message["To"] = formataddr((name, reply.sender))
    message["Reply-To"] = sender.reply_to
    message["Subject"] = f"{subject_token(case)} {SUBJECTS[language]}"
    message["Message-ID"] = notice_message_id(key, sender.reply_to)
    if reply.message_id:
        message["In-Reply-To"] = reply.message_id
        message["References"] = reply.message_id
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(_templates.get_template(f"notice.{language}.txt").render(context))
    message["Content-Language"] = language
    return message


@dataclass
class RedactionNoticeHandler:
    """Sends one notice per redacted customer reply; collaborators plugged in by the service."""

    store: EventStore
    claims: ClaimStore
    mailer: Mailer
    sender: ReceiptSender
    max_age: timedelta
    send_timeout_s: float
    clock: Clock

    async def __call__(self, recorded: RecordedEvent) -> None:
        reply = recorded.event
        if not isinstance(reply, ev.CustomerReplied) or not reply.redacted:
            return  # clean replies need no notice; auto-replies and quarantine never come here
        case = recorded.ticket_id
        if self.clock() - reply.at > self.max_age:
            # e.g. the consumer was created on a log with old replies: too late to help.
            log.info("notice for %s (%s) skipped: the reply is too old", case,
                     recorded.event_id)
            return
        key = notice_key(case, recorded.event_id)
        claim = await self.claims.claim(key, self.clock())  # raises ClaimBusy
        if claim.finished:
            return  # sent (or refused for good) before: a redelivery or another replica
        request = (await self.store.load(case, min_seq=recorded.seq)).state.request
        if request is None:
            log.warning("notice for %s: the ticket has no request, nothing sent", case)
            await self.claims.mark_sent_retrying(claim, self.clock(), state="refused")
            return
        message = build_notice(reply, request, key, self.sender, self.clock())
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await self.mailer.send(message)
        except PermanentMailError as error:
            log.error("notice for %s refused for good: %s", case, error)
            await self.claims.mark_sent_retrying(claim, self.clock(), state="refused",
                                                 message_id=str(message["Message-ID"]))
            return
        except (TemporaryMailError, TimeoutError) as error:
            await self.claims.release(claim)
            raise NoticeSendFailed(f"notice for {case}: {error or 'timed out'}") from error
        # No recipient in the claim: it is kept for good and holds no personal data.
        await self.claims.mark_sent_retrying(claim, self.clock(),
                                             message_id=str(message["Message-ID"]))
