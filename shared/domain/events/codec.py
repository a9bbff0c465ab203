"""Encoding, decoding and upcasting of events, and their JSON Schema.

A stored event is a NATS message on ``tickets.<ticket id>.<Type>`` whose body is the event
as JSON (with its ``type`` tag) and whose headers say what it is (see ``HEADER_*``).
Upcasters turn the JSON of an old schema version into the next version, step by step, so
stored messages never have to be rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import msgspec

# Import every module that defines events so that Event.__subclasses__ sees them all.
from shared.domain.events import (  # noqa: F401
    conversation,
    escalation,
    invoicing,
    lifecycle,
    mail,
    request,
)
from shared.domain.events.base import Event

HEADER_EVENT_ID = "Ticketcore-Event-Id"
HEADER_EVENT_TYPE = "Ticketcore-Event-Type"
HEADER_SCHEMA_VERSION = "Ticketcore-Schema-Version"
HEADER_CAUSATION_ID = "Ticketcore-Causation-Id"


def _all_event_classes() -> list[type[Event]]:
    found: list[type[Event]] = []
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in _all_event_classes()}
AnyEvent = Union[tuple(EVENT_TYPES.values())]  # type: ignore[valid-type]  # noqa: UP007

_encoder = msgspec.json.Encoder()
_decoders = {name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()}
_raw_decoder = msgspec.json.Decoder(dict[str, Any])

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
# (type name, stored version) -> function turning that version's JSON into the next version's.
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UndecodableEvent(Exception):
    """A stored message that is not a known event of a readable version."""


def register_upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns ``type_name`` JSON of ``from_version`` into the next."""

    def register(upcaster: Upcaster) -> Upcaster:
        _UPCASTERS[(type_name, from_version)] = upcaster
        return upcaster

    return register


def registered_upcasters() -> dict[tuple[str, int], Upcaster]:
    """Every registered upcaster by (type name, the version it reads)."""
    return dict(_UPCASTERS)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(type_name: str, schema_version: int, body: bytes) -> Event:
    """Decode a stored event, upcasting it from ``schema_version`` to the current version."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise UndecodableEvent(f"unknown event type {type_name!r}")
    try:
        if schema_version == cls.SCHEMA_VERSION:
            return _decoders[type_name].decode(body)
        if schema_version > cls.SCHEMA_VERSION or schema_version < 1:
            raise UndecodableEvent(
                f"{type_name} schema version {schema_version} is not readable "
                f"(this build knows up to {cls.SCHEMA_VERSION})"
            )
        raw = _raw_decoder.decode(body)
        for version in range(schema_version, cls.SCHEMA_VERSION):
            upcaster = _UPCASTERS.get((type_name, version))
            if upcaster is None:
                raise UndecodableEvent(f"no upcaster for {type_name} v{version}")
            raw = upcaster(raw)
        raw["type"] = type_name
        return msgspec.convert(raw, cls, strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise UndecodableEvent(f"{type_name} v{schema_version}: {error}") from error


def event_json_schema() -> dict[str, Any]:
    """JSON Schema of every event, for integrators (``ticketcore events schema``)."""
    schema = msgspec.json.schema(AnyEvent)
    schema["title"] = "ticketcore events"
    schema["x-schema-versions"] = {n: c.SCHEMA_VERSION for n, c in EVENT_TYPES.items()}
    schema["x-subject"] = "tickets.<ticket id>.<type>"
    return schema
