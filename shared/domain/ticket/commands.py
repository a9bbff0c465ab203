"""Commands: what someone asks of a ticket. ``decide`` turns them into events or refuses."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import msgspec

from shared.domain import events as ev
from shared.domain.pricing import InvoiceTerms
from shared.domain.requestform import ServiceTerms, SupportRequest


class Command(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime


class SubmitRequest(Command, frozen=True, kw_only=True):
    """A valid request (``form``) becomes the ticket ``case_number``, under ``terms``."""

    case_number: str
    form: SupportRequest
    language: ev.request.Language
    channel: ev.request.Channel
    terms: ServiceTerms


class RecordReceipt(Command, frozen=True, kw_only=True):
    message_id: str
    recipient: str


class RecordReceiptFailure(Command, frozen=True, kw_only=True):
    """An attempt to send the receipt failed (the ticket counts the attempts)."""

    error: str
    permanent: bool = False


class FlagReceiptOverdue(Command, frozen=True, kw_only=True):
    minutes_since_submission: int


class AcceptTicket(Command, frozen=True, kw_only=True):
    technician: str


class DeclineTicket(Command, frozen=True, kw_only=True):
    technician: str
    reason: str


class EscalatePriority(Command, frozen=True, kw_only=True):
    technician: str
    reaction_deadline: datetime
    level: int = 1


class SetResponseDeadline(Command, frozen=True, kw_only=True):
    deadline: datetime
    calendar_version: str = ""


class ReNotifyOnCall(Command, frozen=True, kw_only=True):
    technician: str
    attempt: int


class EscalateOnCallLevel(Command, frozen=True, kw_only=True):
    technician: str
    level: int


class AcknowledgePage(Command, frozen=True, kw_only=True):
    technician: str


class Respond(Command, frozen=True, kw_only=True):
    technician: str
    message: str = ""
    first_name: str = ""
    attachments: tuple[ev.AttachmentRef, ...] = ()


class AddInternalNote(Command, frozen=True, kw_only=True):
    technician: str
    text: str


class RecordCustomerMail(Command, frozen=True, kw_only=True):
    """The ack service's mail about ``source_event_id`` left: record it (once)."""

    kind: ev.conversation.CustomerMailKind
    source_event_id: str
    message_id: str


class RecordCustomerMailFailure(Command, frozen=True, kw_only=True):
    """The mail server refused the mail about ``source_event_id`` for good: record it."""

    kind: ev.conversation.CustomerMailKind
    source_event_id: str
    error: str


class RecordSlaBreach(Command, frozen=True, kw_only=True):
    clock: ev.escalation.SlaClock
    deadline: datetime


class AuthResult(msgspec.Struct, frozen=True, kw_only=True):
    """One verdict of a trusted relay's ``Authentication-Results`` (RFC 8601), e.g.
    ``dmarc=pass header.from=example.de`` or ``dkim=pass header.d=example.de``."""

    method: str  # "dmarc", "dkim", "spf" (lowercase)
    result: str  # "pass", "fail", "none", ... (lowercase)
    domain: str  # header.from (dmarc), header.d (dkim), smtp.mailfrom's domain (spf)


class ReceivedMail(msgspec.Struct, frozen=True, kw_only=True):
    """An inbound mail as the rules see it: parsed, its text redacted, its files stored,
    and the evidence of who sent it, as gathered by the mail adapter."""

    message_id: str
    sender: str  # the From address, lowercased ("" when there is none)
    sender_name: str = ""  # its display name, to prefill a new ticket's contact
    sender_count: int = 1
    mail_id: str = ""  # the mail's own id (its event id), to name it in decisions
    # Evidence: the SMTP envelope sender (MAIL FROM, lowercased), the Message-IDs it
    # answers (In-Reply-To, References) and the verdicts of a trusted relay (only
    # verdicts of a relay the settings name reach the rules).
    envelope_sender: str = ""
    reference_ids: tuple[str, ...] = ()
    relay_results: tuple[AuthResult, ...] = ()
    auto_reply: str | None = None  # why it is automatic (out-of-office, bounce), else None
    subject: str = ""
    text: str = ""
    attachments: tuple[ev.AttachmentRef, ...] = ()
    redacted: bool = False


class FileMail(Command, frozen=True, kw_only=True):
    """A mail whose subject or references name this ticket. ``reopen_within``: how long
    after the resolution a customer's reply reopens the ticket (docs/domain.md)."""

    mail: ReceivedMail
    reopen_within: timedelta = timedelta(days=14)


class QuarantineMail(Command, frozen=True, kw_only=True):
    """A mail no ticket takes, kept on a quarantine entry of its own for a technician.

    ``case_number``: the number it named although there is no such ticket; otherwise
    ``unmatched_reason`` says why no number was found and ``candidate`` is a near miss."""

    mail: ReceivedMail
    case_number: str | None = None
    unmatched_reason: str = ""
    candidate: str | None = None


class ReleaseMail(Command, frozen=True, kw_only=True):
    """A technician takes a held or quarantined mail of this ticket as the customer's
    words on ``to_case`` (this ticket when empty; another ticket: see AttachMail)."""

    technician: str
    mail_id: str
    to_case: str = ""


class AttachMail(Command, frozen=True, kw_only=True):
    """The other half of ReleaseMail to another ticket: the mail becomes a reply there."""

    technician: str
    mail: ev.PendingMail


class OpenTicketFromMail(Command, frozen=True, kw_only=True):
    """A technician opens the new ticket ``case_number`` from a held or quarantined mail
    of this ticket or quarantine entry; the new ticket itself is ``SubmitRequest`` followed
    by ``AttachMail`` there."""

    technician: str
    mail_id: str
    case_number: str


class DiscardMail(Command, frozen=True, kw_only=True):
    technician: str
    mail_id: str
    reason: str = ""


class LogTime(Command, frozen=True, kw_only=True):
    entry_id: str
    technician: str
    start: datetime
    end: datetime
    kind: str
    note: str = ""


class VoidTimeEntry(Command, frozen=True, kw_only=True):
    entry_id: str
    technician: str
    reason: str = ""
    lead: bool = False  # the technician has the lead role: may void others' entries


class ResolveTicket(Command, frozen=True, kw_only=True):
    technician: str
    resolution: str = ""


class ReopenTicket(Command, frozen=True, kw_only=True):
    by: str
    reason: str = ""


class CloseTicket(Command, frozen=True, kw_only=True):
    by: str


class RecordErasure(Command, frozen=True, kw_only=True):
    """The ticket's data key was destroyed: record it on the ticket (once)."""

    by: str
    reason: str = ""


class IssueInvoice(Command, frozen=True, kw_only=True):
    """Invoice the ticket's uninvoiced time under ``invoice_number`` (empty: a draft, to
    learn whether the rules allow an invoice before a number is taken)."""

    invoice_number: str
    invoice_date: date
    issued_by: str
    terms: InvoiceTerms


class CancelInvoice(Command, frozen=True, kw_only=True):
    invoice_number: str
    credit_note_number: str
    reason: str
    by: str = ""


__all__ = [name for name, value in dict(globals()).items()
           if isinstance(value, type) and issubclass(value, Command)]
