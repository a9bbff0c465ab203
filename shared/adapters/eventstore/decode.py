"""Stored messages back into recorded events: the contract's decoder, personal fields
revealed by the vault, an undecodable message reported and skipped."""

from __future__ import annotations

import logging
from datetime import datetime

from nats.aio.msg import Msg

from shared.adapters.eventstore.cache import DecodedEvents
from shared.adapters.eventstore.directget import parse_time
from shared.adapters.eventstore.records import (
    RecordedEvent,
    UndecodableHandler,
    ticket_id_of,
)
from shared.adapters.pii import PiiVault, has_personal_fields
from shared.domain.events import UndecodableEvent, decode_event
from shared.domain.events.codec import (
    HEADER_CAUSATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_SCHEMA_VERSION,
)

log = logging.getLogger(__name__)


class Decoder:
    """Decodes stored messages; remembers what a next load may ask for again."""

    def __init__(self, vault: PiiVault | None, decoded: DecodedEvents,
                 on_undecodable: UndecodableHandler | None) -> None:
        self.vault = vault
        self.decoded = decoded
        self.on_undecodable = on_undecodable

    async def decode(self, msg: Msg, *, from_direct_get: bool,
                     known_keys: dict[str, bytes | None] | None = None,
                     reveal: bool = True) -> RecordedEvent | None:
        """A direct get's answer or a consumer's message as a recorded event."""
        headers = msg.headers or {}
        if from_direct_get:
            subject = headers["Nats-Subject"]
            seq = int(headers["Nats-Sequence"])
            recorded_at = parse_time(headers.get("Nats-Time-Stamp"))
        else:
            subject = msg.subject
            seq = msg.metadata.sequence.stream
            recorded_at = msg.metadata.timestamp
        return await self.decode_message(subject, seq, headers, msg.data, recorded_at,
                                         known_keys, reveal=reveal)

    async def decode_message(self, subject: str, seq: int, headers: dict[str, str],
                             body: bytes, recorded_at: datetime | None,
                             known_keys: dict[str, bytes | None] | None = None,
                             *, reveal: bool = True, remember: bool = False
                             ) -> RecordedEvent | None:
        """Decode one stored message; an undecodable one is reported and skipped (None).
        ``remember``: keep the decoded event for a next load of its ticket (a consumer's
        event, or a loaded one; never a replay's millions)."""
        type_name = headers.get(HEADER_EVENT_TYPE, subject.rsplit(".", 1)[-1])
        try:
            version = int(headers.get(HEADER_SCHEMA_VERSION, "1"))
            event = decode_event(type_name, version, body)
        except (UndecodableEvent, ValueError) as error:
            log.error("skipping undecodable event seq=%s subject=%s: %s", seq, subject, error)
            if self.on_undecodable is not None:
                await self.on_undecodable(subject, seq, str(error))
            return None
        ticket_id = ticket_id_of(subject)
        if reveal and self.vault is not None and has_personal_fields(event):
            event = await self.vault.reveal(ticket_id, event, known_keys)
        recorded = RecordedEvent(
            ticket_id=ticket_id,
            seq=seq,
            event_id=headers.get(HEADER_EVENT_ID, headers.get("Nats-Msg-Id", "")),
            event=event,
            recorded_at=recorded_at,
            causation_id=headers.get(HEADER_CAUSATION_ID),
        )
        if remember and reveal:
            self.decoded.remember(recorded)
        return recorded
