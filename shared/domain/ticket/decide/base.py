"""What every rule shares: the refusal (``DomainError``), its checks, the status sets, and
the dispatcher ``decide`` the area modules register their rules on."""

from __future__ import annotations

from datetime import timedelta
from functools import singledispatch

from shared.domain import events as ev
from shared.domain.ticket import commands as c
from shared.domain.ticket.state import TicketState

# Entries further in the future than this are typos, not plans.
MAX_FUTURE_ENTRY = timedelta(hours=1)
ACTIVE = frozenset({"submitted", "open", "in_progress"})
TIME_LOGGABLE = frozenset({"submitted", "open", "in_progress", "resolved"})


class DomainError(Exception):
    """The command is refused; ``code`` is stable for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def require(condition: bool, code: str, message: str) -> None:
    if not condition:
        raise DomainError(code, message)


def require_ticket(state: TicketState) -> None:
    require(state.status != "new", "unknown_ticket", "there is no such ticket")


@singledispatch
def decide(command: c.Command, state: TicketState) -> list[ev.Event]:
    raise TypeError(f"no rule for command {type(command).__name__}")

