"""What a log line is about: the case, the event, the service and the trace being handled.

Set by the layers that start work (a consumer handling an event, the HTTP layer answering a
request) and read by the JSON log format (shared/runtime/logs.py), so every line written
meanwhile, by any module, names them without passing them around. The trace id travels with
the work: appends put it into each event's ``traceparent`` header (W3C trace context) and a
consumer continues it, so one submission's lines share one ``trace_id`` across services.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from contextvars import ContextVar

FIELDS = ("case", "event_id", "service", "trace_id")
_context: ContextVar[dict[str, str] | None] = ContextVar("ticketcore_log_context",
                                                         default=None)
TRACEPARENT = "traceparent"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


_process: dict[str, str] = {}  # what holds for the whole process (``serve <name>``)


def current() -> dict[str, str]:
    return {**_process, **(_context.get() or {})}


def set_process_service(service: str) -> None:
    _process["service"] = service


@contextlib.contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` (those not None) to the context of everything run inside."""
    token = _context.set({**current(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def new_trace_id() -> str:
    return secrets.token_hex(16)


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` value, None if absent or malformed."""
    match = _TRACEPARENT.match(traceparent or "")
    if match is None or match.group(1) == "0" * 32:
        return None
    return match.group(1)


def traceparent() -> str | None:
    """A ``traceparent`` continuing the current trace (a new span id), None outside one."""
    trace_id = current().get("trace_id")
    if trace_id is None:
        return None
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"
