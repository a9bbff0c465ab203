"""Logging time: the ticket's rules, then the technician's time on every ticket.

The decider sees one ticket; that a technician cannot work on two tickets at once is
checked against the read model of every technician's entries
(:mod:`shared.adapters.technicianentries`), by the domain's overlap rule.
"""

from __future__ import annotations

from shared.adapters.eventstore import EventStore
from shared.adapters.technicianentries import TechnicianEntries
from shared.application.handling import Cause, Handled, execute, prepare
from shared.domain import events as ev
from shared.domain.ticket.commands import LogTime


async def log_time(store: EventStore, entries: TechnicianEntries, ticket_id: str,
                   command: LogTime) -> Handled:
    """Log a time entry through the decider *and* the technician's entries on every ticket.

    The ticket's own rules are checked first (a refusal reserves nothing; an entry id
    already logged needs no reservation); then the interval is reserved, so an overlap with
    another ticket is refused; a failed append releases only our pending reservation (if
    the append did land after all, the consumer restores the entry from the log).
    """
    prepared = await prepare(store, ticket_id, command)
    cause = Cause(f"time-{command.entry_id}", exact=True)
    if not prepared.events:  # logged before: nothing to reserve
        return await execute(store, ticket_id, command, cause=cause,
                             history=prepared.history)
    planned = prepared.events[0]  # the entry as the rules make it (in UTC)
    assert isinstance(planned, ev.TimeLogged)
    await entries.reserve(command.technician, ticket_id, command.entry_id, planned.start,
                          planned.end)
    try:
        handled = await execute(store, ticket_id, command, cause=cause,
                                history=prepared.history)
    except BaseException:
        await entries.release(command.technician, ticket_id, command.entry_id,
                              planned.start, planned.end, pending_only=True)
        raise
    logged = next((e for e in handled.events if isinstance(e, ev.TimeLogged)), planned)
    await entries.confirm(command.technician, ticket_id, command.entry_id, logged.start,
                          logged.end, reserved=(planned.start, planned.end))
    return handled
