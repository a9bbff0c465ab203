"""Events of the customer's mail: replies, automatic mails, and mail held or quarantined
for a technician, with the technicians' decisions on it."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from shared.domain.events.base import FILE_NAMES, Event, Personal


class AttachmentRef(msgspec.Struct, frozen=True, kw_only=True):
    """A file stored once in the object store, named by its content hash."""

    sha256: str
    filename: str
    content_type: str
    size: int


class CustomerReplied(Event, tag=True, frozen=True, kw_only=True):
    """The customer added information by replying to the receipt."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True
    PERSONAL: ClassVar[tuple[Personal, ...]] = (Personal("sender"), Personal("text"), FILE_NAMES)

    message_id: str
    sender: str
    subject: str
    text: str
    attachments: tuple[AttachmentRef, ...] = ()
    redacted: bool = False
    # The technician who vouched for a held or quarantined mail ("" : authenticated mail).
    released_by: str = ""


class AutoReplyRecorded(Event, tag=True, frozen=True, kw_only=True):
    """An out-of-office, bounce or other automatic mail about the ticket: kept, not a reply."""

    PERSONAL: ClassVar[tuple[Personal, ...]] = (Personal("sender"),)

    message_id: str
    sender: str
    subject: str
    reason: str


class ReplyQuarantined(Event, tag=True, frozen=True, kw_only=True):
    """Inbound mail that could not be attached safely; a technician decides."""

    PERSONAL: ClassVar[tuple[Personal, ...]] = (
        Personal("sender"), Personal("sender_name"), Personal("text"), FILE_NAMES)

    message_id: str
    sender: str
    subject: str
    reason: str
    text: str = ""
    attachments: tuple[AttachmentRef, ...] = ()
    candidate_case_number: str | None = None
    sender_name: str = ""  # the From display name (prefills a ticket opened from the mail)
    # Names this mail in the technician's decisions (the mail's event id; "" before it).
    mail_id: str = ""
    redacted: bool = False


class ReplyHeld(Event, tag=True, frozen=True, kw_only=True):
    """A mail from the ticket's contact address that is not authenticated enough to be
    taken as the customer's words (docs/mail-in.md, "Trust"): kept for a technician, never
    shown to the customer, never answered."""

    PERSONAL: ClassVar[tuple[Personal, ...]] = (
        Personal("sender"), Personal("sender_name"), Personal("envelope_sender"),
        Personal("text"), FILE_NAMES)

    mail_id: str
    message_id: str
    sender: str
    envelope_sender: str
    subject: str
    reason: str
    text: str = ""
    attachments: tuple[AttachmentRef, ...] = ()
    redacted: bool = False
    sender_name: str = ""


PendingMail = ReplyHeld | ReplyQuarantined


class MailReleased(Event, tag=True, frozen=True, kw_only=True):
    """A technician took a held or quarantined mail as the customer's words: it follows
    as ``CustomerReplied`` on ``case_number`` (this ticket or another one)."""

    technician: str
    mail_id: str
    case_number: str


class MailDiscarded(Event, tag=True, frozen=True, kw_only=True):
    """A technician dismissed a held or quarantined mail; it is no longer pending."""

    technician: str
    mail_id: str
    reason: str = ""


class MailOpenedAsTicket(Event, tag=True, frozen=True, kw_only=True):
    """A technician opened a new ticket ``case_number`` from a held or quarantined mail;
    the mail follows there as the customer's first reply. It is no longer pending here."""

    technician: str
    mail_id: str
    case_number: str
