"""Claims on receipts in the JetStream KV bucket ``ack_receipts`` (key: case number).

A replica may send a ticket's receipt only while it holds the claim. ``kv.create`` succeeds
for exactly one writer, so two replicas never send at once; the claim says how far the
holder got (``sending`` -> ``sent``), so a replica that finds the claim of a crashed holder
knows whether the SMTP server had already taken the mail. See docs/ack.md.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyWrongLastSequenceError, NotFoundError

from shared.provision import ensure_kv

BUCKET = "ack_receipts"
# Claims outlive every plausible outage; the log (AckSent) is the lasting record.
CLAIM_TTL_S = 30 * 24 * 3600.0

ClaimState = Literal["sending", "sent"]


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
    """Claim, release and complete receipts; ``timeout`` marks a holder as crashed."""

    def __init__(self, js: JetStreamContext, replica: str, timeout: timedelta) -> None:
        self.js = js
        self.replica = replica
        self.timeout = timeout

    async def ensure_bucket(self, replicas: int = 1) -> None:
        await ensure_kv(self.js, BUCKET, ttl_s=CLAIM_TTL_S, replicas=replicas)

    async def claim(self, case_number: str, now: datetime) -> Claim:
        """Take the claim, find a finished one, or raise ReceiptBusy."""
        kv = await self.js.key_value(BUCKET)
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
        if current.state == "sent":
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
                        now: datetime) -> None:
        """Record that the SMTP server accepted the mail (before AckSent is appended)."""
        kv = await self.js.key_value(BUCKET)
        sent = ClaimRecord(state="sent", replica=self.replica, at=now,
                           message_id=message_id, recipient=recipient)
        try:
            await kv.update(claim.case_number, _encoder.encode(sent), last=claim.revision)
        except KeyWrongLastSequenceError:
            # Our claim went stale and someone took over; we sent anyway, so say so.
            await kv.put(claim.case_number, _encoder.encode(sent))

    async def release(self, claim: Claim) -> None:
        """Give the claim back after a failed attempt (the server did not take the mail)."""
        kv = await self.js.key_value(BUCKET)
        with contextlib.suppress(BadRequestError):  # no longer ours: the new holder decides
            await kv.delete(claim.case_number, last=claim.revision)

    async def get(self, case_number: str) -> ClaimRecord | None:
        kv = await self.js.key_value(BUCKET)
        try:
            entry = await kv.get(case_number)
        except NotFoundError:
            return None
        return _decoder.decode(entry.value or b"")
