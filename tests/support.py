"""Test helpers: a real HTTP server on a free port, a real SMTP server on loopback, and
waiting until durable consumers have nothing left to do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import nats
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from fastapi import FastAPI
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from shared.adapters.natsserver import free_port
from shared.adapters.provision import provision
from shared.runtime.httpserver import server_config


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI, *, keep_alive_s: int = 5,
                    request_timeout_s: float = 30.0,
                    trusted_proxies: tuple[str, ...] = ()) -> AsyncIterator[str]:
    """Serve ``app`` as every service is served (shared.runtime.httpserver) on a free
    loopback port; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, keep_alive_s=keep_alive_s,
                                          request_timeout_s=request_timeout_s,
                                          trusted_proxies=trusted_proxies))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps every accepted message."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: object, session: Session,
                          envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content,  # type: ignore[arg-type]
                                                policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        self.port = self.port or free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[EmailMessage]:
        """Wait until ``count`` messages arrived (polling; tests assert on the result)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.messages) < count and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return self.messages


def record_calls(owner: object, name: str) -> list[Any]:
    """Wrap the async method ``name`` of ``owner`` (this object only) so that each call's
    first argument is recorded in the returned list; the method still runs."""
    original = getattr(owner, name)
    calls: list[Any] = []

    async def recording(first: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(first)
        return await original(first, *args, **kwargs)

    setattr(owner, name, recording)
    return calls


async def consumers_idle(js: JetStreamContext, stream: str, durables: Iterable[str],
                         timeout_s: float = 20.0) -> bool:
    """Wait until each durable consumer on ``stream`` has nothing left to deliver and
    nothing delivered but unacknowledged (num_pending == num_ack_pending == 0); a message
    waiting for its retry (nak with delay) counts as unacknowledged. True when idle,
    False when the time ran out (tests assert on it).

    After this point a consumer hands nothing out again until new messages arrive, so a
    check for duplicates made now cannot be early."""
    names = list(durables)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        infos = [await js.consumer_info(stream, name) for name in names]
        if all(not info.num_pending and not info.num_ack_pending for info in infos):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.05)


async def provisioned_cluster_client(urls: list[str], **login: Any) -> NatsClient:
    """A client of a cluster just started, once its streams are provisioned with three
    replicas (the meta leader is elected a moment after the nodes start)."""
    client = await nats.connect(servers=urls, max_reconnect_attempts=-1,
                                reconnect_time_wait=0.2, **login)
    for _ in range(150):
        try:
            await provision(client.jetstream(timeout=5), replicas=3)
            return client
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError("cluster did not become ready")
