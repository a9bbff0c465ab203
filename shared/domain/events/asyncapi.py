"""The AsyncAPI 3.0 document of ticketcore's events, generated from the contracts."""

from __future__ import annotations

from typing import Any

import msgspec

from shared.domain.events.codec import (
    EVENT_TYPES,
    HEADER_CAUSATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_SCHEMA_VERSION,
    AnyEvent,
)

HEADERS_SCHEMA = {
    "type": "object",
    "properties": {
        "Nats-Msg-Id": {"type": "string", "description": "deduplication id (= event id)"},
        HEADER_EVENT_ID: {"type": "string", "description": "unique, stable event id"},
        HEADER_EVENT_TYPE: {"type": "string", "description": "event type name"},
        HEADER_SCHEMA_VERSION: {"type": "string", "description": "schema version of the body"},
        HEADER_CAUSATION_ID: {"type": "string", "description": "id of the causing event"},
    },
    "required": [HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION],
}


def asyncapi_document() -> dict[str, Any]:
    """One channel per event type on ``tickets.{ticketId}.<Type>`` (JetStream ``TICKETS``)."""
    _, components = msgspec.json.schema_components([AnyEvent],
                                                   ref_template="#/components/schemas/{name}")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, cls in EVENT_TYPES.items():
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (cls.__doc__ or name).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": HEADERS_SCHEMA,
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "x-schema-version": cls.SCHEMA_VERSION,
        }
        channels[name] = {
            "address": f"tickets.{{ticketId}}.{name}",
            "parameters": {"ticketId": {"description": "the ticket's case number"}},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"receive{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{name}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "ticketcore events",
            "version": "1",
            "description": "Every fact of a ticket, in order, on the JetStream stream "
                           "TICKETS. Subscribe with a durable or ordered consumer; replay "
                           "from any stream sequence.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": components},
    }
