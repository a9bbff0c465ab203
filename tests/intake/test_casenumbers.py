"""Case-number allocation from the shared KV counter: format, day change, and two
replicas reserving blocks concurrently without the event store's guard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import nats
from nats.aio.client import Client as NatsClient

from services.intake.casenumbers import COUNTER_BUCKET, CaseNumberAllocator
from shared.adapters.natsserver import EmbeddedNats
from shared.adapters.provision import ensure_kv
from shared.domain.casenumber import is_valid_case_number


async def test_numbers_carry_the_berlin_date_node_digits_counter_and_check_digit(
        nc: NatsClient) -> None:
    await ensure_kv(nc.jetstream(), COUNTER_BUCKET)
    moments = [datetime(2026, 11, 25, 22, 59, tzinfo=UTC), datetime(2026, 11, 25, 23, 0,
                                                                     tzinfo=UTC)]
    allocator = CaseNumberAllocator(nc.jetstream(), node_id="07", block_size=2,
                                    clock=lambda: moments[0])
    first, second, third = [await allocator.next_number() for _ in range(3)]
    assert first[:-1] == "20261125" + "07" + "00001"
    assert [second[:-1], third[:-1]] == ["202611250700002", "202611250700003"]
    assert all(is_valid_case_number(n) for n in (first, second, third))
    moments[0] = moments[1]  # midnight in Berlin: a new day starts at 1
    assert (await allocator.next_number())[:-1] == "202611260700001"


async def test_two_replicas_reserve_disjoint_blocks(nats_server: EmbeddedNats) -> None:
    clients = [await nats.connect(nats_server.url) for _ in range(2)]
    try:
        await ensure_kv(clients[0].jetstream(), COUNTER_BUCKET)
        allocators = [CaseNumberAllocator(c.jetstream(), block_size=3) for c in clients]
        numbers = await asyncio.gather(*(allocator.next_number()
                                         for _ in range(60) for allocator in allocators))
    finally:
        for client in clients:
            await client.close()
    assert len(set(numbers)) == 120
