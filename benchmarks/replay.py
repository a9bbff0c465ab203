"""``ticketcore bench replay``: rebuild every ticket's state from a log of N events."""

from __future__ import annotations

from typing import Any

from benchmarks import raw
from benchmarks.common import BenchServer, Stopwatch, bench_server, peak_rss_mb, rate, say
from benchmarks.tickets import realistic_stream
from shared.ticket import INITIAL_STATE, TicketState, evolve


async def rebuild_all(server: BenchServer) -> tuple[dict[str, TicketState], int]:
    """Fold every ticket's state from the whole log, as a projection rebuild does."""
    states: dict[str, TicketState] = {}
    count = 0
    async for recorded in server.store.replay(1):
        states[recorded.ticket_id] = evolve(states.get(recorded.ticket_id, INITIAL_STATE),
                                            recorded.event)
        count += 1
    return states, count


async def run(events: int, sync: str = "always") -> dict[str, Any]:
    async with bench_server(sync) as server:
        say(f"filling {events} events (sync {server.sync_setting}) ...")
        clock = Stopwatch()
        stored = await raw.fill(server.nc, realistic_stream(events))
        fill_rate = rate(stored, clock.seconds)
        say(f"filled {stored} events at {fill_rate}/s; raw ordered read ...")
        raw_read = await raw.ordered_read(server.nc)
        say(f"raw read {raw_read['raw_read_per_s']}/s; rebuilding every ticket ...")
        clock = Stopwatch()
        states, replayed = await rebuild_all(server)
        seconds = clock.seconds
        if replayed != stored:
            raise RuntimeError(f"replay read {replayed} of {stored} events")
        replay_rate = rate(replayed, seconds)
        return {
            "benchmark": "replay", "sync": server.sync_setting, "events": stored,
            "tickets": len(states), "fill_per_s": fill_rate,
            "replay_events_per_s": replay_rate, "replay_s": round(seconds, 2),
            **raw_read,
            "replay_vs_raw_read": round(replay_rate / raw_read["raw_read_per_s"], 3),
            "bench_process_peak_rss_mb": peak_rss_mb(),
            "nats_server_rss_mb": server.server_rss_mb(),
        }
