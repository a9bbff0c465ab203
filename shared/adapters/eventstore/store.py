"""The event store: a ticket's events on the JetStream stream ``TICKETS``, composed of one
part per concern: appending (append), loading one ticket (load, by the sequence index of
index and the snapshots), decoding with a short-lived cache of decoded events (decode,
cache), and replaying the log (replay)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from shared.adapters.eventstore.append import Appender
from shared.adapters.eventstore.cache import DecodedEvents
from shared.adapters.eventstore.decode import Decoder
from shared.adapters.eventstore.directget import DirectGets
from shared.adapters.eventstore.index import SequenceIndex
from shared.adapters.eventstore.load import TicketLoader
from shared.adapters.eventstore.records import (
    STREAM,
    SUBJECT_PREFIX,
    PendingEvent,
    RecordedEvent,
    TicketHistory,
    UndecodableHandler,
    check_ticket_id,
    ticket_subject,
)
from shared.adapters.eventstore.replay import Replayer
from shared.adapters.pii import PiiVault
from shared.adapters.snapshots import Snapshots
from shared.domain.events import Event


class EventStore:
    """Load and append ticket events. The only code that writes to ``TICKETS``."""

    def __init__(self, nc: NatsClient, *, stream: str = STREAM, timeout_s: float = 5.0,
                 on_undecodable: UndecodableHandler | None = None,
                 protect_personal_data: bool = True,
                 snapshots: Snapshots | None = None) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=timeout_s)
        self.stream = stream
        self.timeout_s = timeout_s
        # Personal fields are encrypted per ticket before they reach the log (shared.adapters.pii).
        self.vault: PiiVault | None = PiiVault(self.js) if protect_personal_data else None
        self.snapshots = snapshots or Snapshots(nc, stream, timeout_s)
        self.gets = DirectGets(nc, stream, timeout_s)
        self.index = SequenceIndex(self.gets)
        self.decoded = DecodedEvents()
        self.decoder = Decoder(self.vault, self.decoded, on_undecodable)
        self.loader = TicketLoader(self.gets, self.index, self.snapshots, self.decoder,
                                   self.decoded, self.js.get_msg)
        self.appender = Appender(nc, timeout_s, self.vault, self.index, self.load)
        self.replayer = Replayer(self.js, stream, timeout_s, self.gets, self.decoder,
                                 self.vault)

    async def append(self, ticket_id: str, events: Sequence[Event | PendingEvent],
                     expected_version: int, *, causation_id: str | None = None) -> int:
        """Append ``events`` if the ticket is still at ``expected_version``.

        Returns the ticket's new version. Raises ConcurrencyConflict when another writer
        came first. Appending events whose ids are already stored is a no-op that returns
        the current version (idempotency after a lost acknowledgement).
        """
        return await self.appender.append(ticket_id, events, expected_version,
                                          causation_id=causation_id)

    async def load(self, ticket_id: str, *, min_seq: int = 0) -> TicketHistory:
        """All events of one ticket, in order (see shared.adapters.eventstore.load).

        ``min_seq``: the stream sequence the history must reach, e.g. that of the event a
        consumer is handling; a replica that has not applied it yet is never believed."""
        return await self.loader.load(ticket_id, min_seq=min_seq)

    async def decode_message(self, subject: str, seq: int, headers: dict[str, str],
                             body: bytes, recorded_at: datetime | None,
                             known_keys: dict[str, bytes | None] | None = None,
                             *, reveal: bool = True, remember: bool = False
                             ) -> RecordedEvent | None:
        """Decode one stored message; an undecodable one is reported and skipped (None).
        ``remember``: keep the decoded event for a next load of its ticket."""
        return await self.decoder.decode_message(subject, seq, headers, body, recorded_at,
                                                 known_keys, reveal=reveal,
                                                 remember=remember)

    def forget(self, ticket_id: str) -> None:
        """Drop what this store keeps of the ticket's decoded events (on erasure)."""
        self.decoded.forget(ticket_id)

    def forget_all(self) -> None:
        """Drop every decoded event this store keeps."""
        self.decoded.clear()

    def replay(self, from_seq: int = 1, *, subject: str = f"{SUBJECT_PREFIX}.>",
               until_end: bool = True, reveal_personal_data: bool = True
               ) -> AsyncIterator[RecordedEvent]:
        """Every event on ``subject`` from stream position ``from_seq`` on (ordered
        consumer).

        With ``until_end`` the iteration stops after the last matching event stored when
        the replay started; otherwise it follows new events live. A replay that stops
        making progress raises ReplayStalled: it never ends early in silence.
        """
        return self.replayer.replay(from_seq, subject, until_end, reveal_personal_data)

    async def recorded_on_leader(self, ticket_id: str, type_name: str) -> bool:
        """Whether the ticket has an event of ``type_name``, asked of the stream's leader.

        Loads use direct gets, which any replica of a replicated stream may answer, and a
        lagging replica answers with an older history (NATS has no read-after-write for
        them). Before an effect that must not happen twice, this asks the leader instead."""
        return await self._last_seq_on_leader(ticket_id, type_name) > 0

    async def leader_version(self, ticket_id: str) -> int:
        """The ticket's version as the stream's leader has it (0: no such ticket): for a
        reader with no event sequence of its own to wait for (a fired timer)."""
        return await self._last_seq_on_leader(ticket_id)

    async def _last_seq_on_leader(self, ticket_id: str, type_name: str = ">") -> int:
        """The sequence of the ticket's last event (of ``type_name``) as the stream's leader
        holds it (``STREAM.MSG.GET``, which only the leader answers); 0: none."""
        check_ticket_id(ticket_id)
        try:
            last = await self.js.get_msg(self.stream,
                                         subject=ticket_subject(ticket_id, type_name))
        except nats.js.errors.NotFoundError:
            return 0
        return int(last.seq or 0)

    async def last_sequence(self) -> int:
        """The stream sequence of the last event of any ticket (0: none)."""
        return await self.gets.last_sequence(f"{SUBJECT_PREFIX}.>") or 0
