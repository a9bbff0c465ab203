"""``decide(command, state) -> events``: every business rule of a ticket's lifecycle.

An empty list means "already done" (commands are idempotent where a retry is normal, e.g.
a second acknowledgement); a DomainError means the command makes no sense now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import singledispatch

from shared.domain import events as ev
from shared.domain.casenumber import is_valid_case_number
from shared.domain.ticket import commands as c
from shared.domain.ticket.state import TicketState, mail_id_of

# Entries further in the future than this are typos, not plans.
MAX_FUTURE_ENTRY = timedelta(hours=1)
ACTIVE = frozenset({"submitted", "open", "in_progress"})
TIME_LOGGABLE = frozenset({"submitted", "open", "in_progress", "resolved"})


class DomainError(Exception):
    """The command is refused; ``code`` is stable for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _require(condition: bool, code: str, message: str) -> None:
    if not condition:
        raise DomainError(code, message)


def _require_ticket(state: TicketState) -> None:
    _require(state.status != "new", "unknown_ticket", "there is no such ticket")


@singledispatch
def decide(command: c.Command, state: TicketState) -> list[ev.Event]:
    raise TypeError(f"no rule for command {type(command).__name__}")


@decide.register
def _(command: c.SubmitRequest, state: TicketState) -> list[ev.Event]:
    _require(state.status == "new", "already_submitted", "the ticket already exists")
    request = command.request
    if request.has_sla:
        return [request]
    return [request, ev.AwaitingAcceptance(at=command.at, customer_id=request.customer_id)]


@decide.register
def _(command: c.RecordReceipt, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if state.receipt_sent:
        return []
    return [ev.AckSent(at=command.at, message_id=command.message_id,
                       recipient=command.recipient)]


@decide.register
def _(command: c.RecordReceiptFailure, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if state.receipt_sent or command.attempt <= state.receipt_attempts:
        return []
    return [ev.AckFailed(at=command.at, attempt=command.attempt, error=command.error,
                         permanent=command.permanent)]


@decide.register
def _(command: c.FlagReceiptOverdue, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if state.receipt_sent or state.receipt_overdue:
        return []
    return [ev.ReceiptOverdue(at=command.at,
                              minutes_since_submission=command.minutes_since_submission)]


@decide.register
def _(command: c.AcceptTicket, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    _require(state.status == "awaiting_acceptance", "not_awaiting_acceptance",
             "only a ticket awaiting acceptance can be accepted")
    return [ev.TicketAccepted(at=command.at, technician=command.technician)]


@decide.register
def _(command: c.DeclineTicket, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    _require(state.status == "awaiting_acceptance", "not_awaiting_acceptance",
             "only a ticket awaiting acceptance can be declined")
    _require(bool(command.reason.strip()), "reason_required", "a decline needs a reason")
    return [ev.TicketDeclined(at=command.at, technician=command.technician,
                              reason=command.reason.strip())]


@decide.register
def _(command: c.EscalatePriority, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    _require(state.priority, "not_priority", "only priority tickets are escalated")
    if state.is_escalated:
        return []
    return [ev.PriorityEscalated(at=command.at, technician=command.technician,
                                 level=command.level,
                                 reaction_deadline=command.reaction_deadline)]


@decide.register
def _(command: c.SetResponseDeadline, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if state.response_deadline is not None:
        return []
    return [ev.ResponseDeadlineSet(at=command.at, deadline=command.deadline,
                                   calendar_version=command.calendar_version)]


def _page_open(state: TicketState) -> bool:
    return (state.is_escalated and state.page_acknowledged_by is None
            and state.first_response_at is None and state.status in ACTIVE)


@decide.register
def _(command: c.ReNotifyOnCall, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if not _page_open(state) or command.attempt <= state.renotify_count:
        return []
    return [ev.OnCallReNotified(at=command.at, technician=command.technician,
                                attempt=command.attempt)]


@decide.register
def _(command: c.EscalateOnCallLevel, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if not _page_open(state) or command.level <= state.escalation_level:
        return []
    return [ev.OnCallEscalated(at=command.at, technician=command.technician,
                               level=command.level)]


@decide.register
def _(command: c.AcknowledgePage, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    _require(state.is_escalated, "not_paged", "this ticket has no page to acknowledge")
    if state.page_acknowledged_by is not None:
        return []  # acknowledging twice is harmless
    _require(command.technician == state.paged_technician, "not_paged_person",
             "only the paged technician can acknowledge this page")
    return [ev.OnCallAcknowledged(at=command.at, technician=command.technician)]


@decide.register
def _(command: c.Respond, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    _require(state.status != "awaiting_acceptance", "not_accepted",
             "accept the ticket before responding")
    _require(state.status in ACTIVE, "not_active",
             f"a {state.status} ticket takes no response")
    return [ev.TechnicianResponded(at=command.at, technician=command.technician,
                                   message=command.message, first_name=command.first_name,
                                   attachments=command.attachments)]


@decide.register
def _(command: c.AddInternalNote, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    text = command.text.strip()
    _require(bool(text), "note_required", "an internal note needs a text")
    return [ev.InternalNoteAdded(at=command.at, technician=command.technician, text=text)]


@decide.register
def _(command: c.RecordCustomerMail, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if command.source_event_id in state.mailed_sources:
        return []  # a second replica, or a redelivery after the record landed
    return [ev.CustomerMailed(at=command.at, kind=command.kind,
                              source_event_id=command.source_event_id,
                              message_id=command.message_id)]


@decide.register
def _(command: c.RecordCustomerMailFailure, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if command.source_event_id in state.mailed_sources or any(
            f.source_event_id == command.source_event_id for f in state.mail_failures):
        return []  # sent after all, or recorded by another replica
    return [ev.CustomerMailFailed(at=command.at, kind=command.kind,
                                  source_event_id=command.source_event_id,
                                  error=command.error)]


@decide.register
def _(command: c.RecordSlaBreach, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if (command.clock in state.breached_clocks or state.first_response_at is not None
            or state.status not in ACTIVE | {"awaiting_acceptance"}):
        return []  # a timer firing for a ticket that no longer needs it does nothing
    return [ev.SlaBreached(at=command.at, clock=command.clock, deadline=command.deadline)]


# -- inbound mail: attached to its ticket, recorded as automatic, or quarantined ----------

NO_SINGLE_SENDER = "the mail has no single sender address"
UNKNOWN_SENDER = "the sender is not known to this ticket"
FOREIGN_ENVELOPE = "the envelope sender is not in the From address's domain"
NOT_AUTHENTICATED = ("the mail answers no mail sent for this ticket and no trusted relay "
                     "reports DMARC or aligned DKIM passing for its From domain")
RESOLVED_LONG_AGO = "the ticket was resolved too long ago to be reopened by a reply"
REOPENED_BY_CUSTOMER = "customer"


@decide.register
def _(command: c.FileMail, state: TicketState) -> list[ev.Event]:
    # No such ticket: the caller keeps the mail on a quarantine entry (QuarantineMail).
    _require_ticket(state)
    mail = command.mail
    if mail.auto_reply:  # kept whoever sent it: an out-of-office reply is no reply
        return decide(c.RecordAutoReply(at=command.at, auto_reply=ev.AutoReplyRecorded(
            at=command.at, message_id=mail.message_id, sender=mail.sender,
            subject=mail.subject, reason=mail.auto_reply)), state)
    # Only an address the ticket knows may add to it: anyone else could read its case
    # number off a forwarded mail. The rest waits for a technician on the ticket.
    if mail.sender_count != 1:
        return [_quarantined(command.at, mail, NO_SINGLE_SENDER, state.case_number)]
    if mail.sender.lower() not in state.known_addresses:
        return [_quarantined(command.at, mail, UNKNOWN_SENDER, state.case_number)]
    # A From address costs a forger nothing: the customer's words need evidence.
    doubt = trust_problem(mail, state)
    if doubt is not None:
        return [_held(command.at, mail, doubt)]
    reopens = state.status == "resolved"
    if reopens and not _within_reopen_period(state, command):
        # Filed for a technician (held mail), neither reopened nor lost: the customer's
        # new problem deserves a new request (docs/domain.md 4.7).
        return [_quarantined(command.at, mail, RESOLVED_LONG_AGO, state.case_number)]
    replied = decide(c.AddCustomerReply(at=command.at, reply=ev.CustomerReplied(
        at=command.at, message_id=mail.message_id, sender=mail.sender, subject=mail.subject,
        text=mail.text, attachments=mail.attachments, redacted=mail.redacted)), state)
    if not reopens:
        return replied
    return [*replied, ev.TicketReopened(at=command.at, by=REOPENED_BY_CUSTOMER,
                                        reason="reply by mail")]


def _within_reopen_period(state: TicketState, command: c.FileMail) -> bool:
    resolved_at = state.resolved_at
    return resolved_at is None or command.at - resolved_at <= command.reopen_within


@decide.register
def _(command: c.QuarantineMail, state: TicketState) -> list[ev.Event]:
    if command.case_number is not None:
        reason = f"no ticket with case number {command.case_number}"
    else:
        automatic = command.mail.auto_reply
        reason = (f"automatic mail ({automatic}); " if automatic else "") + \
            command.unmatched_reason
    return [_quarantined(command.at, command.mail, reason,
                         command.case_number or command.candidate)]


def _quarantined(at: datetime, mail: c.ReceivedMail, reason: str,
                 candidate: str | None) -> ev.ReplyQuarantined:
    return ev.ReplyQuarantined(at=at, message_id=mail.message_id, sender=mail.sender,
                               subject=mail.subject, reason=reason, text=mail.text,
                               attachments=mail.attachments, candidate_case_number=candidate,
                               mail_id=mail.mail_id, redacted=mail.redacted,
                               sender_name=mail.sender_name)


def _held(at: datetime, mail: c.ReceivedMail, reason: str) -> ev.ReplyHeld:
    return ev.ReplyHeld(at=at, mail_id=mail.mail_id, message_id=mail.message_id,
                        sender=mail.sender, envelope_sender=mail.envelope_sender,
                        subject=mail.subject, reason=reason, text=mail.text,
                        attachments=mail.attachments, redacted=mail.redacted,
                        sender_name=mail.sender_name)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(".").lower()


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment (DMARC's idea, without a public-suffix list): the same domain, or
    one a subdomain of the other."""
    if not domain or not from_domain:
        return False
    return (domain == from_domain or domain.endswith("." + from_domain)
            or from_domain.endswith("." + domain))


def trust_problem(mail: c.ReceivedMail, state: TicketState) -> str | None:
    """Why a mail from the ticket's contact address is not taken as the customer's words
    (None: it is). It must come from the From address's domain by its SMTP envelope AND
    either answer a Message-ID sent for this ticket (unguessable, only the recipient of our
    mail knows it) or carry a trusted relay's DMARC pass (or aligned DKIM pass)."""
    from_domain = domain_of(mail.sender)
    if not aligned(domain_of(mail.envelope_sender), from_domain):
        return FOREIGN_ENVELOPE
    if state.sent_message_ids.intersection(mail.reference_ids):
        return None
    for verdict in mail.relay_results:
        if verdict.result != "pass":
            continue
        if verdict.method == "dmarc" and verdict.domain == from_domain:
            return None
        if verdict.method == "dkim" and aligned(verdict.domain, from_domain):
            return None
    return NOT_AUTHENTICATED


# -- a technician decides about held and quarantined mail ----------------------------------


def _require_pending(state: TicketState, mail_id: str) -> ev.PendingMail | None:
    """The pending mail, None when it was already decided (a retry), else refused."""
    mail = state.pending_mail(mail_id)
    if mail is None and mail_id not in state.settled_mail_ids:
        raise DomainError("unknown_mail", "no held or quarantined mail with this id here")
    return mail


def reply_of(mail: ev.PendingMail, at: datetime, technician: str) -> ev.CustomerReplied:
    """A pending mail as the customer's reply, vouched for by ``technician``."""
    return ev.CustomerReplied(at=at, message_id=mail.message_id, sender=mail.sender,
                              subject=mail.subject, text=mail.text,
                              attachments=mail.attachments, redacted=mail.redacted,
                              released_by=technician)


@decide.register
def _(command: c.ReleaseMail, state: TicketState) -> list[ev.Event]:
    mail = _require_pending(state, command.mail_id)
    if mail is None:
        return []
    to_case = command.to_case or state.case_number
    _require(bool(to_case), "no_ticket",
             "a quarantine entry has no ticket: name the ticket to attach the mail to")
    released = ev.MailReleased(at=command.at, technician=command.technician,
                               mail_id=mail_id_of(mail), case_number=to_case)
    if to_case != state.case_number:
        return [released]  # the reply itself is appended there (AttachMail)
    return [released, reply_of(mail, command.at, command.technician)]


@decide.register
def _(command: c.AttachMail, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    return [reply_of(command.mail, command.at, command.technician)]


@decide.register
def _(command: c.OpenTicketFromMail, state: TicketState) -> list[ev.Event]:
    mail = _require_pending(state, command.mail_id)
    if mail is None:
        return []
    _require(is_valid_case_number(command.case_number)
             and command.case_number != state.case_number, "invalid_case_number",
             f"{command.case_number!r} is no new ticket's case number")
    return [ev.MailOpenedAsTicket(at=command.at, technician=command.technician,
                                  mail_id=mail_id_of(mail), case_number=command.case_number)]


@decide.register
def _(command: c.DiscardMail, state: TicketState) -> list[ev.Event]:
    mail = _require_pending(state, command.mail_id)
    if mail is None:
        return []
    return [ev.MailDiscarded(at=command.at, technician=command.technician,
                             mail_id=mail_id_of(mail), reason=command.reason)]


@decide.register
def _(command: c.AddCustomerReply, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    return [command.reply]


@decide.register
def _(command: c.RecordAutoReply, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    return [command.auto_reply]


@decide.register
def _(command: c.LogTime, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    logged = state.entry(command.entry_id)
    if logged is not None:
        # The same technician's retry is a no-op; another's entry is never theirs to claim.
        _require(logged.technician == command.technician, "entry_id_taken",
                 f"entry id {command.entry_id} belongs to another technician's entry: "
                 "choose a new one")
        return []
    _require(state.status in TIME_LOGGABLE, "ticket_not_open_for_time",
             f"time cannot be logged on a {state.status.replace('_', ' ')} ticket")
    _require(command.kind in ("work", "travel"), "unknown_kind",
             f"unknown kind {command.kind!r}: use 'work' or 'travel'")
    _require(command.end > command.start, "end_not_after_start", "end must be after start")
    _require(command.end <= command.at + MAX_FUTURE_ENTRY, "entry_in_future",
             "the entry ends in the future")
    for other in state.time_entries:
        if other.technician == command.technician and (
                command.start < other.end and other.start < command.end):
            raise DomainError("overlapping_entry",
                              f"overlaps entry {other.entry_id} of the same technician")
    return [ev.TimeLogged(at=command.at, entry_id=command.entry_id,
                          technician=command.technician, start=command.start,
                          end=command.end, kind=command.kind,  # type: ignore[arg-type]
                          note=command.note)]


@decide.register
def _(command: c.VoidTimeEntry, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    entry = state.entry(command.entry_id)
    _require(entry is not None, "unknown_entry", f"no active time entry {command.entry_id}")
    assert entry is not None
    _require(command.entry_id not in state.invoiced_entry_ids, "entry_invoiced",
             "the entry is invoiced: cancel the invoice first")
    # A technician's time is their own; a lead may correct anyone's, and the event says so.
    as_lead = entry.technician != command.technician
    _require(not as_lead or command.lead, "not_your_entry",
             f"entry {command.entry_id} is {entry.technician}'s: only they or a lead may "
             "void it")
    return [ev.TimeEntryVoided(at=command.at, entry_id=command.entry_id,
                               technician=command.technician, reason=command.reason,
                               as_lead=as_lead)]


@decide.register
def _(command: c.ResolveTicket, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    _require(state.status in ACTIVE, "not_active",
             f"a {state.status.replace('_', ' ')} ticket cannot be resolved")
    return [ev.TicketResolved(at=command.at, technician=command.technician,
                              resolution=command.resolution)]


@decide.register
def _(command: c.ReopenTicket, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    _require(state.status == "resolved", "not_resolved", "only a resolved ticket is reopened")
    return [ev.TicketReopened(at=command.at, by=command.by, reason=command.reason)]


@decide.register
def _(command: c.CloseTicket, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if state.status == "closed":
        return []
    _require(state.status in {"resolved", "declined", "invoiced"}, "not_resolved",
             "resolve the ticket before closing it")
    return [ev.TicketClosed(at=command.at, by=command.by)]


@decide.register
def _(command: c.RecordErasure, state: TicketState) -> list[ev.Event]:
    # No ticket check: a quarantine entry holds personal data too.
    if state.personal_data_erased:
        return []
    return [ev.PersonalDataErased(at=command.at, by=command.by, reason=command.reason)]


@decide.register
def _(command: c.IssueInvoice, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    if command.invoice.invoice_number in state.issued_invoice_numbers:
        return []  # a retried issuance: the number is issued once
    _require(state.status in {"resolved", "closed"}, "not_billable",
             "invoices are issued for resolved or closed tickets")
    uninvoiced = {e.entry_id for e in state.uninvoiced_entries}
    _require(bool(uninvoiced), "nothing_to_invoice", "no logged time left to invoice")
    _require(set(command.invoice.entry_ids) == uninvoiced, "stale_invoice",
             "the invoice does not cover exactly the uninvoiced time entries")
    return [command.invoice]


@decide.register
def _(command: c.CancelInvoice, state: TicketState) -> list[ev.Event]:
    _require_ticket(state)
    _require(any(i.invoice_number == command.invoice_number for i in state.active_invoices),
             "unknown_invoice", f"no active invoice {command.invoice_number} on this ticket")
    _require(bool(command.reason.strip()), "reason_required", "a cancellation needs a reason")
    return [ev.InvoiceCancelled(at=command.at, invoice_number=command.invoice_number,
                                credit_note_number=command.credit_note_number,
                                reason=command.reason, issued_by=command.by)]
