"""The one way a command reaches a ticket: load, decide, append, retry on conflicts.

Every writer uses :func:`execute`; the decider holds the rules, this holds the I/O:

- ``execute(store, case, command, cause=...)``: one command, a list of commands (decided in
  order, each on the state the previous left, appended in one atomic batch) or a function
  of the ticket's state that returns either (for a caller whose command depends on it).
- ``cause``: what the command answers (:class:`Cause`). It names the new events, so a
  repeated cause stores nothing twice, and when it is an event being handled it sets the
  sequence every load must reach and the causation header of the new events.
- :func:`prepare`: decide before a side effect. A caller that must not send a mail, take
  an invoice number or reserve an interval for a command the rules refuse prepares the
  command first (load, decide, store nothing) and then executes on the same history.
- :func:`execute_step`: a decision that names its own events (the on-call policy's step),
  executed the same way; the step that was stored comes back with what it stored.

The ticket is loaded here (or by :func:`prepare`); its history is folded by
:attr:`TicketHistory.state`, once per history, and what a command adds by
:attr:`Handled.state`. (Read models fold the log on their own: the console's TicketBoard.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol, TypeVar

from shared.adapters.eventstore import (
    EventStore,
    PendingEvent,
    RecordedEvent,
    TicketHistory,
    check_ticket_id,
    with_conflict_retry,
)
from shared.domain import events as ev
from shared.domain.ticket import TicketState, decide, evolve, fold
from shared.domain.ticket import commands as c

# One command, several decided in order (each on the state the previous left), or none.
Commands = c.Command | Sequence[c.Command]
# What to decide: the commands, or a function of the ticket's state that returns them.
Decision = Commands | Callable[[TicketState], Commands]
# Event ids are cut to this length: a mail's id (part of a technician's decision on it) may
# be 600 characters; what comes first keeps the ids of different causes apart.
MAX_EVENT_ID = 200


@dataclass(frozen=True)
class Cause:
    """What a command answers; it names the command's events and what must be read first.

    - ``id``: each new event is stored as ``<id>-<EventType>`` (``exact``: as ``<id>``, for
      a command of one event; ``suffixes``: ``<id>-<suffix>`` for the event types named
      there, ``""`` for ``<id>`` itself), so the same cause, repeated, stores nothing twice.
      Facts a ticket holds once whoever records them are named after the ticket instead
      (:func:`event_id`).
    - ``seq``: the stream sequence every load must reach (the event being handled): a
      lagging replica's older history is never decided on.
    - ``causation_id``: the id of the event being handled, written on the new events
      (header ``Ticketcore-Causation-Id``).
    """

    id: str
    seq: int = 0
    causation_id: str | None = None
    exact: bool = False
    suffixes: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def answering(cls, recorded: RecordedEvent, id: str, *, exact: bool = False) -> Cause:
        """The cause of a consumer's command: the event ``recorded`` it handles."""
        return cls(id, seq=recorded.seq, causation_id=recorded.event_id, exact=exact)

    def name(self, event: ev.Event) -> str:
        """The id of ``event`` as this cause names it."""
        return self.name_for(type(event).__name__)

    def name_for(self, type_name: str) -> str:
        """The id an event of ``type_name`` gets from this cause."""
        suffix = self.suffixes.get(type_name, "" if self.exact else type_name)
        return (f"{self.id}-{suffix}" if suffix else self.id)[:MAX_EVENT_ID]


def event_id(case: str, cause: Cause, event: ev.Event) -> str:
    """The id ``event`` is stored under. The receipt's facts are named after the ticket,
    whoever records them: the ack service and the on-call timer that flags a receipt
    overdue write the same ``ReceiptOverdue`` id, so the ticket holds it once."""
    if isinstance(event, ev.AckSent):
        return f"ack-sent-{case}"
    if isinstance(event, ev.ReceiptOverdue):
        return f"receipt-overdue-{case}"
    if isinstance(event, ev.AckFailed):
        return f"ack-failed-{case}-{event.attempt}"
    return cause.name(event)


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


@dataclass(frozen=True)
class Prepared:
    """A command decided on a fresh load before a side effect: ``events`` it would store
    now (empty: already done), and the ``history`` to execute it on."""

    history: TicketHistory
    events: tuple[ev.Event, ...]

    @property
    def state(self) -> TicketState:
        return self.history.state


async def execute(store: EventStore, case: str, decision: Decision, *, cause: Cause,
                  history: TicketHistory | None = None, retry: bool = True,
                  new_ticket: bool = False) -> Handled:
    """Load ``case``, decide ``decision``, append its events under the ids ``cause`` gives.

    - ``history``: the ticket as :func:`prepare` (or the caller) loaded it before a side
      effect; the first attempt decides on it, a conflict reloads.
    - ``retry=False``: one attempt; a ConcurrencyConflict reaches the caller.
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
            current = TicketHistory(case) if new_ticket else await load(store, case,
                                                                         seq=cause.seq)
        given = None  # a retry decides on a fresh load
        return await _decide_and_append(store, current, decision, cause)

    if new_ticket or not retry:
        return await attempt()
    return await with_conflict_retry(attempt)


async def prepare(store: EventStore, case: str, decision: Decision, *,
                  seq: int = 0) -> Prepared:
    """Decide ``decision`` on a fresh load of ``case`` and store nothing: the rules refuse
    (DomainError) before a side effect, not after it. Execute the command afterwards with
    ``history=prepared.history``. ``seq``: the stream sequence the load must reach."""
    history = await load(store, case, seq=seq)
    state = history.state
    return Prepared(history, tuple(decide_all(_commands(decision, state), state)))


class Step(Protocol):
    """A decision that names its own events, such as a policy's step: its ``command`` and
    the ``cause`` the events are stored under."""

    @property
    def command(self) -> c.Command: ...

    @property
    def cause_id(self) -> str: ...


S = TypeVar("S", bound=Step)


async def execute_step(store: EventStore, case: str, plan: Callable[[TicketState], S | None],
                       *, seq: int = 0, causation_id: str | None = None
                       ) -> tuple[S, Handled] | None:
    """Execute the step ``plan`` makes of the ticket (None: nothing to do), under the
    step's own cause (``seq``, ``causation_id`` as in :class:`Cause`); a conflict reloads
    and plans again. Returns the step that was executed and what it stored."""
    async def attempt() -> tuple[S, Handled] | None:
        history = await load(store, case, seq=seq)
        step = plan(history.state)
        if step is None:
            return None
        cause = Cause(step.cause_id, seq=seq, causation_id=causation_id)
        return step, await _decide_and_append(store, history, step.command, cause)

    return await with_conflict_retry(attempt)


async def load(store: EventStore, case: str, *, seq: int = 0) -> TicketHistory:
    """The ticket's history up to at least ``seq``. An id no ticket can have loads as no
    ticket, so the rules refuse a command on it as on any unknown ticket."""
    try:
        check_ticket_id(case)
    except ValueError:
        return TicketHistory(case)
    return await store.load(case, min_seq=seq)


def _commands(decision: Decision, state: TicketState) -> Commands:
    return decision(state) if callable(decision) else decision


async def _decide_and_append(store: EventStore, history: TicketHistory, decision: Decision,
                             cause: Cause) -> Handled:
    case, state = history.ticket_id, history.state
    pending = [PendingEvent(e, event_id=event_id(case, cause, e))
               for e in decide_all(_commands(decision, state), state)]
    # Stored before (a redelivered mail, a retried request): the same fact, not a new one.
    pending = [p for p in pending if not history.has_event_id(p.event_id)]
    version = history.version
    if pending:
        version = await store.append(case, pending, history.version,
                                     causation_id=cause.causation_id)
    return Handled(case=case, events=tuple(p.event for p in pending),
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
