"""How a refusal of the rules answers over HTTP: one table for every service's routes.

The refusals themselves, and their stable codes, are the domain's
(``shared/domain/ticket/decide/base.py: Refusal``)."""

from __future__ import annotations

from shared.domain.ticket import DomainError, Refusal

# Nothing of that name: the path names what does not exist.
NOT_FOUND: frozenset[Refusal] = frozenset({"unknown_ticket", "invalid_case_number",
                                           "unknown_invoice"})
# The technician may not: it is another's to do.
FORBIDDEN: frozenset[Refusal] = frozenset({"not_your_entry"})
# What was sent is wrong (the ticket's state would allow the request).
INVALID: frozenset[Refusal] = frozenset({
    "reason_required", "note_required", "end_not_after_start", "unknown_kind",
    "entry_in_future", "naive_timestamp", "overlapping_entry"})


def http_status(error: DomainError) -> int:
    """404, 403 or 422 as above; every other refusal is the ticket's state: 409."""
    if error.code in NOT_FOUND:
        return 404
    if error.code in FORBIDDEN:
        return 403
    if error.code in INVALID:
        return 422
    return 409
