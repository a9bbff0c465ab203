"""On ``TicketDeclined``: tell the customer, once, that and why their request was declined.

Customer mail is the ack service's: the decline mail goes through the one send-once
protocol (:mod:`shared.application.sending`) like the receipt, with its claim in the bucket
``ack_conversation``. No event records it (the finished claim does); like the other mails
of the conversation it is sent only while the decline is younger than
``TICKETCORE_ACK__ANSWER_MAX_AGE_HOURS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from services.ack.conversation import conversation_key
from services.ack.handler import AckHandler
from services.ack.receipt import ReceiptSender
from services.ack.templating import TEMPLATES
from shared.adapters.eventstore import RecordedEvent
from shared.application.sending import Mail, Outgoing
from shared.domain import events as ev
from shared.domain.casenumber import subject_token

log = logging.getLogger(__name__)

SUBJECTS = {"de": "Ihre Anfrage {case} wurde abgelehnt",
            "en": "Your request {case} was declined"}


def decline_message_id(case: str, sender_address: str) -> str:
    """One per ticket (a ticket is declined once), the same on a resend."""
    return f"<decline-{case}@{sender_address.rpartition('@')[2] or 'ticketcore.invalid'}>"


def build_decline_mail(request: ev.RequestSubmitted, declined: ev.TicketDeclined,
                       sender: ReceiptSender) -> EmailMessage:
    """The mail telling the customer that (and why) the request was declined."""
    language = request.language if request.language in SUBJECTS else "de"
    case = request.case_number
    message = EmailMessage()
    message["From"] = formataddr((sender.name, sender.address))
    message["To"] = formataddr((request.contact.full_name, request.contact.email))
    message["Reply-To"] = sender.reply_to
    message["Subject"] = f"{subject_token(case)} {SUBJECTS[language].format(case=case)}"
    message["Message-ID"] = decline_message_id(case, sender.address)
    message["Date"] = format_datetime(declined.at.astimezone(UTC))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(TEMPLATES.get_template(f"declined.{language}.txt").render(
        name=request.contact.full_name, case_number=case, title=request.short_description,
        reason=declined.reason, sender_name=sender.name))
    return message


@dataclass(kw_only=True)
class DeclineMailHandler(AckHandler):
    """Mails the reason of one declined request."""


    async def __call__(self, recorded: RecordedEvent) -> None:
        declined = recorded.event
        if not isinstance(declined, ev.TicketDeclined) or \
                self.too_old(recorded, "decline mail"):
            return
        case = recorded.ticket_id
        state = (await self.store.load(case, min_seq=recorded.seq)).state
        request = state.request
        if request is None or state.personal_data_erased:
            log.info("decline mail for %s not sent: no readable contact", case)
            return

        async def build() -> Mail:
            assert request is not None
            return build_decline_mail(request, declined, self.sender)

        await self.once.send_then_record(Outgoing(
            key=conversation_key(case, "declined", recorded.event_id),
            message_id=decline_message_id(case, self.sender.address), build=build,
            what=f"decline mail for {case}"))
