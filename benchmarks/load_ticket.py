"""``ticketcore bench load-ticket``: time to load one 50-event ticket from a big log."""

from __future__ import annotations

import random
from typing import Any

from benchmarks import raw
from benchmarks.common import Stopwatch, bench_server, latency_summary, rate, say
from benchmarks.tickets import long_ticket_ids, realistic_stream
from shared.adapters.eventstore import EventStore
from shared.adapters.snapshots import Snapshots, StoredMessage

LONG_TICKETS = 20


async def run(events: int, loads: int = 300, sync: str = "always") -> dict[str, Any]:
    async with bench_server(sync) as server:
        say(f"filling {events} events with {LONG_TICKETS} tickets of 50 events spread "
            f"over the whole log (sync {server.sync_setting}) ...")
        clock = Stopwatch()
        stored = await raw.fill(server.nc, realistic_stream(events, long_tickets=LONG_TICKETS))
        say(f"filled {stored} events at {rate(stored, clock.seconds)}/s; loading ...")
        ticket_ids = long_ticket_ids(LONG_TICKETS)
        plain = _without_snapshots(server.store)
        # Loads that fell back to the scan.
        scans = _counting("scan", server.store.loader, plain.loader)
        cold = await _timed_loads(plain, ticket_ids, loads)
        say(f"without snapshots: p50 {cold['load']['p50_ms']} ms; warming snapshots ...")
        for ticket_id in ticket_ids:  # as any command on the ticket would have done
            await server.store.load(ticket_id)
        await server.nc.flush()  # snapshots are written without waiting for an ack
        fetched = _counting("by_sequences", server.store.gets)
        warm = await _timed_loads(server.store, ticket_ids, loads)
        return {
            "benchmark": "load-ticket", "sync": server.sync_setting, "events": stored,
            "ticket_events": 50, "loads": loads,
            # Loads that had to scan by subject (0: every load used the sequence index).
            "scanned_loads": scans["count"],
            **warm["load"],
            "with_fold": warm["with_fold"],
            # Of the timed loads, those that still fetched events by sequence (no snapshot).
            "loads_fetching_by_sequence": fetched["count"],
            # The first load of a long ticket, before a snapshot exists: the last message,
            # then the other 49 by stream sequence, all in flight.
            "without_snapshot": cold["load"],
        }


async def _timed_loads(store: EventStore, ticket_ids: list[str],
                       loads: int) -> dict[str, dict[str, float]]:
    durations: list[float] = []
    fold_durations: list[float] = []
    for _ in range(loads):
        ticket_id = random.choice(ticket_ids)
        store.forget_all()  # decode every event, as for a ticket not loaded in the last seconds
        clock = Stopwatch()
        history = await store.load(ticket_id)
        durations.append(clock.seconds)
        _ = history.state  # the fold is what is timed
        fold_durations.append(clock.seconds)
        if len(history.events) != 50:
            raise RuntimeError(f"ticket {ticket_id} has {len(history.events)} events")
    return {"load": latency_summary(durations), "with_fold": latency_summary(fold_durations)}


class _NoSnapshots(Snapshots):
    async def get(self, ticket_id: str) -> None:
        return None

    async def put(self, ticket_id: str, messages: list[StoredMessage]) -> None:
        return None


def _without_snapshots(store: EventStore) -> EventStore:
    """A second store on the same connection that neither reads nor writes snapshots."""
    return EventStore(store.nc, timeout_s=store.timeout_s,
                      snapshots=_NoSnapshots(store.nc, store.stream, store.timeout_s))


def _counting(name: str, *owners: object) -> dict[str, int]:
    """Count the calls of the owners' async method ``name`` that are given something to do
    (a ticket to scan, sequences to fetch); the dict's "count" grows as they happen."""
    calls = {"count": 0}
    for owner in owners:
        original = getattr(owner, name)

        async def counting(argument: Any, original: Any = original) -> Any:
            calls["count"] += bool(argument)
            return await original(argument)

        setattr(owner, name, counting)
    return calls
