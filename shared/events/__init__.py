"""All event contracts of ticketcore, as one tagged union.

Integrators: the JSON Schema of every event is printed by ``ticketcore events schema``;
each stored message carries the headers named in :mod:`shared.events.codec`.
"""

from shared.events.ack import AckFailed, AckSent, ReceiptOverdue
from shared.events.base import Contact, ContractParty, Event
from shared.events.billing import (
    InvoiceCancelled,
    InvoiceIssued,
    InvoiceLine,
    Seller,
    TimeEntryVoided,
    TimeLogged,
)
from shared.events.codec import (
    EVENT_TYPES,
    AnyEvent,
    UndecodableEvent,
    decode_event,
    encode_event,
    event_json_schema,
    register_upcaster,
)
from shared.events.intake import (
    AttachmentRef,
    AutoReplyRecorded,
    CustomerReplied,
    Fault,
    OrderSubject,
    ReplyQuarantined,
    RequestSubmitted,
    Software,
)
from shared.events.lifecycle import (
    PersonalDataErased,
    TicketClosed,
    TicketReopened,
    TicketResolved,
)
from shared.events.oncall import (
    AwaitingAcceptance,
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
    "CustomerReplied",
    "Event",
    "Fault",
    "InvoiceCancelled",
    "InvoiceIssued",
    "InvoiceLine",
    "OnCallAcknowledged",
    "OnCallEscalated",
    "OnCallReNotified",
    "OrderSubject",
    "PersonalDataErased",
    "PriorityEscalated",
    "ReceiptOverdue",
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
