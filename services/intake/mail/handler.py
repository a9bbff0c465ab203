"""The aiosmtpd handler: one received mail -> one event on the right ticket.

- a reply from an address the ticket knows -> ``CustomerReplied`` on that ticket;
- an automatic mail (out-of-office, bounce) about a ticket -> ``AutoReplyRecorded`` there;
- a known ticket but a sender it does not know -> ``ReplyQuarantined`` on that ticket;
- anything else (no number, a mistyped or unknown number) -> ``ReplyQuarantined`` on a
  quarantine entry of its own (ticket id ``Q<hash>``), for a technician to decide.

Nothing here sends mail. The event id is derived from the mail, so an MTA delivering the same
mail again does not add it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from services.intake.mail.match import (
    CaseMatch,
    event_id,
    mail_key,
    match_case,
    quarantine_ticket_id,
)
from services.intake.mail.parse import InboundMail, MailLimits, MailRefused, parse_mail
from services.intake.mail.text import trim_quoted_history
from shared.adapters.attachments import AttachmentStore
from shared.adapters.eventstore import EventStore, PendingEvent, with_conflict_retry
from shared.domain import events as ev
from shared.domain.redaction import redact
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide import decide
from shared.domain.ticket.state import TicketState, fold
from shared.settings.mail import InboundMailSettings

log = logging.getLogger(__name__)

# Events must fit in one NATS message: longer text is kept in full as an attachment.
MAX_EVENT_TEXT = 32_000
MAX_SUBJECT = 998
Kind = Literal["reply", "auto_reply", "quarantine_on_ticket", "quarantine"]


@dataclass(frozen=True)
class Routing:
    """Where a mail goes and why."""

    kind: Kind
    reason: str = ""


@dataclass(frozen=True)
class Outcome:
    """What was appended for one mail (for logs and tests)."""

    kind: Kind
    ticket_id: str
    event_id: str
    reason: str = ""


def route(mail: InboundMail, match: CaseMatch, state: TicketState | None) -> Routing:
    """Decide where a mail goes. ``state`` is the matched ticket's state (None: no match)."""
    if match.case_number is None:
        what = f"automatic mail ({mail.auto_reply}); " if mail.auto_reply else ""
        return Routing("quarantine", what + match.reason)
    if state is None or state.status == "new":
        return Routing("quarantine", f"no ticket with case number {match.case_number}")
    if mail.auto_reply:
        return Routing("auto_reply", mail.auto_reply)
    if mail.sender_count != 1:
        return Routing("quarantine_on_ticket", "the mail has no single sender address")
    if mail.sender not in state.known_addresses:
        return Routing("quarantine_on_ticket", "the sender is not known to this ticket")
    return Routing("reply")


@dataclass(frozen=True)
class _Content:
    subject: str
    text: str
    attachments: tuple[ev.AttachmentRef, ...]
    redacted: bool


class InboundMailHandler:
    """aiosmtpd handler (``handle_RCPT``/``handle_DATA``) for SMTP and LMTP."""

    def __init__(self, store: EventStore, attachments: AttachmentStore,
                 settings: InboundMailSettings, *, lmtp: bool = False,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.attachments = attachments
        self.settings = settings
        self.lmtp = lmtp
        self.clock = clock
        self.limits = MailLimits(
            max_message_bytes=settings.max_message_bytes,
            max_header_bytes=settings.max_header_bytes,
            max_header_count=settings.max_header_count,
            max_mime_parts=settings.max_mime_parts,
            max_mime_depth=settings.max_mime_depth,
        )

    # -- aiosmtpd hooks -------------------------------------------------------------------

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.strip().lower() != self.settings.support_address.lower():
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        status = await self.receive(bytes(envelope.content), envelope.mail_from)
        if self.lmtp:  # LMTP answers once per accepted recipient
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status

    async def handle_exception(self, error: Exception) -> str:
        log.exception("inbound mail: session error", exc_info=error)
        return "451 4.3.0 Temporary error, please try again later"

    # -- one mail -------------------------------------------------------------------------

    async def receive(self, raw: bytes, envelope_sender: str | None) -> str:
        """Parse and file one mail; return the SMTP status. Never raises."""
        try:
            mail = parse_mail(raw, envelope_sender, self.limits)
        except MailRefused as refused:
            log.info("inbound mail refused: %s", refused.status)
            return refused.status
        except Exception:  # a parser bug must not take the listener down
            log.exception("inbound mail could not be parsed")
            return "554 5.6.0 Message could not be parsed"
        try:
            outcome = await self.deliver(mail, raw)
        except Exception:  # the log is unreachable: the sending MTA will retry
            log.exception("inbound mail could not be stored")
            return "451 4.3.0 Could not store the message, please try again later"
        log.info("inbound mail %s: %s on %s %s", mail.message_id, outcome.kind,
                 outcome.ticket_id, outcome.reason)
        return "250 2.0.0 Message accepted"

    async def deliver(self, mail: InboundMail, raw: bytes) -> Outcome:
        """Append the one event this mail becomes (idempotent by the mail's id)."""
        key = mail_key(mail.message_id, mail.sender, raw)
        mail_event_id = event_id(key)
        match = match_case(mail.subject, mail.reference_ids)
        content = await self._content(mail)
        if match.case_number is not None:
            outcome = await with_conflict_retry(
                lambda: self._append_to_ticket(mail, match, content, mail_event_id))
            if outcome is not None:
                return outcome
        routing = route(mail, match, None) if match.case_number is None else Routing(
            "quarantine", f"no ticket with case number {match.case_number}")
        ticket_id = quarantine_ticket_id(key)
        event = self._quarantined(mail, content, routing.reason,
                                  match.case_number or match.candidate)
        await self.store.append(ticket_id, [PendingEvent(event, event_id=mail_event_id)], 0)
        return Outcome("quarantine", ticket_id, mail_event_id, routing.reason)

    async def _append_to_ticket(self, mail: InboundMail, match: CaseMatch, content: _Content,
                                mail_event_id: str) -> Outcome | None:
        """Load, route and append on the matched ticket; None if there is no such ticket."""
        case = match.case_number
        assert case is not None
        history = await self.store.load(case)
        state = fold(recorded.event for recorded in history.events)
        routing = route(mail, match, state)
        if routing.kind == "quarantine":
            return None
        if history.has_event_id(mail_event_id):  # delivered before
            return Outcome(routing.kind, case, mail_event_id, "already recorded")
        now = self.clock()
        if routing.kind == "reply":
            reply = ev.CustomerReplied(at=now, message_id=mail.message_id, sender=mail.sender,
                                       subject=content.subject, text=content.text,
                                       attachments=content.attachments,
                                       redacted=content.redacted)
            events = decide(c.AddCustomerReply(at=now, reply=reply), state)
        elif routing.kind == "auto_reply":
            auto = ev.AutoReplyRecorded(at=now, message_id=mail.message_id, sender=mail.sender,
                                        subject=content.subject, reason=routing.reason)
            events = decide(c.RecordAutoReply(at=now, auto_reply=auto), state)
        else:
            # The decider has no rule for quarantine: it changes no state, so it is appended
            # as a fact for the technicians who look at this ticket.
            events = [self._quarantined(mail, content, routing.reason, case)]
        await self.store.append(case, [PendingEvent(e, event_id=mail_event_id) for e in events],
                                history.version)
        return Outcome(routing.kind, case, mail_event_id, routing.reason)

    def _quarantined(self, mail: InboundMail, content: _Content, reason: str,
                     candidate: str | None) -> ev.ReplyQuarantined:
        return ev.ReplyQuarantined(at=self.clock(), message_id=mail.message_id,
                                   sender=mail.sender, subject=content.subject, reason=reason,
                                   text=content.text, attachments=content.attachments,
                                   candidate_case_number=candidate)

    async def _content(self, mail: InboundMail) -> _Content:
        """Subject and new text with credentials redacted; files stored by content hash.
        Automatic mails keep no text and no files."""
        subject = redact(mail.subject[:MAX_SUBJECT])
        if mail.auto_reply:
            return _Content(subject.text, "", (), subject.redacted)
        text = redact(trim_quoted_history(mail.text))
        refs = [await self.attachments.put(f.data, filename=f.filename,
                                           content_type=f.content_type) for f in mail.files]
        body = text.text
        if len(body) > MAX_EVENT_TEXT:
            refs.append(await self.attachments.put(body.encode(), filename="message-text.txt",
                                                   content_type="text/plain"))
            body = body[:MAX_EVENT_TEXT] + "\n[… the full text is attached as message-text.txt]"
        return _Content(subject.text, body, tuple(refs), subject.redacted or text.redacted)
