"""Retrying a command when another writer appended to the ticket first."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors

from shared.adapters.eventstore.records import ConcurrencyConflict, EventStoreError

T = TypeVar("T")
# After these an append may or may not be in the log: NATS did not answer, or refused.
UNANSWERED: tuple[type[Exception], ...] = (nats.errors.Error, TimeoutError, EventStoreError)


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
