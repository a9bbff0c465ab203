"""Pages by webhook: a signed JSON POST, retried with backoff in the background.

Every call carries::

    X-Ticketcore-Event-Id:  <id, the same on every retry: deduplicate on it>
    X-Ticketcore-Timestamp: <unix seconds of this try>
    X-Ticketcore-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

A receiver checks the signature and the timestamp with :func:`verify_webhook_signature`.
A webhook that is down never holds up the page mail: calls run as background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Ticketcore-Signature"
TIMESTAMP_HEADER = "X-Ticketcore-Timestamp"
EVENT_ID_HEADER = "X-Ticketcore-Event-Id"


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>.<body>"``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_webhook_signature(secret: str, timestamp: str, body: bytes, signature: str,
                             tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """True if ``signature`` was made with ``secret`` over this ``timestamp`` and ``body``
    and the timestamp is within ``tolerance_s`` of ``now`` (replays are refused)."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature)


def webhook_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()


Delivered = Callable[[str, int], Awaitable[None]]


@dataclass
class WebhookSender:
    """Posts signed webhooks with retries; ``attempts`` tries, delay doubling from
    ``backoff_s``. ``on_delivered(event_id, tries)`` runs after a 2xx answer."""

    secret: str
    attempts: int = 6
    backoff_s: float = 2.0
    timeout_s: float = 10.0
    on_delivered: Delivered | None = None
    _tasks: set[asyncio.Task[bool]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None

    def send_in_background(self, url: str, event_id: str, payload: dict[str, Any]
                           ) -> asyncio.Task[bool]:
        """Start delivering; returns at once. The task's result says whether it arrived."""
        task = asyncio.create_task(self.deliver(url, event_id, payload),
                                   name=f"webhook-{event_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def deliver(self, url: str, event_id: str, payload: dict[str, Any]) -> bool:
        """Try up to ``attempts`` times; True once the receiver answered 2xx."""
        body = webhook_body(payload)
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            if await self._post(url, event_id, body, attempt):
                if self.on_delivered is not None:
                    await self.on_delivered(event_id, attempt)
                return True
            if attempt < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        log.error("webhook %s to %s: gave up after %s tries", event_id, url, self.attempts)
        return False

    async def _post(self, url: str, event_id: str, body: bytes, attempt: int) -> bool:
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: event_id,
                   TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: webhook_signature(self.secret, timestamp, body)}
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            log.warning("webhook %s to %s, try %s: %s", event_id, url, attempt, error)
            return False
        if 200 <= response.status_code < 300:
            return True
        log.warning("webhook %s to %s, try %s: HTTP %s", event_id, url, attempt,
                    response.status_code)
        return False

    async def aclose(self) -> None:
        """Stop pending retries (they are lost; see docs/oncall.md) and close the client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
