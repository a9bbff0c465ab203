"""The raw limits of the nats-server under test, measured from one nats-py process.

- ``fill``: many acknowledged publishes in flight (one reply subject, acks counted in a
  callback, a window bounding what is in flight, a deadline on every wait: nats.py's
  ``publish_async`` never resolves on a server error, #985).
- ``sequential_publishes``: one ``js.publish`` at a time, each waiting for its ack.
- ``occ_appends``: appends with optimistic concurrency over many tickets at once; every
  ticket's appends in order, each expecting the sequence the previous one returned. Run
  both through ``EventStore.append`` and as raw ``nc.request`` with the same headers.
- ``ordered_read``: an ordered consumer over the whole stream, messages not decoded.
- ``pull_read``: the same through the event store's batch puller (the transport of a replay).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any, Literal

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from benchmarks.common import Stopwatch, rate
from benchmarks.tickets import (
    LIVES,
    Message,
    case_number,
    is_event,
    request,
    ticket_messages,
)
from shared.adapters.eventstore import BatchPuller, EventStore, PendingEvent, ticket_subject


class FillError(RuntimeError):
    pass


async def fill(nc: NatsClient, messages: Iterable[Message], *, window: int = 4000,
               timeout_s: float = 30.0) -> int:
    """Publish every message with an acknowledgement; return how many ticket events."""
    inbox = nc.new_inbox()
    acked = 0
    errors: list[bytes] = []
    progress = asyncio.Event()

    async def on_ack(msg: Msg) -> None:
        nonlocal acked
        acked += 1
        if msg.data.startswith(b'{"error"') or b'"error":' in msg.data:
            errors.append(msg.data)
        progress.set()

    async def until(done: int) -> None:
        while acked < done:
            progress.clear()
            try:
                await asyncio.wait_for(progress.wait(), timeout_s)
            except TimeoutError as error:
                raise FillError(f"no ack for {timeout_s}s: {acked} acked, "
                                f"waiting for {done}") from error

    sub = await nc.subscribe(inbox, cb=on_ack)
    sent = events = 0
    try:
        for subject, headers, body in messages:
            if sent - acked >= window:
                await until(sent - window // 2)
            await nc.publish(subject, body, reply=inbox, headers=headers)
            sent += 1
            events += subject.startswith("tickets.")
        await until(sent)
    finally:
        await sub.unsubscribe()
    if errors:
        raise FillError(f"{len(errors)} publishes refused, first: {errors[0][:300]!r}")
    return events


def _on(prefix: str, subject: str) -> str:
    """The same subject under another prefix (a stream the services do not read)."""
    return subject if prefix == "tickets" else f"{prefix}.{subject.split('.', 1)[1]}"


async def sequential_publishes(nc: NatsClient, count: int, prefix: str = "tickets"
                               ) -> dict[str, float]:
    """``js.publish`` one after the other, each awaiting its ack (the latency floor)."""
    js = nc.jetstream(timeout=30.0)
    messages = [m for i in range(count // 10 + 1)
                for m in ticket_messages(case_number(i, node="77"), LIVES[0]) if is_event(m)
                ][:count]
    clock = Stopwatch()
    for subject, headers, body in messages:
        await js.publish(_on(prefix, subject), body, headers=headers)
    return {"sequential_publishes_per_s": rate(count, clock.seconds)}


async def occ_appends(nc: NatsClient, *, tickets: int, appends_per_ticket: int,
                      concurrency: int, via: Literal["raw", "store"], node: str = "88",
                      prefix: str = "tickets") -> float:
    """Appends per second with optimistic concurrency, ``concurrency`` tickets at a time."""
    store = EventStore(nc, timeout_s=30.0)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for serial in range(tickets):
        queue.put_nowait(case_number(serial, node=node))

    async def raw_ticket(ticket_id: str) -> None:
        version = 0
        for index, (subject, headers, body) in enumerate(
                ticket_messages(ticket_id, LIVES[1], protect=False)[:appends_per_ticket]):
            headers = {**headers, "Nats-Expected-Last-Subject-Sequence": str(version),
                       "Nats-Expected-Last-Subject-Sequence-Subject":
                           _on(prefix, ticket_subject(ticket_id))}
            reply = await nc.request(_on(prefix, subject), body, timeout=30.0, headers=headers)
            ack = json.loads(reply.data)
            if "error" in ack:
                raise FillError(f"append {index} of {ticket_id} refused: {ack['error']}")
            version = int(ack["seq"])

    async def store_ticket(ticket_id: str) -> None:
        version = 0
        events = [request(ticket_id, priority=True), *LIVES[1]][:appends_per_ticket]
        for index, event in enumerate(events):
            version = await store.append(
                ticket_id, [PendingEvent(event, event_id=f"{ticket_id}-{index}")], version)

    one_ticket = raw_ticket if via == "raw" else store_ticket

    async def worker() -> None:
        while not queue.empty():
            await one_ticket(queue.get_nowait())

    clock = Stopwatch()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return rate(tickets * appends_per_ticket, clock.seconds)


async def ordered_read(nc: NatsClient, stream: str = "TICKETS") -> dict[str, float]:
    """Read the whole stream through an ordered consumer without decoding (the raw rate).

    The fastest way nats-py offers: a callback into a queue (``next_msg`` costs a task per
    message and reads about three times slower)."""
    js = nc.jetstream(timeout=30.0)
    last_seq = (await js.stream_info(stream)).state.last_seq
    buffered: asyncio.Queue[Msg] = asyncio.Queue(maxsize=4096)
    sub = await js.subscribe("tickets.>", ordered_consumer=True, cb=buffered.put,
                             deliver_policy=DeliverPolicy.ALL, pending_msgs_limit=65536,
                             pending_bytes_limit=256 * 1024 * 1024)
    count = 0
    clock = Stopwatch()
    try:
        while True:
            try:
                msg = buffered.get_nowait()
            except asyncio.QueueEmpty:
                msg = await asyncio.wait_for(buffered.get(), 30.0)
            count += 1
            if msg.metadata.sequence.stream >= last_seq:
                break
    finally:
        await sub.unsubscribe()
    return {"raw_read_events": count, "raw_read_per_s": rate(count, clock.seconds)}


async def pull_read(nc: NatsClient, stream: str = "TICKETS") -> dict[str, float]:
    """Read the whole stream through the event store's batch puller without decoding: the
    same transport as ``EventStore.replay``, so the gap to it is decoding and folding."""
    js = nc.jetstream(timeout=30.0)
    last_seq = (await js.stream_info(stream)).state.last_seq
    count = 0
    clock = Stopwatch()
    async with BatchPuller(nc, js, stream, "tickets.>", 1) as puller:
        while True:
            batch = await puller.next_batch(timeout_s=30.0)
            if not batch:
                raise RuntimeError(f"pull read stalled after {count} of {last_seq}")
            count += len(batch)
            if batch[-1].metadata.sequence.stream >= last_seq:
                break
    return {"raw_pull_read_events": count, "raw_pull_read_per_s": rate(count, clock.seconds)}


async def limits(publishes: int, tickets: int, *, sync: str = "always",
                 appends_per_ticket: int = 5, concurrency: int = 200) -> dict[str, Any]:
    """The raw limits of a fresh server: sequential publishes and concurrent OCC appends."""
    from benchmarks.common import bench_server, say

    async with bench_server(sync) as server:
        return await limits_on(server.nc, publishes, tickets, sync=server.sync_setting,
                               appends_per_ticket=appends_per_ticket, concurrency=concurrency,
                               say=say)


async def limits_on(nc: NatsClient, publishes: int, tickets: int, *, sync: str,
                    appends_per_ticket: int = 5, concurrency: int = 200,
                    say: Any = print, prefix: str = "tickets") -> dict[str, Any]:
    """The raw limits measured on an existing connection (each on its own tickets).

    With another ``prefix`` than ``tickets`` (a stream of its own) the store's appends,
    which always write to ``tickets.>``, are not measured."""
    result: dict[str, Any] = {"sync": sync}
    say(f"raw: {publishes} sequential publishes (sync {sync}) ...")
    result |= await sequential_publishes(nc, publishes, prefix)
    say(f"raw: OCC appends, {tickets} tickets x {appends_per_ticket}, {concurrency} at once ...")
    result["raw_occ_appends_per_s"] = await occ_appends(
        nc, tickets=tickets, appends_per_ticket=appends_per_ticket, concurrency=concurrency,
        via="raw", node="81", prefix=prefix)
    if prefix == "tickets":
        result["store_occ_appends_per_s"] = await occ_appends(
            nc, tickets=tickets, appends_per_ticket=appends_per_ticket,
            concurrency=concurrency, via="store", node="82")
    result["occ_concurrency"] = concurrency
    return result
