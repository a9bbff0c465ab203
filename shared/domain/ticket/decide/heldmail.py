"""A technician decides about held and quarantined mail: release it to a ticket, attach it
to another, open a new ticket from it, or discard it."""

from __future__ import annotations

import re
from datetime import datetime

from shared.domain import events as ev
from shared.domain.casenumber import is_valid_case_number
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide.base import (
    decide,
    require,
    require_ticket,
)
from shared.domain.ticket.state import TicketState, mail_id_of

# What holds mail: a ticket (its case number) or a quarantine entry of its own.
QUARANTINE_ENTRY = re.compile(r"^Q[0-9a-f]{16}$")
# The mail ids technicians name a mail by (its event id, or a Message-ID).
MAIL_ID = re.compile(r"^[A-Za-z0-9@<>._+=-]{1,600}$")
UNKNOWN_MAIL = "no held or quarantined mail with this id here"


def is_mail_holder(ticket: str) -> bool:
    """A ticket or a quarantine entry ``Q<16 hex>`` (both can hold mail)."""
    return is_valid_case_number(ticket) or bool(QUARANTINE_ENTRY.match(ticket))


def require_mail_id(holder: str, mail_id: str) -> None:
    """Refuse what names no mail holder or no mail id (before anything is loaded)."""
    require(is_mail_holder(holder) and bool(MAIL_ID.match(mail_id)), "unknown_mail",
            UNKNOWN_MAIL)


def require_open_mail(state: TicketState, mail_id: str) -> ev.PendingMail:
    """The mail still waiting for a technician's decision; refused when it was decided
    (released or discarded) or never held here."""
    mail = state.pending_mail(mail_id)
    require(mail is not None or mail_id not in state.settled_mail_ids, "mail_decided",
            "this mail was already released or discarded")
    require(mail is not None, "unknown_mail", UNKNOWN_MAIL)
    assert mail is not None
    return mail


def _require_pending(state: TicketState, mail_id: str) -> ev.PendingMail | None:
    """The pending mail, None when it was already decided (a retry), else refused."""
    mail = state.pending_mail(mail_id)
    require(mail is not None or mail_id in state.settled_mail_ids, "unknown_mail",
            UNKNOWN_MAIL)
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
    require(bool(to_case), "no_ticket",
            "a quarantine entry has no ticket: name the ticket to attach the mail to")
    released = ev.MailReleased(at=command.at, technician=command.technician,
                               mail_id=mail_id_of(mail), case_number=to_case)
    if to_case != state.case_number:
        return [released]  # the reply itself is appended there (AttachMail)
    return [released, reply_of(mail, command.at, command.technician)]


@decide.register
def _(command: c.AttachMail, state: TicketState) -> list[ev.Event]:
    require_ticket(state)
    return [reply_of(command.mail, command.at, command.technician)]


@decide.register
def _(command: c.OpenTicketFromMail, state: TicketState) -> list[ev.Event]:
    if state.ticket_opened_from(command.mail_id) is not None:
        return []  # a form sent twice: the first ticket stands
    mail = require_open_mail(state, command.mail_id)
    require(is_valid_case_number(command.case_number)
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
