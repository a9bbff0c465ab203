"""How the processes log: plain text for people (default) or, with
``TICKETCORE_LOG_FORMAT=json``, one JSON object per line for log collectors.

A JSON line has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and, where the
line was written while handling an event or a request, ``case``, ``event_id``, ``service``
and ``trace_id`` (shared/adapters/logcontext.py); ``exception`` holds a traceback. Libraries
that talk a lot at INFO are kept to their warnings.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from shared.adapters import logcontext, tracing
from shared.runtime.metrics import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    observe_request,
    route_template,
)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# INFO chatter of libraries: fontTools logs ~70 lines per invoice PDF (subsetting the
# font), aiosmtpd ("mail.log") every SMTP connection, httpx every request.
QUIET = ("fontTools", "mail.log", "httpx", "httpcore")
TRACE_HEADERS = (b"traceparent", b"tracestate")  # W3C trace context (ASGI: lower case)


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "message": record.getMessage()}
        line.update(logcontext.current())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str, *, service: str | None = None) -> None:
    """Set up the root logger once per process; ``service`` names a process that runs one."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    if service is not None:
        logcontext.set_process_service(service)


class RequestContext:
    """ASGI middleware: each request runs in a server span (shared/adapters/tracing.py),
    continued from its ``traceparent`` header or a new trace; its log lines name the trace
    and the events it appends carry it on. Its duration is observed for the metrics by
    method, route template and status. (One middleware for both: each layer costs every
    request a call and a wrapped ``send``.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope.get("headers") or [] if name in TRACE_HEADERS}
        method = scope["method"]
        status = 500  # what the client gets when the app raised before answering

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        with tracing.span(method, kind=tracing.SpanKind.SERVER, parent=headers,
                          attributes={"http.request.method": method}) as span:
            try:
                await self.app(scope, receive, send_and_note_status)
            finally:
                # The route template, never the raw path (it holds case numbers).
                route = route_template(scope)
                observe_request(method, route, status, time.perf_counter() - started)
                if span.is_recording():
                    span.update_name(f"{method} {route}")
                    span.set_attributes({"http.route": route,
                                         "http.response.status_code": status})


def install_request_context(app: FastAPI) -> None:
    app.add_middleware(RequestContext)
