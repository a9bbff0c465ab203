"""The event store on a 3-node JetStream cluster with R3 streams: a node may die."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from shared.adapters.eventstore import ConcurrencyConflict, EventStore, with_conflict_retry
from shared.adapters.natsserver import NatsCluster
from shared.adapters.provision import provision
from shared.domain import events as ev
from shared.domain.ticket import Respond, decide
from shared.runtime.runtime import connect
from shared.settings import Settings
from tests.factories import NOW, request_submitted
from tests.support import provisioned_cluster_client

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    nodes = NatsCluster(tmp_path, sync_always=True)  # fsync before ack, as production runs
    await asyncio.to_thread(nodes.start)
    try:
        yield nodes
    finally:
        await asyncio.to_thread(nodes.stop)


async def connect_ready(cluster: NatsCluster) -> NatsClient:
    return await provisioned_cluster_client(cluster.urls)


async def test_r3_log_keeps_every_acknowledged_event_when_a_node_dies(
        cluster: NatsCluster) -> None:
    client = await connect_ready(cluster)
    store = EventStore(client, timeout_s=5)
    info = await client.jetstream().stream_info("TICKETS")
    assert info.config.num_replicas == 3
    acknowledged: list[str] = []
    for i in range(60):
        if i == 20:
            cluster.servers[1].kill()  # one of three nodes crashes
        ticket = f"K{i}"

        async def submit(ticket: str = ticket) -> int:
            try:
                return await store.append(ticket, [request_submitted(case_number=ticket)], 0)
            except ConcurrencyConflict:
                history = await store.load(ticket)  # stored before a lost ack
                if history.events:
                    return history.version
                raise

        for _ in range(50):
            try:
                await submit()
                acknowledged.append(ticket)
                break
            except Exception:
                await asyncio.sleep(0.2)  # leader election after the crash
    assert len(acknowledged) == 60
    for ticket in acknowledged:
        history = await store.load(ticket)
        assert [type(r.event) for r in history.events] == [ev.RequestSubmitted]
    await client.close()


async def test_concurrent_writers_on_a_clustered_stream_lose_no_update(
        cluster: NatsCluster) -> None:
    client = await connect_ready(cluster)
    store = EventStore(client, timeout_s=5)
    await store.append("KC", [request_submitted(case_number="KC")], 0)

    async def respond(writer: int) -> None:
        async def attempt() -> int:
            history = await store.load("KC")
            events = decide(Respond(at=NOW, technician=f"t{writer}"),
                            history.state)
            return await store.append("KC", events, history.version)
        await with_conflict_retry(attempt, attempts=60)

    await asyncio.gather(*(respond(i) for i in range(10)))
    history = await store.load("KC")
    assert sorted(r.event.technician for r in history.events[1:]) == sorted(  # type: ignore[attr-defined]
        f"t{i}" for i in range(10))
    await client.close()


async def test_a_client_given_every_node_keeps_working_when_its_node_dies(
        cluster: NatsCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``TICKETCORE_NATS__URL`` with the three nodes: the runtime reconnects to another."""
    caplog.set_level(logging.INFO, logger="shared.runtime.connection")
    url = ",".join(cluster.urls)
    settings = Settings(data_dir=tmp_path, nats={"url": url})  # type: ignore[arg-type]
    runtime = await connect(settings, settings.nats.url or "")
    assert any("NATS: connected to nats://127.0.0.1:" in r.getMessage() for r in caplog.records)
    for _ in range(100):  # the meta leader is elected a moment after start
        try:
            await provision(runtime.js, replicas=3)
            break
        except Exception:
            await asyncio.sleep(0.2)
    store = runtime.store

    async def submit(ticket: str) -> None:
        for _ in range(100):  # through the reconnect and a leader election
            try:
                await store.append(ticket, [request_submitted(case_number=ticket)], 0)
                return
            except ConcurrencyConflict:
                if (await store.load(ticket)).events:  # stored before a lost ack
                    return
            except Exception:
                await asyncio.sleep(0.2)
        raise AssertionError(f"{ticket} was never stored")

    await submit("M0")
    connected_port = runtime.nc.connected_url.port  # type: ignore[union-attr]
    [node] = [s for s in cluster.servers if s.port == connected_port]
    node.kill()
    for i in range(1, 11):
        await submit(f"M{i}")
    assert runtime.nc.is_connected
    assert runtime.nc.connected_url.port != connected_port  # type: ignore[union-attr]
    for i in range(11):
        history = await store.load(f"M{i}")
        assert [type(r.event) for r in history.events] == [ev.RequestSubmitted]
    await runtime.close()
