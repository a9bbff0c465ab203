"""What every service is given (:class:`Runtime`: settings, the NATS connection, the event
store, accounts, the process's outgoing mail) and what it offers (:class:`Service`).

Each service's bootstrap (``services/<name>/bootstrap.py``) builds the service and its
collaborators from a Runtime; the registry (shared.runtime.registry) knows the bootstraps.
Services never import each other; they meet only through events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from fastapi import APIRouter
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from shared.adapters.consumer import ConsumerSpec, record_for_operators
from shared.adapters.eventstore import EventStore
from shared.adapters.sessions import SessionStore
from shared.runtime.accounts import AccountStore
from shared.runtime.auth import Authenticator
from shared.runtime.connection import open_connection
from shared.runtime.mail import LocalMail
from shared.runtime.secrets import keyring
from shared.settings import Settings

log = logging.getLogger(__name__)


class Service(Protocol):
    """One deployable service, as ``up`` and ``serve`` run it."""

    name: str

    def consumers(self) -> list[ConsumerSpec]:
        """The durable consumers the service owns (the runtime runs them)."""
        ...

    def router(self) -> APIRouter | None:
        """The service's HTTP routes, if it has any."""
        ...

    async def start(self) -> None:
        """Create what the service needs on NATS, start listeners (before consumers run)."""
        ...

    async def stop(self) -> None:
        """Release what ``start`` took (after the consumers stopped)."""
        ...

    async def health(self) -> dict[str, object]:
        """The service's own part of ``/health`` (the consumers' lag is added for it)."""
        ...

    def announce(self) -> list[str]:
        """Lines for the start banner: where people reach the service."""
        ...


def utc_now() -> datetime:
    """The time now, in UTC: the processes' one clock."""
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    nc: NatsClient
    js: JetStreamContext
    store: EventStore
    accounts: AccountStore
    nats_url: str
    http_port: int = 0
    # The one clock of the process's services (tests give a fixed one).
    clock: Callable[[], datetime] = utc_now
    # One embedded mail catcher per process, shared by its services (without SMTP).
    local_mail: LocalMail = field(init=False)
    # Technicians' passwords, throttling and sessions (reads ``accounts`` on every use).
    authenticator: Authenticator = field(init=False)

    def __post_init__(self) -> None:
        self.local_mail = LocalMail(self.settings)
        self.authenticator = Authenticator(lambda: self.accounts, keyring(self.settings),
                                           SessionStore(self.js))

    @property
    def public_url(self) -> str:
        """Base URL for links in mails and pages."""
        if self.settings.http.public_url:
            return self.settings.http.public_url.rstrip("/")
        port = self.http_port or self.settings.http.port
        return f"http://{self.settings.http.host}:{port}"

    async def close(self) -> None:
        """Drain (finish in-flight work) and close; just close if NATS is already away."""
        if self.nc.is_closed:
            return
        if not self.nc.is_connected:  # reconnecting: nothing can be drained
            await self.nc.close()
            return
        try:
            await self.nc.drain()
        except Exception as error:  # reconnecting or gone: nothing left to drain
            log.warning("NATS: closing without drain: %r", error)
            await self.nc.close()


async def connect(settings: Settings, nats_url: str, *, name: str = "ticketcore") -> Runtime:
    """Connect to NATS and build the runtime. ``nats_url`` may name several servers,
    separated by commas (a cluster's nodes): the client connects to any of them, in random
    order so that replicas spread over the nodes, and on a lost server reconnects to any
    node, forever. Gives up at start with NatsUnavailable (shared.runtime.connection)."""
    nc = await open_connection(settings, nats_url, name=name)
    js = nc.jetstream(timeout=10.0)

    async def undecodable(subject: str, seq: int, reason: str) -> None:
        await record_for_operators(js, f"undecodable-{seq}", f"{subject}: {reason}")

    store = EventStore(nc, on_undecodable=undecodable)
    accounts = AccountStore.from_file(settings.accounts_file)
    return Runtime(settings=settings, nc=nc, js=js, store=store, accounts=accounts,
                   nats_url=nats_url)
