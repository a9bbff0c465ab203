"""Event contracts: one tagged union, stable names, schema export for integrators."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from shared.domain import events as ev
from shared.domain.events import EVENT_TYPES, decode_event, encode_event
from shared.domain.events.asyncapi import asyncapi_document
from tests.factories import request_submitted

TICKETCORE = str(Path(sys.executable).parent / "ticketcore")


def test_every_event_is_frozen_tagged_and_round_trips() -> None:
    event = request_submitted()
    assert json.loads(encode_event(event))["type"] == "RequestSubmitted"
    assert decode_event("RequestSubmitted", 1, encode_event(event)) == event
    with pytest.raises(AttributeError):
        event.priority = True  # type: ignore[misc]
    for name, cls in EVENT_TYPES.items():
        assert cls.__struct_config__.tag == name and cls.__struct_config__.frozen


def test_unknown_type_and_future_version_are_undecodable() -> None:
    body = encode_event(request_submitted())
    with pytest.raises(ev.UndecodableEvent):
        decode_event("NoSuchEvent", 1, body)
    with pytest.raises(ev.UndecodableEvent):
        decode_event("RequestSubmitted", 99, body)
    with pytest.raises(ev.UndecodableEvent):
        decode_event("RequestSubmitted", 1, b'{"type": "RequestSubmitted"}')


def test_schema_command_prints_every_event() -> None:
    result = subprocess.run([TICKETCORE, "events", "schema"], capture_output=True, text=True,
                            timeout=60)
    schema = json.loads(result.stdout)
    assert set(schema["$defs"]) >= set(EVENT_TYPES)
    assert schema["x-schema-versions"]["AckSent"] == 1


def test_asyncapi_document_has_a_channel_per_event() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == set(EVENT_TYPES)
    assert document["channels"]["AckSent"]["address"] == "tickets.{ticketId}.AckSent"
    refs = json.dumps(document)
    for name in EVENT_TYPES:
        assert f"#/components/schemas/{name}" in refs
        assert name in document["components"]["schemas"]


def test_json_schema_validates_a_real_event_shape() -> None:
    schema = msgspec.json.schema(ev.AckSent)
    assert "recipient" in schema["$defs"]["AckSent"]["required"]
