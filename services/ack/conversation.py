"""The customer's side of the conversation: every technician's answer, the acceptance of a
request without SLA and the resolution reach the customer by mail, once each.

Consumes ``TechnicianResponded``, ``TicketAccepted`` and ``TicketResolved`` (durable
``ack-conversation``). The flow is the receipt's (docs/ack.md): load up to the event, stop
if ``CustomerMailed`` names it already; claim ``<case>.<kind>.<digest>`` in the KV bucket
``ack_conversation``; send with a Message-ID derived from the event's id; append
``CustomerMailed`` at once on the history loaded before sending, else mark the claim
``sent`` and append with reloads. A mail the server refuses for good (a permanent SMTP
error) is never retried: the claim is marked ``refused`` and ``CustomerMailFailed`` records
the server's answer on the ticket, for the console. Internal notes (``InternalNoteAdded``)
are another event type: this consumer never sees them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import nats.errors
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.ack.handler import Clock
from services.ack.receipt import ReceiptSender, receipt_message_id, subject_text
from shared.adapters.attachments import AttachmentNotFound, AttachmentStore
from shared.adapters.claims import Claim, ClaimStore
from shared.adapters.eventstore import (
    ConcurrencyConflict,
    EventStore,
    EventStoreError,
    RecordedEvent,
    TicketHistory,
)
from shared.adapters.mailer import Mailer, PermanentMailError, TemporaryMailError
from shared.application.handling import execute
from shared.domain import events as ev
from shared.domain.casenumber import subject_token
from shared.domain.ticket import TicketState
from shared.domain.ticket import commands as c
from shared.domain.ticket.commands import Command
from shared.runtime.links import status_path
from shared.runtime.signing import MESSAGE_ID, sign

log = logging.getLogger(__name__)

CONVERSATION_BUCKET = "ack_conversation"
# References keeps the thread's first mail (the receipt) and the latest ones: enough for
# every mail client to thread, short enough for any server's header limits.
MAX_REFERENCES = 20
SUBJECT_PREFIX = {
    "answer": {"de": "", "en": ""},
    "accepted": {"de": "Auftrag angenommen: ", "en": "Request accepted: "},
    "resolved": {"de": "Erledigt: ", "en": "Resolved: "},
}

_templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=False,  # plain text only
                         undefined=StrictUndefined, keep_trailing_newline=True,
                         trim_blocks=True, lstrip_blocks=True, auto_reload=False)


class CustomerMailDeferred(Exception):
    """A temporary failure (SMTP, a file not readable yet): the consumer retries."""


def mail_kind(event: ev.Event) -> ev.ack.CustomerMailKind | None:
    """Which customer mail an event causes; None: none (an empty answer only stops the
    clock, it says nothing to the customer)."""
    if isinstance(event, ev.TechnicianResponded):
        return "answer" if event.message.strip() or event.attachments else None
    if isinstance(event, ev.TicketAccepted):
        return "accepted"
    if isinstance(event, ev.TicketResolved):
        return "resolved"
    return None


def _digest(event_id: str) -> str:
    # Any text is a valid event id, not a valid KV key or Message-ID part: hash it.
    return hashlib.sha256(event_id.encode()).hexdigest()[:16]


def conversation_key(case: str, kind: str, event_id: str) -> str:
    return f"{case}.{kind}.{_digest(event_id)}"


def conversation_message_id(case: str, kind: str, event_id: str, support_address: str,
                            secret_key: str) -> str:
    """``<kind.<case>.<tag>@<domain>>``: deterministic, so a resend carries the same id;
    the inbound matcher knows the form (services/intake/mail/match.py) and files the
    customer's reply on the ticket. The tag is signed (as the receipt's): only who received
    the mail knows the id, so a reply naming it is evidence that the customer wrote it."""
    domain = support_address.rpartition("@")[2] or "localhost"
    tag = sign(secret_key, MESSAGE_ID, kind, case, event_id)
    return f"<{kind}.{case}.{tag}@{domain}>"


def thread_ids(history: TicketHistory, before_seq: int, sender: ReceiptSender) -> list[str]:
    """The Message-IDs of the thread before the mail of the event at ``before_seq``: the
    receipt, the customer's replies and our earlier mails, in the log's order. The ids as
    sent (recorded in ``AckSent``/``CustomerMailed``) where the log has them: an id made
    now could differ after the secret key changed (docs/security.md, rotation)."""
    case = history.ticket_id
    sent = {e.event.source_event_id: e.event.message_id for e in history.events
            if isinstance(e.event, ev.CustomerMailed)}
    ids = [history.state.receipt_message_id
           or receipt_message_id(case, sender.reply_to, sender.secret_key)]
    for recorded in history.events:
        if recorded.seq >= before_seq:
            break
        event = recorded.event
        if isinstance(event, ev.CustomerReplied) and event.message_id:
            ids.append(event.message_id.strip())
            continue
        kind = mail_kind(event)
        if kind is not None:
            ids.append(sent.get(recorded.event_id) or conversation_message_id(
                case, kind, recorded.event_id, sender.reply_to, sender.secret_key))
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    return ids


@dataclass(frozen=True)
class File:
    ref: ev.AttachmentRef
    data: bytes


def build_customer_mail(recorded: RecordedEvent, history: TicketHistory,
                        sender: ReceiptSender, now: datetime, *, reopen_days: float,
                        files: tuple[File, ...] = ()) -> EmailMessage:
    """The mail for ``recorded`` in the ticket's language, threaded after the receipt."""
    request = history.state.request
    assert request is not None
    event, case = recorded.event, history.ticket_id
    kind = mail_kind(event)
    assert kind is not None
    language = request.language if request.language in ("de", "en") else "de"
    context = {
        "name": request.contact.full_name, "case_number": case,
        "short_description": subject_text(request.short_description),
        "status_url": sender.public_url.rstrip("/") + status_path(sender.secret_key, case),
        "sender_name": sender.name,
        "message": getattr(event, "message", ""),
        "first_name": getattr(event, "first_name", ""),
        "resolution": getattr(event, "resolution", ""),
        "reopen_days": f"{reopen_days:g}",
        "files": [f.ref.filename for f in files],
    }
    thread = thread_ids(history, recorded.seq, sender)
    message = EmailMessage()
    message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    message["To"] = Address(display_name=request.contact.full_name,
                            addr_spec=request.contact.email)
    message["Reply-To"] = sender.reply_to
    message["Subject"] = (f"{subject_token(case)} {SUBJECT_PREFIX[kind][language]}"
                          f"{context['short_description']}")
    message["Message-ID"] = conversation_message_id(case, kind, recorded.event_id,
                                                    sender.reply_to, sender.secret_key)
    message["In-Reply-To"] = thread[-1]
    message["References"] = " ".join(thread)
    message["Date"] = format_datetime(now)
    if kind != "answer":  # a technician's answer is a person's mail, the others are not
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(_templates.get_template(f"{kind}.{language}.txt").render(context))
    for file in files:
        maintype, _, subtype = file.ref.content_type.partition("/")
        message.add_attachment(file.data, maintype=maintype or "application",
                               subtype=subtype or "octet-stream", filename=file.ref.filename)
    message["Content-Language"] = language
    return message


@dataclass
class CustomerMailHandler:
    """Mails one answer or notification per event; collaborators plugged in by the service."""

    store: EventStore
    claims: ClaimStore
    mailer: Mailer
    attachments: AttachmentStore
    sender: ReceiptSender
    max_age: timedelta
    reopen_days: float
    send_timeout_s: float
    clock: Clock

    async def __call__(self, recorded: RecordedEvent) -> None:
        kind = mail_kind(recorded.event)
        if kind is None:
            return
        case = recorded.ticket_id
        if self.clock() - recorded.event.at > self.max_age:
            log.warning("%s mail for %s (%s) skipped: the event is too old", kind, case,
                        recorded.event_id)
            return
        history = await self.store.load(case, min_seq=recorded.seq)
        if not self._to_send(history.state, recorded):
            return
        claim = await self.claims.claim(conversation_key(case, kind, recorded.event_id),
                                        self.clock())  # ClaimBusy: retried later
        if claim.record.state == "refused":  # crashed before the refusal was recorded?
            await self._record_refusal(case, kind, recorded, "refused by the mail server")
            return
        if claim.record.state == "sent":  # crashed after the server took the mail
            log.info("%s mail for %s: already accepted by SMTP, recording it", kind, case)
            await self._record(case, kind, recorded, claim.record.message_id, None)
            return
        if claim.taken_over_from is not None:
            # A lagging replica may have answered the load: ask the leader before resending.
            history = await self.store.load(case, min_seq=await self.store.leader_version(case))
            if not self._to_send(history.state, recorded):
                return
            log.warning("%s mail for %s: resending (same Message-ID) after %s stopped "
                        "mid-send", kind, case, claim.taken_over_from.replica)
        await self._send(claim, kind, recorded, history)

    def _to_send(self, state: TicketState, recorded: RecordedEvent) -> bool:
        if recorded.event_id in state.mailed_sources or any(
                f.source_event_id == recorded.event_id for f in state.mail_failures):
            return False  # a redelivery after the work was done
        if state.request is None or state.personal_data_erased:
            log.info("mail for %s (%s) not sent: no readable contact", recorded.ticket_id,
                     recorded.event_id)
            return False
        return True

    async def _send(self, claim: Claim, kind: ev.ack.CustomerMailKind,
                    recorded: RecordedEvent, history: TicketHistory) -> None:
        case = history.ticket_id
        files = await self._files(claim, recorded)
        message = build_customer_mail(recorded, history, self.sender, self.clock(),
                                      reopen_days=self.reopen_days, files=files)
        message_id = str(message["Message-ID"])
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await self.mailer.send(message)
        except PermanentMailError as error:
            log.error("%s mail for %s refused for good: %s", kind, case, error)
            await self.claims.mark_sent_retrying(claim, self.clock(), state="refused",
                                                 message_id=message_id)
            await self._record_refusal(case, kind, recorded, str(error))
            return
        except (TemporaryMailError, TimeoutError) as error:
            await self.claims.release(claim)
            log.debug("%s mail for %s: temporary failure, retrying: %s", kind, case, error)
            raise CustomerMailDeferred(f"{kind} mail for {case}: "
                                     f"{error or 'timed out'}") from error
        log.info("%s mail for %s sent as %s", kind, case, message_id)
        try:  # the first durable record right after the 250 (see the receipt)
            await self._record(case, kind, recorded, message_id, history)
            return
        except ConcurrencyConflict:
            log.debug("%s mail for %s: the ticket changed while sending", kind, case)
        except (nats.errors.Error, TimeoutError, EventStoreError) as error:
            log.warning("%s mail for %s: CustomerMailed not appended at once (%r)", kind,
                        case, error)
        except Exception as error:  # the mail left: the claim must say so before anything
            log.error("%s mail for %s: recording failed (%r); marking the claim sent", kind,
                      case, error)
        await self.claims.mark_sent_retrying(claim, self.clock(), message_id=message_id)
        await self._record(case, kind, recorded, message_id, None)

    async def _files(self, claim: Claim, recorded: RecordedEvent) -> tuple[File, ...]:
        refs = getattr(recorded.event, "attachments", ())
        try:
            return tuple([File(ref, await self.attachments.read(ref.sha256)) for ref in refs])
        except AttachmentNotFound as error:
            # Stored before the answer was recorded: missing means the object store lags
            # or was lost; never send the answer without the files it announces.
            await self.claims.release(claim)
            raise CustomerMailDeferred(f"answer {recorded.event_id} on "
                                     f"{recorded.ticket_id}: {error}") from error

    async def _record_refusal(self, case: str, kind: ev.ack.CustomerMailKind,
                              recorded: RecordedEvent, error: str) -> None:
        """``CustomerMailFailed`` on the ticket (once: the decider ignores a repeat)."""
        await execute(self.store, case,
                      lambda state: c.RecordCustomerMailFailure(
                          at=self.clock(), kind=kind, source_event_id=recorded.event_id,
                          error=error[:500] or "refused"),
                      lambda event: f"mail-failed-{kind}-{_digest(recorded.event_id)}",
                      min_seq=recorded.seq)

    async def _record(self, case: str, kind: ev.ack.CustomerMailKind,
                      recorded: RecordedEvent, message_id: str,
                      history: TicketHistory | None) -> None:
        """``history`` given: one attempt on it (a conflict reaches the caller); else with
        reloads until it lands."""
        def command(state: TicketState) -> Command:
            return c.RecordCustomerMail(at=self.clock(), kind=kind,
                                        source_event_id=recorded.event_id,
                                        message_id=message_id)

        event_id = f"mailed-{kind}-{_digest(recorded.event_id)}"
        if history is not None:
            await execute(self.store, case, command, lambda event: event_id,
                          history=history, retry=False)
        else:
            await execute(self.store, case, command, lambda event: event_id,
                          min_seq=recorded.seq)
