"""All event contracts of ticketcore, as one tagged union.

Integrators: the JSON Schema of every event is printed by ``ticketcore events schema``;
each stored message carries the headers named in :mod:`shared.domain.events.codec`.
"""

from shared.domain.events.ack import AckFailed, AckSent, CustomerMailed, ReceiptOverdue
from shared.domain.events.base import Contact, ContractParty, Event
from shared.domain.events.billing import (
    InvoiceCancelled,
    InvoiceIssued,
    InvoiceLine,
    Seller,
    TimeEntryVoided,
    TimeLogged,
)
from shared.domain.events.codec import (
    EVENT_TYPES,
    AnyEvent,
    UndecodableEvent,
    decode_event,
    encode_event,
    event_json_schema,
    register_upcaster,
)
from shared.domain.events.intake import (
    AttachmentRef,
    AutoReplyRecorded,
    CustomerReplied,
    Fault,
    MailDiscarded,
    MailReleased,
    OrderSubject,
    PendingMail,
    ReplyHeld,
    ReplyQuarantined,
    RequestSubmitted,
    Software,
)
from shared.domain.events.lifecycle import (
    PersonalDataErased,
    TicketClosed,
    TicketReopened,
    TicketResolved,
)
from shared.domain.events.oncall import (
    AwaitingAcceptance,
    InternalNoteAdded,
    OnCallAcknowledged,
    OnCallEscalated,
    OnCallReNotified,
    PriorityEscalated,
    ResponseDeadlineSet,
    SlaBreached,
    TechnicianResponded,
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
    "CustomerMailed",
    "CustomerReplied",
    "Event",
    "Fault",
    "InternalNoteAdded",
    "InvoiceCancelled",
    "InvoiceIssued",
    "InvoiceLine",
    "MailDiscarded",
    "MailReleased",
    "OnCallAcknowledged",
    "OnCallEscalated",
    "OnCallReNotified",
    "OrderSubject",
    "PendingMail",
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
