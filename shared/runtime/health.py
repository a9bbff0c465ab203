"""Health of a process, for people and for orchestrators.

- ``GET /health/live``: the process works (its event loop answers, none of its consumers
  has died). 503 means: restart it. A lost NATS server is *not* a reason: a restart would
  not bring it back, and the process reconnects by itself.
- ``GET /health/ready``: it can do its job now: every connection to NATS is up, the log
  (``TICKETS``) answers, so intake can store a request and every service load a ticket, and
  every consumer of the process is attached (its JetStream consumer answers). 503 means:
  send it no traffic for now.
- ``GET /health``: the report people read: the same checks and each consumer's lag; 503 when
  it is not ready.

Every check asks NATS with a deadline of ``CHECK_TIMEOUT_S``, all at once, so an answer
comes within about that time whatever NATS does (a node lost, a leader being elected): a
check that did not answer in time counts as failed and says so. No answer ever shows a
credential: a NATS URL given as ``nats://user:password@host`` is shown without them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shared.adapters.consumer import EventConsumer, consumer_lag
from shared.adapters.eventstore import STREAM
from shared.runtime.runtime import Runtime, Service
from shared.settings.core import without_credentials

CHECK_TIMEOUT_S = 1.0
T = TypeVar("T")


class Checked(Protocol):
    """What the checks need of a running system (shared.runtime.app.RunningSystem)."""

    runtime: Runtime
    services: list[Service]
    consumers_of: dict[str, list[EventConsumer]]
    tasks: list[asyncio.Task[None]]

    @property
    def connections(self) -> list[Runtime]: ...

    def runtime_of(self, service: Service) -> Runtime: ...


class NoAnswer(Exception):
    """A check NATS did not answer within CHECK_TIMEOUT_S."""


async def _within(check: Awaitable[T]) -> T:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await check
    except TimeoutError:
        raise NoAnswer(f"no answer within {CHECK_TIMEOUT_S:g} s") from None


def dead_tasks(system: Checked) -> list[str]:
    """Consumers of the process whose task ended: only a restart runs them again."""
    return [task.get_name() for task in system.tasks if task.done()]


async def _log_answers(runtime: Runtime) -> dict[str, object]:
    """Whether the log answers and has a leader (appends go to the leader)."""
    try:
        info = await _within(runtime.js.stream_info(STREAM))
    except Exception as error:
        return {"ok": False, "error": _reason(error)}
    if info.cluster is not None and info.cluster.name and not info.cluster.leader:
        return {"ok": False, "error": "the log has no leader (an election is running)"}
    return {"ok": True}


def _reason(error: Exception) -> str:
    return str(error) or type(error).__name__


async def _consumer(runtime: Runtime, consumer: EventConsumer) -> dict[str, object]:
    spec = consumer.spec
    try:
        return dict(await _within(consumer_lag(runtime.js, spec.stream, spec.durable)))
    except Exception as error:
        return {"error": _reason(error)}


async def _own_report(service: Service) -> dict[str, object]:
    try:
        return await _within(service.health())
    except Exception as error:
        return {"error": _reason(error)}


async def _service_report(system: Checked, service: Service) -> dict[str, object]:
    """The lag of the service's consumers and what the service reports itself."""
    runtime = system.runtime_of(service)
    consumers = system.consumers_of.get(service.name, [])
    lags = await asyncio.gather(*(_consumer(runtime, c) for c in consumers))
    entry: dict[str, object] = {c.spec.durable: lag for c, lag in zip(consumers, lags,
                                                                       strict=True)}
    entry.update(await _own_report(service))
    return entry


async def report(system: Checked) -> dict[str, Any]:
    """The whole report: connections, the log, each service's consumers; ``ready``."""
    connected = all(r.nc.is_connected for r in system.connections)
    log, *services = await asyncio.gather(
        _log_answers(system.runtime), *(_service_report(system, s) for s in system.services))
    by_name = {s.name: entry for s, entry in zip(system.services, services, strict=True)}
    problems = ([] if connected else ["NATS: not connected"]) + \
        ([] if log["ok"] else [f"log: {log['error']}"]) + \
        [f"{name}: {what}: {problem['error']}" for name, entry in by_name.items()
         for what, problem in entry.items() if isinstance(problem, dict) and "error" in problem] + \
        [f"{name}: {entry['error']}" for name, entry in by_name.items() if "error" in entry] + \
        [f"consumer {name} stopped" for name in dead_tasks(system)]
    return {"status": "ok" if not problems else "degraded", "ready": not problems,
            "problems": problems,
            "nats": {"connected": connected,
                     "url": without_credentials(system.runtime.nats_url)},
            "log": log, "services": by_name}


def health_router(system: Checked) -> APIRouter:
    """``/health``, ``/health/live`` and ``/health/ready`` of the process."""
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="The process's health report (503: not ready)")
    async def health() -> JSONResponse:
        found = await report(system)
        return JSONResponse(found, status_code=200 if found["ready"] else 503)

    @router.get("/health/live", summary="The process works (503: restart it)")
    async def live() -> JSONResponse:
        dead = dead_tasks(system)
        if dead:
            return JSONResponse({"status": "dead", "stopped": dead}, status_code=503)
        return JSONResponse({"status": "live"})

    @router.get("/health/ready", summary="The process can do its job now (503: not now)")
    async def ready() -> JSONResponse:
        found = await report(system)
        body = {"status": "ready" if found["ready"] else "not ready",
                "problems": found["problems"]}
        return JSONResponse(body, status_code=200 if found["ready"] else 503,
                            headers={} if found["ready"] else {"Retry-After": "1"})

    return router

