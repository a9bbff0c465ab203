"""Erasing a customer's personal data: destroy the data keys of their tickets
(crypto-shredding, see :mod:`shared.adapters.pii`), delete the files they sent (the
object store keeps them readable, no key protects them) and record the erasure on each
ticket."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from shared.adapters.attachments import AttachmentStore
from shared.adapters.eventstore import EventStore
from shared.application.handling import Cause, execute
from shared.domain import events as ev
from shared.domain.ticket.commands import RecordErasure

log = logging.getLogger(__name__)
# Technicians' files on answers go too: they were made for this customer.
FILE_EVENTS = ("CustomerReplied", "ReplyHeld", "ReplyQuarantined", "TechnicianResponded")


def files_of(events: list[ev.Event]) -> set[str]:
    """Content hashes of the files ``events`` reference."""
    return {ref.sha256 for event in events
            for ref in getattr(event, "attachments", ()) if isinstance(ref, ev.AttachmentRef)}


async def files_of_others(store: EventStore, ticket_id: str) -> set[str]:
    """Files other tickets reference (content-addressed: another customer may have sent the
    same bytes, and keeps them)."""
    found: set[str] = set()
    for event_type in FILE_EVENTS:
        async for recorded in store.replay(1, subject=f"tickets.*.{event_type}",
                                           reveal_personal_data=False):
            if recorded.ticket_id != ticket_id:
                found |= files_of([recorded.event])
    return found


async def delete_files(store: EventStore, ticket_id: str, events: list[ev.Event],
                       bucket: str) -> int:
    """Delete the ticket's files no other ticket references; returns how many."""
    mine = files_of(events)
    if not mine:
        return 0
    mine -= await files_of_others(store, ticket_id)
    files = AttachmentStore(store.js, bucket)
    for sha256 in sorted(mine):
        await files.delete(sha256)
    if mine:
        log.info("erasure of %s: %d file(s) deleted", ticket_id, len(mine))
    return len(mine)


async def tickets_of_customer(store: EventStore, email: str) -> list[str]:
    """Tickets whose contact has ``email`` (a replay of every submitted request)."""
    wanted = email.strip().lower()
    found: list[str] = []
    async for recorded in store.replay(1, subject="tickets.*.RequestSubmitted"):
        event = recorded.event
        if isinstance(event, ev.RequestSubmitted) and event.contact.email.lower() == wanted:
            found.append(recorded.ticket_id)
    return found


async def erase_ticket(store: EventStore, ticket_id: str, *, by: str, reason: str = "",
                       attachments_bucket: str | None = "attachments") -> bool:
    """Delete the ticket's files, destroy its key and append PersonalDataErased (once; a
    repeated erasure finishes an interrupted one). False: no ticket."""
    if store.vault is None:
        raise RuntimeError("this event store does not protect personal data")
    history = await store.load(ticket_id)
    if not history.events:
        return False
    if attachments_bucket is not None:
        await delete_files(store, ticket_id, [r.event for r in history.events],
                           attachments_bucket)
    await store.vault.erase(ticket_id)
    store.forget(ticket_id)
    await execute(store, ticket_id, RecordErasure(at=datetime.now(UTC), by=by, reason=reason),
                  cause=Cause(f"erased-{ticket_id}", exact=True))
    return True
