"""The event store against a real nats-server."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from shared.adapters.eventstore import (
    ConcurrencyConflict,
    EventStore,
    PendingEvent,
    with_conflict_retry,
)
from shared.domain import events as ev
from shared.domain.ticket import Respond, decide, fold
from tests.factories import NOW, request_submitted
from tests.support import record_calls


async def test_append_and_load_round_trip(store: EventStore) -> None:
    submitted = request_submitted()
    version = await store.append("T1", [submitted], expected_version=0)
    history = await store.load("T1")
    assert [r.event for r in history.events] == [submitted]
    assert history.version == version
    assert history.events[0].recorded_at is not None


async def test_atomic_batch_stores_all_events_of_one_command(store: EventStore) -> None:
    submitted = request_submitted(has_sla=False)
    awaiting = ev.AwaitingAcceptance(at=NOW)
    version = await store.append("T2", [submitted, awaiting], expected_version=0)
    history = await store.load("T2")
    assert [r.event for r in history.events] == [submitted, awaiting]
    assert history.version == version == history.events[1].seq


async def test_stale_expected_version_is_a_conflict(store: EventStore) -> None:
    await store.append("T3", [request_submitted()], expected_version=0)
    with pytest.raises(ConcurrencyConflict):
        await store.append("T3", [request_submitted()], expected_version=0)
    with pytest.raises(ConcurrencyConflict):  # batches are checked too
        await store.append("T3", [ev.AwaitingAcceptance(at=NOW)] * 2, expected_version=0)
    assert len((await store.load("T3")).events) == 1


async def test_expected_version_is_the_tickets_stream_sequence(store: EventStore) -> None:
    v1 = await store.append("A", [request_submitted()], expected_version=0)
    await store.append("B", [request_submitted()], expected_version=0)
    responded = ev.TechnicianResponded(at=NOW, technician="anna")
    v2 = await store.append("A", [responded], expected_version=v1)
    assert v2 == v1 + 2  # B's event sits between them in the stream


async def test_retried_append_after_lost_ack_is_stored_once(store: EventStore) -> None:
    first = PendingEvent(request_submitted(), event_id="submit-T4")
    version = await store.append("T4", [first], expected_version=0)
    # The client did not see the ack and retries with the same id and expected version:
    # the server answers 10071 (the check runs before dedup); the store finds its own id.
    again = await store.append("T4", [first], expected_version=0)
    assert again == version
    batch = [PendingEvent(ev.TechnicianResponded(at=NOW, technician="a"), event_id="r1"),
             PendingEvent(ev.TicketResolved(at=NOW, technician="a"), event_id="r2")]
    v2 = await store.append("T4", batch, expected_version=version)
    assert await store.append("T4", batch, expected_version=version) == v2
    assert [r.event_id for r in (await store.load("T4")).events] == ["submit-T4", "r1", "r2"]


async def test_twenty_concurrent_writers_lose_no_update(store: EventStore) -> None:
    await store.append("T5", [request_submitted()], expected_version=0)
    conflicts = 0

    async def respond(writer: int) -> None:
        async def attempt() -> int:
            nonlocal conflicts
            history = await store.load("T5")
            state = history.state
            assert history.events, (history, writer)
            events = decide(Respond(at=NOW + timedelta(seconds=writer),
                                    technician=f"tech{writer}"), state)
            try:
                return await store.append("T5", events, history.version)
            except ConcurrencyConflict:
                conflicts += 1
                raise
        await with_conflict_retry(attempt, attempts=60)

    await asyncio.gather(*(respond(i) for i in range(20)))
    history = await store.load("T5")
    technicians = [r.event.technician for r in history.events[1:]]  # type: ignore[attr-defined]
    assert sorted(technicians) == sorted(f"tech{i}" for i in range(20))
    seqs = [r.seq for r in history.events]
    assert seqs == sorted(seqs)
    assert conflicts > 0  # the writers really raced


async def test_load_of_a_long_ticket_pages_through_batches(store: EventStore) -> None:
    version = await store.append("T6", [request_submitted()], expected_version=0)
    for i in range(300):
        version = await store.append(
            "T6", [ev.OnCallReNotified(at=NOW, technician="x", attempt=i)], version)
    assert len((await store.load("T6")).events) == 301


async def test_unknown_ticket_loads_empty(store: EventStore) -> None:
    history = await store.load("nothing-here")
    assert history.events == [] and history.version == 0


async def test_invalid_ticket_id_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError):
        await store.load("a.b")
    with pytest.raises(ValueError):
        await store.append("a>", [request_submitted()], 0)


async def test_replay_rebuilds_exactly_the_live_state(store: EventStore) -> None:
    live: dict[str, object] = {}
    versions: dict[str, int] = {}
    for i in range(200):
        versions[f"R{i}"] = await store.append(f"R{i}", [request_submitted()], 0)
    # 10,000 events over 200 tickets, folded live as they are appended.
    for round_ in range(49):
        for i in range(200):
            tid = f"R{i}"
            event = ev.CustomerReplied(at=NOW, message_id=f"<{round_}-{i}@x>", sender="k@x",
                                       subject="s", text=f"reply {round_}")
            versions[tid] = await store.append(tid, [event], versions[tid])
    for i in range(200):
        live[f"R{i}"] = (await store.load(f"R{i}")).state
    replayed: dict[str, list[ev.Event]] = {}
    count = 0
    async for recorded in store.replay(1):
        replayed.setdefault(recorded.ticket_id, []).append(recorded.event)
        count += 1
    assert count == 10_000
    assert {tid: fold(events) for tid, events in replayed.items()} == live


async def test_old_schema_version_is_upcast_on_read(store: EventStore) -> None:
    from shared.domain.events import codec

    # Pretend AckSent v1 had "to" instead of "recipient", and the current version is 2.
    @codec.register_upcaster("AckSent", 1)
    def _rename_to(raw: dict[str, object]) -> dict[str, object]:
        raw["recipient"] = raw.pop("to")
        return raw

    old_body = json.dumps({"type": "AckSent", "at": NOW.isoformat(), "message_id": "<m@x>",
                           "to": "k@example.de"}).encode()
    await store.nc.request("tickets.U1.AckSent", old_body, headers={
        "Ticketcore-Event-Type": "AckSent", "Ticketcore-Schema-Version": "1",
        "Ticketcore-Event-Id": "old-1"})
    original = ev.AckSent.SCHEMA_VERSION
    ev.AckSent.SCHEMA_VERSION = 2
    try:
        history = await store.load("U1")
    finally:
        ev.AckSent.SCHEMA_VERSION = original
        codec._UPCASTERS.pop(("AckSent", 1))
    assert history.events[0].event == ev.AckSent(at=NOW, message_id="<m@x>",
                                                 recipient="k@example.de")


async def test_undecodable_message_is_skipped_and_reported(nc) -> None:  # type: ignore[no-untyped-def]
    reported: list[tuple[str, int, str]] = []

    async def report(subject: str, seq: int, reason: str) -> None:
        reported.append((subject, seq, reason))

    store = EventStore(nc, on_undecodable=report)
    await store.append("U2", [request_submitted()], 0)
    await nc.request("tickets.U2.AckSent", b"{not json", headers={
        "Ticketcore-Event-Type": "AckSent"})
    await nc.request("tickets.U2.Mystery", b"{}", headers={})
    history = await store.load("U2")
    assert len(history.events) == 1
    assert [r[0] for r in reported] == ["tickets.U2.AckSent", "tickets.U2.Mystery"]


async def test_load_uses_the_sequence_index_and_matches_a_scan(store: EventStore) -> None:
    version = await store.append("I1", [request_submitted()], 0)
    await store.append("OTHER", [request_submitted()], 0)
    batch = [ev.TechnicianResponded(at=NOW, technician="a"), ev.TicketResolved(at=NOW,
                                                                               technician="a")]
    version = await store.append("I1", batch, version)
    await store.append("I1", [ev.TicketClosed(at=NOW, by="a")], version)
    fresh = EventStore(store.nc)  # another process: nothing cached
    original_scan = fresh.loader.scan
    scans = record_calls(fresh.loader, "scan")
    indexed = await fresh.load("I1")
    assert scans == []
    scanned = await original_scan("I1")
    assert [(r.seq, r.event) for r in indexed.events] == [
        (r.seq, r.event) for r in scanned.events]
    assert [type(r.event).__name__ for r in indexed.events] == [
        "RequestSubmitted", "TechnicianResponded", "TicketResolved", "TicketClosed"]


async def test_a_ticket_without_index_is_scanned_and_indexed_by_the_next_append(
        store: EventStore) -> None:
    from shared.domain.events import encode_event

    # Written by another tool: no index headers.
    await store.nc.request("tickets.I2.RequestSubmitted", encode_event(request_submitted()),
                           headers={"Ticketcore-Event-Type": "RequestSubmitted"})
    fresh = EventStore(store.nc)
    history = await fresh.load("I2")
    assert len(history.events) == 1
    await fresh.append("I2", [ev.TechnicianResponded(at=NOW, technician="a")],
                       history.version)
    other = EventStore(store.nc)
    scans = record_calls(other.loader, "scan")
    assert len((await other.load("I2")).events) == 2 and scans == []


async def test_a_wrong_index_falls_back_to_the_scan(store: EventStore) -> None:
    from shared.domain.events import encode_event

    version = await store.append("I3", [request_submitted()], 0)
    await store.append("I4", [request_submitted()], 0)
    # A message whose index names another ticket's event: never trusted.
    await store.nc.request("tickets.I3.TicketClosed",
                           encode_event(ev.TicketClosed(at=NOW, by="a")),
                           headers={"Ticketcore-Event-Type": "TicketClosed",
                                    "Ticketcore-Earlier": str(version + 1),
                                    "Ticketcore-Append-Size": "1"})
    history = await EventStore(store.nc).load("I3")
    assert [type(r.event).__name__ for r in history.events] == [
        "RequestSubmitted", "TicketClosed"]


async def test_a_slow_replay_reader_loses_nothing(store: EventStore,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.adapters.eventstore.replay as replay

    monkeypatch.setattr(replay, "REPLAY_BATCH", 64)  # many fetches
    js = store.nc.jetstream()
    for i in range(3000):  # raw, fast: what matters is the reader
        await js.publish(f"tickets.S{i % 50}.TicketClosed",
                         ev.encode_event(ev.TicketClosed(at=NOW, by="a")),
                         headers={"Ticketcore-Event-Type": "TicketClosed"})
    seen = 0
    async for _ in store.replay(1):
        seen += 1
        if seen % 100 == 0:
            await asyncio.sleep(0.02)  # e.g. a projection writing somewhere
    assert seen == 3000


async def test_a_filtered_replay_ends_at_the_last_matching_event(store: EventStore) -> None:
    await store.append("FR1", [request_submitted()], 0)
    version = await store.append("FR2", [request_submitted()], 0)
    await store.append("FR2", [ev.TicketClosed(at=NOW, by="a")], version)
    # Ended by the data, not by waiting: with a read timeout far longer than the bound on
    # the whole replay, a replay that waited for more would hit the bound (a hang guard,
    # not a speed assertion).
    patient = EventStore(store.nc, timeout_s=600)

    async def replayed() -> list[str]:
        return [r.ticket_id async for r in patient.replay(
            1, subject="tickets.*.RequestSubmitted")]

    assert await asyncio.wait_for(replayed(), 120) == ["FR1", "FR2"]


async def test_a_load_reuses_the_event_a_consumer_just_decoded(
        store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.adapters.eventstore.cache as decoded_cache

    submitted = request_submitted()
    version = await store.append("D1", [submitted], 0)
    last = await store.gets.one({"last_by_subj": "tickets.D1.>"})
    assert last is not None and last.headers is not None
    consumed = await store.decode_message(last.headers["Nats-Subject"], version, last.headers,
                                          last.data, None, remember=True)
    assert store.vault is not None
    reveals = record_calls(store.vault, "reveal")
    history = await store.load("D1")
    [loaded] = history.events
    assert loaded.event is consumed.event and reveals == []  # not decrypted again
    assert loaded.recorded_at is not None  # the time as the loaded message says it
    monkeypatch.setattr(decoded_cache, "RECENT_EVENTS_S", 0.0)  # older than that: decoded anew
    assert [r.event for r in (await store.load("D1")).events] == [submitted]
    assert reveals == ["D1"]


async def test_a_load_does_not_fetch_an_earlier_event_a_consumer_just_decoded(
        store: EventStore) -> None:
    """A handler loads the ticket whose event it just handled: when the ticket has grown
    since (another service appended), only the new messages are fetched."""
    submitted = request_submitted()
    first = await store.append("D2", [submitted], 0)
    stored = await store.gets.one({"seq": first})
    assert stored is not None and stored.headers is not None
    consumed = await store.decode_message(stored.headers["Nats-Subject"], first,
                                          stored.headers, stored.data, None, remember=True)
    closed = ev.TicketClosed(at=NOW, by="a")
    await store.append("D2", [closed], first)
    fetches = record_calls(store.gets, "by_sequences")
    history = await store.load("D2")
    assert [r.event for r in history.events] == [consumed.event, closed]
    assert history.events[0] is consumed and fetches == [[]]  # nothing fetched by sequence
    store.decoded.clear()
    assert [r.event for r in (await store.load("D2")).events] == [submitted, closed]
    assert fetches == [[], [first]]  # without the decoded event it is fetched
