"""``decide(command, state) -> events``: every business rule of a ticket's lifecycle.

An empty list means "already done" (commands are idempotent where a retry is normal, e.g.
a second acknowledgement); a DomainError means the command makes no sense now.

One module per area, each registering its rules on the one dispatcher (``base``):
``request`` (the request, its receipt, acceptance), ``escalation`` (the on-call page, SLA
clocks), ``conversation`` (answers, notes, mails to the customer), ``mail`` (inbound mail
and its trust), ``heldmail`` (technicians' decisions on held mail), ``invoicing`` (time,
invoices), ``lifecycle`` (resolve, reopen, close, erase). The event contracts have the
same areas (``shared/domain/events/``).
"""

from shared.domain.ticket.decide import (  # noqa: F401  (registers the rules)
    conversation,
    escalation,
    heldmail,
    invoicing,
    lifecycle,
    mail,
    request,
)
from shared.domain.ticket.decide.base import (
    ACTIVE,
    MAX_FUTURE_ENTRY,
    TIME_LOGGABLE,
    DomainError,
    Refusal,
    decide,
    require_case_number,
    require_ticket,
)
from shared.domain.ticket.decide.heldmail import (
    MAIL_ID,
    QUARANTINE_ENTRY,
    is_mail_holder,
    reply_of,
    require_mail_id,
    require_open_mail,
)
from shared.domain.ticket.decide.invoicing import (
    invoice_document,
    overlaps,
    require_no_overlap,
    require_room,
)
from shared.domain.ticket.decide.mail import aligned, domain_of, trust_problem

__all__ = [
    "ACTIVE", "MAIL_ID", "MAX_FUTURE_ENTRY", "QUARANTINE_ENTRY", "TIME_LOGGABLE", "DomainError",
    "Refusal", "aligned", "decide", "domain_of", "invoice_document", "is_mail_holder",
    "overlaps", "reply_of", "require_case_number", "require_mail_id", "require_no_overlap",
    "require_open_mail", "require_room", "require_ticket", "trust_problem",
]
