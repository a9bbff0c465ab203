"""Running services: ``ticketcore up`` (all, embedded NATS, one HTTP port) and
``ticketcore serve <name>`` (one service, for operators who scale them separately)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.adapters.consumer import EventConsumer, consumer_lag
from shared.adapters.natsserver import EmbeddedNats
from shared.adapters.provision import provision
from shared.runtime import registry
from shared.runtime.context import Runtime, Service, connect
from shared.runtime.logs import install_request_context
from shared.runtime.metrics import install_metrics
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RunningSystem:
    """Services with their consumers and one HTTP app, on one NATS connection."""

    runtime: Runtime
    services: list[Service]
    consumers_of: dict[str, list[EventConsumer]] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    embedded: EmbeddedNats | None = None

    @property
    def consumers(self) -> list[EventConsumer]:
        """Every consumer of every service."""
        return [c for consumers in self.consumers_of.values() for c in consumers]

    def http_app(self) -> FastAPI:
        app = FastAPI(title="ticketcore", version="0.1.0",
                      description="Event-sourced support-ticket core.")
        for service in self.services:
            router = service.router()
            if router is not None:
                app.include_router(router)

        @app.get("/health", tags=["operations"])
        async def health() -> JSONResponse:
            report = await self.health()
            return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

        install_metrics(app, self.runtime.js, lambda: self.consumers)
        install_request_context(app)
        return app

    async def health(self) -> dict[str, object]:
        connected = self.runtime.nc.is_connected
        services = {service.name: await self._service_health(service)
                    for service in self.services}
        failed = [t for t in self.tasks if t.done()]
        status = "ok" if connected and not failed else "degraded"
        return {"status": status, "nats": {"connected": connected,
                                           "url": self.runtime.nats_url},
                "services": services}

    async def _service_health(self, service: Service) -> dict[str, object]:
        """The lag of the service's consumers and what the service reports itself."""
        entry: dict[str, object] = {}
        for consumer in self.consumers_of.get(service.name, []):
            try:
                entry[consumer.spec.durable] = await consumer_lag(
                    self.runtime.js, consumer.spec.stream, consumer.spec.durable)
            except Exception as error:
                entry[consumer.spec.durable] = {"error": str(error)}
        try:
            entry.update(await service.health())
        except Exception as error:
            entry["error"] = str(error)
        return entry

    async def stop(self) -> None:
        for consumer in self.consumers:
            consumer.stop()
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                await service.stop()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
        for task in self.tasks:
            task.cancel()
        await self.runtime.local_mail.stop()
        await self.runtime.close()
        if self.embedded is not None:
            await self.embedded.astop()


@contextlib.asynccontextmanager
async def running_system(settings: Settings, names: tuple[str, ...] | None = None,
                         *, embedded_ok: bool = True,
                         http_port: int | None = None) -> AsyncIterator[RunningSystem]:
    """Start NATS (embedded unless an URL is configured), provision, start ``names``
    (default: every registered service)."""
    names = registry.service_names() if names is None else names
    embedded = None
    url = settings.nats.url
    if url is None:
        if not embedded_ok:
            raise ValueError("TICKETCORE_NATS__URL: required for `serve` (no embedded server)")
        embedded = EmbeddedNats(settings.data_dir / "nats", port=settings.nats.embedded_port,
                                sync_always=settings.nats.sync_always)
        url = await asyncio.to_thread(embedded.start)
    try:
        runtime = await connect(settings, url, name="ticketcore-" + "+".join(names))
        runtime.http_port = http_port if http_port is not None else settings.http.port
        await provision(runtime.js, settings.nats.replicas)
        services = [registry.bootstrap(name, runtime) for name in names]
        system = RunningSystem(runtime, services, embedded=embedded)
        for service in services:
            await service.start()
            await _run_consumers(system, service)
    except BaseException:
        if embedded is not None:
            await embedded.astop()
        raise
    try:
        yield system
    finally:
        await system.stop()


async def _run_consumers(system: RunningSystem, service: Service) -> None:
    """Create (or bind) the service's durable consumers and run each in a task."""
    runtime = system.runtime
    consumers = system.consumers_of.setdefault(service.name, [])
    for spec in service.consumers():
        consumer = EventConsumer(
            runtime.js, runtime.store, spec,
            start_at_end=runtime.settings.nats.new_consumers_from == "end")
        await consumer.ensure()
        consumers.append(consumer)
        system.tasks.append(asyncio.create_task(consumer.run(), name=spec.durable))


async def serve_forever(settings: Settings, names: tuple[str, ...], *,
                        embedded_ok: bool) -> None:
    """Run until SIGINT/SIGTERM, then stop everything cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_system(settings, names, embedded_ok=embedded_ok) as system:
        config = uvicorn.Config(system.http_app(), host=settings.http.host,
                                port=settings.http.port, log_level="warning",
                                lifespan="off", server_header=False)
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        web = asyncio.create_task(server.serve())
        while not server.started and not web.done():
            await asyncio.sleep(0.05)
        if web.done():
            raise SystemExit(f"HTTP server could not start on port {settings.http.port}")
        _announce(system, names)
        await stop.wait()
        print("stopping ...", flush=True)
        server.should_exit = True
        await web


def _announce(system: RunningSystem, names: tuple[str, ...]) -> None:
    base = system.runtime.public_url
    print(f"ticketcore is running: services {', '.join(names)}; NATS at "
          f"{system.runtime.nats_url}", flush=True)
    if "intake" in names:
        print(f"  support-request form:  {base}/", flush=True)
    print(f"  health:                {base}/health", flush=True)
    for service in system.services:
        for line in service.announce():
            print(f"  {line}", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
