"""What the event store speaks: recorded events, a ticket's history, events to append,
the store's errors, and the subjects of the log ``TICKETS``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from shared.domain.events import Event
from shared.domain.ticket import INITIAL_STATE, TicketState, fold

STREAM = "TICKETS"
SUBJECT_PREFIX = "tickets"
TICKET_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConcurrencyConflict(Exception):
    """The ticket changed since it was loaded. Reload, decide again, retry."""

    def __init__(self, ticket_id: str, expected_version: int, detail: str) -> None:
        super().__init__(f"ticket {ticket_id}: expected version {expected_version}: {detail}")
        self.ticket_id = ticket_id
        self.expected_version = expected_version


class ReplayStalled(Exception):
    """A replay stopped receiving events before it reached the end."""


class EventStoreError(Exception):
    """The store refused an append for a reason other than a conflict."""


class ReplicaBehind(EventStoreError):
    """No replica, the leader included, holds the ticket up to the sequence a reader must
    see (a purged ticket, or a leader election in progress): retry later."""


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: its ticket, stream sequence, id and recording time."""

    ticket_id: str
    seq: int
    event_id: str
    event: Event
    recorded_at: datetime | None = None
    causation_id: str | None = None

    @property
    def type_name(self) -> str:
        return type(self.event).__name__


@dataclass
class TicketHistory:
    """All events of one ticket; ``version`` is the stream sequence of the last (0: none)."""

    ticket_id: str
    events: list[RecordedEvent] = field(default_factory=list)
    # The fold of the first n events: (n, state).
    _folded: tuple[int, TicketState] | None = field(default=None, init=False, repr=False,
                                                    compare=False)

    @property
    def version(self) -> int:
        return self.events[-1].seq if self.events else 0

    def has_event_id(self, event_id: str) -> bool:
        return any(recorded.event_id == event_id for recorded in self.events)

    @property
    def state(self) -> TicketState:
        """The ticket as its events make it: the decider's fold, in one place. Folded once
        per history (a handler that checks the ticket before a side effect and then
        decides on it asks twice); folded again only if events were added since."""
        if not self.events:
            return INITIAL_STATE  # a new ticket (every submission asks)
        folded = self._folded
        if folded is not None and folded[0] == len(self.events):
            return folded[1]
        state = fold(recorded.event for recorded in self.events)
        self._folded = (len(self.events), state)
        return state


@dataclass(frozen=True)
class PendingEvent:
    """An event to append with its id (deterministic where the caller needs idempotency)."""

    event: Event
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)


# Told about a stored message that cannot be decoded: (subject, stream sequence, reason).
UndecodableHandler = Callable[[str, int, str], Awaitable[None]]


def ticket_subject(ticket_id: str, type_name: str = ">") -> str:
    return f"{SUBJECT_PREFIX}.{ticket_id}.{type_name}"


def check_ticket_id(ticket_id: str) -> str:
    if not TICKET_ID.match(ticket_id):
        raise ValueError(f"not a valid ticket id: {ticket_id!r}")
    return ticket_id


def ticket_id_of(subject: str) -> str:
    return subject.split(".", 2)[1]
