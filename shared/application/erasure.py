"""Erasing a customer's personal data: destroy the data keys of their tickets
(crypto-shredding, see :mod:`shared.adapters.pii`) and record the erasure on each ticket."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.adapters.eventstore import EventStore, PendingEvent, with_conflict_retry
from shared.domain import events as ev


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

    async def record() -> int:
        current = await store.load(ticket_id)
        if any(isinstance(r.event, ev.PersonalDataErased) for r in current.events):
            return current.version
        erased = ev.PersonalDataErased(at=datetime.now(UTC), by=by, reason=reason)
        return await store.append(ticket_id, [PendingEvent(erased, f"erased-{ticket_id}")],
                                  current.version)

    await with_conflict_retry(record)
    return True
