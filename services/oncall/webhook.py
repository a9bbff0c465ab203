"""Pages by webhook: a signed JSON POST, queued durably and retried with backoff.

Every call carries::

    X-Ticketcore-Event-Id:  <id, the same on every retry: deduplicate on it>
    X-Ticketcore-Timestamp: <unix seconds of this try>
    X-Ticketcore-Signature: v2=<hex HMAC-SHA256(secret, f"v2.{timestamp}.{event_id}.{body}")>

While the secret changes (``oncall.previous_webhook_secret`` set), the header carries two
signatures, ``v2=<with the new secret>,v2=<with the old one>``: a receiver accepts the call
if one of them is made with the secret it holds, so receivers move to the new secret one
by one without a refused delivery (docs/webhooks.md, rollover).

Everything a receiver relies on is signed: the time (against replays outside the window),
the event id (against replays inside it: deduplicate on it) and the body. A receiver checks
with :func:`verify_webhook_signature` (docs/webhooks.md, examples/webhook_receiver.py).
A webhook that is down never holds up the page mail: calls are queued on the work-queue
stream ``WEBHOOKS`` and delivered by the durable consumer ``oncall-webhooks``, so retries
survive restarts and replicas share them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from shared.adapters.consumer import ConsumerSpec, record_for_operators
from shared.adapters.metrics import WEBHOOK_DELIVERIES
from shared.adapters.provision import ensure_stream
from shared.runtime.signing import WEBHOOK, sign, verify

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Ticketcore-Signature"
TIMESTAMP_HEADER = "X-Ticketcore-Timestamp"
EVENT_ID_HEADER = "X-Ticketcore-Event-Id"
WEBHOOKS_STREAM = "WEBHOOKS"
DURABLE = "oncall-webhooks"
SUBJECT_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


SCHEME = "v2"


def webhook_event_id(event_id: str) -> str:
    """The id as sent: itself when it is a plain token, else its sha256 (never a ".", so
    the signed ``timestamp.event_id.body`` splits one way only)."""
    return event_id if SUBJECT_TOKEN.match(event_id) else hashlib.sha256(
        event_id.encode("utf-8", "surrogatepass")).hexdigest()


def webhook_signature(secret: str, timestamp: str, event_id: str, body: bytes) -> str:
    """``v2=<hex>`` of HMAC-SHA256 over ``"v2.<timestamp>.<event_id>.<body>"``."""
    return f"{SCHEME}=" + sign(secret, WEBHOOK, timestamp, event_id, body)


def webhook_signatures(secrets: Sequence[str], timestamp: str, event_id: str,
                       body: bytes) -> str:
    """The signature header: one ``v2=`` signature per secret (the current one first),
    comma-separated."""
    return ",".join(webhook_signature(secret, timestamp, event_id, body)
                    for secret in secrets if secret)


def verify_webhook_signature(secret: str, timestamp: str, event_id: str, body: bytes,
                             signature: str, tolerance_s: float = 300.0,
                             now: float | None = None) -> bool:
    """True if ``signature`` (the header: one or more comma-separated signatures) holds
    one made with ``secret`` over this ``timestamp``, ``event_id`` and ``body``, and the
    timestamp is within ``tolerance_s`` of ``now`` (older deliveries are refused; within
    the window, deduplicate on the event id). Signatures of schemes other than ``v2`` are
    skipped."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    if not SUBJECT_TOKEN.match(event_id):
        return False
    for one in signature.split(","):
        scheme, _, hex_digest = one.strip().partition("=")
        if scheme == SCHEME and verify(secret, WEBHOOK, hex_digest, timestamp, event_id, body):
            return True
    return False


def webhook_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()


class WebhookJob(msgspec.Struct, frozen=True):
    """One webhook to deliver, as queued on ``WEBHOOKS``."""

    url: str
    event_id: str
    payload: dict[str, Any]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(WebhookJob)


@dataclass(frozen=True)
class Delivery:
    job: WebhookJob
    attempt: int


class WebhookNotDelivered(Exception):
    """The receiver did not answer 2xx: the queue delivers the job again later."""


def webhooks_stream(replicas: int = 1) -> StreamConfig:
    """A work queue: a job stays until a delivery succeeded (or the tries ran out)."""
    return StreamConfig(
        name=WEBHOOKS_STREAM,
        description="ticketcore: webhook calls waiting to be delivered",
        subjects=["webhooks.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_age=7 * 24 * 3600.0,
        num_replicas=replicas,
        duplicate_window=120.0,
    )


@dataclass
class WebhookSender:
    """Queues signed webhooks on the stream ``WEBHOOKS`` and delivers them from there:
    ``attempts`` tries, the delay doubling from ``backoff_s``. Jobs outlive a stop of the
    service (a restart goes on with them), and replicas share them."""

    js: JetStreamContext
    secret: str
    attempts: int = 6
    backoff_s: float = 2.0
    timeout_s: float = 10.0
    previous_secret: str = ""  # during a change of the secret: the old one, signed with too
    _client: httpx.AsyncClient | None = None

    async def ensure_stream(self, replicas: int = 1) -> None:
        await ensure_stream(self.js, webhooks_stream(replicas))

    async def enqueue(self, url: str, event_id: str, payload: dict[str, Any]) -> None:
        """Queue one call; returns once the job is stored (the call runs on its own)."""
        token = webhook_event_id(event_id)
        await self.js.publish(f"webhooks.{token}", _encoder.encode(
            WebhookJob(url, token, payload)), stream=WEBHOOKS_STREAM,
            headers={"Nats-Msg-Id": f"webhook-{token}"})

    def spec(self) -> ConsumerSpec:
        delays = tuple(self.backoff_s * 2**n for n in range(max(1, self.attempts - 1)))
        # One delivery more than tries: a replica that died during the last try leaves the
        # job to a last delivery, which records the give-up instead of trying again.
        return ConsumerSpec(DURABLE, ["webhooks.>"], self._deliver, stream=WEBHOOKS_STREAM,
                            max_deliver=self.attempts + 1, ack_wait_s=self.timeout_s + 30.0,
                            decode=self._decode, order_key=lambda subject: subject,
                            backoff_s=delays)

    async def _decode(self, msg: Msg) -> Delivery | None:
        try:
            job = _decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.error("unreadable webhook job on %s: %s", msg.subject, error)
            seq = msg.metadata.sequence.stream
            await record_for_operators(self.js, f"webhook-unreadable-{seq}",
                                       f"{msg.subject}: unreadable webhook job: {error}")
            return None
        return Delivery(job, msg.metadata.num_delivered or 1)

    async def _deliver(self, delivery: Delivery) -> None:
        job = delivery.job
        if delivery.attempt > self.attempts:
            log.error("webhook %s to %s: gave up after %s tries", job.event_id, job.url,
                      self.attempts)
            await record_for_operators(self.js, f"webhook-{job.event_id}",
                                       f"webhook to {job.url} not delivered after "
                                       f"{self.attempts} tries")
            WEBHOOK_DELIVERIES.labels("given_up").inc()
            return
        delivered = await self.post(job.url, job.event_id, webhook_body(job.payload),
                                    delivery.attempt)
        WEBHOOK_DELIVERIES.labels("ok" if delivered else "failed").inc()
        if not delivered:
            raise WebhookNotDelivered(f"webhook {job.event_id}: try {delivery.attempt} "
                                      f"of {self.attempts} failed")

    async def post(self, url: str, event_id: str, body: bytes, attempt: int) -> bool:
        """One signed POST; True if the receiver answered 2xx."""
        timestamp = str(int(time.time()))
        event_id = webhook_event_id(event_id)
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: event_id,
                   TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: webhook_signatures((self.secret, self.previous_secret),
                                                        timestamp, event_id, body)}
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        try:
            # httpx's timeout is per phase (connect, write, read): bound the whole call, so
            # a try always ends before the queue would hand the job to another replica.
            async with asyncio.timeout(self.timeout_s):
                response = await self._client.post(url, content=body, headers=headers)
        except (httpx.HTTPError, TimeoutError) as error:
            log.warning("webhook %s to %s, try %s: %s", event_id, url, attempt, error)
            return False
        if 200 <= response.status_code < 300:
            return True
        log.warning("webhook %s to %s, try %s: HTTP %s", event_id, url, attempt,
                    response.status_code)
        return False

    async def aclose(self) -> None:
        """Close the HTTP client; queued jobs wait in the stream for the next start."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
