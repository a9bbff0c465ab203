"""Replaying the log: every event on a subject from a stream position on, read through an
ephemeral pull consumer that the reader paces itself (BatchPuller)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.adapters.eventstore.decode import Decoder
from shared.adapters.eventstore.directget import DirectGets
from shared.adapters.eventstore.records import RecordedEvent, ReplayStalled
from shared.adapters.pii import PiiVault

REPLAY_BATCH = 1000
# A replay that receives nothing for this long although events are left is broken, not done.
REPLAY_STALL_S = 60.0


class Replayer:
    """Reads many tickets' events in stream order."""

    def __init__(self, js: JetStreamContext, stream: str, timeout_s: float, gets: DirectGets,
                 decoder: Decoder, vault: PiiVault | None) -> None:
        self.js = js
        self.stream = stream
        self.timeout_s = timeout_s
        self.gets = gets
        self.decoder = decoder
        self.vault = vault

    async def replay(self, from_seq: int, subject: str, until_end: bool,
                     reveal_personal_data: bool) -> AsyncIterator[RecordedEvent]:
        """See EventStore.replay."""
        end = await self.gets.last_sequence(subject) if until_end else None
        if until_end and (end is None or end < from_seq):
            return
        # The keys of personal data, read at once: one request per ticket would dominate.
        reveal = reveal_personal_data and self.vault is not None
        keys = await self.vault.all_keys() if reveal and until_end else None  # type: ignore[union-attr]
        seen = from_seq - 1
        waited = 0.0
        wait_s = min(self.timeout_s, 1.0)
        async with BatchPuller(self.gets.nc, self.js, self.stream, subject, from_seq) as puller:
            while True:
                batch = await puller.next_batch(timeout_s=wait_s)
                if not batch:
                    waited += wait_s
                    if until_end and waited >= REPLAY_STALL_S:
                        raise ReplayStalled(f"replay of {subject} stalled at sequence "
                                            f"{seen} of {end}")
                    continue
                waited = 0.0
                for msg in batch:
                    seen = msg.metadata.sequence.stream
                    recorded = await self.decoder.decode(msg, from_direct_get=False,
                                                         known_keys=keys, reveal=reveal)
                    if recorded is not None:
                        yield recorded
                    if end is not None and seen >= end:
                        return


class BatchPuller:
    """Reads a stream through an ephemeral pull consumer, asking for the next batch itself.

    The reader pulls only what it can take (at most two batches in flight), so a slow
    projection can never overrun the client, as a push consumer would ("slow consumer":
    messages dropped); and a message costs a list append, not an asyncio task as with
    nats-py's ``fetch``/``next_msg``.
    """

    def __init__(self, nc: NatsClient, js: JetStreamContext, stream: str, subject: str,
                 from_seq: int) -> None:
        self.nc, self.js, self.stream, self.subject = nc, js, stream, subject
        self.from_seq = max(1, from_seq)
        self.inbox = nc.new_inbox()
        self.arrived: list[Msg] = []
        self.signal = asyncio.Event()
        self.outstanding = 0  # messages asked for and not yet received (or ended)
        self.consumer = ""
        self.sub: Any = None

    async def __aenter__(self) -> BatchPuller:
        self.sub = await self.nc.subscribe(self.inbox, cb=self._arrive,
                                           pending_msgs_limit=REPLAY_BATCH * 4,
                                           pending_bytes_limit=256 * 1024 * 1024)
        # Named: NATS permissions can refuse a durable's name only when it is in the subject.
        info = await self.js.add_consumer(self.stream, ConsumerConfig(
            name=f"replay-{uuid.uuid4().hex}",
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.from_seq,
            ack_policy=AckPolicy.NONE, filter_subject=self.subject, mem_storage=True,
            inactive_threshold=REPLAY_STALL_S))
        self.consumer = info.name
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.sub.unsubscribe()
        with contextlib.suppress(Exception):
            await self.js.delete_consumer(self.stream, self.consumer)

    async def _arrive(self, msg: Msg) -> None:
        if msg.headers and msg.headers.get("Status"):  # the pull ended (expired, no more)
            self.outstanding = 0
        else:
            self.arrived.append(msg)
            self.outstanding -= 1
        self.signal.set()

    async def _pull(self, timeout_s: float) -> None:
        request = {"batch": REPLAY_BATCH, "expires": int(timeout_s * 1e9)}
        self.outstanding += REPLAY_BATCH
        await self.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}",
                              json.dumps(request).encode(), reply=self.inbox)

    async def next_batch(self, timeout_s: float) -> list[Msg]:
        """The messages that arrived since the last call (empty: none within timeout)."""
        if self.outstanding <= REPLAY_BATCH // 2:
            await self._pull(timeout_s)  # keep one batch ahead of the reader
        if not self.arrived:
            self.signal.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.signal.wait(), timeout_s)
        batch, self.arrived = self.arrived, []
        return batch
