"""The one way a command reaches a ticket: load, decide, append, retry on conflicts.

Every writer uses :func:`execute`; the decider holds the rules, this holds the I/O. The
ticket is loaded here (or by a caller that checks its state before a side effect and hands
the history in) and folded by :attr:`TicketHistory.state`, nowhere else.

``event_id_for`` gives each new event its id: derive it from what caused the command (a
source event, a client's request id, a mail) so that a retry stores nothing twice. An event
whose id the ticket already holds is not appended again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from shared.adapters.eventstore import (
    EventStore,
    PendingEvent,
    TicketHistory,
    with_conflict_retry,
)
from shared.domain import events as ev
from shared.domain.ticket import TicketState, decide, evolve, fold
from shared.domain.ticket import commands as c

EventIdFor = Callable[[ev.Event], str]
# One command, several decided in order (each on the state the previous left), or none.
Commands = c.Command | Sequence[c.Command]
MakeCommands = Callable[[TicketState], Commands]


@dataclass(frozen=True)
class Handled:
    """What a command stored (``events``; empty: already done), the ticket afterwards, and
    its ``history`` as the command was decided on (without ``events``)."""

    case: str
    events: tuple[ev.Event, ...]
    decided_on: TicketState  # the ticket the command was decided on
    version: int
    history: TicketHistory

    @property
    def changed(self) -> bool:
        return bool(self.events)

    @cached_property
    def state(self) -> TicketState:
        """The ticket afterwards (folded when asked: most writers do not ask)."""
        return fold(self.events, self.decided_on)


async def execute(store: EventStore, case: str, make_commands: MakeCommands,
                  event_id_for: EventIdFor, *, history: TicketHistory | None = None,
                  retry: bool = True, new_ticket: bool = False,
                  min_seq: int = 0) -> Handled:
    """Load ``case``, decide ``make_commands(state)``, append with ``event_id_for`` ids.

    - ``make_commands`` returns one command, several (decided in order, each on the state
      the previous left; appended in one atomic batch) or none.
    - ``history``: the ticket as the caller loaded it to check a precondition before a side
      effect (a mail sent, a number taken); the first attempt decides on it, a conflict
      reloads.
    - ``retry=False``: one attempt; a ConcurrencyConflict reaches the caller.
    - ``min_seq``: the stream sequence every load must reach (the event a consumer is
      handling): a lagging replica's older history is never decided on.
    - ``new_ticket``: the ticket must not exist yet: decided on the initial state without a
      load and appended at version 0; a conflict (the id is taken) reaches the caller.

    Refusals raise the decider's DomainError; nothing is appended then.
    """
    given = history

    async def attempt() -> Handled:
        nonlocal given
        if given is not None:
            current = given
        else:
            current = (TicketHistory(case) if new_ticket
                       else await store.load(case, min_seq=min_seq))
        given = None  # a retry decides on a fresh load
        return await _decide_and_append(store, current, make_commands, event_id_for)

    if new_ticket or not retry:
        return await attempt()
    return await with_conflict_retry(attempt)


async def _decide_and_append(store: EventStore, history: TicketHistory,
                             make_commands: MakeCommands, event_id_for: EventIdFor) -> Handled:
    state = history.state
    pending = [PendingEvent(e, event_id=event_id_for(e))
               for e in decide_all(make_commands(state), state)]
    # Stored before (a redelivered mail, a retried request): the same fact, not a new one.
    pending = [p for p in pending if not history.has_event_id(p.event_id)]
    version = history.version
    if pending:
        version = await store.append(history.ticket_id, pending, history.version)
    return Handled(case=history.ticket_id, events=tuple(p.event for p in pending),
                   decided_on=state, version=version, history=history)


def decide_all(commands: Commands, state: TicketState) -> list[ev.Event]:
    """The events of ``commands`` decided one after the other on ``state`` (pure)."""
    if isinstance(commands, c.Command):
        return decide(commands, state)
    events: list[ev.Event] = []
    for command in commands:
        new = decide(command, state)
        for event in new:
            state = evolve(state, event)
        events += new
    return events
