"""Erasing a customer's personal data: destroy the data keys of their tickets
(crypto-shredding, see :mod:`shared.adapters.pii`) and record the erasure on each ticket."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.adapters.eventstore import EventStore
from shared.application.handling import execute
from shared.domain import events as ev
from shared.domain.ticket.commands import RecordErasure


async def tickets_of_customer(store: EventStore, email: str) -> list[str]:
    """Tickets whose contact has ``email`` (a replay of every submitted request)."""
    wanted = email.strip().lower()
    found: list[str] = []
    async for recorded in store.replay(1, subject="tickets.*.RequestSubmitted"):
        event = recorded.event
        if isinstance(event, ev.RequestSubmitted) and event.contact.email.lower() == wanted:
            found.append(recorded.ticket_id)
    return found


async def erase_ticket(store: EventStore, ticket_id: str, *, by: str,
                       reason: str = "") -> bool:
    """Destroy the ticket's key and append PersonalDataErased (once). False: no ticket."""
    if store.vault is None:
        raise RuntimeError("this event store does not protect personal data")
    history = await store.load(ticket_id)
    if not history.events:
        return False
    await store.vault.erase(ticket_id)
    store.forget(ticket_id)
    await execute(store, ticket_id,
                  lambda state: RecordErasure(at=datetime.now(UTC), by=by, reason=reason),
                  lambda event: f"erased-{ticket_id}")
    return True
