"""``ticketcore bench pipeline``: HTTP submit to receipt accepted, end to end.

The system (``ticketcore up``, or every service in a process of its own: see
benchmarks/system.py) and the SMTP sink run as their own processes; this process is the
load generator (asyncio and a lean keep-alive HTTP client, benchmarks/http_client.py). A
ticket is done when the sink accepted its receipt (matched by the case number in the
subject) and ``AckSent`` is in the log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import nats
import psutil
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from benchmarks import raw
from benchmarks.common import latency_summary, rate, say
from benchmarks.http_client import ConnectionPool, HttpProtocolError
from benchmarks.system import SystemUnderTest, system_under_test
from shared.adapters.natsserver import free_port
from shared.adapters.provision import ensure_stream, tickets_stream
from shared.runtime import eventloop

RAW_STREAM = "BENCHRAW"
WRITES_SETTLE_S = 1.0


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
    """When each case's receipt was accepted by the sink and its AckSent seen in the log.

    A case is checked once, when its second half arrives (a scan of every waiting case per
    arrival made the load generator the busiest process of a run). One wait at a time."""

    receipts: dict[str, float] = field(default_factory=dict)
    acks: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    def note_receipt(self, case: str, at: float) -> None:
        self.receipts[case] = at
        self._check(case)

    def note_ack(self, case: str, at: float) -> None:
        self.acks[case] = at
        self._check(case)

    def _check(self, case: str) -> None:
        if case in self.finished or case not in self.receipts or case not in self.acks:
            return
        self.finished[case] = max(self.receipts[case], self.acks[case])
        self.waiting.discard(case)
        if not self.waiting:
            self.all_done.set()

    def done_at(self, case: str) -> float | None:
        return self.finished.get(case)

    async def wait_for(self, cases: list[str], timeout_s: float) -> None:
        self.waiting = {case for case in cases if case not in self.finished}
        self.all_done = asyncio.Event()
        if not self.waiting:
            return
        try:
            await asyncio.wait_for(self.all_done.wait(), timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"{len(self.waiting)} of {len(cases)} tickets not done in {timeout_s}s "
                f"(receipts at the sink: {sum(c in self.receipts for c in cases)}, "
                f"AckSent in the log: {sum(c in self.acks for c in cases)})") from None


def process_tree(processes: dict[str, int]) -> dict[str, psutil.Process]:
    """The named processes and their children (the embedded nats-server of ``up``)."""
    found: dict[str, psutil.Process] = {}
    for name, pid in processes.items():
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            found[name] = root
            for child in root.children(recursive=True):
                found.setdefault(child.name(), child)
    return found


@dataclass
class CpuMeter:
    """CPU seconds (user + system) each process used between two readings."""

    processes: dict[str, psutil.Process]

    def reading(self) -> dict[str, float]:
        seconds = {}
        for name, process in self.processes.items():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                seconds[name] = times.user + times.system
        return seconds

    @staticmethod
    def per_ticket_ms(before: dict[str, float], after: dict[str, float],
                      tickets: int) -> dict[str, float]:
        return {name: round((after[name] - before[name]) * 1000 / max(tickets, 1), 2)
                for name in after if name in before}


@dataclass
class RssWatch:
    """Peak RSS of each process of the system (and of their children), sampled."""

    processes: dict[str, psutil.Process]
    peaks: dict[str, float] = field(default_factory=dict)

    async def run(self) -> None:
        while True:
            for name, process in self.processes.items():
                with contextlib.suppress(psutil.Error):
                    self._note(name, process)
            await asyncio.sleep(0.25)

    def _note(self, name: str, process: psutil.Process) -> None:
        mb = round(process.memory_info().rss / 2**20, 1)
        self.peaks[name] = max(self.peaks.get(name, 0.0), mb)


@contextlib.asynccontextmanager
async def smtp_sink(completion: Completion) -> AsyncIterator[tuple[int, int]]:
    """The SMTP sink as a child process; yields (port, pid)."""
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
            completion.note_receipt(case, float(accepted))

    reader = asyncio.create_task(read())
    try:
        yield port, sink.pid
    finally:
        sink.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sink.wait(), 5)
        if sink.returncode is None:
            sink.kill()
        reader.cancel()


async def watch_acks(nc: NatsClient, completion: Completion) -> None:
    """Note when each ticket's AckSent appears in the log (an ordered consumer)."""
    js = nc.jetstream()

    async def on_ack(msg: Any) -> None:
        completion.note_ack(msg.subject.split(".")[1], time.time())

    await js.subscribe("tickets.*.AckSent", ordered_consumer=True, cb=on_ack,
                       deliver_policy=DeliverPolicy.NEW)


class LoadGenerator:
    """Submits requests round-robin over the intake replicas' connection pools."""

    def __init__(self, pools: list[ConnectionPool], completion: Completion,
                 options: Options) -> None:
        self.pools = pools
        self.options = options
        self.completion = completion
        self.serial = 0
        self.errors: list[str] = []

    async def probe(self) -> None:
        """Fail clearly if the intake JSON API is not there (an empty request must be 422)."""
        for pool in self.pools:
            response = await pool.post_json("/api/requests", b"{}", None)
            if response.status in (404, 405):
                raise IntakeApiMissing("the intake service has no POST /api/requests "
                                       f"(HTTP {response.status})")

    async def submit(self, due: float | None = None) -> tuple[str, float] | None:
        """Submit one request; return its case number and when it was sent (in the open
        loop: when it was due, so a late start of the request counts in its latency)."""
        self.serial += 1
        serial = self.serial
        sent = due if due is not None else time.time()
        body = msgspec.json.encode(submission(serial))
        key = f"bench-{serial}" if self.options.idempotency_keys else None
        pool = self.pools[serial % len(self.pools)]
        try:
            response = await pool.post_json("/api/requests", body, key)
        except (OSError, asyncio.IncompleteReadError, HttpProtocolError) as error:
            self.errors.append(f"{type(error).__name__}: {error}")
            return None
        if response.status != 201:
            self.errors.append(f"{response.status}: {response.text[:300]}")
            return None
        answer = response.json()
        assert isinstance(answer, dict)
        return str(answer["case_number"]), sent

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
        await self.completion.wait_for(cases, self.options.receipt_timeout_s)
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
            due = start + index / offered_per_s
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.submit(due)))
        submitted = [t for t in await asyncio.gather(*tasks) if t]
        cases = [case for case, _ in submitted]
        self._check_accepted(cases)
        await self.completion.wait_for(cases, self.options.receipt_timeout_s)
        latencies = [(self.completion.done_at(case) or 0.0) - sent for case, sent in submitted]
        return {"offered_per_s": offered_per_s, "requests": len(submitted), **latency_summary(
            latencies)}


@dataclass(frozen=True)
class Options:
    tickets: int = 3000
    offered_per_s: float = 300.0
    duration_s: float = 10.0
    sweep: tuple[float, ...] = ()
    sync: str = "always"
    layout: str = "one"
    intake_replicas: int = 2
    idempotency_keys: bool = False
    concurrency: int = 64
    raw_count: int = 2000
    receipt_timeout_s: float = 180.0


async def run(options: Options) -> dict[str, Any]:
    completion = Completion()
    with tempfile.TemporaryDirectory(prefix="ticketcore-pipeline-") as folder:
        async with smtp_sink(completion) as (smtp_port, sink_pid), system_under_test(
                options.layout, Path(folder), smtp_port, options.sync,
                options.intake_replicas) as system:
            # The tree once (walking /proc for children every sample cost a sixth of the
            # generator's CPU); every process of the system exists once it is healthy.
            tree = process_tree(system.processes)
            cpu = CpuMeter(tree | {
                "smtp sink": psutil.Process(sink_pid), "load generator": psutil.Process()})
            rss = RssWatch(tree)
            watcher = asyncio.create_task(rss.run())
            nc = await nats.connect(f"nats://127.0.0.1:{system.nats_port}",
                                    **system.nats_login)
            try:
                say("raw limits of the same server (stream BENCHRAW) ...")
                limits = await raw_limits(nc, options.sync, options.raw_count)
                await watch_acks(nc, completion)
                phases = await _load_phases(system, completion, options, cpu,
                                            nc.jetstream())
            finally:
                watcher.cancel()
                await nc.close()
    throughput, latency = phases["throughput"], phases["latency"]
    return {
        "benchmark": "pipeline", "sync": options.sync, "layout": options.layout,
        "tickets_per_s": throughput["tickets_per_s"],
        "raw_occ_appends_per_s": limits["raw_occ_appends_per_s"],
        "ratio": round(throughput["tickets_per_s"] / (limits["raw_occ_appends_per_s"] / 2), 3),
        "p50_ms": latency["p50_ms"], "p95_ms": latency["p95_ms"], "p99_ms": latency["p99_ms"],
        "offered_per_s": options.offered_per_s, **phases, "raw": limits,
        "rss_mb": rss.peaks,
        "processes": {"layout": options.layout, "names": list(system.processes),
                      "idempotency_keys": options.idempotency_keys},
    }


async def stream_positions(js: JetStreamContext) -> dict[str, int]:
    """Every stream's last sequence: how many messages were ever stored in it."""
    return {info.config.name or "": info.state.last_seq for info in await js.streams_info()
            if info.config.name != RAW_STREAM}


def writes_per_ticket(before: dict[str, int], after: dict[str, int],
                      tickets: int) -> dict[str, float]:
    """Messages stored (each an fsynced write with ``sync always``) per ticket, by stream;
    a figure the host's noise does not move."""
    writes = {name: (after[name] - before.get(name, 0)) / max(1, tickets) for name in after}
    used = {name: round(count, 2) for name, count in sorted(writes.items()) if count > 0}
    return used | {"total": round(sum(writes.values()), 2)}


async def _load_phases(system: SystemUnderTest, completion: Completion,
                       options: Options, cpu: CpuMeter,
                       js: JetStreamContext) -> dict[str, Any]:
    per_replica = max(1, options.concurrency // len(system.intake_urls))
    pools = [ConnectionPool(url, per_replica) for url in system.intake_urls]
    try:
        load = LoadGenerator(pools, completion, options)
        await load.probe()
        say(f"throughput: {options.tickets} requests, {options.concurrency} clients ...")
        before, positions = cpu.reading(), await stream_positions(js)
        throughput = await load.closed_loop(options.tickets, options.concurrency)
        throughput["cpu_ms_per_ticket"] = cpu.per_ticket_ms(before, cpu.reading(),
                                                            throughput["tickets"])
        await asyncio.sleep(WRITES_SETTLE_S)  # the last tickets' deadlines and timers
        throughput["writes_per_ticket"] = writes_per_ticket(
            positions, await stream_positions(js), throughput["tickets"])
        say(f"latency at {options.offered_per_s}/s for {options.duration_s}s ...")
        latency = await load.open_loop(options.offered_per_s, options.duration_s)
        curve = []
        for point in options.sweep:
            say(f"latency at {point}/s ...")
            curve.append(await load.open_loop(point, options.duration_s))
    finally:
        for pool in pools:
            await pool.close()
    return {"throughput": throughput, "latency": latency, "sweep": curve,
            "http_errors": load.errors[:5]}


async def raw_limits(nc: NatsClient, sync: str, count: int) -> dict[str, Any]:
    """The raw limit on the system's own server, on a stream of its own with the same
    settings as TICKETS (so the services never see these events)."""
    config = tickets_stream()
    config.name, config.subjects = RAW_STREAM, ["benchraw.>"]
    await ensure_stream(nc.jetstream(), config)
    return await raw.limits_on(nc, count, count, sync=sync, say=say, prefix="benchraw")


def run_from_args(args: argparse.Namespace) -> dict[str, Any]:
    sweep = tuple(float(v) for v in args.sweep.split(",") if v.strip())
    options = Options(tickets=args.tickets, offered_per_s=args.rate, duration_s=args.duration,
                      sweep=sweep, sync=args.sync, layout=args.layout,
                      intake_replicas=args.intake_replicas,
                      idempotency_keys=args.idempotency_keys)
    result = eventloop.run(run(options))
    if args.plot and result["sweep"]:
        from benchmarks.plot import latency_plot

        latency_plot(result["sweep"], Path(args.plot), sync=args.sync)
    return result
