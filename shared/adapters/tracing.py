"""Traces (OpenTelemetry): one submission is one trace, across services.

This module owns the trace context of the process: the current span (OpenTelemetry's
context) says which trace the work belongs to. It comes in with an HTTP request's
``traceparent`` header (W3C trace context) or is made new; an append writes it into every
event's ``traceparent`` header (:func:`inject`), and the consumer handling that event
continues it (:func:`span` with ``parent``). The log lines name the trace from here
(shared/adapters/logcontext.py), so logs and traces agree.

Off by default: spans are then never recorded, but the trace is still carried for the logs
and into the events a request or handler appends. Off, OpenTelemetry is not asked at all: a
request or message only puts the ``traceparent`` it came with into a context variable, and
ids are made when a log line or an outgoing message needs them (the tracer's own
non-recording path cost 5-9 % of a consumer's CPU under load). With an OTLP endpoint
(:func:`configure`) spans are recorded and exported in batches over OTLP/HTTP.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar, Token
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import (
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    SpanKind,
    Status,
    StatusCode,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from shared.settings.core import TracingSettings

TRACEPARENT = "traceparent"
INSTRUMENTATION = "ticketcore"
_W3C = TraceContextTextMapPropagator()
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")

__all__ = ["TRACEPARENT", "AttributeValue", "SpanKind", "configure", "failed", "inject",
           "shutdown", "span", "trace_id", "use"]


@dataclass
class _Tracing:
    provider: TracerProvider
    tracer: trace.Tracer
    recording: bool  # False: the provider's sampler is ALWAYS_OFF (the light path)


def _off() -> TracerProvider:
    return TracerProvider(sampler=ALWAYS_OFF)


def _tracing_with(provider: TracerProvider) -> _Tracing:
    return _Tracing(provider, provider.get_tracer(INSTRUMENTATION),
                    recording=provider.sampler is not ALWAYS_OFF)


_current = _tracing_with(_off())


def configure(settings: TracingSettings, service: str | None = None) -> None:
    """Set up tracing for this process as ``settings`` say (``service``: the one service a
    ``serve`` process runs). Without an endpoint nothing is recorded."""
    if settings.otlp_endpoint is None:
        use(_off())
        return
    # Imported only when configured: the exporter and its HTTP client are not needed else.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    name = settings.service_name if service is None else f"{settings.service_name}-{service}"
    # The sampler: OpenTelemetry's default (parent-based, always on), or OTEL_TRACES_SAMPLER.
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=settings.otlp_endpoint)))
    use(provider)


def use(provider: TracerProvider) -> TracerProvider:
    """Record spans with ``provider`` from now on; returns the one used before (tests put
    it back). Our own provider, not OpenTelemetry's global one, which can be set once."""
    global _current
    previous, _current = _current.provider, _tracing_with(provider)
    return previous


def shutdown() -> None:
    """Export what is still buffered (at process stop) and record nothing more."""
    use(_off()).shutdown()


def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL,
         parent: Mapping[str, str] | None = None,
         attributes: Mapping[str, AttributeValue] | None = None
         ) -> contextlib.AbstractContextManager[trace.Span]:
    """Run the block in a new current span: a child of the current one, or, with
    ``parent`` (a message's or request's headers), of the trace context they carry (a new
    trace when they carry none). An exception leaving the block marks the span failed."""
    if not _current.recording:
        return _Unrecorded(parent)
    context = None if parent is None else _W3C.extract(_TraceHeaders(parent))
    return _current.tracer.start_as_current_span(name, context=context, kind=kind,
                                                 attributes=attributes)


class _LightTrace:
    """The trace an unrecorded block belongs to: the ``traceparent`` it continues, its
    ids made only when a log line or an outgoing message asks for them."""

    __slots__ = ("_header", "_trace_id")

    def __init__(self, header: str | None) -> None:
        self._header = header
        self._trace_id: int | None = None

    @property
    def trace_id(self) -> int:
        if self._trace_id is None:
            self._trace_id = _trace_id_in(self._header) or _new_id(128)
        return self._trace_id


_light: ContextVar[_LightTrace | None] = ContextVar("ticketcore_light_trace", default=None)


class _Unrecorded:
    """A span that records nothing. Only where a trace begins (a request's or a message's
    headers, or nothing current yet) is a trace put in the context; a nested block just
    stays in its trace: without recorded spans there is no tree to keep apart."""

    __slots__ = ("_parent", "_token")

    def __init__(self, parent: Mapping[str, str] | None) -> None:
        self._parent = parent
        self._token: Token[_LightTrace | None] | None = None

    def __enter__(self) -> trace.Span:
        if self._parent is not None or _light.get() is None:
            header = None if self._parent is None else _traceparent_in(self._parent)
            self._token = _light.set(_LightTrace(header))
        return trace.INVALID_SPAN

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _light.reset(self._token)


def _new_id(bits: int) -> int:
    return random.getrandbits(bits) or 1  # zero is no valid id


def _traceparent_in(headers: Mapping[str, str]) -> str | None:
    value = headers.get(TRACEPARENT)
    if value is None:  # HTTP sends it lower-case, a NATS message as its writer spelled it
        value = next((v for k, v in headers.items() if k.lower() == TRACEPARENT), None)
    return value


def _trace_id_in(header: str | None) -> int | None:
    """The trace id of a well-formed W3C ``traceparent`` header (version 00), else None."""
    match = None if header is None else _TRACEPARENT.fullmatch(header.strip())
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if trace_id == INVALID_TRACE_ID or span_id == INVALID_SPAN_ID:
        return None
    return trace_id


def failed(error: BaseException) -> None:
    """Mark the current span failed with ``error`` (one that is handled, not raised)."""
    current = trace.get_current_span()
    current.record_exception(error)
    current.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def inject(headers: MutableMapping[str, str]) -> None:
    """Write the current trace context into ``headers`` (``traceparent``): whoever handles
    the message continues the trace. Nothing outside a span."""
    if _current.recording:
        _W3C.inject(headers)  # with the trace state of a recorded trace
        return
    light = _light.get()
    if light is not None:
        headers[TRACEPARENT] = f"00-{light.trace_id:032x}-{_new_id(64):016x}-00"


def trace_id() -> str | None:
    """The current trace's id (32 hex digits), None outside a span."""
    if not _current.recording:
        light = _light.get()
        return None if light is None else f"{light.trace_id:032x}"
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


class _TraceHeaders(dict[str, str]):
    """Headers looked up without regard to case (HTTP sends them lower-case, a NATS
    message keeps whatever the writer used)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__((key.lower(), value) for key, value in headers.items())
