"""Events of the conversation: technicians' answers and internal notes, and the record of
each mail to the customer (sent, or refused for good)."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.domain.events.base import FILE_NAMES, Event, Personal
from shared.domain.events.mail import AttachmentRef


class TechnicianResponded(Event, tag=True, frozen=True, kw_only=True):
    """A technician's answer to the customer (the first one stops the reaction clock); the
    ack service mails it (docs/ack.md). ``first_name`` is all the customer sees of the
    technician; ``attachments`` are files in the object store."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True
    PERSONAL: ClassVar[tuple[Personal, ...]] = (Personal("message"), FILE_NAMES)

    technician: str
    message: str = ""
    first_name: str = ""
    attachments: tuple[AttachmentRef, ...] = ()


class InternalNoteAdded(Event, tag=True, frozen=True, kw_only=True):
    """A note for technicians only: never mailed, never on the status page."""

    PERSONAL: ClassVar[tuple[Personal, ...]] = (Personal("text"),)

    technician: str
    text: str


CustomerMailKind = Literal["answer", "accepted", "resolved"]


class CustomerMailed(Event, tag=True, frozen=True, kw_only=True):
    """A mail to the customer about ``source_event_id`` (a technician's answer, the
    acceptance or the resolution) was accepted by the SMTP server. It names no address:
    the mail goes to the ticket's contact, whose address stays in the sealed request."""

    kind: CustomerMailKind
    source_event_id: str
    message_id: str


class CustomerMailFailed(Event, tag=True, frozen=True, kw_only=True):
    """The mail server refused a mail to the customer about ``source_event_id`` for good
    (a permanent SMTP error): the customer did not get it; a technician should call."""

    kind: CustomerMailKind
    source_event_id: str
    error: str
