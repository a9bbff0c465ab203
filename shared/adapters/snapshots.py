"""Snapshots of tickets' stored messages: a disposable cache that makes loading a long
ticket two reads instead of one read per event.

A snapshot is a copy of a ticket's messages *as stored* in ``TICKETS`` (sealed bodies, the
event headers, stream sequence and time), one message per ticket on the stream
``TICKET_SNAPSHOTS`` (``max_msgs_per_subject: 1``). It is never the truth: a load takes the
ticket's last message from the log, whose index names every sequence of the ticket, and
uses a snapshot only where its sequences are exactly a prefix of that list. A stored
message never changes, so a matching prefix is the log's own content. Any mismatch,
missing or broken snapshot, or a server without the stream, and the load reads the log
alone. Loads write snapshots (see ``EventStore.load``); losing one costs a slower load.

Personal data stays sealed in a snapshot, as in the log: erasing a ticket's key makes its
snapshot unreadable too. The stream remembers when ``TICKETS`` was created and is purged
when the log is a different one (deleted and created again).
"""

from __future__ import annotations

import contextlib
import logging

import msgspec
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared.domain.events.codec import (
    HEADER_CAUSATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_SCHEMA_VERSION,
)

log = logging.getLogger(__name__)

SNAPSHOTS_STREAM = "TICKET_SNAPSHOTS"
SUBJECT_PREFIX = "ticketsnap"
# A load that had to read this many of the ticket's messages one by one writes a snapshot;
# so a load reads at most this many messages besides the snapshot and the last message.
SNAPSHOT_AFTER = 8
# Larger tickets are loaded from the log alone (a snapshot stays well under max_payload).
MAX_SNAPSHOT_BYTES = 512 * 1024
SNAPSHOT_WAIT_S = 0.5
# Headers a stored event needs to be decoded again (see EventStore.decode_message).
KEPT_HEADERS = ("Nats-Msg-Id", HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION,
                HEADER_CAUSATION_ID)
LOG_CREATED = "ticketcore_log_created"


class StoredMessage(msgspec.Struct, array_like=True, frozen=True):
    """One message of the log as stored: what decoding an event needs."""

    seq: int
    subject: str
    time: str | None
    headers: dict[str, str]
    body: bytes


class Snapshot(msgspec.Struct, array_like=True, frozen=True):
    messages: list[StoredMessage]

    def prefix_of(self, sequences: list[int]) -> list[StoredMessage]:
        """The snapshot's messages that are the first of ``sequences`` (none if the two
        disagree anywhere they overlap: the snapshot is of another ticket's life)."""
        overlap = self.messages[:len(sequences)]
        if any(message.seq != seq for message, seq in zip(overlap, sequences, strict=False)):
            return []
        return overlap


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Snapshot)


def snapshot_subject(stream: str, ticket_id: str) -> str:
    return f"{SUBJECT_PREFIX}.{stream}.{ticket_id}"


def kept_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}


class Snapshots:
    """Read and write the snapshots of one event stream's tickets."""

    def __init__(self, nc: NatsClient, stream: str, timeout_s: float) -> None:
        self.nc = nc
        self.stream = stream
        # A snapshot is only worth a short wait: a load without it is still correct.
        self.timeout_s = min(timeout_s, SNAPSHOT_WAIT_S)

    async def get(self, ticket_id: str) -> Snapshot | None:
        """The ticket's snapshot; None when there is none or it cannot be read."""
        try:
            reply = await self.nc.request(
                f"$JS.API.DIRECT.GET.{SNAPSHOTS_STREAM}",
                b'{"last_by_subj":"%s"}' % snapshot_subject(self.stream, ticket_id).encode(),
                timeout=self.timeout_s)
        except Exception as error:  # no snapshot stream, a timeout: read the log alone
            log.debug("snapshot of %s not read: %r", ticket_id, error)
            return None
        if (reply.headers or {}).get("Status"):
            return None
        try:
            return _decoder.decode(reply.data)
        except msgspec.DecodeError:
            log.warning("snapshot of %s is not readable: ignored", ticket_id)
            return None

    async def put(self, ticket_id: str, messages: list[StoredMessage]) -> None:
        """Store a snapshot without waiting for the server: it is a cache."""
        data = _encoder.encode(Snapshot(messages))
        if len(data) > MAX_SNAPSHOT_BYTES:
            return
        with contextlib.suppress(Exception):
            await self.nc.publish(snapshot_subject(self.stream, ticket_id), data)


def snapshots_stream(log_created: str, replicas: int = 1) -> StreamConfig:
    """One snapshot per ticket; old ones go first when the cache is full or unused."""
    return StreamConfig(
        name=SNAPSHOTS_STREAM,
        description="ticketcore: snapshots of long tickets (a disposable cache of TICKETS)",
        subjects=[f"{SUBJECT_PREFIX}.>"],
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_msgs_per_subject=1,
        max_bytes=1024**3,
        max_age=30 * 24 * 3600.0,
        num_replicas=replicas,
        allow_direct=True,
        metadata={LOG_CREATED: log_created},
    )


async def ensure_snapshots_stream(js: JetStreamContext, log_stream: str,
                                  replicas: int = 1) -> None:
    """Create the stream; purge it when the log it caches was created anew."""
    log_created = str((await js.stream_info(log_stream)).created)
    config = snapshots_stream(log_created, replicas)
    try:
        info = await js.stream_info(SNAPSHOTS_STREAM)
    except NotFoundError:
        await js.add_stream(config)
        return
    if (info.config.metadata or {}).get(LOG_CREATED) != log_created:
        log.warning("stream %s is newer than the snapshots: purging them", log_stream)
        await js.purge_stream(SNAPSHOTS_STREAM)
    await js.update_stream(config)
