"""``ticketcore bench memory``: each service's RSS with a long log behind it.

Fills a log of N realistic events, then starts each service alone (``ticketcore serve
<name>``, as operators run them) against that log, with its consumers created at the end of
the log (``TICKETCORE_NATS__NEW_CONSUMERS_FROM=end``: a service added to a long-running
log, so it does not mail 100,000 old customers), waits until it is healthy (the on-call
service replays the whole log into the console's queue at start) and samples its RSS for a
few seconds.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import psutil

from benchmarks import raw
from benchmarks.common import Stopwatch, bench_server, rate, say
from benchmarks.system import child, common_env
from benchmarks.tickets import realistic_stream
from shared.adapters.natsserver import free_port

SERVICES = ("intake", "ack", "oncall", "billing")


async def run(events: int, sync: str = "always", sample_s: float = 3.0) -> dict[str, Any]:
    async with bench_server(sync) as server:
        say(f"filling {events} events (sync {server.sync_setting}) ...")
        clock = Stopwatch()
        stored = await raw.fill(server.nc, realistic_stream(events))
        say(f"filled {stored} events at {rate(stored, clock.seconds)}/s")
        rss: dict[str, float] = {}
        start_s: dict[str, float] = {}
        for name in SERVICES:
            clock = Stopwatch()
            rss[name] = await _service_rss(name, server.server.url, sample_s)
            start_s[name] = round(clock.seconds - sample_s, 1)
            say(f"{name}: peak RSS {rss[name]} MB (healthy after {start_s[name]} s)")
        return {"benchmark": "memory", "sync": server.sync_setting, "events": stored,
                "rss_mb": rss, "start_s": start_s,
                "nats_server_rss_mb": server.server_rss_mb()}


async def _service_rss(name: str, nats_url: str, sample_s: float) -> float:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix=f"ticketcore-mem-{name}-") as folder:
        # Production settings (`serve` refuses development defaults); no new events are
        # handled, so nothing is ever sent to the SMTP port.
        env = common_env(Path(folder), free_port()) | {
            "TICKETCORE_NATS__URL": nats_url, "TICKETCORE_NATS__NEW_CONSUMERS_FROM": "end",
            "TICKETCORE_HTTP__PORT": str(port)}
        # Up to 10 minutes to be healthy: a start replays the log.
        async with child(["serve", name], env, Path(folder) / "service.log", port,
                         health_timeout_s=600) as pid:
            return await _peak_rss(pid, sample_s)


async def _peak_rss(pid: int, seconds: float) -> float:
    process = psutil.Process(pid)
    peak = 0
    for _ in range(max(1, int(seconds / 0.1))):
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(0.1)
    return round(peak / 2**20, 1)
