"""Claims on mails in JetStream KV: receipts in ``ack_receipts`` (key: case number),
redaction notices in ``ack_notices`` (key derived from the reply's event id).

A replica may send a mail only while it holds the claim. ``kv.create`` succeeds
for exactly one writer, so two replicas never send at once; the claim says how far the
holder got (``sending`` -> ``sent``), so a replica that finds the claim of a crashed holder
knows whether the SMTP server had already taken the mail. See docs/ack.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyWrongLastSequenceError, NotFoundError

from shared.adapters.kvbuckets import kv_bucket
from shared.adapters.provision import ensure_kv

log = logging.getLogger(__name__)

BUCKET = "ack_receipts"
# Claims outlive every plausible outage; the log (AckSent) is the lasting record.
CLAIM_TTL_S = 30 * 24 * 3600.0
# After the server took a mail, recording that is worth a few quick retries: a NATS hiccup
# here would otherwise let the claim go stale and the mail be sent again.
MARK_RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 4.0)

# "refused": the SMTP server refused the mail for good; nobody tries again.
ClaimState = Literal["sending", "sent", "refused"]


class ClaimRecord(msgspec.Struct, frozen=True, kw_only=True):
    state: ClaimState
    replica: str
    at: datetime
    message_id: str = ""
    recipient: str = ""


class ReceiptBusy(Exception):
    """Another replica holds a recent claim on this receipt: try again later."""


@dataclass(frozen=True)
class Claim:
    """A claim this replica holds (``record.state == "sending"``), or the finished claim of
    another replica (``record.state == "sent"``: the mail left, only AckSent is missing)."""

    case_number: str
    revision: int
    record: ClaimRecord
    taken_over_from: ClaimRecord | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ClaimRecord)


class ReceiptClaims:
    """Claim, release and complete mails; ``timeout`` marks a holder as crashed. One
    instance per bucket; ``ttl_s`` None keeps claims for good (when no event records
    the mail, the claim is the lasting record)."""

    def __init__(self, js: JetStreamContext, replica: str, timeout: timedelta, *,
                 bucket: str = BUCKET, ttl_s: float | None = CLAIM_TTL_S) -> None:
        self.js = js
        self.replica = replica
        self.timeout = timeout
        self.bucket = bucket
        self.ttl_s = ttl_s

    async def ensure_bucket(self, replicas: int = 1) -> None:
        await ensure_kv(self.js, self.bucket, ttl_s=self.ttl_s, replicas=replicas)

    async def claim(self, case_number: str, now: datetime) -> Claim:
        """Take the claim, find a finished one, or raise ReceiptBusy."""
        kv = await kv_bucket(self.js, self.bucket)
        mine = ClaimRecord(state="sending", replica=self.replica, at=now)
        try:
            revision = await kv.create(case_number, _encoder.encode(mine))
            return Claim(case_number, revision, mine)
        except KeyWrongLastSequenceError:
            pass
        try:
            entry = await kv.get(case_number)
        except NotFoundError as error:  # released in between: the next try takes it
            raise ReceiptBusy(f"claim on {case_number} changed, retrying") from error
        current = _decoder.decode(entry.value or b"")
        revision = entry.revision or 0
        if current.state != "sending":  # finished: sent (or refused for good)
            return Claim(case_number, revision, current)
        if now - current.at < self.timeout:
            raise ReceiptBusy(f"receipt {case_number} is being sent by {current.replica}")
        # The holder crashed before the server's acceptance was recorded: take over.
        try:
            revision = await kv.update(case_number, _encoder.encode(mine), last=revision)
        except KeyWrongLastSequenceError as error:
            raise ReceiptBusy(f"claim on {case_number} was taken over by another") from error
        return Claim(case_number, revision, mine, taken_over_from=current)

    async def mark_sent(self, claim: Claim, message_id: str, recipient: str,
                        now: datetime, state: ClaimState = "sent") -> None:
        """Record that the SMTP server accepted the mail (before AckSent is appended), or
        with ``state="refused"`` that it refused it for good."""
        kv = await kv_bucket(self.js, self.bucket)
        sent = ClaimRecord(state=state, replica=self.replica, at=now,
                           message_id=message_id, recipient=recipient)
        try:
            await kv.update(claim.case_number, _encoder.encode(sent), last=claim.revision)
        except KeyWrongLastSequenceError:
            # Our claim went stale and someone took over; we sent anyway, so say so.
            await kv.put(claim.case_number, _encoder.encode(sent))

    async def mark_sent_retrying(self, claim: Claim, message_id: str, recipient: str,
                                 now: datetime, state: ClaimState = "sent") -> None:
        """:meth:`mark_sent`, retried in place for a few seconds if NATS does not answer."""
        for delay in MARK_RETRY_DELAYS_S:
            try:
                await self.mark_sent(claim, message_id, recipient, now, state)
                return
            except Exception as error:
                log.warning("claim %s: could not mark %s (%r), retrying",
                            claim.case_number, state, error)
                await asyncio.sleep(delay)
        await self.mark_sent(claim, message_id, recipient, now, state)

    async def release(self, claim: Claim) -> None:
        """Give the claim back after a failed attempt (the server did not take the mail)."""
        kv = await kv_bucket(self.js, self.bucket)
        with contextlib.suppress(BadRequestError):  # no longer ours: the new holder decides
            await kv.delete(claim.case_number, last=claim.revision)

    async def get(self, case_number: str) -> ClaimRecord | None:
        kv = await kv_bucket(self.js, self.bucket)
        try:
            entry = await kv.get(case_number)
        except NotFoundError:
            return None
        return _decoder.decode(entry.value or b"")
