"""Appending a ticket's events with optimistic concurrency over the whole ticket
(``Nats-Expected-Last-Subject-Sequence`` with the filter ``tickets.<id>.>``: the expected
version is the *stream* sequence of the ticket's last event, 0 for a new ticket). Several
events of one command go in one atomic batch. Each event carries its id as
``Nats-Msg-Id`` so a retried append is stored once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient

from shared.adapters import tracing
from shared.adapters.eventstore.index import SequenceIndex, index_headers
from shared.adapters.eventstore.records import (
    ConcurrencyConflict,
    EventStoreError,
    PendingEvent,
    TicketHistory,
    check_ticket_id,
    ticket_subject,
)
from shared.adapters.metrics import APPEND_CONFLICTS, count_appended
from shared.adapters.pii import PiiVault, has_personal_fields
from shared.domain.events import Event, encode_event
from shared.domain.events.codec import (
    HEADER_CAUSATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_SCHEMA_VERSION,
)

# JetStream error codes that mean "someone else appended first: reload and decide again".
CONFLICT_CODES = {10071, 10164}
DUPLICATE_IN_BATCH = 10201

Message = tuple[str, dict[str, str], bytes]
Loader = Callable[[str], Awaitable[TicketHistory]]


class Appender:
    """Writes a command's events to the log, checked against the ticket's version."""

    def __init__(self, nc: NatsClient, timeout_s: float, vault: PiiVault | None,
                 index: SequenceIndex, load: Loader) -> None:
        self.nc = nc
        self.timeout_s = timeout_s
        self.vault = vault
        self.index = index
        self.load = load  # to tell our own lost-ack append from another writer's

    async def append(self, ticket_id: str, events: Sequence[Event | PendingEvent],
                     expected_version: int, *, causation_id: str | None = None) -> int:
        """See EventStore.append."""
        check_ticket_id(ticket_id)
        pending = [e if isinstance(e, PendingEvent) else PendingEvent(e) for e in events]
        if not pending:
            return expected_version
        types = [p.event.type_name() for p in pending]
        # The events' traceparent names this span: their consumers' spans are its children.
        with tracing.span(f"append {', '.join(types)}", kind=tracing.SpanKind.PRODUCER,
                          attributes={"ticketcore.case": ticket_id,
                                      "ticketcore.event_types": types,
                                      "ticketcore.expected_version": expected_version}):
            return await self._append(ticket_id, pending, expected_version, causation_id)

    async def _append(self, ticket_id: str, pending: list[PendingEvent],
                      expected_version: int, causation_id: str | None) -> int:
        stored = [await self._protect(ticket_id, p, existing=expected_version > 0)
                  for p in pending]
        messages = [self._message(ticket_id, p, causation_id) for p in stored]
        messages[0][1]["Nats-Expected-Last-Subject-Sequence"] = str(expected_version)
        messages[0][1]["Nats-Expected-Last-Subject-Sequence-Subject"] = ticket_subject(ticket_id)
        earlier = await self.index.earlier(ticket_id, expected_version)
        if earlier is not None:
            messages[-1][1].update(index_headers(earlier, len(messages)))
        ack = await self._publish_with_retry(messages)
        error = ack.get("error")
        if error is None:
            if not ack.get("duplicate"):
                count_appended(p.event.type_name() for p in pending)
            last = int(ack["seq"])
            if earlier is not None:
                self.index.remember(ticket_id, [*earlier, *range(last - len(messages) + 1,
                                                                 last + 1)])
            return last
        return await self._resolve_refusal(ticket_id, pending, expected_version, error)

    async def _protect(self, ticket_id: str, pending: PendingEvent, *,
                       existing: bool) -> PendingEvent:
        if self.vault is None or not has_personal_fields(pending.event):
            return pending
        return PendingEvent(await self.vault.protect(ticket_id, pending.event,
                                                     existing=existing), pending.event_id)

    @staticmethod
    def _message(ticket_id: str, pending: PendingEvent, causation_id: str | None) -> Message:
        event = pending.event
        headers = {
            "Nats-Msg-Id": pending.event_id,
            HEADER_EVENT_ID: pending.event_id,
            HEADER_EVENT_TYPE: event.type_name(),
            HEADER_SCHEMA_VERSION: str(event.SCHEMA_VERSION),
        }
        if causation_id:
            headers[HEADER_CAUSATION_ID] = causation_id
        tracing.inject(headers)  # the work that led to the event continues in its consumers
        return ticket_subject(ticket_id, event.type_name()), headers, encode_event(event)

    async def _publish_with_retry(self, messages: list[Message],
                                  attempts: int = 3) -> dict[str, Any]:
        """Publish; on a lost acknowledgement publish the same ids again (deduplicated)."""
        for attempt in range(attempts):
            try:
                return await self._publish(messages)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _publish(self, messages: list[Message]) -> dict[str, Any]:
        if len(messages) == 1:
            subject, headers, body = messages[0]
            reply = await self.nc.request(subject, body, timeout=self.timeout_s, headers=headers)
            return json.loads(reply.data)
        batch_id = uuid.uuid4().hex
        last = len(messages) - 1
        for index, (subject, headers, body) in enumerate(messages):
            headers = {**headers, "Nats-Batch-Id": batch_id,
                       "Nats-Batch-Sequence": str(index + 1)}
            if index < last:
                await self.nc.publish(subject, body, headers=headers)
            else:
                headers["Nats-Batch-Commit"] = "1"
                reply = await self.nc.request(subject, body, timeout=self.timeout_s,
                                              headers=headers)
        return json.loads(reply.data)

    async def _resolve_refusal(self, ticket_id: str, pending: list[PendingEvent],
                               expected_version: int, error: dict[str, Any]) -> int:
        code = error.get("err_code")
        if code in CONFLICT_CODES or code == DUPLICATE_IN_BATCH:
            # The concurrency check runs before deduplication: a retry of an append that
            # was stored but whose ack got lost comes back as a conflict. Look for our ids.
            history = await self.load(ticket_id)
            if all(history.has_event_id(p.event_id) for p in pending):
                return history.version
            APPEND_CONFLICTS.inc()
            raise ConcurrencyConflict(ticket_id, expected_version, error.get("description", ""))
        raise EventStoreError(f"append to ticket {ticket_id} refused: {error}")
