"""The event store on a 3-node JetStream cluster with R3 streams: a node may die."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from shared.adapters.eventstore import ConcurrencyConflict, EventStore, with_conflict_retry
from shared.adapters.natsserver import NatsCluster
from shared.adapters.provision import provision
from shared.domain import events as ev
from shared.domain.ticket import Respond, decide
from tests.factories import NOW, request_submitted

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    nodes = NatsCluster(tmp_path, sync_always=False)
    await asyncio.to_thread(nodes.start)
    try:
        yield nodes
    finally:
        await asyncio.to_thread(nodes.stop)


async def connect_ready(cluster: NatsCluster) -> NatsClient:
    client = await nats.connect(servers=cluster.urls, max_reconnect_attempts=-1,
                                reconnect_time_wait=0.2)
    for _ in range(100):  # the meta leader is elected a moment after start
        try:
            await provision(client.jetstream(timeout=5), replicas=3)
            return client
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError("cluster did not become ready")


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
