"""Gap-free numbering of invoices and credit notes in KV (the invoice itself is built by
the decider, ``shared.domain.pricing.build_invoice``).

Numbering (``<prefix>-<year>-<6-digit counter>``): the counter per year lives in the KV
bucket ``billing_invoice_numbers`` and is advanced by compare-and-set, so two replicas never
take the same number. Before the counter is touched, a number is looked up in
``billing_invoice_reservations`` under a key that names *this* issuance (ticket and how
many invoices it had before); a number once reserved is reused by every retry, so a failed
append, a crash or a second replica issuing the same ticket never burns a second number.
The event id is derived from the number, so the append itself is idempotent.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from shared.adapters.kvbuckets import kv_bucket
from shared.adapters.provision import ensure_kv

NUMBERS_BUCKET = "billing_invoice_numbers"
RESERVATIONS_BUCKET = "billing_invoice_reservations"
# A claim older than this was left by a crashed replica and is taken over.
CLAIM_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Reservation:
    """A document number and date taken for one issuance, reused on every retry."""

    number: str
    issue_date: date


def invoice_event_id(number: str) -> str:
    return f"invoice-{number}"


def issuance_key(ticket_id: str, state_invoices: int, kind: str = "invoice") -> str:
    """The reservation key of the ticket's next document of ``kind``."""
    return f"{ticket_id}.{kind}.{state_invoices + 1}"


class DocumentNumbers:
    """Unique, increasing, gap-free document numbers per series and year (KV CAS)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def ensure(self) -> None:
        await ensure_kv(self.js, NUMBERS_BUCKET, history=1)
        await ensure_kv(self.js, RESERVATIONS_BUCKET, history=1)

    async def reserve(self, key: str, prefix: str, today: date) -> Reservation:
        """The number reserved under ``key``, taking the next one of the year if none is.

        The reservation key is claimed first (KV create), so of several replicas issuing the
        same document only one takes a number; the others wait for it. A claim left by a
        crashed replica is taken over after ``CLAIM_TIMEOUT_S``; the counter remembers which
        key took its last number, so a take-over reuses that number instead of a new one.
        """
        reservations = await kv_bucket(self.js, RESERVATIONS_BUCKET)
        while True:
            try:
                entry = await reservations.get(key)
            except KeyNotFoundError:
                entry = None
            if entry is not None and not (entry.value or b"").startswith(b"pending:"):
                return _reservation(entry.value or b"")
            try:
                revision = await self._claim(reservations, key, entry)
            except KeyWrongLastSequenceError:
                await asyncio.sleep(0.01)
                continue
            if revision is None:  # another replica is taking the number: wait for it
                await asyncio.sleep(0.01)
                continue
            number = await self._next_number(prefix, today.year, key)
            value = json.dumps({"number": number, "date": today.isoformat()}).encode()
            try:
                await reservations.update(key, value, last=revision)
            except KeyWrongLastSequenceError:
                continue  # our claim was taken over; read what the other replica wrote
            return Reservation(number, today)

    async def _claim(self, reservations: Any, key: str, entry: Any) -> int | None:
        """Claim ``key``: the revision of our claim, or None while another claim is fresh."""
        claim = f"pending:{time.time()}".encode()
        if entry is None:
            return int(await reservations.create(key, claim))
        claimed_at = float((entry.value or b"pending:0").split(b":", 1)[1] or 0)
        if time.time() - claimed_at < CLAIM_TIMEOUT_S:
            return None
        return int(await reservations.update(key, claim, last=entry.revision))

    async def _next_number(self, prefix: str, year: int, key: str) -> str:
        counters = await kv_bucket(self.js, NUMBERS_BUCKET)
        counter_key = f"{prefix}-{year}"
        while True:
            try:
                entry = await counters.get(counter_key)
                last = json.loads(entry.value or b"{}")
            except KeyNotFoundError:
                entry, last = None, {"last": 0, "key": ""}
            if last["key"] == key:  # taken for this issuance by a replica that then died
                return _format(prefix, year, last["last"])
            value = json.dumps({"last": last["last"] + 1, "key": key}).encode()
            try:
                if entry is None:
                    await counters.create(counter_key, value)
                else:
                    await counters.update(counter_key, value, last=entry.revision)
            except KeyWrongLastSequenceError:
                continue
            return _format(prefix, year, last["last"] + 1)


def _format(prefix: str, year: int, counter: int) -> str:
    return f"{prefix}-{year}-{counter:06d}"


def _reservation(value: bytes) -> Reservation:
    data = json.loads(value)
    return Reservation(data["number"], date.fromisoformat(data["date"]))
