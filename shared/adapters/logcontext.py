"""What a log line is about: the case, the event, the service and the trace being handled.

Set by the layers that start work (a consumer handling an event, the HTTP layer answering a
request) and read by the JSON log format (shared/runtime/logs.py), so every line written
meanwhile, by any module, names them without passing them around. The trace is not kept
here: ``trace_id`` is the current span's (shared/adapters/tracing.py), which travels with the
work in each event's ``traceparent`` header, so one submission's lines share one
``trace_id`` across services.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from shared.adapters import tracing

FIELDS = ("case", "event_id", "service", "trace_id")
_context: ContextVar[dict[str, str] | None] = ContextVar("ticketcore_log_context",
                                                         default=None)


_process: dict[str, str] = {}  # what holds for the whole process (``serve <name>``)


def current() -> dict[str, str]:
    fields = {**_process, **(_context.get() or {})}
    trace_id = tracing.trace_id()
    if trace_id is not None:
        fields["trace_id"] = trace_id
    return fields


def set_process_service(service: str) -> None:
    _process["service"] = service


class bound:
    """Add ``fields`` (those not None) to the context of everything run inside. (A class,
    not a generator: it is entered for every message a consumer handles.)"""

    __slots__ = ("_fields", "_token")

    def __init__(self, **fields: str | None) -> None:
        self._fields = fields
        self._token: Token[dict[str, str] | None] | None = None

    def __enter__(self) -> None:
        self._token = _context.set({**(_context.get() or {}),
                                    **{k: v for k, v in self._fields.items() if v}})

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _context.reset(self._token)
