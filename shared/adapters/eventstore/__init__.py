"""The event store: a ticket's events on the JetStream stream ``TICKETS``.

Subjects are ``tickets.<ticket id>.<EventType>``. One module per concern: ``records``
(what the store speaks), ``append`` (optimistic concurrency, atomic batches, idempotency),
``load`` with ``index`` and ``directget`` (one ticket's history), ``decode`` with ``cache``
(stored messages back into events), ``replay`` (the whole log), ``conflicts`` (retrying a
command), and ``store``, whose EventStore composes them.
"""

from shared.adapters.eventstore.conflicts import UNANSWERED, with_conflict_retry
from shared.adapters.eventstore.index import HEADER_APPEND_SIZE, HEADER_EARLIER
from shared.adapters.eventstore.records import (
    STREAM,
    SUBJECT_PREFIX,
    ConcurrencyConflict,
    EventStoreError,
    PendingEvent,
    RecordedEvent,
    ReplayStalled,
    ReplicaBehind,
    TicketHistory,
    UndecodableHandler,
    check_ticket_id,
    ticket_id_of,
    ticket_subject,
)
from shared.adapters.eventstore.replay import BatchPuller
from shared.adapters.eventstore.store import EventStore

__all__ = [
    "HEADER_APPEND_SIZE",
    "HEADER_EARLIER",
    "STREAM",
    "SUBJECT_PREFIX",
    "UNANSWERED",
    "BatchPuller",
    "ConcurrencyConflict",
    "EventStore",
    "EventStoreError",
    "PendingEvent",
    "RecordedEvent",
    "ReplayStalled",
    "ReplicaBehind",
    "TicketHistory",
    "UndecodableHandler",
    "check_ticket_id",
    "ticket_id_of",
    "ticket_subject",
    "with_conflict_retry",
]
