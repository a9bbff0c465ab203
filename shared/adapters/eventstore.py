"""The event store: a ticket's events on the JetStream stream ``TICKETS``.

Subjects are ``tickets.<ticket id>.<EventType>``. Appends use optimistic concurrency over
the whole ticket (``Nats-Expected-Last-Subject-Sequence`` with the filter
``tickets.<id>.>``): the expected version is the *stream* sequence of the ticket's last
event, 0 for a new ticket. Several events of one command go in one atomic batch. Each event
carries its id as ``Nats-Msg-Id`` so a retried append is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.adapters.pii import PiiVault, has_personal_fields
from shared.adapters.snapshots import (
    SNAPSHOT_AFTER,
    Snapshot,
    Snapshots,
    StoredMessage,
    kept_headers,
)
from shared.domain.events import Event, UndecodableEvent, decode_event, encode_event
from shared.domain.events.codec import (
    HEADER_CAUSATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_SCHEMA_VERSION,
)
from shared.domain.ticket import TicketState, fold

log = logging.getLogger(__name__)

STREAM = "TICKETS"
SUBJECT_PREFIX = "tickets"
TICKET_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# JetStream error codes that mean "someone else appended first: reload and decide again".
CONFLICT_CODES = {10071, 10164}
DUPLICATE_IN_BATCH = 10201
DIRECT_GET_BATCH = 256
# The last message of every append names the stream sequences of the ticket's earlier
# events, so a load is one get of the last message plus gets by sequence, instead of a
# scan of the stream by subject (slow in a long log: the server walks every message between
# two of the ticket's events). Beyond this many events the header is left out and the
# load falls back to the scan.
HEADER_EARLIER = "Ticketcore-Earlier"
HEADER_APPEND_SIZE = "Ticketcore-Append-Size"
MAX_INDEXED_EVENTS = 2000
SEQUENCE_CACHE = 20_000
# Events decoded in the last few seconds, by stream sequence: a consumer's handler mostly
# loads the ticket whose event it just decoded, which would decrypt it a second time. As
# short-lived as the vault's key cache (shared.adapters.pii), and dropped at once on erasure.
RECENT_EVENTS = 4096
RECENT_EVENTS_S = 10.0
REPLAY_BATCH = 1000
# A replay that receives nothing for this long although events are left is broken, not done.
REPLAY_STALL_S = 60.0
T = TypeVar("T")


class ConcurrencyConflict(Exception):
    """The ticket changed since it was loaded. Reload, decide again, retry."""

    def __init__(self, ticket_id: str, expected_version: int, detail: str) -> None:
        super().__init__(f"ticket {ticket_id}: expected version {expected_version}: {detail}")
        self.ticket_id = ticket_id
        self.expected_version = expected_version


class ReplayStalled(Exception):
    """A replay stopped receiving events before it reached the end."""


class EventStoreError(Exception):
    """The store refused an append for a reason other than a conflict."""


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: its ticket, stream sequence, id and recording time."""

    ticket_id: str
    seq: int
    event_id: str
    event: Event
    recorded_at: datetime | None = None
    causation_id: str | None = None

    @property
    def type_name(self) -> str:
        return type(self.event).__name__


@dataclass
class TicketHistory:
    """All events of one ticket; ``version`` is the stream sequence of the last (0: none)."""

    ticket_id: str
    events: list[RecordedEvent] = field(default_factory=list)

    @property
    def version(self) -> int:
        return self.events[-1].seq if self.events else 0

    def has_event_id(self, event_id: str) -> bool:
        return any(recorded.event_id == event_id for recorded in self.events)

    @property
    def state(self) -> TicketState:
        """The ticket as its events make it: the decider's fold, in one place."""
        return fold(recorded.event for recorded in self.events)


@dataclass(frozen=True)
class PendingEvent:
    """An event to append with its id (deterministic where the caller needs idempotency)."""

    event: Event
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)


UndecodableHandler = Callable[[str, int, str], Awaitable[None]]


def ticket_subject(ticket_id: str, type_name: str = ">") -> str:
    return f"{SUBJECT_PREFIX}.{ticket_id}.{type_name}"


def check_ticket_id(ticket_id: str) -> str:
    if not TICKET_ID.match(ticket_id):
        raise ValueError(f"not a valid ticket id: {ticket_id!r}")
    return ticket_id


def ticket_id_of(subject: str) -> str:
    return subject.split(".", 2)[1]


class EventStore:
    """Load and append ticket events. The only code that writes to ``TICKETS``."""

    def __init__(self, nc: NatsClient, *, stream: str = STREAM, timeout_s: float = 5.0,
                 on_undecodable: UndecodableHandler | None = None,
                 protect_personal_data: bool = True) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=timeout_s)
        self.stream = stream
        self.timeout_s = timeout_s
        self.on_undecodable = on_undecodable
        # Personal fields are encrypted per ticket before they reach the log (shared.adapters.pii).
        self.vault: PiiVault | None = PiiVault(self.js) if protect_personal_data else None
        self.snapshots = Snapshots(nc, stream, timeout_s)
        self._recent: OrderedDict[int, tuple[RecordedEvent, float]] = OrderedDict()
        # ticket -> stream sequences of its events, as last seen (a hint, never the truth).
        self._sequences: OrderedDict[str, list[int]] = OrderedDict()

    # -- append -------------------------------------------------------------------------

    async def append(self, ticket_id: str, events: Sequence[Event | PendingEvent],
                     expected_version: int, *, causation_id: str | None = None) -> int:
        """Append ``events`` if the ticket is still at ``expected_version``.

        Returns the ticket's new version. Raises ConcurrencyConflict when another writer
        came first. Appending events whose ids are already stored is a no-op that returns
        the current version (idempotency after a lost acknowledgement).
        """
        check_ticket_id(ticket_id)
        pending = [e if isinstance(e, PendingEvent) else PendingEvent(e) for e in events]
        if not pending:
            return expected_version
        stored = [await self._protect(ticket_id, p) for p in pending]
        messages = [self._message(ticket_id, p, causation_id) for p in stored]
        messages[0][1]["Nats-Expected-Last-Subject-Sequence"] = str(expected_version)
        messages[0][1]["Nats-Expected-Last-Subject-Sequence-Subject"] = ticket_subject(ticket_id)
        earlier = await self._earlier_sequences(ticket_id, expected_version)
        if earlier is not None:
            messages[-1][1][HEADER_EARLIER] = ",".join(map(str, earlier))
            messages[-1][1][HEADER_APPEND_SIZE] = str(len(messages))
        ack = await self._publish_with_retry(messages)
        error = ack.get("error")
        if error is None:
            last = int(ack["seq"])
            if earlier is not None:
                self._remember(ticket_id, [*earlier, *range(last - len(messages) + 1,
                                                            last + 1)])
            return last
        return await self._resolve_refusal(ticket_id, pending, expected_version, error)

    async def _earlier_sequences(self, ticket_id: str, version: int) -> list[int] | None:
        """The sequences of the ticket's events up to ``version`` (None: unknown)."""
        if version == 0:
            return []
        known = self._sequences.get(ticket_id)
        if known is None or known[-1] != version:
            last = await self._direct_get({"last_by_subj": ticket_subject(ticket_id)})
            known = _sequences_named_by(last) if last is not None else None
        if known is None or known[-1] != version or len(known) >= MAX_INDEXED_EVENTS:
            return None  # the append will conflict, or the ticket is not indexed
        return known

    def _remember(self, ticket_id: str, sequences: list[int]) -> None:
        self._sequences[ticket_id] = sequences
        self._sequences.move_to_end(ticket_id)
        while len(self._sequences) > SEQUENCE_CACHE:
            self._sequences.popitem(last=False)

    async def _protect(self, ticket_id: str, pending: PendingEvent) -> PendingEvent:
        if self.vault is None or not has_personal_fields(pending.event):
            return pending
        return PendingEvent(await self.vault.protect(ticket_id, pending.event),
                            pending.event_id)

    def _message(self, ticket_id: str, pending: PendingEvent,
                 causation_id: str | None) -> tuple[str, dict[str, str], bytes]:
        event = pending.event
        headers = {
            "Nats-Msg-Id": pending.event_id,
            HEADER_EVENT_ID: pending.event_id,
            HEADER_EVENT_TYPE: event.type_name(),
            HEADER_SCHEMA_VERSION: str(event.SCHEMA_VERSION),
        }
        if causation_id:
            headers[HEADER_CAUSATION_ID] = causation_id
        return ticket_subject(ticket_id, event.type_name()), headers, encode_event(event)

    async def _publish_with_retry(self, messages: list[tuple[str, dict[str, str], bytes]],
                                  attempts: int = 3) -> dict[str, Any]:
        """Publish; on a lost acknowledgement publish the same ids again (deduplicated)."""
        for attempt in range(attempts):
            try:
                return await self._publish(messages)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _publish(self, messages: list[tuple[str, dict[str, str], bytes]]) -> dict[str, Any]:
        if len(messages) == 1:
            subject, headers, body = messages[0]
            reply = await self.nc.request(subject, body, timeout=self.timeout_s, headers=headers)
            return json.loads(reply.data)
        batch_id = uuid.uuid4().hex
        last = len(messages) - 1
        for index, (subject, headers, body) in enumerate(messages):
            headers = {**headers, "Nats-Batch-Id": batch_id,
                       "Nats-Batch-Sequence": str(index + 1)}
            if index < last:
                await self.nc.publish(subject, body, headers=headers)
            else:
                headers["Nats-Batch-Commit"] = "1"
                reply = await self.nc.request(subject, body, timeout=self.timeout_s,
                                              headers=headers)
        return json.loads(reply.data)

    async def _resolve_refusal(self, ticket_id: str, pending: list[PendingEvent],
                               expected_version: int, error: dict[str, Any]) -> int:
        code = error.get("err_code")
        if code in CONFLICT_CODES or code == DUPLICATE_IN_BATCH:
            # The concurrency check runs before deduplication: a retry of an append that
            # was stored but whose ack got lost comes back as a conflict. Look for our ids.
            history = await self.load(ticket_id)
            if all(history.has_event_id(p.event_id) for p in pending):
                return history.version
            raise ConcurrencyConflict(ticket_id, expected_version, error.get("description", ""))
        raise EventStoreError(f"append to ticket {ticket_id} refused: {error}")

    # -- read ---------------------------------------------------------------------------

    async def load(self, ticket_id: str) -> TicketHistory:
        """All events of one ticket, in order: the last message names the sequences of the
        earlier ones, which come from the ticket's snapshot (shared.adapters.snapshots) as far as it
        matches and are fetched directly otherwise; a ticket without that index (written by
        another tool) is read by a batched scan by subject."""
        check_ticket_id(ticket_id)
        last, sequences, snapshot = await self._last_and_snapshot(ticket_id)
        if last is None:
            return TicketHistory(ticket_id)
        messages = (await self._indexed_messages(ticket_id, last, sequences, snapshot)
                    if sequences is not None else None)
        if messages is None:
            return await self._scan(ticket_id)
        history = TicketHistory(ticket_id)
        for message in messages:
            recorded = self._recently_decoded(ticket_id, message)
            if recorded is None:
                recorded = await self.decode_message(
                    message.subject, message.seq, message.headers, message.body,
                    _parse_time(message.time), remember=True)
            if recorded is not None:
                history.events.append(recorded)
        self._remember(ticket_id, [m.seq for m in messages])
        return history

    async def _last_and_snapshot(self, ticket_id: str
                                 ) -> tuple[Msg | None, list[int] | None, Snapshot | None]:
        """The ticket's last message, the sequences its index names (None: no index), and
        the snapshot where one can help: asked for at once for a ticket known to be long,
        after the last message (which says how long the ticket is) otherwise; most tickets
        are short and need no snapshot request."""
        last_request = self._direct_get({"last_by_subj": ticket_subject(ticket_id)})
        known_long = len(self._sequences.get(ticket_id, ())) > SNAPSHOT_AFTER
        if known_long:
            last, snapshot = await asyncio.gather(last_request,
                                                  self.snapshots.get(ticket_id))
        else:
            last, snapshot = await last_request, None
        sequences = _sequences_named_by(last) if last is not None else None
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
        fetched = [*await self._get_by_sequences(missing), last]
        if any(m is None or not m.headers["Nats-Subject"].startswith(prefix)  # type: ignore[index]
               for m in fetched):
            log.warning("ticket %s: sequence index does not match the log; scanning",
                        ticket_id)
            return None
        messages = [*cached, *map(_stored, fetched)]  # type: ignore[arg-type]
        if len(missing) >= SNAPSHOT_AFTER:
            await self.snapshots.put(ticket_id, messages)
        return messages

    async def _get_by_sequences(self, sequences: list[int]) -> list[Msg | None]:
        """Many messages by sequence: every request in flight at once on one subscription
        (a future per request would cost more than the server's answer)."""
        if not sequences:
            return []
        inbox = self.nc.new_inbox()
        found: list[Msg | None] = [None] * len(sequences)
        answered = 0
        complete = asyncio.Event()

        async def arrive(msg: Msg) -> None:
            nonlocal answered
            if not (msg.headers or {}).get("Status"):
                found[int(msg.subject.rsplit(".", 1)[1])] = msg
            answered += 1
            if answered == len(sequences):
                complete.set()

        sub = await self.nc.subscribe(f"{inbox}.*", cb=arrive)
        try:
            api = f"$JS.API.DIRECT.GET.{self.stream}"
            for index, seq in enumerate(sequences):
                await self.nc.publish(api, b'{"seq":%d}' % seq, reply=f"{inbox}.{index}")
            await asyncio.wait_for(complete.wait(), self.timeout_s)
        finally:
            await sub.unsubscribe()
        return found

    async def _direct_get(self, request: dict[str, Any]) -> Msg | None:
        """One message by a direct get (None: there is none)."""
        reply = await self.nc.request(f"$JS.API.DIRECT.GET.{self.stream}",
                                      json.dumps(request).encode(), timeout=self.timeout_s)
        if (reply.headers or {}).get("Status"):
            return None
        return reply

    async def _scan(self, ticket_id: str) -> TicketHistory:
        history = TicketHistory(ticket_id)
        sequences: list[int] = []
        next_seq = 1
        while True:
            messages, more = await self._direct_get_batch(ticket_subject(ticket_id), next_seq)
            for msg in messages:
                sequences.append(int(msg.headers["Nats-Sequence"]))  # type: ignore[index]
                recorded = await self._decode(msg, from_direct_get=True)
                if recorded is not None:
                    history.events.append(recorded)
            if not more or not messages:
                if sequences:  # the next append writes the index again
                    self._remember(ticket_id, sequences)
                return history
            next_seq = int(messages[-1].headers["Nats-Sequence"]) + 1  # type: ignore[index]

    async def _direct_get_batch(self, subject: str, start_seq: int) -> tuple[list[Msg], bool]:
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        request = {"batch": DIRECT_GET_BATCH, "next_by_subj": subject, "seq": start_seq}
        try:
            await self.nc.publish(f"$JS.API.DIRECT.GET.{self.stream}",
                                  json.dumps(request).encode(), reply=inbox)
            found: list[Msg] = []
            while True:
                msg = await sub.next_msg(timeout=self.timeout_s)
                status = (msg.headers or {}).get("Status")
                if status is None:
                    found.append(msg)
                    continue
                # 204 EOB ends a batch; 404 means no (more) messages for the subject.
                pending = int((msg.headers or {}).get("Nats-Num-Pending", "0") or 0)
                return found, status == "204" and pending > 0
        finally:
            await sub.unsubscribe()

    async def _decode(self, msg: Msg, *, from_direct_get: bool,
                      known_keys: dict[str, bytes | None] | None = None,
                      reveal: bool = True) -> RecordedEvent | None:
        headers = msg.headers or {}
        if from_direct_get:
            subject = headers["Nats-Subject"]
            seq = int(headers["Nats-Sequence"])
            recorded_at = _parse_time(headers.get("Nats-Time-Stamp"))
        else:
            subject = msg.subject
            seq = msg.metadata.sequence.stream
            recorded_at = msg.metadata.timestamp
        return await self.decode_message(subject, seq, headers, msg.data, recorded_at,
                                         known_keys, reveal=reveal)

    async def decode_message(self, subject: str, seq: int, headers: dict[str, str],
                             body: bytes, recorded_at: datetime | None,
                             known_keys: dict[str, bytes | None] | None = None,
                             *, reveal: bool = True, remember: bool = False
                             ) -> RecordedEvent | None:
        """Decode one stored message; an undecodable one is reported and skipped (None).
        ``remember``: keep the decoded event for a next load of its ticket (a consumer's
        event, or a loaded one; never a replay's millions)."""
        type_name = headers.get(HEADER_EVENT_TYPE, subject.rsplit(".", 1)[-1])
        try:
            version = int(headers.get(HEADER_SCHEMA_VERSION, "1"))
            event = decode_event(type_name, version, body)
        except (UndecodableEvent, ValueError) as error:
            log.error("skipping undecodable event seq=%s subject=%s: %s", seq, subject, error)
            if self.on_undecodable is not None:
                await self.on_undecodable(subject, seq, str(error))
            return None
        ticket_id = ticket_id_of(subject)
        if reveal and self.vault is not None and has_personal_fields(event):
            event = await self.vault.reveal(ticket_id, event, known_keys)
        recorded = RecordedEvent(
            ticket_id=ticket_id,
            seq=seq,
            event_id=headers.get(HEADER_EVENT_ID, headers.get("Nats-Msg-Id", "")),
            event=event,
            recorded_at=recorded_at,
            causation_id=headers.get(HEADER_CAUSATION_ID),
        )
        if remember and reveal:
            self._remember_decoded(recorded)
        return recorded

    def _remember_decoded(self, recorded: RecordedEvent) -> None:
        self._recent[recorded.seq] = (recorded, time.monotonic())
        self._recent.move_to_end(recorded.seq)  # oldest first: expiry pops from the front
        while len(self._recent) > RECENT_EVENTS:
            self._recent.popitem(last=False)
        self._expire_decoded()

    def _expire_decoded(self) -> None:
        """Drop decoded events older than RECENT_EVENTS_S (plain personal data among
        them), whether or not anyone asks for them again."""
        oldest = time.monotonic() - RECENT_EVENTS_S
        while self._recent and next(iter(self._recent.values()))[1] < oldest:
            self._recent.popitem(last=False)

    def _recently_decoded(self, ticket_id: str, message: StoredMessage
                          ) -> RecordedEvent | None:
        self._expire_decoded()
        entry = self._recent.get(message.seq)
        if entry is None or entry[0].ticket_id != ticket_id:
            return None
        # The time as the loaded message says it (a consumer's metadata rounds it otherwise).
        return replace(entry[0], recorded_at=_parse_time(message.time))

    def forget(self, ticket_id: str) -> None:
        """Drop what this store keeps of the ticket's decoded events (on erasure)."""
        for seq in [seq for seq, (r, _) in self._recent.items() if r.ticket_id == ticket_id]:
            del self._recent[seq]

    def forget_all(self) -> None:
        """Drop every decoded event this store keeps."""
        self._recent.clear()

    async def replay(self, from_seq: int = 1, *, subject: str = f"{SUBJECT_PREFIX}.>",
                     until_end: bool = True, reveal_personal_data: bool = True
                     ) -> AsyncIterator[RecordedEvent]:
        """Every event on ``subject`` from stream position ``from_seq`` on (ordered
        consumer).

        With ``until_end`` the iteration stops after the last matching event stored when
        the replay started; otherwise it follows new events live. A replay that stops
        making progress raises ReplayStalled: it never ends early in silence.
        """
        end = await self._last_sequence(subject) if until_end else None
        if until_end and (end is None or end < from_seq):
            return
        # The keys of personal data, read at once: one request per ticket would dominate.
        reveal = reveal_personal_data and self.vault is not None
        keys = await self.vault.all_keys() if reveal and until_end else None  # type: ignore[union-attr]
        seen = from_seq - 1
        waited = 0.0
        async with BatchPuller(self.nc, self.js, self.stream, subject, from_seq) as puller:
            while True:
                batch = await puller.next_batch(timeout_s=min(self.timeout_s, 1.0))
                if not batch:
                    waited += min(self.timeout_s, 1.0)
                    if until_end and waited >= REPLAY_STALL_S:
                        raise ReplayStalled(f"replay of {subject} stalled at sequence "
                                            f"{seen} of {end}")
                    continue
                waited = 0.0
                for msg in batch:
                    seen = msg.metadata.sequence.stream
                    recorded = await self._decode(msg, from_direct_get=False,
                                                  known_keys=keys, reveal=reveal)
                    if recorded is not None:
                        yield recorded
                    if end is not None and seen >= end:
                        return

    async def recorded_on_leader(self, ticket_id: str, type_name: str) -> bool:
        """Whether the ticket has an event of ``type_name``, asked of the stream's leader.

        Loads use direct gets, which any replica of a replicated stream may answer, and a
        lagging replica answers with an older history (NATS has no read-after-write for
        them). Before an effect that must not happen twice, this asks the leader instead."""
        check_ticket_id(ticket_id)
        try:
            await self.js.get_msg(self.stream, subject=ticket_subject(ticket_id, type_name))
        except nats.js.errors.NotFoundError:
            return False
        return True

    async def last_sequence(self) -> int:
        """The stream sequence of the last event of any ticket (0: none)."""
        return await self._last_sequence(f"{SUBJECT_PREFIX}.>") or 0

    async def _last_sequence(self, subject: str) -> int | None:
        """Stream sequence of the last message on ``subject`` (wildcards allowed)."""
        last = await self._direct_get({"last_by_subj": subject})
        return int(last.headers["Nats-Sequence"]) if last is not None else None  # type: ignore[index]


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
        info = await self.js.add_consumer(self.stream, ConsumerConfig(
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


def _sequences_named_by(last: Msg) -> list[int] | None:
    """Every sequence of the ticket up to ``last``, from its index headers (None: absent)."""
    headers = last.headers or {}
    if HEADER_EARLIER not in headers or HEADER_APPEND_SIZE not in headers:
        return None
    try:
        earlier = [int(s) for s in headers[HEADER_EARLIER].split(",") if s]
        size = int(headers[HEADER_APPEND_SIZE])
        seq = int(headers["Nats-Sequence"])
    except (ValueError, KeyError):
        return None
    return [*earlier, *range(seq - size + 1, seq + 1)]


def _stored(msg: Msg) -> StoredMessage:
    """A direct get's answer as the stored message it carries."""
    headers = msg.headers or {}
    return StoredMessage(int(headers["Nats-Sequence"]), headers["Nats-Subject"],
                         headers.get("Nats-Time-Stamp"), kept_headers(headers), msg.data)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    # Nanosecond precision: keep microseconds for datetime.
    match = re.match(r"^(.*?T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-].*)$", value)
    if not match:
        return None
    base, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7]
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{base}{fraction}{zone}")


async def with_conflict_retry(operation: Callable[[], Awaitable[T]], *, attempts: int = 8,
                              base_delay_s: float = 0.005) -> T:
    """Run ``operation`` (load, decide, append) again on a conflict, with jittered backoff."""
    for attempt in range(attempts):
        try:
            return await operation()
        except ConcurrencyConflict:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(random.uniform(0, base_delay_s * (2**attempt)))
    raise AssertionError("unreachable")
