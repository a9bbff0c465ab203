"""Throttling of password attempts, per client address and per account.

Each key has a bucket of attempts (``burst``) that refills by one every ``refill_s``
seconds. An attempt takes one before the password is hashed, so even a burst of concurrent
wrong logins hashes at most ``burst`` times per client and per account; a correct password
gives its attempt back. The buckets live in this process (per replica): a deployment with
several replicas multiplies the allowance by their number (docs/security.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class AttemptBuckets:
    """Attempt buckets per key (client address or account)."""

    burst: int
    refill_s: float
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 10_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def _level(self, key: str, now: float) -> float:
        tokens, since = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - since) / self.refill_s)

    def wait_s(self, key: str) -> int:
        """Seconds until ``key`` may try again (0: now)."""
        level = self._level(key, self.clock())
        return 0 if level >= 1.0 else math.ceil((1.0 - level) * self.refill_s)

    def take(self, key: str) -> None:
        now = self.clock()
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._forget_full(now)
        self._buckets[key] = (self._level(key, now) - 1.0, now)

    def give_back(self, key: str) -> None:
        now = self.clock()
        self._buckets[key] = (min(float(self.burst), self._level(key, now) + 1.0), now)

    def _forget_full(self, now: float) -> None:
        full_after = self.burst * self.refill_s
        self._buckets = {key: entry for key, entry in self._buckets.items()
                         if now - entry[1] < full_after}


@dataclass
class LoginThrottle:
    """Password attempts per client address and per account."""

    per_client: AttemptBuckets = field(default_factory=lambda: AttemptBuckets(10, 30.0))
    per_account: AttemptBuckets = field(default_factory=lambda: AttemptBuckets(5, 60.0))

    def try_attempt(self, client: str, account: str) -> int:
        """Take an attempt for ``client`` and ``account``: 0 if allowed, else the seconds
        to wait (Retry-After); nothing is taken then."""
        wait = max(self.per_client.wait_s(client), self.per_account.wait_s(account))
        if wait:
            return wait
        self.per_client.take(client)
        self.per_account.take(account)
        return 0

    def succeeded(self, client: str, account: str) -> None:
        """A correct password: its attempt does not count against anyone."""
        self.per_client.give_back(client)
        self.per_account.give_back(account)
