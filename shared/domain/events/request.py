"""Events of the request: the ticket begins, waits for acceptance or is accepted or
declined, and the customer gets the receipt with the case number."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

import msgspec

from shared.domain.events.base import Contact, ContractParty, Event, Personal, party_fields

Language = Literal["de", "en"]
Channel = Literal["web", "api", "mail"]
BackupChoice = Literal["additional_backup", "backup_done_or_not_needed"]


class OrderSubject(msgspec.Struct, frozen=True, kw_only=True):
    """The subject of the order: affected system, location and accessories."""

    description: str = ""
    location: str = ""
    system_name: str = ""
    manufacturer: str = ""
    model: str = ""
    purchase_date: date | None = None
    accessories: str = ""


class Software(msgspec.Struct, frozen=True, kw_only=True):
    operating_system: str = ""
    operating_system_version: str = ""
    application: str = ""
    application_version: str = ""


class Fault(msgspec.Struct, frozen=True, kw_only=True):
    error_message: str = ""
    expected_behaviour: str = ""
    actual_behaviour: str = ""


class RequestSubmitted(Event, tag=True, frozen=True, kw_only=True):
    """A customer's support request entered the system: the first event of every ticket."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True
    PERSONAL: ClassVar[tuple[Personal, ...]] = (
        Personal("contact.first_name"), Personal("contact.last_name"),
        Personal("contact.email"), Personal("contact.phone"), *party_fields("contract_party"))

    case_number: str
    contact: Contact
    contract_party: ContractParty
    short_description: str
    subject: OrderSubject = OrderSubject()
    software: Software = Software()
    fault: Fault = Fault()
    backup: BackupChoice
    priority: bool
    commercial_customer: bool = True
    # Customer's SLA: without one the ticket waits for acceptance (docs/domain.md 5.3).
    customer_id: str = ""
    has_sla: bool = True
    reaction_minutes: int = 240
    language: Language = "de"
    channel: Channel = "web"
    # Names of the free-text fields in which credentials were found and replaced.
    redacted_fields: tuple[str, ...] = ()


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


class AckSent(Event, tag=True, frozen=True, kw_only=True):
    """The receipt with the case number was accepted by the SMTP server."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True
    PERSONAL: ClassVar[tuple[Personal, ...]] = (Personal("recipient"),)

    message_id: str
    recipient: str


class AckFailed(Event, tag=True, frozen=True, kw_only=True):
    """One failed attempt to send the receipt; ``permanent`` means retrying cannot help."""

    attempt: int
    error: str
    permanent: bool = False


class ReceiptOverdue(Event, tag=True, frozen=True, kw_only=True):
    """The promised receipt time (about 10 minutes) is at risk: operators must look."""

    minutes_since_submission: int
