"""Per-ticket order across the replicas of one durable consumer, after a handler failure.

When a handler fails, its message comes back after a backoff (1 s, 2 s, ...). Until it has
been handled, no later message of the same ticket (the same order key) may be: a replica
that gets one nak's it to come back just after the failed one's retry is due, and holds it
too, so the waiting messages are then handled one by one in stream order. The replicas of
a durable share these holds through the KV bucket ``consumer_holds`` (key
``<durable>.<order key>.<stream seq>``, value: when it comes back, epoch s), each keeping a
live copy of its durable's holds by an ordered consumer, so checking a message costs no
request. A hold is written before its message is nak'ed, so every later delivery of the
ticket sees it; only an event delivered to another replica at the very moment of the
failure is handled beside it, as without any failure (handlers load the ticket from the
log and are idempotent). A hold whose message never comes back (its consumer deleted)
expires HOLD_GRACE_S after its retry was due.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, KeyValueConfig, StorageType
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

HOLDS_BUCKET = "consumer_holds"
# A held message comes back this long after the failed one's retry is due.
HOLD_MARGIN_S = 0.5
# A retry may come late (a busy replica, a restart within ack_wait), but a hold whose
# message never comes back must not block its ticket for ever.
HOLD_GRACE_S = 120.0
# Delete markers of released holds are dropped after a day.
HOLDS_TTL_S = 24 * 3600.0
_NOT_IN_KEY = re.compile(r"[^-_=A-Za-z0-9]")


class OrderHolds:
    """The holds of one durable consumer, shared with its other replicas: per order key,
    the stream sequences of its messages that were nak'ed (failed, or waiting behind a
    failed one) and when each comes back. A message may be handled only when no earlier
    message of its key is held, so held messages are handled one by one, in order."""

    def __init__(self, js: JetStreamContext, durable: str, replicas_of_stream: str) -> None:
        self.js = js
        self.durable = durable
        self.stream = replicas_of_stream  # the bucket is replicated like this stream
        self._holds: dict[str, dict[int, float]] = {}  # order key -> seq -> due (epoch s)
        self._kv: KeyValue | None = None
        self._sub: Any = None

    async def start(self) -> None:
        """Open (or create) the bucket and follow this durable's holds."""
        self._kv = await self._bucket()
        self._sub = await self.js.subscribe(
            f"$KV.{HOLDS_BUCKET}.{self.durable}.>", cb=self._arrive, ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):  # the connection may be closed already
                await self._sub.unsubscribe()
            self._sub = None

    def wait_s(self, key: str, seq: int) -> float | None:
        """How long the message ``seq`` of ``key`` must wait for earlier held ones
        (None: it may be handled now)."""
        now = time.time()
        held = self._holds.get(_kv_key(key), {})
        dues = [due for earlier, due in held.items()
                if earlier < seq and now <= due + HOLD_GRACE_S]
        if not dues:
            return None
        return max(max(dues) - now, 0.0) + HOLD_MARGIN_S

    async def hold(self, key: str, seq: int, retry_in_s: float) -> None:
        """The message ``seq`` of ``key`` was nak'ed and comes back in ``retry_in_s``."""
        name = _kv_key(key)
        due = time.time() + retry_in_s
        self._holds.setdefault(name, {})[seq] = due
        await self._write(f"{name}.{seq}", f"{due:.3f}".encode())

    async def release(self, key: str, seq: int) -> None:
        """The message ``seq`` of ``key`` is done (handled or given up)."""
        name = _kv_key(key)
        held = self._holds.get(name)
        if held is None or seq not in held:
            return  # the common case: never held, nothing to tell the other replicas
        self._forget(name, seq)
        await self._write(f"{name}.{seq}", None)

    def _forget(self, name: str, seq: int) -> None:
        held = self._holds.get(name, {})
        held.pop(seq, None)
        if not held:
            self._holds.pop(name, None)

    async def _write(self, key: str, value: bytes | None) -> None:
        if self._kv is None:  # not started: this replica keeps its own order only
            return
        try:
            if value is None:
                await self._kv.delete(f"{self.durable}.{key}")
            else:
                await self._kv.put(f"{self.durable}.{key}", value)
        except Exception as error:  # this replica still keeps its own order
            log.warning("%s: could not share the hold %s: %r", self.durable, key, error)

    async def _arrive(self, msg: Msg) -> None:
        *_, name, seq_text = msg.subject.split(".")
        operation = (msg.headers or {}).get("KV-Operation")
        try:
            seq = int(seq_text)
            due = None if operation in ("DEL", "PURGE") else float(msg.data)
        except ValueError:
            return
        if due is None:
            self._forget(name, seq)
        else:
            self._holds.setdefault(name, {})[seq] = due

    async def _bucket(self) -> KeyValue:
        try:
            return await self.js.key_value(HOLDS_BUCKET)
        except Exception:  # nats-py raises BucketNotFoundError (not exported)
            info = await self.js.stream_info(self.stream)
            return await self.js.create_key_value(KeyValueConfig(
                bucket=HOLDS_BUCKET, history=1, ttl=HOLDS_TTL_S,
                replicas=info.config.num_replicas or 1, storage=StorageType.FILE))


def _kv_key(order_key: str) -> str:
    """An order key as one KV key token (two keys that map alike only share a hold)."""
    return _NOT_IN_KEY.sub("_", order_key) or "_"
