"""Crypto-shredding of personal data in the append-only log (docs/domain.md 7).

Personal fields of events (names, addresses, e-mail addresses, phone numbers, the text of
customer mails and the names of their files, technicians' answers and notes; each event
type declares its own, ``Event.PERSONAL``) are encrypted
with AES-256-GCM before they are stored, under a data key of their ticket kept in the KV
bucket ``pii_keys``. Erasing a customer destroys the keys of
their tickets: the ciphertext stays in the log, unreadable forever, while everything else
(case numbers, times, priorities, logged time, invoice amounts) stays as it was.

Services never see ciphertext: the event store encrypts on append and decrypts on read.
A field whose key is gone reads as ``ERASED``.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from msgspec.structs import replace
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from shared.adapters.kvbuckets import kv_bucket
from shared.domain import events as ev

PII_BUCKET = "pii_keys"
PREFIX = "pii:v1:"
ERASED = "[gelöscht / erased]"
# How long a process trusts a cached key: erasure reaches every process within this time.
KEY_CACHE_S = 60.0


# Which string fields of which events are personal: declared on each event type
# (``Event.PERSONAL``, shared.domain.events.base.Personal), as (path, condition) here.
PERSONAL_FIELDS: dict[type[ev.Event], list[tuple[str, Callable[[Any], bool] | None]]] = {
    kind: [(personal.path, personal.applies if personal.party else None)
           for personal in kind.PERSONAL]
    for kind in ev.EVENT_TYPES.values() if kind.PERSONAL}


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        obj = obj[int(name)] if name.isdigit() else getattr(obj, name)
    return obj


def _set(obj: Any, path: tuple[str, ...], value: Any) -> Any:
    head = path[0]
    inner = value if len(path) == 1 else _set(_get(obj, (head,)), path[1:], value)
    if head.isdigit():  # an element of a tuple
        index = int(head)
        return (*obj[:index], inner, *obj[index + 1:])
    return replace(obj, **{head: inner})


Path = tuple[str, tuple[str, ...]]  # the dotted path (bound into the ciphertext), split


def _concrete(obj: Any, path: str) -> list[Path]:
    """``path`` with each ``name[]`` spelled out per element: ``attachments.0.filename``;
    the index is part of the path, so it is bound into each ciphertext too."""
    head, _, rest = path.partition("[]")
    if not _:
        return [(path, tuple(path.split(".")))]
    count = len(_get(obj, tuple(head.split("."))))
    return [found for index in range(count)
            for found in _concrete(obj, f"{head}.{index}{rest}")]


# Per event type, its personal paths split once (every event read or written is walked).
_PLAIN: dict[type[ev.Event], tuple[tuple[Path, Callable[[Any], bool] | None], ...]] = {
    kind: tuple(((path, tuple(path.split("."))), condition) for path, condition in fields
                if "[]" not in path)
    for kind, fields in PERSONAL_FIELDS.items()}
_LISTED: dict[type[ev.Event], tuple[tuple[str, Callable[[Any], bool] | None], ...]] = {
    kind: tuple((path, condition) for path, condition in fields if "[]" in path)
    for kind, fields in PERSONAL_FIELDS.items()}


def _personal_paths(event: ev.Event) -> list[Path]:
    kind = type(event)
    paths = [path for path, condition in _PLAIN.get(kind, ())
             if condition is None or condition(event)]
    for listed, condition in _LISTED.get(kind, ()):
        if condition is None or condition(event):
            paths += _concrete(event, listed)
    return paths


def transform(event: ev.Event, convert: Callable[[str, str], str],
              paths: list[Path] | None = None) -> ev.Event:
    """Apply ``convert(path, value)`` to every personal string field of ``event`` (``paths``:
    its personal paths, when the caller has them already)."""
    for path, parts in _personal_paths(event) if paths is None else paths:
        value = _get(event, parts)
        if isinstance(value, str) and value:
            event = _set(event, parts, convert(path, value))
    return event


def has_personal_fields(event: ev.Event) -> bool:
    return type(event) in PERSONAL_FIELDS


def _is_encrypted(event: ev.Event, paths: list[Path]) -> bool:
    """Whether any personal field holds ciphertext (read only: no copies made)."""
    for _, parts in paths:
        value = _get(event, parts)
        if isinstance(value, str) and value.startswith(PREFIX):
            return True
    return False


@lru_cache(maxsize=4096)
def _cipher(key: bytes) -> AESGCM:
    return AESGCM(key)


def encrypt_field(key: bytes, ticket_id: str, path: str, value: str) -> str:
    nonce = os.urandom(12)
    sealed = _cipher(key).encrypt(nonce, value.encode(), f"{ticket_id}/{path}".encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_field(key: bytes | None, ticket_id: str, path: str, value: str) -> str:
    if not value.startswith(PREFIX):
        return value  # stored before encryption, or written by a tool without it
    if key is None:
        return ERASED
    raw = base64.urlsafe_b64decode(value[len(PREFIX):])
    try:
        return _cipher(key).decrypt(raw[:12], raw[12:],
                                   f"{ticket_id}/{path}".encode()).decode()
    except InvalidTag:
        return ERASED


class PiiVault:
    """Data keys per ticket in the KV bucket ``pii_keys``, cached briefly in memory."""

    def __init__(self, js: JetStreamContext, bucket: str = PII_BUCKET) -> None:
        self.js = js
        self.bucket = bucket
        self._cache: dict[str, tuple[bytes | None, float]] = {}

    async def _bucket(self) -> KeyValue:
        return await kv_bucket(self.js, self.bucket)

    @staticmethod
    async def _existing_key(kv: KeyValue, ticket_id: str) -> bytes:
        key = (await kv.get(ticket_id)).value
        if not key:  # an entry that exists holds its key (an erased one is not found)
            raise ValueError(f"ticket {ticket_id}: its PII key is empty")
        return key

    def _cached(self, ticket_id: str) -> tuple[bool, bytes | None]:
        entry = self._cache.get(ticket_id)
        if entry is None or time.monotonic() - entry[1] > KEY_CACHE_S:
            return False, None
        return True, entry[0]

    async def key_for_reading(self, ticket_id: str) -> bytes | None:
        hit, key = self._cached(ticket_id)
        if hit:
            return key
        kv = await self._bucket()
        try:
            entry = await kv.get(ticket_id)
            key = entry.value or None
        except KeyNotFoundError:  # never created, or erased
            key = None
        self._cache[ticket_id] = (key, time.monotonic())
        return key

    async def key_for_writing(self, ticket_id: str, *, existing: bool = False) -> bytes:
        """The ticket's key, created if there is none. ``existing``: the ticket has events,
        so its key is read first (a service that may only read keys can write then)."""
        hit, cached = self._cached(ticket_id)
        if hit and cached is not None:
            return cached
        kv = await self._bucket()
        if existing:
            try:
                key = (await kv.get(ticket_id)).value or b""
                if key:
                    self._cache[ticket_id] = (key, time.monotonic())
                    return key
            except KeyNotFoundError:
                pass
        # Create first: most writes start a new ticket, whose key cannot exist yet, so
        # looking first would cost every new ticket a round trip for nothing.
        key = AESGCM.generate_key(bit_length=256)
        try:
            await kv.create(ticket_id, key)
        except KeyWrongLastSequenceError:  # it exists (or another writer was first): use it
            key = await self._existing_key(kv, ticket_id)
        self._cache[ticket_id] = (key, time.monotonic())
        return key

    async def erase(self, ticket_id: str) -> None:
        """Destroy the ticket's data key (purge: no history of it remains)."""
        kv = await self._bucket()
        await kv.purge(ticket_id)
        self._cache[ticket_id] = (None, time.monotonic())

    async def protect(self, ticket_id: str, event: ev.Event, *,
                      existing: bool = False) -> ev.Event:
        if not has_personal_fields(event):
            return event
        key = await self.key_for_writing(ticket_id, existing=existing)
        return transform(event, lambda path, v: encrypt_field(key, ticket_id, path, v))

    async def all_keys(self) -> dict[str, bytes | None]:
        """Every ticket's key at once (one ordered read of the bucket), for a replay that
        would otherwise fetch them one by one; erased keys map to None."""
        kv_stream = f"KV_{self.bucket}"
        info = await self.js.stream_info(kv_stream)
        keys: dict[str, bytes | None] = {}
        if info.state.messages == 0:
            return keys
        sub = await self.js.subscribe(f"$KV.{self.bucket}.>", ordered_consumer=True,
                                      deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
        try:
            while True:
                msg = await sub.next_msg(timeout=10)
                operation = (msg.headers or {}).get("KV-Operation")
                keys[msg.subject.split(".", 2)[2]] = None if operation else msg.data
                if msg.metadata.num_pending == 0:
                    return keys
        finally:
            await sub.unsubscribe()

    async def reveal(self, ticket_id: str, event: ev.Event,
                     known_keys: dict[str, bytes | None] | None = None) -> ev.Event:
        paths = _personal_paths(event)
        if not _is_encrypted(event, paths):
            return event
        if known_keys is not None and ticket_id in known_keys:
            key = known_keys[ticket_id]
        else:
            key = await self.key_for_reading(ticket_id)
        return transform(event, lambda path, v: decrypt_field(key, ticket_id, path, v), paths)
