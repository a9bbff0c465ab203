"""Traces: one priority submission is one trace across intake, ack and oncall (real
nats-server, real HTTP, real SMTP on loopback, spans kept in memory), and spans leave over
OTLP/HTTP only when an endpoint is configured."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.adapters import logcontext, tracing
from shared.runtime.app import running_system
from shared.settings import Settings
from shared.settings.core import TracingSettings
from tests.support import SmtpSink, serve_app
from tests.test_system import REQUEST, system_settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span of the process, kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(previous)
        provider.shutdown()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def children(all_spans: list[ReadableSpan], parent: ReadableSpan, name: str
             ) -> list[ReadableSpan]:
    return [s for s in all_spans if s.name == name and parent_of(s) == span_id(parent)]


def handling(all_spans: list[ReadableSpan], durable: str) -> list[ReadableSpan]:
    return [s for s in all_spans if s.name == "handle RequestSubmitted"
            and (s.attributes or {}).get("ticketcore.durable") == durable]


async def wait_for_spans(exporter: InMemorySpanExporter, *done: str) -> None:
    """Until every name in ``done`` is among the finished spans (bounded wait)."""
    for _ in range(300):
        if set(done) <= {s.name for s in exporter.get_finished_spans()}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(sorted(s.name for s in exporter.get_finished_spans()))


async def test_a_priority_submission_is_one_trace_across_services(
        settings: Settings, smtp_sink: SmtpSink, tmp_path: Path,
        spans: InMemorySpanExporter) -> None:
    settings = system_settings(settings, smtp_sink, tmp_path)
    async with (running_system(settings, ("intake", "ack", "oncall")) as system,
                serve_app(system.http_app()) as url,
                httpx.AsyncClient(base_url=url, timeout=20) as client):
        answer = await client.post("/api/requests", json=REQUEST,
                                   headers={"traceparent": TRACEPARENT})
        assert answer.status_code == 201, answer.text
        await smtp_sink.wait_for(2, timeout_s=20)  # the receipt and the page
        await wait_for_spans(spans, "append AckSent")
    # Stopped: the consumers finished what they were handling, so their spans ended.
    finished = spans.get_finished_spans()

    ours = [s for s in finished if s.context is not None
            and f"{s.context.trace_id:032x}" == TRACE_ID]
    # The request continues the caller's trace: its parent is the caller's span.
    request = next(s for s in ours if s.name == "POST /api/requests")
    assert request.kind == SpanKind.SERVER and parent_of(request) == int(CALLER_SPAN, 16)
    assert request.parent is not None and request.parent.is_remote
    submitted = children(ours, request, "append RequestSubmitted")
    assert len(submitted) == 1 and submitted[0].kind == SpanKind.PRODUCER

    # ack: the handling span is a child of the append, through the event's traceparent;
    # under it the receipt's SMTP send and the append of AckSent.
    ack = [s for s in handling(ours, "ack-receipts") if children(ours, s, "smtp send")]
    assert len(ack) == 1, [s.name for s in ours]
    assert ack[0].kind == SpanKind.CONSUMER and ack[0].parent is not None
    assert ack[0].parent.is_remote and parent_of(ack[0]) == span_id(submitted[0])
    assert children(ours, ack[0], "append AckSent")

    # oncall: its handling span is a child of the same append; the page mail under it.
    oncall = [s for s in handling(ours, "oncall-requests") if children(ours, s, "smtp send")]
    assert len(oncall) == 1, [s.name for s in ours]
    assert parent_of(oncall[0]) == span_id(submitted[0])
    assert (oncall[0].attributes or {}).get("ticketcore.service") == "oncall"


def test_off_by_default_trace_ids_still_carried() -> None:
    """Nothing recorded without an endpoint, yet the logs and the next event's
    traceparent continue the incoming trace."""
    tracing.configure(TracingSettings())
    with tracing.span("handle RequestSubmitted", parent={"traceparent": TRACEPARENT}) as span:
        assert not span.is_recording()
        assert logcontext.current()["trace_id"] == TRACE_ID
        headers: dict[str, str] = {}
        tracing.inject(headers)
    assert headers["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert "trace_id" not in logcontext.current()


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


def test_spans_are_exported_over_otlp_when_an_endpoint_is_configured() -> None:
    collector = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{collector.server_port}/v1/traces"
        tracing.configure(TracingSettings(otlp_endpoint=endpoint), service="ack")
        with tracing.span("smtp send"):
            pass
    finally:
        tracing.shutdown()  # flushes the batch, and tracing is off again
        collector.shutdown()
        thread.join()
    [(path, content_type, body)] = _Collector.received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    assert b"smtp send" in body and b"ticketcore-ack" in body
