"""Durable work-sharing consumers against a real nats-server."""

from __future__ import annotations

import asyncio
from collections import Counter

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import DeliverPolicy

from shared.adapters.consumer import ConsumerSpec, EventConsumer, consumer_lag
from shared.adapters.eventstore import EventStore, RecordedEvent
from shared.adapters.natsserver import EmbeddedNats
from shared.adapters.provision import OPS_BUCKET
from shared.domain import events as ev
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.factories import NOW, request_submitted


async def wait_until(condition, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.05)


async def test_two_replicas_share_the_work_and_handle_each_event_once(
        nats_server: EmbeddedNats, store: EventStore) -> None:
    handled: Counter[str] = Counter()
    by_replica: Counter[int] = Counter()
    clients: list[NatsClient] = []
    consumers: list[EventConsumer] = []
    for replica in range(2):
        client = await nats.connect(nats_server.url)
        clients.append(client)

        async def handle(recorded: RecordedEvent, replica: int = replica) -> None:
            handled[recorded.ticket_id] += 1
            by_replica[replica] += 1
            await asyncio.sleep(0.01)  # work takes time, so the other replica fetches too

        spec = ConsumerSpec("test-receipts", ["tickets.*.RequestSubmitted"], handle, batch=8)
        consumers.append(EventConsumer(client.jetstream(), EventStore(client), spec))
    await consumers[0].ensure()
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    for i in range(300):
        await store.append(f"W{i}", [request_submitted()], 0)
    await wait_until(lambda: sum(handled.values()) >= 300, timeout_s=90)
    await asyncio.sleep(0.3)  # a double delivery would show up now
    for consumer in consumers:
        consumer.stop()
    await asyncio.gather(*tasks)
    assert len(handled) == 300 and set(handled.values()) == {1}
    assert by_replica[0] > 0 and by_replica[1] > 0  # both replicas did work
    lag = await consumer_lag(clients[0].jetstream(), "TICKETS", "test-receipts")
    assert lag["pending"] == 0 and lag["ack_pending"] == 0
    for client in clients:
        await client.close()


async def test_failing_handler_is_retried_and_order_per_ticket_kept(
        nc: NatsClient, store: EventStore) -> None:
    """With the default backoff (1 s, then 2 s): the later event of the ticket, in the
    same batch, waits for the failed one."""
    seen: list[str] = []
    failures = {"left": 2}

    async def handle(recorded: RecordedEvent) -> None:
        if recorded.ticket_id == "F1" and failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("SMTP down")
        seen.append(f"{recorded.ticket_id}:{recorded.type_name}")

    spec = ConsumerSpec("test-retry", ["tickets.>"], handle)
    consumer = EventConsumer(nc.jetstream(), store, spec)
    v = await store.append("F1", [request_submitted()], 0)
    await store.append("F1", [ev.TechnicianResponded(at=NOW, technician="a")], v)
    await store.append("F2", [request_submitted()], 0)
    task = asyncio.create_task(consumer.run())
    await wait_until(lambda: len(seen) >= 3, timeout_s=30)
    consumer.stop()
    await task
    assert failures["left"] == 0
    assert seen.index("F1:RequestSubmitted") < seen.index("F1:TechnicianResponded")
    assert sorted(seen) == ["F1:RequestSubmitted", "F1:TechnicianResponded",
                            "F2:RequestSubmitted"]


async def test_two_replicas_keep_per_ticket_order_after_a_failure(
        nats_server: EmbeddedNats, store: EventStore) -> None:
    """A ticket's first event fails twice (default backoff); its later events, appended
    after the failure, reach whichever replica fetches them and still wait for it."""
    tickets = [f"R{i}" for i in range(4)]
    seen: dict[str, list[str]] = {ticket: [] for ticket in tickets}
    failures: Counter[str] = Counter()
    by_replica: Counter[int] = Counter()
    clients = [await nats.connect(nats_server.url) for _ in range(2)]

    def handler(replica: int):  # type: ignore[no-untyped-def]
        async def handle(recorded: RecordedEvent) -> None:
            if recorded.type_name == "RequestSubmitted" and failures[recorded.ticket_id] < 2:
                failures[recorded.ticket_id] += 1
                raise RuntimeError("SMTP down")
            await asyncio.sleep(0.01)  # work takes time, so the other replica fetches too
            seen[recorded.ticket_id].append(recorded.type_name)
            by_replica[replica] += 1
        return handle

    consumers = [EventConsumer(client.jetstream(), EventStore(client), ConsumerSpec(
        "test-order", ["tickets.>"], handler(replica),
        batch=1)) for replica, client in enumerate(clients)]
    await consumers[0].ensure()
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    versions = {t: await store.append(t, [request_submitted()], 0) for t in tickets}
    await wait_until(lambda: all(failures[t] >= 1 for t in tickets))
    for ticket in tickets:  # delivered while the first event waits for its retry
        version = await store.append(
            ticket, [ev.TechnicianResponded(at=NOW, technician="a")], versions[ticket])
        await store.append(ticket, [ev.TicketResolved(at=NOW, technician="a")], version)
    await wait_until(lambda: all(len(s) == 3 for s in seen.values()), timeout_s=60)
    for consumer in consumers:
        consumer.stop()
    await asyncio.gather(*tasks)
    for client in clients:
        await client.close()
    assert all(failures[t] == 2 for t in tickets)
    assert set(map(tuple, seen.values())) == {
        ("RequestSubmitted", "TechnicianResponded", "TicketResolved")}
    assert by_replica[0] > 0 and by_replica[1] > 0  # both replicas did work


async def test_undecodable_event_is_recorded_and_skipped_not_a_crash_loop(
        nc: NatsClient) -> None:
    handled: list[str] = []
    reported: list[int] = []

    async def report(subject: str, seq: int, reason: str) -> None:
        reported.append(seq)
        kv = await nc.jetstream().key_value(OPS_BUCKET)
        await kv.put(f"undecodable-{seq}", reason.encode())

    store = EventStore(nc, on_undecodable=report)

    async def handle(recorded: RecordedEvent) -> None:
        handled.append(recorded.ticket_id)

    await nc.request("tickets.X1.RequestSubmitted", b"garbage", headers={
        "Ticketcore-Event-Type": "RequestSubmitted"})
    await store.append("X2", [request_submitted()], 0)
    consumer = EventConsumer(nc.jetstream(), store, ConsumerSpec(
        "test-poison", ["tickets.*.RequestSubmitted"], handle))
    task = asyncio.create_task(consumer.run())
    await wait_until(lambda: handled == ["X2"])
    await asyncio.sleep(0.3)
    consumer.stop()
    await task
    assert handled == ["X2"] and reported == [1]
    kv = await nc.jetstream().key_value(OPS_BUCKET)
    assert b"RequestSubmitted" in (await kv.get("undecodable-1")).value
    lag = await consumer_lag(nc.jetstream(), "TICKETS", "test-poison")
    assert lag["ack_pending"] == 0


async def test_a_consumer_survives_fetch_timeouts_and_unexpected_errors(
        nc: NatsClient, store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from nats.js.client import JetStreamContext

    handled: list[str] = []

    async def handle(recorded: RecordedEvent) -> None:
        handled.append(recorded.ticket_id)

    original_fetch = JetStreamContext.PullSubscription.fetch
    failures = iter([TimeoutError(), RuntimeError("unexpected"), None])

    async def flaky_fetch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        failure = next(failures, None)
        if failure is not None:
            raise failure  # asyncio's TimeoutError, as nats-py raises it under load
        return await original_fetch(self, *args, **kwargs)

    monkeypatch.setattr(JetStreamContext.PullSubscription, "fetch", flaky_fetch)
    consumer = EventConsumer(nc.jetstream(), store,
                             ConsumerSpec("test-sturdy", ["tickets.>"], handle))
    task = asyncio.create_task(consumer.run())
    await store.append("ST1", [request_submitted()], 0)
    await wait_until(lambda: handled == ["ST1"])
    consumer.stop()
    await task
    assert handled == ["ST1"] and consumer.restarts == 1


async def test_a_new_consumer_can_start_at_the_end_and_keeps_its_start_on_update(
        nc: NatsClient, store: EventStore) -> None:
    await store.append("OLD", [request_submitted()], 0)
    handled: list[str] = []

    async def handle(recorded: RecordedEvent) -> None:
        handled.append(recorded.ticket_id)

    spec = ConsumerSpec("test-from-end", ["tickets.>"], handle)
    consumer = EventConsumer(nc.jetstream(), store, spec, start_at_end=True)
    await consumer.ensure()
    again = EventConsumer(nc.jetstream(), store, spec)  # a restart with the default
    task = asyncio.create_task(again.run())  # updates the existing consumer: no error
    await store.append("NEW", [request_submitted()], 0)
    await wait_until(lambda: handled == ["NEW"])
    await asyncio.sleep(0.2)
    again.stop()
    await task
    assert handled == ["NEW"] and again.restarts == 0


async def test_services_added_to_a_long_log_start_their_queues_at_the_beginning(
        settings: Settings, store: EventStore) -> None:
    """``new_consumers_from=end`` skips the log's history, never queued work: the oncall
    service's timer and webhook consumers start with everything (a work-queue stream
    refuses anything else)."""
    await store.append("OLD", [request_submitted()], 0)
    settings = settings.model_copy(update={"nats": settings.nats.model_copy(
        update={"new_consumers_from": "end"})})
    async with running_system(settings, ("oncall",)) as system:
        js = system.runtime.js
        requests = await js.consumer_info("TICKETS", "oncall-requests")
        timers = await js.consumer_info("TIMERS", "oncall-timers")
        webhooks = await js.consumer_info("WEBHOOKS", "oncall-webhooks")
    assert requests.config.deliver_policy == DeliverPolicy.NEW
    assert timers.config.deliver_policy == webhooks.config.deliver_policy == DeliverPolicy.ALL


async def test_a_cancel_that_arrives_as_a_timeout_stops_the_creation_of_a_consumer(
        nc: NatsClient, store: EventStore) -> None:
    """A stop cancels a service while it asks for its consumer: when that cancel meets the
    request's own deadline, nats-py raises a timeout, which must not be asked again."""
    consumer = EventConsumer(nc.jetstream(), store,
                             ConsumerSpec("test-cancelled", ["tickets.>"], _nothing))
    asked = 0

    async def unanswered() -> None:
        nonlocal asked
        asked += 1
        try:
            await asyncio.sleep(60)  # the consumer's leader does not answer
        except asyncio.CancelledError:
            raise nats.errors.TimeoutError from None  # as when the deadline fired too

    consumer._ensure_once = unanswered  # type: ignore[method-assign]
    task = asyncio.create_task(consumer.ensure())
    await wait_until(lambda: asked == 1)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=30)
    assert done, "the cancelled creation went on asking"
    assert isinstance(task.exception(), nats.errors.TimeoutError) and asked == 1


async def _nothing(recorded: RecordedEvent) -> None:
    return None
