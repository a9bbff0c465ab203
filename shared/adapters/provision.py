"""Streams and buckets, created or upgraded idempotently by our own code.

FastStream's ``declare=True`` would overwrite an existing stream's configuration, so every
stream and bucket is declared here and nowhere else.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from shared.adapters.eventstore import STREAM
from shared.adapters.pii import PII_BUCKET
from shared.adapters.sessions import SESSION_TTL_S, SESSIONS_BUCKET
from shared.adapters.snapshots import ensure_snapshots_stream

log = logging.getLogger(__name__)

TIMERS_STREAM = "TIMERS"
OPS_BUCKET = "ops_undecodable"


def tickets_stream(replicas: int = 1) -> StreamConfig:
    """The log. No limits with ``discard: new``: never silently drop an event.
    ``deny_delete``: single events are never deleted from the append-only log.
    ``deny_purge`` stays off so an operator keeps a last resort for a whole ticket; personal
    data is made unreadable by crypto-shredding, not by purging."""
    return StreamConfig(
        name=STREAM,
        description="ticketcore: every ticket's events (the source of truth)",
        subjects=["tickets.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_msgs=-1, max_bytes=-1, max_age=0,
        num_replicas=replicas,
        duplicate_window=120.0,
        allow_direct=True,
        allow_atomic=True,
        deny_delete=True,
        deny_purge=False,
    )


def timers_stream(replicas: int = 1) -> StreamConfig:
    """Durable timers: scheduled messages (``Nats-Schedule: @at ...``) on ``timers.schedule.>``
    fire onto ``timers.due.>``. Schedules cannot live on a ``discard: new`` stream, so timers
    have a stream of their own; fired messages expire after a week."""
    return StreamConfig(
        name=TIMERS_STREAM,
        description="ticketcore: durable SLA and paging timers",
        subjects=["timers.>"],
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=7 * 24 * 3600.0,
        num_replicas=replicas,
        duplicate_window=120.0,
        allow_direct=True,
        allow_msg_schedules=True,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to ``config``."""
    try:
        await js.stream_info(config.name)  # type: ignore[arg-type]
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)
        return
    try:
        await js.update_stream(config)
    except BadRequestError as error:  # e.g. a setting that cannot be changed in place
        log.warning("stream %s kept its configuration: %s", config.name, error)


async def ensure_kv(js: JetStreamContext, bucket: str, *, history: int = 1,
                    ttl_s: float | None = None, replicas: int = 1) -> None:
    try:
        await js.key_value(bucket)
    except (NotFoundError, Exception):  # nats-py raises BucketNotFoundError (not exported)
        await js.create_key_value(KeyValueConfig(bucket=bucket, history=history, ttl=ttl_s,
                                                 replicas=replicas,
                                                 storage=StorageType.FILE))


async def ensure_object_store(js: JetStreamContext, bucket: str, *, replicas: int = 1) -> None:
    try:
        await js.object_store(bucket)
    except Exception:
        await js.create_object_store(bucket, ObjectStoreConfig(bucket=bucket, replicas=replicas,
                                                                storage=StorageType.FILE))


async def provision(js: JetStreamContext, replicas: int = 1) -> None:
    """Everything the core needs; each service adds its own buckets at its start."""
    await ensure_stream(js, tickets_stream(replicas))
    await ensure_snapshots_stream(js, STREAM, replicas)
    await ensure_stream(js, timers_stream(replicas))
    await ensure_kv(js, OPS_BUCKET, replicas=replicas)
    await ensure_kv(js, PII_BUCKET, replicas=replicas)
    await ensure_kv(js, SESSIONS_BUCKET, ttl_s=SESSION_TTL_S, replicas=replicas)
