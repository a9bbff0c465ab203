"""All event contracts of ticketcore, as one tagged union.

Integrators: the JSON Schema of every event is printed by ``ticketcore events schema``;
each stored message carries the headers named in :mod:`shared.domain.events.codec`.
"""

from shared.domain.events.base import Contact, ContractParty, Event, Personal
from shared.domain.events.codec import (
    EVENT_TYPES,
    AnyEvent,
    UndecodableEvent,
    decode_event,
    encode_event,
    event_json_schema,
    register_upcaster,
)
from shared.domain.events.conversation import (
    CustomerMailed,
    CustomerMailFailed,
    InternalNoteAdded,
    TechnicianResponded,
)
from shared.domain.events.escalation import (
    OnCallAcknowledged,
    OnCallEscalated,
    OnCallReNotified,
    PriorityEscalated,
    ResponseDeadlineSet,
    SlaBreached,
)
from shared.domain.events.invoicing import (
    InvoiceCancelled,
    InvoiceIssued,
    InvoiceLine,
    Seller,
    TimeEntryVoided,
    TimeLogged,
)
from shared.domain.events.lifecycle import (
    PersonalDataErased,
    TicketClosed,
    TicketReopened,
    TicketResolved,
)
from shared.domain.events.mail import (
    AttachmentRef,
    AutoReplyRecorded,
    CustomerReplied,
    MailDiscarded,
    MailOpenedAsTicket,
    MailReleased,
    PendingMail,
    ReplyHeld,
    ReplyQuarantined,
)
from shared.domain.events.request import (
    AckFailed,
    AckSent,
    AwaitingAcceptance,
    Fault,
    OrderSubject,
    ReceiptOverdue,
    RequestSubmitted,
    Software,
    TicketAccepted,
    TicketDeclined,
)

__all__ = [
    "EVENT_TYPES",
    "AckFailed",
    "AckSent",
    "AnyEvent",
    "AttachmentRef",
    "AutoReplyRecorded",
    "AwaitingAcceptance",
    "Contact",
    "ContractParty",
    "CustomerMailFailed",
    "CustomerMailed",
    "CustomerReplied",
    "Event",
    "Fault",
    "InternalNoteAdded",
    "InvoiceCancelled",
    "InvoiceIssued",
    "InvoiceLine",
    "MailDiscarded",
    "MailOpenedAsTicket",
    "MailReleased",
    "OnCallAcknowledged",
    "OnCallEscalated",
    "OnCallReNotified",
    "OrderSubject",
    "PendingMail",
    "Personal",
    "PersonalDataErased",
    "PriorityEscalated",
    "ReceiptOverdue",
    "ReplyHeld",
    "ReplyQuarantined",
    "RequestSubmitted",
    "ResponseDeadlineSet",
    "Seller",
    "SlaBreached",
    "Software",
    "TechnicianResponded",
    "TicketAccepted",
    "TicketClosed",
    "TicketDeclined",
    "TicketReopened",
    "TicketResolved",
    "TimeEntryVoided",
    "TimeLogged",
    "UndecodableEvent",
    "decode_event",
    "encode_event",
    "event_json_schema",
    "register_upcaster",
]
