"""On ``CustomerReplied`` with ``redacted=True``: tell the customer, once, that credentials
were removed from their reply (docs/domain.md 2.3).

The one send-once protocol (:mod:`shared.application.sending`, docs/ack.md), in its own KV
bucket ``ack_notices`` with a key derived from the reply's event id. No event is recorded:
the finished claim (kept without expiry) is the record that the notice left, so claims are
the only thing that keeps a redelivery or a second replica from sending it again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from services.ack.handler import AckHandler
from services.ack.receipt import ReceiptSender, subject_text
from services.ack.templating import TEMPLATES
from shared.adapters.eventstore import RecordedEvent
from shared.application.sending import Mail, Outgoing, SendDeferred
from shared.domain import events as ev
from shared.domain.casenumber import subject_token
from shared.runtime.links import status_path

log = logging.getLogger(__name__)

NOTICE_BUCKET = "ack_notices"
# Short: the whole header fits on one line (a folded one can come back with a space).
SUBJECTS = {"de": "Zugangsdaten aus Ihrer Nachricht entfernt",
            "en": "Credentials removed from your message"}



class NoticeSendFailed(SendDeferred):
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
    message.set_content(TEMPLATES.get_template(f"notice.{language}.txt").render(context))
    message["Content-Language"] = language
    return message


@dataclass(kw_only=True)
class RedactionNoticeHandler(AckHandler):
    """Sends one notice per redacted customer reply."""


    async def __call__(self, recorded: RecordedEvent) -> None:
        reply = recorded.event
        if not isinstance(reply, ev.CustomerReplied) or not reply.redacted:
            return  # clean replies need no notice; auto-replies and quarantine never come here
        if self.too_old(recorded, "notice"):
            return
        case = recorded.ticket_id
        request = (await self.store.load(case, min_seq=recorded.seq)).state.request
        if request is None:
            log.warning("notice for %s: the ticket has no request, nothing sent", case)
            return
        key = notice_key(case, recorded.event_id)

        async def build() -> Mail:
            return build_notice(reply, request, key, self.sender, self.clock())

        # No recipient in the claim: it is kept for good and holds no personal data.
        await self.once.send_then_record(Outgoing(
            key=key, message_id=notice_message_id(key, self.sender.reply_to), build=build,
            what=f"notice for {case}", deferred=NoticeSendFailed))
