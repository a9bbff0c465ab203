"""Durable, work-sharing event consumers: the imperative shell of every service.

Each service subscribes with a durable pull consumer on ``TICKETS`` (or ``TIMERS``); N
replicas of a service bind the same durable and share the work. Messages are acknowledged
only after the handler succeeded (explicit ack); a failing handler gets the message again
later (nak with backoff) up to ``max_deliver``, then it is recorded for operators. Events of
one ticket are handled one after the other in stream order; different tickets run
concurrently. After a failure, later events of the ticket wait for the failed one on every
replica (shared.adapters.orderholds), whatever the backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from shared.adapters import logcontext, tracing
from shared.adapters.eventstore import STREAM, EventStore, RecordedEvent
from shared.adapters.metrics import EVENTS_FAILED, EVENTS_GIVEN_UP, EVENTS_HANDLED, series
from shared.adapters.natsfaults import is_routine
from shared.adapters.orderholds import OrderHolds
from shared.adapters.provision import OPS_BUCKET
from shared.domain.events.codec import HEADER_EVENT_ID

log = logging.getLogger(__name__)

EventHandler = Callable[[Any], Awaitable[None]]
# Turns a message into what the handler takes; None: unreadable (already reported), skip it.
MessageDecoder = Callable[[Msg], Awaitable[Any]]


def ticket_of_event_subject(subject: str) -> str:
    """``tickets.<id>.<Type>`` -> ``<id>``: events of one ticket are handled in order."""
    return subject.split(".")[1]


BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
# Creating a durable on a cluster: unanswered requests tried this often (a leader election).
ENSURE_ATTEMPTS = 6


@dataclass
class ConsumerSpec:
    """One durable consumer of a service."""

    durable: str
    filter_subjects: list[str]
    handler: EventHandler
    stream: str = STREAM
    max_deliver: int = 50
    ack_wait_s: float = 30.0
    batch: int = 64
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL
    # Messages other than ticket events (e.g. fired timers) bring their own decoder and
    # say which part of the subject keeps them in order.
    decode: MessageDecoder | None = None
    order_key: Callable[[str], str] = ticket_of_event_subject
    # Delays before the 2nd, 3rd, ... delivery of a failed message (the last one repeats).
    backoff_s: tuple[float, ...] = BACKOFF_S

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=self.deliver_policy,
            filter_subjects=self.filter_subjects,
            # A message waiting behind a failed one of its ticket comes back about as often
            # as that one: the server must not stop delivering it before we give up on the
            # failed one (handler failures are counted against max_deliver in _failed).
            max_deliver=self.max_deliver * 2,
            ack_wait=self.ack_wait_s,
            max_ack_pending=10_000,
        )


@dataclass
class EventConsumer:
    """Runs one ConsumerSpec until stopped."""

    js: JetStreamContext
    store: EventStore
    spec: ConsumerSpec
    start_at_end: bool = False
    handled: int = 0
    restarts: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _holds: OrderHolds = field(init=False)

    def __post_init__(self) -> None:
        self._holds = OrderHolds(self.js, self.spec.durable, self.spec.stream)

    async def ensure(self, attempts: int = ENSURE_ATTEMPTS) -> None:
        """Create the durable, or bring an existing one to the spec. Where a consumer starts
        is fixed when it is created (``start_at_end``: only events from now on, e.g. when a
        service is added to a long-running log); an update keeps it.

        On a cluster, a consumer that another replica has just created has no leader for a
        moment and its info request goes unanswered: that is retried, not fatal."""
        for attempt in range(1, attempts + 1):
            try:
                await self._ensure_once()
                return
            except nats.errors.TimeoutError:
                task = asyncio.current_task()
                if attempt == attempts or (task is not None and task.cancelling()):
                    # A cancel that met the request's own deadline arrives as a timeout:
                    # asking again would keep a stopping service from ending.
                    raise
                log.warning("%s: no answer from the consumer's leader yet; asking again",
                            self.spec.durable)
                await asyncio.sleep(0.5 * attempt)

    async def _ensure_once(self) -> None:
        config = self.spec.config()
        try:
            info = await self.js.consumer_info(self.spec.stream, self.spec.durable)
        except NotFoundError:
            # Only the log has a history to skip; fired timers and queued webhooks are
            # work to do (and a work-queue stream refuses any start but the beginning).
            if self.start_at_end and self.spec.stream == self.store.stream:
                config.deliver_policy = DeliverPolicy.NEW
            await self.js.add_consumer(self.spec.stream, config)
            return
        config.deliver_policy = info.config.deliver_policy
        config.opt_start_seq = info.config.opt_start_seq
        await self.js.add_consumer(self.spec.stream, config)

    async def run(self) -> None:
        """Consume until stopped. An unexpected error is logged and the loop starts again
        (a consumer that silently died would leave its events unhandled forever)."""
        while not self._stopping.is_set():
            try:
                await self._run_once()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_routine(error):  # a node lost, a leader being elected
                    log.warning("%s: interrupted (%r); starting again", self.spec.durable,
                                error)
                else:
                    log.exception("%s: consumer failed; restarting", self.spec.durable)
                self.restarts += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)

    async def _run_once(self) -> None:
        await self.ensure()
        await self._holds.start()
        sub = await self.js.pull_subscribe_bind(self.spec.durable, self.spec.stream)
        try:
            while not self._stopping.is_set():
                try:
                    messages = await self._fetch_unless_stopping(sub)
                except (nats.errors.TimeoutError, TimeoutError):
                    # nats-py raises either, depending on where in the fetch it timed out.
                    continue
                except (nats.errors.ConnectionClosedError, nats.errors.DrainTimeoutError):
                    return
                await self._handle_batch(messages)
        finally:
            with contextlib.suppress(Exception):  # connection may be closed at shutdown
                await sub.unsubscribe()
            await self._holds.stop()

    def stop(self) -> None:
        self._stopping.set()

    async def _fetch_unless_stopping(self, sub: Any) -> list[Msg]:
        """Fetch the next batch, but give up at once when the consumer is stopped (messages
        a cancelled fetch may have pulled are not acked: JetStream redelivers them)."""
        fetch = asyncio.ensure_future(sub.fetch(self.spec.batch, timeout=1.0))
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch
            return []
        return fetch.result()

    async def _handle_batch(self, messages: list[Msg]) -> None:
        by_ticket: dict[str, list[Msg]] = {}
        for msg in messages:
            by_ticket.setdefault(self.spec.order_key(msg.subject), []).append(msg)
        await asyncio.gather(*(self._handle_in_order(batch) for batch in by_ticket.values()))

    async def _handle_in_order(self, messages: list[Msg]) -> None:
        """One ticket's messages of a batch, in stream order. A message behind an earlier
        failed one of its ticket (in this batch, an earlier one, or on another replica)
        comes back just after that one's retry is due, so it is never handled first."""
        for msg in messages:
            key, seq = self.spec.order_key(msg.subject), msg.metadata.sequence.stream
            wait_s = self._holds.wait_s(key, seq)
            if wait_s is not None:  # held too: the waiting ones then go one by one
                await self._holds.hold(key, seq, wait_s)
                await msg.nak(delay=wait_s)
            elif await self._handle_one(msg):
                await self._holds.release(key, seq)

    async def _handle_one(self, msg: Msg) -> bool:
        """Handle and ack one message (True), or nak it for a retry (False)."""
        headers = msg.headers or {}
        case, event_id = self._case_of(msg), headers.get(HEADER_EVENT_ID)
        service = self.spec.durable.split("-")[0]
        attributes: dict[str, tracing.AttributeValue] = {
            "ticketcore.service": service, "ticketcore.durable": self.spec.durable,
            "ticketcore.case": case or "", "ticketcore.event_id": event_id or "",
            "ticketcore.delivery": msg.metadata.num_delivered or 1}
        # A child of the span that appended the event (the message's traceparent header).
        with (tracing.span(f"handle {self._type_of(msg)}", kind=tracing.SpanKind.CONSUMER,
                           parent=headers, attributes=attributes),
              logcontext.bound(case=case, event_id=event_id, service=service)):
            return await self._decode_and_handle(msg)

    def _case_of(self, msg: Msg) -> str | None:
        if self.spec.stream != self.store.stream:
            return None
        return ticket_of_event_subject(msg.subject)

    async def _decode_and_handle(self, msg: Msg) -> bool:
        item = await (self.spec.decode or self._decode_event)(msg)
        if item is None:  # unreadable: already reported, never a crash loop
            await msg.term()
            return True
        try:
            await self.spec.handler(item)
        except Exception as error:
            tracing.failed(error)
            series(EVENTS_FAILED, self.spec.durable, self._type_of(msg)).inc()
            return await self._failed(msg, error)
        await msg.ack()
        self.handled += 1
        series(EVENTS_HANDLED, self.spec.durable, self._type_of(msg)).inc()
        return True

    def _type_of(self, msg: Msg) -> str:
        """The event type for the metrics: a ticket event's subject ends with it; other
        streams' messages (fired timers, webhook jobs) are counted by stream."""
        if self.spec.stream == self.store.stream:
            return msg.subject.rsplit(".", 1)[-1]
        return self.spec.stream

    async def _decode_event(self, msg: Msg) -> RecordedEvent | None:
        meta = msg.metadata
        return await self.store.decode_message(
            msg.subject, meta.sequence.stream, msg.headers or {}, msg.data, meta.timestamp,
            remember=True)

    async def _failed(self, msg: Msg, error: Exception) -> bool:
        delivered = msg.metadata.num_delivered
        seq = msg.metadata.sequence.stream
        if delivered >= self.spec.max_deliver:
            log.error("%s gave up on %s (seq %s) after %s tries: %r", self.spec.durable,
                      msg.subject, seq, delivered, error)
            await record_for_operators(self.js, f"{self.spec.durable}-{seq}",
                                       f"{msg.subject}: handler failed {delivered} times: "
                                       f"{error!r}")
            EVENTS_GIVEN_UP.labels(self.spec.durable, self._type_of(msg)).inc()
            await msg.term()
            return True
        delay = self.spec.backoff_s[min(delivered - 1, len(self.spec.backoff_s) - 1)]
        log.warning("%s: %s (seq %s) failed (try %s), retry in %ss: %r", self.spec.durable,
                    msg.subject, seq, delivered, delay, error)
        # Shared before the nak: no later event of the ticket can be handled first.
        await self._holds.hold(self.spec.order_key(msg.subject), seq, delay)
        await msg.nak(delay=delay)
        return False


async def record_for_operators(js: JetStreamContext, key: str, reason: str) -> None:
    """Keep a problem where operators look (KV bucket ``ops_undecodable``)."""
    try:
        kv = await js.key_value(OPS_BUCKET)
        await kv.put(key.replace(".", "_").replace(">", "_"), reason.encode())
    except Exception as error:  # the log line above is the last resort
        log.error("could not record %s for operators: %s", key, error)


async def consumer_lag(js: JetStreamContext, stream: str, durable: str) -> dict[str, int]:
    """Pending (not yet delivered) and in-flight (delivered, not acked) messages."""
    info = await js.consumer_info(stream, durable)
    return {"pending": info.num_pending or 0, "ack_pending": info.num_ack_pending or 0,
            "redelivered": info.num_redelivered or 0}
