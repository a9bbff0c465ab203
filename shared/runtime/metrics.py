"""``GET /metrics`` (Prometheus text format) and the HTTP timing of every request.

The consumers' lag is read from JetStream's consumer info when Prometheus scrapes, so it is
as fresh as the scrape and costs nothing between scrapes. The metrics themselves are
declared in :mod:`shared.adapters.metrics`; docs/operations.md lists what they mean.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from shared.adapters.consumer import EventConsumer, consumer_lag
from shared.adapters.metrics import HTTP_DURATION, set_consumer_lag

log = logging.getLogger(__name__)

# The ASGI interface, spelled out (the same as starlette.types, which FastAPI builds on).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED = "unmatched"  # one label for every unknown path: scanners cannot blow up series


class RequestTiming:
    """ASGI middleware: observes each request's duration by method, route template and
    status (``/status/{case}``, never the raw path, which would make a series per ticket)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raised before answering

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            HTTP_DURATION.labels(scope["method"], route_template(scope), str(status)).observe(
                time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched``."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


ConsumersOf = Callable[[], Iterable[EventConsumer]]  # asked at each scrape: the current ones


def install_metrics(app: FastAPI, consumers: ConsumersOf) -> None:
    """Time every request of ``app`` and serve ``/metrics`` with ``consumers``' lag."""
    app.add_middleware(RequestTiming)
    app.include_router(metrics_router(consumers))


def metrics_router(consumers: ConsumersOf) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", tags=["operations"], response_class=Response,
                summary="Prometheus metrics of this process (text format)")
    async def metrics() -> Response:
        await read_consumer_lag(consumers())
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router


async def read_consumer_lag(consumers: Iterable[EventConsumer]) -> None:
    for consumer in consumers:
        spec = consumer.spec
        try:
            # The consumer's own connection: where services have NATS users, only the
            # owner may read its consumer's state.
            lag = await consumer_lag(consumer.js, spec.stream, spec.durable)
        except Exception as error:  # NATS away: the scrape still answers, lag stays stale
            log.debug("metrics: no consumer info for %s: %r", spec.durable, error)
            continue
        set_consumer_lag(spec.durable, lag["pending"], lag["ack_pending"])
