"""``decide(command, state) -> events``: every business rule of a ticket's lifecycle.

An empty list means "already done" (commands are idempotent where a retry is normal, e.g.
a second acknowledgement); a DomainError means the command makes no sense now.

One module per area, each registering its rules on the one dispatcher (``base``):
``request`` (the request, its receipt, acceptance), ``oncall`` (paging, SLA clocks),
``conversation`` (answers, notes, mails to the customer), ``mail`` (inbound mail and its
trust), ``heldmail`` (technicians' decisions on held mail), ``billing`` (time, invoices),
``lifecycle`` (resolve, reopen, close, erase).
"""

from shared.domain.ticket.decide import (  # noqa: F401  (registers the rules)
    billing,
    conversation,
    heldmail,
    lifecycle,
    mail,
    oncall,
    request,
)
from shared.domain.ticket.decide.base import (
    ACTIVE,
    MAX_FUTURE_ENTRY,
    TIME_LOGGABLE,
    DomainError,
    decide,
    require_ticket,
)
from shared.domain.ticket.decide.heldmail import reply_of
from shared.domain.ticket.decide.mail import aligned, domain_of, trust_problem

__all__ = ["ACTIVE", "MAX_FUTURE_ENTRY", "TIME_LOGGABLE", "DomainError", "aligned", "decide",
           "domain_of", "reply_of", "require_ticket", "trust_problem"]
