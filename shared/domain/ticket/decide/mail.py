"""Inbound mail: attached to its ticket, recorded as automatic, held, or quarantined.
Only an address the ticket knows may add to it, and only with evidence that it wrote."""

from __future__ import annotations

from datetime import datetime

from shared.domain import events as ev
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide.base import (
    decide,
    require_ticket,
)
from shared.domain.ticket.state import TicketState

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
    require_ticket(state)
    mail = command.mail
    if mail.auto_reply:  # kept whoever sent it: an out-of-office reply is no reply
        return [ev.AutoReplyRecorded(at=command.at, message_id=mail.message_id,
                                     sender=mail.sender, subject=mail.subject,
                                     reason=mail.auto_reply)]
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
    replied = ev.CustomerReplied(at=command.at, message_id=mail.message_id,
                                 sender=mail.sender, subject=mail.subject, text=mail.text,
                                 attachments=mail.attachments, redacted=mail.redacted)
    if not reopens:
        return [replied]
    return [replied, ev.TicketReopened(at=command.at, by=REOPENED_BY_CUSTOMER,
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
