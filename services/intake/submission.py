"""Turning a valid request into a new ticket: the decider's ``SubmitRequest`` (which redacts
and builds ``RequestSubmitted``), appended once.

Idempotency (the ``Idempotency-Key`` header of the API, the one-time token of the HTML
form): the key is claimed in the KV bucket ``intake_idempotency`` together with the case
number *before* the ticket is appended (``create`` fails if the key exists, so two
concurrent submits with one key get one claim). The event ids are derived from the key,
so appending again for the same key is a no-op in the event store. A submit that finds
its key claimed answers with the claimed case number; if the first submit crashed after
the claim and before the append, the repeat appends the ticket (same number, same ids).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from shared.adapters.casenumbers import CaseNumberAllocator
from shared.adapters.eventstore import ConcurrencyConflict, EventStore
from shared.adapters.kvbuckets import kv_bucket
from shared.application.handling import Cause, execute
from shared.domain import events as ev
from shared.domain.requestform import SupportRequest
from shared.domain.ticket.commands import SubmitRequest
from shared.settings.intake import IntakeSettings

IDEMPOTENCY_BUCKET = "intake_idempotency"
# The request first, then (without SLA) its AwaitingAcceptance: the ids a key repeats.
SUBMISSION_SUFFIXES = {"RequestSubmitted": "0", "AwaitingAcceptance": "1"}
MAX_NUMBER_ATTEMPTS = 5


class IdempotencyKeyReused(Exception):
    """The key was used before for a request with different content."""


@dataclass(frozen=True)
class Submitted:
    """The outcome of a submit: the case number and what the customer must be told."""

    case_number: str
    redacted_fields: tuple[str, ...]
    replayed: bool = False


def idempotency_id(channel: str, key: str) -> str:
    """The KV key (and event-id base) of a client's key; hashed, so any text is safe."""
    return hashlib.sha256(f"{channel}:{key}".encode()).hexdigest()


@dataclass
class Intake:
    """Appends the tickets of the form and the API. (``RequestSubmitted`` has one more
    writer: a technician opening a ticket from a held mail, services/oncall/mailticket.py;
    both go through the decider's ``SubmitRequest``.)"""

    store: EventStore
    js: JetStreamContext
    allocator: CaseNumberAllocator
    settings: IntakeSettings
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def _records(self) -> KeyValue:
        return await kv_bucket(self.js, IDEMPOTENCY_BUCKET)

    async def submit(self, request: SupportRequest, *, language: ev.request.Language,
                     channel: ev.request.Channel, key: str | None = None,
                     strict_key: bool = True) -> Submitted:
        """Create the ticket (once per ``key``). With ``strict_key`` a key reused for other
        content is refused (API); otherwise the first ticket is answered (HTML form)."""
        # Within the store's deadline, or TimeoutError: the caller answers "try again" at
        # once rather than holding the customer while the log elects a new leader.
        async with asyncio.timeout(self.settings.store_timeout_s):
            return await self._submit(request, language, channel, key, strict_key)

    async def _submit(self, request: SupportRequest, language: ev.request.Language,
                      channel: ev.request.Channel, key: str | None,
                      strict_key: bool) -> Submitted:
        if key is None:
            return await self._append_new(request, language, channel, key_id=None)
        key_id = idempotency_id(channel, key)
        claim = await self._claimed(key_id)
        if claim is None:
            case_number = await self.allocator.next_number()
            claim = await self._claim(key_id, case_number, request.fingerprint())
            if claim is None:
                return await self._append_new(request, language, channel, key_id=key_id,
                                              case_number=case_number)
        case_number, fingerprint = claim
        if fingerprint != request.fingerprint():
            if strict_key:
                raise IdempotencyKeyReused(key_id)
            return Submitted(case_number, (), replayed=True)
        # The first submit may have stopped between claim and append: finish its work.
        result = await self._append_new(request, language, channel, key_id=key_id,
                                        case_number=case_number)
        return Submitted(result.case_number, result.redacted_fields, replayed=True)

    async def _claimed(self, key_id: str) -> tuple[str, str] | None:
        kv = await self._records()
        try:
            entry = await kv.get(key_id)
        except KeyNotFoundError:
            return None
        record = json.loads(entry.value or b"{}")
        return record["case_number"], record["fingerprint"]

    async def _claim(self, key_id: str, case_number: str, fingerprint: str
                     ) -> tuple[str, str] | None:
        """Claim ``key_id`` for ``case_number``; the existing claim if another came first."""
        kv = await self._records()
        value = json.dumps({"case_number": case_number, "fingerprint": fingerprint}).encode()
        try:
            await kv.create(key_id, value)
        except KeyWrongLastSequenceError:
            return await self._claimed(key_id)
        return None

    async def _append_new(self, request: SupportRequest, language: ev.request.Language,
                          channel: ev.request.Channel, *, key_id: str | None,
                          case_number: str | None = None) -> Submitted:
        for _ in range(MAX_NUMBER_ATTEMPTS):
            number = case_number or await self.allocator.next_number()
            command = SubmitRequest(at=self.clock(), case_number=number, form=request,
                                    language=language, channel=channel,
                                    terms=self.settings.service_terms())
            try:
                submitted = await self._create(command, key_id)
            except ConcurrencyConflict:
                # The number is taken by another ticket (only after a lost counter bucket).
                case_number = None
                if key_id is not None:
                    case_number = await self._move_claim(key_id, request)
                continue
            return Submitted(number, submitted.redacted_fields)
        raise ConcurrencyConflict("-", 0, "no free case number found")

    async def _create(self, command: SubmitRequest, key_id: str | None
                      ) -> ev.RequestSubmitted:
        """Append the new ticket at version 0; ConcurrencyConflict: its number is taken."""
        base = f"intake-{key_id[:40]}" if key_id else f"intake-{uuid.uuid4().hex}"
        handled = await execute(self.store, command.case_number, command,
                                cause=Cause(base, suffixes=SUBMISSION_SUFFIXES),
                                new_ticket=True)
        submitted = handled.events[0]
        assert isinstance(submitted, ev.RequestSubmitted)
        return submitted

    async def _move_claim(self, key_id: str, request: SupportRequest) -> str:
        """Point a claim whose number turned out to be taken at a fresh number."""
        kv = await self._records()
        number = await self.allocator.next_number()
        value = {"case_number": number, "fingerprint": request.fingerprint()}
        await kv.put(key_id, json.dumps(value).encode())
        return number
