"""Running services: ``ticketcore up`` (all, embedded NATS, one HTTP port) and
``ticketcore serve <name>`` (one service, for operators who scale them separately)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field

import nats.js.errors
from fastapi import FastAPI
from pydantic import SecretStr

from shared.adapters.consumer import EventConsumer
from shared.adapters.eventstore import STREAM
from shared.adapters.logthrottle import WarningThrottle
from shared.adapters.natsserver import EmbeddedNats
from shared.adapters.provision import provision
from shared.runtime import registry
from shared.runtime.credentials import ADMIN, all_permissions
from shared.runtime.httpapp import build_http_app
from shared.runtime.natsconfig import authorization_block, ensure_passwords
from shared.runtime.runtime import Runtime, Service, connect
from shared.runtime.secrets import require_secrets
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RunningSystem:
    """Services with their consumers and one HTTP app, on one NATS connection."""

    runtime: Runtime  # the process's first connection (the only one without NATS users)
    services: list[Service]
    consumers_of: dict[str, list[EventConsumer]] = field(default_factory=dict)
    runtimes: dict[str, Runtime] = field(default_factory=dict)  # by service name
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    embedded: EmbeddedNats | None = None

    def runtime_of(self, service: Service) -> Runtime:
        """The connection a service works on (its own NATS user where there are users)."""
        return self.runtimes.get(service.name, self.runtime)

    @property
    def connections(self) -> list[Runtime]:
        """Every distinct connection of the process."""
        distinct = {id(r): r for r in [self.runtime, *self.runtimes.values()]}
        return list(distinct.values())

    @property
    def consumers(self) -> list[EventConsumer]:
        """Every consumer of every service."""
        return [c for consumers in self.consumers_of.values() for c in consumers]

    def http_app(self) -> FastAPI:
        """The process's HTTP app (shared.runtime.httpapp)."""
        return build_http_app(self)

    async def stop(self) -> None:
        """Stop consumers, services and connections, each within STOP_STEP_S: a stop that
        hangs somewhere (a drain waiting on a node that does not answer) must not keep
        the process from ending."""
        for consumer in self.consumers:
            consumer.stop()
        for service in reversed(self.services):
            await _bounded(service.stop(), f"stopping {service.name}")
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
        for task in self.tasks:
            task.cancel()
        await _bounded(self.runtime.local_mail.stop(), "stopping the mail catcher")
        for runtime in self.connections:
            await _bounded(runtime.close(), "closing a NATS connection")
        if self.embedded is not None:
            await self.embedded.astop()


STOP_STEP_S = 10.0


async def _bounded(step: Awaitable[None], what: str) -> None:
    """Run one step of a stop; past STOP_STEP_S (or on an error) log it and go on."""
    try:
        async with asyncio.timeout(STOP_STEP_S):
            await step
    except Exception as error:  # TimeoutError included: the stop goes on regardless
        log.warning("%s did not finish (%r); going on", what, error)


@contextlib.asynccontextmanager
async def running_system(settings: Settings, names: tuple[str, ...] | None = None,
                         *, embedded_ok: bool = True,
                         http_port: int | None = None) -> AsyncIterator[RunningSystem]:
    """Start NATS (embedded unless an URL is configured), provision, start ``names``
    (default: every registered service).

    The embedded server runs with ticketcore's NATS users (shared.runtime.credentials):
    the streams are provisioned as ``admin`` and every service connects as its own user.
    Against an external server each process connects as the configured user, if any.
    Refuses (ConfigurationError) while a secret the services sign with is unusable."""
    names = registry.service_names() if names is None else names
    require_secrets(settings, names)
    embedded, url, passwords = await _start_nats(settings, embedded_ok)
    try:
        runtimes = await _connect_services(settings, names, url, passwords)
        for runtime in runtimes.values():
            runtime.http_port = http_port if http_port is not None else settings.http.port
        main = next(iter(runtimes.values()))
        services = [registry.bootstrap(name, runtimes[name]) for name in names]
        system = RunningSystem(main, services, embedded=embedded,
                               runtimes={n: runtimes[n] for n in names})
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


async def _start_nats(settings: Settings, embedded_ok: bool
                      ) -> tuple[EmbeddedNats | None, str, dict[str, str] | None]:
    """The server's URL: the configured one, or an embedded server started now with
    ticketcore's users (their passwords: generated once into the data dir)."""
    if settings.nats.url is not None:
        return None, settings.nats.url, None
    if not embedded_ok:
        raise ValueError("TICKETCORE_NATS__URL: required for `serve` (no embedded server)")
    passwords = ensure_passwords(settings.data_dir, all_permissions())
    embedded = EmbeddedNats(settings.data_dir / "nats", port=settings.nats.embedded_port,
                            sync_always=settings.nats.sync_always,
                            authorization=authorization_block(passwords))
    return embedded, await asyncio.to_thread(embedded.start), passwords


async def _connect_services(settings: Settings, names: tuple[str, ...], url: str,
                            passwords: dict[str, str] | None) -> dict[str, Runtime]:
    """A Runtime per service: one shared connection (no users, or the one configured
    user of a ``serve`` process), or each service as its own user (embedded server)."""
    if passwords is None:
        runtime = await connect(settings, url, name="ticketcore-" + "+".join(names))
        await _provisioned(runtime)
        return {name: runtime for name in names} or {"": runtime}
    admin = await connect(as_user(settings, ADMIN, passwords[ADMIN]), url,
                          name="ticketcore-provision")
    try:
        await provision(admin.js, settings.nats.replicas)
    finally:
        await admin.close()
    runtimes: dict[str, Runtime] = {}
    for name in names or (ADMIN,):
        runtime = await connect(as_user(settings, name, passwords[name]), url,
                                name=f"ticketcore-{name}")
        if runtimes:  # one mail catcher for the whole process
            runtime.local_mail = next(iter(runtimes.values())).local_mail
        runtimes[name] = runtime
    return runtimes


def as_user(settings: Settings, user: str, password: str) -> Settings:
    """The settings of a connection as ``user``."""
    nats = settings.nats.model_copy(update={"user": user, "password": SecretStr(password)})
    return settings.model_copy(update={"nats": nats})


async def _provisioned(runtime: Runtime) -> None:
    """Provision the streams and shared buckets, unless this process connects as a
    service's own user: then an operator provisions as ``admin`` (``ticketcore nats
    provision``), and the service waits until the log exists."""
    settings = runtime.settings
    user = settings.nats.user
    if user is None or user == ADMIN:
        await provision(runtime.js, settings.nats.replicas)
        return
    waiting = WarningThrottle(log)
    while True:
        try:
            await runtime.js.stream_info(STREAM)
            return
        except nats.js.errors.NotFoundError:
            waiting.warning("provision", "NATS: stream %s does not exist yet; waiting for "
                            "`ticketcore nats provision` (run as admin)", STREAM)
            await asyncio.sleep(2.0)


async def _run_consumers(system: RunningSystem, service: Service) -> None:
    """Create (or bind) the service's durable consumers and run each in a task."""
    runtime = system.runtime_of(service)
    consumers = system.consumers_of.setdefault(service.name, [])
    for spec in service.consumers():
        consumer = EventConsumer(
            runtime.js, runtime.store, spec,
            start_at_end=runtime.settings.nats.new_consumers_from == "end")
        await consumer.ensure()
        consumers.append(consumer)
        system.tasks.append(asyncio.create_task(consumer.run(), name=spec.durable))
