"""The ticket as a decider: ``decide(command, state) -> events`` and
``evolve(state, event) -> state``, pure functions without I/O."""

from shared.domain.ticket.commands import *  # noqa: F403
from shared.domain.ticket.decide import (
    DomainError,
    Refusal,
    decide,
    require_case_number,
    require_ticket,
)
from shared.domain.ticket.state import INITIAL_STATE, TicketState, evolve, fold

__all__ = ["INITIAL_STATE", "DomainError", "Refusal", "TicketState", "decide", "evolve",
           "fold", "require_case_number", "require_ticket"]
