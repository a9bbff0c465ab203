"""``ticketcore bench replay``: rebuild every projection from a log of N events.

The projections are the ones the services rebuild from the log: the on-call console's
queue (``TicketBoard``, oncall) and the technicians' time entries (``TechnicianEntries``,
billing). Each reads the log as in production, without personal data (neither shows any).
A third pass folds every ticket's full state *with* personal data revealed: what a
projection that needs names and addresses would cost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import raw
from benchmarks.common import BenchServer, Stopwatch, bench_server, peak_rss_mb, rate, say
from benchmarks.tickets import realistic_stream
from services.oncall.ticketboard import TicketBoard
from shared.adapters.provision import ensure_kv
from shared.adapters.technicianentries import BUCKET as TIME_ENTRIES_BUCKET
from shared.adapters.technicianentries import TechnicianEntries
from shared.domain.ticket import INITIAL_STATE, TicketState, evolve


async def rebuild_board(server: BenchServer) -> int:
    """The console's queue, as the on-call service builds it at start (returns the tickets
    it knows)."""
    board = TicketBoard(server.store)
    await board.start()
    await board.stop()
    end = await server.store.last_sequence()
    if board.last_seq != end:
        raise RuntimeError(f"console queue read up to {board.last_seq} of {end}")
    return len(board.tickets) + len(board.finished)


async def rebuild_time_entries(server: BenchServer) -> int:
    """The technicians' entries, as billing rebuilds them when their bucket is missing
    (returns the active entries)."""
    js = server.nc.jetstream()
    await ensure_kv(js, TIME_ENTRIES_BUCKET, history=1)
    return await TechnicianEntries(js, server.store, reservation_timeout_s=60.0).rebuild()


async def fold_with_personal_data(server: BenchServer) -> int:
    """Every ticket's full state, personal fields decrypted."""
    states: dict[str, TicketState] = {}
    count = 0
    async for recorded in server.store.replay(1):
        states[recorded.ticket_id] = evolve(states.get(recorded.ticket_id, INITIAL_STATE),
                                            recorded.event)
        count += 1
    end = await server.store.last_sequence()
    if count != end:
        raise RuntimeError(f"replay read {count} of {end} events")
    return len(states)


PROJECTIONS: dict[str, Callable[[BenchServer], Awaitable[int]]] = {
    "console_queue": rebuild_board,
    "time_entries": rebuild_time_entries,
}


async def timed(name: str, rebuild: Callable[[BenchServer], Awaitable[int]],
                server: BenchServer, events: int, raw_rate: float) -> dict[str, Any]:
    say(f"rebuilding {name} ...")
    clock = Stopwatch()
    count = await rebuild(server)
    seconds = clock.seconds
    events_per_s = rate(events, seconds)
    say(f"{name}: {events_per_s} events/s ({count} items)")
    return {"events_per_s": events_per_s, "seconds": round(seconds, 2), "items": count,
            "vs_raw_read": round(events_per_s / raw_rate, 3)}


async def run(events: int, sync: str = "always") -> dict[str, Any]:
    async with bench_server(sync) as server:
        say(f"filling {events} events (sync {server.sync_setting}) ...")
        clock = Stopwatch()
        stored = await raw.fill(server.nc, realistic_stream(events))
        fill_rate = rate(stored, clock.seconds)
        say(f"filled {stored} events at {fill_rate}/s; raw ordered read ...")
        raw_read = await raw.ordered_read(server.nc)
        raw_rate = raw_read["raw_read_per_s"]
        pull_read = await raw.pull_read(server.nc)
        say(f"raw read {raw_rate}/s (ordered consumer), "
            f"{pull_read['raw_pull_read_per_s']}/s (batch pull)")
        projections = {name: await timed(name, rebuild, server, stored, raw_rate)
                       for name, rebuild in PROJECTIONS.items()}
        revealed = await timed("states_with_personal_data", fold_with_personal_data,
                               server, stored, raw_rate)
        slowest = min(projections.values(), key=lambda p: p["events_per_s"])
        return {
            "benchmark": "replay", "sync": server.sync_setting, "events": stored,
            "tickets": revealed["items"], "fill_per_s": fill_rate,
            # The slowest projection's rebuild: every projection is rebuilt at least this fast.
            "replay_events_per_s": slowest["events_per_s"],
            "replay_vs_raw_read": slowest["vs_raw_read"],
            "projections": projections,
            "states_with_personal_data": revealed,
            **raw_read,
            **pull_read,
            "replay_vs_raw_pull_read": round(slowest["events_per_s"]
                                             / pull_read["raw_pull_read_per_s"], 3),
            "bench_process_peak_rss_mb": peak_rss_mb(),
            "nats_server_rss_mb": server.server_rss_mb(),
        }
