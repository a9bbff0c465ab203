"""What every benchmark shares: its own nats-server, timing, percentiles, the JSON report."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import psutil
from nats.aio.client import Client as NatsClient

from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import EmbeddedNats
from shared.adapters.provision import provision
from shared.runtime import eventloop


@dataclass
class BenchServer:
    """A nats-server started for one benchmark, with a provisioned stream and a client."""

    server: EmbeddedNats
    nc: NatsClient
    store: EventStore

    @property
    def sync_setting(self) -> str:
        return "always" if self.server.sync_always else "default"

    def server_rss_mb(self) -> float:
        assert self.server.process is not None
        return rss_mb(self.server.process.pid)


@contextlib.asynccontextmanager
async def bench_server(sync: str = "always") -> AsyncIterator[BenchServer]:
    """A fresh nats-server in a temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="ticketcore-bench-") as folder:
        server = EmbeddedNats(Path(folder) / "nats", port=0, sync_always=sync == "always")
        server.start()
        nc = await nats.connect(server.url, max_reconnect_attempts=3,
                                pending_size=256 * 1024 * 1024)
        try:
            await provision(nc.jetstream())
            yield BenchServer(server, nc, EventStore(nc, timeout_s=30.0))
        finally:
            await nc.close()
            server.stop()


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted values lie (nearest rank)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 and max of durations in seconds, as milliseconds."""
    ordered = sorted(seconds)
    return {f"p{int(q * 100)}_ms": round(percentile(ordered, q) * 1000, 3)
            for q in (0.50, 0.95, 0.99)} | {
        "max_ms": round(ordered[-1] * 1000, 3) if ordered else float("nan")}


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def rss_mb(pid: int | None = None) -> float:
    return round(psutil.Process(pid or os.getpid()).memory_info().rss / 2**20, 1)


def peak_rss_mb() -> float:
    """This process's peak RSS (Linux reports ru_maxrss in KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "event_loop": eventloop.loop_name(), "load_avg_1m": round(os.getloadavg()[0], 2)}


def say(line: str) -> None:
    """Progress for the person running the benchmark (stderr: stdout ends in JSON)."""
    print(line, file=sys.stderr, flush=True)


def report(result: dict[str, Any]) -> None:
    """The benchmark's result: one JSON object, printed last on stdout."""
    print(json.dumps(result, ensure_ascii=False), flush=True)
