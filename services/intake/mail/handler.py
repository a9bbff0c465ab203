"""The aiosmtpd handler: one received mail -> one event on the right ticket.

- a reply from an address the ticket knows -> ``CustomerReplied`` on that ticket;
- an automatic mail (out-of-office, bounce) about a ticket -> ``AutoReplyRecorded`` there;
- the ticket's address but not authenticated enough (docs/mail-in.md, "Trust") ->
  ``ReplyHeld`` on that ticket, for a technician to release or discard;
- a known ticket but a sender it does not know -> ``ReplyQuarantined`` on that ticket;
- anything else (no number, a mistyped or unknown number) -> ``ReplyQuarantined`` on a
  quarantine entry of its own (ticket id ``Q<hash>``), for a technician to decide.

These rules are the decider's (``FileMail``, ``QuarantineMail`` in shared/domain/ticket);
this adapter parses, redacts, stores the files, gathers the evidence of who sent the mail
(envelope sender, references, a trusted relay's verdicts) and runs the command.

Nothing here sends mail. The event id is derived from the mail, so an MTA delivering the same
mail again does not add it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec.structs

from services.intake.mail.evidence import evidence
from services.intake.mail.match import (
    event_id,
    mail_key,
    match_case,
    quarantine_ticket_id,
)
from services.intake.mail.parse import InboundMail, MailLimits, MailRefused, parse_mail
from services.intake.mail.text import trim_quoted_history
from shared.adapters.attachments import AttachmentStore
from shared.adapters.eventstore import EventStore
from shared.application.handling import Cause, execute
from shared.domain import events as ev
from shared.domain.redaction import redact
from shared.domain.text import strip_invisible
from shared.domain.ticket import DomainError
from shared.domain.ticket import commands as c
from shared.settings.mail import InboundMailSettings

log = logging.getLogger(__name__)

# Events must fit in one NATS message: longer text is kept in full as an attachment.
MAX_EVENT_TEXT = 32_000
MAX_SUBJECT = 998
Kind = Literal["reply", "auto_reply", "held", "quarantine_on_ticket", "quarantine"]


@dataclass(frozen=True)
class Outcome:
    """What was appended for one mail (for logs and tests)."""

    kind: Kind
    ticket_id: str
    event_id: str
    reason: str = ""


def outcome_of(event: ev.Event, ticket_id: str, mail_event_id: str, *,
               quarantine_entry: bool = False) -> Outcome:
    """Name what the decider made of a mail (FileMail, QuarantineMail)."""
    if isinstance(event, ev.CustomerReplied):
        return Outcome("reply", ticket_id, mail_event_id)
    if isinstance(event, ev.AutoReplyRecorded):
        return Outcome("auto_reply", ticket_id, mail_event_id, event.reason)
    if isinstance(event, ev.ReplyHeld):
        return Outcome("held", ticket_id, mail_event_id, event.reason)
    assert isinstance(event, ev.ReplyQuarantined)
    kind: Kind = "quarantine" if quarantine_entry else "quarantine_on_ticket"
    return Outcome(kind, ticket_id, mail_event_id, event.reason)


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
        peer = session.peer[0] if isinstance(session.peer, tuple) else None
        status = await self.receive(bytes(envelope.content), envelope.mail_from, peer=peer)
        if self.lmtp:  # LMTP answers once per accepted recipient
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status

    async def handle_exception(self, error: Exception) -> str:
        log.exception("inbound mail: session error", exc_info=error)
        return "451 4.3.0 Temporary error, please try again later"

    # -- one mail -------------------------------------------------------------------------

    async def receive(self, raw: bytes, envelope_sender: str | None, *,
                      peer: str | None = None) -> str:
        """Parse and file one mail (``peer``: the sending server's IP address); return the
        SMTP status. Never raises."""
        try:
            mail = parse_mail(raw, envelope_sender, self.limits)
        except MailRefused as refused:
            log.info("inbound mail refused: %s", refused.status)
            return refused.status
        except Exception:  # a parser bug must not take the listener down
            log.exception("inbound mail could not be parsed")
            return "554 5.6.0 Message could not be parsed"
        try:
            outcome = await self.deliver(mail, raw, envelope_sender=envelope_sender,
                                         peer=peer)
        except Exception:  # the log is unreachable: the sending MTA will retry
            log.exception("inbound mail could not be stored")
            return "451 4.3.0 Could not store the message, please try again later"
        log.info("inbound mail %s: %s on %s %s", mail.message_id, outcome.kind,
                 outcome.ticket_id, outcome.reason)
        return "250 2.0.0 Message accepted"

    async def deliver(self, mail: InboundMail, raw: bytes, *,
                      envelope_sender: str | None = None, peer: str | None = None) -> Outcome:
        """Append the one event this mail becomes (idempotent by the mail's id): the
        decider's FileMail on the ticket it names, else QuarantineMail on an entry of its
        own."""
        key = mail_key(mail.message_id, mail.sender, raw)
        mail_event_id = event_id(key)
        match = match_case(mail.subject, mail.reference_ids)
        received = msgspec.structs.replace(
            await self._content(mail), mail_id=mail_event_id,
            **evidence(mail, envelope_sender, peer, self.settings.trusted_relays,
                       self.settings.trusted_authserv_ids))
        if match.case_number is not None:
            try:
                return await self._file_on_ticket(match.case_number, received, mail_event_id)
            except DomainError as refused:
                if refused.code != "unknown_ticket":
                    raise
        ticket_id = quarantine_ticket_id(key)
        handled = await execute(
            self.store, ticket_id,
            c.QuarantineMail(at=self.clock(), mail=received, case_number=match.case_number,
                             unmatched_reason=match.reason, candidate=match.candidate),
            cause=Cause(mail_event_id, exact=True), new_ticket=True)
        return outcome_of(handled.events[0], ticket_id, mail_event_id, quarantine_entry=True)

    async def _file_on_ticket(self, case: str, received: c.ReceivedMail,
                              mail_event_id: str) -> Outcome:
        reopen_within = timedelta(days=self.settings.reopen_days)
        handled = await execute(
            self.store, case,
            c.FileMail(at=self.clock(), mail=received, reopen_within=reopen_within),
            cause=Cause(mail_event_id, exact=True, suffixes={"TicketReopened": "reopened"}))
        if any(isinstance(e, ev.TicketReopened) for e in handled.events):
            log.info("inbound mail %s reopened %s", received.message_id, case)
        if handled.events:
            return outcome_of(handled.events[0], case, mail_event_id)
        delivered = next(r.event for r in handled.history.events
                         if r.event_id == mail_event_id)
        outcome = outcome_of(delivered, case, mail_event_id)
        return replace(outcome, reason="already recorded")

    async def _content(self, mail: InboundMail) -> c.ReceivedMail:
        """The mail for the decider: subject and new text with credentials redacted, files
        stored by content hash. Automatic mails keep no text and no files."""
        # Free text: invisible characters go, as for the form and the API (docs/security.md).
        subject = redact(strip_invisible(mail.subject[:MAX_SUBJECT]))
        received = c.ReceivedMail(message_id=mail.message_id, sender=mail.sender,
                                  sender_name=strip_invisible(mail.sender_name),
                                  sender_count=mail.sender_count, auto_reply=mail.auto_reply,
                                  subject=subject.text, redacted=subject.redacted)
        if mail.auto_reply:
            return received
        text = redact(strip_invisible(trim_quoted_history(mail.text)))
        refs = [await self.attachments.put(f.data, filename=f.filename,
                                           content_type=f.content_type) for f in mail.files]
        body = text.text
        if len(body) > MAX_EVENT_TEXT:
            refs.append(await self.attachments.put(body.encode(), filename="message-text.txt",
                                                   content_type="text/plain"))
            body = body[:MAX_EVENT_TEXT] + "\n[… the full text is attached as message-text.txt]"
        return msgspec.structs.replace(received, text=body, attachments=tuple(refs),
                                       redacted=subject.redacted or text.redacted)
