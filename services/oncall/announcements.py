"""Announcements of known incidents on the public live status page, published and withdrawn
by technicians in the console.

They live in the KV bucket ``oncall_announcements``, one key per announcement. They are not
ticket events: an incident belongs to the desk, not to one customer's ticket, and the
``TICKETS`` stream keeps a small, fixed set of subjects per ticket. Publishing and
withdrawing are each a write that names the technician and the time; the bucket keeps the
history of every key (``HISTORY``), so who published and who withdrew what can be read
back (``nats kv history oncall_announcements``). Withdrawing keeps the entry (marked
withdrawn) instead of deleting it, for the same reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from shared.adapters.kvbuckets import kv_bucket
from shared.adapters.provision import ensure_kv

BUCKET = "oncall_announcements"
HISTORY = 16
MAX_TEXT = 1000


class AnnouncementError(ValueError):
    """The announcement cannot be published or withdrawn; the message says why (German,
    shown in the console)."""


class Announcement(msgspec.Struct, frozen=True):
    id: str
    text: str
    published_by: str
    published_at: datetime
    withdrawn_by: str = ""
    withdrawn_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.withdrawn_at is None


def clean_text(text: str) -> str:
    """The announcement's text, checked: 1 to MAX_TEXT characters, no control characters
    but line breaks."""
    cleaned = text.replace("\r\n", "\n").strip()
    if not cleaned:
        raise AnnouncementError("Bitte einen Text für die Meldung eingeben.")
    if len(cleaned) > MAX_TEXT:
        raise AnnouncementError(f"Die Meldung darf höchstens {MAX_TEXT} Zeichen haben.")
    if any(ord(ch) < 32 and ch != "\n" for ch in cleaned):
        raise AnnouncementError("Die Meldung enthält unzulässige Steuerzeichen.")
    return cleaned


class Announcements:
    """Publish, withdraw and list the desk's announcements."""

    def __init__(self, js: JetStreamContext,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.js = js
        self.clock = clock

    async def ensure_bucket(self, replicas: int = 1) -> None:
        await ensure_kv(self.js, BUCKET, history=HISTORY, replicas=replicas)

    async def publish(self, text: str, technician: str) -> Announcement:
        announcement = Announcement(id=uuid.uuid4().hex, text=clean_text(text),
                                    published_by=technician, published_at=self.clock())
        bucket = await self._bucket()
        await bucket.create(announcement.id, msgspec.json.encode(announcement))
        return announcement

    async def withdraw(self, announcement_id: str, technician: str) -> Announcement:
        """Mark the announcement withdrawn (twice is harmless: the first withdrawal stays)."""
        bucket = await self._bucket()
        try:
            entry = await bucket.get(announcement_id)
        except KeyNotFoundError:
            raise AnnouncementError("Diese Meldung gibt es nicht.") from None
        current = msgspec.json.decode(entry.value or b"", type=Announcement)
        if not current.live:
            return current
        withdrawn = msgspec.structs.replace(current, withdrawn_by=technician,
                                            withdrawn_at=self.clock())
        # Bound to the revision read: a concurrent withdrawal is not overwritten.
        await bucket.update(announcement_id, msgspec.json.encode(withdrawn),
                            last=entry.revision)
        return withdrawn

    async def live(self) -> list[Announcement]:
        """The announcements not withdrawn, newest first."""
        bucket = await self._bucket()
        try:
            keys = await bucket.keys()
        except NoKeysError:
            return []
        found = []
        for key in keys:
            try:
                entry = await bucket.get(key)
            except KeyNotFoundError:
                continue
            announcement = msgspec.json.decode(entry.value or b"", type=Announcement)
            if announcement.live:
                found.append(announcement)
        return sorted(found, key=lambda a: a.published_at, reverse=True)

    async def _bucket(self) -> KeyValue:
        try:
            return await kv_bucket(self.js, BUCKET)
        except Exception:  # first use before start(): create it (idempotent)
            await self.ensure_bucket()
            return await kv_bucket(self.js, BUCKET)
