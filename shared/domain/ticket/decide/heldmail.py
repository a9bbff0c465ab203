"""A technician decides about held and quarantined mail: release it to a ticket, attach it
to another, open a new ticket from it, or discard it."""

from __future__ import annotations

from datetime import datetime

from shared.domain import events as ev
from shared.domain.casenumber import is_valid_case_number
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide.base import (
    DomainError,
    decide,
    require,
    require_ticket,
)
from shared.domain.ticket.state import TicketState, mail_id_of


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
    mail = _require_pending(state, command.mail_id)
    if mail is None:
        return []
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
