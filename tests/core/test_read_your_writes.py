"""Read your writes on a replicated log: a real lagging follower, no simulation.

A follower is made to lag for real: its process is stopped (SIGSTOP) while the leader
takes a burst of writes, a read is sent to it, and it is let go (SIGCONT). While it
catches up it answers direct gets from its own store, and some answers are older than the
write the reader knows of. The test first shows that this happens to a raw direct get, then
that a load given the sequence it must see never returns an older history.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import NatsCluster
from tests.factories import request_submitted
from tests.support import provisioned_cluster_client

pytestmark = pytest.mark.slow

ROUNDS = 150
STALE_ANSWERS_WANTED = 2
RAW_READS = 8
PADDING = b"x" * 1000
BURST = 300  # writes to other tickets while the follower is stopped: the catch-up it must do


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    nodes = NatsCluster(tmp_path, sync_always=True)
    await asyncio.to_thread(nodes.start)
    try:
        yield nodes
    finally:
        await asyncio.to_thread(nodes.stop)


async def leader_and_follower(cluster: NatsCluster, admin: NatsClient) -> tuple[int, int]:
    info = await admin.jetstream().stream_info("TICKETS")
    assert info.cluster is not None and info.cluster.leader is not None
    names = [f"n{i}" for i in range(len(cluster.servers))]
    leader = names.index(info.cluster.leader)
    return leader, next(i for i in range(len(names)) if i != leader)


async def raw_last_sequence(client: NatsClient, case: str) -> int:
    """What a plain direct get of the ticket's last message says (0: not found)."""
    answer = await client.request("$JS.API.DIRECT.GET.TICKETS",
                                  json.dumps({"last_by_subj": f"tickets.{case}.>"}).encode(),
                                  timeout=10)
    return int((answer.headers or {}).get("Nats-Sequence", 0))


async def test_a_load_never_returns_a_history_older_than_the_sequence_it_must_see(
        cluster: NatsCluster) -> None:
    admin = await provisioned_cluster_client(cluster.urls)
    leader, follower = await leader_and_follower(cluster, admin)
    # Without data keys: their KV bucket may have its leader on the node that is stopped.
    writer = EventStore(await nats.connect(cluster.urls[leader]), timeout_s=10,
                        protect_personal_data=False)
    reader_client = await nats.connect(cluster.urls[follower])  # direct gets answered there
    reader = EventStore(reader_client, timeout_s=10, protect_personal_data=False)
    process = cluster.servers[follower].process
    assert process is not None
    stale_raw = 0
    for round_ in range(ROUNDS):
        case = f"RYW{round_}"
        process.send_signal(signal.SIGSTOP)
        try:
            for i in range(BURST):  # one by one: many small steps for the follower to take
                await writer.js.publish(f"tickets.PAD{round_}x{i}.Padding", PADDING)
            version = await writer.append(case, [request_submitted(case_number=case)], 0)
            # Raw reads first: those the follower answers while it is still catching up
            # show that the setup produces stale answers; then the load under test.
            raw = asyncio.gather(*(raw_last_sequence(reader_client, case)
                                   for _ in range(RAW_READS)))
            await asyncio.sleep(0)
            loaded = asyncio.ensure_future(reader.load(case, min_seq=version))
            await asyncio.sleep(0.05)  # both requests wait in the stopped follower's socket
        finally:
            process.send_signal(signal.SIGCONT)
        stale_raw += sum(sequence < version for sequence in await raw)
        history = await loaded
        assert history.version >= version, f"round {round_}: stale history {history.version}"
        assert history.state.case_number == case
        if stale_raw >= STALE_ANSWERS_WANTED:
            break
    # The setup must really have produced stale answers, or the test proved nothing.
    assert stale_raw >= 1, "the follower never answered stale: the test could not fail"
    for client in (admin, reader_client, writer.nc):
        await client.close()


async def test_the_leader_gives_the_same_history_as_a_load(store: EventStore) -> None:
    from shared.domain.ticket import Respond, decide
    from tests.factories import NOW

    version = await store.append("LEAD1", [request_submitted(case_number="LEAD1")], 0)
    history = await store.load("LEAD1")
    respond = decide(Respond(at=NOW, technician="t1"), history.state)
    await store.append("LEAD1", respond, version)
    await store.append("OTHER", [request_submitted(case_number="OTHER")], 0)
    loaded = await store.load("LEAD1")
    from_leader = await store.loader.from_leader("LEAD1")
    assert [(r.seq, r.event_id, r.event) for r in from_leader.events] == [
        (r.seq, r.event_id, r.event) for r in loaded.events]
    assert from_leader.state.case_number == "LEAD1"
    assert len(from_leader.events) == 2


async def test_a_sequence_no_replica_holds_is_refused_not_answered_stale(
        store: EventStore) -> None:
    from shared.adapters.eventstore import ReplicaBehind

    version = await store.append("BEHIND", [request_submitted(case_number="BEHIND")], 0)
    with pytest.raises(ReplicaBehind):
        await store.load("BEHIND", min_seq=version + 1)
    assert store.loader.leader_reads == 1
    assert (await store.load("BEHIND", min_seq=version)).version == version
