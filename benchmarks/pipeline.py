"""``ticketcore bench pipeline``: HTTP submit to receipt accepted, end to end.

The system (``ticketcore up``: embedded nats-server and all four services in one process)
and the SMTP sink run as their own processes; this process is the load generator (asyncio
and httpx). A ticket is done when the sink accepted its receipt (matched by the case
number in the subject) and ``AckSent`` is in the log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import psutil
from nats.aio.client import Client as NatsClient
from nats.js.api import DeliverPolicy

from benchmarks import raw
from benchmarks.common import latency_summary, rate, say
from shared.natsserver import free_port
from shared.provision import ensure_stream, tickets_stream

RAW_STREAM = "BENCHRAW"


class IntakeApiMissing(RuntimeError):
    """The system answers, but has no JSON API to submit requests (POST /api/requests)."""


def submission(serial: int) -> dict[str, Any]:
    """One request as the JSON API takes it (see docs/intake.md)."""
    return {
        "company": "Muster GmbH", "first_name": "Erika", "last_name": "Mustermann",
        "email": f"erika.{serial}@example.de", "phone": "+49 30 123456",
        "street": "Hauptstraße 5", "postcode": "10115", "city": "Berlin",
        "short_description": "Drucker im 2. OG druckt nicht mehr",
        "additional_backup": False, "backup_acknowledged": True, "priority": False,
        "priority_acknowledged": True,
        "commercial_customer": True,
    }


@dataclass
class Completion:
    """When each case's receipt was accepted by the sink and its AckSent seen in the log."""

    receipts: dict[str, float] = field(default_factory=dict)
    acks: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def done_at(self, case: str) -> float | None:
        if case in self.receipts and case in self.acks:
            return max(self.receipts[case], self.acks[case])
        return None

    async def wait_for(self, cases: list[str], timeout_s: float) -> None:
        deadline = time.time() + timeout_s
        while any(self.done_at(c) is None for c in cases):
            self.changed.clear()
            remaining = deadline - time.time()
            if remaining <= 0:
                missing = sum(self.done_at(c) is None for c in cases)
                raise TimeoutError(
                    f"{missing} of {len(cases)} tickets not done in {timeout_s}s "
                    f"(receipts at the sink: {sum(c in self.receipts for c in cases)}, "
                    f"AckSent in the log: {sum(c in self.acks for c in cases)})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))


@dataclass
class RssWatch:
    """Peak RSS of the system process and its nats-server child, sampled."""

    pid: int
    peaks: dict[str, float] = field(default_factory=dict)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(self.pid)
                self._note("ticketcore up (intake, ack, oncall, billing)", root)
                for child in root.children(recursive=True):
                    self._note(child.name(), child)
            await asyncio.sleep(0.25)

    def _note(self, name: str, process: psutil.Process) -> None:
        mb = round(process.memory_info().rss / 2**20, 1)
        self.peaks[name] = max(self.peaks.get(name, 0.0), mb)


@contextlib.asynccontextmanager
async def smtp_sink(completion: Completion) -> AsyncIterator[int]:
    port = free_port()
    sink = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.smtp_sink", "--port", str(port),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert sink.stdout is not None and sink.stdin is not None
    if (await sink.stdout.readline()).strip() != b"ready":
        raise RuntimeError("the SMTP sink did not start")

    async def read() -> None:
        assert sink.stdout is not None
        async for line in sink.stdout:
            case, accepted = line.decode().split()
            completion.receipts[case] = float(accepted)
            completion.changed.set()

    reader = asyncio.create_task(read())
    try:
        yield port
    finally:
        sink.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sink.wait(), 5)
        if sink.returncode is None:
            sink.kill()
        reader.cancel()


@contextlib.asynccontextmanager
async def running_system(data_dir: Path, smtp_port: int, sync: str
                         ) -> AsyncIterator[tuple[str, int, int]]:
    """``ticketcore up`` as a child process; yields (base URL, NATS port, pid)."""
    http_port, nats_port = free_port(), free_port()
    env = {**os.environ, "TICKETCORE_DATA_DIR": str(data_dir),
           "TICKETCORE_HTTP__PORT": str(http_port),
           "TICKETCORE_NATS__EMBEDDED_PORT": str(nats_port),
           "TICKETCORE_NATS__SYNC_ALWAYS": "true" if sync == "always" else "false",
           "TICKETCORE_SMTP__HOST": "127.0.0.1", "TICKETCORE_SMTP__PORT": str(smtp_port),
           "TICKETCORE_SMTP__SECURITY": "none",
           "TICKETCORE_INBOUND_MAIL__SMTP_PORT": "0",
           "TICKETCORE_INTAKE__RATE_LIMIT_PER_MINUTE": "100000000",
           "TICKETCORE_LOG_LEVEL": "WARNING"}
    env.pop("TICKETCORE_CONFIG_FILE", None)
    log = open(data_dir / "system.log", "wb")  # noqa: SIM115 - closed below
    system = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", "up", env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{http_port}"
    try:
        await _wait_healthy(base_url, system, data_dir / "system.log")
        yield base_url, nats_port, system.pid
    finally:
        if system.returncode is None:
            system.terminate()
            try:
                await asyncio.wait_for(system.wait(), 20)
            except TimeoutError:
                system.kill()
        log.close()


async def _wait_healthy(base_url: str, system: asyncio.subprocess.Process, log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if system.returncode is not None:
                raise RuntimeError(f"ticketcore up exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base_url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("ticketcore up did not become healthy in 30 s")


async def watch_acks(nc: NatsClient, completion: Completion) -> None:
    """Note when each ticket's AckSent appears in the log (an ordered consumer)."""
    js = nc.jetstream()

    async def on_ack(msg: Any) -> None:
        completion.acks[msg.subject.split(".")[1]] = time.time()
        completion.changed.set()

    await js.subscribe("tickets.*.AckSent", ordered_consumer=True, cb=on_ack,
                       deliver_policy=DeliverPolicy.NEW)


class LoadGenerator:
    def __init__(self, client: httpx.AsyncClient, completion: Completion,
                 receipt_timeout_s: float) -> None:
        self.client = client
        self.receipt_timeout_s = receipt_timeout_s
        self.completion = completion
        self.serial = 0
        self.errors: list[str] = []

    async def probe(self) -> None:
        """Fail clearly if the intake JSON API is not there (an empty request must be 422)."""
        response = await self.client.post("/api/requests", json={})
        if response.status_code in (404, 405):
            raise IntakeApiMissing("the intake service has no POST /api/requests "
                                   f"(HTTP {response.status_code})")

    async def submit(self) -> tuple[str, float] | None:
        """Submit one request; return its case number and when it was sent."""
        self.serial += 1
        sent = time.time()
        response = await self.client.post("/api/requests", json=submission(self.serial))
        if response.status_code != 201:
            self.errors.append(f"{response.status_code}: {response.text[:300]}")
            return None
        return str(response.json()["case_number"]), sent

    def _check_accepted(self, cases: list[str]) -> None:
        if not cases:
            raise RuntimeError(f"the intake API accepted no request: {self.errors[:3]}")

    async def closed_loop(self, count: int, concurrency: int) -> dict[str, Any]:
        """As fast as the system takes them: ``concurrency`` clients, ``count`` requests."""
        submitted: list[tuple[str, float]] = []
        left = count

        async def client() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                done = await self.submit()
                if done:
                    submitted.append(done)

        start = time.time()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        accepted_s = time.time() - start
        cases = [case for case, _ in submitted]
        self._check_accepted(cases)
        await self.completion.wait_for(cases, self.receipt_timeout_s)
        end = max(self.completion.done_at(c) or 0.0 for c in cases)
        return {"tickets": len(cases), "tickets_per_s": rate(len(cases), end - start),
                "http_accepted_per_s": rate(len(cases), accepted_s),
                "concurrency": concurrency}

    async def open_loop(self, offered_per_s: float, duration_s: float) -> dict[str, Any]:
        """Requests at a fixed offered rate (whatever the answers do); latency to receipt."""
        count = max(1, int(offered_per_s * duration_s))
        start = time.time() + 0.05
        tasks = []
        for index in range(count):
            delay = start + index / offered_per_s - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.submit()))
        submitted = [t for t in await asyncio.gather(*tasks) if t]
        cases = [case for case, _ in submitted]
        self._check_accepted(cases)
        await self.completion.wait_for(cases, self.receipt_timeout_s)
        latencies = [(self.completion.done_at(case) or 0.0) - sent for case, sent in submitted]
        return {"offered_per_s": offered_per_s, "requests": len(submitted), **latency_summary(
            latencies)}


async def run(tickets: int, offered: float, duration_s: float, sweep: list[float],
              sync: str, concurrency: int = 64, raw_count: int = 2000,
              receipt_timeout_s: float = 180.0) -> dict[str, Any]:
    completion = Completion()
    with tempfile.TemporaryDirectory(prefix="ticketcore-pipeline-") as folder:
        async with smtp_sink(completion) as smtp_port, \
                running_system(Path(folder), smtp_port, sync) as (base_url, nats_port, pid):
            rss = RssWatch(pid)
            watcher = asyncio.create_task(rss.run())
            nc = await nats.connect(f"nats://127.0.0.1:{nats_port}")
            try:
                say("raw limits of the same server (stream BENCHRAW) ...")
                limits = await raw_limits(nc, sync, raw_count)
                await watch_acks(nc, completion)
                limits_http = httpx.Limits(max_connections=concurrency)
                async with httpx.AsyncClient(base_url=base_url, limits=limits_http,
                                             timeout=60) as client:
                    load = LoadGenerator(client, completion, receipt_timeout_s)
                    await load.probe()
                    say(f"throughput: {tickets} requests, {concurrency} clients ...")
                    throughput = await load.closed_loop(tickets, concurrency)
                    say(f"latency at {offered}/s for {duration_s}s ...")
                    latency = await load.open_loop(offered, duration_s)
                    curve = []
                    for point in sweep:
                        say(f"latency at {point}/s ...")
                        curve.append(await load.open_loop(point, duration_s))
            finally:
                watcher.cancel()
                await nc.close()
    result = {
        "benchmark": "pipeline", "sync": sync,
        "tickets_per_s": throughput["tickets_per_s"],
        "raw_occ_appends_per_s": limits["raw_occ_appends_per_s"],
        "ratio": round(throughput["tickets_per_s"] / (limits["raw_occ_appends_per_s"] / 2), 3),
        "p50_ms": latency["p50_ms"], "p95_ms": latency["p95_ms"], "p99_ms": latency["p99_ms"],
        "offered_per_s": offered, "throughput": throughput, "latency": latency,
        "raw": limits, "sweep": curve, "http_errors": load.errors[:5],
        "rss_mb": rss.peaks,
    }
    # The last line is the summary object; the rest goes first for the record.
    return result


async def raw_limits(nc: NatsClient, sync: str, count: int) -> dict[str, Any]:
    """The raw limit on the system's own server, on a stream of its own with the same
    settings as TICKETS (so the services never see these events)."""
    config = tickets_stream()
    config.name, config.subjects = RAW_STREAM, ["benchraw.>"]
    await ensure_stream(nc.jetstream(), config)
    return await raw.limits_on(nc, count, count, sync=sync, say=say, prefix="benchraw")


def run_from_args(args: argparse.Namespace) -> dict[str, Any]:
    sweep = [float(v) for v in args.sweep.split(",") if v.strip()]
    result = asyncio.run(run(args.tickets, args.rate, args.duration, sweep, args.sync))
    if args.plot and result["sweep"]:
        from benchmarks.plot import latency_plot

        latency_plot(result["sweep"], Path(args.plot), sync=args.sync)
    return result
