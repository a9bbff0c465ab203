"""Loading one ticket's events, in order. The ticket's last message names the sequences
of the earlier ones (shared.adapters.eventstore.index), which come from the ticket's
snapshot (shared.adapters.snapshots) as far as it matches and are fetched directly
otherwise; a ticket without that index (written by another tool) is read by a batched
scan by subject."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from nats.aio.msg import Msg

from shared.adapters.eventstore.cache import DecodedEvents
from shared.adapters.eventstore.decode import Decoder
from shared.adapters.eventstore.directget import DirectGets, parse_time, stored
from shared.adapters.eventstore.index import SequenceIndex, sequences_named_by
from shared.adapters.eventstore.records import (
    RecordedEvent,
    TicketHistory,
    check_ticket_id,
    ticket_subject,
)
from shared.adapters.snapshots import SNAPSHOT_AFTER, Snapshot, Snapshots, StoredMessage

log = logging.getLogger(__name__)


class TicketLoader:
    """Reads a ticket's history by its index, its snapshot, or a scan."""

    def __init__(self, gets: DirectGets, index: SequenceIndex, snapshots: Snapshots,
                 decoder: Decoder, decoded: DecodedEvents) -> None:
        self.gets = gets
        self.index = index
        self.snapshots = snapshots
        self.decoder = decoder
        self.decoded = decoded

    async def load(self, ticket_id: str) -> TicketHistory:
        """All events of one ticket, in order."""
        check_ticket_id(ticket_id)
        last, sequences, snapshot = await self._last_and_snapshot(ticket_id)
        if last is None:
            return TicketHistory(ticket_id)
        messages = (await self._indexed_messages(ticket_id, last, sequences, snapshot)
                    if sequences is not None else None)
        if messages is None:
            return await self.scan(ticket_id)
        history = TicketHistory(ticket_id)
        for message in messages:
            recorded = self._recently_decoded(ticket_id, message)
            if recorded is None:
                recorded = await self.decoder.decode_message(
                    message.subject, message.seq, message.headers, message.body,
                    parse_time(message.time), remember=True)
            if recorded is not None:
                history.events.append(recorded)
        self.index.remember(ticket_id, [m.seq for m in messages])
        return history

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
                                snapshot: Snapshot | None) -> list[StoredMessage] | None:
        prefix = ticket_subject(ticket_id, "")
        # The last message always comes from the log: it is what says the snapshot is current.
        cached = snapshot.prefix_of(sequences)[:len(sequences) - 1] if snapshot else []
        if any(not m.subject.startswith(prefix) for m in cached):
            log.warning("ticket %s: snapshot holds another ticket's messages; ignored",
                        ticket_id)
            cached = []
        missing = sequences[len(cached):-1]
        fetched = [*await self.gets.by_sequences(missing), last]
        if any(m is None or not m.headers["Nats-Subject"].startswith(prefix)  # type: ignore[index]
               for m in fetched):
            log.warning("ticket %s: sequence index does not match the log; scanning",
                        ticket_id)
            return None
        messages = [*cached, *map(stored, fetched)]  # type: ignore[arg-type]
        if len(missing) >= SNAPSHOT_AFTER:
            await self.snapshots.put(ticket_id, messages)
        return messages

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
