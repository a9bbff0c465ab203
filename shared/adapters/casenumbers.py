"""Allocating case numbers: unique across intake replicas without a round trip per number.

A number's layout is the domain's (``shared.domain.casenumber.case_number``: the Berlin
date of submission, node digits, a counter, a check digit). The counter of a day lives in the
JetStream KV bucket ``intake_counters`` (key: the date) and holds the highest number
handed out. A replica reserves a *block* of numbers by compare-and-set (``update`` with
the revision it read): two replicas can never reserve the same block, and a replica
touches the bucket once per block, not once per ticket. Numbers of a block that a stopped
replica did not use are skipped (gaps are fine; duplicates are not). The append of the
first event with expected version 0 is the last guard: should a number ever be taken
(e.g. after the bucket was lost), the caller takes the next one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, date, datetime

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from shared.adapters.kvbuckets import kv_bucket
from shared.domain.calendar import berlin_date
from shared.domain.casenumber import case_number

COUNTER_BUCKET = "intake_counters"
MAX_CLAIM_ATTEMPTS = 100


class CounterUnavailable(Exception):
    """No block could be reserved (the bucket is contended beyond reason or unreachable)."""


class CaseNumberAllocator:
    """Hands out case numbers from blocks reserved in the shared KV counter."""

    def __init__(self, js: JetStreamContext, *, node_id: str = "", block_size: int = 20,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.js = js
        self.node_id = node_id
        self.block_size = block_size
        self.clock = clock
        self._lock = asyncio.Lock()
        self._day: date | None = None
        self._next = 1
        self._last = 0

    async def next_number(self) -> str:
        """A case number no other replica has or will hand out."""
        async with self._lock:
            day = berlin_date(self.clock())
            if day != self._day or self._next > self._last:
                await self._reserve_block(day)
            counter = self._next
            self._next += 1
        return case_number(day, self.node_id, counter)

    async def _bucket(self) -> KeyValue:
        return await kv_bucket(self.js, COUNTER_BUCKET)

    async def _reserve_block(self, day: date) -> None:
        kv = await self._bucket()
        key = f"{day:%Y%m%d}"
        for attempt in range(MAX_CLAIM_ATTEMPTS):
            try:
                highest = await self._compare_and_set(kv, key)
            except KeyWrongLastSequenceError:
                # Another replica reserved a block between our read and write: read again.
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
                continue
            self._day, self._next, self._last = day, highest - self.block_size + 1, highest
            return
        raise CounterUnavailable(f"could not reserve case numbers for {key}")

    async def _compare_and_set(self, kv: KeyValue, key: str) -> int:
        """Raise the day's counter by one block; return the new highest number."""
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            await kv.create(key, str(self.block_size).encode())
            return self.block_size
        highest = int(entry.value or b"0") + self.block_size
        await kv.update(key, str(highest).encode(), last=entry.revision)
        return highest
