"""Snapshots of long tickets (shared.adapters.snapshots) against a real nats-server: loads read
fewer messages, never a wrong history."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from nats.aio.client import Client as NatsClient

from shared.adapters.eventstore import EventStore, TicketHistory
from shared.adapters.provision import provision
from shared.adapters.snapshots import (
    SNAPSHOT_AFTER,
    SNAPSHOTS_STREAM,
    Snapshot,
    StoredMessage,
    snapshot_subject,
)
from shared.domain import events as ev
from tests.factories import NOW, request_submitted
from tests.support import record_calls

EMAIL = "snapshot.kunde@example.de"


async def long_ticket(store: EventStore, ticket_id: str, replies: int) -> int:
    version = await store.append(ticket_id, [request_submitted(email=EMAIL)], 0)
    for index in range(replies):
        version = await store.append(
            ticket_id, [ev.TechnicianResponded(at=NOW, technician=f"t{index}")], version)
    return version


class CountingStore(EventStore):
    """An event store (a fresh process: nothing cached) that counts its gets by sequence."""

    def __init__(self, nc: NatsClient) -> None:
        super().__init__(nc)
        self.fetched: list[int] = []
        fetch = self.gets.by_sequences

        async def counting(sequences: list[int]):  # type: ignore[no-untyped-def]
            self.fetched.extend(sequences)
            return await fetch(sequences)

        self.gets.by_sequences = counting  # type: ignore[method-assign]


def facts(history: TicketHistory) -> list[tuple[int, str, ev.Event]]:
    return [(r.seq, r.event_id, r.event) for r in history.events]


async def stored_snapshot(nc: NatsClient, ticket_id: str) -> Snapshot | None:
    for _ in range(50):  # written without waiting for the server's acknowledgement
        try:
            msg = await nc.jetstream().get_last_msg(SNAPSHOTS_STREAM,
                                                    snapshot_subject("TICKETS", ticket_id))
        except Exception:
            await asyncio.sleep(0.02)
            continue
        return msgspec.msgpack.decode(msg.data, type=Snapshot)
    return None


async def test_a_long_ticket_is_loaded_from_its_snapshot_and_the_last_message(
        store: EventStore) -> None:
    await long_ticket(store, "S1", replies=20)
    first = CountingStore(store.nc)
    expected = await first.load("S1")
    assert len(first.fetched) == 20  # no snapshot yet: every earlier event by sequence
    snapshot = await stored_snapshot(store.nc, "S1")
    assert snapshot is not None and [m.seq for m in snapshot.messages] == [
        r.seq for r in expected.events]
    second = CountingStore(store.nc)
    assert facts(await second.load("S1")) == facts(expected)
    assert second.fetched == []  # the snapshot and the last message: nothing else


async def test_events_after_the_snapshot_are_read_from_the_log(store: EventStore) -> None:
    version = await long_ticket(store, "S2", replies=12)
    await CountingStore(store.nc).load("S2")
    assert await stored_snapshot(store.nc, "S2") is not None
    for index in range(3):
        version = await store.append(
            "S2", [ev.CustomerReplied(at=NOW, message_id=f"<r{index}@x>", sender=EMAIL,
                                     subject="Re: Ihr Ticket", text="noch da?")],
            version)
    loader = CountingStore(store.nc)
    history = await loader.load("S2")
    assert len(history.events) == 16 and history.version == version
    assert len(loader.fetched) == 2  # the two replies before the last one
    assert [type(r.event).__name__ for r in history.events][-3:] == ["CustomerReplied"] * 3


async def test_a_short_ticket_gets_no_snapshot(store: EventStore) -> None:
    await long_ticket(store, "S3", replies=SNAPSHOT_AFTER - 1)
    loader = CountingStore(store.nc)
    asked = record_calls(loader.snapshots, "get")
    await loader.load("S3")
    assert asked == []  # the last message said the ticket is short: no snapshot request
    await asyncio.sleep(0.1)
    with pytest.raises(Exception, match="no message found"):
        await store.nc.jetstream().get_last_msg(SNAPSHOTS_STREAM,
                                                snapshot_subject("TICKETS", "S3"))


@pytest.mark.parametrize("content", [
    b"not a snapshot",
    # Another life of the ticket's id: sequences that are not this ticket's.
    msgspec.msgpack.encode(Snapshot([StoredMessage(1, "tickets.S4.TicketClosed", None, {
        "Ticketcore-Event-Type": "TicketClosed"}, b"{}")])),
])
async def test_a_snapshot_that_does_not_match_the_log_is_ignored(
        store: EventStore, content: bytes) -> None:
    await store.append("OTHER", [request_submitted()], 0)  # sequence 1 is not S4's
    await long_ticket(store, "S4", replies=10)
    expected = await EventStore(store.nc, protect_personal_data=True).loader.scan("S4")
    await store.nc.jetstream().publish(snapshot_subject("TICKETS", "S4"), content)
    loader = CountingStore(store.nc)
    assert facts(await loader.load("S4")) == facts(expected)
    assert len(loader.fetched) == 10


async def test_snapshots_keep_personal_data_sealed(store: EventStore) -> None:
    await long_ticket(store, "S5", replies=10)
    history = await CountingStore(store.nc).load("S5")
    assert history.events[0].event.contact.email == EMAIL  # type: ignore[attr-defined]
    msg = await store.nc.jetstream().get_last_msg(SNAPSHOTS_STREAM,
                                                  snapshot_subject("TICKETS", "S5"))
    assert EMAIL.encode() not in msg.data and b"Mustermann" not in msg.data


async def test_loads_work_without_the_snapshot_stream(store: EventStore) -> None:
    await long_ticket(store, "S6", replies=10)
    await store.nc.jetstream().delete_stream(SNAPSHOTS_STREAM)
    assert len((await CountingStore(store.nc).load("S6")).events) == 11


async def test_snapshots_are_purged_when_the_log_is_created_anew(store: EventStore) -> None:
    js = store.nc.jetstream()
    await long_ticket(store, "S7", replies=10)
    await CountingStore(store.nc).load("S7")
    assert await stored_snapshot(store.nc, "S7") is not None
    await provision(js)  # the same log: snapshots kept
    assert (await js.stream_info(SNAPSHOTS_STREAM)).state.messages == 1
    created = (await js.stream_info("TICKETS")).created
    while (await js.stream_info("TICKETS")).created == created:
        # A log created anew (its creation time is what tells it apart; recreated within
        # the clock's resolution it would look the same, so until it differs).
        await js.delete_stream("TICKETS")
        await provision(js)
    assert (await js.stream_info(SNAPSHOTS_STREAM)).state.messages == 0


async def test_a_snapshot_naming_another_tickets_messages_is_ignored(
        store: EventStore) -> None:
    await long_ticket(store, "S8", replies=10)
    expected = await EventStore(store.nc).loader.scan("S8")
    foreign = Snapshot([StoredMessage(r.seq, "tickets.OTHER.TechnicianResponded", None,
                                      {"Ticketcore-Event-Type": "TechnicianResponded"},
                                      b"{}") for r in expected.events])
    await store.nc.jetstream().publish(snapshot_subject("TICKETS", "S8"),
                                       msgspec.msgpack.encode(foreign))
    loader = CountingStore(store.nc)
    assert facts(await loader.load("S8")) == facts(expected)
    assert len(loader.fetched) == 10  # everything from the log


async def test_decoded_events_expire_whether_or_not_they_are_asked_for(
        store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.adapters.eventstore.cache as decoded_cache

    await long_ticket(store, "S9", replies=2)
    await store.load("S9")
    assert len(store.decoded) == 3
    monkeypatch.setattr(decoded_cache, "RECENT_EVENTS_S", 0.2)
    await asyncio.sleep(0.3)
    await store.append("S10", [request_submitted()], 0)
    await store.load("S10")  # remembering S10's event drops every older one
    assert [r.ticket_id for r in store.decoded] == ["S10"]
