"""Loading one ticket's events, in order. The ticket's last message names the sequences
of the earlier ones (shared.adapters.eventstore.index), which come from the ticket's
snapshot (shared.adapters.snapshots) as far as it matches and are fetched directly
otherwise; a ticket without that index (written by another tool) is read by a batched
scan by subject."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Protocol

import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import RawStreamMsg

from shared.adapters.eventstore.cache import DecodedEvents
from shared.adapters.eventstore.decode import Decoder
from shared.adapters.eventstore.directget import DirectGets, parse_time, stored
from shared.adapters.eventstore.index import SequenceIndex, sequences_named_by
from shared.adapters.eventstore.records import (
    RecordedEvent,
    ReplicaBehind,
    TicketHistory,
    check_ticket_id,
    ticket_subject,
)
from shared.adapters.metrics import BEHIND_REPLICA_READS, LEADER_READS
from shared.adapters.snapshots import SNAPSHOT_AFTER, Snapshot, Snapshots, StoredMessage

log = logging.getLogger(__name__)

# Pauses before asking the replicas again for a history they must hold (seconds): a replica
# that is behind by one write catches up in about a millisecond.
CATCH_UP_DELAYS_S = (0.005, 0.02, 0.08)


class LeaderGet(Protocol):
    """``JetStreamManager.get_msg``: one stored message, answered by the stream's leader."""

    async def __call__(self, stream_name: str, seq: int | None = None,
                       subject: str | None = None, direct: bool | None = False,
                       next: bool | None = False) -> RawStreamMsg: ...


class TicketLoader:
    """Reads a ticket's history by its index, its snapshot, or a scan."""

    def __init__(self, gets: DirectGets, index: SequenceIndex, snapshots: Snapshots,
                 decoder: Decoder, decoded: DecodedEvents, leader_get: LeaderGet) -> None:
        self.gets = gets
        self.leader_get = leader_get
        # How often a replica answered older than a reader must see, and the leader was
        # asked instead (for operators and benchmarks).
        self.behind_replica_reads = 0
        self.leader_reads = 0
        self.index = index
        self.snapshots = snapshots
        self.decoder = decoder
        self.decoded = decoded

    async def load(self, ticket_id: str, *, min_seq: int = 0) -> TicketHistory:
        """All events of one ticket, in order; with ``min_seq``, never a history that ends
        before that stream sequence (read your writes, see ``caught_up``)."""
        check_ticket_id(ticket_id)
        history = await self._load_from_any_replica(ticket_id)
        if history.version >= min_seq:
            return history
        return await self.caught_up(ticket_id, min_seq)

    async def caught_up(self, ticket_id: str, min_seq: int) -> TicketHistory:
        """The history up to at least ``min_seq`` when a replica answered an older one.

        Any replica answers a direct get, and one that has not applied the latest writes
        answers with an older history, even an empty one (nats-server ignores the
        ``min_last_seq`` of the read-after-write design on direct gets). A replica catches
        up within milliseconds, so the load is asked again a few times; then the stream's
        leader is asked, message by message (slower, and it is the one reader every
        request of the cluster would otherwise meet)."""
        for delay in CATCH_UP_DELAYS_S:
            self.behind_replica_reads += 1
            BEHIND_REPLICA_READS.inc()
            log.debug("ticket %s: a replica is behind sequence %d; asking again",
                      ticket_id, min_seq)
            await asyncio.sleep(delay)
            history = await self._load_from_any_replica(ticket_id)
            if history.version >= min_seq:
                return history
        history = await self.from_leader(ticket_id)
        if history.version < min_seq:
            raise ReplicaBehind(f"ticket {ticket_id}: the log holds no event at or after "
                                f"sequence {min_seq} yet")
        return history

    async def from_leader(self, ticket_id: str) -> TicketHistory:
        """The ticket's events as the stream's leader holds them (``STREAM.MSG.GET``,
        which only the leader answers): one request per event."""
        self.leader_reads += 1
        LEADER_READS.inc()
        history = TicketHistory(ticket_id)
        subject = ticket_subject(ticket_id)
        seq = 0
        while True:
            try:
                raw = await self.leader_get(self.gets.stream, seq=seq + 1, subject=subject,
                                            next=True)
            except nats.js.errors.NotFoundError:
                return history
            seq = int(raw.seq or 0)
            headers = dict(raw.headers or {})
            recorded = await self.decoder.decode_message(
                str(raw.subject), seq, headers, raw.data or b"", raw.time)
            if recorded is not None:
                history.events.append(recorded)

    async def _load_from_any_replica(self, ticket_id: str) -> TicketHistory:
        last, sequences, snapshot = await self._last_and_snapshot(ticket_id)
        if last is None:
            return TicketHistory(ticket_id)
        messages = (await self._indexed_messages(ticket_id, last, sequences, snapshot)
                    if sequences is not None else None)
        if messages is None:
            return await self.scan(ticket_id)
        history = TicketHistory(ticket_id)
        for message in messages:
            recorded = (message if isinstance(message, RecordedEvent)
                        else await self._decoded(ticket_id, message))
            if recorded is not None:
                history.events.append(recorded)
        self.index.remember(ticket_id, [m.seq for m in messages])
        return history

    async def _decoded(self, ticket_id: str, message: StoredMessage) -> RecordedEvent | None:
        recorded = self._recently_decoded(ticket_id, message)
        if recorded is not None:
            return recorded
        return await self.decoder.decode_message(
            message.subject, message.seq, message.headers, message.body,
            parse_time(message.time), remember=True)

    async def _last_and_snapshot(self, ticket_id: str
                                 ) -> tuple[Msg | None, list[int] | None, Snapshot | None]:
        """The ticket's last message, the sequences its index names (None: no index), and
        the snapshot where one can help: asked for at once for a ticket known to be long,
        after the last message (which says how long the ticket is) otherwise; most tickets
        are short and need no snapshot request."""
        last_request = self.gets.one({"last_by_subj": ticket_subject(ticket_id)})
        known_long = len(self.index.known(ticket_id)) > SNAPSHOT_AFTER
        if known_long:
            last, snapshot = await asyncio.gather(last_request,
                                                  self.snapshots.get(ticket_id))
        else:
            last, snapshot = await last_request, None
        sequences = sequences_named_by(last) if last is not None else None
        if not known_long and sequences is not None and len(sequences) > SNAPSHOT_AFTER:
            snapshot = await self.snapshots.get(ticket_id)
        return last, sequences, snapshot

    async def _indexed_messages(self, ticket_id: str, last: Msg, sequences: list[int],
                                snapshot: Snapshot | None
                                ) -> list[StoredMessage | RecordedEvent] | None:
        """The ticket's messages in order, each as stored, or as decoded a moment ago (a
        consumer's handler loads the ticket whose event it just decoded: that event is not
        fetched again); None when the index does not match the log."""
        prefix = ticket_subject(ticket_id, "")
        # The last message always comes from the log: it is what says the snapshot is current.
        cached = snapshot.prefix_of(sequences)[:len(sequences) - 1] if snapshot else []
        if any(not m.subject.startswith(prefix) for m in cached):
            log.warning("ticket %s: snapshot holds another ticket's messages; ignored",
                        ticket_id)
            cached = []
        missing = sequences[len(cached):-1]
        writes_snapshot = len(missing) >= SNAPSHOT_AFTER  # it needs every message as stored
        known = {} if writes_snapshot else self._known(ticket_id, missing)
        fetched = [*await self.gets.by_sequences([s for s in missing if s not in known]),
                   last]
        if any(m is None or not m.headers["Nats-Subject"].startswith(prefix)  # type: ignore[index]
               for m in fetched):
            log.warning("ticket %s: sequence index does not match the log; scanning",
                        ticket_id)
            return None
        messages = [*cached, *map(stored, fetched)]  # type: ignore[arg-type]
        if writes_snapshot:
            await self.snapshots.put(ticket_id, messages)
        merged: list[StoredMessage | RecordedEvent] = [*messages, *known.values()]
        return sorted(merged, key=lambda m: m.seq) if known else merged

    def _known(self, ticket_id: str, sequences: list[int]) -> dict[int, RecordedEvent]:
        """Those of ``sequences`` decoded a moment ago, by sequence."""
        return {seq: recorded for seq in sequences
                if (recorded := self.decoded.get(ticket_id, seq)) is not None}

    async def scan(self, ticket_id: str) -> TicketHistory:
        """The ticket's events by a batched scan of the stream by subject."""
        history = TicketHistory(ticket_id)
        sequences: list[int] = []
        next_seq = 1
        while True:
            messages, more = await self.gets.batch_by_subject(ticket_subject(ticket_id),
                                                              next_seq)
            for msg in messages:
                sequences.append(int(msg.headers["Nats-Sequence"]))  # type: ignore[index]
                recorded = await self.decoder.decode(msg, from_direct_get=True)
                if recorded is not None:
                    history.events.append(recorded)
            if not more or not messages:
                if sequences:  # the next append writes the index again
                    self.index.remember(ticket_id, sequences)
                return history
            next_seq = int(messages[-1].headers["Nats-Sequence"]) + 1  # type: ignore[index]

    def _recently_decoded(self, ticket_id: str, message: StoredMessage
                          ) -> RecordedEvent | None:
        recorded = self.decoded.get(ticket_id, message.seq)
        if recorded is None:
            return None
        # The time as the loaded message says it (a consumer's metadata rounds it otherwise).
        return replace(recorded, recorded_at=parse_time(message.time))
