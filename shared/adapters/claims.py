"""Send-once claims in JetStream KV: claim, run, mark, with takeover after a timeout.

A replica may send a mail (or queue a webhook) only while it holds the claim on its key.
``kv.create`` succeeds for exactly one writer, so two replicas never send at once; the
claim says how far the holder got (``sending`` -> ``sent``, or ``refused`` for good), so a
replica that finds the claim of a crashed holder knows whether the work was done. A
``sending`` claim older than the store's ``timeout`` belongs to a crashed holder and is
taken over (compare-and-set on its revision, so only one replica wins).

The services choose the bucket, key and timeout: ack's receipts (``ack_receipts``),
notices (``ack_notices``) and the conversation's mails (``ack_conversation``), on-call's
pages and webhooks (``oncall_pages``). Mails use them through the one send-once protocol,
``shared.application.sending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyWrongLastSequenceError, NotFoundError

from shared.adapters.kvbuckets import kv_bucket
from shared.adapters.provision import ensure_kv

log = logging.getLogger(__name__)

# Claims outlive every plausible outage; where an event records the work, the log is the
# lasting record and the claim may expire.
CLAIM_TTL_S = 30 * 24 * 3600.0
# After the work was done, recording that is worth a few quick retries: a NATS hiccup
# here would otherwise let the claim go stale and the work be done again.
MARK_RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 4.0)

# "refused": the receiver refused for good; nobody tries again.
ClaimState = Literal["sending", "sent", "refused"]


class ClaimRecord(msgspec.Struct, frozen=True, kw_only=True):
    state: ClaimState
    replica: str
    at: datetime
    message_id: str = ""
    recipient: str = ""


class ClaimBusy(Exception):
    """Another replica holds a recent claim on this key: try again later."""


@dataclass(frozen=True)
class Claim:
    """A claim this replica holds (``record.state == "sending"``), or the finished claim of
    another replica (``"sent"`` or ``"refused"``: nothing is left to send)."""

    key: str
    revision: int
    record: ClaimRecord
    taken_over_from: ClaimRecord | None = None

    @property
    def finished(self) -> bool:
        return self.record.state != "sending"


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ClaimRecord)


class ClaimStore:
    """Claims in one KV bucket; ``timeout`` marks a holder as crashed. ``ttl_s`` None keeps
    claims for good (when no event records the work, the claim is the lasting record)."""

    def __init__(self, js: JetStreamContext, bucket: str, timeout: timedelta, *,
                 replica: str | None = None, ttl_s: float | None = CLAIM_TTL_S) -> None:
        self.js = js
        self.bucket = bucket
        self.timeout = timeout
        self.replica = replica or uuid.uuid4().hex[:12]
        self.ttl_s = ttl_s

    async def ensure_bucket(self, replicas: int = 1) -> None:
        await ensure_kv(self.js, self.bucket, ttl_s=self.ttl_s, replicas=replicas)

    async def claim(self, key: str, now: datetime) -> Claim:
        """Take the claim, find a finished one, or raise ClaimBusy."""
        kv = await kv_bucket(self.js, self.bucket)
        mine = ClaimRecord(state="sending", replica=self.replica, at=now)
        try:
            return Claim(key, await kv.create(key, _encoder.encode(mine)), mine)
        except KeyWrongLastSequenceError:
            pass
        try:
            entry = await kv.get(key)
        except NotFoundError as error:  # released in between: the next try takes it
            raise ClaimBusy(f"claim on {key} changed, retrying") from error
        current = _decoder.decode(entry.value or b"")
        revision = entry.revision or 0
        if current.state != "sending":
            return Claim(key, revision, current)
        if now - current.at < self.timeout:
            raise ClaimBusy(f"{key} is being sent by {current.replica}")
        # The holder crashed before it could say the work was done: take over.
        try:
            revision = await kv.update(key, _encoder.encode(mine), last=revision)
        except KeyWrongLastSequenceError as error:
            raise ClaimBusy(f"claim on {key} was taken over by another") from error
        return Claim(key, revision, mine, taken_over_from=current)

    async def mark_sent(self, claim: Claim, now: datetime, *, message_id: str = "",
                        recipient: str = "", state: ClaimState = "sent") -> None:
        """Record that the work was done (or with ``state="refused"``, refused for good)."""
        kv = await kv_bucket(self.js, self.bucket)
        done = _encoder.encode(ClaimRecord(state=state, replica=self.replica, at=now,
                                           message_id=message_id, recipient=recipient))
        try:
            await kv.update(claim.key, done, last=claim.revision)
        except KeyWrongLastSequenceError:
            # Our claim went stale and someone took over; we did the work anyway, so say so.
            await kv.put(claim.key, done)

    async def mark_sent_retrying(self, claim: Claim, now: datetime, *, message_id: str = "",
                                 recipient: str = "", state: ClaimState = "sent") -> None:
        """:meth:`mark_sent`, retried in place for a few seconds if NATS does not answer."""
        for delay in MARK_RETRY_DELAYS_S:
            try:
                await self.mark_sent(claim, now, message_id=message_id, recipient=recipient,
                                     state=state)
                return
            except Exception as error:
                log.warning("claim %s: could not mark %s (%r), retrying", claim.key, state,
                            error)
                await asyncio.sleep(delay)
        await self.mark_sent(claim, now, message_id=message_id, recipient=recipient,
                             state=state)

    async def release(self, claim: Claim) -> None:
        """Give the claim back after a failed attempt (the work was not done)."""
        kv = await kv_bucket(self.js, self.bucket)
        with contextlib.suppress(BadRequestError):  # no longer ours: the new holder decides
            await kv.delete(claim.key, last=claim.revision)

    async def get(self, key: str) -> ClaimRecord | None:
        kv = await kv_bucket(self.js, self.bucket)
        try:
            entry = await kv.get(key)
        except NotFoundError:
            return None
        return _decoder.decode(entry.value or b"")


async def once(claims: ClaimStore, key: str, effect: Callable[[], Awaitable[object]],
               release_on: type[Exception] | tuple[type[Exception], ...] = Exception
               ) -> bool:
    """Run ``effect`` unless it ran already under ``key``: claim, run, mark ``sent``. An
    error in ``release_on`` gives the claim back (a retry runs it again); a crash leaves it
    to be taken over. True if this call ran it; ClaimBusy if another replica is at it."""
    claim = await claims.claim(key, datetime.now(UTC))
    if claim.finished:
        return False
    try:
        await effect()
    except release_on:
        await claims.release(claim)
        raise
    await claims.mark_sent(claim, datetime.now(UTC))
    return True
