"""What every rule shares: the refusal (``DomainError``), its checks, the status sets, and
the dispatcher ``decide`` the area modules register their rules on."""

from __future__ import annotations

from datetime import timedelta
from functools import singledispatch
from typing import Literal

from shared.domain import events as ev
from shared.domain.casenumber import is_valid_case_number
from shared.domain.ticket import commands as c
from shared.domain.ticket.state import ACTIVE, TicketState

__all__ = ["ACTIVE", "MAX_FUTURE_ENTRY", "TIME_LOGGABLE", "DomainError", "Refusal", "decide",
           "require", "require_case_number", "require_ticket"]

# Entries further in the future than this are typos, not plans.
MAX_FUTURE_ENTRY = timedelta(hours=1)
TIME_LOGGABLE = frozenset({"submitted", "open", "in_progress", "resolved"})


# Every way the rules refuse, by its stable code (what programs and the API see; each has
# its answer in HTTP in one place, shared/runtime/refusals.py).
Refusal = Literal[
    # no such thing
    "unknown_ticket", "invalid_case_number", "unknown_invoice", "unknown_entry",
    "unknown_mail",
    # not the technician's to do
    "not_your_entry", "not_paged_person",
    # what was sent is wrong
    "reason_required", "note_required", "end_not_after_start", "unknown_kind",
    "entry_in_future", "naive_timestamp", "overlapping_entry",
    # the ticket's state does not allow it
    "already_submitted", "not_awaiting_acceptance", "not_accepted", "not_active",
    "not_resolved", "not_priority", "not_paged", "ticket_not_open_for_time",
    "entry_id_taken", "entry_invoiced", "too_many_entries", "not_billable",
    "nothing_to_invoice", "no_ticket", "mail_decided",
]


class DomainError(Exception):
    """The command is refused; ``code`` is stable for programs, the message for people."""

    def __init__(self, code: Refusal, message: str) -> None:
        super().__init__(message)
        self.code: Refusal = code
        self.message = message


def require(condition: bool, code: Refusal, message: str) -> None:
    if not condition:
        raise DomainError(code, message)


def require_ticket(state: TicketState) -> None:
    require(state.status != "new", "unknown_ticket", "there is no such ticket")


def require_case_number(case: str) -> str:
    """``case`` if it is a well-formed case number with a matching check digit."""
    require(is_valid_case_number(case), "invalid_case_number",
            f"{case!r} is not a valid case number")
    return case


@singledispatch
def decide(command: c.Command, state: TicketState) -> list[ev.Event]:
    raise TypeError(f"no rule for command {type(command).__name__}")

