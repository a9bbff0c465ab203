"""The one way a command reaches a ticket: load, decide, append, retry on conflicts.

Every service's handlers use :func:`execute`; the decider holds the rules, this holds the
I/O. ``event_id_for`` gives each new event its id: derive it from what caused the command
(a source event, a client's request id) so that a retry stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.adapters.eventstore import EventStore, PendingEvent, with_conflict_retry
from shared.domain import events as ev
from shared.domain.ticket import TicketState, decide, fold
from shared.domain.ticket import commands as c

EventIdFor = Callable[[ev.Event], str]


@dataclass(frozen=True)
class Handled:
    """What a command stored (``events``; empty: already done) and the ticket afterwards."""

    case: str
    events: tuple[ev.Event, ...]
    state: TicketState
    version: int

    @property
    def changed(self) -> bool:
        return bool(self.events)


async def execute(store: EventStore, case: str,
                  make_command: Callable[[TicketState], c.Command],
                  event_id_for: EventIdFor) -> Handled:
    """Load ``case``, decide ``make_command(state)``, append with ``event_id_for`` ids."""

    async def attempt() -> Handled:
        history = await store.load(case)
        state = fold(r.event for r in history.events)
        new = decide(make_command(state), state)
        version = history.version
        if new:
            pending = [PendingEvent(e, event_id=event_id_for(e)) for e in new]
            version = await store.append(case, pending, history.version)
            state = fold(new, state)
        return Handled(case=case, events=tuple(new), state=state, version=version)

    return await with_conflict_retry(attempt)
