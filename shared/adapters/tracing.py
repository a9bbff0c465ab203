"""Traces (OpenTelemetry): one submission is one trace, across services.

This module owns the trace context of the process: the current span (OpenTelemetry's
context) says which trace the work belongs to. It comes in with an HTTP request's
``traceparent`` header (W3C trace context) or is made new; an append writes it into every
event's ``traceparent`` header (:func:`inject`), and the consumer handling that event
continues it (:func:`span` with ``parent``). The log lines name the trace from here
(shared/adapters/logcontext.py), so logs and traces agree.

Off by default: spans are then never recorded (sampler ``ALWAYS_OFF``), which costs a few
ids per span, but their trace ids are still made and carried for the logs. With an OTLP
endpoint (:func:`configure`) spans are recorded and exported in batches over OTLP/HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from shared.settings.core import TracingSettings

TRACEPARENT = "traceparent"
INSTRUMENTATION = "ticketcore"
_W3C = TraceContextTextMapPropagator()

__all__ = ["TRACEPARENT", "AttributeValue", "SpanKind", "configure", "failed", "inject",
           "shutdown", "span", "trace_id", "use"]


@dataclass
class _Tracing:
    provider: TracerProvider
    tracer: trace.Tracer


def _off() -> TracerProvider:
    return TracerProvider(sampler=ALWAYS_OFF)


def _tracing_with(provider: TracerProvider) -> _Tracing:
    return _Tracing(provider, provider.get_tracer(INSTRUMENTATION))


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


@contextlib.contextmanager
def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL,
         parent: Mapping[str, str] | None = None,
         attributes: Mapping[str, AttributeValue] | None = None) -> Iterator[trace.Span]:
    """Run the block in a new current span: a child of the current one, or, with
    ``parent`` (a message's or request's headers), of the trace context they carry (a new
    trace when they carry none). An exception leaving the block marks the span failed."""
    context = None if parent is None else _W3C.extract(_TraceHeaders(parent))
    with _current.tracer.start_as_current_span(name, context=context, kind=kind,
                                               attributes=attributes) as current:
        yield current


def failed(error: BaseException) -> None:
    """Mark the current span failed with ``error`` (one that is handled, not raised)."""
    current = trace.get_current_span()
    current.record_exception(error)
    current.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def inject(headers: MutableMapping[str, str]) -> None:
    """Write the current trace context into ``headers`` (``traceparent``): whoever handles
    the message continues the trace. Nothing outside a span."""
    _W3C.inject(headers)


def trace_id() -> str | None:
    """The current trace's id (32 hex digits), None outside a span."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


class _TraceHeaders(dict[str, str]):
    """Headers looked up without regard to case (HTTP sends them lower-case, a NATS
    message keeps whatever the writer used)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__((key.lower(), value) for key, value in headers.items())
