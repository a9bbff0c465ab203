"""``ticketcore bench load-ticket``: time to load one 50-event ticket from a big log."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from benchmarks import raw
from benchmarks.common import BenchServer, Stopwatch, bench_server, latency_summary, rate, say
from benchmarks.tickets import long_ticket_ids, realistic_stream
from shared.ticket import fold

LONG_TICKETS = 20


async def run(events: int, loads: int = 300, sync: str = "always") -> dict[str, Any]:
    async with bench_server(sync) as server:
        say(f"filling {events} events with {LONG_TICKETS} tickets of 50 events spread "
            f"over the whole log (sync {server.sync_setting}) ...")
        clock = Stopwatch()
        stored = await raw.fill(server.nc, realistic_stream(events, long_tickets=LONG_TICKETS))
        say(f"filled {stored} events at {rate(stored, clock.seconds)}/s; loading ...")
        ticket_ids = long_ticket_ids(LONG_TICKETS)
        scans = _count_scans(server)
        durations: list[float] = []
        fold_durations: list[float] = []
        for _ in range(loads):
            ticket_id = random.choice(ticket_ids)
            clock = Stopwatch()
            history = await server.store.load(ticket_id)
            loaded = clock.seconds
            fold(r.event for r in history.events)
            durations.append(loaded)
            fold_durations.append(clock.seconds)
            if len(history.events) != 50:
                raise RuntimeError(f"ticket {ticket_id} has {len(history.events)} events")
        by_sequence = await _load_by_known_sequences(server, ticket_ids, loads)
        return {
            "benchmark": "load-ticket", "sync": server.sync_setting, "events": stored,
            "ticket_events": 50, "loads": loads,
            # Loads that had to scan by subject (0: every load used the sequence index).
            "scanned_loads": scans["count"],
            **latency_summary(durations),
            "with_fold": latency_summary(fold_durations),
            # What a per-ticket index of stream sequences would give (not the store's path).
            "if_sequences_known": latency_summary(by_sequence),
        }


def _count_scans(server: BenchServer) -> dict[str, int]:
    """Count the loads that fall back to the scan by subject (they should not)."""
    scans = {"count": 0}
    scan = server.store._scan

    async def counting(ticket_id: str) -> Any:
        scans["count"] += 1
        return await scan(ticket_id)

    server.store._scan = counting  # type: ignore[method-assign]
    return scans


async def _load_by_known_sequences(server: BenchServer, ticket_ids: list[str],
                                   loads: int) -> list[float]:
    """Fetch a ticket's 50 messages by stream sequence, all requests in flight at once.

    ``next_by_subj`` makes the server scan every message between two of the ticket's
    events inside a file block; a get by sequence does not. This measures how fast a load
    would be if the store kept each ticket's sequences (e.g. in a disposable index)."""
    sequences = {t: [r.seq for r in (await server.store.load(t)).events] for t in ticket_ids}
    api = f"$JS.API.DIRECT.GET.{server.store.stream}"
    durations = []
    for _ in range(loads):
        seqs = sequences[random.choice(ticket_ids)]
        clock = Stopwatch()
        replies = await asyncio.gather(*(
            server.nc.request(api, b'{"seq":%d}' % seq, timeout=10.0) for seq in seqs))
        durations.append(clock.seconds)
        if any(r.headers and r.headers.get("Status") for r in replies):
            raise RuntimeError("a direct get by sequence failed")
    return durations
