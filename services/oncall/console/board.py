"""The queue's read model, one per runtime: the console's pages and the oncall service
(which starts and stops it) share it."""

from __future__ import annotations

from services.oncall.readmodel import TicketBoard
from shared.runtime.context import Runtime

BOARD_KEY = "console.board"


def board_of(runtime: Runtime) -> TicketBoard:
    """The runtime's one queue read model (created on first use, started lazily)."""
    board = runtime.extras.get(BOARD_KEY)
    if not isinstance(board, TicketBoard):
        board = TicketBoard(runtime.store)
        runtime.extras[BOARD_KEY] = board
    return board
