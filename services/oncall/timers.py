"""Durable timers: JetStream scheduled messages on the stream ``TIMERS``.

A timer is a message on ``timers.schedule.<ticket>.<kind>`` with the headers
``Nats-Schedule: @at <UTC time>`` and ``Nats-Schedule-Target: timers.due.<ticket>.<kind>``.
At that time the server publishes the body onto the target subject, once; the durable
consumer ``oncall-timers`` (shared by all replicas) hands it to the service. Nothing is
kept in process memory, so a stopped service finds its due timers waiting when it starts.

A newer message on the same schedule subject replaces the older schedule, and the
``Nats-Msg-Id`` (ticket + kind) makes a repeated schedule within the duplicate window a
no-op. A timer may still fire for a ticket that no longer needs it: the decider then
decides nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from shared.consumer import record_for_operators
from shared.provision import TIMERS_STREAM

log = logging.getLogger(__name__)

DURABLE = "oncall-timers"
DUE_FILTER = "timers.due.>"
KIND = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Timer:
    """A fired (or to be scheduled) timer: which ticket, what kind, when, what to do."""

    ticket: str
    kind: str
    due: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps({"ticket": self.ticket, "kind": self.kind,
                           "due": at_header(self.due), **self.data}).encode()

    @classmethod
    def from_body(cls, body: bytes) -> Timer:
        data = json.loads(body)
        ticket, kind, due = data.pop("ticket"), data.pop("kind"), data.pop("due")
        return cls(ticket=ticket, kind=kind,
                   due=datetime.fromisoformat(due.replace("Z", "+00:00")), data=data)


def at_header(moment: datetime) -> str:
    """RFC 3339 UTC with seconds precision, rounded up: a timer never fires early."""
    utc = moment.astimezone(UTC)
    whole = utc.replace(microsecond=0)
    if utc != whole:
        whole += timedelta(seconds=1)
    return whole.strftime("%Y-%m-%dT%H:%M:%SZ")


async def schedule(js: JetStreamContext, timer: Timer) -> None:
    """Schedule ``timer`` (idempotent per ticket and kind)."""
    if not KIND.match(timer.kind) or not KIND.match(timer.ticket):
        raise ValueError(f"timer {timer.ticket}.{timer.kind}: not a subject token")
    headers = {
        "Nats-Schedule": f"@at {at_header(timer.due)}",
        "Nats-Schedule-Target": f"timers.due.{timer.ticket}.{timer.kind}",
        "Nats-Msg-Id": f"timer-{timer.ticket}-{timer.kind}",
    }
    await js.publish(f"timers.schedule.{timer.ticket}.{timer.kind}", timer.body(),
                     headers=headers, stream=TIMERS_STREAM)


TimerHandler = Callable[[Timer], Awaitable[None]]


@dataclass
class TimerConsumer:
    """Hands fired timers to ``handler``; a failing handler gets the timer again later.
    Timers of one ticket are handled in firing order, different tickets concurrently."""

    js: JetStreamContext
    handler: TimerHandler
    durable: str = DURABLE
    max_deliver: int = 50
    ack_wait_s: float = 30.0
    batch: int = 64
    handled: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT,
                              deliver_policy=DeliverPolicy.ALL, filter_subject=DUE_FILTER,
                              max_deliver=self.max_deliver, ack_wait=self.ack_wait_s,
                              max_ack_pending=10_000)

    async def ensure(self) -> None:
        try:
            await self.js.consumer_info(TIMERS_STREAM, self.durable)
        except NotFoundError:
            await self.js.add_consumer(TIMERS_STREAM, self.config())

    async def run(self) -> None:
        await self.ensure()
        sub = await self.js.pull_subscribe_bind(self.durable, TIMERS_STREAM)
        try:
            while not self._stopping.is_set():
                try:
                    messages = await sub.fetch(self.batch, timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                except (nats.errors.ConnectionClosedError, nats.errors.DrainTimeoutError):
                    return
                by_ticket: dict[str, list[Msg]] = {}
                for msg in messages:
                    by_ticket.setdefault(msg.subject.split(".")[2], []).append(msg)
                await asyncio.gather(*(self._in_order(b) for b in by_ticket.values()))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def stop(self) -> None:
        self._stopping.set()

    async def _in_order(self, messages: list[Msg]) -> None:
        for index, msg in enumerate(messages):
            if not await self._handle(msg):
                for later in messages[index + 1:]:
                    await later.nak(delay=0.5)
                return

    async def _handle(self, msg: Msg) -> bool:
        try:
            timer = Timer.from_body(msg.data)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.error("unreadable timer on %s: %s", msg.subject, error)
            await record_for_operators(self.js, f"timer-{msg.metadata.sequence.stream}",
                                       f"{msg.subject}: unreadable timer: {error}")
            await msg.term()
            return True
        try:
            await self.handler(timer)
        except Exception as error:
            return await self._failed(msg, timer, error)
        await msg.ack()
        self.handled += 1
        return True

    async def _failed(self, msg: Msg, timer: Timer, error: Exception) -> bool:
        delivered = msg.metadata.num_delivered
        if delivered >= self.max_deliver:
            log.error("timer %s.%s gave up after %s tries: %r", timer.ticket, timer.kind,
                      delivered, error)
            await record_for_operators(self.js, f"{self.durable}-{timer.ticket}-{timer.kind}",
                                       f"timer failed {delivered} times: {error!r}")
            await msg.term()
            return True
        delay = BACKOFF_S[min(delivered - 1, len(BACKOFF_S) - 1)]
        log.warning("timer %s.%s failed (try %s), retry in %ss: %r", timer.ticket, timer.kind,
                    delivered, delay, error)
        await msg.nak(delay=delay)
        return False

