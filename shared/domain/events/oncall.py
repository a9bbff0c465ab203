"""Events of priority handling, acceptance and the SLA clocks (the oncall service)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from shared.domain.events.base import FILE_NAMES, Event, Personal
from shared.domain.events.intake import AttachmentRef

SlaClock = Literal["reaction", "first_response"]


class PriorityEscalated(Event, tag=True, frozen=True, kw_only=True):
    """A priority request was handed to the on-call technician, with its reaction deadline."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True

    technician: str
    level: int = 1
    reaction_deadline: datetime


class ResponseDeadlineSet(Event, tag=True, frozen=True, kw_only=True):
    """The first-response deadline of a normal-priority ticket (9 Business-Time hours)."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True

    deadline: datetime
    calendar_version: str = ""


class OnCallReNotified(Event, tag=True, frozen=True, kw_only=True):
    technician: str
    attempt: int


class OnCallEscalated(Event, tag=True, frozen=True, kw_only=True):
    """Nobody acknowledged: the page went to the next escalation level."""

    technician: str
    level: int


class OnCallAcknowledged(Event, tag=True, frozen=True, kw_only=True):
    """The paged technician took the page."""

    technician: str


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


class SlaBreached(Event, tag=True, frozen=True, kw_only=True):
    """A deadline passed without the response it demanded."""

    clock: SlaClock
    deadline: datetime


class AwaitingAcceptance(Event, tag=True, frozen=True, kw_only=True):
    """The customer has no SLA agreement: work waits for a technician's acceptance."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True

    customer_id: str = ""


class TicketAccepted(Event, tag=True, frozen=True, kw_only=True):
    CUSTOMER_VISIBLE: ClassVar[bool] = True

    technician: str


class TicketDeclined(Event, tag=True, frozen=True, kw_only=True):
    CUSTOMER_VISIBLE: ClassVar[bool] = True
    PERSONAL: ClassVar[tuple[Personal, ...]] = (Personal("reason"),)  # mailed to the customer

    technician: str
    reason: str
