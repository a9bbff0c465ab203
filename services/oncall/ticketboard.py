"""The technician queue: a read model folded from the log, kept in memory.

:class:`TicketBoard` replays the ``TICKETS`` stream once at start, then follows new events
live (an ordered consumer from the last seen stream sequence) and keeps every ticket's
:class:`TicketState` in a dict. It is disposable: nothing is written anywhere, a restart
rebuilds it by replay, and the log stays the truth. Actions never read from the board
(they load the ticket from the store); the board only answers "what is in the queue".

Memory: one folded state per ticket. A state holds the full ``RequestSubmitted`` (its
free-text fields dominate) plus the ticket's time entries and invoices: measured about
2.6 KB per ticket with some 700 characters of fault text and three time entries, i.e.
roughly 25 MB per 10,000 tickets; longer texts cost their length (see ``docs/console.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.adapters.eventstore import EventStore, RecordedEvent
from shared.domain import events as ev
from shared.domain.ticket import TicketState, evolve, fold
from shared.domain.ticket.state import INITIAL_STATE

log = logging.getLogger(__name__)

# Tickets that still need a technician. Resolved, declined, closed and invoiced tickets
# leave the queue; their page stays reachable by case number.
QUEUE_STATUSES = frozenset({"submitted", "awaiting_acceptance", "open", "in_progress"})
FOLLOW_RETRY_S = 1.0


@dataclass(frozen=True)
class QueueEntry:
    """One line of the queue: what a technician needs to pick the next ticket."""

    case: str
    short_description: str
    priority: bool
    status: str
    deadline: datetime | None
    deadline_kind: str | None  # "reaction" | "first_response" | None (already responded)
    time_left: timedelta | None
    paged_technician: str | None
    page_acknowledged_by: str | None
    submitted_at: datetime | None
    receipt_problem: str | None = None  # "undeliverable" | "overdue" | None

    @property
    def overdue(self) -> bool:
        return self.time_left is not None and self.time_left < timedelta(0)

    @property
    def awaiting_acceptance(self) -> bool:
        return self.status == "awaiting_acceptance"


def running_deadline(state: TicketState) -> tuple[datetime | None, str | None]:
    """The deadline that is still running: the reaction deadline of a priority ticket or
    the first-response deadline of a normal one, until a technician responded."""
    if state.first_response_at is not None:
        return None, None
    if state.priority and state.reaction_deadline is not None:
        return state.reaction_deadline, "reaction"
    if state.response_deadline is not None:
        return state.response_deadline, "first_response"
    return None, None


def receipt_problem(state: TicketState) -> str | None:
    """Why the customer may lack the receipt with the case number: ``undeliverable``
    (refused for good by the mail server) or ``overdue`` (not sent in time and still not
    sent); None when there is nothing to do."""
    if state.receipt_failed_permanently:
        return "undeliverable"
    if state.receipt_overdue and not state.receipt_sent:
        return "overdue"
    return None


def queue_entry(state: TicketState, now: datetime) -> QueueEntry:
    deadline, kind = running_deadline(state)
    request = state.request
    return QueueEntry(
        case=state.case_number,
        short_description=request.short_description if request else "",
        priority=state.priority,
        status=state.status,
        deadline=deadline,
        deadline_kind=kind,
        time_left=deadline - now if deadline is not None else None,
        paged_technician=state.paged_technician,
        page_acknowledged_by=state.page_acknowledged_by,
        submitted_at=request.at if request else None,
        receipt_problem=receipt_problem(state),
    )


def _timestamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("inf")


def _queue_order(entry: QueueEntry) -> tuple[bool, float, float, str]:
    # Waiting for acceptance first (nobody may work on them yet), then the nearest
    # running deadline, then tickets without a running deadline, oldest first.
    return (not entry.awaiting_acceptance, _timestamp(entry.deadline),
            _timestamp(entry.submitted_at), entry.case)


def build_queue(states: Iterable[TicketState], now: datetime) -> list[QueueEntry]:
    """The open tickets of ``states`` in working order, with the time left at ``now``."""
    entries = [queue_entry(s, now) for s in states if s.status in QUEUE_STATUSES]
    return sorted(entries, key=_queue_order)


# Statuses from which a ticket never returns to the queue by itself.
FINISHED = frozenset({"closed", "declined", "invoiced"})
# The only events that can move a finished ticket's status somewhere else.
REVIVING = (ev.InvoiceCancelled, ev.TicketReopened, ev.TicketAccepted,
            ev.TechnicianResponded, ev.TicketResolved, ev.AwaitingAcceptance)


class TicketBoard:
    """Every ticket's state, folded from the log and followed live."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        # Full states of the tickets that can still be in the queue; finished tickets are
        # only remembered by id (memory stays bounded by the open work, not the history).
        self.tickets: dict[str, TicketState] = {}
        self.finished: set[str] = set()
        # Files referenced by any ticket's event: content hash -> the tickets naming it.
        # Names stay out (sealed in the log); an erased ticket's files are dropped.
        self.attachments: dict[str, set[str]] = {}
        self.last_seq = 0
        self._seen = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()

    @property
    def started(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        """Replay the stream up to its current end, then follow it in the background."""
        async with self._start_lock:
            if self._task is not None:
                return
            # The queue shows no personal data: it stays sealed, no key is read.
            async for recorded in self.store.replay(self.last_seq + 1,
                                                    reveal_personal_data=False):
                await self._apply(recorded)
            self._task = asyncio.create_task(self._follow(), name="console-board")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _follow(self) -> None:
        while True:
            try:
                async for recorded in self.store.replay(
                        self.last_seq + 1, until_end=False, reveal_personal_data=False):
                    await self._apply(recorded)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a lost connection: resume from the last sequence
                log.warning("console board: following the log failed, resuming: %s", error)
                await asyncio.sleep(FOLLOW_RETRY_S)

    async def _apply(self, recorded: RecordedEvent) -> None:
        if recorded.seq <= self.last_seq:
            return  # an ordered consumer restarted below what we already folded
        await self._fold(recorded)
        for ref in attachments_of(recorded.event):
            self.attachments.setdefault(ref.sha256, set()).add(recorded.ticket_id)
        if isinstance(recorded.event, ev.PersonalDataErased):
            self._forget_files_of(recorded.ticket_id)
        async with self._seen:
            self.last_seq = recorded.seq
            self._seen.notify_all()

    async def _fold(self, recorded: RecordedEvent) -> None:
        ticket = recorded.ticket_id
        if ticket in self.finished:
            if not isinstance(recorded.event, REVIVING):
                return  # e.g. closed, then invoiced: still finished
            # Rare (an invoice cancelled, then the ticket reopened): fold it again.
            state = await self._state_up_to(ticket, recorded.seq)
            self.finished.discard(ticket)
        else:
            state = evolve(self.tickets.get(ticket, INITIAL_STATE), recorded.event)
        if state.status in FINISHED:
            self.tickets.pop(ticket, None)
            self.finished.add(ticket)
        else:
            self.tickets[ticket] = state

    async def _state_up_to(self, ticket: str, seq: int) -> TicketState:
        history = await self.store.load(ticket)
        return fold(r.event for r in history.events if r.seq <= seq)

    async def caught_up(self, seq: int, timeout_s: float = 2.0) -> bool:
        """Wait until the board has folded stream sequence ``seq`` (False on timeout)."""
        async with self._seen:
            try:
                await asyncio.wait_for(self._seen.wait_for(lambda: self.last_seq >= seq),
                                       timeout_s)
            except TimeoutError:
                return False
        return True

    def queue(self, now: datetime) -> list[QueueEntry]:
        return build_queue(self.tickets.values(), now)

    def _forget_files_of(self, ticket: str) -> None:
        """The erasure deleted the ticket's files: the board no longer offers them."""
        for sha256, tickets in list(self.attachments.items()):
            tickets.discard(ticket)
            if not tickets:  # another customer's copy of the same bytes stays
                del self.attachments[sha256]

    def attachment(self, sha256: str) -> str | None:
        """A ticket whose event names file ``sha256`` (None: no ticket, or erased); the
        file's name and type are read from that ticket, where they are sealed."""
        return min(self.attachments.get(sha256) or [None], key=str)


def attachments_of(event: ev.Event) -> tuple[ev.AttachmentRef, ...]:
    """The files an event references (customer replies and quarantined mail)."""
    if isinstance(event, ev.CustomerReplied | ev.ReplyQuarantined):
        return event.attachments
    return ()
